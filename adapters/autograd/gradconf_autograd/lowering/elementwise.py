"""autograd lowering of the elementwise ops (gradconf/ops/elementwise.py), one line each.

``pos`` is the identity: autograd defines no derivative for np.positive.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.core
import autograd.numpy as anp

LOWERING: dict[str, Callable[..., Any]] = {
    "neg": anp.negative, "pos": lambda x: x, "exp": anp.exp, "log": anp.log,
    "sin": anp.sin, "cos": anp.cos, "tanh": anp.tanh, "sqrt": anp.sqrt, "abs": anp.abs,
    "add": anp.add, "sub": anp.subtract, "mul": anp.multiply,
    "div": anp.true_divide, "pow": anp.power,
    "maximum": anp.maximum, "minimum": anp.minimum, "relu": lambda x: anp.maximum(x, 0.0),
    "ones_like": anp.ones_like, "zeros_like": anp.zeros_like,
    "less": anp.less, "less_equal": anp.less_equal, "greater": anp.greater,
    "greater_equal": anp.greater_equal, "equal": anp.equal, "not_equal": anp.not_equal,
    "where": anp.where, "stop_gradient": lambda x: autograd.core.getval(x),
}
