"""Load case files: YAML safe loading, schema validation, one located line per problem.

A broken file or case never stops the others: :func:`load_paths` returns every case that
loaded and every :class:`LoadError`, each rendered as
``cases/x.yaml:12: case 'foo': unknown op 'expp' (hint: did you mean 'exp'?)``.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from gradconf.case import Case, CaseError, Path, build
from gradconf.schema import CaseSpec, FileSpec


@dataclass(frozen=True)
class LoadError:
    """One problem in a case file, located by file and line."""

    file: str
    line: int
    message: str
    case_id: str | None = None
    hint: str = ""

    def __str__(self) -> str:
        who = f"case '{self.case_id}': " if self.case_id else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return f"{self.file}:{self.line}: {who}{self.message}{hint}"


@dataclass
class LoadResult:
    """Cases that loaded and errors for those that did not, in file order."""

    cases: list[Case] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


@dataclass
class _Lines:
    """Line (1-based) and block style of every value in a YAML document, by path."""

    at: dict[Path, int] = field(default_factory=dict)
    block: dict[Path, bool] = field(default_factory=dict)
    duplicates: list[tuple[Path, int]] = field(default_factory=list)

    def line(self, path: Path) -> int:
        """The line of ``path``, or of its nearest ancestor that has one."""
        for n in range(len(path), -1, -1):
            if path[:n] in self.at:
                return self.at[path[:n]]
        return 1


def _walk(node: yaml.Node, path: Path, lines: _Lines) -> None:
    lines.at[path] = node.start_mark.line + 1
    lines.block[path] = isinstance(node, yaml.ScalarNode) and node.style in ("|", ">")
    if isinstance(node, yaml.MappingNode):
        seen: set[Any] = set()
        for key, value in node.value:
            k = key.value
            if k in seen:
                lines.duplicates.append(((*path, k), key.start_mark.line + 1))
            seen.add(k)
            lines.at[(*path, k)] = key.start_mark.line + 1
            _walk(value, (*path, k), lines)
            lines.at[(*path, k)] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*path, i), lines)


def parse_yaml(text: str) -> tuple[Any, _Lines]:
    """Safe-load ``text`` and record where each value sits. Raises yaml.YAMLError."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        lines = _Lines()
        if node is None:
            return None, lines
        _walk(node, (), lines)
        return loader.construct_document(node), lines
    finally:
        loader.dispose()


def load_paths(paths: Iterable[str | FsPath], root: str | FsPath | None = None) -> LoadResult:
    """Load every case file under ``paths`` (files or directories of ``*.yaml``)."""
    result = LoadResult()
    seen: dict[str, str] = {}
    for file in _files(paths):
        shown = _relative(file, root)
        for item in load_file(file, shown):
            if isinstance(item, LoadError):
                result.errors.append(item)
            elif item.id in seen:
                result.errors.append(LoadError(shown, item.line, f"duplicate case id (first at "
                                               f"{seen[item.id]})", item.id,
                                               "case ids are unique across all case files"))
            else:
                seen[item.id] = f"{shown}:{item.line}"
                result.cases.append(item)
    return result


def _files(paths: Iterable[str | FsPath]) -> list[FsPath]:
    out: list[FsPath] = []
    for p in map(FsPath, paths):
        if p.is_dir():
            out.extend(sorted([*p.glob("*.yaml"), *p.glob("*.yml")]))
        else:
            out.append(p)
    return out


def _relative(file: FsPath, root: str | FsPath | None) -> str:
    try:
        return file.resolve().relative_to(FsPath(root or FsPath.cwd()).resolve()).as_posix()
    except ValueError:
        return file.as_posix()


