"""TensorFlow lowering of the neural-network functions (gradconf/ops/nn.py), one line each.

TensorFlow's images are NHWC and its filters HWIO: the convolutions and poolings transpose
from and back to the table's NCHW / OIHW.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import tensorflow as tf


def _reduce(loss: tf.Tensor, reduction: str) -> tf.Tensor:
    return tf.reduce_mean(loss) if reduction == "mean" else tf.reduce_sum(loss) \
        if reduction == "sum" else loss


def _normalize(x: tf.Tensor, axis: int, eps: float) -> tf.Tensor:
    """tf.nn.moments (biased variance) and tf.nn.batch_normalization without offset/scale."""
    mean, var = tf.nn.moments(x, axes=[axis], keepdims=True)
    return tf.nn.batch_normalization(x, mean, var, None, None, eps)


def _huber(a: tf.Tensor, b: tf.Tensor, delta: float = 1.0, reduction: str = "mean") -> tf.Tensor:
    """A thin composition: tf.compat.v1.losses.huber_loss casts its inputs to float32."""
    r = a - b
    ar = tf.abs(r)
    return _reduce(tf.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)), reduction)


def _attention(q: tf.Tensor, k: tf.Tensor, v: tf.Tensor) -> tf.Tensor:
    """softmax(q kᵀ / √d) v: tf.nn has no attention op."""
    scores = tf.matmul(q, k, transpose_b=True) / math.sqrt(q.shape[-1])
    return tf.matmul(tf.nn.softmax(scores, axis=-1), v)


def _tup(v: Any, nd: int) -> list[int]:
    return [v] * nd if isinstance(v, int) else list(v)


def _conv1d(x: tf.Tensor, w: tf.Tensor, stride: int = 1, padding: int = 0,
            dilation: int = 1) -> tf.Tensor:
    """tf.nn.conv1d on NWC / WIO; it takes only 'SAME'/'VALID', so tf.pad pads first."""
    (s,), (p,), (d,) = _tup(stride, 1), _tup(padding, 1), _tup(dilation, 1)
    xt = tf.pad(tf.transpose(x, [0, 2, 1]), [[0, 0], [p, p], [0, 0]])
    out = tf.nn.conv1d(xt, tf.transpose(w, [2, 1, 0]), stride=s, padding="VALID", dilations=d)
    return tf.transpose(out, [0, 2, 1])


def _conv2d(x: tf.Tensor, w: tf.Tensor, stride: Any = 1, padding: Any = 0,
            dilation: Any = 1) -> tf.Tensor:
    """tf.nn.conv2d on NHWC / HWIO: 'VALID' without padding, else explicit zero padding."""
    ph, pw = _tup(padding, 2)
    pads = "VALID" if ph == pw == 0 else [[0, 0], [ph, ph], [pw, pw], [0, 0]]
    out = tf.nn.conv2d(tf.transpose(x, [0, 2, 3, 1]), tf.transpose(w, [2, 3, 1, 0]),
                       strides=_tup(stride, 2), padding=pads, dilations=_tup(dilation, 2))
    return tf.transpose(out, [0, 3, 1, 2])


def _pool(nd: int, fn: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
    to, back = ([0, 2, 1], [0, 2, 1]) if nd == 1 else ([0, 2, 3, 1], [0, 3, 1, 2])

    def pool(x: tf.Tensor, kernel: Any = None, stride: Any = None) -> tf.Tensor:
        ks = _tup(kernel, nd)
        st = ks if stride is None else _tup(stride, nd)
        return tf.transpose(fn(tf.transpose(x, to), ks, st, "VALID"), back)
    return pool


LOWERING: dict[str, Callable[..., Any]] = {
    "softmax": lambda x, axis=-1: tf.nn.softmax(x, axis=axis),
    "log_softmax": lambda x, axis=-1: tf.nn.log_softmax(x, axis=axis),
    "cross_entropy": lambda x, labels, reduction="mean": _reduce(
        tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=x), reduction),
    "binary_cross_entropy_with_logits": lambda x, y, reduction="mean": _reduce(
        tf.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=x), reduction),
    "mse_loss": lambda a, b, reduction="mean": _reduce(tf.math.squared_difference(a, b),
                                                       reduction),
    "huber_loss": _huber,
    "layer_norm": lambda x, eps=1e-5: _normalize(x, -1, eps),
    "batch_norm": lambda x, eps=1e-5: _normalize(x, 0, eps),
    "attention": _attention,
    "conv1d": _conv1d, "conv2d": _conv2d,
    "max_pool1d": _pool(1, tf.nn.max_pool1d), "max_pool2d": _pool(2, tf.nn.max_pool2d),
    "avg_pool1d": _pool(1, tf.nn.avg_pool1d), "avg_pool2d": _pool(2, tf.nn.avg_pool2d),
}
