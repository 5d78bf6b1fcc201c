"""One cold oracle pass over the whole corpus: every reference of every check, case and
dtype (one oracle shared by a case's checks as in a run, no reference cache), computed
with the stencils' points stacked (``gradconf.batch``, what runs do) and
again one point at a time (``Oracle.f_stack`` replaced by a loop over ``Oracle.f``). Writes
benchmarks/results/oracle-pass.{json,md}; the references of both passes are compared bit
for bit and the figure is only written when they agree.

    python benchmarks/oracle_pass.py

No framework is imported: the oracle is NumPy and SciPy only.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from gradconf import oracle as oracle_module
from gradconf.judge import _reference
from gradconf.loader import load_paths
from gradconf.runner import _vectors

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"


def _pass(cases: list[Any]) -> tuple[dict[str, float], Counter[str], dict[tuple, bytes]]:
    oracle_module._CACHE.clear()  # cold: as a run's first session, sharing within a case
    seconds: Counter[str] = Counter()
    evaluations: Counter[str] = Counter()
    refs: dict[tuple, bytes] = {}
    for case in cases:
        for dtype in case.dtypes:
            for check in case.checks:
                if check.kind in ("value", "rev_fwd") or not getattr(check, "wrt", None):
                    continue
                vectors = _vectors(case, check, dtype, case.output_dtype(dtype))
                t0 = time.perf_counter()
                o = oracle_module.oracle_for(case, dtype, tuple(check.wrt))
                before = o.evaluations
                try:
                    ref = _reference(case, check, dtype, vectors, o)
                    refs[(case.id, dtype, check.id)] = b"".join(
                        np.asarray(part).tobytes() for e in ref.values()
                        for part in (e.value, e.err, e.classification.encode(),
                                     e.lo if e.lo is not None else b"",
                                     e.hi if e.hi is not None else b""))
                except Exception as exc:  # recorded as the run would record it
                    refs[(case.id, dtype, check.id)] = repr(exc).encode()
                seconds[check.kind] += time.perf_counter() - t0
                evaluations[check.kind] += o.evaluations - before
    return dict(seconds), evaluations, refs


def main() -> None:
    cases = load_paths([ROOT / "cases"], root=ROOT).cases
    stacked_s, evals, stacked_refs = _pass(cases)
    one_at_a_time = oracle_module.Oracle.f_stack

    def loop(self: oracle_module.Oracle, xs: np.ndarray) -> np.ndarray:
        return np.stack([self.f(x) for x in xs])
    oracle_module.Oracle.f_stack = loop  # type: ignore[method-assign]
    try:
        alone_s, _, alone_refs = _pass(cases)
    finally:
        oracle_module.Oracle.f_stack = one_at_a_time  # type: ignore[method-assign]
    differ = sorted(k for k in stacked_refs if stacked_refs[k] != alone_refs.get(k))
    if differ:
        raise SystemExit(f"{len(differ)} references differ between the passes, e.g. {differ[:3]}")
    commit = subprocess.run(["git", "rev-parse", "--short=10", "HEAD"], cwd=ROOT,
                            capture_output=True, text=True).stdout.strip()
    kinds = sorted(set(stacked_s) | set(alone_s))
    doc = {"benchmark": "oracle-pass", "cases": len(cases), "references": len(stacked_refs),
           "identical": True, "python": platform.python_version(),
           "numpy": np.__version__, "cpus": os.cpu_count(), "commit": commit,
           "when": datetime.now(UTC).isoformat(timespec="seconds"),
           "load_average": os.getloadavg()[0],
           "per_kind": {k: {"stacked_s": round(stacked_s.get(k, 0.0), 3),
                            "point_by_point_s": round(alone_s.get(k, 0.0), 3),
                            "evaluations": evals[k]} for k in kinds},
           "stacked_s": round(sum(stacked_s.values()), 3),
           "point_by_point_s": round(sum(alone_s.values()), 3)}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "oracle-pass.json").write_text(json.dumps(doc, indent=2) + "\n")
    rows = [f"| {k} | {evals[k]:,} | {alone_s.get(k, 0):.1f} s | {stacked_s.get(k, 0):.1f} s |"
            for k in kinds]
    (OUT / "oracle-pass.md").write_text("\n".join([
        "# One cold oracle pass over the corpus",
        "",
        f"Every reference of every check, case and dtype ({len(stacked_refs):,} references, "
        f"{len(cases)} cases), computed once with each stencil round's points stacked into "
        "one evaluation of the program (`gradconf/batch.py`) and once one point at a time. "
        "The two passes' references (value, error, class, subgradient bounds) are "
        "bit-identical.",
        "",
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()}, NumPy "
        f"{np.__version__}, commit {commit}, {doc['when']}, load average "
        f"{doc['load_average']:.1f} at the end.",
        "",
        "| check | function evaluations | point by point | stacked |",
        "|---|---:|---:|---:|",
        *rows,
        f"| **all** | {sum(evals.values()):,} | **{doc['point_by_point_s']:.1f} s** | "
        f"**{doc['stacked_s']:.1f} s** |",
        ""]))
    print(json.dumps({k: doc[k] for k in ("stacked_s", "point_by_point_s", "references")}))


if __name__ == "__main__":
    main()
