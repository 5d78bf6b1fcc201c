"""TensorFlow lowering of the linear-algebra ops (gradconf/ops/linalg.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf


def _matmul(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """``np.matmul``: a 1-D operand is a vector (tf.linalg.matmul needs rank >= 2)."""
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.tensordot(a, b, 1)
    if a.shape.rank == 1:
        return tf.linalg.matvec(b, a, transpose_a=True)
    if b.shape.rank == 1:
        return tf.linalg.matvec(a, b)
    return tf.linalg.matmul(a, b)


LOWERING: dict[str, Callable[..., Any]] = {
    "matmul": _matmul, "mm": tf.linalg.matmul, "dot": lambda a, b: tf.tensordot(a, b, 1),
}
