"""The source text of an adapter's lowering entries, for standalone reproducer scripts.

An op is one entry of a lowering table (``LOWERING = {"exp": torch.exp, ...}`` in each
family module of an adapter's lowering package). This module reads those modules as
text with :mod:`ast` (nothing is imported, so no framework is needed), takes an op's
entry expression, and collects what it needs to run on its own: the module-level helpers
it calls (inlined recursively, across the package's modules), and the third-party imports
they read. Annotations and docstrings are dropped; the rest is the entry's own code.

An entry that needs a gradconf name (``unsupported(...)``) cannot run outside gradconf:
:class:`NotReproducible`. Standard library only.
"""

from __future__ import annotations

import ast
import builtins
import importlib.util
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

FAMILIES = ("elementwise", "piecewise", "complex", "reductions", "linalg", "shape", "nn")
ENGINE = "gradconf"


class NotReproducible(Exception):
    """An op whose lowering needs gradconf itself (an ``unsupported`` entry)."""


class ExtractionError(Exception):
    """A lowering entry the extractor cannot follow (a name it cannot find, say)."""


@dataclass
class Extracted:
    """What the ops need: import lines, helper definitions in order, each op's entry."""

    imports: list[str] = field(default_factory=list)
    defs: list[str] = field(default_factory=list)
    entries: dict[str, str] = field(default_factory=dict)


@dataclass
class _Module:
    name: str
    defs: dict[str, ast.stmt]
    imports: dict[str, list[tuple[str, str, str | None]]]  # local -> (module, attr, asname)
    lowering: dict[str, ast.expr]


def package_dir(package: str) -> Path:
    """The directory of ``package``, found without importing it (nor its parents' code)."""
    parts = package.split(".")
    spec = importlib.util.find_spec(parts[0])
    if spec is None or not spec.submodule_search_locations:
        raise ExtractionError(f"package {parts[0]} is not installed")
    path = Path(next(iter(spec.submodule_search_locations)))
    return path.joinpath(*parts[1:])


class Lowering:
    """An adapter's lowering package read as source. ``path`` is the package's directory
    (found through the import system when not given)."""

    def __init__(self, package: str, path: Path | None = None) -> None:
        self.package = package
        depth = package.count(".")
        self.path = Path(path) if path is not None else package_dir(package)
        self.top = self.path.parents[depth - 1] if depth else self.path
        self.root = package.split(".")[0]
        self._modules: dict[str, _Module] = {}

    def ops(self) -> dict[str, str]:
        """Every op of the table -> the family module that lowers it."""
        out: dict[str, str] = {}
        for family in FAMILIES:
            name = f"{self.package}.{family}"
            out.update(dict.fromkeys(self.module(name).lowering, name))
        return out

    def module(self, name: str) -> _Module:
        """The module ``name`` of this adapter's package, parsed."""
        if name not in self._modules:
            rel = name.split(".")[1:]
            base = self.top.joinpath(*rel)
            file = base / "__init__.py" if base.is_dir() else base.with_suffix(".py")
            self._modules[name] = _parse(name, file.read_text(encoding="utf-8"))
        return self._modules[name]

    def extract(self, ops: list[str]) -> Extracted:
        """The source of ``ops``' entries with every helper and import they need."""
        where = self.ops()
        state = _State(self)
        out = Extracted()
        for op in ops:
            if op not in where:
                raise ExtractionError(f"{self.package} has no lowering of op {op}")
            mod = self.module(where[op])
            expr = _strip(mod.lowering[op])
            try:
                state.rename(mod, expr)
            except NotReproducible as exc:
                raise NotReproducible(f"op {op}: {exc}") from None
            out.entries[op] = ast.unparse(expr)
        out.imports, out.defs = state.imports, state.defs
        return out


