"""Run one check or probe of one case on one adapter and judge it: the verdict record.

The record (a dict, see ``gradconf/schema/results.schema.json``) is the contract every
report reads. This module decides verdicts; adapters only observe, the oracle only
computes references.
"""

from __future__ import annotations

import time
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from gradconf.adapter import (
    COMPLEX_CONVENTIONS,
    Adapter,
    ProbeInputs,
    Unsupported,
    WarningInfo,
)
from gradconf.arrays import as_dtype, encode, is_complex, json_number, pairs
from gradconf.case import Case, Check, Probe, materialize, tangent_for
from gradconf.compare import tolerance_for
from gradconf.fast import FAST_KINDS, judge_fast, wants_fast
from gradconf.isolation import Lost, isolated
from gradconf.judge import judge
from gradconf.kinds import FAILING
from gradconf.probes import judge_probe
from gradconf.reproducer import attach


@contextmanager
def captured(adapter: Adapter) -> Iterator[list[WarningInfo]]:
    """Collect the Python warnings emitted inside the block, classified by the adapter."""
    out: list[WarningInfo] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield out
    for w in caught:
        cat, msg = w.category.__name__, str(w.message)
        info = WarningInfo(adapter.warning_kind(cat, msg), cat, msg)
        if info not in out:
            out.append(info)


def _empty_result() -> dict[str, Any]:
    return {"verdict": None, "message": "", "observed": None, "reference": None,
            "golden": None, "max_abs_err": None, "max_rel_err": None, "oracle_err": None,
            "tolerance": None, "classification": None, "worst": None, "outcome": None,
            "expected": None, "error_kind": None, "error": None, "warnings": [],
            "divergence": None, "duration_s": 0.0, "oracle_s": 0.0}


EXECUTIONS = ("eager", "compiled")


def compiled_twin(adapter: Adapter) -> Adapter:
    """The adapter's compiled twin, made once and run in a process of its own
    (:mod:`gradconf.isolation`): its compiled functions (and the compiler's warm-up) carry
    over from check to check of a program, and from program to program."""
    twin: Adapter | None = adapter.__dict__.get("_compiled_twin")
    if twin is None:  # kept on the adapter: the pair is collected together, child and all
        twin = adapter.__dict__["_compiled_twin"] = isolated(adapter)
    return twin


def base_record(case: Case, check_id: str, kind: str, dtype: str, adapter: Adapter,
                framework_version: str, execution: str = "eager") -> dict[str, Any]:
    """The fields every record has, before a verdict."""
    return {"case": case.id, "title": case.title, "file": case.file, "line": case.line,
            "source": dict(case.source), "ops": sorted(case.program.ops_used()),
            "framework": adapter.name,
            "framework_version": framework_version, "check": check_id, "kind": kind,
            "dtype": dtype, "execution": execution, **_empty_result()}


def env_for(case: Case, dtype: str) -> dict[str, np.ndarray]:
    """The inputs and constants as typed NumPy arrays, as an adapter receives them."""
    point = case.point(dtype)
    return {n: as_dtype(v, case.dtype_of(n, dtype)) for n, v in point.items()}


def run_check(case: Case, check: Check, dtype: str, adapter: Adapter,
              framework_version: str, *, fast: bool | None = None,
              repeat: int = 2, execution: str = "eager") -> dict[str, Any]:
    """Run ``check`` at ``dtype`` on ``adapter`` and return its judged record.

    ``fast``: judge by projections (None: by the case, or above FAST_THRESHOLD entries).
    ``repeat``: how many times the framework computes it; results that differ bit for
    bit are ``nondeterministic``. ``execution``: ``eager``, or ``compiled`` through the
    adapter's compiler (``not_applicable`` without one), then also eager to measure how far
    the two differ. A failure outside the framework's own call (preparing the point, the
    oracle, the comparison) is the case's: ``invalid``, never ``error``.
    """
    rec = base_record(case, check.id, check.kind, dtype, adapter, framework_version, execution)
    if execution == "compiled":
        if not adapter.compiler:
            rec.update(verdict="not_applicable", message=f"{adapter.name} has no compiler: "
                       "its functions run eagerly only")
            return rec
        rec["compiler"] = adapter.compiler
        try:
            adapter = compiled_twin(adapter)
        except Exception as exc:  # its process could not start: this item's error
            rec.update(verdict=getattr(exc, "verdict", "error"),
                       message=f"the compiled process did not start: {exc}")
            return rec
    try:
        return _run_check(rec, case, check, dtype, adapter, fast, repeat)
    except Exception as exc:  # not the framework's: its call has its own handler
        return _not_judged(rec, case, exc)


