"""PyTorch lowering of the shape and indexing ops (gradconf/ops/shape.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F


def _getitem(x: torch.Tensor, index: tuple[Any, ...]) -> torch.Tensor:
    """``x[index]``; a negative-step slice (which torch indexing refuses) is taken as the
    whole axis, then ``torch.flip`` and a positive-step slice of the flipped axis."""
    if not any(isinstance(i, slice) and (i.step or 1) < 0 for i in index):
        return x[index]
    parts: list[Any] = []
    later: list[Any] = []          # later: (output axis, length, slice)
    dim, out_dim = 0, 0
    fill = x.dim() - sum(1 for i in index if i is not None and i is not Ellipsis)
    for i in index:
        if i is Ellipsis:
            parts.append(i)
            dim, out_dim = dim + fill, out_dim + fill
        elif i is None:
            parts.append(i)
            out_dim += 1
        elif isinstance(i, slice) and (i.step or 1) < 0:
            parts.append(slice(None))
            later.append((out_dim, x.shape[dim], i))
            dim, out_dim = dim + 1, out_dim + 1
        elif isinstance(i, slice):
            parts.append(i)
            dim, out_dim = dim + 1, out_dim + 1
        else:
            parts.append(i)
            dim += 1
    y = x[tuple(parts)]
    for axis, n, s in later:
        start, _, step = s.indices(n)
        count = len(range(*s.indices(n)))
        first = n - 1 - start            # the slice's first entry, counted from the far end
        picked = slice(first, first + (count - 1) * -step + 1, -step)
        y = torch.flip(y, (axis,))[(slice(None),) * axis + (picked,)]
    return y


def _take(x: torch.Tensor, k: torch.Tensor, axis: int = 0) -> torch.Tensor:
    """torch.index_select takes a 1-D index: a k of another rank is flattened and the
    result's axis reshaped to k's shape (np.take)."""
    ax = axis % x.dim()
    out = torch.index_select(x, ax, k.reshape(-1))
    return out.reshape((*x.shape[:ax], *k.shape, *x.shape[ax + 1:]))


def _flat_pad(width: Any) -> tuple[int, ...]:
    """np.pad's per-axis pairs as F.pad's flat list, last axis first."""
    return tuple(w for pair in reversed(width) for w in pair)


def _pad_mode(mode: str) -> Callable[..., torch.Tensor]:
    """F.pad in 'reflect' or 'replicate' mode pads the last 1-3 axes of a batched input: the
    axes before the first padded one are flattened into a batch axis and restored."""
    def lowered(x: torch.Tensor, width: Any) -> torch.Tensor:
        lead = next((i for i, pair in enumerate(width) if any(pair)), x.dim() - 1)
        batch = x.reshape((-1, *x.shape[lead:]))
        out = F.pad(batch, _flat_pad(width[lead:]), mode=mode)
        return out.reshape((*x.shape[:lead], *out.shape[1:]))
    return lowered


def _scatter_add(x: torch.Tensor, k: torch.Tensor, u: torch.Tensor,
                 axis: int = 0) -> torch.Tensor:
    return torch.index_add(x, axis, k, u)


def _split_part(x: torch.Tensor, parts: Any = 2, part: int = 0, axis: int = 0) -> torch.Tensor:
    """torch.tensor_split: a count of equal parts, or a list of split points (np.split)."""
    return torch.tensor_split(x, parts if isinstance(parts, int) else list(parts), dim=axis)[part]


LOWERING: dict[str, Callable[..., Any]] = {
    "concat": lambda *xs, axis=0: torch.cat(xs, dim=axis),
    "stack": lambda *xs, axis=0: torch.stack(xs, dim=axis),
    "split_part": _split_part,
    "transpose": lambda x, axes=None: x.T if axes is None else x.permute(*axes),
    "reshape": lambda x, shape: torch.reshape(x, (shape,) if isinstance(shape, int) else shape),
    "getitem": _getitem,
    "squeeze": lambda x, axis=None: torch.squeeze(x) if axis is None else torch.squeeze(x, axis),
    "expand_dims": lambda x, axis=0: torch.unsqueeze(x, axis),
    "broadcast_to": lambda x, shape: torch.broadcast_to(
        x, (shape,) if isinstance(shape, int) else shape),
    "take": _take,
    "take_along_axis": lambda x, k, axis=-1: torch.gather(x, axis, k),
    "scatter_add": _scatter_add,
    "pad_constant": lambda x, width, value=0.0: F.pad(x, _flat_pad(width), mode="constant",
                                                      value=value),
    "pad_reflect": _pad_mode("reflect"),
    "pad_edge": _pad_mode("replicate"),
    "sort": lambda x, axis=-1: torch.sort(x, dim=axis).values,
    "topk": lambda x, k=1, axis=-1: torch.topk(x, k, dim=axis, largest=True, sorted=True).values,
    "flip": lambda x, axis=None: torch.flip(
        x, tuple(range(x.dim())) if axis is None else (axis,) if isinstance(axis, int) else axis),
    "roll": lambda x, shift, axis=None: torch.roll(x, shift, dims=axis),
    "repeat": lambda x, repeats, axis=None: torch.repeat_interleave(x, repeats, dim=axis),
    "tile": lambda x, reps: torch.tile(x, (reps,) if isinstance(reps, int) else reps),
    "moveaxis": lambda x, source, destination: torch.movedim(x, source, destination),
    "swapaxes": lambda x, axis1, axis2: torch.swapaxes(x, axis1, axis2),
}
