"""JAX lowering of the neural-network functions (gradconf/ops/nn.py), one line each.

JAX has no loss functions (they live in optax): cross-entropy, the logistic loss, MSE and
Huber are thin compositions of jax.nn and jax.numpy, written as optax writes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np


def _reduce(loss: jax.Array, reduction: str) -> jax.Array:
    return jnp.mean(loss) if reduction == "mean" else jnp.sum(loss) if reduction == "sum" \
        else loss


def _cross_entropy(x: jax.Array, labels: jax.Array, reduction: str = "mean") -> jax.Array:
    """optax.softmax_cross_entropy_with_integer_labels: -log_softmax at the label."""
    ls = jax.nn.log_softmax(x, axis=-1)
    return _reduce(-jnp.take_along_axis(ls, labels[:, None], axis=-1)[:, 0], reduction)


def _bce(x: jax.Array, y: jax.Array, reduction: str = "mean") -> jax.Array:
    """optax.sigmoid_binary_cross_entropy: -y log σ(x) - (1 - y) log σ(-x)."""
    return _reduce(-y * jax.nn.log_sigmoid(x) - (1 - y) * jax.nn.log_sigmoid(-x), reduction)


def _huber(a: jax.Array, b: jax.Array, delta: float = 1.0, reduction: str = "mean") -> jax.Array:
    r = a - b
    ar = jnp.abs(r)
    return _reduce(jnp.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)), reduction)


def _attention(q: jax.Array, k: jax.Array, v: jax.Array) -> jax.Array:
    """softmax(q kᵀ / √d) v. Not jax.nn.dot_product_attention: it casts the scores to
    float32 before its softmax whatever the input dtype, so a float64 run would be judged
    on a float32 softmax (a documented choice in its source, not the neutral meaning)."""
    scores = jnp.einsum("...ld,...sd->...ls", q, k) / math.sqrt(q.shape[-1])
    return jnp.einsum("...ls,...se->...le", jax.nn.softmax(scores, axis=-1), v)


def _tup(v: Any, nd: int) -> tuple[int, ...]:
    return (v,) * nd if isinstance(v, int) else tuple(v)


def _conv(nd: int) -> Callable[..., jax.Array]:
    dims = ("NCH", "OIH", "NCH") if nd == 1 else ("NCHW", "OIHW", "NCHW")

    def conv(x: jax.Array, w: jax.Array, stride: Any = 1, padding: Any = 0,
             dilation: Any = 1) -> jax.Array:
        return jax.lax.conv_general_dilated(
            x, w, window_strides=_tup(stride, nd), padding=[(p, p) for p in _tup(padding, nd)],
            rhs_dilation=_tup(dilation, nd), dimension_numbers=dims)
    return conv


def _pool(nd: int, kind: str) -> Callable[..., jax.Array]:
    def pool(x: jax.Array, kernel: Any = None, stride: Any = None) -> jax.Array:
        ks = _tup(kernel, nd)
        st = ks if stride is None else _tup(stride, nd)
        window, steps = (1, 1, *ks), (1, 1, *st)
        # the init value is a NumPy scalar, as flax writes it: lax recognises the monoid
        # (reduce_window_max / _sum, which have derivatives) only from a concrete init, and
        # under jax.jit a jnp.array is a tracer (the generic reduce_window has no JVP)
        if kind == "max":
            return jax.lax.reduce_window(x, np.array(-np.inf, x.dtype), jax.lax.max,
                                         window, steps, "VALID")
        total = jax.lax.reduce_window(x, np.array(0, x.dtype), jax.lax.add, window, steps,
                                      "VALID")
        return total / math.prod(ks)
    return pool


LOWERING: dict[str, Callable[..., Any]] = {
    "softmax": lambda x, axis=-1: jax.nn.softmax(x, axis=axis),
    "log_softmax": lambda x, axis=-1: jax.nn.log_softmax(x, axis=axis),
    "cross_entropy": _cross_entropy,
    "binary_cross_entropy_with_logits": _bce,
    "mse_loss": lambda a, b, reduction="mean": _reduce(jnp.square(a - b), reduction),
    "huber_loss": _huber,
    # the two-pass variance (the default "fast" one is mean(x²) - mean(x)², clipped at 0)
    "layer_norm": lambda x, eps=1e-5: jax.nn.standardize(x, axis=-1, epsilon=eps,
                                                         algorithm="stable"),
    "batch_norm": lambda x, eps=1e-5: jax.nn.standardize(x, axis=0, epsilon=eps,
                                                         algorithm="stable"),
    "attention": _attention,
    "conv1d": _conv(1), "conv2d": _conv(2),
    "max_pool1d": _pool(1, "max"), "max_pool2d": _pool(2, "max"),
    "avg_pool1d": _pool(1, "avg"), "avg_pool2d": _pool(2, "avg"),
}
