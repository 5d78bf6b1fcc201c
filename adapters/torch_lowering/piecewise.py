"""PyTorch lowering of the piecewise and binary elementwise ops (gradconf/ops/piecewise.py),
one line each.

softplus passes beta=1 and PyTorch's threshold=20 explicitly: above it PyTorch returns x
(derivative 1) instead of log1p(exp(x)); the difference, below exp(-20) = 2e-9, is a
declared divergence in the cases, not a change of the neutral meaning.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

from gradconf_adapters.torch_lowering.common import tensors

LOWERING: dict[str, Callable[..., Any]] = {
    "sigmoid": torch.sigmoid, "log_sigmoid": F.logsigmoid,
    "softplus": lambda x: F.softplus(x, beta=1.0, threshold=20.0),
    "silu": F.silu,
    "gelu": lambda x: F.gelu(x, approximate="none"),
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu6": F.relu6,
    "leaky_relu": lambda x, negative_slope=0.01: F.leaky_relu(x, negative_slope=negative_slope),
    "elu": lambda x, alpha=1.0: F.elu(x, alpha=alpha),
    "floor": torch.floor, "ceil": torch.ceil, "round": torch.round, "trunc": torch.trunc,
    "clip": lambda x, lo=0.0, hi=1.0: torch.clamp(x, min=lo, max=hi),
    "atan2": tensors(torch.atan2), "hypot": tensors(torch.hypot),
    "xlogy": tensors(torch.special.xlogy), "copysign": tensors(torch.copysign),
    "fmod": tensors(torch.fmod), "remainder": tensors(torch.remainder),
}
