"""TensorFlow lowering of the piecewise and binary elementwise ops (gradconf/ops/piecewise.py),
one line each.

tf.nn.elu has no alpha: alpha * elu(x) on the negative side is the thin composition for
alpha != 1. TensorFlow has no trunc and no hypot in tf.math: tf.experimental.numpy's fix
and hypot are TensorFlow's own (fix = where(x < 0, ceil, floor), hypot = sqrt(x^2 + y^2)).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from gradconf.adapter import unsupported

tnp = tf.experimental.numpy


def _elu(x: tf.Tensor, alpha: float = 1.0) -> tf.Tensor:
    """tf.nn.elu is alpha = 1; other alphas scale its negative side."""
    e = tf.nn.elu(x)
    return e if alpha == 1.0 else tf.where(x > 0, e, alpha * e)


LOWERING: dict[str, Callable[..., Any]] = {
    "sigmoid": tf.math.sigmoid, "log_sigmoid": tf.math.log_sigmoid,
    "softplus": tf.math.softplus, "silu": tf.nn.silu,
    "gelu": lambda x: tf.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: tf.nn.gelu(x, approximate=True),
    "relu6": tf.nn.relu6,
    "leaky_relu": lambda x, negative_slope=0.01: tf.nn.leaky_relu(x, alpha=negative_slope),
    "elu": _elu,
    "floor": tf.math.floor, "ceil": tf.math.ceil, "round": tf.math.round, "trunc": tnp.fix,
    "clip": lambda x, lo=0.0, hi=1.0: tf.clip_by_value(x, lo, hi),
    "atan2": tf.math.atan2, "hypot": tnp.hypot, "xlogy": tf.math.xlogy,
    "copysign": unsupported("copysign", "TensorFlow has no copysign (neither tf.math nor "
                            "tf.experimental.numpy)"),
    "fmod": unsupported("fmod", "tf.truncatemod (C fmod) has no registered gradient "
                        "(LookupError: No gradient defined for operation TruncateMod)"),
    "remainder": tf.math.floormod,
}
