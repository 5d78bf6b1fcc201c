"""JAX lowering of the elementwise ops (gradconf/ops/elementwise.py), one line each."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

LOWERING: dict[str, Callable[..., Any]] = {
    "neg": jnp.negative, "pos": jnp.positive, "exp": jnp.exp, "log": jnp.log,
    "sin": jnp.sin, "cos": jnp.cos, "tanh": jnp.tanh, "sqrt": jnp.sqrt, "abs": jnp.abs,
    "add": operator.add, "sub": operator.sub, "mul": operator.mul,
    "div": operator.truediv, "pow": operator.pow,
    "maximum": jnp.maximum, "minimum": jnp.minimum, "relu": jax.nn.relu,
    "ones_like": jnp.ones_like, "zeros_like": jnp.zeros_like,
    "less": operator.lt, "less_equal": operator.le, "greater": operator.gt,
    "greater_equal": operator.ge, "equal": operator.eq, "not_equal": operator.ne,
    "where": jnp.where, "stop_gradient": jax.lax.stop_gradient,
}
