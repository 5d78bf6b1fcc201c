"""Reductions, cumulative ops, statistics and norms.

One ``register`` row per op (see :mod:`gradconf.ops`). Where frameworks define an op
differently (std's default correction, median of an even count, norm defaults), the row's
notes name the one neutral meaning every lowering implements.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import scipy.special

from gradconf.ops import Special, register
from gradconf.ops.rules import ShapeError, is_int, norm, reduce


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
                   "sum(t, axis=(0, 2))"), batch="axis")
register("mean", 1, reduce, np.mean, "linear", axis=None, keepdims=False,
         examples=("mean(a)", "mean(a, axis=1)", "mean(t, axis=(1, 2), keepdims=True)"),
         batch="axis")
register("norm", 1, norm, _np_norm,
         "VECTOR norm: of all entries flattened (axis None) or along one axis, ord 1, 2, "
         "inf or -inf; not `matrix_norm` (operator/Frobenius norms over the last two axes); "
         "kink at 0",
         smooth=False, ord=2, axis=None, keepdims=False,
         special=(Special("kink", "x = 0 (every unit vector is a subgradient)"),
                  Special("tie", "ord=inf or -inf with entries tying in |x|")),
         examples=("norm(a)", "norm(a, keepdims=True)", "norm(v, ord=1)",
                   "norm(a, ord=inf, axis=0)", "norm(a, ord=-inf)",
                   "norm(a, axis=1, keepdims=True)", "norm(t, ord=1, axis=2)"))
register("max", 1, reduce, np.max, "kink where entries tie for the maximum", smooth=False,
         axis=None, keepdims=False, special=(TIES,),
         examples=("max(a)", "max(t, axis=(0, 2))"), batch="axis")
register("min", 1, reduce, np.min, "kink where entries tie for the minimum", smooth=False,
         axis=None, keepdims=False, special=(TIES,),
         examples=("min(a, axis=1, keepdims=True)",), batch="axis")


# ---------------------------------------------------------------- more reductions

def one_axis(x: tuple[int, ...], axis: int | None = None,
             keepdims: bool = False) -> tuple[int, ...]:
    """A reduction over all entries (axis None) or along one integer axis."""
    if axis is not None and not is_int(axis):
        raise ShapeError(f"takes one integer axis or None (all entries), got {axis!r}")
    return reduce(x, axis, keepdims)


def along(x: tuple[int, ...], axis: int = -1, keepdims: bool = False) -> tuple[int, ...]:
    """A reduction along exactly one integer axis (no flattening)."""
    if not is_int(axis):
        raise ShapeError(f"needs one integer axis, got {axis!r}")
    if not x:
        raise ShapeError("needs an array of rank >= 1, got a scalar")
    return reduce(x, axis, keepdims)


def cumulative(x: tuple[int, ...], axis: int = -1) -> tuple[int, ...]:
    """A scan along one integer axis: the shape is kept."""
    along(x, axis)
    return x


def statistic(x: tuple[int, ...], axis: Any = None, correction: float = 1,
              keepdims: bool = False) -> tuple[int, ...]:
    """var/std: any axes, and a non-negative correction (a number)."""
    if not isinstance(correction, int | float) or isinstance(correction, bool) \
            or not correction >= 0:
        raise ShapeError(f"correction must be a non-negative number, got {correction!r}")
    return reduce(x, axis, keepdims)


def quantile_rule(x: tuple[int, ...], q: float = 0.5, axis: int | None = None,
                  keepdims: bool = False) -> tuple[int, ...]:
    if not isinstance(q, int | float) or isinstance(q, bool) or not 0 <= q <= 1:
        raise ShapeError(f"q must be one number in [0, 1], got {q!r}")
    return one_axis(x, axis, keepdims)


MATRIX_ORDS = ("fro", "nuc", 1, 2, math.inf, -math.inf)


def matrix_norm_rule(x: tuple[int, ...], ord: Any = "fro",
                     keepdims: bool = False) -> tuple[int, ...]:
    if ord not in MATRIX_ORDS or isinstance(ord, bool):
        raise ShapeError(f"ord must be 'fro', 'nuc', 1, 2, inf or -inf, got {ord!r}")
    if len(x) < 2:
        raise ShapeError(f"needs a matrix or a batch of matrices (rank >= 2), got shape {x}")
    return (*x[:-2], 1, 1) if keepdims else x[:-2]


def _prod(x: np.ndarray, axis: int | None = None, keepdims: bool = False) -> Any:
    return np.prod(x, axis=axis, keepdims=keepdims)


def _along_max(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> Any:
    return np.max(x, axis=axis, keepdims=keepdims)


def _along_min(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> Any:
    return np.min(x, axis=axis, keepdims=keepdims)


def _logsumexp(x: np.ndarray, axis: Any = None, keepdims: bool = False) -> Any:
    return scipy.special.logsumexp(x, axis=axis, keepdims=keepdims)


def _var(x: np.ndarray, axis: Any = None, correction: float = 1, keepdims: bool = False) -> Any:
    with warnings.catch_warnings():  # correction >= n: the pole's inf/nan is the answer
        warnings.filterwarnings("ignore", "Degrees of freedom", RuntimeWarning)
        return np.var(x, axis=axis, ddof=correction, keepdims=keepdims)


def _std(x: np.ndarray, axis: Any = None, correction: float = 1, keepdims: bool = False) -> Any:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Degrees of freedom", RuntimeWarning)
        return np.std(x, axis=axis, ddof=correction, keepdims=keepdims)


def _median(x: np.ndarray, axis: int | None = None, keepdims: bool = False) -> Any:
    return np.quantile(x, 0.5, axis=axis, method="lower", keepdims=keepdims)


def _quantile(x: np.ndarray, q: float = 0.5, axis: int | None = None,
              keepdims: bool = False) -> Any:
    return np.quantile(x, q, axis=axis, method="linear", keepdims=keepdims)


def _matrix_norm(x: np.ndarray, ord: Any = "fro", keepdims: bool = False) -> Any:
    return np.linalg.norm(x, ord=ord, axis=(-2, -1), keepdims=keepdims)


def _take_argmax(x: np.ndarray, axis: int = -1, keepdims: bool = False) -> Any:
    idx = np.expand_dims(np.argmax(x, axis=axis), axis)
    out = np.take_along_axis(x, idx, axis=axis)
    return out if keepdims else np.squeeze(out, axis=axis)


def _scan(ufunc: np.ufunc) -> Any:
    return lambda x, axis=-1: ufunc.accumulate(np.asarray(x, dtype=np.float64), axis=axis)


ONE_AXIS = "over all entries (axis=None) or along one integer axis"
register("prod", 1, one_axis, _prod,
         f"product {ONE_AXIS}; smooth (a polynomial): through a zero entry the derivative is "
         "the product of the other entries, through two zeros it is zero",
         special=(Special("degenerate", "one entry is zero: d/dx_i = product of the others "
                          "(a rule dividing by x_i gives 0/0)"),
                  Special("degenerate", "two or more entries are zero: the gradient is zero")),
         axis=None, keepdims=False, examples=("prod(a)", "prod(p, axis=1, keepdims=True)"))
register("amax", 1, reduce, np.max,
         "largest entry (any axes); at ties the gradient is split evenly among the tied "
         "entries (torch.amax, jnp.max, tf.reduce_max, autograd np.max); calculus gives a "
         "kink there, so the oracle judges the split against the subgradient interval",
         smooth=False, special=(TIES,), axis=None, keepdims=False,
         examples=("amax(a)", "amax(t, axis=(0, 2), keepdims=True)"), batch="axis")
register("amin", 1, reduce, np.min,
         "smallest entry (any axes); at ties the gradient is split evenly among the tied "
         "entries; a kink there", smooth=False, special=(TIES,), axis=None, keepdims=False,
         examples=("amin(a, axis=0)",), batch="axis")
register("max_dim", 1, along, _along_max,
         "the values of torch.max(x, dim): the largest entry along one axis, by an op that "
         "also returns its index (torch.max(dim), lax.top_k, tf.math.top_k); at ties the "
         "gradient goes where the framework's index points (a kink: any choice in the "
         "subgradient interval is a convention)", smooth=False, special=(TIES,),
         axis=-1, keepdims=False, examples=("max_dim(a, axis=0)", "max_dim(t, keepdims=True)"))
register("min_dim", 1, along, _along_min,
         "the values of torch.min(x, dim): the smallest entry along one axis, by an op that "
         "also returns its index; ties are a kink (each framework's pick a convention)",
         smooth=False, special=(TIES,), axis=-1, keepdims=False,
         examples=("min_dim(a, axis=1)",))
register("take_argmax", 1, along, _take_argmax,
         "the entry at argmax along one axis, gathered by index (take_along_axis): max by "
         "another route; the gradient flows only to the gathered entry (argmax picks the "
         "first of tied entries: a kink, the pick is a convention)", smooth=False,
         special=(TIES,), axis=-1, keepdims=False,
         examples=("take_argmax(a, axis=0)", "take_argmax(t, axis=1, keepdims=True)"))
register("logsumexp", 1, reduce, _logsumexp,
         "log(sum(exp(x))) over any axes, computed overflow-safe (shifted by the max); the "
         "gradient is softmax(x); an entry of -inf has weight 0; all -inf gives -inf",
         special=(Special("overflow", "entries beyond 88 (float32) or 709 (float64): a naive "
                          "exp overflows, the shifted form does not"),
                  Special("degenerate", "-inf entries (weight 0); all entries -inf")),
         axis=None, keepdims=False,
         examples=("logsumexp(a)", "logsumexp(t, axis=(0, 2), keepdims=True)"), batch="axis")
register("var", 1, statistic, _var,
         "variance sum((x - mean)^2) / (n - correction) over any axes; correction=1 by "
         "default (Bessel, torch's default; jnp ddof and tf's population variance passed or "
         "rescaled explicitly); correction = n divides by zero",
         special=(Special("pole", "correction >= n: division by n - correction <= 0"),),
         axis=None, correction=1, keepdims=False,
         examples=("var(a)", "var(a, axis=1, correction=0)",
                   "var(t, axis=(0, 2), keepdims=True)"), batch="axis")
register("std", 1, statistic, _std,
         "sqrt(var(x, correction)), correction=1 by default; at zero spread (constant data) "
         "std is a cone in x - mean: a kink (one-sided slopes of opposite sign), no gradient",
         smooth=False,
         special=(Special("kink", "constant data (zero spread): one-sided slopes +-c"),
                  Special("pole", "correction >= n: division by n - correction <= 0")),
         axis=None, correction=1, keepdims=False,
         examples=("std(a)", "std(p, axis=0, correction=0, keepdims=True)"), batch="axis")
register("cumsum", 1, cumulative, _scan(np.add), "running sum along one axis (default last)",
         axis=-1, examples=("cumsum(a)", "cumsum(t, axis=1)"))
register("cumprod", 1, cumulative, _scan(np.multiply),
         "running product along one axis (default last); smooth: through a zero the "
         "derivative of each later output is the product of the other entries up to it",
         special=(Special("degenerate", "a zero entry: a rule dividing by x gives 0/0"),),
         axis=-1, examples=("cumprod(a)", "cumprod(p, axis=0)"))
register("cummax", 1, cumulative, _scan(np.maximum),
         "running maximum along one axis (default last); ties (an entry equal to the "
         "running max) are a kink, each framework's pick a convention", smooth=False,
         special=(TIES,), axis=-1, examples=("cummax(a)", "cummax(t, axis=0)"))
register("cummin", 1, cumulative, _scan(np.minimum),
         "running minimum along one axis (default last); ties are a kink", smooth=False,
         special=(TIES,), axis=-1, examples=("cummin(a, axis=0)",))
register("logcumsumexp", 1, cumulative, _scan(np.logaddexp),
         "running log(sum(exp)) along one axis (default last), overflow-safe; gradient a "
         "running softmax", special=(Special("overflow", "entries beyond exp's range"),),
         axis=-1, examples=("logcumsumexp(a)", "logcumsumexp(t, axis=0)"))
register("median", 1, one_axis, _median,
         f"median {ONE_AXIS}; of an even count it is the LOWER of the two middle values "
         "(torch.median; jnp.median and np.median average the two, so lowerings use "
         "quantile(method='lower') or sort + index); the gradient goes to the one entry "
         "picked; ties are a kink", smooth=False,
         special=(Special("tie", "the picked order statistic ties with another entry"),),
         axis=None, keepdims=False, examples=("median(a)", "median(a, axis=1, keepdims=True)",
                                              "median(t, axis=0)"))
register("quantile", 1, quantile_rule, _quantile,
         f"q-quantile {ONE_AXIS} with linear interpolation between order statistics "
         "(position q (n - 1) in the sorted values; NumPy method 'linear', torch "
         "interpolation 'linear'); q a number in [0, 1], default 0.5; ties of the two "
         "order statistics used, or of one with its neighbour, are kinks", smooth=False,
         special=(Special("tie", "an order statistic the interpolation uses ties with another"),),
         q=0.5, axis=None, keepdims=False,
         examples=("quantile(a, q=0.3)", "quantile(a, q=0.75, axis=1)",
                   "quantile(t, q=0.5, axis=0, keepdims=True)"))
register("matrix_norm", 1, matrix_norm_rule, _matrix_norm,
         "MATRIX norm over the last two axes (a batch of matrices keeps its leading axes): "
         "ord 'fro' (default; sqrt of the sum of squares), 'nuc' (sum of singular values), "
         "1 (max column abs sum), 2 (largest singular value), inf (max row abs sum), -inf "
         "(min row abs sum); not the vector `norm`, which flattens or takes one axis",
         smooth=False,
         special=(Special("kink", "the zero matrix (every ord)"),
                  Special("degenerate", "ord 2 with a repeated largest singular value; ord "
                          "'nuc' at a rank-deficient matrix (a zero singular value)"),
                  Special("tie", "ord 1 / inf / -inf with columns or rows tying for the "
                          "extreme abs sum, or a zero entry in the extreme one")),
         ord="fro", keepdims=False,
         examples=("matrix_norm(m)", "matrix_norm(w, ord='nuc')", "matrix_norm(m, ord=1)",
                   "matrix_norm(w, ord=2, keepdims=True)", "matrix_norm(b, ord=inf)",
                   "matrix_norm(m, ord=-inf)"))