def load_file(file: FsPath, shown: str | None = None) -> list[Case | LoadError]:
    """Every case of one file, or a LoadError in its place; a broken file is one error."""
    shown = shown or file.as_posix()
    try:
        data, lines = parse_yaml(file.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, opened = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and opened is not None and opened.line + 1 != line:
            problem += f" ({context} on line {opened.line + 1})"
        return [LoadError(shown, line, f"malformed YAML: {problem}", None,
                          "check indentation and quoting near this line")]
    except (OSError, UnicodeDecodeError) as exc:
        return [LoadError(shown, 1, f"cannot read file: {exc}")]
    in_case = {p[1]: (p, line) for p, line in reversed(lines.duplicates)
               if len(p) > 2 and p[0] == "cases" and isinstance(p[1], int)}
    outside = [(p, line) for p, line in lines.duplicates if not (len(p) > 2 and p[1] in in_case)]
    if outside:
        path, line = outside[0]
        return [LoadError(shown, line, f"duplicate key '{path[-1]}'", None,
                          "YAML would silently keep only the last one")]
    if data is None:
        return [LoadError(shown, 1, "the file is empty: expected 'cases:' and a list of cases")]
    try:
        spec = FileSpec.model_validate(data if isinstance(data, dict) else {"cases": data})
    except ValidationError as exc:
        return [_pydantic_error(exc, (), lines, shown, None)]
    out: list[Case | LoadError] = []
    for i, raw in enumerate(spec.cases):
        if i in in_case:
            path, line = in_case[i]
            case_id = raw.get("id") if isinstance(raw, dict) else None
            out.append(LoadError(shown, line, f"duplicate key '{path[-1]}'", case_id,
                                 "YAML would silently keep only the last one"))
        elif not isinstance(raw, dict):
            out.append(LoadError(shown, lines.line(("cases", i)), "each entry under cases must "
                                 f"be a mapping (id:, title:, ...), got {raw!r}"))
        else:
            out.append(_load_case(raw, i, lines, shown))
    return out


def _load_case(raw: Any, i: int, lines: _Lines, shown: str) -> Case | LoadError:
    base: Path = ("cases", i)
    case_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    try:
        spec = CaseSpec.model_validate(raw)
    except ValidationError as exc:
        return _pydantic_error(exc, base, lines, shown, case_id)
    try:
        return build(spec, shown, lines.line(base))
    except CaseError as exc:
        line = lines.line((*base, *exc.path))
        if exc.sub_line:
            block = lines.block.get((*base, *exc.path), False)
            line += exc.sub_line - 1 + (1 if block else 0)
        where = f" (column {exc.col} of the function)" if exc.sub_line else ""
        return LoadError(shown, line, exc.message + where, case_id, exc.hint)


def _pydantic_error(exc: ValidationError, base: Path, lines: _Lines, shown: str,
                    case_id: str | None) -> LoadError:
    """The most telling of pydantic's errors: a misspelt field beats the missing one."""
    errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
    err = errors[0]
    loc = tuple(err["loc"])
    field_path = ".".join(str(p) for p in loc) or "case"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "missing":
        msg, hint = f"missing field '{field_path}'", "see cases/README.md for the schema"
    elif err["type"] == "extra_forbidden":
        missing = [str(e["loc"][-1]) for e in errors if e["type"] == "missing"
                   and tuple(e["loc"][:-1]) == loc[:-1]]
        close = difflib.get_close_matches(str(loc[-1]), missing, 1)
        msg = f"unknown field '{field_path}'"
        hint = f"did you mean '{close[0]}'?" if close else "see cases/README.md for the fields"
    elif err["type"] == "literal_error" and loc[-1] == "kind":
        given = err.get("input")
        options = [o.strip(" '") for o in err["ctx"]["expected"].replace(" or ", ", ").split(",")]
        close = difflib.get_close_matches(str(given), options, 1)
        msg = f"{field_path}: unknown kind {given!r}"
        hint = f"did you mean '{close[0]}'?" if close else "kinds: " + ", ".join(options)
    elif err["type"] == "string_pattern_mismatch" and loc[-1] in ("id", "name"):
        msg = f"{field_path} {err.get('input')!r} must use lowercase letters, digits and '-'"
        hint = ""
    else:
        msg, hint = f"{field_path}: {msg}", ""
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return LoadError(shown, lines.line((*base, *loc)), msg + more, case_id, hint)
