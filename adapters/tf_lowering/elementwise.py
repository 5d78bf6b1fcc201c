"""TensorFlow lowering of the elementwise ops (gradconf/ops/elementwise.py), one line each.

tf.math has no log2 or log10: those are TensorFlow's NumPy API (tf.experimental.numpy).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow.experimental.numpy as tnp

LOWERING: dict[str, Callable[..., Any]] = {
    "neg": tf.negative, "pos": lambda x: tf.identity(x) if tf.is_tensor(x) else x,
    "exp": tf.exp, "log": tf.math.log, "sin": tf.sin, "cos": tf.cos, "tanh": tf.tanh,
    "sqrt": tf.sqrt, "abs": tf.abs,
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "div": operator.truediv, "pow": operator.pow,
    "maximum": tf.maximum, "minimum": tf.minimum, "relu": tf.nn.relu,
    "ones_like": tf.ones_like, "zeros_like": tf.zeros_like,
    "less": tf.less, "less_equal": tf.less_equal, "greater": tf.greater,
    "greater_equal": tf.greater_equal, "equal": tf.equal, "not_equal": tf.not_equal,
    "where": tf.where, "stop_gradient": tf.stop_gradient,
    "expm1": tf.math.expm1, "log1p": tf.math.log1p, "log2": tnp.log2, "log10": tnp.log10,
    "rsqrt": tf.math.rsqrt, "square": tf.math.square, "reciprocal": tf.math.reciprocal,
    "tan": tf.math.tan, "asin": tf.math.asin, "acos": tf.math.acos, "atan": tf.math.atan,
    "sinh": tf.math.sinh, "cosh": tf.math.cosh, "asinh": tf.math.asinh,
    "acosh": tf.math.acosh, "atanh": tf.math.atanh, "erf": tf.math.erf,
    "erfc": tf.math.erfc, "erfinv": tf.math.erfinv, "lgamma": tf.math.lgamma,
    "digamma": tf.math.digamma, "sign": tf.math.sign,
}
