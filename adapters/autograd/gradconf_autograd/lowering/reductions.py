"""autograd lowering of the reductions (gradconf/ops/reductions.py), one line each."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp

from gradconf_autograd.lowering.common import reduce


def _norm(x: Any, ord: float = 2, axis: int | None = None, keepdims: bool = False) -> Any:
    """Vector norm of all entries, or along one axis (``gradconf.ops`` semantics)."""
    if axis is None:
        out = anp.linalg.norm(anp.reshape(x, (-1,)), ord=ord)
        return anp.reshape(out, (1,) * anp.ndim(x)) if keepdims else out
    return anp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


LOWERING: dict[str, Callable[..., Any]] = {
    "sum": reduce(anp.sum), "mean": reduce(anp.mean), "norm": _norm,
    "max": reduce(anp.max), "min": reduce(anp.min),
}
