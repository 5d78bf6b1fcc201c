"""PyTorch lowering of the reductions (gradconf/ops/reductions.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from gradconf_adapters.torch_lowering.common import reduce


def _all(fn: Callable[..., torch.Tensor]) -> Callable[..., torch.Tensor]:
    """A one-axis reduction whose torch form has no dim=None: reduce the flattened tensor
    and restore the rank when keepdims."""
    def lowered(x: torch.Tensor, axis: int | None = None, keepdims: bool = False,
                **kw: Any) -> torch.Tensor:
        if axis is not None:
            return fn(x, dim=axis, keepdim=keepdims, **kw)
        out = fn(x.reshape(-1), dim=0, keepdim=False, **kw)
        return out.reshape((1,) * x.ndim) if keepdims else out
    return lowered


def _take_argmax(x: torch.Tensor, axis: int = -1, keepdims: bool = False) -> torch.Tensor:
    out = torch.take_along_dim(x, torch.argmax(x, dim=axis, keepdim=True), dim=axis)
    return out if keepdims else out.squeeze(axis)


def _dims(axis: Any, x: torch.Tensor) -> Any:
    return tuple(range(x.ndim)) if axis is None else axis


LOWERING: dict[str, Callable[..., Any]] = {
    "sum": reduce(torch.sum), "mean": reduce(torch.mean),
    "norm": lambda x, ord=2, axis=None, keepdims=False: torch.linalg.vector_norm(
        x, ord=ord, dim=axis, keepdim=keepdims),
    "max": reduce(torch.amax), "min": reduce(torch.amin),
    "prod": _all(torch.prod),
    "amax": reduce(torch.amax), "amin": reduce(torch.amin),
    "max_dim": lambda x, axis=-1, keepdims=False: torch.max(x, dim=axis, keepdim=keepdims).values,
    "min_dim": lambda x, axis=-1, keepdims=False: torch.min(x, dim=axis, keepdim=keepdims).values,
    "take_argmax": _take_argmax,
    "logsumexp": lambda x, axis=None, keepdims=False: torch.logsumexp(
        x, dim=_dims(axis, x), keepdim=keepdims),
    "var": lambda x, axis=None, correction=1, keepdims=False: torch.var(
        x, dim=axis, correction=correction, keepdim=keepdims),
    "std": lambda x, axis=None, correction=1, keepdims=False: torch.std(
        x, dim=axis, correction=correction, keepdim=keepdims),
    "cumsum": lambda x, axis=-1: torch.cumsum(x, dim=axis),
    "cumprod": lambda x, axis=-1: torch.cumprod(x, dim=axis),
    "cummax": lambda x, axis=-1: torch.cummax(x, dim=axis).values,
    "cummin": lambda x, axis=-1: torch.cummin(x, dim=axis).values,
    "logcumsumexp": lambda x, axis=-1: torch.logcumsumexp(x, dim=axis),
    # torch.median is the lower median of an even count (the neutral meaning)
    "median": _all(lambda x, dim, keepdim: torch.median(x, dim=dim, keepdim=keepdim).values),
    "quantile": lambda x, q=0.5, axis=None, keepdims=False: torch.quantile(
        x, q, dim=axis, keepdim=keepdims, interpolation="linear"),
    "matrix_norm": lambda x, ord="fro", keepdims=False: torch.linalg.matrix_norm(
        x, ord=ord, keepdim=keepdims),
}
