"""The expression language: a case's ``function`` parsed with :mod:`ast` into an op graph.

Only a whitelist of syntax is accepted (names, numbers, ``+ - * / ** @``, unary minus,
one comparison ``< <= > >= == !=`` (a boolean for ``where``),
calls of ops in :data:`gradconf.ops.OPS` with constant keyword arguments, basic
subscripts, ``.T``, and assignments). Nothing is ever passed to ``eval`` or ``exec``.

A function is one expression, or assignments followed by the output expression::

    g = a @ b; h = c @ d**2 / e; g + h
"""

from __future__ import annotations

import ast
import dataclasses
import difflib
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from gradconf.intake.limits import DEFAULT, Limits
from gradconf.ops import OPS, Shape, ShapeError, lookup

_BINOPS = {ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div",
           ast.Pow: "pow", ast.MatMult: "matmul"}
_COMPARE = {ast.Lt: "less", ast.LtE: "less_equal", ast.Gt: "greater", ast.GtE: "greater_equal",
            ast.Eq: "equal", ast.NotEq: "not_equal"}


class ExprError(ValueError):
    """A function text the language does not accept; ``line``/``col`` are 1-based in it."""

    def __init__(self, message: str, line: int = 1, col: int = 1, hint: str = "") -> None:
        super().__init__(message)
        self.message, self.line, self.col, self.hint = message, line, col, hint


@dataclass(frozen=True)
class Node:
    """One node of the op graph: an input/constant reference, a scalar, or an op."""

    op: str                      # "input", "scalar", or an op name from the table
    args: tuple[int, ...] = ()
    attrs: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    name: str | None = None      # input name, or the assigned name of an intermediate
    value: float | int | None = None
    line: int = 1
    col: int = 1


@dataclass(frozen=True)
class Program:
    """A parsed function: nodes in evaluation order, the output node, named intermediates."""

    text: str
    nodes: tuple[Node, ...]
    output: int
    names: Mapping[str, int]     # assigned name -> node index
    sources: tuple[str, ...]     # input and constant names the function reads

    def ops_used(self) -> set[str]:
        """The op names this program needs a lowering for."""
        return {n.op for n in self.nodes if n.op not in ("input", "scalar")}


def parse(text: str, known: Sequence[str], limits: Limits = DEFAULT) -> Program:
    """Parse ``text`` reading the names in ``known`` (inputs and constants), within the
    size, depth and node-count bounds of ``limits``."""
    # leading newlines stay, so line numbers match the text; a first line's indent goes
    source = text.rstrip().lstrip(" \t")
    if len(source) > limits.expr_chars:
        raise ExprError(f"the function has {len(source)} characters, more than "
                        f"{limits.expr_chars} (limit expr_chars)", 1, 1,
                        "split the case, or raise the limit with --limit")
    try:
        tree = ast.parse(source, mode="exec")
    except SyntaxError as exc:
        raise ExprError(f"syntax error: {exc.msg}", exc.lineno or 1, exc.offset or 1) from None
    except (RecursionError, MemoryError):
        raise ExprError("the expression is nested too deeply", 1, 1,
                        "split it into assignments: a = ...; b = a + ...") from None
    if not tree.body:
        raise ExprError("the function is empty")
    _check_tree(tree, limits)
    return _Builder(text, known).build(tree.body)


def _check_tree(tree: ast.Module, limits: Limits) -> None:
    """Depth and node count of the syntax tree, walked without recursion."""
    count = 0
    stack: list[tuple[ast.AST, int]] = [(node, 1) for node in tree.body]
    while stack:
        node, depth = stack.pop()
        count += 1
        if depth > limits.expr_depth:
            raise _err(node, f"the expression is nested too deeply: more than "
                             f"{limits.expr_depth} levels (limit expr_depth)",
                       "split it into assignments: a = ...; b = a + ...")
        if count > limits.expr_nodes:
            raise _err(node, f"the function has more than {limits.expr_nodes} syntax nodes "
                             "(limit expr_nodes)", "split the case, or raise it with --limit")
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))


