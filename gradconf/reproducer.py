"""A standalone reproducer script for a record that did not pass.

The script uses the framework's public API only (a maintainer pastes it into an issue): it
builds the case's inputs at the run dtype, defines the case's function as straight-line
code whose ops are the adapter's own lowering entries (their source, read by
:mod:`gradconf.lowering_source`, so an op stays one line of each lowering table), runs the
check the way the adapter ran it (the adapter's :class:`~gradconf.adapter.ReproducerTemplates`)
and prints each result with repr precision. Comments at the top say the case, check,
dtype, framework version, and what the framework and the oracle gave.

Made in the run process, only for records that did not pass. Standard library only.
"""

from __future__ import annotations

import ast
import contextlib
import math
import re
from collections.abc import Mapping
from functools import lru_cache
from string import Template
from typing import Any

from gradconf.adapter import Adapter, ReproducerTemplates
from gradconf.expr import Program
from gradconf.lowering_source import Lowering

SKIP = {"pass", "invalid", "not_applicable", "unsupported"}
INFIX = {"operator.add": "+", "operator.sub": "-", "operator.mul": "*",
         "operator.truediv": "/", "operator.pow": "**", "operator.matmul": "@",
         "operator.lt": "<", "operator.le": "<=", "operator.gt": ">", "operator.ge": ">=",
         "operator.eq": "==", "operator.ne": "!="}
SHOWN = 12          # entries of an array quoted in the header comments
RESERVED = {"f", "g", "show", "result", "cotangent", "out", "named", "name", "r"}
_DOTTED = re.compile(r"^[A-Za-z_][\w.]*$")


def attach(rec: dict[str, Any], prog: Program, check: Any, adapter: Adapter,
           env: Mapping[str, Any], vectors: Mapping[str, Any]) -> dict[str, Any]:
    """``rec`` with a ``reproducer`` script when it did not pass and the adapter writes one.

    A reproducer is an aid, never part of the verdict: an op whose lowering cannot stand
    alone (an ``unsupported`` entry) or any failure to write one leaves the record as it is.
    """
    templates = adapter.reproducer_templates
    if templates is None or rec.get("verdict") in SKIP or rec.get("kind") == "probe":
        return rec
    with contextlib.suppress(Exception):  # the record stands without its reproducer
        rec["reproducer"] = script(templates, rec, prog, check, env, vectors,
                                   getattr(adapter, "execution", "eager"))
    return rec


@lru_cache(maxsize=16)
def _lowering(package: str) -> Lowering:
    return Lowering(package)


def script(t: ReproducerTemplates, rec: Mapping[str, Any], prog: Program, check: Any,
           env: Mapping[str, Any], vectors: Mapping[str, Any], execution: str = "eager") -> str:
    """The reproducer of ``check`` of ``prog`` at ``env`` (the run's arrays), as text."""
    ops = sorted(prog.ops_used(), key=[n.op for n in prog.nodes].index)
    found = _lowering(t.lowering).extract(ops)
    wrt = tuple(check.wrt)
    params = list(wrt) + [s for s in prog.sources if s not in wrt]
    kinds = _kinds(check)
    table = t.checks
    note = ""
    if execution == "compiled":
        if all(k in t.compiled for k in kinds):
            table = t.compiled
        else:
            note = ("# compiled execution is not reproduced for this check: the script runs "
                    "eagerly\n")
    missing = [k for k in kinds if k not in table]
    if missing:
        raise KeyError(f"no template for {', '.join(missing)}")

    glob = set(RESERVED) | {_bound(line) for line in found.imports}
    glob |= {_bound(line) for line in t.header.splitlines() if line.startswith(("import", "from"))}
    glob |= {_defined(d) for d in found.defs}
    # the check's own code names variables too (y, t, rows, hess, ...): an input of the
    # same name is renamed in the script, its printed name kept
    code_names = "\n".join(table[k] for k in kinds if k in table) + t.show
    glob |= set(re.findall(r"(?<![$\w.])[A-Za-z_]\w*", code_names))
    var = {n: _fresh(n, glob) for n in params}
    calls, bindings = {}, []
    for op in ops:
        src = found.entries[op]
        if src in INFIX or _DOTTED.match(src):
            calls[op] = src
        else:
            name = _fresh(f"op_{op}", glob)
            bindings.append(f"{name} = {src}")
            calls[op] = name

    body = _body(prog, calls, glob, var, named=check.kind == "value")
    args = [var[n] for n in params]
    lines = [f"def f({', '.join(args)}):", *("    " + b for b in body), ""]
    if wrt:
        lines += [f"def g({', '.join(var[n] for n in wrt)}):",
                  f"    return f({', '.join(args)})", ""]
    for n in params:
        lines.append(f"{var[n]} = {_array(t, env[n])}")
    subs = _vector_lines(t, check, vectors, lines)
    subs.update(_placeholders(params, wrt, var))
    if check.kind == "rev_fwd":
        lines += [Template(table["jacobian_rev"]).substitute(subs), "rev = result",
                  Template(table["jacobian_fwd"]).substitute(subs),
                  "result = {**result, **{'rev ' + n: r for n, r in rev.items()}}"]
    else:
        lines.append(Template(table[kinds[0]]).substitute(subs))
    lines += ["", "def show(r):", f"    return {t.show}", "", "for name, r in result.items():",
              "    print(name, '=', repr(show(r)))"]
    code = "\n\n".join(p for p in ("\n\n".join(found.defs), "\n".join(bindings),
                                        "\n".join(lines)) if p).strip("\n") + "\n"
    imports = [i for i in found.imports if i not in t.header.splitlines()
               and re.search(rf"\b{re.escape(_bound(i))}\b", code)]
    head = _header(rec, check) + note
    return head + "\n".join([t.header.strip(), *imports]) + "\n\n" + code


