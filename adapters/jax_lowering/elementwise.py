"""JAX lowering of the elementwise ops (gradconf/ops/elementwise.py), one line each."""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.special

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
    "expm1": jnp.expm1, "log1p": jnp.log1p, "log2": jnp.log2, "log10": jnp.log10,
    "rsqrt": jax.lax.rsqrt, "square": jnp.square, "reciprocal": jnp.reciprocal,
    "tan": jnp.tan, "asin": jnp.arcsin, "acos": jnp.arccos, "atan": jnp.arctan,
    "sinh": jnp.sinh, "cosh": jnp.cosh, "asinh": jnp.arcsinh, "acosh": jnp.arccosh,
    "atanh": jnp.arctanh, "erf": jax.scipy.special.erf, "erfc": jax.scipy.special.erfc,
    "erfinv": jax.scipy.special.erfinv, "lgamma": jax.scipy.special.gammaln,
    "digamma": jax.scipy.special.digamma, "sign": jnp.sign,
}
