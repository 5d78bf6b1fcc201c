"""Fast mode: judge a derivative on a large input with a constant number of evaluations.

Instead of the full Jacobian (one directional derivative per input entry), fast mode
contracts what the framework returned with seeded random directions and compares the
scalar with one finite-difference directional derivative of the same contraction: for a
vjp ``g = Jᵀv``, ``gᵀu`` against ``∂⟨v, f⟩/∂u``; for a jvp ``Ju``, ``wᵀ(Ju)`` against
``∂⟨w, f⟩/∂u``; likewise for Jacobians, Hessians (two directions) and order-n derivatives.
The cost does not grow with the input's size. When the scalars disagree, bisection over
the entries (input entries for a vjp or derivative, output entries for a jvp) finds the
worst one with two more directional derivatives per halving.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradconf.case import Case, Check
from gradconf.oracle import Oracle, oracle_for
from gradconf.richardson import directional

FAST_THRESHOLD = 4096  # input entries above which checks are judged in fast mode


def wants_fast(case: Case, requested: bool | None) -> bool:
    """Fast mode on request, by the case's ``fast``, or above FAST_THRESHOLD entries."""
    if requested is not None:
        return requested
    if case.fast is not None:
        return case.fast
    return sum(int(np.prod(case.shapes[n])) for n in case.wrt) > FAST_THRESHOLD


def _direction(check: Check, name: str, shape: tuple[int, ...], salt: str) -> np.ndarray:
    """A seeded normal direction, the same in every run of this check."""
    seed = zlib.crc32(f"{check.id}/{name}/{salt}".encode())
    return np.random.default_rng(seed).standard_normal(shape)


class _Projection:
    """The finite-difference side: ∂ⁿ⟨w, f⟩ along directions, restricted to a subset."""

    def __init__(self, oracle: Oracle, weights: np.ndarray, dirs: list[np.ndarray]) -> None:
        self.oracle, self.weights, self.dirs = oracle, weights, dirs
        self.evaluations = 0

    def along(self, first: np.ndarray, weights: np.ndarray | None = None
              ) -> tuple[float, float]:
        """The derivative with ``first`` as the first direction (and optional weights)."""
        w = self.weights if weights is None else weights
        o = self.oracle

        def s(x: np.ndarray) -> np.ndarray:
            return np.asarray(np.sum(w * o.f(x)))
        before = o.evaluations
        value, err = directional(s, o.x0, [first, *self.dirs[1:]], s(o.x0))
        self.evaluations += o.evaluations - before
        if value is None:
            return float("nan"), float("nan")
        return float(value), float(err)


def judge_fast(rec: dict[str, Any], case: Case, check: Check, dtype: str,
               observed: Mapping[str, np.ndarray], vectors: Mapping[str, Any],
               tol: Mapping[str, float]) -> None:
    """Fill ``rec``'s verdict for ``check`` in fast mode (see the module's docstring)."""
    oracle = oracle_for(case, dtype, check.wrt)
    projections, locate = _SETUPS[check.kind](oracle, check, observed, vectors)
    rec.update(mode="fast", projection=[], classification="smooth", verdict="pass", message="")
    evaluations = 0
    for p in projections:
        fd, err = p.proj.along(p.proj.dirs[0], p.proj.weights)
        evaluations += p.proj.evaluations
        bound = (tol["rtol"] + tol["atol"]) * p.scale + tol["oracle_factor"] * err + 1e-300
        rec["projection"].append({"direction": p.label, "observed": p.ad, "reference": fd,
                                  "oracle_err": err, "bound": bound})
        rec["oracle_err"] = max(rec["oracle_err"] or 0.0, err)
        rec["max_abs_err"] = max(rec["max_abs_err"] or 0.0, abs(p.ad - fd))
        rec["max_rel_err"] = max(rec["max_rel_err"] or 0.0, abs(p.ad - fd) / max(abs(fd), 1e-300))
        if not np.isfinite(p.ad):
            rec.update(verdict="nan" if np.isnan(p.ad) else "inf", message="the framework's "
                       f"result has {'NaN' if np.isnan(p.ad) else 'inf'} entries")
            break
        if not np.isfinite(fd):
            rec.update(verdict="undefined", classification="undefined",
                       message="the directional derivative does not exist at this point")
            break
        if abs(p.ad - fd) > bound:
            worst = locate(p.proj, tol) if locate else None
            evaluations += p.proj.evaluations
            rec.update(verdict="mismatch", worst=worst, message=_mismatch(p, fd, bound, worst))
            break
    rec["oracle_evaluations"] = evaluations


