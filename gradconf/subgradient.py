"""Whole-gradient validity at kinks: is the framework's gradient a generalised gradient?

The oracle judges a gradient at a kink entry by entry, against the interval of one-sided
slopes. That is necessary, not sufficient: at a three-way tie of ``max`` the answer
(1, 1, 0) has every entry in [0, 1], yet its entries sum to 2 and no subgradient of
``max`` does. This module checks the gradient as a whole.

Method (gradient sampling). Clarke's generalised gradient of a locally Lipschitz function
at x is the convex hull of the limits of its gradients at nearby points where it is
differentiable. So:

1. sample ``K`` points ``y = x + r·u`` around x (``u`` random unit vectors, ``r`` a
   relative radius of 1e-6); the function is differentiable at almost every one, and its
   Jacobian there is taken by central differences with a step far below ``r``;
2. project the framework's gradient ``g`` onto the convex hull of the sampled gradients
   (a non-negative least-squares problem with the weights summing to one, SciPy's
   ``nnls``);
3. outside the hull, the projection gives the direction ``d`` that separates ``g`` from
   it. A generalised gradient satisfies ``<g, d> <= f°(x; d)``, the generalised
   directional derivative. Estimate ``f°(x; d)`` from below by the larger of the one-sided
   directional derivative ``f'(x; d)`` (one-sided differences of the function itself) and
   the sampled gradients' largest slope along ``d``. When ``<g, d>`` exceeds it by more
   than the tolerance, ``g`` is not a generalised gradient: a ``mismatch`` whose message
   names ``d`` and both slopes.

Limits. The sampled hull is an inner approximation; the verdict rests on the directional
derivative, not on the hull. For convex and max-type (regular) kinks ``f'(x; d)`` is
``f°(x; d)`` exactly, so a sparse sample never turns a valid gradient into a mismatch. At
a nonconvex kink (``-abs``, ``min``, a difference of kinks) ``f'(x; d)`` can fall below
``f°(x; d)``, and the check then relies on the samples having met every piece. Inputs of
more than ``MAX_ENTRIES`` entries are not checked (the cost is ``2·n`` evaluations per
sample), nor complex inputs.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import nnls

from gradconf.oracle import Estimate, Oracle, kink_mask
from gradconf.richardson import one_sided

MAX_ENTRIES = 64       # differentiated entries beyond which the check is not made
MIN_SAMPLES = 24       # at least this many sampled points ...
SAMPLES_PER_ENTRY = 2  # ... or this many per entry, whichever is more
RADIUS = 1e-6          # sampling radius, relative to 1 + max |x|
STEP = 1e-3            # central-difference step, relative to the radius
SLACK = 1e-6           # relative slack on top of the tolerance (difference quotients)
REFINE = 4             # projections, each followed by samples on both sides of its direction
JITTER = 1e-3          # random offset of those samples, relative to the radius


@dataclass(frozen=True)
class Violation:
    """A direction along which the framework's gradient rises faster than the function."""

    direction: np.ndarray   # unit vector over the flattened differentiated entries
    slope: float            # <g, d>
    bound: float            # the estimate of f°(x; d)
    allowed: float          # tolerance on top of it
    samples: int


def _radius(oracle: Oracle) -> float:
    return RADIUS * (1.0 + float(np.max(np.abs(oracle.x0), initial=0.0)))


def jacobian_at(oracle: Oracle, y: np.ndarray) -> np.ndarray | None:
    """The Jacobian of the flattened output at ``y`` by central differences (``m x n``),
    None where an entry is not finite."""
    h = STEP * _radius(oracle)
    cols = []
    for i in range(y.size):
        e = np.zeros(y.size)
        e[i] = h
        cols.append((oracle.f(y + e).reshape(-1) - oracle.f(y - e).reshape(-1)) / (2 * h))
    jac = np.stack(cols, axis=-1)
    return jac if np.all(np.isfinite(jac)) else None


def _rng(oracle: Oracle) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(f"{oracle.case.id}/{oracle.dtype}".encode()))


def sampled_jacobians(oracle: Oracle) -> np.ndarray:
    """Jacobians of the flattened output at points sampled around the oracle's point,
    shape ``(K, m, n)``; samples with a non-finite entry are dropped. Computed once per
    oracle."""
    cached: np.ndarray | None = getattr(oracle, "_sampled", None)
    if cached is not None:
        return cached
    x0, n = oracle.x0, oracle.x0.size
    rng, radius = _rng(oracle), _radius(oracle)
    out = []
    for _ in range(max(MIN_SAMPLES, SAMPLES_PER_ENTRY * n)):
        u = rng.standard_normal(n)
        jac = jacobian_at(oracle, x0 + radius * u / max(float(np.linalg.norm(u)), 1e-300))
        if jac is not None:
            out.append(jac)
    result = np.stack(out) if out else np.zeros((0, int(np.size(oracle.center())), n))
    oracle._sampled = result  # type: ignore[attr-defined]
    return result


