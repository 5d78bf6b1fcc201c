"""PyTorch lowering of the neural-network functions (gradconf/ops/nn.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F


def _batch_norm(x: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """Training statistics over axis 0 only: every other entry is one feature (channel)."""
    flat = x.reshape(x.shape[0], -1)
    return F.batch_norm(flat, None, None, training=True, eps=eps).reshape(x.shape)


LOWERING: dict[str, Callable[..., Any]] = {
    "softmax": lambda x, axis=-1: torch.softmax(x, dim=axis),
    "log_softmax": lambda x, axis=-1: torch.log_softmax(x, dim=axis),
    "cross_entropy": lambda x, labels, reduction="mean": F.cross_entropy(
        x, labels, reduction=reduction),
    "binary_cross_entropy_with_logits": lambda x, y, reduction="mean":
        F.binary_cross_entropy_with_logits(x, y, reduction=reduction),
    "mse_loss": lambda a, b, reduction="mean": F.mse_loss(a, b, reduction=reduction),
    "huber_loss": lambda a, b, delta=1.0, reduction="mean": F.huber_loss(
        a, b, reduction=reduction, delta=delta),
    "layer_norm": lambda x, eps=1e-5: F.layer_norm(x, x.shape[-1:], eps=eps),
    "batch_norm": _batch_norm,
    "attention": lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
    "conv1d": lambda x, w, stride=1, padding=0, dilation=1: F.conv1d(
        x, w, stride=stride, padding=padding, dilation=dilation),
    "conv2d": lambda x, w, stride=1, padding=0, dilation=1: F.conv2d(
        x, w, stride=stride, padding=padding, dilation=dilation),
    "max_pool1d": lambda x, kernel=None, stride=None: F.max_pool1d(x, kernel, stride),
    "max_pool2d": lambda x, kernel=None, stride=None: F.max_pool2d(x, kernel, stride),
    "avg_pool1d": lambda x, kernel=None, stride=None: F.avg_pool1d(x, kernel, stride),
    "avg_pool2d": lambda x, kernel=None, stride=None: F.avg_pool2d(x, kernel, stride),
}
