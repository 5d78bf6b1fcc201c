"""PyTorch lowering of the elementwise ops (gradconf/ops/elementwise.py), one line each."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import torch

from gradconf_adapters.torch_lowering.common import tensors

LOWERING: dict[str, Callable[..., Any]] = {
    "neg": torch.neg, "pos": lambda x: x, "exp": torch.exp, "log": torch.log,
    "sin": torch.sin, "cos": torch.cos, "tanh": torch.tanh, "sqrt": torch.sqrt,
    "abs": torch.abs,
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "div": operator.truediv, "pow": operator.pow,
    "maximum": tensors(torch.maximum), "minimum": tensors(torch.minimum),
    "relu": torch.relu, "ones_like": torch.ones_like, "zeros_like": torch.zeros_like,
    "less": operator.lt, "less_equal": operator.le, "greater": operator.gt,
    "greater_equal": operator.ge, "equal": operator.eq, "not_equal": operator.ne,
    "where": tensors(torch.where), "stop_gradient": lambda x: x.detach(),
    "expm1": torch.expm1, "log1p": torch.log1p, "log2": torch.log2, "log10": torch.log10,
    "rsqrt": torch.rsqrt, "square": torch.square, "reciprocal": torch.reciprocal,
    "tan": torch.tan, "asin": torch.asin, "acos": torch.acos, "atan": torch.atan,
    "sinh": torch.sinh, "cosh": torch.cosh, "asinh": torch.asinh, "acosh": torch.acosh,
    "atanh": torch.atanh, "erf": torch.special.erf, "erfc": torch.special.erfc,
    "erfinv": torch.special.erfinv, "lgamma": torch.lgamma, "digamma": torch.special.digamma,
    "sign": torch.sign,
}
