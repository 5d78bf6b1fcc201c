"""JAX lowering of the neural-network functions (gradconf/ops/nn.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LOWERING: dict[str, Callable[..., Any]] = {
}
