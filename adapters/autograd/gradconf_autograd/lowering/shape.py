"""autograd lowering of the shape and indexing ops (gradconf/ops/shape.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import numpy as np

from gradconf.adapter import unsupported


def _along(nd: int, axis: int, k: Any) -> tuple[Any, ...]:
    """An index picking ``k`` along ``axis`` and everything elsewhere."""
    return (slice(None),) * (axis % nd) + (k,)


def _take_along_axis(x: Any, k: Any, axis: int = -1) -> Any:
    """autograd wraps no np.take_along_axis gradient: the same picks as one integer-array
    index (open grids on the other axes, k on ``axis``), whose gradient is np.add.at."""
    nd = anp.ndim(x)
    grids = list(np.ogrid[tuple(slice(n) for n in np.shape(k))])
    grids[axis % nd] = np.asarray(k)
    return x[tuple(grids)]


def _flip(x: Any, axis: Any = None) -> Any:
    """autograd defines no np.flip gradient (only flipud/fliplr): a ``::-1`` slice per axis."""
    nd = anp.ndim(x)
    axes = range(nd) if axis is None else [axis] if isinstance(axis, int) else axis
    picked = {a % nd for a in axes}
    return x[tuple(slice(None, None, -1) if i in picked else slice(None) for i in range(nd))]


def _topk(x: Any, k: int = 1, axis: int = -1) -> Any:
    """autograd has no top-k: the first k of the descending sort (np.sort of -x)."""
    return (-anp.sort(-x, axis=axis))[_along(anp.ndim(x), axis, slice(0, k))]


LOWERING: dict[str, Callable[..., Any]] = {
    "concat": lambda *xs, axis=0: anp.concatenate(xs, axis=axis),
    "stack": lambda *xs, axis=0: anp.stack(xs, axis=axis),
    "split_part": lambda x, parts=2, part=0, axis=0: anp.split(
        x, parts if isinstance(parts, int) else list(parts), axis=axis)[part],
    "transpose": lambda x, axes=None: anp.transpose(x, axes),
    "reshape": lambda x, shape: anp.reshape(x, shape),
    "getitem": lambda x, index: x[index],
    "squeeze": lambda x, axis=None: anp.squeeze(x, axis=axis),
    "expand_dims": lambda x, axis=0: anp.expand_dims(x, axis),
    "broadcast_to": lambda x, shape: anp.broadcast_to(x, shape),
    "take": lambda x, k, axis=0: x[_along(anp.ndim(x), axis, np.asarray(k))],
    "take_along_axis": _take_along_axis,
    "scatter_add": unsupported("scatter_add", "autograd defines no gradient of np.add.at and "
                                              "has no index-add or scatter-add primitive"),
    "pad_constant": lambda x, width, value=0.0: anp.pad(x, width, mode="constant",
                                                        constant_values=value),
    "pad_reflect": unsupported("pad_reflect", "autograd's np.pad gradient asserts "
                                              "mode == 'constant' (only constant padding)"),
    "pad_edge": unsupported("pad_edge", "autograd's np.pad gradient asserts mode == 'constant' "
                                        "(only constant padding)"),
    "sort": lambda x, axis=-1: anp.sort(x, axis=axis),
    "topk": _topk,
    "flip": _flip,
    "roll": lambda x, shift, axis=None: anp.roll(x, shift, axis=axis),
    "repeat": lambda x, repeats, axis=None: anp.repeat(x, repeats, axis=axis),
    "tile": lambda x, reps: anp.tile(x, reps),
    "moveaxis": lambda x, source, destination: anp.moveaxis(x, source, destination),
    "swapaxes": lambda x, axis1, axis2: anp.swapaxes(x, axis1, axis2),
}
