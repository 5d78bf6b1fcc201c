"""Neural-network functions: softmax and losses, normalisation, attention, convolution and
pooling.

One ``register`` row per op (see :mod:`gradconf.ops`). Layouts are PyTorch's: images are
NCHW (signals NCW), convolution weights OIHW (OIW); a lowering to a framework with another
layout (TensorFlow's NHWC / HWIO) transposes. Losses take ``reduction`` = ``"mean"``
(over every entry), ``"sum"`` or ``"none"``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy import special as sp

from gradconf.ops import Special, register
from gradconf.ops.rules import Shape, ShapeError, axes_of, is_int

REDUCTIONS = ("mean", "sum", "none")


# ---------------------------------------------------------------- shape rules

def _softmax_rule(x: Shape, axis: Any = -1) -> Shape:
    if not x:
        raise ShapeError("needs an array of rank >= 1 (a scalar has no axis to normalise)")
    if not is_int(axis):
        raise ShapeError(f"axis must be one integer, got {axis!r}")
    axes_of(x, axis)
    return x


def _reduced(shape: Shape, reduction: Any) -> Shape:
    if reduction not in REDUCTIONS:
        raise ShapeError(f"reduction must be one of {', '.join(REDUCTIONS)}, got {reduction!r}")
    return shape if reduction == "none" else ()


def _cross_entropy_rule(x: Shape, labels: Shape, reduction: Any = "mean") -> Shape:
    if len(x) != 2 or labels != x[:1]:
        raise ShapeError(f"needs logits (N, C) and integer labels (N,), got {x} and {labels}")
    return _reduced(x[:1], reduction)


def _pair_loss_rule(a: Shape, b: Shape, reduction: Any = "mean", **_: Any) -> Shape:
    if a != b:
        raise ShapeError(f"input and target need one shape, got {a} and {b}")
    return _reduced(a, reduction)


def _huber_rule(a: Shape, b: Shape, delta: Any = 1.0, reduction: Any = "mean") -> Shape:
    if not isinstance(delta, int | float) or isinstance(delta, bool) or not delta > 0:
        raise ShapeError(f"delta must be a positive number, got {delta!r}")
    return _pair_loss_rule(a, b, reduction)


def _eps_rule(x: Shape, eps: Any = 1e-5) -> Shape:
    if not x:
        raise ShapeError("needs an array of rank >= 1")
    if not isinstance(eps, int | float) or isinstance(eps, bool) or not eps > 0:
        raise ShapeError(f"eps must be a positive number, got {eps!r}")
    return x


def _attention_rule(q: Shape, k: Shape, v: Shape) -> Shape:
    if not 2 <= len(q) <= 3 or len(k) != len(q) or len(v) != len(q):
        raise ShapeError(f"needs q, k, v of one rank, 2 (L, d) or 3 (B, L, d); got {q}, {k}, {v}")
    if q[:-2] != k[:-2] or q[:-2] != v[:-2]:
        raise ShapeError(f"batch sizes differ: {q}, {k}, {v}")
    if q[-1] != k[-1]:
        raise ShapeError(f"q and k need one feature size d, got {q[-1]} and {k[-1]}")
    if k[-2] != v[-2]:
        raise ShapeError(f"k and v need one sequence length, got {k[-2]} and {v[-2]}")
    return (*q[:-1], v[-1])


def _tup(value: Any, nd: int, what: str, low: int) -> tuple[int, ...]:
    vals = (value,) * nd if is_int(value) else value
    if not isinstance(vals, tuple) or len(vals) != nd or not all(is_int(v) for v in vals):
        raise ShapeError(f"{what} must be an integer or a tuple of {nd}, got {value!r}")
    if any(v < low for v in vals):
        raise ShapeError(f"{what} must be >= {low}, got {value!r}")
    return tuple(int(v) for v in vals)


def _conv_rule(nd: int) -> Callable[..., Shape]:
    def rule(x: Shape, w: Shape, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Shape:
        lay = "NCW and OIW" if nd == 1 else "NCHW and OIHW"
        if len(x) != nd + 2 or len(w) != nd + 2:
            raise ShapeError(f"needs input and weight of rank {nd + 2} ({lay}), got {x} and {w}")
        if x[1] != w[1]:
            raise ShapeError(f"input channels {x[1]} and weight's in-channels {w[1]} differ")
        st, pd = _tup(stride, nd, "stride", 1), _tup(padding, nd, "padding", 0)
        dl = _tup(dilation, nd, "dilation", 1)
        out = []
        for n, k, s, p, d in zip(x[2:], w[2:], st, pd, dl, strict=True):
            span = d * (k - 1) + 1
            if n + 2 * p < span:
                raise ShapeError(f"the dilated kernel ({span}) is longer than the padded "
                                 f"input ({n + 2 * p})")
            out.append((n + 2 * p - span) // s + 1)
        return (x[0], w[0], *out)
    return rule


def _pool_rule(nd: int) -> Callable[..., Shape]:
    def rule(x: Shape, kernel: Any = None, stride: Any = None) -> Shape:
        if len(x) != nd + 2:
            lay = "NCW" if nd == 1 else "NCHW"
            raise ShapeError(f"needs an input of rank {nd + 2} ({lay}), got {x}")
        if kernel is None:
            raise ShapeError("needs kernel=, e.g. kernel=2")
        ks = _tup(kernel, nd, "kernel", 1)
        st = ks if stride is None else _tup(stride, nd, "stride", 1)
        if any(n < k for n, k in zip(x[2:], ks, strict=True)):
            raise ShapeError(f"kernel {ks} is larger than the input {x[2:]}")
        return (*x[:2], *((n - k) // s + 1 for n, k, s in zip(x[2:], ks, st, strict=True)))
    return rule


# ---------------------------------------------------------------- float64 references

def _reduce(loss: np.ndarray, reduction: str) -> Any:
    return np.mean(loss) if reduction == "mean" else np.sum(loss) if reduction == "sum" else loss


def _cross_entropy(x: np.ndarray, labels: np.ndarray, reduction: str = "mean") -> Any:
    # leading axes before the (N, C) logits: a stack of points (gradconf.batch)
    logp = sp.log_softmax(x, axis=-1)
    idx = np.broadcast_to(np.asarray(labels).astype(np.intp)[:, None], (*logp.shape[:-1], 1))
    nll = -np.take_along_axis(logp, idx, axis=-1)[..., 0]
    return nll if reduction == "none" else np.mean(nll, axis=-1) if reduction == "mean" \
        else np.sum(nll, axis=-1)


def _bce_logits(x: np.ndarray, y: np.ndarray, reduction: str = "mean") -> Any:
    return _reduce(np.maximum(x, 0.0) - x * y + np.log1p(np.exp(-np.abs(x))), reduction)


def _mse(a: np.ndarray, b: np.ndarray, reduction: str = "mean") -> Any:
    return _reduce((a - b) ** 2, reduction)


def _huber(a: np.ndarray, b: np.ndarray, delta: float = 1.0, reduction: str = "mean") -> Any:
    r = a - b
    ar = np.abs(r)
    return _reduce(np.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)), reduction)


def _standardize(x: np.ndarray, axis: int, eps: float) -> np.ndarray:
    d = x - np.mean(x, axis=axis, keepdims=True)
    return d / np.sqrt(np.mean(d * d, axis=axis, keepdims=True) + eps)


def _attention(q: np.ndarray, k: np.ndarray, v: np.ndarray) -> np.ndarray:
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    return sp.softmax(scores, axis=-1) @ v


def _windows(x: np.ndarray, sizes: tuple[int, ...], steps: tuple[int, ...],
             gaps: tuple[int, ...], out: tuple[int, ...]) -> list[np.ndarray]:
    """For each kernel offset, the strided view of ``x``'s trailing axes it meets."""
    nd = len(sizes)
    views = []
    for off in np.ndindex(*sizes):
        idx = tuple(slice(o * g, o * g + s * (n - 1) + 1, s)
                    for o, g, s, n in zip(off, gaps, steps, out, strict=True))
        where: tuple[Any, ...] = (Ellipsis, *idx)
        views.append(x[where] if nd else x)
    return views


