"""Cost of a conformance run, per check kind: oracle evaluations and seconds, framework
seconds. Writes benchmarks/results/run-cost.json.

    python benchmarks/run_cost.py [--framework torch] [--repeat 3]

The oracle is rebuilt for every repetition (no cache), so its figures are the cost of a
cold run; the framework's figures are the median over the repetitions.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from collections import defaultdict
from pathlib import Path

from gradconf import oracle as oracle_module
from gradconf.adapter import load_adapter
from gradconf.loader import load_paths
from gradconf.runner import run_check

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results" / "run-cost.json"


def main() -> None:
    """Run every check of every shipped case and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--framework", default="torch")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = load_paths([ROOT / "cases"], root=ROOT).cases
    adapter = load_adapter(args.framework)
    per_kind: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for _ in range(args.repeat):
        oracle_module._CACHE.clear()
        for case in cases:
            for dtype in case.dtypes:
                for check in case.checks:
                    before = sum(o.evaluations for _, o in oracle_module._CACHE.values())
                    t0 = time.perf_counter()
                    rec = run_check(case, check, dtype, adapter, adapter.version())
                    wall = time.perf_counter() - t0
                    after = sum(o.evaluations for _, o in oracle_module._CACHE.values())
                    row = per_kind[check.kind]
                    row["framework_s"].append(rec["duration_s"])
                    row["oracle_s"].append(rec["oracle_s"])
                    row["oracle_evaluations"].append(after - before)
                    row["wall_s"].append(wall)
    n = args.repeat
    summary = {kind: {"items": len(v["wall_s"]) // n,
                      **{k: round(sum(xs) / n, 6) for k, xs in v.items()},
                      "median_item_wall_s": round(statistics.median(v["wall_s"]), 6)}
               for kind, v in sorted(per_kind.items())}
    doc = {"benchmark": "run-cost", "framework": args.framework,
           "framework_version": adapter.version(), "python": platform.python_version(),
           "machine": platform.machine(), "repeat": n, "cases": len(cases),
           "per_kind": summary,
           "total_wall_s": round(sum(v["wall_s"] for v in summary.values()), 3)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
