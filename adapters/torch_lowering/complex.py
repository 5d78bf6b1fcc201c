"""PyTorch lowering of the complex-part ops (gradconf/ops/complex.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

LOWERING: dict[str, Callable[..., Any]] = {
    "real": torch.real,
    "imag": lambda x: torch.imag(x) if x.is_complex() else torch.zeros_like(x),
    "conj": torch.conj_physical, "angle": torch.angle,
}
