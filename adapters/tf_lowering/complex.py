"""TensorFlow lowering of the complex-part ops (gradconf/ops/complex.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

LOWERING: dict[str, Callable[..., Any]] = {
    "real": tf.math.real, "imag": tf.math.imag, "conj": tf.math.conj, "angle": tf.math.angle,
}
