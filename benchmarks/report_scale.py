"""The HTML pages at scale: a synthetic results document of 50,000 records, and a diff of
50,000 changes, shaped like real ones (two frameworks, eager and compiled, every check
kind, float32 and float64, arrays, golden numbers, failing records with their messages,
tracebacks and reproducers, probes, declared divergences). Both pages are rendered and
opened in headless Chromium (Debian's, driven by Playwright's Python package); the file
sizes, the time to load and first render, and the time to apply a filter are written to
benchmarks/results/report-scale.{json,md}.

    python benchmarks/report_scale.py [--records 50000] [--runs 2]

Targets: each page under 20 MB, opened and filtered in under 2 s.
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from gradconf import SCHEMA_VERSION
from gradconf.arrays import encode
from gradconf.compare import tolerance_for
from gradconf.diff import diff
from gradconf.report.html import render, render_diff

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "results"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VERSIONS = {"torch": "2.14.1+cpu", "jax": "0.4.30"}
CHECKS = ("value", "vjp", "jvp", "jacobian-rev")
OPS = ("sin", "cos", "exp", "log", "tanh", "sqrt", "abs", "maximum", "where", "matmul",
       "sum", "prod", "logsumexp", "clamp", "pow", "atan2")
TOPICS = [f"topic{k:02d}" for k in range(40)]
MESSAGE = "X[1, 0]: 3.25, but should be 3 (|diff| 0.25 > bound 1.14e-05)"
REPRODUCER = ("import torch\n\nx = torch.tensor([0.5, 3.0], dtype=torch.float32, "
              "requires_grad=True)\ny = torch.sin(x).sum()\n(g,) = torch.autograd.grad(y, x)\n"
              "print(g[1].item())  # the disputed number\n")


def _kind(check: str) -> str:
    return "probe" if check.startswith("probe-") else check.split("-")[0]


def make_record(rng: np.random.Generator, case: int, fw: str, check: str, dtype: str,
                execution: str, roll: float) -> dict[str, Any]:
    """One record, its verdict chosen by ``roll``: mostly passes, some failures."""
    topic = TOPICS[case % len(TOPICS)]
    cid = f"{topic}-case{case:05d}"
    shape = (2, 3) if case % 3 else (4,)
    ref = rng.normal(size=shape)
    obs = ref * (1 + rng.normal(scale=1e-7 if dtype == "float32" else 1e-15, size=shape))
    tol = tolerance_for(dtype, {})
    tag = "" if execution == "eager" else f"{execution}-"
    rec: dict[str, Any] = {
        "nodeid": f"cases/{topic}.yaml::{cid}[{fw}-{tag}{check}-{dtype}]",
        "case": cid, "title": f"{cid}: the derivative of a {topic} expression at a point",
        "file": f"cases/{topic}.yaml", "line": 3 + 20 * (case // len(TOPICS) % 50),
        "source": {"note": f"{case % 40:03d}_{topic}", "section": "2. worked example"},
        "ops": sorted({OPS[case % len(OPS)], OPS[(case * 7) % len(OPS)], "sum"}),
        "framework": fw, "framework_version": VERSIONS[fw], "check": check,
        "kind": _kind(check), "dtype": dtype, "execution": execution, "verdict": "pass",
        "message": "", "observed": {"out": encode(obs.astype(dtype))},
        "reference": {"out": encode(ref)}, "golden": None, "tolerance": tol,
        "max_abs_err": float(np.max(np.abs(obs - ref))),
        "max_rel_err": float(np.max(np.abs(obs - ref) / np.abs(ref))),
        "oracle_err": 1e-12, "classification": "smooth", "outcome": None,
        "error_kind": None, "warnings": [], "duration_s": 0.0012, "oracle_s": 0.0004,
        "traceback": "", "reference_steps": None}
    if roll < 0.04:
        bad = obs.copy()
        bad.flat[-1] *= 1.08
        rec.update(verdict="mismatch", message=MESSAGE, observed={"out": encode(bad.astype(dtype))},
                   golden={"out": encode(ref + 1e-4)}, golden_ok=False, max_abs_err=0.25,
                   max_rel_err=0.08, worst={"name": "out", "index": [1], "observed": 3.25,
                                            "reference": 3.0, "bound": 1.14e-05},
                   reproducer=REPRODUCER if fw == "torch" else None)
        if rec["reproducer"] is None:
            del rec["reproducer"]
    elif roll < 0.05:
        msg = "grad can be implicitly created only for scalar outputs"
        rec.update(verdict="error", message=f"raised RuntimeError: {msg}",
                   error_kind="non_scalar_output", observed=None, max_abs_err=None,
                   max_rel_err=None, error={"type": "RuntimeError", "message": msg},
                   traceback="Traceback (most recent call last):\n" + "  File x.py\n" * 30)
    elif roll < 0.06:
        rec.update(verdict="expected_divergence", message=f"declared divergence: {MESSAGE}",
                   divergence={"kind": "api", "versions": ">=2.13",
                               "reason": "sums the per-column gradients of a non-scalar output",
                               "link": "https://github.com/pytorch/pytorch/issues/12345"})
    return rec


def probe(case: int, fw: str) -> dict[str, Any]:
    rec = make_record(np.random.default_rng(case), case, fw, "probe-second-pass", "float32",
                      "eager", 1.0)
    two = encode(np.float32([2.0]), "float32")
    rec.update(observed=None, reference=None, max_abs_err=None, max_rel_err=None,
               outcome={"kind": "value", "values": {"x": two}, "steps": [{"x": two}],
                        "idiom": "y.backward(retain_graph=True); y.backward()"},
               expected={"outcome": "value"}, reference_steps=[{"x": two}])
    return rec


def results_document(n: int, seed: int = 0) -> dict[str, Any]:
    """``n`` records: per case, two frameworks × four checks × two dtypes, one check
    compiled, and a probe per framework on every tenth case."""
    rng = np.random.default_rng(seed)
    records: list[dict[str, Any]] = []
    case = 0
    while len(records) < n:
        for fw in ("jax", "torch"):
            for check in CHECKS:
                for dtype in ("float32", "float64"):
                    records.append(make_record(rng, case, fw, check, dtype, "eager",
                                               float(rng.random())))
            records.append(make_record(rng, case, fw, "vjp", "float32", "compiled",
                                       float(rng.random())))
            if case % 10 == 0:
                records.append(probe(case, fw))
        case += 1
    records = records[:n]
    frameworks = sorted({r["framework"] for r in records})
    counts: dict[str, int] = {}
    for r in records:
        counts[r["verdict"]] = counts.get(r["verdict"], 0) + 1
    return {"schema_version": SCHEMA_VERSION,
            "environment": {"python": platform.python_version(), "platform": "synthetic",
                            "numpy": np.__version__, "gradconf": "0.1.0",
                            "git_revision": "synthetic", "time": "2026-01-02T03:04:05+00:00",
                            "frameworks": {fw: VERSIONS[fw] for fw in frameworks}},
            "summary": {"total": len(records), "verdicts": counts},
            "runs": {}, "records": records}


def diff_document(base: dict[str, Any]) -> dict[str, Any]:
    """A diff in which every item changed: verdicts turned, values drifted."""
    cand = copy.deepcopy(base)
    for k, r in enumerate(cand["records"]):
        r["framework_version"] = "9.9.9"
        if k % 7 == 0:
            r.update(verdict="mismatch" if r["verdict"] == "pass" else "pass",
                     message="out[0]: moved")
        elif r.get("observed"):
            for a in r["observed"].values():
                a["data"] = [x * 1.5 if isinstance(x, float) else x for x in a["data"]]
        else:
            r["message"] = (r["message"] or "") + " (reworded)"
            if r["verdict"] == "pass":
                r["verdict"] = "convention"
    return diff(base, cand, fail_on=())


# every view drawn: the index page draws its heatmap and tables after the first rows
DRAWN = "!(window.gradconf && window.gradconf.drawn) || window.gradconf.drawn()"


def measure(path: Path, first_rows: str, select: str, value: str, rows: str) -> dict[str, Any]:
    """Open ``path`` in Chromium: seconds to the first rows, and to load and render every
    view (rows, heatmap and tables drawn); then to apply a filter through its select (every
    view redrawn), and a text search."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            t0 = time.perf_counter()
            page.goto(path.as_uri(), wait_until="commit", timeout=60_000)
            page.wait_for_selector(first_rows, timeout=60_000)
            first = time.perf_counter() - t0
            page.wait_for_load_state("load", timeout=60_000)
            page.wait_for_function(DRAWN, timeout=60_000, polling=10)
            opened = time.perf_counter() - t0
            before = page.locator(rows).count()
            t0 = time.perf_counter()
            page.select_option(select, value)
            page.wait_for_function(f"location.hash.includes({json.dumps(value)}) && "
                                   f"document.querySelector({json.dumps(first_rows)}) && "
                                   f"({DRAWN})", timeout=60_000, polling=10)
            filtered = time.perf_counter() - t0
            t0 = time.perf_counter()
            page.fill("#f-q", "case00")
            page.wait_for_function(f"location.hash.includes('q=case00') && ({DRAWN})",
                                   timeout=60_000, polling=10)
            searched = time.perf_counter() - t0
            after = page.locator(rows).count()
            shown = page.locator("h3 span[id$=-shown]").first.inner_text()
            if errors:
                raise RuntimeError(f"{path.name}: {errors}")
            return {"bytes": path.stat().st_size, "mb": round(path.stat().st_size / 1e6, 2),
                    "first_rows_s": round(first, 3), "open_s": round(opened, 3),
                    "filter_s": round(filtered, 3),
                    "open_and_filter_s": round(opened + filtered, 3),
                    "text_search_s": round(searched, 3), "rows_before": before,
                    "rows_after": after, "shown_after": shown}
        finally:
            browser.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=50_000)
    ap.add_argument("--runs", type=int, default=2,
                    help="measure each page this many times (the machine may be shared)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    doc = results_document(args.records)
    changes = diff_document(doc)
    made = time.perf_counter() - t0
    with tempfile.TemporaryDirectory() as tmp:
        index, diff_page = Path(tmp) / "index.html", Path(tmp) / "diff.html"
        t0 = time.perf_counter()
        index.write_text(render(doc), encoding="utf-8")
        render_index_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        diff_page.write_text(render_diff(changes), encoding="utf-8")
        render_diff_s = time.perf_counter() - t0
        pages: dict[str, dict[str, Any]] = {
            "index.html": {"records": len(doc["records"]), "render_s": round(render_index_s, 2),
                           "runs": []},
            "diff.html": {"changes": len(changes["changes"]), "render_s": round(render_diff_s, 2),
                          "runs": []},
        }
        for _ in range(args.runs):
            for name, path, rows, select, value in (
                    ("index.html", index, "#records tbody tr.rec", "#f-v", "mismatch"),
                    ("diff.html", diff_page, "#changes tbody tr.group", "#f-cat", "regression")):
                load = os.getloadavg()[0]
                run = measure(path, rows, select, value, rows)
                pages[name]["runs"].append({**run, "load_1min": round(load, 2),
                                            "cores": os.cpu_count()})
                pages[name].update(bytes=run["bytes"], mb=run["mb"])
    met = {name: [r["open_and_filter_s"] < 2 and p["mb"] < 20 for r in p["runs"]]
           for name, p in pages.items()}
    result = {"date": datetime.now(UTC).isoformat(timespec="seconds"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                         f"{platform.python_version()}",
              "browser": CHROMIUM, "make_documents_s": round(made, 1),
              "targets": {"mb": 20, "open_and_filter_s": 2}, "pages": pages,
              "met_per_run": met, "met": all(all(m) for m in met.values())}
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "report-scale.json").write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    lines = ["# The HTML pages at scale", "",
             f"`benchmarks/report_scale.py`, {result['date']}, {result['machine']}, headless "
             "Chromium, each page opened in a fresh browser, twice over. Synthetic documents "
             "shaped like real ones; times are wall clock from Playwright: navigation to the "
             "first rows; to the load event with every view drawn (the index page draws its "
             "heatmap and tables just after the first rows); a filter through its select to "
             "every view redrawn. The load is the machine's 1-minute load average when the "
             "run started (the cores are shared with other work).", "",
             "| page | items | size | run | load | first rows | open, all drawn | filter | "
             "open + filter | text search | rows shown after |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, p in pages.items():
        items = p.get("records", p.get("changes"))
        for k, r in enumerate(p["runs"], 1):
            lines.append(f"| `{name}` | {items:,} | {p['mb']} MB | {k} | {r['load_1min']} | "
                         f"{r['first_rows_s']} s | {r['open_s']} s | {r['filter_s']} s | "
                         f"**{r['open_and_filter_s']} s** | {r['text_search_s']} s | "
                         f"{r['shown_after']} |")
    verdicts = "; ".join(f"`{name}` {sum(m)} of {len(m)} runs" for name, m in met.items())
    lines += ["", f"Targets: under 20 MB, open + filter under 2 s: "
              f"{'met in every run' if result['met'] else 'NOT met in every run'} "
              f"({verdicts}).", ""]
    (OUT / "report-scale.md").write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
