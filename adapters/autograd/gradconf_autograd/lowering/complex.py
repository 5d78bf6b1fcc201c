"""autograd lowering of the complex-part ops (gradconf/ops/complex.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp

LOWERING: dict[str, Callable[..., Any]] = {
    "real": anp.real, "imag": anp.imag, "conj": anp.conj, "angle": anp.angle,
}
