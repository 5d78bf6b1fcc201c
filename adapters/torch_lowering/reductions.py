"""PyTorch lowering of the reductions (gradconf/ops/reductions.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gradconf_adapters.torch_lowering.common import reduce

LOWERING: dict[str, Callable[..., Any]] = {
    "sum": reduce(torch.sum), "mean": reduce(torch.mean),
    "norm": lambda x, ord=2, axis=None, keepdims=False: torch.linalg.vector_norm(
        x, ord=ord, dim=axis, keepdim=keepdims),
    "max": reduce(torch.amax), "min": reduce(torch.amin),
}