def _conv(nd: int) -> Callable[..., np.ndarray]:
    spatial = "hw"[:nd] if nd <= 2 else "".join(chr(ord("h") + i) for i in range(nd))
    spec = f"...nc{spatial},...oc->...no{spatial}"

    def conv(x: np.ndarray, w: np.ndarray, stride: Any = 1, padding: Any = 0,
             dilation: Any = 1) -> np.ndarray:
        # leading axes before the (N, C, ...) input and (O, C, ...) weight broadcast: a
        # stack of points evaluated at once (gradconf.batch)
        core = nd + 2
        shape = _conv_rule(nd)(np.shape(x)[-core:], np.shape(w)[-core:], stride, padding,
                               dilation)
        lead = np.broadcast_shapes(np.shape(x)[:-core], np.shape(w)[:-core])
        pd = _tup(padding, nd, "padding", 0)
        xp = np.pad(x, [(0, 0)] * (np.ndim(x) - nd) + [(p, p) for p in pd])
        views = _windows(xp, w.shape[-nd:], _tup(stride, nd, "stride", 1),
                         _tup(dilation, nd, "dilation", 1), shape[2:])
        out = np.zeros(lead + shape, dtype=np.result_type(x, w))
        for off, view in zip(np.ndindex(*w.shape[-nd:]), views, strict=True):
            out = out + np.einsum(spec, view, w[(Ellipsis, slice(None), slice(None), *off)])
        return out
    return conv