def hull_projection(points: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The point of the convex hull of ``points`` (rows) nearest to ``g``, by NNLS with a
    heavily weighted row asking the weights to sum to one."""
    scale = max(float(np.max(np.abs(points), initial=0.0)), float(np.max(np.abs(g))), 1.0)
    weight = 1e3 * scale
    a = np.vstack([points.T, np.full((1, points.shape[0]), weight)])
    b = np.concatenate([g, [weight]])
    lam, _ = nnls(a, b, maxiter=50 * a.shape[1])
    total = float(lam.sum())
    return points.T @ (lam / total) if total > 0 else points.mean(axis=0)


def check(oracle: Oracle, g: np.ndarray, weights: np.ndarray, atol: float) -> Violation | None:
    """Whether ``g`` (flattened over the differentiated entries) is a generalised gradient
    of ``<weights, f>`` at the oracle's point; the violation if it is provably not.

    A direction ``d`` that separates ``g`` from the sampled hull is tested against the
    one-sided derivative and against the gradients just beyond the point on either side
    along ``d``, which join the sample (at a max-type kink the one ahead is the piece that
    rises fastest along ``d``, at a min-type kink the one behind); if ``g`` still rises
    faster, the projection is made again with them, up to REFINE times, before a violation
    is reported."""
    if not np.all(np.isfinite(g)):
        return None  # a NaN or inf answer is judged entry by entry
    grads = np.einsum("m,kmn->kn", weights, sampled_jacobians(oracle))
    if not len(grads):
        return None
    rng, radius = _rng(oracle), _radius(oracle)

    def s(x: np.ndarray) -> np.ndarray:
        return np.atleast_1d(weights @ oracle.f(x).reshape(-1))
    found: Violation | None = None
    for _ in range(REFINE):
        gap = g - hull_projection(grads, g)
        dist = float(np.linalg.norm(gap))
        scale = max(float(np.linalg.norm(g)), float(np.max(np.linalg.norm(grads, axis=1))),
                    1e-300)
        if dist <= SLACK * scale:
            return None
        d = gap / dist
        # the gradients just beyond the point on either side along d: at a max-type kink
        # the one ahead is the piece rising fastest along d, at a min-type kink the one behind
        extra = []
        for side in (1.0, -1.0):
            u = rng.standard_normal(d.size)
            jitter = JITTER * u / max(float(np.linalg.norm(u)), 1e-300)
            jac = jacobian_at(oracle, oracle.x0 + radius * (side * d + jitter))
            if jac is not None:
                extra.append(weights @ jac)
        if extra:
            grads = np.vstack([grads, *extra])
        right, err = one_sided(s, oracle.x0, d, s(oracle.x0), 1.0)
        ok = right is not None and bool(np.isfinite(right[0]))
        directional = float(right[0]) if ok and right is not None else -np.inf
        bound = max(directional, float(np.max(grads @ d)))
        allowed = (SLACK + 8.0 * atol) * scale + (4.0 * float(err[0]) if ok else 0.0)
        if float(g @ d) - bound <= allowed:
            return None
        found = Violation(d, float(g @ d), bound, allowed, len(grads))
    return found


def describe(v: Violation, split: dict[str, np.ndarray], label: str = "") -> str:
    """One sentence: the direction per input (rounded) and the two slopes."""
    parts = []
    for name, arr in split.items():
        flat = np.round(np.asarray(arr, dtype=np.float64).reshape(-1), 3) + 0.0
        shown = ", ".join(f"{x:.3g}" for x in flat[:8]) + (", …" if flat.size > 8 else "")
        parts.append(f"{name} [{shown}]")
    return (f"{label}not a generalised gradient: along d = {'; '.join(parts)} its slope "
            f"<g, d> = {v.slope:.6g}, but the function rises at most {v.bound:.6g} that way "
            f"(|diff| {v.slope - v.bound:.3g} > bound {v.allowed:.3g}; {v.samples} gradients "
            "sampled around the point)")


def record(v: Violation | None, samples: int, rows: int) -> dict[str, Any]:
    """What a record keeps of the check."""
    out: dict[str, Any] = {"samples": samples, "rows": rows, "valid": v is None}
    if v is not None:
        out.update(slope=v.slope, bound=v.bound, allowed=v.allowed,
                   direction=[float(x) for x in v.direction])
    return out


def judge(oracle: Oracle, kind: str, observed: Mapping[str, Any], cotangent: Any,
          ref: Mapping[str, Estimate], atol: float) -> tuple[dict[str, Any], str] | None:
    """The whole-gradient check of a vjp or Jacobian that passed entry by entry at a kink:
    the record's ``generalised_gradient`` entry and, when the gradient is provably not a
    generalised one, the mismatch message. None when the check does not apply."""
    n, m = oracle.x0.size, int(np.size(oracle.center()))
    if (oracle._complex or not 0 < n <= MAX_ENTRIES
            or m != int(np.prod(oracle.case.out_shape, dtype=int))):
        return None
    if kind == "vjp":
        rows = [(np.asarray(cotangent, dtype=np.float64).reshape(-1), oracle.flat(observed), "")]
    else:
        by_row = {name: np.asarray(observed[name], dtype=np.float64).reshape(m, -1)
                  for name in oracle.wrt}
        kinked = np.zeros(m, dtype=bool)
        for est in ref.values():
            kinked |= kink_mask(est).reshape(m, -1).any(axis=1)
        idx = np.flatnonzero(kinked)
        shape = oracle.case.out_shape
        rows = [(np.eye(m)[r], np.concatenate([by_row[nm][r] for nm in oracle.wrt]),
                 f"row {[int(k) for k in np.unravel_index(r, shape)]} of the Jacobian: "
                 if m > 1 else "") for r in idx]
    for weights, g, label in rows:
        v = check(oracle, g, weights, atol)
        if v is not None:
            return (record(v, v.samples, len(rows)),
                    describe(v, oracle.split(v.direction), label))
    return record(None, len(sampled_jacobians(oracle)), len(rows)), ""
