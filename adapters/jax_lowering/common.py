"""Small wrappers the JAX lowering tables share."""

from __future__ import annotations

from collections.abc import Callable

import jax


def reduce(fn: Callable[..., jax.Array]) -> Callable[..., jax.Array]:
    """A reduction with the table's ``axis``/``keepdims`` keywords."""
    return lambda x, axis=None, keepdims=False: fn(x, axis=axis, keepdims=keepdims)
