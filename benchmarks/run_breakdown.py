"""Where a full run's time goes: per framework, wall time, framework calls, oracle, the rest
(pytest, collection, records), per check kind; and each adapter's import-and-start time.

    python benchmarks/run_breakdown.py --streams DIR          # read DIR/*.jsonl
    python benchmarks/run_breakdown.py --imports torch        # in torch's venv: time the import
    python benchmarks/run_breakdown.py --timings FILE         # .nox/_timings/<pid>.jsonl

Both merge into benchmarks/results/run-breakdown.json and rewrite run-breakdown.md.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "results"
ADAPTERS = {"torch": "gradconf_adapters.torch_adapter:TorchAdapter",
            "jax": "gradconf_adapters.jax_adapter:JaxAdapter",
            "tensorflow": "gradconf_adapters.tf_adapter:TensorflowAdapter",
            "autograd": "gradconf_autograd.adapter:AutogradAdapter"}


def streams(directory: Path) -> dict[str, dict[str, object]]:
    """Per framework: items, wall seconds, framework and oracle seconds, per kind."""
    out: dict[str, dict[str, object]] = {}
    for path in sorted(directory.glob("*.jsonl")):
        lines = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()
                 if line.strip()]
        head = next(x for x in lines if "environment" in x)["environment"]
        end = next((x["end"] for x in lines if "end" in x), None)
        recs = [x for x in lines if "verdict" in x]
        if not recs or end is None:
            continue
        wall = (datetime.fromisoformat(end["time"]) - datetime.fromisoformat(head["time"]))
        kinds: dict[str, list[float]] = defaultdict(lambda: [0, 0.0, 0.0])
        for r in recs:
            k = kinds[r["kind"]]
            k[0] += 1
            k[1] += r.get("duration_s") or 0.0
            k[2] += r.get("oracle_s") or 0.0
        fw = recs[0]["framework"]
        compiled = [r for r in recs if r.get("execution") == "compiled"]
        out[fw] = {"version": recs[0]["framework_version"], "items": len(recs),
                   "compiled_items": len(compiled),
                   "compile_s": round(sum(r.get("compile_s") or 0.0 for r in compiled), 1),
                   "cases": len({(r["file"], r["case"]) for r in recs}),
                   "wall_s": wall.total_seconds(),
                   "framework_s": round(sum(k[1] for k in kinds.values()), 2),
                   "oracle_s": round(sum(k[2] for k in kinds.values()), 2),
                   "references_cached": sum(1 for r in recs if r.get("reference_cached")),
                   "by_kind": {k: {"items": v[0], "framework_s": round(v[1], 2),
                                   "oracle_s": round(v[2], 2)} for k, v in sorted(kinds.items())}}
    return out


def import_time(framework: str) -> float:
    """Seconds to import the adapter and start it, in a fresh interpreter."""
    module, _, cls = ADAPTERS[framework].partition(":")
    code = (f"import time; t = time.perf_counter(); import {module} as m; m.{cls}(); "
            "print(time.perf_counter() - t)")
    t0 = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    return float(done.stdout.strip().splitlines()[-1]) if done.stdout.strip() else \
        time.perf_counter() - t0


def timings(path: Path) -> dict[str, dict[str, float]]:
    """Per nox session, from the noxfile's step marks: the virtualenv nox made before the
    session started (the gap since the previous session ended), pip's install, the unit
    tests and the case run, in seconds."""
    marks = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out: dict[str, dict[str, float]] = {}
    last_end = next((m["t"] for m in marks if m["session"] == "nox"), marks[0]["t"])
    steps: dict[str, dict[str, float]] = {}
    for m in marks:
        if m["session"] != "nox":
            steps.setdefault(m["session"], {})[m["step"]] = m["t"]
    for name, t in steps.items():
        if "start" not in t or "end" not in t:
            continue
        installed = t.get("installed", t["start"])
        cases = t.get("cases", t["end"])
        out[name] = {"virtualenv_s": round(t["start"] - last_end, 1),
                     "install_s": round(installed - t["start"], 1),
                     "unit_s": round(cases - t["unit"], 1) if "unit" in t else 0.0,
                     "cases_s": round(t["end"] - cases, 1),
                     "total_s": round(t["end"] - last_end, 1)}
        last_end = t["end"]
    return out


def floor(data: dict[str, object]) -> dict[str, float]:
    """The run's floor and its ratio to it. The floor is what no engine can avoid: each
    worker's import, the framework's own calls, and one oracle pass for the whole run
    (the largest framework's oracle seconds stand for it: with the reference cache the
    first session pays it and the others read), spread over the workers; the
    run is the sum of the frameworks' pytest wall times."""
    runs: dict[str, dict[str, Any]] = data.get("runs", {})  # type: ignore[assignment]
    imports: dict[str, float] = data.get("imports", {})  # type: ignore[assignment]
    if not runs:
        return {}
    workers = int(data.get("workers", 2))  # type: ignore[call-overload]
    oracle_once = max(float(r["oracle_s"]) for r in runs.values())
    calls = sum(float(r["framework_s"]) for r in runs.values())
    start = sum(imports.get(fw, 0.0) for fw in runs)
    floor_s = start + (calls + oracle_once) / workers
    wall = sum(float(r["wall_s"]) for r in runs.values())
    oracle = sum(float(r["oracle_s"]) for r in runs.values())
    return {"wall_s": round(wall, 1), "floor_s": round(floor_s, 1),
            "ratio": round(wall / floor_s, 2) if floor_s else float("nan"),
            "framework_s": round(calls, 1), "oracle_s": round(oracle, 1),
            "oracle_once_s": round(oracle_once, 1), "import_s": round(start, 1),
            "workers": workers}


