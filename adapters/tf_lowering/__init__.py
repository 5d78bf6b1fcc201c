"""The TensorFlow lowering of the op table, one module per family (names and neutral
meanings: ``gradconf/ops/``). An op TensorFlow cannot express is ``unsupported(reason)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradconf_adapters.tf_lowering import (
    complex,
    elementwise,
    linalg,
    nn,
    piecewise,
    reductions,
    shape,
)

LOWERING: dict[str, Callable[..., Any]] = {
    **elementwise.LOWERING, **piecewise.LOWERING, **complex.LOWERING, **reductions.LOWERING,
    **linalg.LOWERING, **shape.LOWERING,
    **nn.LOWERING,
}