def _not_judged(rec: dict[str, Any], case: Case, exc: Exception) -> dict[str, Any]:
    """The record of a check gradconf could not judge: invalid, located at the case."""
    why = f"{type(exc).__name__}: {_first_line(str(exc))}"
    if isinstance(exc, ArithmeticError | RuntimeWarning) and "overflow" in str(exc):
        why = f"float64 overflowed computing the reference ({why}): the case's numbers are " \
              "too close to float64's range"
    rec.update(verdict="invalid", observed=None, reference=None, divergence=None,
               message=f"{case.file}:{case.line}: case '{case.id}': gradconf could not judge "
                       f"this check: {why}", traceback=traceback.format_exc(limit=6))
    return rec


def _run_check(rec: dict[str, Any], case: Case, check: Check, dtype: str, adapter: Adapter,
               fast: bool | None, repeat: int) -> dict[str, Any]:
    env = env_for(case, dtype)
    out_dtype = case.output_dtype(dtype)
    vectors = _vectors(case, check, dtype, out_dtype)
    call = _dispatch(adapter, case, check, env, vectors)
    t0 = time.perf_counter()
    with captured(adapter) as caught:
        try:
            observed = call()
        except Unsupported as exc:
            observed = None
            rec.update(verdict="unsupported", message=f"{adapter.name} cannot run {exc}")
        except Lost as exc:  # the compiled process died or hung; the next check restarts it
            observed = None
            rec.update(verdict=exc.verdict, message=str(exc))
        except Exception as exc:  # any framework failure becomes a verdict, never a crash
            observed = None
            info = adapter.error_info(exc)
            rec.update(verdict="error", error_kind=info.kind,
                       error={"type": info.type, "message": info.message},
                       message=f"raised {info.type}: {_first_line(info.message)}",
                       traceback=traceback.format_exc(limit=6))
    rec["duration_s"] = time.perf_counter() - t0
    rec["warnings"] = [w.__dict__ for w in caught]
    compiled = adapter.execution == "compiled"
    if compiled:
        eager = _eager_result(adapter, case, check, env, vectors)
    if observed is None:
        if compiled:  # the failed first call is all the compiling there was
            rec["compile_s"] = rec["duration_s"]
            rec["eager_difference"] = {"identical": False, "eager_raised": True} if (
                eager is None) else {"identical": False, "eager_raised": False, "max_abs": None,
                                     "entries": None, "message": "only the compiled function "
                                     "raised or could not run: eager runs it"}
        return attach(_diverge(rec, case), case.program, check, adapter, env, vectors)
    t1 = time.perf_counter()
    differs = _repeat_differs(call, observed, repeat, adapter)
    if compiled:
        again = (time.perf_counter() - t1) / (repeat - 1) if repeat > 1 else 0.0
        rec["compile_s"] = max(rec["duration_s"] - again, 0.0)
        rec["eager_difference"] = eager_difference(observed, eager)
    raw = observed
    if case.is_complex:
        observed = _normalise_complex(rec, check, observed, adapter)
    if check.kind in FAST_KINDS and wants_fast(case, fast) and not case.is_complex:
        t0 = time.perf_counter()
        rec["observed"] = {n: encode(a) for n, a in observed.items()}
        judge_fast(rec, case, check, dtype, observed, vectors,
                   tolerance_for(dtype, case.tolerance))
        rec.update(tolerance=tolerance_for(dtype, case.tolerance),
                   oracle_s=time.perf_counter() - t0)
    else:
        rec["mode"] = "exact"
        judge(rec, case, check, dtype, observed, vectors, env, raw)
    if differs:
        rec["repeat_max_diff"] = json_number(differs[0])
        if rec["verdict"] == "pass":
            rec.update(verdict="nondeterministic", message=differs[1])
    return attach(_diverge(rec, case), case.program, check, adapter, env, vectors)


def _normalise_complex(rec: dict[str, Any], check: Check, observed: dict[str, Any],
                       adapter: Adapter) -> dict[str, Any]:
    """Complex results as real pairs; a gradient of complex inputs normalised from the
    adapter's convention to the neutral ∂f/∂x + i ∂f/∂y, the raw value kept in the record."""
    name = adapter.complex_gradient
    description, normalise = COMPLEX_CONVENTIONS[name]
    grads = check.kind == "vjp"
    out, raw = {}, {}
    for n, arr in observed.items():
        a = np.asarray(arr)
        if grads and np.iscomplexobj(a):
            raw[n] = encode(pairs(a))
            a = normalise(a)
        out[n] = pairs(a)
    if raw:
        rec["complex"] = {"convention": name, "description": description, "raw": raw}
    return out


