"""Load case files: YAML safe loading, schema validation, one located line per problem.

A broken file or case never stops the others: :func:`load_paths` returns every case that
loaded and every :class:`LoadError`, each rendered as
``cases/x.yaml:12: case 'foo': unknown op 'expp' (hint: did you mean 'exp'?)``.
"""

from __future__ import annotations

import difflib
import re
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import Any

import yaml
from pydantic import ValidationError

from gradconf.case import Case, CaseError, Path, build
from gradconf.intake.limits import DEFAULT, Limits
from gradconf.intake.yamldoc import Lines, YamlLimitError, parse_yaml
from gradconf.schema import CaseSpec, FileSpec

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


@dataclass(frozen=True)
class LoadError:
    """One problem in a case file, located by file and line."""

    file: str
    line: int
    message: str
    case_id: str | None = None
    hint: str = ""

    def __str__(self) -> str:
        """``file:line: case 'id': message (hint: ...)``, always one line."""
        who = f"case '{self.case_id}': " if self.case_id else ""
        hint = f" (hint: {self.hint})" if self.hint else ""
        return _CONTROL.sub(" ", f"{self.file}:{self.line}: {who}{self.message}{hint}")


@dataclass
class LoadResult:
    """Cases that loaded and errors for those that did not, in file order."""

    cases: list[Case] = field(default_factory=list)
    errors: list[LoadError] = field(default_factory=list)


def load_paths(paths: Iterable[str | FsPath], root: str | FsPath | None = None,
               limits: Limits = DEFAULT) -> LoadResult:
    """Load every case file under ``paths`` (files or directories of ``*.yaml``)."""
    result = LoadResult()
    for file in files(paths):
        for item in load_file(file, _relative(file, root), limits, dedupe=False):
            if isinstance(item, LoadError):
                result.errors.append(item)
            else:
                result.cases.append(item)
    result.cases, dups = split_duplicates(result.cases)
    result.errors.extend(dups)
    return result


def split_duplicates(cases: list[Case]) -> tuple[list[Case], list[LoadError]]:
    """Cases whose id is unique, and one error per copy of an id used more than once.

    Every copy is refused, whatever the file names: which copy is "the" case cannot
    depend on the order files sort in, and no record may carry an id another file owns.
    """
    where: dict[str, list[Case]] = defaultdict(list)
    for case in cases:
        where[case.id].append(case)
    kept = [c for c in cases if len(where[c.id]) == 1]
    return kept, [duplicate_error(c, where[c.id]) for c in cases if len(where[c.id]) > 1]


def duplicate_error(case: Case, copies: list[Case]) -> LoadError:
    """The error of one copy of a case id that ``copies`` (all of them) share."""
    others = ", ".join(f"{o.file}:{o.line}" for o in copies if o is not case)
    return LoadError(case.file, case.line, f"duplicate case id (also at {others})", case.id,
                     "case ids are unique across all case files; every copy is invalid "
                     "until they differ")


def dedupe_in_file(items: list[Case | LoadError]) -> list[Case | LoadError]:
    """One file's items with every copy of an id used twice in it replaced by its error."""
    _, dups = split_duplicates([c for c in items if isinstance(c, Case)])
    dup_at = {(e.case_id, e.line): e for e in dups}
    return [dup_at.get((i.id, i.line), i) if isinstance(i, Case) else i for i in items]


def files(paths: Iterable[str | FsPath]) -> list[FsPath]:
    """The case files under ``paths``: each file named, and ``*.yaml``/``*.yml`` of each
    directory, sorted."""
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


def _read(file: FsPath, limits: Limits) -> str:
    """The file's text; OSError or YamlLimitError when it cannot or should not be read."""
    size = file.stat().st_size
    if size > limits.file_bytes:
        raise YamlLimitError(1, f"the file has {size} bytes, more than {limits.file_bytes} "
                             "(limit file_bytes)", "split it into several case files")
    data = file.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        raise YamlLimitError(line, f"not UTF-8 text (byte {exc.start} is 0x{data[exc.start]:02x})",
                             "case files are UTF-8 YAML") from None
    if "\x00" in text:
        raise YamlLimitError(text[:text.index("\x00")].count("\n") + 1,
                             "the file holds a NUL byte: it is not a text file")
    return text


def load_file(file: FsPath, shown: str | None = None, limits: Limits = DEFAULT,
              dedupe: bool = True) -> list[Case | LoadError]:
    """Every case of one file, or a LoadError in its place; a broken file is one error.

    With ``dedupe``, cases that share an id within the file are all refused (across files,
    see :func:`split_duplicates`).
    """
    shown = shown or file.as_posix()
    try:
        data, lines = parse_yaml(_read(file, limits), limits)
    except yaml.constructor.ConstructorError as exc:
        mark = exc.problem_mark
        return [LoadError(shown, mark.line + 1 if mark else 1, f"YAML tag not allowed: "
                          f"{exc.problem}", None, "case files are plain YAML: no '!!' tags")]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        context, opened = getattr(exc, "context", None), getattr(exc, "context_mark", None)
        if context and opened is not None and opened.line + 1 != line:
            problem += f" ({context} on line {opened.line + 1})"
        return [LoadError(shown, line, f"malformed YAML: {problem}", None,
                          "check indentation and quoting near this line")]
    except YamlLimitError as exc:
        return [LoadError(shown, exc.line, exc.message, None, exc.hint)]
    except OSError as exc:
        return [LoadError(shown, 1, f"cannot read file: {exc.strerror or exc}")]
    items = _load_cases(data, lines, shown, limits)
    return dedupe_in_file(items) if dedupe else items


def _load_cases(data: Any, lines: Lines, shown: str, limits: Limits) -> list[Case | LoadError]:
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
            got = repr(raw) if len(repr(raw)) <= 60 else repr(raw)[:57] + "..."
            out.append(LoadError(shown, lines.line(("cases", i)), "each entry under cases must "
                                 f"be a mapping (id:, title:, ...), got {got}"))
        else:
            out.append(_load_case(raw, i, lines, shown, limits))
    return out


def _load_case(raw: Any, i: int, lines: Lines, shown: str, limits: Limits) -> Case | LoadError:
    base: Path = ("cases", i)
    case_id = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else None
    try:
        spec = CaseSpec.model_validate(raw)
    except ValidationError as exc:
        return _pydantic_error(exc, base, lines, shown, case_id)
    try:
        return build(spec, shown, lines.line(base), limits)
    except CaseError as exc:
        line = lines.line((*base, *exc.path))
        if exc.sub_line:
            block = lines.block.get((*base, *exc.path), False)
            line += exc.sub_line - 1 + (1 if block else 0)
        where = f" (column {exc.col} of the function)" if exc.sub_line else ""
        return LoadError(shown, line, exc.message + where, case_id, exc.hint)


def _pydantic_error(exc: ValidationError, base: Path, lines: Lines, shown: str,
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
