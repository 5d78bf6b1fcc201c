"""JAX lowering of the reductions (gradconf/ops/reductions.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from gradconf_adapters.jax_lowering.common import reduce


def _top1(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """The values of lax.top_k(k=1) along ``axis`` (the op returning value and index)."""
    out = jnp.moveaxis(jax.lax.top_k(jnp.moveaxis(x, axis, -1), 1)[0], -1, axis)
    return out if keepdims else jnp.squeeze(out, axis)


def _take_argmax(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    out = jnp.take_along_axis(x, jnp.argmax(x, axis=axis, keepdims=True), axis=axis)
    return out if keepdims else jnp.squeeze(out, axis)


def _scan(fn: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """A lax cumulative op (positive axis only)."""
    return lambda x, axis=-1: fn(x, axis=axis % x.ndim)


LOWERING: dict[str, Callable[..., Any]] = {
    "sum": reduce(jnp.sum), "mean": reduce(jnp.mean),
    # vector_norm flattens when axis is None (linalg.norm would take a matrix norm)
    "norm": lambda x, ord=2, axis=None, keepdims=False: jnp.linalg.vector_norm(
        x, ord=ord, axis=axis, keepdims=keepdims),
    "max": reduce(jnp.max), "min": reduce(jnp.min),
    "prod": reduce(jnp.prod),
    "amax": reduce(jnp.max), "amin": reduce(jnp.min),
    "max_dim": _top1,
    "min_dim": lambda x, axis=-1, keepdims=False: -_top1(-x, axis, keepdims),
    "take_argmax": _take_argmax,
    "logsumexp": reduce(jax.scipy.special.logsumexp),
    "var": lambda x, axis=None, correction=1, keepdims=False: jnp.var(
        x, axis=axis, ddof=correction, keepdims=keepdims),
    "std": lambda x, axis=None, correction=1, keepdims=False: jnp.std(
        x, axis=axis, ddof=correction, keepdims=keepdims),
    "cumsum": lambda x, axis=-1: jnp.cumsum(x, axis=axis),
    "cumprod": lambda x, axis=-1: jnp.cumprod(x, axis=axis),
    "cummax": _scan(jax.lax.cummax), "cummin": _scan(jax.lax.cummin),
    "logcumsumexp": _scan(jax.lax.cumlogsumexp),
    # jnp.median averages the two middle values of an even count: the lower one explicitly
    "median": lambda x, axis=None, keepdims=False: jnp.quantile(
        x, 0.5, axis=axis, method="lower", keepdims=keepdims),
    "quantile": lambda x, q=0.5, axis=None, keepdims=False: jnp.quantile(
        x, q, axis=axis, method="linear", keepdims=keepdims),
    "matrix_norm": lambda x, ord="fro", keepdims=False: jnp.linalg.matrix_norm(
        x, ord=ord, keepdims=keepdims),
}
