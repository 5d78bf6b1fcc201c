"""The op vocabulary: one table from op name to arity, shape rule, NumPy reference, notes.

Every op the expression language accepts is registered here, one line each. The NumPy
reference is float64 and is what the oracle differentiates; each adapter lowers the same
names to its framework (see ``adapters/``). Shape rules raise :class:`ShapeError` with a
sentence a case author can act on.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """An op was applied to operands whose shapes it does not accept."""


@dataclass(frozen=True)
class OpSpec:
    """One row of the op table.

    ``arity`` is the number of array operands, or ``None`` for ops taking a list
    (``concat``). ``attrs`` maps each accepted keyword to its default. ``smooth`` is False
    for ops with kinks or unbounded derivatives somewhere (the oracle's concern).
    """

    name: str
    arity: int | None
    shape: Callable[..., Shape]
    ref: Callable[..., Any]
    notes: str
    attrs: Mapping[str, Any] = field(default_factory=dict)
    smooth: bool = True


OPS: dict[str, OpSpec] = {}
ALIASES: dict[str, str] = {"cat": "concat", "concatenate": "concat", "negative": "neg"}


def register(name: str, arity: int | None, rule: Callable[..., Shape], ref: Callable[..., Any],
             notes: str, smooth: bool = True, **attrs: Any) -> None:
    """Add one op to the table; a name may be registered once."""
    if name in OPS:
        raise KeyError(f"op {name!r} registered twice")
    OPS[name] = OpSpec(name, arity, rule, ref, notes, dict(attrs), smooth)


def lookup(name: str) -> OpSpec | None:
    """Return the spec for ``name`` or one of its aliases, or None."""
    return OPS.get(ALIASES.get(name, name))


# ---------------------------------------------------------------- shape rules

def _same(x: Shape) -> Shape:
    return x


def _broadcast(a: Shape, b: Shape) -> Shape:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ShapeError(f"shapes {a} and {b} do not broadcast") from None


def _matmul(a: Shape, b: Shape) -> Shape:
    if not a or not b:
        raise ShapeError(f"needs arrays of rank >= 1, got {a} @ {b}")
    ka = a[-1]
    kb = b[0] if len(b) == 1 else b[-2]
    if ka != kb:
        raise ShapeError(f"inner dimensions differ: {a} @ {b} ({ka} != {kb})")
    try:
        batch = tuple(np.broadcast_shapes(a[:-2], b[:-2]))
    except ValueError:
        raise ShapeError(f"batch dimensions {a[:-2]} and {b[:-2]} do not broadcast in "
                         f"{a} @ {b}") from None
    return batch + a[-2:-1] + b[-1:] if len(b) > 1 else batch + a[-2:-1]


def _mm(a: Shape, b: Shape) -> Shape:
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"needs two matrices, got shapes {a} and {b}")
    return _matmul(a, b)


def _dot(a: Shape, b: Shape) -> Shape:
    if len(a) != 1 or len(b) != 1 or a != b:
        raise ShapeError(f"needs two vectors of one length, got shapes {a} and {b}")
    return ()


def _is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def _axes(shape: Shape, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(len(shape)))
    axes = (axis,) if not isinstance(axis, tuple | list) else tuple(axis)
    for ax in axes:
        if not _is_int(ax):
            raise ShapeError(f"axis must be an integer or a tuple of integers, got {axis!r}")
        if not -len(shape) <= ax < len(shape):
            raise ShapeError(f"axis {ax} is out of range for shape {shape}")
    normal = [ax % len(shape) for ax in axes]
    if len(set(normal)) != len(normal):
        raise ShapeError(f"axis {axis!r} names one axis twice")
    return tuple(sorted(normal))


def _reduce(x: Shape, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Shape:
    axes = _axes(x, axis)
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(x))
    return tuple(n for i, n in enumerate(x) if i not in axes)


def _norm(x: Shape, ord: float = 2, axis: int | None = None, keepdims: bool = False) -> Shape:
    if ord not in (1, 2, math.inf, -math.inf):
        raise ShapeError(f"ord must be 1, 2, inf or -inf, got {ord!r}")
    if axis is not None and not _is_int(axis):
        raise ShapeError("takes one axis (a vector norm) or none (all entries)")
    return _reduce(x, axis, keepdims)


def _concat(*shapes: Shape, axis: int = 0) -> Shape:
    if not shapes:
        raise ShapeError("concat needs at least one array")
    first = shapes[0]
    if not first:
        raise ShapeError("cannot join scalars")
    if not _is_int(axis):
        raise ShapeError(f"axis must be an integer, got {axis!r}")
    ax = _axes(first, axis)[0]
    for s in shapes[1:]:
        if len(s) != len(first):
            raise ShapeError(f"shapes {first} and {s} have different ranks "
                             f"({len(first)} vs {len(s)})")
        if any(s[i] != first[i] for i in range(len(s)) if i != ax):
            raise ShapeError(f"along axis {axis}: shapes {first} and {s} differ elsewhere")
    return (*first[:ax], sum(s[ax] for s in shapes), *first[ax + 1:])


def _transpose(x: Shape, axes: Sequence[int] | None = None) -> Shape:
    if axes is None:
        return tuple(reversed(x))
    if not isinstance(axes, tuple | list) or not all(_is_int(a) for a in axes):
        raise ShapeError(f"axes must be a tuple of integers, got {axes!r}")
    if any(not -len(x) <= a < len(x) for a in axes) or \
            sorted(a % max(len(x), 1) for a in axes) != list(range(len(x))):
        raise ShapeError(f"axes {tuple(axes)} are not a permutation for shape {x}")
    return tuple(x[a] for a in axes)


def _reshape(x: Shape, shape: Any = None) -> Shape:
    target = (shape,) if _is_int(shape) else shape
    if not isinstance(target, tuple | list) or not all(_is_int(n) for n in target):
        raise ShapeError(f"needs a shape: an integer or a tuple of integers, got {shape!r}")
    try:
        return np.broadcast_to(np.empty(()), x).reshape(tuple(target)).shape
    except ValueError:
        raise ShapeError(f"cannot reshape {x} into {tuple(target)}") from None


def _getitem(x: Shape, index: tuple[Any, ...]) -> Shape:
    try:
        return np.broadcast_to(np.empty(()), x)[index].shape
    except IndexError as exc:
        raise ShapeError(f"index {format_index(index)} does not fit shape {x}: {exc}") from None


def format_index(index: tuple[Any, ...]) -> str:
    """Render an index tuple the way it is written, e.g. ``[:, 0:1]``."""
    def one(i: Any) -> str:
        if isinstance(i, slice):
            parts = ["" if v is None else str(v) for v in (i.start, i.stop)]
            text = ":".join(parts)
            return text + (f":{i.step}" if i.step not in (None, 1) else "")
        return "..." if i is Ellipsis else str(i)
    return "[" + ", ".join(one(i) for i in index) + "]"


# ---------------------------------------------------------------- NumPy references

def _np_norm(x: Any, ord: float = 2, axis: int | None = None, keepdims: bool = False) -> Any:
    x = np.asarray(x)
    if axis is None:
        out = np.linalg.norm(x.reshape(-1), ord=ord)
        return np.reshape(out, (1,) * x.ndim) if keepdims else out
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def _np_concat(*xs: Any, axis: int = 0) -> Any:
    return np.concatenate(xs, axis=axis)


# ---------------------------------------------------------------- the table
# name, arity, shape rule, NumPy float64 reference, differentiability notes

register("neg", 1, _same, np.negative, "linear")
register("pos", 1, _same, np.positive, "identity")
register("exp", 1, _same, np.exp, "smooth everywhere")
register("log", 1, _same, np.log, "smooth for x > 0; undefined for x <= 0")
register("sin", 1, _same, np.sin, "smooth everywhere")
register("cos", 1, _same, np.cos, "smooth everywhere")
register("tanh", 1, _same, np.tanh, "smooth everywhere")
register("sqrt", 1, _same, np.sqrt, "smooth for x > 0; derivative unbounded at 0", smooth=False)
register("abs", 1, _same, np.abs, "kink at 0: subgradients [-1, 1]", smooth=False)
register("add", 2, _broadcast, np.add, "linear")
register("sub", 2, _broadcast, np.subtract, "linear")
register("mul", 2, _broadcast, np.multiply, "bilinear")
register("div", 2, _broadcast, np.divide, "smooth where the divisor is nonzero")
register("pow", 2, _broadcast, np.power,
         "smooth for x > 0; for x <= 0 only integer exponents are defined", smooth=False)
register("matmul", 2, _matmul, np.matmul, "bilinear; NumPy matmul rules (1-D operands allowed)")
register("mm", 2, _mm, np.matmul, "bilinear; matrices only")
register("dot", 2, _dot, np.dot, "bilinear; vectors only")
register("sum", 1, _reduce, np.sum, "linear", axis=None, keepdims=False)
register("mean", 1, _reduce, np.mean, "linear", axis=None, keepdims=False)
register("norm", 1, _norm, _np_norm, "vector norm (all entries unless axis); kink at 0",
         smooth=False, ord=2, axis=None, keepdims=False)
register("concat", None, _concat, _np_concat, "linear", axis=0)
register("transpose", 1, _transpose, np.transpose,
         "linear; no axes reverses them, so a 1-D array is unchanged", axes=None)
register("reshape", 1, _reshape, lambda x, shape: np.reshape(x, shape), "linear", shape=None)
register("getitem", 1, _getitem, lambda x, index: np.asarray(x)[index],
         "linear; basic integer and slice indexing", index=())
register("maximum", 2, _broadcast, np.maximum, "kink where a == b: subgradients between "
         "the two one-sided slopes", smooth=False)
register("minimum", 2, _broadcast, np.minimum, "kink where a == b", smooth=False)
register("relu", 1, _same, lambda x: np.maximum(x, 0.0), "kink at 0: subgradients [0, 1]",
         smooth=False)
register("max", 1, _reduce, np.max, "kink where entries tie for the maximum", smooth=False,
         axis=None, keepdims=False)
register("min", 1, _reduce, np.min, "kink where entries tie for the minimum", smooth=False,
         axis=None, keepdims=False)
register("ones_like", 1, _same, np.ones_like, "constant: derivative zero")
register("zeros_like", 1, _same, np.zeros_like, "constant: derivative zero")

NUMPY_LOWERING: dict[str, Callable[..., Any]] = {name: spec.ref for name, spec in OPS.items()}