def _repeat_differs(call: Callable[[], dict[str, Any]], first: dict[str, Any], repeat: int,
                    adapter: Adapter) -> tuple[float, str] | None:
    """Compute again; the largest difference and a sentence if a result changed at all."""
    a = dict(_leaves(first))
    for k in range(1, repeat):
        with captured(adapter):
            try:
                again = dict(_leaves(call()))
            except Exception as exc:  # a second run that fails differs too
                return float("inf"), f"run {k + 1} raised {type(exc).__name__}: {exc}"
        for name, x in a.items():
            y = again.get(name)
            if y is None or y.dtype != x.dtype or not np.array_equal(x, y, equal_nan=True):
                diff = float(np.nanmax(np.abs(x.astype(np.float64) - y.astype(np.float64)))) \
                    if y is not None and y.shape == x.shape else float("inf")
                return diff, (f"run {k + 1} differs from run 1 bit for bit: {name} by up to "
                              f"{diff:.3g}")
    return None


def _eager_result(adapter: Adapter, case: Case, check: Check, env: Mapping[str, np.ndarray],
                  vectors: Mapping[str, Any]) -> dict[str, Any] | None:
    """The same check run eagerly, to set a compiled result beside; None if eager raised."""
    with captured(adapter):
        try:
            return _dispatch(adapter.eager(), case, check, env, vectors)()
        except Exception:  # eager's own failure is the eager item's record, not this one's
            return None


def eager_difference(compiled: Mapping[str, Any],
                     eager: Mapping[str, Any] | None) -> dict[str, Any]:
    """How a compiled result differs from the eager one: bit for bit identical or not, the
    largest absolute difference and how many entries differ (NaNs in the same places agree)."""
    if eager is None:
        return {"identical": False, "eager_raised": True}
    a, b = dict(_leaves(compiled)), dict(_leaves(eager))
    if set(a) != set(b) or any(a[n].shape != b[n].shape for n in a):
        return {"identical": False, "eager_raised": False, "max_abs": None, "entries": None,
                "message": "the compiled result's parts or shapes differ from eager's"}
    worst, entries = 0.0, 0
    for n in a:
        x, y = a[n].astype(np.complex128), b[n].astype(np.complex128)
        same = ((x == y) & (np.signbit(x.real) == np.signbit(y.real))) | (
            np.isnan(x) & np.isnan(y))
        entries += int(np.size(same) - np.count_nonzero(same))
        if not np.all(same):
            with np.errstate(all="ignore"):  # inf - inf where both are inf (masked out)
                gap = np.abs(x - y)[~same]
            worst = max(worst, float(np.nanmax(gap)) if np.isfinite(gap).any() else np.inf)
    return {"identical": entries == 0 and all(a[n].dtype == b[n].dtype for n in a),
            "eager_raised": False, "max_abs": json_number(worst), "entries": entries}


