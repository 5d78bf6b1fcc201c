"""TensorFlow lowering of the shape and indexing ops (gradconf/ops/shape.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

LOWERING: dict[str, Callable[..., Any]] = {
    "concat": lambda *xs, axis=0: tf.concat(list(xs), axis=axis),
    "transpose": lambda x, axes=None: tf.transpose(x, perm=axes),
    "reshape": lambda x, shape: tf.reshape(x, shape),
    "getitem": lambda x, index: x[index],
}