def _mismatch(p: Projected, fd: float, bound: float, worst: dict[str, Any] | None) -> str:
    text = (f"projection along {p.label}: {p.ad:.10g}, but should be {fd:.10g} (|diff| "
            f"{abs(p.ad - fd):.3g} > bound {bound:.3g})")
    if worst:
        text += (f"; worst entry {worst['name']}{worst['index']}: {worst['observed']:.10g}, "
                 f"but should be {worst['reference']:.10g}")
    return text


class Projected:
    """One projection of the framework's result: its value, its scale (the sum of the
    absolute terms, so the bound matches exact mode's per-entry one), and the
    finite-difference side that should equal it."""

    def __init__(self, label: str, ad: float, scale: float, proj: _Projection) -> None:
        self.label, self.ad, self.scale, self.proj = label, ad, scale, proj


Locator = Callable[[_Projection, Mapping[str, float]], dict[str, Any]]
Setup = tuple[list[Projected], Locator | None]


def _signed(u: np.ndarray, like: np.ndarray) -> np.ndarray:
    """``u``'s magnitudes with ``like``'s signs (of its zeros too): a projection in which
    nothing cancels."""
    return np.copysign(u, like)


def _vjp(oracle: Oracle, check: Check, observed: Mapping[str, np.ndarray],
         v: Mapping[str, Any]) -> Setup:
    g = oracle.flat({n: np.asarray(observed[n], np.float64) for n in check.wrt})
    u = oracle.flat({n: _direction(check, n, oracle.case.shapes[n], "u") for n in check.wrt})
    cot = np.asarray(v["cotangent"], np.float64)
    return _along_inputs(oracle, g, u, cot, [])


def _derivative(oracle: Oracle, check: Check, observed: Mapping[str, np.ndarray],
                v: Mapping[str, Any]) -> Setup:
    x = check.wrt[0]
    cots = [np.asarray(c, np.float64) for c in v["cotangents"]]
    d = np.asarray(observed[x], np.float64).reshape(-1)
    u = _direction(check, x, oracle.case.shapes[x], "u").reshape(-1)
    return _along_inputs(oracle, d, u, cots[0], [oracle.flat({x: c}) for c in cots[1:]])


def _along_inputs(oracle: Oracle, g: np.ndarray, u: np.ndarray, weights: np.ndarray,
                  rest: list[np.ndarray]) -> Setup:
    """A result over the input entries, projected on u and on u signed like the result."""
    out = []
    scale = float(np.abs(g) @ np.abs(u))  # the same for u signed like the result
    for label, d in (("random u", u), ("u signed like the result", _signed(u, g))):
        out.append(Projected(label, float(g @ d), scale,
                             _Projection(oracle, weights, [d, *rest])))
    return out, _input_locator(oracle, g)


def _jvp(oracle: Oracle, check: Check, observed: Mapping[str, np.ndarray],
         v: Mapping[str, Any]) -> Setup:
    ju = np.asarray(observed["out"], np.float64)
    w = _direction(check, "out", oracle.case.out_shape, "w")
    u = oracle.flat({n: np.asarray(t, np.float64) for n, t in v["tangents"].items()})
    out = []
    for label, weights in (("random w", w), ("w signed like the result", _signed(w, ju))):
        out.append(Projected(label, float(np.sum(weights * ju)),
                             float(np.sum(np.abs(weights * ju))),
                             _Projection(oracle, weights, [u])))
    return out, _output_locator(ju)


def _jacobian(oracle: Oracle, check: Check, observed: Mapping[str, np.ndarray],
              v: Mapping[str, Any]) -> Setup:
    out = oracle.case.out_shape
    w = _direction(check, "out", out, "w")
    u = {n: _direction(check, n, oracle.case.shapes[n], "u") for n in check.wrt}
    axes = len(out)
    ad = scale = 0.0
    for n in check.wrt:
        jac = np.asarray(observed[n], np.float64)
        ad += float(np.sum(np.tensordot(w, jac, axes=axes) * u[n]))
        scale += float(np.sum(np.tensordot(np.abs(w), np.abs(jac), axes=axes) * np.abs(u[n])))
    return [Projected("random w, u", ad, scale, _Projection(oracle, w, [oracle.flat(u)]))], None