def _kinds(check: Any) -> list[str]:
    if check.kind == "jacobian":
        return [f"jacobian_{check.mode or 'rev'}"]
    if check.kind == "rev_fwd":
        return ["jacobian_rev", "jacobian_fwd"]
    return [check.kind]


def _bound(line: str) -> str:
    """The name an import line binds."""
    words = line.split()
    if " as " in line:
        return words[-1]
    return words[1].split(".")[0] if words[0] == "import" else words[-1]


def _defined(source: str) -> str:
    """The name a helper definition binds."""
    stmt = ast.parse(source).body[0]
    if isinstance(stmt, ast.FunctionDef | ast.ClassDef):
        return stmt.name
    target = stmt.targets[0] if isinstance(stmt, ast.Assign) else None
    return target.id if isinstance(target, ast.Name) else ""


def _fresh(name: str, taken: set[str]) -> str:
    while name in taken:
        name += "_"
    taken.add(name)
    return name


def _body(prog: Program, calls: Mapping[str, str], glob: set[str],
          inputs: Mapping[str, str], named: bool) -> list[str]:
    """The function's statements, one per op node (an input ``n`` is the variable
    ``inputs[n]``)."""
    local = set(glob)
    names: dict[int, str] = {}
    rename = {n: _fresh(n, local) if n in glob else n for n in prog.names}
    local |= set(rename.values())
    lines = []
    for i, node in enumerate(prog.nodes):
        if node.op == "input":
            names[i] = inputs.get(node.name or "", node.name or "")
            continue
        if node.op == "scalar":  # parenthesised when negative: (-2.0) ** x
            text = _literal(node.value)
            names[i] = f"({text})" if text.startswith("-") else text
            continue
        args = [names[a] for a in node.args]
        src = calls[node.op]
        if src in INFIX:
            expr = f"{args[0]} {INFIX[src]} {args[1]}"
        else:
            kw = [f"{k}={_literal(v)}" for k, v in node.attrs.items()]
            expr = f"{src}({', '.join(args + kw)})"
        var = rename[node.name] if node.name else _fresh(f"t{i}", local)
        lines.append(f"{var} = {expr}")
        names[i] = var
    out = names[prog.output]
    if named:
        inter = ", ".join(f"{n!r}: {names[i]}" for n, i in prog.names.items())
        return [*lines, f"return {out}, {{{inter}}}"]
    return [*lines, f"return {out}"]


