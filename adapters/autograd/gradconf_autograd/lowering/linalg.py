"""autograd lowering of the linear-algebra ops (gradconf/ops/linalg.py), one line each.

The normalisations the op rows name (symmetric part, the sign gauge of eigen/singular
vectors) are applied here as in the NumPy reference; the gauge's signs are piecewise
constant, so they are computed on the untraced values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import autograd.numpy as anp
import numpy as np
from autograd.tracer import getval

from gradconf.adapter import unsupported


def _sym(x: Any) -> Any:
    return (x + anp.swapaxes(x, -1, -2)) / 2


def _gauge_sign(v: Any) -> np.ndarray:
    """Per column: the sign of its largest-|.| entry (shape (..., 1, k)), untraced."""
    raw = np.asarray(getval(v))
    idx = np.argmax(np.abs(raw), axis=-2)[..., None, :]
    return np.where(np.take_along_axis(raw, idx, axis=-2) < 0, -1.0, 1.0).astype(raw.dtype)


def _eigh_vectors(x: Any) -> Any:
    v = anp.linalg.eigh(_sym(x))[1]
    return v * _gauge_sign(v)


def _svd(x: Any) -> tuple[Any, Any]:
    u, _, vt = anp.linalg.svd(x, full_matrices=False)
    s = _gauge_sign(u)
    return u * s, vt * np.swapaxes(s, -1, -2)


_NO_LU = "autograd has no LU factorisation (no vjp for scipy.linalg.lu)"

LOWERING: dict[str, Callable[..., Any]] = {
    "matmul": anp.matmul, "mm": anp.matmul, "dot": anp.dot,
    "einsum": lambda *xs, spec: anp.einsum(spec, *xs),
    "det": anp.linalg.det,
    "slogdet": lambda x: anp.linalg.slogdet(x)[1],
    "inv": anp.linalg.inv,
    "pinv": lambda x, rtol=1e-5: anp.linalg.pinv(x, rcond=rtol),
    "solve": anp.linalg.solve,
    "lstsq": unsupported("lstsq", "autograd.numpy.linalg has no vjp for lstsq"),
    "cholesky": lambda x: anp.linalg.cholesky(_sym(x)),
    "qr_q": unsupported("qr_q", "autograd.numpy.linalg has no vjp for qr"),
    "qr_r": unsupported("qr_r", "autograd.numpy.linalg has no vjp for qr"),
    "lu_l": unsupported("lu_l", _NO_LU),
    "lu_u": unsupported("lu_u", _NO_LU),
    "eigvalsh": lambda x: anp.linalg.eigh(_sym(x))[0],
    "eigh_vectors": _eigh_vectors,
    "eigvals": lambda x: anp.sort(anp.real(anp.linalg.eig(x)[0]), axis=-1),
    "svdvals": lambda x: anp.linalg.svd(x, compute_uv=False),
    "svd_u": lambda x: _svd(x)[0],
    "svd_vt": lambda x: _svd(x)[1],
    # autograd's trace vjp takes no axis keywords: a matrix uses the default axes (the
    # last two); a batch passes them and meets that limit
    "trace": lambda x: anp.trace(x) if anp.ndim(x) == 2 else anp.trace(x, axis1=-2, axis2=-1),
    # its diagonal vjp accepts only offset 0 with axis1=-1, axis2=-2 (the same main diagonal)
    "diagonal": lambda x, offset=0: (anp.diagonal(x, 0, axis1=-1, axis2=-2) if offset == 0
                                     else anp.diagonal(x, offset, axis1=-2, axis2=-1)),
    "triu": lambda x, k=0: anp.triu(x, k),
    "tril": lambda x, k=0: anp.tril(x, k),
    "matrix_exp": unsupported("matrix_exp", "autograd.scipy.linalg has no expm"),
    "outer": anp.outer, "kron": anp.kron,
    "cross": lambda a, b: anp.cross(a, b, axis=-1),
}
