"""Linear algebra: products, decompositions, solves and matrix functions.

One ``register`` row per op (see :mod:`gradconf.ops`). Decompositions whose factors are
defined only up to sign or order name the normalisation every lowering applies:

* ops on symmetric matrices (``cholesky``, ``eigvalsh``, ``eigh_vectors``) read the
  symmetric part ``(A + Aᵀ)/2`` of their argument, which every lowering forms explicitly
  (frameworks differ in which triangle they read and how they spread the gradient over
  the two triangles, so the neutral function of all n² entries is the symmetric part's);
* ``qr_q``/``qr_r`` are the reduced factors with R's diagonal made non-negative (a zero
  diagonal entry keeps its sign +1): Q ← Q·diag(s), R ← diag(s)·R, s = sign(diag R);
* eigenvector and singular-vector *gauge*: each column of the vectors (eigh's V, svd's U)
  is multiplied by the sign of its entry of largest magnitude (the first such entry on a
  tie), so that entry is positive; svd's Vᵀ rows take the same signs as U's columns.
  The gauge is piecewise constant, so it has derivative zero wherever it does not jump.

Matrix operands are ``(..., m, n)`` stacks unless a row says otherwise.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg

from gradconf.ops import Special, register
from gradconf.ops.rules import Shape, ShapeError, broadcast, dot, is_int, matmul, mm

# --------------------------------------------------------------------------- shape rules


def _matrix(x: Shape, what: str = "a matrix") -> None:
    if len(x) < 2:
        raise ShapeError(f"needs {what} (rank >= 2, last two axes the matrix), got shape {x}")


def square(x: Shape) -> Shape:
    """A stack of square matrices, unchanged in shape."""
    _matrix(x, "a square matrix")
    if x[-1] != x[-2]:
        raise ShapeError(f"needs square matrices, got shape {x} ({x[-2]} x {x[-1]})")
    return x


def square_to_scalar(x: Shape) -> Shape:
    return square(x)[:-2]


def square_to_vector(x: Shape) -> Shape:
    return square(x)[:-1]


def pinv_rule(x: Shape, rtol: float = 1e-5) -> Shape:
    _matrix(x)
    _rtol(rtol)
    return (*x[:-2], x[-1], x[-2])


def _rtol(rtol: Any) -> None:
    if isinstance(rtol, bool) or not isinstance(rtol, int | float) or not 0 <= rtol < 1:
        raise ShapeError(f"rtol must be a number in [0, 1), got {rtol!r}")


def solve_rule(a: Shape, b: Shape) -> Shape:
    square(a)
    if len(b) == 1:
        if len(a) != 2:
            raise ShapeError(f"a vector right-hand side {b} needs one matrix, got {a}; "
                             "give a batch of matrices a (..., n, k) right-hand side")
        if b[0] != a[-1]:
            raise ShapeError(f"right-hand side {b} does not fit the {a[-2]} x {a[-1]} matrix")
        return b
    if len(b) != len(a):
        raise ShapeError(f"the right-hand side needs the matrix's rank ({len(a)}) or be one "
                         f"vector, got {b} for {a}")
    if b[-2] != a[-1]:
        raise ShapeError(f"right-hand side {b} has {b[-2]} rows, the matrix {a} needs {a[-1]}")
    return matmul(a, b)


def lstsq_rule(a: Shape, b: Shape, rtol: float = 1e-5) -> Shape:
    _rtol(rtol)
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"needs a matrix a (m, n) and a matrix b (m, k), got {a} and {b}")
    if a[0] != b[0]:
        raise ShapeError(f"a {a} and b {b} need the same number of rows")
    return (a[1], b[1])


def reduced_q(x: Shape) -> Shape:
    _matrix(x)
    return (*x[:-1], min(x[-2:]))


def reduced_r(x: Shape) -> Shape:
    _matrix(x)
    return (*x[:-2], min(x[-2:]), x[-1])


def svdvals_rule(x: Shape) -> Shape:
    _matrix(x)
    return (*x[:-2], min(x[-2:]))


def svd_vt_rule(x: Shape) -> Shape:
    return reduced_r(x)


def diagonal_rule(x: Shape, offset: int = 0) -> Shape:
    _matrix(x)
    if not is_int(offset):
        raise ShapeError(f"offset must be an integer, got {offset!r}")
    m, n = x[-2:]
    length = max(0, min(m, n - offset) if offset >= 0 else min(m + offset, n))
    if length == 0:
        raise ShapeError(f"offset {offset} leaves no diagonal in a {m} x {n} matrix")
    return (*x[:-2], length)


def band_rule(x: Shape, k: int = 0) -> Shape:
    _matrix(x)
    if not is_int(k):
        raise ShapeError(f"k must be an integer, got {k!r}")
    return x


def trace_rule(x: Shape) -> Shape:
    _matrix(x)
    return x[:-2]


def outer_rule(a: Shape, b: Shape) -> Shape:
    if len(a) != 1 or len(b) != 1:
        raise ShapeError(f"needs two vectors, got shapes {a} and {b}")
    return (a[0], b[0])


def kron_rule(a: Shape, b: Shape) -> Shape:
    if len(a) != 2 or len(b) != 2:
        raise ShapeError(f"needs two matrices, got shapes {a} and {b}")
    return (a[0] * b[0], a[1] * b[1])


def cross_rule(a: Shape, b: Shape) -> Shape:
    if not a or not b or a[-1] != 3 or b[-1] != 3:
        raise ShapeError(f"needs 3-vectors along the last axis, got shapes {a} and {b}")
    if a != b:
        raise ShapeError(f"needs operands of one shape, got {a} and {b}")
    return broadcast(a, b)


def einsum_rule(*shapes: Shape, spec: str | None = None) -> Shape:
    """Explicit-output einsum over letters: ``"ij,jk->ik"`` (no ellipsis, no broadcasting)."""
    if not isinstance(spec, str) or "->" not in spec:
        raise ShapeError(f"needs spec= with an explicit output, e.g. spec=\"ij,jk->ik\", "
                         f"got {spec!r}")
    lhs, out = spec.replace(" ", "").split("->", 1)
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ShapeError(f"spec {spec!r} names {len(terms)} operands, got {len(shapes)}")
    sizes: dict[str, int] = {}
    for term, shape in zip(terms, shapes, strict=True):
        if not all(c.isascii() and c.isalpha() for c in term + out):
            raise ShapeError(f"spec {spec!r}: subscripts are ASCII letters only (no ellipsis)")
        if len(term) != len(shape):
            raise ShapeError(f"spec term {term!r} has {len(term)} subscripts for shape {shape}")
        for c, n in zip(term, shape, strict=True):
            if sizes.setdefault(c, n) != n:
                raise ShapeError(f"spec {spec!r}: subscript {c!r} is {sizes[c]} and {n}")
    if len(set(out)) != len(out) or any(c not in sizes for c in out):
        raise ShapeError(f"spec {spec!r}: output subscripts must be distinct input subscripts")
    return tuple(sizes[c] for c in out)


# --------------------------------------------------------------------------- references


def _sym(x: np.ndarray) -> np.ndarray:
    return (x + np.swapaxes(x, -1, -2)) / 2


def _gauge_sign(v: np.ndarray) -> np.ndarray:
    """Per column of ``v`` (..., n, k): the sign of its largest-|.| entry, shape (..., 1, k)."""
    idx = np.argmax(np.abs(v), axis=-2)[..., None, :]
    return np.where(np.take_along_axis(v, idx, axis=-2) < 0, -1.0, 1.0)


def _einsum(*xs: np.ndarray, spec: str) -> np.ndarray:
    return np.einsum(spec, *xs)


def _inv(x: np.ndarray) -> np.ndarray:
    """NaN at an exactly singular matrix (a pole), where NumPy raises: the oracle's steps
    can land on one near an ill-conditioned point."""
    try:
        return np.linalg.inv(x)
    except np.linalg.LinAlgError:
        return np.full(np.shape(x), np.nan)


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """NaN at an exactly singular matrix, like :func:`_inv`."""
    try:
        return np.linalg.solve(a, b)
    except np.linalg.LinAlgError:
        return np.full(np.shape(b) if np.ndim(b) == 1 else np.shape(np.matmul(a, b)), np.nan)


def _slogdet(x: np.ndarray) -> np.ndarray:
    return np.linalg.slogdet(x)[1]


def _pinv(x: np.ndarray, rtol: float = 1e-5) -> np.ndarray:
    return np.linalg.pinv(x, rcond=rtol)


def _lstsq(a: np.ndarray, b: np.ndarray, rtol: float = 1e-5) -> np.ndarray:
    return np.linalg.lstsq(a, b, rcond=rtol)[0]


def _cholesky(x: np.ndarray) -> np.ndarray:
    """NaN outside the domain (S not positive definite), so the oracle can probe its edge."""
    try:
        return np.linalg.cholesky(_sym(x))
    except np.linalg.LinAlgError:
        return np.full(np.shape(x), np.nan)


def _qr(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    q, r = np.linalg.qr(x, mode="reduced")
    s = np.where(np.diagonal(r, axis1=-2, axis2=-1) < 0, -1.0, 1.0)
    return q * s[..., None, :], r * s[..., :, None]


def _lu(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    _, lower, upper = scipy.linalg.lu(x)
    return lower, upper


def _eigh_vectors(x: np.ndarray) -> np.ndarray:
    v = np.linalg.eigh(_sym(x))[1]
    return v * _gauge_sign(v)


def _eigvals(x: np.ndarray) -> np.ndarray:
    return np.sort(np.linalg.eigvals(x).real, axis=-1)


def _svd(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    u, _, vt = np.linalg.svd(x, full_matrices=False)
    s = _gauge_sign(u)
    return u * s, vt * np.swapaxes(s, -1, -2)


def _trace(x: np.ndarray) -> np.ndarray:
    return np.trace(x, axis1=-2, axis2=-1)


def _diagonal(x: np.ndarray, offset: int = 0) -> np.ndarray:
    return np.diagonal(x, offset, axis1=-2, axis2=-1).copy()


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.cross(a, b, axis=-1)


# --------------------------------------------------------------------------- rows

SINGULAR = Special("degenerate", "a singular matrix (det = 0)")
POLE = Special("pole", "a singular matrix: the inverse and its derivative are unbounded")
GAUGE = Special("discontinuity", "two entries of a column tie for the largest magnitude: "
                                 "the sign gauge flips")
REPEATED = Special("degenerate", "repeated eigenvalues: the vectors are not unique and their "
                                 "derivative is unbounded")

register("matmul", 2, matmul, np.matmul, "bilinear; NumPy matmul rules (1-D operands allowed)",
         examples=("a @ b", "v @ v", "a @ v", "v @ b", "t @ v", "t @ b"))
register("mm", 2, mm, np.matmul, "bilinear; matrices only", examples=("mm(a, b)",))
register("dot", 2, dot, np.dot, "bilinear; vectors only", examples=("dot(v, v)",))
register("einsum", None, einsum_rule, _einsum,
         "multilinear; np.einsum with an explicit output (spec=\"ij,jk->ik\"), ASCII letters "
         "only, no ellipsis or broadcasting; a repeated subscript in one term takes the "
         "diagonal", spec=None,
         examples=('einsum([a, b], spec="ij,jk->ik")', 'einsum([m], spec="ii->")',
                   'einsum([t, v, a], spec="abc,c,bc->a")'))
register("det", 1, square_to_scalar, np.linalg.det,
         "determinant of each matrix; smooth everywhere (a polynomial); its gradient is the "
         "cofactor matrix adj(A)ᵀ, which stays finite at a singular A",
         special=(SINGULAR,), examples=("det(m)", "det(w)", "det(s)"), batch="leading")
register("slogdet", 1, square_to_scalar, _slogdet,
         "log|det A| (slogdet's second output; the sign is piecewise constant and not an op); "
         "gradient A⁻ᵀ", smooth=False,
         special=(Special("pole", "a singular matrix: log|det| tends to -inf"),),
         examples=("slogdet(m)", "slogdet(w)"), batch="leading")
register("inv", 1, square, _inv, "matrix inverse; derivative -A⁻¹ dA A⁻¹",
         smooth=False, special=(POLE,), examples=("inv(m)", "inv(w)"))
register("pinv", 1, pinv_rule, _pinv,
         "Moore-Penrose pseudo-inverse via the SVD, singular values <= rtol·σ_max dropped "
         "(rtol keyword, default 1e-5, passed to every framework explicitly); differentiable "
         "where the rank is locally constant, discontinuous where it changes",
         smooth=False, rtol=1e-5,
         special=(Special("discontinuity", "a singular value crossing rtol·σ_max: the rank "
                                           "changes"),),
         examples=("pinv(a)", "pinv(m)", "pinv(b, rtol=1e-3)"), batch="leading")
register("solve", 2, solve_rule, _solve,
         "x with A x = b; b is (..., n, k) of A's rank, or one vector (n,) for one matrix",
         smooth=False, special=(POLE,), examples=("solve(m, b)", "solve(m, v)", "solve(w, w)"))
register("lstsq", 2, lstsq_rule, _lstsq,
         "the minimum-norm least-squares solution a⁺ b of a x ≈ b (a (m, n), b (m, k)), "
         "singular values <= rtol·σ_max dropped (rtol keyword, default 1e-5)",
         smooth=False, rtol=1e-5,
         special=(Special("discontinuity", "rank-deficient a: the rank can change"),),
         examples=("lstsq(b, m)", "lstsq(m, b)"))
register("cholesky", 1, square, _cholesky,
         "lower Cholesky factor L (L Lᵀ = S) of the symmetric part S = (A + Aᵀ)/2; defined "
         "for S positive definite", smooth=False,
         special=(Special("domain_edge", "S positive semidefinite and singular: L's "
                                         "derivative is unbounded; beyond it no factor"),),
         examples=("cholesky(s)", "cholesky(s + m)"))
register("qr_q", 1, reduced_q, lambda x: _qr(x)[0],
         "reduced QR's Q (m x min(m, n)), normalised so R's diagonal is non-negative "
         "(Q·diag(s), s = sign(diag R), sign(0) = +1)", smooth=False,
         special=(Special("degenerate", "rank-deficient leading columns: a zero diagonal of "
                                        "R, Q not unique"),),
         examples=("qr_q(m)", "qr_q(b)", "qr_q(w)"), batch="leading")
register("qr_r", 1, reduced_r, lambda x: _qr(x)[1],
         "reduced QR's R (min(m, n) x n) with a non-negative diagonal (diag(s)·R, "
         "s = sign(diag R), sign(0) = +1)", smooth=False,
         special=(Special("kink", "a zero diagonal entry of R (rank-deficient leading "
                                  "columns): |.|-like sign flip"),),
         examples=("qr_r(m)", "qr_r(b)", "qr_r(w)"), batch="leading")
register("lu_l", 1, square, lambda x: _lu(x)[0],
         "unit lower-triangular L of the LU factorisation with partial pivoting, A = P L U "
         "(scipy.linalg.lu; LAPACK getrf pivots on the first largest |entry| of each column)",
         smooth=False,
         special=(Special("discontinuity", "two pivot candidates tie in magnitude: the row "
                                           "order switches"),
                  Special("degenerate", "a zero pivot (singular leading block)")),
         examples=("lu_l(m)", "lu_l(w)"), batch="leading")
register("lu_u", 1, square, lambda x: _lu(x)[1],
         "upper-triangular U of the LU factorisation with partial pivoting, A = P L U "
         "(scipy.linalg.lu)", smooth=False,
         special=(Special("discontinuity", "two pivot candidates tie in magnitude: the row "
                                           "order switches"),),
         examples=("lu_u(m)", "lu_u(w)"), batch="leading")
register("eigvalsh", 1, square_to_vector, lambda x: np.linalg.eigvalsh(_sym(x)),
         "eigenvalues of the symmetric part (A + Aᵀ)/2, ascending; each is Lipschitz but "
         "has a kink where two of them cross (their sum stays smooth)", smooth=False,
         special=(Special("kink", "repeated eigenvalues: the sorted values cross"),),
         examples=("eigvalsh(s)", "eigvalsh(m)", "eigvalsh(w)"), batch="leading")
register("eigh_vectors", 1, square, _eigh_vectors,
         "eigenvectors (columns, ascending eigenvalues) of the symmetric part (A + Aᵀ)/2, "
         "gauge: each column's largest-|.| entry positive (first one on a tie)",
         smooth=False, special=(REPEATED, GAUGE),
         examples=("eigh_vectors(s)", "eigh_vectors(w)"), batch="leading")
register("eigvals", 1, square_to_vector, _eigvals,
         "real parts of the eigenvalues of a general square matrix, sorted ascending; "
         "meant for matrices with real distinct eigenvalues", smooth=False,
         special=(Special("degenerate", "repeated eigenvalues, or a complex pair (whose real "
                                        "parts tie): no derivative of the sorted parts"),),
         examples=("eigvals(m)", "eigvals(s)"), batch="leading")
register("svdvals", 1, svdvals_rule, lambda x: np.linalg.svd(x, compute_uv=False),
         "singular values, descending; kink where one is 0 (like |x|) or two cross "
         "(their sum, the nuclear norm, is smooth away from 0)", smooth=False,
         special=(Special("kink", "a zero singular value (rank deficiency)"),
                  Special("kink", "repeated singular values: the sorted values cross")),
         examples=("svdvals(a)", "svdvals(m)", "svdvals(w)"), batch="leading")
register("svd_u", 1, reduced_q, lambda x: _svd(x)[0],
         "reduced SVD's U (m x min(m, n)), columns by descending singular value, gauge: each "
         "column's largest-|.| entry positive (first one on a tie)", smooth=False,
         special=(Special("degenerate", "repeated or zero singular values: U not unique"),
                  GAUGE),
         examples=("svd_u(a)", "svd_u(m)", "svd_u(w)"), batch="leading")
register("svd_vt", 1, svd_vt_rule, lambda x: _svd(x)[1],
         "reduced SVD's Vᵀ (min(m, n) x n), each row signed like U's column (so "
         "U diag(σ) Vᵀ = A)", smooth=False,
         special=(Special("degenerate", "repeated or zero singular values: V not unique"),
                  GAUGE),
         examples=("svd_vt(a)", "svd_vt(m)", "svd_vt(w)"), batch="leading")
register("trace", 1, trace_rule, _trace,
         "linear; sum of the diagonal over the LAST two axes (NumPy's trace defaults to the "
         "first two)", examples=("trace(m)", "trace(t)", "trace(a)"), batch="leading")
register("diagonal", 1, diagonal_rule, _diagonal,
         "linear; the offset diagonal of the last two axes (offset > 0 above the main one)",
         offset=0, examples=("diagonal(m)", "diagonal(t, offset=1)", "diagonal(a, offset=-1)"),
         batch="leading")
register("triu", 1, band_rule, lambda x, k=0: np.triu(x, k),
         "linear; zeroes entries below the k-th diagonal of the last two axes (keeps j - i >= k)",
         k=0, examples=("triu(m)", "triu(a, k=1)", "triu(t, k=-1)"), batch="leading")
register("tril", 1, band_rule, lambda x, k=0: np.tril(x, k),
         "linear; zeroes entries above the k-th diagonal of the last two axes (keeps j - i <= k)",
         k=0, examples=("tril(m)", "tril(a, k=-1)", "tril(t, k=1)"), batch="leading")
register("matrix_exp", 1, square, scipy.linalg.expm,
         "matrix exponential (scipy.linalg.expm); smooth (an entire function)",
         special=(Special("overflow", "large norms: entries grow like exp(‖A‖)"),),
         examples=("matrix_exp(m / 4)", "matrix_exp(w)", "matrix_exp(s / 4)"), batch="leading")
register("outer", 2, outer_rule, np.outer, "bilinear; vectors only: out[i, j] = a[i] b[j]",
         examples=("outer(v, v)", "outer(v, q)"))
register("kron", 2, kron_rule, np.kron, "bilinear; Kronecker product of two matrices",
         examples=("kron(a, b)", "kron(w[0], m)"))
register("cross", 2, cross_rule, _cross,
         "bilinear; cross product of 3-vectors along the last axis (operands of one shape)",
         examples=("cross(v, q)", "cross(a, p)"))