def _literal(v: Any) -> str:
    """Python source for an attribute or array value (inf and NaN spelled as floats)."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return repr(v)
    if isinstance(v, int):
        return repr(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "float('nan')"
        if math.isinf(v):
            return "float('inf')" if v > 0 else "-float('inf')"
        return repr(v)
    if isinstance(v, complex):
        return f"complex({_literal(v.real)}, {_literal(v.imag)})"
    if isinstance(v, slice):
        return f"slice({_literal(v.start)}, {_literal(v.stop)}, {_literal(v.step)})"
    if v is Ellipsis:
        return "Ellipsis"
    if isinstance(v, tuple):
        return "(" + ", ".join(_literal(x) for x in v) + ("," if len(v) == 1 else "") + ")"
    if isinstance(v, list):
        return "[" + ", ".join(_literal(x) for x in v) + "]"
    if hasattr(v, "item"):  # a NumPy scalar
        return _literal(v.item())
    raise ValueError(f"no literal for {type(v).__name__}")


def _array(t: ReproducerTemplates, a: Any) -> str:
    """An input or vector at its run dtype, from exact float64 (complex128) values."""
    kind = a.dtype.kind
    wide = a if kind in "biu" else a.astype("complex128" if kind == "c" else "float64")
    values = _literal(wide.tolist())
    return Template(t.array).substitute(values=values, dtype=str(a.dtype))


def _vector_lines(t: ReproducerTemplates, check: Any, vectors: Mapping[str, Any],
                  lines: list[str]) -> dict[str, str]:
    subs: dict[str, str] = {}
    if "cotangent" in vectors:
        lines.append(f"cotangent = {_array(t, vectors['cotangent'])}")
    if "tangents" in vectors:
        names = []
        for n in check.wrt:
            lines.append(f"tangent_{n} = {_array(t, vectors['tangents'][n])}")
            names.append(f"tangent_{n}")
        subs["tangents"] = _tuple(names)
        subs["tangent"] = names[0] if len(names) == 1 else _tuple(names)
    if "cotangents" in vectors:
        names = []
        for k, v in enumerate(vectors["cotangents"]):
            lines.append(f"cotangent_{k} = {_array(t, v)}")
            names.append(f"cotangent_{k}")
        subs["cotangents"] = "[" + ", ".join(names) + "]"
    lines.append("")
    return subs


def _tuple(items: list[str]) -> str:
    return "(" + ", ".join(items) + ("," if len(items) == 1 else "") + ")"


def _placeholders(params: list[str], wrt: tuple[str, ...],
                  var: Mapping[str, str]) -> dict[str, str]:
    """The templates' placeholders: script variables (``var``), printed names as given."""
    rest = [var[p] for p in params if p not in wrt]
    xs = [var[n] for n in wrt]
    return {"args": ", ".join(var[p] for p in params), "wrt": ", ".join(xs),
            "xs": _tuple(xs), "names": _tuple([repr(n) for n in wrt]), "n": str(len(wrt)),
            "argnums": _tuple([str(i) for i in range(len(wrt))]),
            "argnum": "0" if len(wrt) == 1 else _tuple([str(i) for i in range(len(wrt))]),
            "first": xs[0] if xs else "", "first_name": repr(wrt[0]) if wrt else "",
            "rest": ", ".join(rest), "rest_tuple": _tuple(rest)}


def _quote(obj: Any) -> str:
    """An encoded array (gradconf.arrays.encode) in a comment: its first entries."""
    if not isinstance(obj, Mapping) or "data" not in obj:
        return repr(obj)
    data = obj["data"]
    shown = ", ".join(str(x) for x in data[:SHOWN]) + (", ..." if len(data) > SHOWN else "")
    return f"[{shown}] (shape {tuple(obj.get('shape', ()))}, {obj.get('dtype', '')})"


def _header(rec: Mapping[str, Any], check: Any) -> str:
    mode = f" by {check.mode}" if check.kind == "jacobian" and check.mode else ""
    lines = [f"# Reproducer: case {rec.get('case')}, check {rec.get('check')} "
             f"({check.kind}{mode} with respect to {', '.join(check.wrt) or 'nothing'}), "
             f"dtype {rec.get('dtype')}",
             f"# {rec.get('framework')} {rec.get('framework_version')}, "
             f"{rec.get('execution', 'eager')} execution; verdict {rec.get('verdict')}"]
    message = " ".join(str(rec.get("message") or "").split())
    if message:
        lines.append(f"# {message[:300]}")
    label = "forward mode (jacfwd)" if check.kind == "rev_fwd" else rec.get("framework")
    for title, key in ((f"{label} gave", "observed"),
                       ("reverse mode (jacrev) gave" if check.kind == "rev_fwd"
                        else "the oracle's reference", "reference")):
        part = rec.get(key)
        if isinstance(part, Mapping):
            lines.append(f"# {title}:")
            lines += [f"#   {n} = {_quote(a)}" for n, a in part.items()]
    return "\n".join(lines) + "\n"