class _Builder:
    def __init__(self, text: str, known: Sequence[str]) -> None:
        self.text, self.known = text, list(known)
        self.nodes: list[Node] = []
        self.scope: dict[str, int] = {}
        self.named: dict[str, int] = {}
        self.sources: list[str] = []

    def build(self, body: list[ast.stmt]) -> Program:
        for stmt in body[:-1]:
            self.assign(stmt)
        last = body[-1]
        if not isinstance(last, ast.Expr):
            raise _err(last, "the function must end with the output expression, not an assignment")
        out = self.expr(last.value)
        return Program(self.text, tuple(self.nodes), out, MappingProxyType(dict(self.named)),
                       tuple(self.sources))

    def assign(self, stmt: ast.stmt) -> None:
        if not (isinstance(stmt, ast.Assign) and len(stmt.targets) == 1
                and isinstance(stmt.targets[0], ast.Name)):
            raise _err(stmt, "only 'name = expression' statements may precede the output")
        name = stmt.targets[0].id
        if name in self.known or name in OPS:
            raise _err(stmt, f"'{name}' is an input, constant or op and cannot be reassigned")
        idx = self.expr(stmt.value)
        node = self.nodes[idx]
        if node.op == "input" or node.name is not None:
            # `g = x` or `h = g`: the new name gets its own (identity) node
            idx = self.add(stmt.value, "pos", (idx,))
            node = self.nodes[idx]
        self.nodes[idx] = dataclasses.replace(node, name=name)
        self.scope[name] = idx
        self.named[name] = idx

    def add(self, where: ast.AST, op: str, args: tuple[int, ...] = (), attrs: Mapping[str, Any]
            | None = None, name: str | None = None, value: float | int | None = None) -> int:
        line, col = getattr(where, "lineno", 1), getattr(where, "col_offset", 0) + 1
        attrs_view = MappingProxyType(dict(attrs or {}))
        self.nodes.append(Node(op, args, attrs_view, name, value, line, col))
        return len(self.nodes) - 1

    def expr(self, e: ast.expr) -> int:
        method: Callable[[Any], int] | None = getattr(self, "_" + type(e).__name__, None)
        if method is None:
            raise _err(e, f"{type(e).__name__} syntax is not part of the expression language",
                       "use names, numbers, + - * / ** @, comparisons, op calls, [slices] and .T")
        return method(e)

    def _Name(self, e: ast.Name) -> int:
        if e.id in self.scope:
            return self.scope[e.id]
        if e.id not in self.known:
            close = difflib.get_close_matches(e.id, self.known + list(self.scope), 1)
            hint = f"did you mean '{close[0]}'?" if close else (
                "declare it under inputs or constants")
            raise _err(e, f"unknown name '{e.id}'", hint)
        idx = self.add(e, "input", name=e.id)
        self.scope[e.id] = idx
        self.sources.append(e.id)
        return idx

    def _Constant(self, e: ast.Constant, sign: int = 1) -> int:
        value = e.value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _err(e, f"constant {_brief(value)} is not a number")
        if isinstance(value, int) and abs(value) > 2**53:
            raise _err(e, "an integer constant above 2**53 has no exact float64 value")
        if not math.isfinite(value):
            raise _err(e, "a constant above 1.8e308 is not a finite float64")
        return self.add(e, "scalar", value=sign * value)

    def _BinOp(self, e: ast.BinOp) -> int:
        op = _BINOPS.get(type(e.op))
        if op is None:
            raise _err(e, f"operator {type(e.op).__name__} is not part of the language",
                       "supported: + - * / ** @")
        return self.add(e, op, (self.expr(e.left), self.expr(e.right)))

    def _Compare(self, e: ast.Compare) -> int:
        if len(e.ops) != 1:
            raise _err(e, "chained comparisons are not part of the language",
                       "write one comparison, e.g. where(x > 0, x, 0)")
        op = _COMPARE.get(type(e.ops[0]))
        if op is None:
            raise _err(e, f"comparison {type(e.ops[0]).__name__} is not part of the language",
                       "supported: < <= > >= == !=")
        return self.add(e, op, (self.expr(e.left), self.expr(e.comparators[0])))

    def _UnaryOp(self, e: ast.UnaryOp) -> int:
        if isinstance(e.op, ast.UAdd):
            return self.expr(e.operand)
        if not isinstance(e.op, ast.USub):
            raise _err(e, f"unary {type(e.op).__name__} is not part of the language")
        if isinstance(e.operand, ast.Constant) and isinstance(e.operand.value, int | float):
            return self._Constant(e.operand, -1)
        return self.add(e, "neg", (self.expr(e.operand),))

    def _Attribute(self, e: ast.Attribute) -> int:
        if e.attr != "T":
            raise _err(e, f"attribute .{e.attr} is not part of the language", "only .T is")
        return self.add(e, "transpose", (self.expr(e.value),), {"axes": None})

    def _Subscript(self, e: ast.Subscript) -> int:
        parts = e.slice.elts if isinstance(e.slice, ast.Tuple) else [e.slice]
        index = tuple(_index_part(p) for p in parts)
        return self.add(e, "getitem", (self.expr(e.value),), {"index": index})

    def _Call(self, e: ast.Call) -> int:
        if not isinstance(e.func, ast.Name):
            raise _err(e, "only calls of op names are allowed, e.g. sum(x, axis=0)")
        spec = lookup(e.func.id)
        if spec is None and (e.func.id in self.known or e.func.id in self.scope):
            raise _err(e, f"'{e.func.id}' is an input or intermediate, not an op; only ops "
                          "can be called")
        if spec is None:
            close = difflib.get_close_matches(e.func.id, sorted(OPS), 1)
            hint = f"did you mean '{close[0]}'?" if close else "see the op table in cases/README.md"
            raise _err(e, f"unknown op '{e.func.id}'", hint)
        attrs = dict(spec.attrs)
        positional = list(e.args)
        if spec.arity is None:
            first = positional.pop(0) if positional else None
            if not isinstance(first, ast.List | ast.Tuple):
                raise _err(e, f"{spec.name} takes a list of arrays, "
                              f"e.g. {spec.name}([a, b], axis=1)")
            args = tuple(self.expr(x) for x in first.elts)
        else:
            if len(positional) < spec.arity:
                raise _err(e, f"{spec.name} takes {_arrays(spec.arity)}, got {len(positional)}")
            args = tuple(self.expr(x) for x in positional[:spec.arity])
            positional = positional[spec.arity:]
        names = [k for k in spec.attrs if k != "index"]
        if len(positional) > len(names):
            takes = "a list of arrays" if spec.arity is None else _arrays(spec.arity)
            more = f" and the keywords {', '.join(names)}" if names else ""
            raise _err(e, f"{spec.name} takes {takes}{more}, got {len(e.args)} positional "
                          "arguments")
        for key, arg in zip(names, positional, strict=False):
            attrs[key] = _literal(arg)
        for kw in e.keywords:
            if kw.arg is None:
                raise _err(kw.value, f"{spec.name} does not take **keywords; write them out",
                           f"keywords: {', '.join(names) or 'none'}")
            if kw.arg not in spec.attrs or kw.arg == "index":
                raise _err(kw.value, f"{spec.name} has no keyword '{kw.arg}'",
                           f"keywords: {', '.join(names) or 'none'}")
            attrs[kw.arg] = _literal(kw.value)
        return self.add(e, spec.name, args, attrs)