def _hessian(oracle: Oracle, check: Check, observed: Mapping[str, np.ndarray],
             v: Mapping[str, Any]) -> Setup:
    shapes = oracle.case.shapes
    u = {n: _direction(check, n, shapes[n], "u") for n in check.wrt}
    u2 = {n: _direction(check, n, shapes[n], "u2") for n in check.wrt}
    ad = scale = 0.0
    for a in check.wrt:
        for b in check.wrt:
            h = np.asarray(observed[f"{a},{b}"], np.float64)
            ad += float(np.sum(u[a] * np.tensordot(h, u2[b], axes=u2[b].ndim)))
            scale += float(np.sum(np.abs(u[a]) * np.tensordot(np.abs(h), np.abs(u2[b]),
                                                              axes=u2[b].ndim)))
    proj = _Projection(oracle, np.asarray(v["cotangent"], np.float64),
                       [oracle.flat(u), oracle.flat(u2)])
    return [Projected("random u, u'", ad, scale, proj)], None


def _input_locator(oracle: Oracle, g: np.ndarray) -> Locator:
    """Bisect the input entries of the failing projection's direction for the entry whose
    contribution disagrees most."""
    def locate(proj: _Projection, tol: Mapping[str, float]) -> dict[str, Any]:
        d = proj.dirs[0]

        def score(idx: np.ndarray) -> tuple[float, float, float]:
            part = np.zeros_like(d)
            part[idx] = d[idx]
            fd, err = proj.along(part)
            ad = float(g[idx] @ d[idx])
            bound = tol["rtol"] * float(np.abs(g[idx]) @ np.abs(d[idx])) + \
                tol["oracle_factor"] * err + 1e-300
            return abs(ad - fd) / bound, fd, bound
        i, fd, bound = _bisect(np.flatnonzero(d), score)
        name, index = oracle.where(i)
        return {"name": name, "index": index, "observed": float(g[i]),
                "reference": fd / float(d[i]), "bound": bound / abs(float(d[i]))}
    return locate


def _output_locator(ju: np.ndarray) -> Locator:
    """Bisect the output entries (the failing projection's weights restricted)."""
    flat_ju = ju.reshape(-1)

    def locate(proj: _Projection, tol: Mapping[str, float]) -> dict[str, Any]:
        w = proj.weights.reshape(-1)

        def score(idx: np.ndarray) -> tuple[float, float, float]:
            part = np.zeros_like(w)
            part[idx] = w[idx]
            fd, err = proj.along(proj.dirs[0], part.reshape(ju.shape))
            ad = float(w[idx] @ flat_ju[idx])
            bound = tol["rtol"] * float(np.abs(w[idx]) @ np.abs(flat_ju[idx])) + \
                tol["oracle_factor"] * err + 1e-300
            return abs(ad - fd) / bound, fd, bound
        k, fd, bound = _bisect(np.flatnonzero(w), score)
        index = [int(j) for j in np.unravel_index(k, ju.shape)] if ju.shape else []
        return {"name": "out", "index": index, "observed": float(flat_ju[k]),
                "reference": fd / float(w[k]), "bound": bound / abs(float(w[k]))}
    return locate


def _bisect(idx: np.ndarray, score: Callable[[np.ndarray], tuple[float, float, float]]
            ) -> tuple[int, float, float]:
    """Halve ``idx`` towards the worse-scoring half until one entry is left."""
    best = score(idx)
    while idx.size > 1:
        left, right = idx[: idx.size // 2], idx[idx.size // 2:]
        sl, sr = score(left), score(right)
        idx, best = (left, sl) if sl[0] >= sr[0] else (right, sr)
    return int(idx[0]), best[1], best[2]


_SETUPS: dict[str, Callable[..., Setup]] = {
    "vjp": _vjp, "jvp": _jvp, "jacobian": _jacobian, "hessian": _hessian,
    "derivative": _derivative,
}
FAST_KINDS = frozenset(_SETUPS)

