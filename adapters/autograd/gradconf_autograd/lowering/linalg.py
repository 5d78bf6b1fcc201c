"""autograd lowering of the linear-algebra ops (gradconf/ops/linalg.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp

LOWERING: dict[str, Callable[..., Any]] = {
    "matmul": anp.matmul, "mm": anp.matmul, "dot": anp.dot,
}
