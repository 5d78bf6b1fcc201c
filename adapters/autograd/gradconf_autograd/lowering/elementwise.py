"""autograd lowering of the elementwise ops (gradconf/ops/elementwise.py), one line each.

``pos`` is the identity: autograd defines no derivative for np.positive. ``rsqrt`` is
reciprocal(sqrt(x)): NumPy has no rsqrt. The special functions are autograd.scipy.special's.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.core
import autograd.numpy as anp
import autograd.scipy.special as special

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
    "expm1": anp.expm1, "log1p": anp.log1p, "log2": anp.log2, "log10": anp.log10,
    "rsqrt": lambda x: anp.reciprocal(anp.sqrt(x)), "square": anp.square,
    "reciprocal": anp.reciprocal, "tan": anp.tan, "asin": anp.arcsin, "acos": anp.arccos,
    "atan": anp.arctan, "sinh": anp.sinh, "cosh": anp.cosh, "asinh": anp.arcsinh,
    "acosh": anp.arccosh, "atanh": anp.arctanh, "erf": special.erf, "erfc": special.erfc,
    "erfinv": special.erfinv, "lgamma": special.gammaln, "digamma": special.digamma,
    "sign": anp.sign,
}
