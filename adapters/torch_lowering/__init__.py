"""The PyTorch lowering of the op table, one module per family (names and neutral
meanings: ``gradconf/ops/``). An op PyTorch cannot express is ``unsupported(reason)``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gradconf.adapter import family_lowerings

LOWERING: dict[str, Callable[..., Any]] = family_lowerings(__name__)
