"""TensorFlow lowering of the reductions (gradconf/ops/reductions.py), one line each."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from gradconf.adapter import unsupported
from gradconf_adapters.tf_lowering.common import reduce


def _norm(x: tf.Tensor, ord: float = 2, axis: int | None = None,
          keepdims: bool = False) -> tf.Tensor:
    """Vector norm of all entries (axis None) or along one axis; tf.norm has no -inf."""
    if ord == -np.inf:
        return tf.reduce_min(tf.abs(x), axis=axis, keepdims=keepdims)
    return tf.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def _count(x: tf.Tensor, axis: Any) -> int:
    shape = x.shape.as_list()
    axes = range(len(shape)) if axis is None else (axis,) if isinstance(axis, int) else axis
    return math.prod(shape[a] for a in axes)


def _rescale(x: tf.Tensor, axis: Any, correction: float, power: float) -> tf.Tensor | float:
    """(n / (n - correction)) ** power: tf's variance and std divide by n (correction 0)."""
    if correction == 0:
        return 1.0
    n = _count(x, axis)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.float64(n) / np.float64(n - correction)
    return tf.constant(scale ** power, dtype=x.dtype)


def _var(x: tf.Tensor, axis: Any = None, correction: float = 1,
         keepdims: bool = False) -> tf.Tensor:
    var = tf.math.reduce_variance(x, axis=axis, keepdims=keepdims)
    return var * _rescale(x, axis, correction, 1.0)


def _std(x: tf.Tensor, axis: Any = None, correction: float = 1,
         keepdims: bool = False) -> tf.Tensor:
    std = tf.math.reduce_std(x, axis=axis, keepdims=keepdims)
    return std * _rescale(x, axis, correction, 0.5)


def _last(x: tf.Tensor, axis: int) -> list[int]:
    """The permutation moving ``axis`` last (it is its own inverse's transpose pair)."""
    nd = len(x.shape)
    axis %= nd
    return [*range(axis), *range(axis + 1, nd), axis]


def _back(perm: list[int]) -> list[int]:
    return [perm.index(i) for i in range(len(perm))]


def _along_last(fn: Callable[[tf.Tensor], tf.Tensor]) -> Callable[..., tf.Tensor]:
    """``fn`` maps (..., n) to (..., 1); run it along ``axis`` and drop or keep that axis."""
    def lowered(x: tf.Tensor, axis: int = -1, keepdims: bool = False) -> tf.Tensor:
        perm = _last(x, axis)
        out = tf.transpose(fn(tf.transpose(x, perm)), _back(perm))
        return out if keepdims else tf.squeeze(out, axis)
    return lowered


def _gather_argmax(xt: tf.Tensor) -> tf.Tensor:
    idx = tf.argmax(xt, axis=-1)[..., None]
    return tf.gather(xt, idx, axis=-1, batch_dims=len(xt.shape) - 1)


def _order_stat(pick: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
    """tf has no median or quantile op: sort along the axis (tf.sort) and pick from it."""
    def lowered(x: tf.Tensor, axis: int | None = None, keepdims: bool = False,
                **kw: Any) -> tf.Tensor:
        if axis is None:
            out = pick(tf.sort(tf.reshape(x, [1, -1]), axis=-1), **kw)[0]
            return tf.reshape(out, [1] * len(x.shape)) if keepdims else tf.reshape(out, [])
        return _along_last(lambda xt: pick(tf.sort(xt, axis=-1), **kw))(x, axis, keepdims)
    return lowered


def _lower_median(s: tf.Tensor) -> tf.Tensor:
    n = s.shape[-1]
    return s[..., (n - 1) // 2:(n - 1) // 2 + 1]


def _linear_quantile(s: tf.Tensor, q: float = 0.5) -> tf.Tensor:
    n = s.shape[-1]
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    a, b = s[..., lo:lo + 1], s[..., hi:hi + 1]
    # NumPy's lerp: from the nearer end, so frac 0 or 1 returns an order statistic exactly
    return a + (b - a) * frac if frac < 0.5 else b - (b - a) * (1 - frac)


def _matrix_norm(x: tf.Tensor, ord: Any = "fro", keepdims: bool = False) -> tf.Tensor:
    if ord == "nuc":  # tf.norm has no nuclear norm: the sum of singular values
        out = tf.reduce_sum(tf.linalg.svd(x, compute_uv=False), axis=-1)
    elif ord == -np.inf:  # nor -inf: the smallest row abs sum
        out = tf.reduce_min(tf.reduce_sum(tf.abs(x), axis=-1), axis=-1)
    else:
        out = tf.norm(x, ord=ord, axis=[-2, -1])
    return out[..., None, None] if keepdims else out


NO_SCAN = "tf.math has no cumulative max/min (only cumsum, cumprod, cumulative_logsumexp)"

LOWERING: dict[str, Callable[..., Any]] = {
    "sum": reduce(tf.reduce_sum), "mean": reduce(tf.reduce_mean), "norm": _norm,
    "max": reduce(tf.reduce_max), "min": reduce(tf.reduce_min),
    "prod": reduce(tf.reduce_prod),
    "amax": reduce(tf.reduce_max), "amin": reduce(tf.reduce_min),
    # tf.math.top_k(k=1) is tf's op returning a maximum with its index
    "max_dim": _along_last(lambda xt: tf.math.top_k(xt, k=1).values),
    "min_dim": _along_last(lambda xt: -tf.math.top_k(-xt, k=1).values),
    "take_argmax": _along_last(_gather_argmax),
    "logsumexp": reduce(tf.math.reduce_logsumexp),
    "var": _var, "std": _std,
    "cumsum": lambda x, axis=-1: tf.math.cumsum(x, axis=axis),
    "cumprod": lambda x, axis=-1: tf.math.cumprod(x, axis=axis),
    "cummax": unsupported("cummax", NO_SCAN), "cummin": unsupported("cummin", NO_SCAN),
    "logcumsumexp": lambda x, axis=-1: tf.math.cumulative_logsumexp(x, axis=axis),
    "median": _order_stat(_lower_median),
    "quantile": lambda x, q=0.5, axis=None, keepdims=False: _order_stat(_linear_quantile)(
        x, axis, keepdims, q=q),
    "matrix_norm": _matrix_norm,
}
