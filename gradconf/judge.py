"""Verdicts of checks: the framework's arrays against the oracle's reference.

The runner calls the framework; this module judges what came back. Against the
reference (read from the run's reference cache when an earlier session computed it), with
the tolerance model of :mod:`gradconf.compare`; at a kink entry by entry against the
subgradient interval and then as a whole (:mod:`gradconf.subgradient`); at a pole or an
overflow not at all (the classification says why); in a low-precision run, a value that
misses float64 once more against the run dtype's own arithmetic (:mod:`gradconf.precision`);
and last against the note's golden numbers.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import numpy as np

from gradconf import precision, refcache, subgradient
from gradconf.arrays import encode, json_number
from gradconf.case import Case, Check
from gradconf.compare import EPSILON, Comparison, compare, compare_golden, tolerance_for
from gradconf.oracle import Estimate, Oracle, kink_mask, oracle_for


def _f64(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _f64(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_f64(x) for x in v]
    return np.asarray(v, dtype=np.complex128 if np.iscomplexobj(v) else np.float64)


def _reference(case: Case, check: Check, dtype: str, v: Mapping[str, Any],
               oracle: Oracle | None = None) -> dict[str, Estimate]:
    oracle = oracle or oracle_for(case, dtype, check.wrt)
    v = {k: _f64(x) for k, x in v.items()}
    if check.kind == "value":
        return oracle.value()
    if check.kind == "vjp":
        return oracle.vjp(v["cotangent"])
    if check.kind == "jvp":
        return {"out": oracle.jvp(v["tangents"])}
    if check.kind == "jacobian":
        return oracle.jacobian_by_input()
    if check.kind == "hessian":
        return oracle.hessian(v["cotangent"])
    if check.kind == "derivative":
        return {check.wrt[0]: oracle.derivative(v["cotangents"])}
    raise ValueError(check.kind)


def judge(rec: dict[str, Any], case: Case, check: Check, dtype: str,
           observed: dict[str, Any], v: Mapping[str, Any], env: Mapping[str, np.ndarray],
           raw: dict[str, Any] | None = None) -> None:
    tol = tolerance_for(dtype, case.tolerance)
    rec["tolerance"] = tol
    if check.kind == "rev_fwd":
        rev, fwd = observed["rev"], observed["fwd"]
        rec.update(observed={n: encode(a) for n, a in fwd.items()},
                   reference={n: encode(a) for n, a in rev.items()}, oracle_err=0.0)
        cmp = compare(fwd, rev, {}, tol)
        set_result(rec, cmp, "forward-mode Jacobian differs from reverse-mode: ")
        return
    t0, oracle = time.perf_counter(), oracle_for(case, dtype, check.wrt)
    before = oracle.evaluations
    k = refcache.key(case, check, dtype, v)
    ref = refcache.load(k)
    rec["reference_cached"] = ref is not None
    if ref is None:
        ref = _reference(case, check, dtype, v)
        refcache.store(k, ref)
    rec.update(oracle_s=time.perf_counter() - t0, oracle_evaluations=oracle.evaluations - before)
    order = ("smooth", "kink", "discontinuity", "overflow", "undefined")
    rec.update(observed={n: encode(a) for n, a in observed.items()},
               reference={n: encode(e.value) for n, e in ref.items()},
               oracle_err=max((e.max_err for e in ref.values()), default=0.0),
               classification=max((e.classification for e in ref.values()),
                                  key=order.index, default="smooth"))
    kinks = {n: e for n, e in ref.items() if e.lo is not None and e.hi is not None}
    if kinks:
        rec["subgradient"] = {n: {"lo": encode(e.lo), "hi": encode(e.hi)}
                              for n, e in kinks.items()}
    bad_dtype = _dtype_problem(observed if raw is None else raw, check, case, dtype, env)
    cmp = compare(observed, {n: _at_kinks(observed.get(n), e) for n, e in ref.items()},
                  {n: e.err for n, e in ref.items()}, tol)
    if bad_dtype and cmp.ok:
        cmp = Comparison(False, bad_dtype, cmp.max_abs_err, cmp.max_rel_err, cmp.worst)
    set_result(rec, cmp, "")
    if check.kind == "value" and rec["verdict"] == "mismatch" and not bad_dtype:
        same = precision.judge(case, dtype, observed, tol)
        if same is not None:
            rec["reference_run_dtype"] = {n: encode(a) for n, a in same[1].items()}
            if same[0].ok:
                rec.update(verdict="precision", message=(
                    f"{cmp.reason} from the float64 reference, but the same computation in "
                    f"{dtype} gives this: IEEE {dtype} arithmetic forces it"))
    if rec["verdict"] == "mismatch" and dtype in precision.LOW and not bad_dtype:
        # a derivative has no same-precision evaluation, and a value another algorithm
        # computed (an LU of XLA's) rounds elsewhere than NumPy's: the conditioning of the
        # point says whether any backward-stable computation may miss this far; a wrong
        # dtype is never a matter of rounding
        _condition(rec, case, check, dtype, v, ref, observed)
    if cmp.ok and rec["classification"] != "smooth":
        rec.update(_irregular(rec["classification"], observed, ref, check.kind))
    if cmp.ok and rec["classification"] == "kink" and check.kind in ("vjp", "jacobian"):
        whole = subgradient.judge(oracle, check.kind, observed, v.get("cotangent"), ref,
                                  tol["atol"])
        if whole is not None:
            rec["generalised_gradient"] = whole[0]
            if whole[1]:
                rec.update(verdict="mismatch", message=whole[1])
    golden = case.golden.get(check.id)
    if golden is not None:
        rec["golden"] = {n: encode(np.asarray(g, dtype=np.float64)) for n, g in golden.items()}
        g_tol = case.tolerance.get("golden")
        gcmp = compare_golden(observed, golden, tol["rtol"], g_tol.atol if g_tol else None)
        rec["golden_ok"] = gcmp.ok
        if not gcmp.ok and rec["verdict"] == "pass":
            rec.update(verdict="mismatch", worst=gcmp.worst,
                       message="differs from the note's golden value: " + gcmp.reason)


def _at_kinks(observed: Any, est: Estimate) -> np.ndarray:
    """The reference, with each kink entry replaced by the observed value clipped into the
    subgradient interval: a value inside matches, one outside misses by its distance."""
    if est.lo is None or est.hi is None or observed is None:
        return est.value
    obs = np.asarray(observed, dtype=np.float64)
    if obs.shape != est.value.shape:
        return est.value
    # a NaN is never a subgradient: it meets the finite centre and is reported as nan
    inside = kink_mask(est) & ~np.isnan(obs)
    return np.where(inside, np.clip(obs, est.lo, est.hi), est.value)


def _irregular(classification: str, observed: Mapping[str, Any],
               ref: Mapping[str, Estimate], kind: str = "") -> dict[str, str]:
    """Verdict and message for a passing comparison at a point that is not smooth."""
    notes = []
    for name, est in ref.items():
        obs = np.asarray(observed[name], dtype=np.float64).reshape(-1)
        for i in np.flatnonzero(~np.isfinite(est.value.reshape(-1)))[:3]:
            what = ("overflows float64 here (the function's value does not fit; "
                    + ("so does the framework's" if np.isinf(obs[i]) else "the framework's is")
                    + ")" if est.classification == "overflow"
                    else "no finite value there" if kind == "value" else "no derivative there")
            notes.append(f"{name}{_index(est.value.shape, i)}: {what}, got {obs[i]:.6g}")
        if est.lo is not None and est.hi is not None:
            lo, hi = est.lo.reshape(-1), est.hi.reshape(-1)
            for i in np.flatnonzero(kink_mask(est).reshape(-1))[:3]:
                notes.append(f"{name}{_index(est.value.shape, i)}: kink, chose {obs[i]:.6g} "
                             f"in [{lo[i]:.6g}, {hi[i]:.6g}]")
    verdict = "convention" if classification == "kink" else "undefined"
    return {"verdict": verdict, "message": "; ".join(notes)}


def _index(shape: tuple[int, ...], flat: int) -> str:
    """``[i, j]`` for an entry of an array, nothing for a scalar."""
    return str([int(k) for k in np.unravel_index(flat, shape)]) if shape else ""


def _dtype_problem(observed: Mapping[str, Any], check: Check, case: Case, dtype: str,
                   env: Mapping[str, np.ndarray]) -> str:
    """A sentence if a result's dtype is not one that promotion rules allow.

    Values and jvps have the output's dtype, gradients their input's. A Jacobian or
    Hessian block may carry either dtype of the pair it relates (reverse mode yields the
    input's, forward mode the output's), so either is accepted.
    """
    out_dt = case.output_dtype(dtype)
    for name, arr in observed.items():
        if check.kind == "value":
            allowed = {case.named_dtype(name, dtype)}
        elif name == "out":
            allowed = {out_dt}
        elif check.kind in ("vjp", "derivative"):
            allowed = {str(env[name].dtype)}
        else:
            pair = {str(env[n].dtype) for n in name.split(",")} | {out_dt}
            allowed = pair | {str(np.result_type(*pair))}
        got = str(np.asarray(arr).dtype)
        if got not in allowed and "bfloat16" not in allowed:
            return f"{name}: dtype {got}, but should be {' or '.join(sorted(allowed))}"
    return ""


def set_result(rec: dict[str, Any], cmp: Comparison, prefix: str) -> None:
    rec.update(max_abs_err=cmp.max_abs_err, max_rel_err=cmp.max_rel_err, worst=cmp.worst)
    if cmp.ok:
        rec.update(verdict="pass", message="")
    else:
        rec.update(verdict=cmp.nonfinite or "mismatch", message=prefix + cmp.reason)


def _condition(rec: dict[str, Any], case: Case, check: Check, dtype: str,
               v: Mapping[str, Any], ref: Mapping[str, Estimate],
               observed: Mapping[str, Any]) -> None:
    """For a low-precision result that missed: how far rounding the inputs to the run
    dtype alone moves the float64 reference (two random relative perturbations of one unit
    of the dtype's epsilon), as a condition estimate beside the verdict. A backward-stable
    computation in the run dtype is exact for inputs moved by about an epsilon: a miss
    within four times what such a move does to the float64 result is the verdict
    ``precision`` (the point is ill-conditioned for the dtype), a larger one stays a
    ``mismatch``."""
    if not rec.get("worst") or any(
            n not in observed or np.shape(observed[n]) != np.shape(e.value)
            for n, e in ref.items()):
        return  # a missing result or a wrong shape is not a matter of rounding
    eps = EPSILON["float32" if dtype == "complex64" else dtype]
    rng = np.random.default_rng(0)
    point = case.point(dtype)
    moved = 0.0
    for _ in range(2):
        shift = {n: eps * rng.uniform(-1.0, 1.0, case.shapes[n]) for n in check.wrt
                 if not np.iscomplexobj(point[n])}
        try:
            other = _reference(case, check, dtype, v, Oracle(case, dtype, check.wrt, shift))
        except Exception:  # the estimate is a courtesy beside the verdict, never its cause
            return
        for name, est in other.items():
            base = ref[name].value
            with np.errstate(all="ignore"):
                diff = np.abs(np.asarray(est.value, dtype=np.float64) - base)
            finite = np.isfinite(diff)
            if finite.any():
                moved = max(moved, float(diff[finite].max()))
    scale = max((float(np.nanmax(np.abs(e.value))) for e in ref.values()
                 if np.isfinite(e.value).any()), default=0.0)
    kappa = moved / (eps * scale) if scale > 0 else float("inf")
    missed = max((float(np.nanmax(np.abs(np.asarray(observed[n], dtype=np.float64) - e.value)))
                  for n, e in ref.items() if n in observed and np.isfinite(e.value).any()),
                 default=0.0)
    within = moved > 0.0 and missed <= 4.0 * moved
    rec["condition"] = {"estimate": json_number(kappa), "input_rounding": moved, "within": within}
    rec["message"] += (f" [condition estimate {kappa:.3g}: rounding the inputs to {dtype} "
                       f"alone moves the float64 result by up to {moved:.3g}; this difference "
                       + ("is within four times that]" if within else "is beyond it]"))
    if within:
        rec.update(verdict="precision", message=f"{rec['message']}: the point is "
                   f"ill-conditioned for {dtype}, and a backward-stable computation in "
                   f"{dtype} can give this result")