def markdown(data: dict[str, object]) -> str:
    runs: dict[str, dict[str, object]] = data.get("runs", {})  # type: ignore[assignment]
    imports: dict[str, float] = data.get("imports", {})  # type: ignore[assignment]
    out = ["# Where a full run's time goes", "",
           f"Measured {data.get('measured', '?')} on {data.get('machine', '?')}: every case "
           "file on each framework, `pytest cases -n 2` as `nox -s tests` runs it. *framework* "
           "is the time inside the framework's calls (summed over both workers), *oracle* the "
           "reference computations, *import* the adapter's import and start in a fresh "
           "interpreter (paid once per worker).", "",
           "| framework | version | cases | items | wall (s) | framework (s) | oracle (s) | "
           "references cached | import (s) |", "|---|---|---|---|---|---|---|---|---|"]
    for fw, r in runs.items():
        out.append(f"| {fw} | {r['version']} | {r['cases']} | {r['items']} | {r['wall_s']:.0f} "
                   f"| {r['framework_s']:.1f} | {r['oracle_s']:.1f} | "
                   f"{r.get('references_cached', 0)} | {imports.get(fw, float('nan')):.1f} |")
    f = floor(data)
    if f:
        out += ["", f"The run: {f['wall_s']:.0f} s of pytest wall time over the four "
                f"frameworks; its floor (imports {f['import_s']:.1f} s, then framework calls "
                f"{f['framework_s']:.0f} s and one oracle pass {f['oracle_once_s']:.0f} s over "
                f"{f['workers']} workers) is {f['floor_s']:.0f} s: **{f['ratio']:.2f}x** the "
                "floor."]
    compiled = {fw: r for fw, r in runs.items() if r.get("compiled_items")}
    if compiled:
        out += ["", "Compiled execution inside those runs (compile: a check's first call less "
                "its repeat, or the whole first call with `--repeat 1`): " + "; ".join(
                    f"{fw} {r['compiled_items']} items, {r['compile_s']:.0f} s"
                    for fw, r in compiled.items()) + "."]
    sessions: dict[str, dict[str, float]] = data.get("nox", {})  # type: ignore[assignment]
    if sessions:
        out += ["", "The nox sessions around those runs (seconds; *virtualenv* is nox making "
                "the session's venv, *install* pip):", "",
                "| session | virtualenv | install | unit tests | case run | total |",
                "|---|---:|---:|---:|---:|---:|"]
        for name, t in sessions.items():
            out.append(f"| {name} | {t['virtualenv_s']:.0f} | {t['install_s']:.0f} | "
                       f"{t['unit_s']:.0f} | {t['cases_s']:.0f} | {t['total_s']:.0f} |")
        overhead = sum(t["virtualenv_s"] + t["install_s"] for t in sessions.values())
        total = sum(t["total_s"] for t in sessions.values())
        out += ["", f"nox and pip overhead: {overhead:.0f} s of {total:.0f} s "
                f"({100 * overhead / total:.0f} %)." if total else ""]
    out += ["", "Per check kind (framework s / oracle s, items):", "",
            "| kind | " + " | ".join(runs) + " |", "|---|" + "---|" * len(runs)]
    kinds = sorted({k for r in runs.values() for k in r["by_kind"]})  # type: ignore[union-attr]
    for k in kinds:
        cells = []
        for r in runs.values():
            v = r["by_kind"].get(k)  # type: ignore[union-attr]
            cells.append(f"{v['framework_s']:.1f} / {v['oracle_s']:.1f} ({v['items']})" if v
                         else "")
        out.append(f"| {k} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--streams", type=Path)
    p.add_argument("--imports", nargs="*", default=[])
    p.add_argument("--timings", type=Path, help="the noxfile's step marks of the same run")
    p.add_argument("--machine", default="2 cores, no GPU")
    args = p.parse_args()
    OUT.mkdir(exist_ok=True)
    path = OUT / "run-breakdown.json"
    data = json.loads(path.read_text()) if path.exists() else {}
    if args.streams:
        data["runs"] = streams(args.streams)
    if args.timings:
        data["nox"] = timings(args.timings)
    if args.streams or args.timings:
        data["measured"] = datetime.now().date().isoformat()
        data["machine"] = args.machine
    for fw in args.imports:
        data.setdefault("imports", {})[fw] = round(import_time(fw), 2)
    data["floor"] = floor(data)
    path.write_text(json.dumps(data, indent=1) + "\n")
    (OUT / "run-breakdown.md").write_text(markdown(data))
    print((OUT / "run-breakdown.md").read_text())


if __name__ == "__main__":
    main()
