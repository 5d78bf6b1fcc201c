"""autograd lowering of the neural-network functions (gradconf/ops/nn.py), one line each.

autograd has no neural-network ops: each is composed from autograd.numpy and
autograd.scipy (signal.convolve), which is how autograd code writes them. The softmax
family sums exp(x - max x) itself: SciPy's logsumexp checks its dtype with numpy.isdtype,
which refuses ml_dtypes' bfloat16 (NumPy 2.4), and after the shift no entry can overflow.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
from autograd.scipy.signal import convolve
from autograd.tracer import getval


def _reduce(loss: Any, reduction: str) -> Any:
    return anp.mean(loss) if reduction == "mean" else anp.sum(loss) if reduction == "sum" \
        else loss


def _log_softmax(x: Any, axis: int = -1) -> Any:
    """s - log(sum(exp(s))) with s = x - max(x): the max is a constant shift (held out of
    the derivative with autograd's getval, where it cancels anyway), so that float32 logits
    of size 1e4 do not lose their digits, and exp(s) <= 1 with one entry 1."""
    s = x - anp.max(getval(x), axis=axis, keepdims=True)
    return s - anp.log(anp.sum(anp.exp(s), axis=axis, keepdims=True))


def _softmax(x: Any, axis: int = -1) -> Any:
    return anp.exp(_log_softmax(x, axis))


def _cross_entropy(x: Any, labels: Any, reduction: str = "mean") -> Any:
    nll = -_log_softmax(x, -1)[anp.arange(x.shape[0]), anp.asarray(labels, dtype=int)]
    return _reduce(nll, reduction)


def _bce(x: Any, y: Any, reduction: str = "mean") -> Any:
    """y softplus(-x) + (1 - y) softplus(x), softplus(x) = logaddexp(0, x)."""
    return _reduce(y * anp.logaddexp(0, -x) + (1 - y) * anp.logaddexp(0, x), reduction)


def _huber(a: Any, b: Any, delta: float = 1.0, reduction: str = "mean") -> Any:
    r = a - b
    ar = anp.abs(r)
    return _reduce(anp.where(ar <= delta, 0.5 * r * r, delta * (ar - 0.5 * delta)), reduction)


def _standardize(x: Any, axis: int, eps: float) -> Any:
    d = x - anp.mean(x, axis=axis, keepdims=True)
    return d / anp.sqrt(anp.mean(d * d, axis=axis, keepdims=True) + eps)


def _attention(q: Any, k: Any, v: Any) -> Any:
    scores = anp.matmul(q, anp.swapaxes(k, -1, -2)) / math.sqrt(q.shape[-1])
    return anp.matmul(_softmax(scores, -1), v)


def _tup(v: Any, nd: int) -> tuple[int, ...]:
    return (v,) * nd if isinstance(v, int) else tuple(v)


def _dilate(w: Any, axis: int, d: int) -> Any:
    """Insert d - 1 zeros between the kernel's taps along ``axis``."""
    if d == 1:
        return w
    n = w.shape[axis]
    zeros = anp.zeros((*w.shape[:axis + 1], d - 1, *w.shape[axis + 1:]), dtype=w.dtype)
    spread = anp.concatenate([anp.expand_dims(w, axis + 1), zeros], axis=axis + 1)
    spread = anp.reshape(spread, (*w.shape[:axis], n * d, *w.shape[axis + 1:]))
    return spread[(slice(None),) * axis + (slice(0, (n - 1) * d + 1),)]


def _conv(nd: int) -> Callable[..., Any]:
    """autograd.scipy.signal.convolve (a true convolution) of the zero-padded input with
    the flipped, dilated kernel, subsampled by the stride: PyTorch's cross-correlation."""
    spatial = list(range(2, 2 + nd))

    def conv(x: Any, w: Any, stride: Any = 1, padding: Any = 0, dilation: Any = 1) -> Any:
        pads = _tup(padding, nd)
        if any(pads):
            x = anp.pad(x, [(0, 0), (0, 0), *((p, p) for p in pads)], mode="constant")
        for i, d in enumerate(_tup(dilation, nd)):
            w = _dilate(w, 2 + i, d)
        w = w[(slice(None), slice(None), *(slice(None, None, -1),) * nd)]
        out = convolve(x, w, axes=(spatial, spatial), dot_axes=([1], [1]), mode="valid")
        return out[(slice(None), slice(None), *(slice(None, None, s) for s in _tup(stride, nd)))]
    return conv


def _pool(nd: int, fn: Callable[..., Any]) -> Callable[..., Any]:
    """The windows stacked on a new leading axis (one strided slice per kernel offset),
    then max or mean over it."""
    def pool(x: Any, kernel: Any = None, stride: Any = None) -> Any:
        ks = _tup(kernel, nd)
        st = ks if stride is None else _tup(stride, nd)
        out = [(n - k) // s + 1 for n, k, s in zip(x.shape[2:], ks, st, strict=True)]
        views = [x[(Ellipsis, *(slice(o, o + s * (m - 1) + 1, s)
                                for o, s, m in zip(off, st, out, strict=True)))]
                 for off in anp.ndindex(*ks)]
        return fn(anp.stack(views), axis=0)
    return pool


LOWERING: dict[str, Callable[..., Any]] = {
    "softmax": _softmax, "log_softmax": _log_softmax,
    "cross_entropy": _cross_entropy, "binary_cross_entropy_with_logits": _bce,
    "mse_loss": lambda a, b, reduction="mean": _reduce((a - b) ** 2, reduction),
    "huber_loss": _huber,
    "layer_norm": lambda x, eps=1e-5: _standardize(x, -1, eps),
    "batch_norm": lambda x, eps=1e-5: _standardize(x, 0, eps),
    "attention": _attention,
    "conv1d": _conv(1), "conv2d": _conv(2),
    "max_pool1d": _pool(1, anp.max), "max_pool2d": _pool(2, anp.max),
    "avg_pool1d": _pool(1, anp.mean), "avg_pool2d": _pool(2, anp.mean),
}