def _pool(nd: int, fn: Callable[..., np.ndarray]) -> Callable[..., np.ndarray]:
    def pool(x: np.ndarray, kernel: Any = None, stride: Any = None) -> np.ndarray:
        shape = _pool_rule(nd)(np.shape(x)[-(nd + 2):], kernel, stride)  # leading axes: a stack
        ks = _tup(kernel, nd, "kernel", 1)
        st = ks if stride is None else _tup(stride, nd, "stride", 1)
        return fn(np.stack(_windows(x, ks, st, (1,) * nd, shape[2:])), axis=0)
    return pool


# ---------------------------------------------------------------- the rows

OVERFLOW = Special("overflow", "logits beyond ~88 (float32) or ~709 (float64): exp overflows "
                   "unless the largest logit is subtracted first")
NEG_INF = Special("degenerate", "a -inf logit (a masked entry): probability 0 and derivative "
                  "0 there; a row of only -inf has no value")
EQUAL = Special("flat", "equal logits: uniform probabilities 1/C (smooth; a symmetric point)")

register("softmax", 1, _softmax_rule, sp.softmax,
         "exp(x - max) / sum(exp(x - max)) along one axis (default -1): overflow-safe; "
         "a -inf entry gives 0", axis=-1, special=(OVERFLOW, NEG_INF, EQUAL), batch="axis",
         examples=("softmax(a)", "softmax(t, axis=1)", "softmax(v, axis=0)"))
register("log_softmax", 1, _softmax_rule, sp.log_softmax,
         "x - logsumexp(x) along one axis (default -1): overflow-safe; a -inf entry stays -inf",
         axis=-1, special=(OVERFLOW, NEG_INF, EQUAL), batch="axis",
         examples=("log_softmax(a)", "log_softmax(t, axis=0)"))
register("cross_entropy", 2, _cross_entropy_rule, _cross_entropy,
         "-log_softmax(logits)[i, labels[i]] for logits (N, C) and int64 labels (N,), no "
         "weights, no label smoothing; reduction mean (over N), sum or none; differentiable "
         "in the logits only", reduction="mean", special=(OVERFLOW, NEG_INF, EQUAL),
         batch="leading",
         examples=("cross_entropy(b @ a, k)", "cross_entropy(b @ p, k, reduction='sum')",
                   "cross_entropy(b @ a, k, reduction='none')"))
register("binary_cross_entropy_with_logits", 2, _pair_loss_rule, _bce_logits,
         "max(x, 0) - x y + log1p(exp(-|x|)) = softplus(x) - x y, for logits x and float "
         "targets y of one shape (no weights, no pos_weight); reduction mean, sum or none; "
         "differentiable in both",
         reduction="mean",
         special=(Special("overflow", "|logit| large: log(sigmoid(x)) underflows to -inf and "
                          "exp(x) overflows unless computed as softplus"),),
         examples=("binary_cross_entropy_with_logits(v, q)",
                   "binary_cross_entropy_with_logits(a, (u + 1) / 2, reduction='sum')"))
