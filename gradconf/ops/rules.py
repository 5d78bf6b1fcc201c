"""Shape rules shared by the op families: each takes operand shapes (and the op's
keywords) and returns the output shape, or raises :class:`ShapeError` with a sentence a
case author can act on."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

Shape = tuple[int, ...]


class ShapeError(ValueError):
    """An op was applied to operands whose shapes it does not accept."""



def same(x: Shape) -> Shape:
    return x


def broadcast(a: Shape, b: Shape) -> Shape:
    try:
        return tuple(np.broadcast_shapes(a, b))
    except ValueError:
        raise ShapeError(f"shapes {a} and {b} do not broadcast") from None


def matmul(a: Shape, b: Shape) -> Shape:
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


def mm(a: Shape, b: Shape) -> Shape:
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"needs two matrices, got shapes {a} and {b}")
    return matmul(a, b)


def dot(a: Shape, b: Shape) -> Shape:
    if len(a) != 1 or len(b) != 1 or a != b:
        raise ShapeError(f"needs two vectors of one length, got shapes {a} and {b}")
    return ()


def is_int(v: Any) -> bool:
    return isinstance(v, int | np.integer) and not isinstance(v, bool)


def axes_of(shape: Shape, axis: Any) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(len(shape)))
    axes = (axis,) if not isinstance(axis, tuple | list) else tuple(axis)
    for ax in axes:
        if not is_int(ax):
            raise ShapeError(f"axis must be an integer or a tuple of integers, got {axis!r}")
        if not -len(shape) <= ax < len(shape):
            raise ShapeError(f"axis {ax} is out of range for shape {shape}")
    normal = [ax % len(shape) for ax in axes]
    if len(set(normal)) != len(normal):
        raise ShapeError(f"axis {axis!r} names one axis twice")
    return tuple(sorted(normal))


def reduce(x: Shape, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Shape:
    picked = axes_of(x, axis)
    if keepdims:
        return tuple(1 if i in picked else n for i, n in enumerate(x))
    return tuple(n for i, n in enumerate(x) if i not in picked)


def norm(x: Shape, ord: float = 2, axis: int | None = None, keepdims: bool = False) -> Shape:
    if ord not in (1, 2, math.inf, -math.inf):
        raise ShapeError(f"ord must be 1, 2, inf or -inf, got {ord!r}")
    if axis is not None and not is_int(axis):
        raise ShapeError("takes one axis (a vector norm) or none (all entries)")
    return reduce(x, axis, keepdims)


def concat(*shapes: Shape, axis: int = 0) -> Shape:
    if not shapes:
        raise ShapeError("concat needs at least one array")
    first = shapes[0]
    if not first:
        raise ShapeError("cannot join scalars")
    if not is_int(axis):
        raise ShapeError(f"axis must be an integer, got {axis!r}")
    ax = axes_of(first, axis)[0]
    for s in shapes[1:]:
        if len(s) != len(first):
            raise ShapeError(f"shapes {first} and {s} have different ranks "
                             f"({len(first)} vs {len(s)})")
        if any(s[i] != first[i] for i in range(len(s)) if i != ax):
            raise ShapeError(f"along axis {axis}: shapes {first} and {s} differ elsewhere")
    return (*first[:ax], sum(s[ax] for s in shapes), *first[ax + 1:])


def transpose(x: Shape, axes: Sequence[int] | None = None) -> Shape:
    if axes is None:
        return tuple(reversed(x))
    if not isinstance(axes, tuple | list) or not all(is_int(a) for a in axes):
        raise ShapeError(f"axes must be a tuple of integers, got {axes!r}")
    if any(not -len(x) <= a < len(x) for a in axes) or \
            sorted(a % max(len(x), 1) for a in axes) != list(range(len(x))):
        raise ShapeError(f"axes {tuple(axes)} are not a permutation for shape {x}")
    return tuple(x[a] for a in axes)


def reshape(x: Shape, shape: Any = None) -> Shape:
    target = (shape,) if is_int(shape) else shape
    if not isinstance(target, tuple | list) or not all(is_int(n) for n in target):
        raise ShapeError(f"needs a shape: an integer or a tuple of integers, got {shape!r}")
    try:
        return np.broadcast_to(np.empty(()), x).reshape(tuple(target)).shape
    except ValueError:
        raise ShapeError(f"cannot reshape {x} into {tuple(target)}") from None


def getitem(x: Shape, index: tuple[Any, ...]) -> Shape:
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


