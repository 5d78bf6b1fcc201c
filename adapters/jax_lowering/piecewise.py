"""JAX lowering of the piecewise and binary elementwise ops (gradconf/ops/piecewise.py),
one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special as jsp

LOWERING: dict[str, Callable[..., Any]] = {
    "sigmoid": jax.nn.sigmoid, "log_sigmoid": jax.nn.log_sigmoid, "softplus": jax.nn.softplus,
    "silu": jax.nn.silu,
    "gelu": lambda x: jax.nn.gelu(x, approximate=False),
    "gelu_tanh": lambda x: jax.nn.gelu(x, approximate=True),
    "relu6": jax.nn.relu6,
    "leaky_relu": lambda x, negative_slope=0.01: jax.nn.leaky_relu(
        x, negative_slope=negative_slope),
    "elu": lambda x, alpha=1.0: jax.nn.elu(x, alpha=alpha),
    "floor": jnp.floor, "ceil": jnp.ceil, "round": jnp.round, "trunc": jnp.trunc,
    "clip": lambda x, lo=0.0, hi=1.0: jnp.clip(x, lo, hi),
    "atan2": jnp.arctan2, "hypot": jnp.hypot, "xlogy": jsp.xlogy,
    "copysign": jnp.copysign, "fmod": jnp.fmod, "remainder": jnp.remainder,
}
