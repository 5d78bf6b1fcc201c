"""Reductions, cumulative ops, statistics and norms.

One ``register`` row per op (see :mod:`gradconf.ops`). Where frameworks define an op
differently (std's default correction, median of an even count, norm defaults), the row's
notes name the one neutral meaning every lowering implements.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradconf.ops import Special, register
from gradconf.ops.rules import norm, reduce


def _np_norm(x: np.ndarray, ord: float = 2, axis: int | None = None,
             keepdims: bool = False) -> Any:
    x = np.asarray(x)
    if axis is None:
        out = np.linalg.norm(x.reshape(-1), ord=ord)
        return np.reshape(out, (1,) * x.ndim) if keepdims else out
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


TIES = Special("tie", "entries tie for the extreme value")

register("sum", 1, reduce, np.sum, "linear", axis=None, keepdims=False,
         examples=("sum(a)", "sum(a, axis=0)", "sum(a, axis=-1, keepdims=True)",
                   "sum(t, axis=(0, 2))"))
register("mean", 1, reduce, np.mean, "linear", axis=None, keepdims=False,
         examples=("mean(a)", "mean(a, axis=1)", "mean(t, axis=(1, 2), keepdims=True)"))
register("norm", 1, norm, _np_norm, "vector norm (all entries unless axis); kink at 0",
         smooth=False, ord=2, axis=None, keepdims=False,
         special=(Special("kink", "x = 0 (every unit vector is a subgradient)"),
                  Special("tie", "ord=inf or -inf with entries tying in |x|")),
         examples=("norm(a)", "norm(a, keepdims=True)", "norm(v, ord=1)",
                   "norm(a, ord=inf, axis=0)", "norm(a, ord=-inf)",
                   "norm(a, axis=1, keepdims=True)", "norm(t, ord=1, axis=2)"))
register("max", 1, reduce, np.max, "kink where entries tie for the maximum", smooth=False,
         axis=None, keepdims=False, special=(TIES,),
         examples=("max(a)", "max(t, axis=(0, 2))"))
register("min", 1, reduce, np.min, "kink where entries tie for the minimum", smooth=False,
         axis=None, keepdims=False, special=(TIES,),
         examples=("min(a, axis=1, keepdims=True)",))
