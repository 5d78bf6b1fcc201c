"""autograd lowering of the piecewise and binary elementwise ops (gradconf/ops/piecewise.py),
one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

LOWERING: dict[str, Callable[..., Any]] = {
}
