"""autograd lowering of the piecewise and binary elementwise ops (gradconf/ops/piecewise.py),
one line each.

autograd has no activation functions: sigmoid is scipy.special.expit, and log_sigmoid,
softplus, silu, gelu, leaky_relu and elu are thin compositions of autograd.numpy and
autograd.scipy primitives (logaddexp, expit, erf, where, expm1, tanh). Where a
composition has a branch that is not taken (elu's exp on the positive side, xlogy's log 0),
the argument is guarded so no NaN reaches the gradient from it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import autograd.scipy.special as asp

from gradconf.adapter import unsupported

SQRT_2 = math.sqrt(2.0)  # Python floats: a NumPy float64 scalar would promote float32
SQRT_2_PI = math.sqrt(2.0 / math.pi)


def _elu(x: Any, alpha: float = 1.0) -> Any:
    return anp.where(x > 0, x, alpha * anp.expm1(anp.where(x > 0, 0.0, x)))


def _xlogy(x: Any, y: Any) -> Any:
    """x log y, 0 at x = 0 for every y: the log's argument is y + 1 where x = y = 0 (a
    constant mask added, so y's gradient does not pass through autograd's where)."""
    return x * anp.log(y + ((x == 0) & (y == 0)))


LOWERING: dict[str, Callable[..., Any]] = {
    "sigmoid": asp.expit, "log_sigmoid": lambda x: -anp.logaddexp(0.0, -x),
    "softplus": lambda x: anp.logaddexp(0.0, x), "silu": lambda x: x * asp.expit(x),
    "gelu": lambda x: 0.5 * x * (1.0 + asp.erf(x / SQRT_2)),
    "gelu_tanh": lambda x: 0.5 * x * (1.0 + anp.tanh(SQRT_2_PI * (x + 0.044715 * x**3))),
    "relu6": lambda x: anp.clip(x, 0.0, 6.0),
    "leaky_relu": lambda x, negative_slope=0.01: anp.where(x >= 0, x, negative_slope * x),
    "elu": _elu,
    "floor": anp.floor, "ceil": anp.ceil, "round": anp.round, "trunc": anp.trunc,
    "clip": lambda x, lo=0.0, hi=1.0: anp.clip(x, lo, hi),
    "atan2": anp.arctan2, "hypot": anp.hypot, "xlogy": _xlogy,
    "copysign": unsupported("copysign", "autograd defines no derivative of np.copysign"),
    "fmod": unsupported("fmod", "autograd defines no derivative of np.fmod (only np.mod and "
                        "np.remainder)"),
    "remainder": anp.remainder,
}
