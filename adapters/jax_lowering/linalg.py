"""JAX lowering of the linear-algebra ops (gradconf/ops/linalg.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

LOWERING: dict[str, Callable[..., Any]] = {
    "matmul": jnp.matmul, "mm": lambda a, b: jnp.einsum("ij,jk->ik", a, b),
    "dot": lambda a, b: jnp.einsum("i,i->", a, b),
}
