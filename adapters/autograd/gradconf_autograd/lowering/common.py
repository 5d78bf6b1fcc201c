"""Small wrappers the autograd lowering tables share."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Fn = Callable[..., Any]


def reduce(fn: Fn) -> Fn:
    """A reduction with the table's ``axis``/``keepdims`` keywords."""
    return lambda x, axis=None, keepdims=False: fn(x, axis=axis, keepdims=keepdims)
