"""PyTorch lowering of the linear-algebra ops (gradconf/ops/linalg.py), one line each.

The normalisations the op rows name (symmetric part, R's non-negative diagonal, the sign
gauge of eigen/singular vectors) are applied here as in the NumPy reference.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch


def _sym(x: torch.Tensor) -> torch.Tensor:
    return (x + x.mT) / 2


def _gauge_sign(v: torch.Tensor) -> torch.Tensor:
    """Per column: the sign of its largest-|.| entry (shape (..., 1, k)); derivative zero."""
    idx = torch.argmax(v.abs(), dim=-2, keepdim=True)
    return torch.where(torch.take_along_dim(v, idx, dim=-2) < 0, -1.0, 1.0).to(v.dtype)


def _qr(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    q, r = torch.linalg.qr(x, mode="reduced")
    s = torch.where(torch.diagonal(r, dim1=-2, dim2=-1) < 0, -1.0, 1.0).to(x.dtype)
    return q * s[..., None, :], r * s[..., :, None]


def _eigh_vectors(x: torch.Tensor) -> torch.Tensor:
    v = torch.linalg.eigh(_sym(x)).eigenvectors
    return v * _gauge_sign(v)


def _svd(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    u, _, vt = torch.linalg.svd(x, full_matrices=False)
    s = _gauge_sign(u)
    return u * s, vt * s.mT


LOWERING: dict[str, Callable[..., Any]] = {
    "matmul": torch.matmul, "mm": torch.mm, "dot": torch.dot,
    "einsum": lambda *xs, spec: torch.einsum(spec, *xs),
    "det": torch.linalg.det,
    "slogdet": lambda x: torch.linalg.slogdet(x).logabsdet,
    "inv": torch.linalg.inv,
    "pinv": lambda x, rtol=1e-5: torch.linalg.pinv(x, rtol=rtol),
    "solve": torch.linalg.solve,
    "lstsq": lambda a, b, rtol=1e-5: torch.linalg.lstsq(a, b, rcond=rtol,
                                                       driver="gelsd").solution,
    "cholesky": lambda x: torch.linalg.cholesky(_sym(x)),
    "qr_q": lambda x: _qr(x)[0],
    "qr_r": lambda x: _qr(x)[1],
    "lu_l": lambda x: torch.linalg.lu(x).L,
    "lu_u": lambda x: torch.linalg.lu(x).U,
    "eigvalsh": lambda x: torch.linalg.eigvalsh(_sym(x)),
    "eigh_vectors": _eigh_vectors,
    "eigvals": lambda x: torch.sort(torch.linalg.eigvals(x).real, dim=-1).values,
    "svdvals": torch.linalg.svdvals,
    "svd_u": lambda x: _svd(x)[0],
    "svd_vt": lambda x: _svd(x)[1],
    "trace": lambda x: torch.diagonal(x, dim1=-2, dim2=-1).sum(-1),
    "diagonal": lambda x, offset=0: torch.diagonal(x, offset=offset, dim1=-2, dim2=-1),
    "triu": lambda x, k=0: torch.triu(x, diagonal=k),
    "tril": lambda x, k=0: torch.tril(x, diagonal=k),
    "matrix_exp": torch.linalg.matrix_exp,
    "outer": torch.outer, "kron": torch.kron,
    "cross": lambda a, b: torch.linalg.cross(a, b, dim=-1),
}
