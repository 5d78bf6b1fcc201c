"""JAX lowering of the complex-part ops (gradconf/ops/complex.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax.numpy as jnp

LOWERING: dict[str, Callable[..., Any]] = {
    "real": jnp.real, "imag": jnp.imag, "conj": jnp.conj, "angle": jnp.angle,
}
