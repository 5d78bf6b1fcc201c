"""Judging probes: an observed API behaviour against the case's neutral expectation.

A probe passes when its outcome (value / absent / error and the neutral error kind) is
the expected one, every expected warning kind was emitted, any gradient it exposes
agrees with the oracle, and any golden from the notes (message, values, steps) matches.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from gradconf.adapter import ProbeInputs, ProbeResult, WarningInfo
from gradconf.arrays import encode
from gradconf.case import Case, Probe
from gradconf.compare import compare, compare_golden, tolerance_for
from gradconf.oracle import oracle_for

Named = Mapping[str, np.ndarray | None]


def _encode_named(values: Named) -> dict[str, Any]:
    return {n: None if a is None else encode(a) for n, a in values.items()}


def judge_probe(rec: dict[str, Any], case: Case, probe: Probe, dtype: str, result: ProbeResult,
                vectors: ProbeInputs, warnings: list[WarningInfo]) -> None:
    """Fill ``rec`` with the probe's outcome, expectation and verdict."""
    exp = probe.spec.expect
    rec["outcome"] = {"kind": result.outcome, "values": _encode_named(result.values),
                      "steps": [_encode_named(s) for s in result.steps], "idiom": result.idiom}
    rec["expected"] = exp.model_dump(exclude_none=True)
    if result.error is not None:
        rec["error_kind"] = result.error.kind
        rec["error"] = {"type": result.error.type, "message": result.error.message}
    if result.outcome == "not_applicable" and exp.outcome != "not_applicable":
        rec.update(verdict="not_applicable", message="no counterpart in this framework: "
                   + result.idiom)
        return
    tol = tolerance_for(dtype, case.tolerance)
    rec["tolerance"] = tol
    problems = _outcome_problems(result, exp.outcome, exp.error_kind)
    seen = {w.kind for w in warnings}
    problems += [f"no '{w}' warning was emitted" for w in exp.warning_kinds if w not in seen]
    problems += _oracle_problems(case, dtype, result, vectors, exp.accumulates, tol, rec)
    problems += _golden_problems(case.golden.get(probe.id), result, tol["rtol"],
                                 rec["framework"])
    rec.update(verdict="mismatch" if problems else "pass", message="; ".join(problems))


def _outcome_problems(result: ProbeResult, outcome: str, error_kind: str | None) -> list[str]:
    if result.outcome != outcome:
        what = f" ({result.error.kind}: {result.error.message})" if result.error else ""
        return [f"outcome {result.outcome}{what}, but should be {outcome}"
                + (f" ({error_kind})" if error_kind else "")]
    if outcome == "error" and result.error is not None and result.error.kind != error_kind:
        return [f"error kind {result.error.kind}, but should be {error_kind} "
                f"(raw {result.error.type}: {result.error.message})"]
    return []


def _oracle_problems(case: Case, dtype: str, result: ProbeResult, vectors: ProbeInputs,
                     accumulates: bool | None, tol: Mapping[str, float],
                     rec: dict[str, Any]) -> list[str]:
    """Gradients a probe exposes, against the oracle (steps against the expected sequence)."""
    oracle = oracle_for(case, dtype, case.wrt)
    grad = {n: e for n, e in oracle.vjp(np.asarray(vectors.cotangent, np.float64)).items()}
    problems = []
    # a step probe's values are its last snapshot: judged below, as part of the sequence
    shown = {n: a for n, a in result.values.items()
             if a is not None and n in grad and not result.steps}
    if shown:
        cmp = compare(shown, {n: grad[n].value for n in shown}, {n: grad[n].err for n in shown},
                      tol)
        rec["reference"] = {n: encode(grad[n].value) for n in shown}
        if not cmp.ok:
            problems.append("gradient differs from the oracle: " + cmp.reason)
    if accumulates is not None and result.steps:
        expected = _expected_steps(oracle, vectors, accumulates, len(result.steps))
        rec["reference_steps"] = [{n: encode(v) for n, (v, _) in s.items()} for s in expected]
        for k, (obs, ref) in enumerate(zip(result.steps, expected, strict=False)):
            got = {n: (np.zeros_like(ref[n][0]) if a is None else a) for n, a in obs.items()
                   if n in ref}
            cmp = compare(got, {n: ref[n][0] for n in got}, {n: ref[n][1] for n in got}, tol)
            if not cmp.ok:
                mode = "accumulated" if accumulates else "per-pass"
                problems.append(f"step {k + 1} differs from the {mode} oracle value: {cmp.reason}")
                break
    return problems


def _expected_steps(oracle: Any, vectors: ProbeInputs, accumulates: bool,
                    n_steps: int) -> list[dict[str, tuple[np.ndarray, np.ndarray]]]:
    """The stored gradient (value, error) after each pass: running sums, reset on zero."""
    cots = list(vectors.steps) or [vectors.cotangent] * n_steps
    out: list[dict[str, tuple[np.ndarray, np.ndarray]]] = []
    total: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for cot in cots:
        if cot is None:
            zero = {n: np.zeros(oracle.case.shapes[n]) for n in oracle.wrt}
            total = {n: (z, z) for n, z in zero.items()}
        else:
            g = {n: (e.value, e.err) for n, e in oracle.vjp(np.asarray(cot, np.float64)).items()}
            total = ({n: (total[n][0] + v, total[n][1] + e) for n, (v, e) in g.items()}
                     if accumulates and total else g)
        out.append(dict(total))
    return out


def _golden_problems(golden: Mapping[str, Any] | None, result: ProbeResult,
                     rtol: float, framework: str) -> list[str]:
    if not golden:
        return []
    problems = []
    if "message" in golden and golden["framework"] == framework:
        key = golden.get("message_key", golden["message"])
        got = result.error.message if result.error else ""
        if " ".join(key.split()) not in " ".join(got.split()):
            problems.append(f"message {got!r} does not contain the note's {key!r}")
    for name, value in (golden.get("values") or {}).items():
        obs = result.values.get(name)
        if (value is None) != (obs is None):
            problems.append(f"{name}: {'absent' if obs is None else 'a value'}, but the note "
                            f"shows {'None' if value is None else value}")
        elif value is not None:
            cmp = compare_golden({name: np.asarray(obs)}, {name: value}, rtol, None)
            if not cmp.ok:
                problems.append("differs from the note's golden value: " + cmp.reason)
    for k, step in enumerate(golden.get("steps") or []):
        if k >= len(result.steps):
            problems.append(f"the note shows {len(golden['steps'])} steps, the probe made "
                            f"{len(result.steps)}")
            break
        obs_step = {n: result.steps[k].get(n) for n in step}
        missing = [n for n, a in obs_step.items() if a is None]
        if missing:
            problems.append(f"step {k + 1}: {', '.join(missing)} absent, the note shows values")
            continue
        cmp = compare_golden({n: np.asarray(a) for n, a in obs_step.items()}, step, rtol, None)
        if not cmp.ok:
            problems.append(f"step {k + 1} differs from the note: {cmp.reason}")
    return problems
