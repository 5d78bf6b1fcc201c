"""TensorFlow lowering of the reductions (gradconf/ops/reductions.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from gradconf_adapters.tf_lowering.common import reduce


def _norm(x: tf.Tensor, ord: float = 2, axis: int | None = None,
          keepdims: bool = False) -> tf.Tensor:
    """Vector norm of all entries (axis None) or along one axis; tf.norm has no -inf."""
    if ord == -np.inf:
        return tf.reduce_min(tf.abs(x), axis=axis, keepdims=keepdims)
    return tf.norm(x, ord=ord, axis=axis, keepdims=keepdims)


LOWERING: dict[str, Callable[..., Any]] = {
    "sum": reduce(tf.reduce_sum), "mean": reduce(tf.reduce_mean), "norm": _norm,
    "max": reduce(tf.reduce_max), "min": reduce(tf.reduce_min),
}
