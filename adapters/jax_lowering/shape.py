"""JAX lowering of the shape and indexing ops (gradconf/ops/shape.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

LOWERING: dict[str, Callable[..., Any]] = {
    "concat": lambda *xs, axis=0: jnp.concatenate(xs, axis=axis),
    "transpose": lambda x, axes=None: jnp.transpose(x, axes),  # None reverses: 1-D unchanged
    "reshape": lambda x, shape: jnp.reshape(x, shape),
    "getitem": lambda x, index: jnp.asarray(x)[index],
}
