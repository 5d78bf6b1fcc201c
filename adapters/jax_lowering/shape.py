"""JAX lowering of the shape and indexing ops (gradconf/ops/shape.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp


def _topk(x: jax.Array, k: int = 1, axis: int = -1) -> jax.Array:
    """jax.lax.top_k works on the last axis: another axis is moved there and back."""
    values, _ = jax.lax.top_k(jnp.moveaxis(x, axis, -1), k)
    return jnp.moveaxis(values, -1, axis)


def _scatter_add(x: jax.Array, k: jax.Array, u: jax.Array, axis: int = 0) -> jax.Array:
    """``x.at[..., k, ...].add(u)``: duplicate indices accumulate."""
    return jnp.asarray(x).at[(slice(None),) * (axis % jnp.ndim(x)) + (k,)].add(u)


LOWERING: dict[str, Callable[..., Any]] = {
    "concat": lambda *xs, axis=0: jnp.concatenate(xs, axis=axis),
    "stack": lambda *xs, axis=0: jnp.stack(xs, axis=axis),
    "split_part": lambda x, parts=2, part=0, axis=0: jnp.split(
        x, parts if isinstance(parts, int) else list(parts), axis=axis)[part],
    "transpose": lambda x, axes=None: jnp.transpose(x, axes),  # None reverses: 1-D unchanged
    "reshape": lambda x, shape: jnp.reshape(x, shape),
    "getitem": lambda x, index: jnp.asarray(x)[index],
    "squeeze": lambda x, axis=None: jnp.squeeze(x, axis=axis),
    "expand_dims": lambda x, axis=0: jnp.expand_dims(x, axis),
    "broadcast_to": lambda x, shape: jnp.broadcast_to(x, shape),
    "take": lambda x, k, axis=0: jnp.take(x, k, axis=axis),
    "take_along_axis": lambda x, k, axis=-1: jnp.take_along_axis(x, k, axis=axis),
    "scatter_add": _scatter_add,
    "pad_constant": lambda x, width, value=0.0: jnp.pad(x, width, mode="constant",
                                                        constant_values=value),
    "pad_reflect": lambda x, width: jnp.pad(x, width, mode="reflect"),
    "pad_edge": lambda x, width: jnp.pad(x, width, mode="edge"),
    "sort": lambda x, axis=-1: jnp.sort(x, axis=axis),
    "topk": _topk,
    "flip": lambda x, axis=None: jnp.flip(x, axis=axis),
    "roll": lambda x, shift, axis=None: jnp.roll(x, shift, axis=axis),
    "repeat": lambda x, repeats, axis=None: jnp.repeat(x, repeats, axis=axis),
    "tile": lambda x, reps: jnp.tile(x, reps),
    "moveaxis": lambda x, source, destination: jnp.moveaxis(x, source, destination),
    "swapaxes": lambda x, axis1, axis2: jnp.swapaxes(x, axis1, axis2),
}