class _State:
    """Definitions emitted so far: (module, name) -> the name in the script."""

    def __init__(self, lowering: Lowering) -> None:
        self.lowering = lowering
        self.emitted: dict[tuple[str, str], str] = {}
        self.taken: set[str] = set()
        self.imports: list[str] = []
        self.bound: dict[str, list[str]] = {}   # import-bound name -> its lines
        self.defs: list[str] = []

    def rename(self, mod: _Module, node: ast.AST) -> None:
        """Resolve every free name of ``node`` in ``mod``; rename those emitted otherwise."""
        mapping = {n: self.resolve(mod, n) for n in sorted(_free(node))}
        for sub in ast.walk(node):
            if isinstance(sub, ast.Name) and sub.id in mapping and mapping[sub.id]:
                sub.id = mapping[sub.id] or sub.id

    def resolve(self, mod: _Module, name: str) -> str | None:
        """The script's name for ``name`` as ``mod`` reads it (None: a builtin)."""
        if name in mod.defs:
            return self.define(mod, name)
        if name in mod.imports:
            return self.import_(mod, name)
        if hasattr(builtins, name):
            return None
        raise ExtractionError(f"{mod.name}: name {name!r} is neither defined nor imported")

    def define(self, mod: _Module, name: str) -> str:
        key = (mod.name, name)
        if key in self.emitted:
            return self.emitted[key]
        new = name
        while new in self.taken:
            new = f"{new}_{mod.name.rsplit('.', 1)[-1]}"
        self.emitted[key] = new
        self.taken.add(new)
        stmt = _strip(mod.defs[name])
        self.rename(mod, stmt)
        if isinstance(stmt, ast.FunctionDef | ast.ClassDef):
            stmt.name = new
        elif isinstance(stmt, ast.Assign):
            stmt.targets = [ast.Name(new, ast.Store())]
        self.defs.append(ast.unparse(stmt))
        return new

    def import_(self, mod: _Module, name: str) -> str:
        found = mod.imports[name]
        module, attr, _ = found[0]
        if module == ENGINE or module.startswith(ENGINE + "."):
            raise NotReproducible(f"it needs gradconf's {attr or module} ({mod.name})")
        if module == self.lowering.root or module.startswith(self.lowering.root + "."):
            if not attr:
                raise ExtractionError(f"{mod.name}: 'import {module}' of the adapter itself")
            return self.define(self.lowering.module(module), attr)
        lines = [_import_line(*f) for f in found]
        if self.bound.setdefault(name, lines) != lines:
            raise ExtractionError(f"{name!r} is imported differently in two modules")
        for line in lines:
            if line not in self.imports:
                self.imports.append(line)
        self.taken.add(name)
        return name


def _import_line(module: str, attr: str, asname: str | None) -> str:
    if attr:
        return f"from {module} import {attr}" + (f" as {asname}" if asname else "")
    return f"import {module}" + (f" as {asname}" if asname else "")


def _parse(name: str, text: str) -> _Module:
    tree = ast.parse(text)
    defs: dict[str, ast.stmt] = {}
    imports: dict[str, list[tuple[str, str, str | None]]] = {}
    lowering: dict[str, ast.expr] = {}
    for stmt in tree.body:
        if isinstance(stmt, ast.Import):
            for a in stmt.names:
                local = a.asname or a.name.split(".")[0]
                imports.setdefault(local, []).append((a.name, "", a.asname))
        elif isinstance(stmt, ast.ImportFrom):
            base = stmt.module or ""
            if stmt.level:
                base = ".".join(name.split(".")[:-stmt.level] + ([base] if base else []))
            for a in stmt.names:
                imports.setdefault(a.asname or a.name, []).append((base, a.name, a.asname))
        elif isinstance(stmt, ast.FunctionDef | ast.ClassDef):
            defs[stmt.name] = stmt
        elif isinstance(stmt, ast.Assign | ast.AnnAssign):
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target]
            for t in targets:
                if isinstance(t, ast.Name):
                    defs[t.id] = stmt
            if any(isinstance(t, ast.Name) and t.id == "LOWERING" for t in targets) \
                    and isinstance(stmt.value, ast.Dict):
                lowering = {k.value: v for k, v in zip(stmt.value.keys, stmt.value.values,
                                                       strict=True)
                            if isinstance(k, ast.Constant) and isinstance(k.value, str)}
    return _Module(name, defs, imports, lowering)


def _strip(node: ast.AST) -> Any:
    """A copy of ``node`` without annotations and docstrings (they are not needed to run)."""
    node = ast.parse(ast.unparse(node)).body[0]
    if isinstance(node, ast.Expr):
        node = node.value
    elif isinstance(node, ast.AnnAssign):
        node = ast.Assign([node.target], node.value or ast.Constant(None))
    for sub in ast.walk(node):
        if isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            body = sub.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant) \
                    and isinstance(body[0].value.value, str):
                sub.body = body[1:] or [ast.Pass()]
            if not isinstance(sub, ast.ClassDef):
                sub.returns = None
        if isinstance(sub, ast.arg):
            sub.annotation = None
    for sub in ast.walk(node):  # annotated assignments inside functions
        for attr in ("body", "orelse", "finalbody"):
            stmts = getattr(sub, attr, None)
            if isinstance(stmts, list):
                setattr(sub, attr, [ast.Assign([s.target], s.value) if isinstance(
                    s, ast.AnnAssign) and s.value is not None else s for s in stmts])
    ast.fix_missing_locations(node)
    return node


def _free(node: ast.AST) -> set[str]:
    """Names ``node`` reads that it does not bind itself (its globals)."""
    loaded: set[str] = set()
    bound: set[str] = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Name):
            (loaded if isinstance(sub.ctx, ast.Load) else bound).add(sub.id)
        elif isinstance(sub, ast.arguments):
            args = sub.posonlyargs + sub.args + sub.kwonlyargs + [sub.vararg, sub.kwarg]
            bound.update(a.arg for a in args if a is not None)
        elif isinstance(sub, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) \
                and sub is not node:
            bound.add(sub.name)
        elif isinstance(sub, ast.Import | ast.ImportFrom):
            bound.update((a.asname or a.name).split(".")[0] for a in sub.names)
    if isinstance(node, ast.FunctionDef | ast.ClassDef):
        bound.discard(node.name)
    return loaded - bound
