"""Shape and indexing ops: linear maps that move, pick or repeat entries.

One ``register`` row per op (see :mod:`gradconf.ops`). Every op here is linear in its float
operands except ``sort`` and ``topk`` (piecewise linear: kinks where entries tie). Integer
operands (indices) are int64 inputs or constants; an index must lie in ``[0, n)`` (negative
and out-of-bounds indices mean different things in each framework, so the neutral meaning
does not use them).
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np

from gradconf.ops import Special, register
from gradconf.ops.rules import (
    Shape,
    ShapeError,
    axes_of,
    concat,
    getitem,
    is_int,
    reshape,
    transpose,
)


def _one_axis(x: Shape, axis: Any, extra: int = 0) -> int:
    """``axis`` as a non-negative axis of a rank ``len(x) + extra`` result."""
    if not is_int(axis):
        raise ShapeError(f"axis must be an integer, got {axis!r}")
    nd = len(x) + extra
    if not -nd <= axis < nd:
        raise ShapeError(f"axis {axis} is out of range for shape {x}"
                         + (f" with {extra} new axis" if extra else ""))
    return int(axis) % nd


def _nonscalar(x: Shape, name: str) -> None:
    if not x:
        raise ShapeError(f"{name} needs an array of rank >= 1, got a scalar")


def _positive_int(value: Any, what: str) -> int:
    if not is_int(value) or value < 1:
        raise ShapeError(f"{what} must be a positive integer, got {value!r}")
    return int(value)


# ---------------------------------------------------------------- shape rules

def stack(*shapes: Shape, axis: int = 0) -> Shape:
    if not shapes:
        raise ShapeError("stack needs at least one array")
    first = shapes[0]
    for s in shapes[1:]:
        if s != first:
            raise ShapeError(f"stack needs arrays of one shape, got {first} and {s}")
    ax = _one_axis(first, axis, extra=1)
    return (*first[:ax], len(shapes), *first[ax:])


def _split_points(n: int, parts: Any) -> list[int]:
    if is_int(parts):
        count = _positive_int(parts, "parts")
        if n % count:
            raise ShapeError(f"{count} equal parts do not divide an axis of length {n}")
        return [n // count * i for i in range(count + 1)]
    if not isinstance(parts, tuple | list) or not parts or not all(is_int(p) for p in parts):
        raise ShapeError(f"parts must be a count or a tuple of split points, got {parts!r}")
    points = [0, *parts, n]
    if any(b <= a for a, b in pairwise(points)):
        raise ShapeError(f"split points {tuple(parts)} must increase strictly inside (0, {n})")
    return points


def split_part(x: Shape, parts: Any = 2, part: int = 0, axis: int = 0) -> Shape:
    _nonscalar(x, "split_part")
    ax = _one_axis(x, axis)
    points = _split_points(x[ax], parts)
    if not is_int(part) or not 0 <= part < len(points) - 1:
        raise ShapeError(f"part must be an integer in [0, {len(points) - 1}), got {part!r}")
    return (*x[:ax], points[part + 1] - points[part], *x[ax + 1:])


def squeeze(x: Shape, axis: Any = None) -> Shape:
    if axis is None:
        return tuple(n for n in x if n != 1)
    picked = axes_of(x, axis)
    for ax in picked:
        if x[ax] != 1:
            raise ShapeError(f"cannot squeeze axis {ax} of shape {x}: its length is {x[ax]}, "
                             "not 1")
    return tuple(n for i, n in enumerate(x) if i not in picked)


def expand_dims(x: Shape, axis: int = 0) -> Shape:
    ax = _one_axis(x, axis, extra=1)
    return (*x[:ax], 1, *x[ax:])


def broadcast_to(x: Shape, shape: Any = None) -> Shape:
    target = (shape,) if is_int(shape) else shape
    if not isinstance(target, tuple | list) or not all(is_int(n) and n >= 1 for n in target):
        raise ShapeError(f"needs a shape: a tuple of positive integers, got {shape!r}")
    target = tuple(int(n) for n in target)
    if len(target) < len(x) or any(a not in (1, b) for a, b in
                                   zip(x, target[len(target) - len(x):], strict=True)):
        raise ShapeError(f"shape {x} does not broadcast to {target}")
    return target


def take(x: Shape, k: Shape, axis: int = 0) -> Shape:
    _nonscalar(x, "take")
    ax = _one_axis(x, axis)
    return (*x[:ax], *k, *x[ax + 1:])


def take_along_axis(x: Shape, k: Shape, axis: int = -1) -> Shape:
    _nonscalar(x, "take_along_axis")
    ax = _one_axis(x, axis)
    if len(k) != len(x) or any(k[i] != x[i] for i in range(len(x)) if i != ax):
        raise ShapeError(f"indices of shape {k} must have the rank of {x} and its lengths "
                         f"on every axis but {ax} (no broadcasting)")
    return k


def scatter_add(x: Shape, k: Shape, u: Shape, axis: int = 0) -> Shape:
    _nonscalar(x, "scatter_add")
    ax = _one_axis(x, axis)
    if len(k) != 1:
        raise ShapeError(f"scatter_add takes a 1-D index vector, got indices of shape {k}")
    want = (*x[:ax], k[0], *x[ax + 1:])
    if u != want:
        raise ShapeError(f"updates must have shape {want} (x's shape with axis {ax} the "
                         f"length of the indices), got {u}")
    return x


def _pad_width(x: Shape, width: Any) -> tuple[tuple[int, int], ...]:
    ok = (isinstance(width, tuple | list) and len(width) == len(x) and
          all(isinstance(p, tuple | list) and len(p) == 2 and all(is_int(w) and w >= 0 for w in p)
              for p in width))
    if not ok:
        raise ShapeError(f"width must be one (before, after) pair of non-negative integers per "
                         f"axis of {x}, e.g. {tuple((1, 1) for _ in x)}, got {width!r}")
    return tuple((int(a), int(b)) for a, b in width)


def pad_constant(x: Shape, width: Any = None, value: float = 0.0) -> Shape:
    _nonscalar(x, "pad_constant")
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise ShapeError(f"value must be a number, got {value!r}")
    pairs = _pad_width(x, width)
    return tuple(n + a + b for n, (a, b) in zip(x, pairs, strict=True))


def pad_reflect(x: Shape, width: Any = None) -> Shape:
    _nonscalar(x, "pad_reflect")
    pairs = _pad_width(x, width)
    for i, (n, (a, b)) in enumerate(zip(x, pairs, strict=True)):
        if max(a, b) > n - 1:
            raise ShapeError(f"reflect padding of axis {i} (length {n}) needs widths <= {n - 1}, "
                             f"got {(a, b)}")
    return tuple(n + a + b for n, (a, b) in zip(x, pairs, strict=True))


def pad_edge(x: Shape, width: Any = None) -> Shape:
    _nonscalar(x, "pad_edge")
    pairs = _pad_width(x, width)
    return tuple(n + a + b for n, (a, b) in zip(x, pairs, strict=True))


def sort(x: Shape, axis: int = -1) -> Shape:
    _nonscalar(x, "sort")
    _one_axis(x, axis)
    return x


def topk(x: Shape, k: int = 1, axis: int = -1) -> Shape:
    _nonscalar(x, "topk")
    ax = _one_axis(x, axis)
    if not is_int(k) or not 1 <= k <= x[ax]:
        raise ShapeError(f"k must be an integer in [1, {x[ax]}] for axis {ax} of {x}, got {k!r}")
    return (*x[:ax], int(k), *x[ax + 1:])


def flip(x: Shape, axis: Any = None) -> Shape:
    axes_of(x, axis)
    return x


def roll(x: Shape, shift: int = 0, axis: Any = None) -> Shape:
    if not is_int(shift):
        raise ShapeError(f"shift must be an integer, got {shift!r}")
    if axis is not None:
        _nonscalar(x, "roll along an axis")
        _one_axis(x, axis)
    return x


def repeat(x: Shape, repeats: int = 1, axis: Any = None) -> Shape:
    count = _positive_int(repeats, "repeats")
    if axis is None:
        return (count * int(np.prod(x, dtype=np.int64)),)
    _nonscalar(x, "repeat along an axis")
    ax = _one_axis(x, axis)
    return (*x[:ax], count * x[ax], *x[ax + 1:])


def tile(x: Shape, reps: Any = 1) -> Shape:
    counts = (reps,) if is_int(reps) else reps
    if not isinstance(counts, tuple | list) or not counts:
        raise ShapeError(f"reps must be a positive integer or a tuple of them, got {reps!r}")
    counts = tuple(_positive_int(r, "each of reps") for r in counts)
    nd = max(len(x), len(counts))
    full_x = (1,) * (nd - len(x)) + tuple(x)
    full_r = (1,) * (nd - len(counts)) + counts
    return tuple(n * r for n, r in zip(full_x, full_r, strict=True))


def moveaxis(x: Shape, source: int = 0, destination: int = 0) -> Shape:
    src, dst = _one_axis(x, source), _one_axis(x, destination)
    order = [i for i in range(len(x)) if i != src]
    order.insert(dst, src)
    return tuple(x[i] for i in order)


def swapaxes(x: Shape, axis1: int = 0, axis2: int = 1) -> Shape:
    a, b = _one_axis(x, axis1), _one_axis(x, axis2)
    out = list(x)
    out[a], out[b] = out[b], out[a]
    return tuple(out)


# ---------------------------------------------------------------- NumPy references

def _np_concat(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.concatenate(xs, axis=axis)


def _np_stack(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.stack(xs, axis=axis)


def _np_split_part(x: np.ndarray, parts: Any = 2, part: int = 0, axis: int = 0) -> np.ndarray:
    return np.split(np.asarray(x), parts if is_int(parts) else list(parts), axis=axis)[part]


def _np_scatter_add(x: np.ndarray, k: np.ndarray, u: np.ndarray, axis: int = 0) -> np.ndarray:
    out = np.array(x, dtype=np.result_type(x, u), copy=True)
    where: tuple[Any, ...] = (slice(None),) * (axis % out.ndim) + (np.asarray(k),)
    np.add.at(out, where, u)
    return out


def _np_topk(x: np.ndarray, k: int = 1, axis: int = -1) -> np.ndarray:
    desc = np.flip(np.sort(x, axis=axis), axis=axis)
    return np.take(desc, np.arange(k), axis=axis)


def _np_tile(x: np.ndarray, reps: Any = 1) -> np.ndarray:
    return np.tile(x, reps)


TIE = Special("tie", "two entries of one slice are equal: which goes first is a choice, so "
                     "the gradient is a convention (the function is continuous with a kink)")
REPEATED = Special("degenerate", "an index repeated: the gradients of its picks accumulate")


register("concat", None, concat, _np_concat, "linear", axis=0,
         examples=("concat([a, p], axis=0)", "cat([a, p], axis=1)"))
register("stack", None, stack, _np_stack,
         "linear; joins arrays of one shape along a new axis (np.stack)", axis=0,
         examples=("stack([a, p], axis=1)", "stack([v, q])", "stack([v, q, v], axis=-1)"))
register("split_part", 1, split_part, _np_split_part,
         "linear; the part-th piece of np.split(x, parts, axis): parts is a count of equal "
         "pieces (it must divide the length) or a tuple of increasing split points",
         parts=2, part=0, axis=0,
         examples=("split_part(t, parts=2, part=1, axis=0)",
                   "split_part(a, parts=(1, 2), part=1, axis=1)",
                   "split_part(a, 3, 2, axis=-1)"))
register("transpose", 1, transpose, np.transpose,
         "linear; no axes reverses them, so a 1-D array is unchanged", axes=None,
         examples=("transpose(a)", "transpose(a, axes=(1, 0))", "transpose(t)", "a.T", "v.T"))
register("reshape", 1, reshape, lambda x, shape: np.reshape(x, shape), "linear", shape=None,
         examples=("reshape(a, (3, 2))", "reshape(a, (-1,))", "reshape(a, 6)"))
register("getitem", 1, getitem, lambda x, index: np.asarray(x)[index],
         "linear; basic integer and slice indexing; a negative step walks backwards "
         "(x[::-1] reverses), as in NumPy", index=(),
         examples=("a[:, 0:1]", "a[1, 1]", "a[..., 2]", "a[:, None, 1]", "a[::2, 1:]",
                   "t[1, ..., 0:2]", "a[::-1, ::-2]", "t[:, 1::-1, 2:0:-1]", "v[-1::-2]"))
register("squeeze", 1, squeeze, lambda x, axis=None: np.squeeze(x, axis=axis),
         "linear; drops the named length-1 axes (an axis that is not length 1 is an error), "
         "or every length-1 axis when axis is None", axis=None,
         examples=("squeeze(a[None], axis=0)", "squeeze(t[:, 0:1])", "squeeze(a[:, None, 1:2])"))
register("expand_dims", 1, expand_dims, lambda x, axis=0: np.expand_dims(x, axis),
         "linear; inserts one length-1 axis at position axis of the result", axis=0,
         examples=("expand_dims(a, axis=1)", "expand_dims(v, -1)"))
register("broadcast_to", 1, broadcast_to, lambda x, shape: np.broadcast_to(x, shape),
         "linear; NumPy broadcasting to a target shape; its gradient sums over the copies",
         shape=None,
         special=(Special("degenerate", "a length-1 axis broadcast to n copies: the "
                                        "gradient sums the n cotangents"),),
         examples=("broadcast_to(v, (2, 3))", "broadcast_to(a[:, 0:1], (2, 2, 3))"))
register("take", 2, take, lambda x, k, axis=0: np.take(x, k, axis=axis),
         "linear in x; picks entries k (int64, each in [0, n)) along axis: the result has x's "
         "shape with that axis replaced by k's shape (np.take with an integer axis); "
         "repeated indices accumulate in the gradient", axis=0,
         special=(REPEATED,),
         examples=("take(a, k, axis=1)", "take(v, k)", "take(t, k[0:2], axis=-1)"))
register("take_along_axis", 2, take_along_axis,
         lambda x, k, axis=-1: np.take_along_axis(x, k, axis=axis),
         "linear in x; out[..., i, ...] = x[..., k[..., i, ...], ...] along axis "
         "(np.take_along_axis); k has x's rank and x's lengths on every other axis "
         "(no broadcasting), each index in [0, n)", axis=-1, special=(REPEATED,),
         examples=("take_along_axis(v, k, axis=0)", "take_along_axis(v, k[0:2], axis=-1)"))
register("scatter_add", 3, scatter_add, _np_scatter_add,
         "linear in x and updates; a copy of x with updates added at the 1-D int64 indices k "
         "along axis (np.add.at on a copy; index_add): duplicate indices accumulate", axis=0,
         special=(Special("degenerate", "duplicate indices: every update at one index adds "
                                        "into it; the gradient of each update is that "
                                        "entry's cotangent"),),
         examples=("scatter_add(v, k, q)", "scatter_add(a, k, p, axis=1)",
                   "scatter_add(v, k[0:2], q[1:])"))
register("pad_constant", 1, pad_constant,
         lambda x, width, value=0.0: np.pad(x, width, mode="constant", constant_values=value),
         "linear plus a constant; width is one (before, after) pair per axis, new entries are "
         "value (np.pad mode='constant')", width=None, value=0.0,
         examples=("pad_constant(a, width=((1, 0), (2, 1)), value=0.5)",
                   "pad_constant(v, ((1, 2),))"))
register("pad_reflect", 1, pad_reflect,
         lambda x, width: np.pad(x, width, mode="reflect"),
         "linear; mirror padding that does not repeat the edge entry (np.pad mode='reflect', "
         "torch 'reflect', TensorFlow 'REFLECT'); each width at most the axis length - 1",
         width=None,
         special=(Special("degenerate", "width n - 1: the reflection reaches the far edge, "
                                        "so interior entries get several cotangents"),),
         examples=("pad_reflect(a, width=((1, 1), (2, 0)))", "pad_reflect(v, ((2, 2),))"))
register("pad_edge", 1, pad_edge, lambda x, width: np.pad(x, width, mode="edge"),
         "linear; repeats the edge entry (np.pad mode='edge', torch 'replicate')", width=None,
         special=(Special("degenerate", "the edge entry is copied width times: its gradient "
                                        "sums those cotangents"),),
         examples=("pad_edge(a, width=((1, 0), (0, 2)))", "pad_edge(v, ((3, 1),))"))
register("sort", 1, sort, lambda x, axis=-1: np.sort(x, axis=axis),
         "ascending values along axis (values only); continuous and piecewise linear, with a "
         "kink where entries tie", smooth=False, axis=-1, special=(TIE,),
         examples=("sort(v)", "sort(a, axis=0)", "sort(t, axis=1)"))
register("topk", 1, topk, _np_topk,
         "the k largest values along axis, in descending order (values only); a kink where "
         "entries tie, including the k-th with the (k+1)-th", smooth=False, k=1, axis=-1,
         special=(TIE,),
         examples=("topk(v, k=2)", "topk(a, 2, axis=0)", "topk(t, k=3)"))
register("flip", 1, flip, lambda x, axis=None: np.flip(x, axis=axis),
         "linear; reverses the order along axis (all axes when None)", axis=None,
         examples=("flip(a)", "flip(t, axis=(0, 2))", "flip(a, axis=1)"))
register("roll", 1, roll, lambda x, shift, axis=None: np.roll(x, shift, axis=axis),
         "linear; out[(i + shift) mod n] = x[i] along axis (the flattened array when None), "
         "any integer shift (also beyond n or negative)", shift=0, axis=None,
         examples=("roll(v, 4)", "roll(a, -1, axis=1)", "roll(a, 2)"))
register("repeat", 1, repeat, lambda x, repeats, axis=None: np.repeat(x, repeats, axis=axis),
         "linear; each entry repeated `repeats` times in place along axis (np.repeat, torch "
         "repeat_interleave); the flattened array when axis is None", repeats=1, axis=None,
         examples=("repeat(v, 2)", "repeat(a, 3, axis=0)", "repeat(t, 2, axis=-1)"))
register("tile", 1, tile, _np_tile,
         "linear; the whole array repeated (np.tile): reps is aligned to the trailing axes, "
         "leading ones added to whichever of x's shape and reps is shorter", reps=1,
         examples=("tile(a, 2)", "tile(v, (2, 2))", "tile(t, (2, 1, 1))"))
register("moveaxis", 1, moveaxis,
         lambda x, source, destination: np.moveaxis(x, source, destination),
         "linear; moves one axis to a new position, the others keep their order",
         source=0, destination=0, examples=("moveaxis(t, 0, 2)", "moveaxis(a, -1, 0)"))
register("swapaxes", 1, swapaxes, lambda x, axis1, axis2: np.swapaxes(x, axis1, axis2),
         "linear; exchanges two axes", axis1=0, axis2=1,
         examples=("swapaxes(t, 0, 2)", "swapaxes(a, 1, 0)"))
