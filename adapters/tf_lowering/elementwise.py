"""TensorFlow lowering of the elementwise ops (gradconf/ops/elementwise.py), one line each."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import tensorflow as tf

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
}