def _brief(value: Any, width: int = 80) -> str:
    text = str(value) if isinstance(value, BaseException) else repr(value)
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 3] + "..."


def _arrays(n: int) -> str:
    return f"{n} array argument{'s' if n != 1 else ''}"


def _err(node: ast.AST, message: str, hint: str = "") -> ExprError:
    return ExprError(message, getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, hint)


def _literal(e: ast.expr) -> Any:
    """A keyword argument's value: a number, string, None, or a tuple/list of them."""
    if isinstance(e, ast.Constant) and (e.value is None or isinstance(e.value, int | float | str)):
        return e.value
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
        inner = _literal(e.operand)
        if isinstance(inner, int | float):
            return -inner
    if isinstance(e, ast.Name) and e.id == "inf":
        return math.inf
    if isinstance(e, ast.Tuple | ast.List):
        return tuple(_literal(x) for x in e.elts)
    raise _err(e, "keyword arguments must be literal numbers, strings, None or tuples")


def _index_part(e: ast.expr) -> Any:
    if isinstance(e, ast.Slice):
        bounds = [None if b is None else _int_literal(b) for b in (e.lower, e.upper, e.step)]
        if bounds[2] == 0:
            raise _err(e, "slice steps must be nonzero (a negative step walks backwards)")
        return slice(*bounds)
    if isinstance(e, ast.Constant) and e.value is Ellipsis:
        return Ellipsis
    if isinstance(e, ast.Constant) and e.value is None:
        return None
    return _int_literal(e)


def _int_literal(e: ast.expr) -> int:
    if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
        return -_int_literal(e.operand)
    value = e.value if isinstance(e, ast.Constant) else None
    if not isinstance(value, int) or isinstance(value, bool):
        got = f"name '{e.id}'" if isinstance(e, ast.Name) else ast.unparse(e)
        raise _err(e, f"indices must be integer literals or slices of them (got {got})")
    return value


# ---------------------------------------------------------------- shapes and evaluation

def infer_shapes(program: Program, shapes: Mapping[str, Shape]) -> list[Shape]:
    """Shape of every node given the sources' shapes; raises ExprError located at the op."""
    out: list[Shape] = []
    for node in program.nodes:
        if node.op == "input":
            out.append(tuple(shapes[node.name or ""]))
        elif node.op == "scalar":
            out.append(())
        else:
            rule = OPS[node.op].shape
            try:
                out.append(tuple(rule(*(out[a] for a in node.args), **node.attrs)))
            except ShapeError as exc:
                raise ExprError(f"{node.op}: {exc}", node.line, node.col) from None
            except (TypeError, ValueError, IndexError, ArithmeticError, MemoryError) as exc:
                raise ExprError(f"{node.op}: arguments it cannot take ({_brief(exc)})",
                                node.line, node.col) from None
    return out


Hook = Callable[[int, Node, Any], Any]


def evaluate(program: Program, env: Mapping[str, Any], lowering: Mapping[str, Callable[..., Any]],
             hook: Hook | None = None) -> tuple[Any, dict[str, Any]]:
    """Run ``program`` with ``lowering`` (op name -> callable) on the sources in ``env``.

    Returns the output and the named intermediates. ``hook(i, node, value)`` may replace a
    node's value as it is produced (adapters use it to make an intermediate a new leaf).
    """
    values: list[Any] = []
    for i, node in enumerate(program.nodes):
        if node.op == "input":
            value = env[node.name or ""]
        elif node.op == "scalar":
            value = node.value
        else:
            value = lowering[node.op](*(values[a] for a in node.args), **node.attrs)
        values.append(hook(i, node, value) if hook else value)
    return values[program.output], {name: values[i] for name, i in program.names.items()}
