"""autograd lowering of the reductions (gradconf/ops/reductions.py), one line each."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import autograd.scipy.special as asp
import numpy as onp

from gradconf.adapter import unsupported
from gradconf_autograd.lowering.common import reduce


def _norm(x: Any, ord: float = 2, axis: int | None = None, keepdims: bool = False) -> Any:
    """Vector norm of all entries, or along one axis (``gradconf.ops`` semantics)."""
    if axis is None:
        out = anp.linalg.norm(anp.reshape(x, (-1,)), ord=ord)
        return anp.reshape(out, (1,) * anp.ndim(x)) if keepdims else out
    return anp.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def _rows(fn: Callable[[Any], Any]) -> Callable[..., Any]:
    """Apply ``fn`` (a 1-D vector to a scalar) along ``axis`` (None: all entries): autograd's
    sort has a gradient for 1-D arrays only, so order statistics go row by row."""
    def lowered(x: Any, axis: int | None = None, keepdims: bool = False, **kw: Any) -> Any:
        nd = anp.ndim(x)
        if axis is None:
            out = fn(anp.reshape(x, (-1,)), **kw)
            return anp.reshape(out, (1,) * nd) if keepdims else out
        xt = anp.moveaxis(x, axis, -1)
        lead = anp.shape(xt)[:-1]
        rows = anp.reshape(xt, (-1, anp.shape(xt)[-1]))
        out = anp.reshape(anp.stack([fn(r, **kw) for r in rows]), lead)
        return anp.expand_dims(out, axis % nd) if keepdims else out
    return lowered


def _lower_median(r: Any) -> Any:
    return anp.sort(r)[(len(r) - 1) // 2]


def _linear_quantile(r: Any, q: float = 0.5) -> Any:
    s, n = anp.sort(r), len(r)
    pos = q * (n - 1)
    lo = math.floor(pos)
    hi = min(lo + 1, n - 1)
    frac = pos - lo
    # NumPy's lerp: from the nearer end, so frac 0 or 1 returns an order statistic exactly
    return s[lo] + (s[hi] - s[lo]) * frac if frac < 0.5 else s[hi] - (s[hi] - s[lo]) * (1 - frac)


def _take_argmax(x: Any, axis: int = -1, keepdims: bool = False) -> Any:
    """autograd has no take_along_axis gradient: index the argmax row by row."""
    xt = anp.moveaxis(x, axis, -1)
    rows = anp.reshape(xt, (-1, anp.shape(xt)[-1]))
    idx = onp.argmax(getattr(rows, "_value", rows), axis=-1)
    out = anp.reshape(rows[onp.arange(len(idx)), idx], anp.shape(xt)[:-1])
    return anp.expand_dims(out, axis % anp.ndim(x)) if keepdims else out


def _matrix_norm(x: Any, ord: Any = "fro", keepdims: bool = False) -> Any:
    nd = anp.ndim(x)
    out = anp.linalg.norm(x, ord=ord, axis=(nd - 2, nd - 1))
    return anp.reshape(out, (*anp.shape(out), 1, 1)) if keepdims else out


def _scan_missing(name: str, what: str) -> Callable[..., Any]:
    return unsupported(name, f"autograd defines no gradient for {what}")


LOWERING: dict[str, Callable[..., Any]] = {
    "sum": reduce(anp.sum), "mean": reduce(anp.mean), "norm": _norm,
    "max": reduce(anp.max), "min": reduce(anp.min),
    "prod": reduce(anp.prod),
    "amax": reduce(anp.max), "amin": reduce(anp.min),
    # autograd has no op returning a maximum with its index: np.max along the axis
    "max_dim": reduce(anp.max), "min_dim": reduce(anp.min),
    "take_argmax": _take_argmax,
    "logsumexp": reduce(asp.logsumexp),
    "var": lambda x, axis=None, correction=1, keepdims=False: anp.var(
        x, axis=axis, ddof=correction, keepdims=keepdims),
    "std": lambda x, axis=None, correction=1, keepdims=False: anp.std(
        x, axis=axis, ddof=correction, keepdims=keepdims),
    "cumsum": lambda x, axis=-1: anp.cumsum(x, axis=axis),
    "cumprod": _scan_missing("cumprod", "np.cumprod"),
    "cummax": _scan_missing("cummax", "np.maximum.accumulate (ufunc.accumulate)"),
    "cummin": _scan_missing("cummin", "np.minimum.accumulate (ufunc.accumulate)"),
    "logcumsumexp": _scan_missing("logcumsumexp", "np.logaddexp.accumulate (ufunc.accumulate)"),
    "median": _rows(_lower_median),
    "quantile": _rows(_linear_quantile),
    "matrix_norm": _matrix_norm,
}
