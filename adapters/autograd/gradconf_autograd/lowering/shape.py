"""autograd lowering of the shape and indexing ops (gradconf/ops/shape.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp

LOWERING: dict[str, Callable[..., Any]] = {
    "concat": lambda *xs, axis=0: anp.concatenate(xs, axis=axis),
    "transpose": lambda x, axes=None: anp.transpose(x, axes),
    "reshape": lambda x, shape: anp.reshape(x, shape),
    "getitem": lambda x, index: x[index],
}
