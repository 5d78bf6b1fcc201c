"""TensorFlow lowering of the linear-algebra ops (gradconf/ops/linalg.py), one line each.

The normalisations the op rows name (symmetric part, R's non-negative diagonal, the sign
gauge of eigen/singular vectors) are applied here as in the NumPy reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf
import tensorflow.experimental.numpy as tnp

from gradconf.adapter import unsupported


def _matmul(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """``np.matmul``: a 1-D operand is a vector (tf.linalg.matmul needs rank >= 2)."""
    if a.shape.rank == 1 and b.shape.rank == 1:
        return tf.tensordot(a, b, 1)
    if a.shape.rank == 1:
        return tf.linalg.matvec(b, a, transpose_a=True)
    if b.shape.rank == 1:
        return tf.linalg.matvec(a, b)
    return tf.linalg.matmul(a, b)


def _sym(x: tf.Tensor) -> tf.Tensor:
    return (x + tf.linalg.matrix_transpose(x)) / 2


def _gauge_sign(v: tf.Tensor) -> tf.Tensor:
    """Per column: the sign of its largest-|.| entry (shape (..., 1, k)); derivative zero."""
    pick = tf.one_hot(tf.argmax(tf.abs(v), axis=-2), v.shape[-2], axis=v.shape.rank - 2,
                      dtype=v.dtype)
    top = tf.reduce_sum(v * pick, axis=-2, keepdims=True)
    return tf.where(top < 0, tf.constant(-1.0, v.dtype), tf.constant(1.0, v.dtype))


def _qr(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    q, r = tf.linalg.qr(x, full_matrices=False)
    d = tf.linalg.diag_part(r)
    s = tf.where(d < 0, tf.constant(-1.0, x.dtype), tf.constant(1.0, x.dtype))
    return q * s[..., None, :], r * s[..., :, None]


def _eigh_vectors(x: tf.Tensor) -> tf.Tensor:
    v = tf.linalg.eigh(_sym(x))[1]
    return v * _gauge_sign(v)


def _svd(x: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    _, u, v = tf.linalg.svd(x, full_matrices=False)
    s = _gauge_sign(u)
    return u * s, tf.linalg.matrix_transpose(v) * tf.linalg.matrix_transpose(s)


def _solve(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """tf.linalg.solve takes a matrix right-hand side: a vector is one column."""
    if b.shape.rank == 1:
        return tf.linalg.solve(a, b[:, None])[:, 0]
    return tf.linalg.solve(a, b)


LOWERING: dict[str, Callable[..., Any]] = {
    "matmul": _matmul, "mm": tf.linalg.matmul, "dot": lambda a, b: tf.tensordot(a, b, 1),
    "einsum": lambda *xs, spec: tf.einsum(spec, *xs),
    "det": tf.linalg.det,
    "slogdet": lambda x: tf.linalg.slogdet(x)[1],
    "inv": tf.linalg.inv,
    "pinv": lambda x, rtol=1e-5: tf.linalg.pinv(x, rcond=rtol),
    "solve": _solve,
    # fast=True (normal equations) is the mode with a gradient; it has no rcond
    "lstsq": lambda a, b, rtol=1e-5: tf.linalg.lstsq(a, b, fast=True),
    "cholesky": lambda x: tf.linalg.cholesky(_sym(x)),
    "qr_q": lambda x: _qr(x)[0],
    "qr_r": lambda x: _qr(x)[1],
    "lu_l": unsupported("lu_l", "tf.linalg.lu has no registered gradient (no "
                                "RegisterGradient(\"Lu\") in TensorFlow 2.21)"),
    "lu_u": unsupported("lu_u", "tf.linalg.lu has no registered gradient (no "
                                "RegisterGradient(\"Lu\") in TensorFlow 2.21)"),
    "eigvalsh": lambda x: tf.linalg.eigvalsh(_sym(x)),
    "eigh_vectors": _eigh_vectors,
    "eigvals": lambda x: tf.sort(tf.math.real(tf.linalg.eigvals(x)), axis=-1),
    "svdvals": lambda x: tf.linalg.svd(x, compute_uv=False),
    "svd_u": lambda x: _svd(x)[0],
    "svd_vt": lambda x: _svd(x)[1],
    "trace": tf.linalg.trace,
    "diagonal": lambda x, offset=0: tf.linalg.diag_part(x, k=offset),
    "triu": lambda x, k=0: tnp.triu(x, k),
    "tril": lambda x, k=0: tnp.tril(x, k),
    "matrix_exp": tf.linalg.expm,
    "outer": tnp.outer, "kron": tnp.kron,
    "cross": tf.linalg.cross,
}