register("mse_loss", 2, _pair_loss_rule, _mse,
         "(a - b)^2 of two arrays of one shape; reduction mean (over every entry), sum or none",
         reduction="mean", examples=("mse_loss(a, p)", "mse_loss(a, p, reduction='sum')"))
register("huber_loss", 2, _huber_rule, _huber,
         "r = a - b; 0.5 r^2 where |r| <= delta, else delta (|r| - delta / 2) (PyTorch's "
         "huber_loss; smooth_l1 times delta); first derivative continuous, the second jumps "
         "from 1 to 0 at |r| = delta", smooth=False, delta=1.0, reduction="mean",
         special=(Special("kink", "|a - b| = delta: a kink in the first derivative "
                          "(the second derivative jumps from 1 to 0)"),),
         examples=("huber_loss(a, p)", "huber_loss(a, p, delta=2.0, reduction='none')"))
register("layer_norm", 1, _eps_rule, lambda x, eps=1e-5: _standardize(x, -1, eps),
         "(x - mean) / sqrt(var + eps) over the last axis, biased variance, no affine weight "
         "or bias", eps=1e-5, batch="leading",
         special=(Special("degenerate", "a constant row: variance 0, output 0, derivative "
                          "(I - 1/n) / sqrt(eps), finite only thanks to eps"),),
         examples=("layer_norm(a)", "layer_norm(t, eps=0.001)"))
register("batch_norm", 1, _eps_rule, lambda x, eps=1e-5: _standardize(x, 0, eps),
         "(x - mean) / sqrt(var + eps) with training statistics over axis 0 (each other "
         "entry is a feature), biased variance, no running statistics, no affine", eps=1e-5,
         special=(Special("degenerate", "a feature constant over the batch (or a batch of "
                          "one): variance 0, derivative finite only thanks to eps"),),
         examples=("batch_norm(b)", "batch_norm(t, eps=0.001)"))
register("attention", 3, _attention_rule, _attention,
         "softmax(q k^T / sqrt(d)) v for q (L, d), k (S, d), v (S, dv) or with a leading "
         "batch axis; no mask, no dropout, one head", batch="leading",
         special=(Special("flat", "equal scores (q = 0 or identical keys): uniform weights"),),
         examples=("attention(a, p, a)", "attention(t, t, t)"))
for _nd, _lay in ((1, "NCW input, OIW weight"), (2, "NCHW input, OIHW weight")):
    register(f"conv{_nd}d", 2, _conv_rule(_nd), _conv(_nd),
             f"cross-correlation (PyTorch's conv{_nd}d, no bias, groups 1) of an {_lay}; "
             "stride, zero padding on both sides and dilation are integers or tuples",
             stride=1, padding=0, dilation=1, batch="leading",
             examples=(("conv1d(t, t[:, :, 0:2])", "conv1d(x[:, :, 0, :], t[0:1, :, 0:2], "
                        "stride=2, padding=1, dilation=2)") if _nd == 1 else
                       ("conv2d(x, x[0:1, :, 0:3, 0:3])",
                        "conv2d(x, t[:, :, None, 0:2], stride=2, padding=1, dilation=(1, 2))")))
    _in = "t" if _nd == 1 else "x"
    register(f"max_pool{_nd}d", 1, _pool_rule(_nd), _pool(_nd, np.max),
             f"max over each window ({'NCW' if _nd == 1 else 'NCHW'}); kernel, stride "
             "(default: kernel); no padding; ties inside a window: a kink", smooth=False,
             kernel=None, stride=None, batch="leading",
             special=(Special("tie", "entries of one window tie for the maximum"),),
             examples=(f"max_pool{_nd}d({_in}, kernel=2)",
                       f"max_pool{_nd}d({_in}, kernel=2, stride=1)"))
    register(f"avg_pool{_nd}d", 1, _pool_rule(_nd), _pool(_nd, np.mean),
             f"mean over each window ({'NCW' if _nd == 1 else 'NCHW'}); kernel, stride "
             "(default: kernel); no padding", kernel=None, stride=None, batch="leading",
             examples=(f"avg_pool{_nd}d({_in}, kernel=2)",
                       f"avg_pool{_nd}d({_in}, kernel=2, stride=1)"))