def _leaves(tree: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
    for name, value in tree.items():
        if isinstance(value, Mapping):
            yield from _leaves(value, f"{prefix}{name}.")
        else:
            yield f"{prefix}{name}", np.asarray(value)


def _vectors(case: Case, check: Check, dtype: str, out_dtype: str) -> dict[str, Any]:
    """Cotangents and tangents as typed arrays, in the dtype the framework receives them."""
    v: dict[str, Any] = {}
    if check.kind in ("vjp", "hessian"):
        v["cotangent"] = as_dtype(materialize(check.cotangent, case.out_shape), out_dtype)
    if check.kind == "jvp":
        # a complex input's tangent moves both parts: t (1 + i)
        v["tangents"] = {n: as_dtype(tangent_for(check, n, case.shapes[n])
                                     * (1 + 1j if is_complex(case.dtype_of(n, dtype)) else 1),
                                     case.dtype_of(n, dtype)) for n in check.wrt}
    if check.kind == "derivative":
        x = check.wrt[0]
        shapes = [case.out_shape] + [case.shapes[x]] * (check.order - 1)
        dts = [out_dtype] + [case.dtype_of(x, dtype)] * (check.order - 1)
        v["cotangents"] = [as_dtype(materialize(c, s, k), d) for k, (c, s, d) in
                           enumerate(zip(check.cotangents, shapes, dts, strict=True))]
    return v


def _dispatch(adapter: Adapter, case: Case, check: Check, env: Mapping[str, np.ndarray],
              v: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
    prog, wrt = case.program, check.wrt
    if check.kind == "value":
        return lambda: adapter.value(prog, env)
    if check.kind == "vjp":
        return lambda: adapter.vjp(prog, env, wrt, v["cotangent"])
    if check.kind == "jvp":
        return lambda: {"out": adapter.jvp(prog, env, wrt, v["tangents"])}
    if check.kind == "jacobian":
        return lambda: adapter.jacobian(prog, env, wrt, check.mode or "rev")
    if check.kind == "hessian":
        return lambda: adapter.hessian(prog, env, wrt, v["cotangent"])
    if check.kind == "derivative":
        return lambda: {wrt[0]: adapter.derivative(prog, env, wrt[0], v["cotangents"])}
    if check.kind == "rev_fwd":
        return lambda: {"rev": adapter.jacobian(prog, env, wrt, "rev"),
                        "fwd": adapter.jacobian(prog, env, wrt, "fwd")}
    raise Unsupported(check.kind)


def _diverge(rec: dict[str, Any], case: Case) -> dict[str, Any]:
    """Apply a declared divergence: failing becomes expected, no longer failing (``pass``,
    a valid ``convention``, or ``precision`` for a kind other than bug) becomes stale, and
    the message says what the framework does now, then what the declaration said. A
    declared bug also covers ``precision``: the declaration says a better answer exists
    (a rule that cancels where another does not), so rounding is no excuse for it."""
    d = case.divergence(rec["framework"], rec["check"], rec["dtype"], rec["framework_version"],
                        rec.get("execution", "eager"))
    if d is None or rec["verdict"] in ("unsupported", "not_applicable", "invalid"):
        return rec
    rec["divergence"] = {"kind": d.kind, "versions": d.versions, "reason": d.reason,
                         "link": d.link}
    if rec["verdict"] in FAILING or (rec["verdict"] == "precision" and d.kind == "bug"):
        rec["message"] = f"declared divergence ({rec['verdict']}): {rec['message']}"
        rec["verdict"] = "expected_divergence"
    elif rec["verdict"] in ("pass", "convention", "precision"):
        now = rec["message"] or "the result agrees with the oracle"
        rec.update(verdict="stale", message=f"declared divergence no longer diverges "
                   f"({rec['verdict']}: {now}); drop or narrow the declaration, which says: "
                   f"{d.reason}")
    return rec


def run_probe(case: Case, probe: Probe, adapter: Adapter, framework_version: str) -> dict[str, Any]:
    """Run one probe on the case's first dtype and judge it against its expectation."""
    dtype = case.dtypes[0]
    rec = base_record(case, probe.id, "probe", dtype, adapter, framework_version)
    try:
        return _run_probe(rec, case, probe, dtype, adapter)
    except Exception as exc:  # not the framework's: the probe call has its own handler
        return _not_judged(rec, case, exc)


def _run_probe(rec: dict[str, Any], case: Case, probe: Probe, dtype: str,
               adapter: Adapter) -> dict[str, Any]:
    env = env_for(case, dtype)
    out_dtype = case.output_dtype(dtype)
    cot = as_dtype(materialize(probe.spec.cotangent, case.out_shape), out_dtype)
    steps = tuple(None if s == "zero" else as_dtype(materialize(s, case.out_shape), out_dtype)
                  for s in probe.spec.steps)
    vectors = ProbeInputs(cot, steps)
    t0 = time.perf_counter()
    with captured(adapter) as caught:
        try:
            result = adapter.probe(probe.spec, case.program, env, case.wrt, vectors)
        except Unsupported as exc:
            result = None
            rec.update(verdict="unsupported", message=f"{adapter.name} cannot run {exc}")
        except Exception as exc:  # a probe returns the framework's errors; this is not one
            result = None
            rec.update(verdict="error", message=f"the probe itself raised {type(exc).__name__}: "
                       f"{_first_line(str(exc))}", traceback=traceback.format_exc(limit=6))
    rec["duration_s"] = time.perf_counter() - t0
    rec["warnings"] = [w.__dict__ for w in caught]
    if result is not None:
        judge_probe(rec, case, probe, dtype, result, vectors, caught)
    return _diverge(rec, case)


def invalid_record(file: str, line: int, case_id: str | None, message: str,
                   framework: str, framework_version: str) -> dict[str, Any]:
    """The record of a case that could not be loaded."""
    return {"case": case_id or "(file)", "title": "", "file": file, "line": line,
            "source": None, "framework": framework, "framework_version": framework_version,
            "check": "load", "kind": "load", "dtype": "-",
            **_empty_result(), "verdict": "invalid", "message": message}


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""
