"""PyTorch lowering of the shape and indexing ops (gradconf/ops/shape.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

LOWERING: dict[str, Callable[..., Any]] = {
    "concat": lambda *xs, axis=0: torch.cat(xs, dim=axis),
    "transpose": lambda x, axes=None: x.T if axes is None else x.permute(*axes),
    "reshape": lambda x, shape: torch.reshape(x, (shape,) if isinstance(shape, int) else shape),
    "getitem": lambda x, index: x[index],
}
