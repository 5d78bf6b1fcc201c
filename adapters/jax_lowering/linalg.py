"""JAX lowering of the linear-algebra ops (gradconf/ops/linalg.py), one line each.

The normalisations the op rows name (symmetric part, R's non-negative diagonal, the sign
gauge of eigen/singular vectors) are applied here as in the NumPy reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp
import jax.scipy.linalg as jsl


def _sym(x: jax.Array) -> jax.Array:
    return (x + jnp.swapaxes(x, -1, -2)) / 2


def _gauge_sign(v: jax.Array) -> jax.Array:
    """Per column: the sign of its largest-|.| entry (shape (..., 1, k)); derivative zero."""
    idx = jnp.argmax(jnp.abs(v), axis=-2, keepdims=True)
    return jnp.where(jnp.take_along_axis(v, idx, axis=-2) < 0, -1.0, 1.0).astype(v.dtype)


def _qr(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    q, r = jnp.linalg.qr(x, mode="reduced")
    s = jnp.where(jnp.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0).astype(x.dtype)
    return q * s[..., None, :], r * s[..., :, None]


def _eigh_vectors(x: jax.Array) -> jax.Array:
    v = jnp.linalg.eigh(_sym(x)).eigenvectors
    return v * _gauge_sign(v)


def _svd(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    u, _, vt = jnp.linalg.svd(x, full_matrices=False)
    s = _gauge_sign(u)
    return u * s, vt * jnp.swapaxes(s, -1, -2)


def _lu(x: jax.Array) -> tuple[jax.Array, jax.Array]:
    """jax.lax.linalg.lu (batched getrf, partial pivoting): L and U from the packed factor."""
    packed = jax.lax.linalg.lu(x)[0]
    return jnp.tril(packed, -1) + jnp.eye(x.shape[-1], dtype=x.dtype), jnp.triu(packed)


LOWERING: dict[str, Callable[..., Any]] = {
    "matmul": jnp.matmul, "mm": lambda a, b: jnp.einsum("ij,jk->ik", a, b),
    "dot": lambda a, b: jnp.einsum("i,i->", a, b),
    "einsum": lambda *xs, spec: jnp.einsum(spec, *xs),
    "det": jnp.linalg.det,
    "slogdet": lambda x: jnp.linalg.slogdet(x).logabsdet,
    "inv": jnp.linalg.inv,
    "pinv": lambda x, rtol=1e-5: jnp.linalg.pinv(x, rtol=rtol),
    "solve": jnp.linalg.solve,
    "lstsq": lambda a, b, rtol=1e-5: jnp.linalg.lstsq(a, b, rcond=rtol)[0],
    "cholesky": lambda x: jnp.linalg.cholesky(_sym(x)),
    "qr_q": lambda x: _qr(x)[0],
    "qr_r": lambda x: _qr(x)[1],
    "lu_l": lambda x: _lu(x)[0],
    "lu_u": lambda x: _lu(x)[1],
    "eigvalsh": lambda x: jnp.linalg.eigvalsh(_sym(x)),
    "eigh_vectors": _eigh_vectors,
    "eigvals": lambda x: jnp.sort(jnp.real(jnp.linalg.eigvals(x)), axis=-1),
    "svdvals": jnp.linalg.svdvals,
    "svd_u": lambda x: _svd(x)[0],
    "svd_vt": lambda x: _svd(x)[1],
    "trace": lambda x: jnp.trace(x, axis1=-2, axis2=-1),
    "diagonal": lambda x, offset=0: jnp.diagonal(x, offset, axis1=-2, axis2=-1),
    "triu": lambda x, k=0: jnp.triu(x, k),
    "tril": lambda x, k=0: jnp.tril(x, k),
    "matrix_exp": jsl.expm,
    "outer": jnp.outer, "kron": jnp.kron,
    "cross": lambda a, b: jnp.cross(a, b, axis=-1),
}
