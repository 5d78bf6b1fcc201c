"""Small wrappers the PyTorch lowering tables share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def reduce(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A ``dim``/``keepdim`` reduction with the table's ``axis``/``keepdims`` keywords."""
    return lambda x, axis=None, keepdims=False: fn(x, dim=axis, keepdim=keepdims)


def tensors(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """torch.maximum and friends take tensors only: a Python number joins the other's dtype."""
    def lowered(*args: Any, **kwargs: Any) -> torch.Tensor:
        found = [a for a in args if isinstance(a, torch.Tensor)]
        # a number joins the dtype of a value operand, never a where condition's bool
        like = next((a for a in found if a.dtype != torch.bool), found[0])
        return fn(*(a if isinstance(a, torch.Tensor) else torch.as_tensor(a, dtype=like.dtype)
                    for a in args), **kwargs)
    return lowered
