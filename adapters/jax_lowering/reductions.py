"""JAX lowering of the reductions (gradconf/ops/reductions.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

from gradconf_adapters.jax_lowering.common import reduce

LOWERING: dict[str, Callable[..., Any]] = {
    "sum": reduce(jnp.sum), "mean": reduce(jnp.mean),
    # vector_norm flattens when axis is None (linalg.norm would take a matrix norm)
    "norm": lambda x, ord=2, axis=None, keepdims=False: jnp.linalg.vector_norm(
        x, ord=ord, axis=axis, keepdims=keepdims),
    "max": reduce(jnp.max), "min": reduce(jnp.min),
}
