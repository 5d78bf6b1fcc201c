"""Small wrappers the TensorFlow lowering tables share."""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf


def reduce(fn: Callable[..., tf.Tensor]) -> Callable[..., tf.Tensor]:
    """A reduction with the table's ``axis``/``keepdims`` keywords."""
    return lambda x, axis=None, keepdims=False: fn(x, axis=axis, keepdims=keepdims)
