"""TensorFlow lowering of the shape and indexing ops (gradconf/ops/shape.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

import tensorflow as tf
import tensorflow.experimental.numpy as tnp

from gradconf.adapter import unsupported


def _front(nd: int, axis: int) -> tuple[list[int], list[int]]:
    """A permutation moving ``axis`` to the front, and its inverse."""
    ax = axis % nd
    perm = [ax, *(i for i in range(nd) if i != ax)]
    return perm, [perm.index(i) for i in range(nd)]


def _scatter_add(x: tf.Tensor, k: tf.Tensor, u: tf.Tensor, axis: int = 0) -> tf.Tensor:
    """tf.tensor_scatter_nd_add scatters along leading axes: ``axis`` is moved to the front
    and back. Duplicate indices accumulate."""
    perm, back = _front(len(x.shape), axis)
    out = tf.tensor_scatter_nd_add(tf.transpose(x, perm), tf.expand_dims(k, -1),
                                   tf.transpose(u, perm))
    return tf.transpose(out, back)


def _topk(x: tf.Tensor, k: int = 1, axis: int = -1) -> tf.Tensor:
    """tf.math.top_k works on the last axis: another axis is moved there and back."""
    nd = len(x.shape)
    ax = axis % nd
    perm = [*(i for i in range(nd) if i != ax), ax]
    back = [perm.index(i) for i in range(nd)]
    return tf.transpose(tf.math.top_k(tf.transpose(x, perm), k=k, sorted=True).values, back)


def _split_part(x: tf.Tensor, parts: Any = 2, part: int = 0, axis: int = 0) -> tf.Tensor:
    """tf.split takes a count of equal parts or the parts' sizes: split points become sizes."""
    if not isinstance(parts, int):
        points = [0, *parts, x.shape[axis]]
        parts = [b - a for a, b in pairwise(points)]
    return tf.split(x, parts, axis=axis)[part]


def _squeeze(x: tf.Tensor, axis: Any = None) -> tf.Tensor:
    return tf.squeeze(x, axis=None if axis is None else [axis] if isinstance(axis, int) else
                      list(axis))


def _flip(x: tf.Tensor, axis: Any = None) -> tf.Tensor:
    axes = range(len(x.shape)) if axis is None else [axis] if isinstance(axis, int) else axis
    return tf.reverse(x, axis=list(axes))


def _roll(x: tf.Tensor, shift: int, axis: int | None = None) -> tf.Tensor:
    """tf.roll needs an axis: with none the flattened array is rolled (np.roll)."""
    if axis is None:
        return tf.reshape(tf.roll(tf.reshape(x, [-1]), shift, axis=0), tf.shape(x))
    return tf.roll(x, shift, axis=axis)


def _tile(x: tf.Tensor, reps: Any) -> tf.Tensor:
    """tf.tile needs one multiple per axis: reps and shape are aligned as np.tile does."""
    reps = [reps] if isinstance(reps, int) else list(reps)
    nd = max(len(x.shape), len(reps))
    x = tf.reshape(x, [1] * (nd - len(x.shape)) + list(x.shape))
    return tf.tile(x, [1] * (nd - len(reps)) + reps)


def _pad(mode: str) -> Callable[..., tf.Tensor]:
    return lambda x, width: tf.pad(x, [list(p) for p in width], mode=mode)


LOWERING: dict[str, Callable[..., Any]] = {
    "concat": lambda *xs, axis=0: tf.concat(list(xs), axis=axis),
    "stack": lambda *xs, axis=0: tf.stack(list(xs), axis=axis),
    "split_part": _split_part,
    "transpose": lambda x, axes=None: tf.transpose(x, perm=axes),
    "reshape": lambda x, shape: tf.reshape(x, shape),
    "getitem": lambda x, index: x[index],
    "squeeze": _squeeze,
    "expand_dims": lambda x, axis=0: tf.expand_dims(x, axis),
    "broadcast_to": lambda x, shape: tf.broadcast_to(x, shape),
    "take": lambda x, k, axis=0: tf.gather(x, k, axis=axis),
    "take_along_axis": lambda x, k, axis=-1: tnp.take_along_axis(x, k, axis=axis),
    "scatter_add": _scatter_add,
    "pad_constant": lambda x, width, value=0.0: tf.pad(
        x, [list(p) for p in width], mode="CONSTANT", constant_values=value),
    "pad_reflect": _pad("REFLECT"),
    "pad_edge": unsupported("pad_edge", "tf.pad has modes CONSTANT, REFLECT and SYMMETRIC, "
                                        "no edge (replicate) padding"),
    "sort": lambda x, axis=-1: tf.sort(x, axis=axis, direction="ASCENDING"),
    "topk": _topk,
    "flip": _flip,
    "roll": _roll,
    "repeat": lambda x, repeats, axis=None: tf.repeat(x, repeats, axis=axis),
    "tile": _tile,
    "moveaxis": lambda x, source, destination: tnp.moveaxis(x, source, destination),
    "swapaxes": lambda x, axis1, axis2: tnp.swapaxes(x, axis1, axis2),
}
