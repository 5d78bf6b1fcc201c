"""PyTorch lowering of the linear-algebra ops (gradconf/ops/linalg.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

LOWERING: dict[str, Callable[..., Any]] = {
    "matmul": torch.matmul, "mm": torch.mm, "dot": torch.dot,
}
