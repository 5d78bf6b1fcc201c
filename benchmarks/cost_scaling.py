"""Cost of one check against input size n: gradconf exact and fast mode next to
torch.autograd.gradcheck slow mode and fast_mode=True, on the same function in the same run.
Writes benchmarks/results/cost-scaling.json, cost-scaling.png and cost-scaling.md.

    python benchmarks/cost_scaling.py [--max-size N] [--budget S] [--memory GB] [--threads T]

The function is sum(tanh(x) * x) of an n-entry float64 input (normal, seed 0), smooth
everywhere, written as a gradconf case and loaded with gradconf's loader; gradcheck gets the
same program lowered to torch ops at the same point. gradconf runs its vjp check with
repeat=1 (one framework vjp, no repetition for the nondeterminism check).

Counted per check: calls of the function (gradconf: the NumPy reference's evaluations by the
oracle, and the framework's forward calls; gradcheck: calls of the function it was given)
and backward passes. Timed: wall time of the whole check; for gradconf also the
framework's part (``duration_s``) and the oracle's (``oracle_s``). A check that takes under
a second is repeated (up to 5 runs, about a second in all) and the run with the median
wall time is kept. The units the fast-mode target is stated in are measured at every n:
one torch forward plus backward pass, and one NumPy evaluation of the function.

torch runs on one thread by default (``--threads``), as in a conformance run under
pytest-xdist, and as NumPy's elementwise evaluation does: on a shared machine, torch's
thread pool under contention slows gradcheck's many small operations by an order of
magnitude, which would measure the neighbours rather than the method.

Exact modes grow with n. A size is skipped, with all larger ones, when the previous size
took longer than the budget or the time projected for it from the growth measured so far
exceeds the budget (growth exponent: the larger of the time's and the evaluation count's
between the last two sizes measured). Memory is treated the same way: each check's peak
memory above what the process held before it is measured (the kernel's peak-RSS counter,
reset before the check), a size whose projected peak exceeds ``--memory`` is skipped, and
the check runs under an address-space limit of that much more than the process had, so a
check that outgrows it stops with an allocation error instead of exhausting the machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.autograd import gradcheck

from gradconf import oracle as oracle_module
from gradconf.adapter import Adapter, load_adapter
from gradconf.allocator import hold_freed_memory
from gradconf.case import Case
from gradconf.expr import evaluate
from gradconf.loader import load_file
from gradconf.runner import env_for, run_check
from gradconf_adapters.torch_adapter import LOWERING

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SIZES = (10, 100, 1000, 10**4, 10**5, 10**6)
FUNCTION = "sum(tanh(x) * x)"
DTYPE = "float64"
REPEAT = 1            # run_check's repeat: one framework vjp per check
MIN_TIMED_S = 1.0     # a check shorter than this is run again ...
MAX_RUNS = 5          # ... up to this many times, keeping the median run
TOOLS = ("gradconf_exact", "gradconf_fast", "gradcheck_slow", "gradcheck_fast")
LABELS = {"gradconf_exact": "gradconf exact", "gradconf_fast": "gradconf fast",
          "gradcheck_slow": "gradcheck slow", "gradcheck_fast": "gradcheck fast_mode"}

CASE_YAML = """\
cases:
  - id: cost-scaling-n{n}
    title: "sum(tanh(x) * x) of a {n}-entry input"
    source: {{note: benchmark, section: cost-scaling}}
    inputs:
      x: {{shape: [{n}], init: normal, seed: 0}}
    function: "{function}"
    dtypes: [{dtype}]
    checks: [vjp]
"""


# ---------------------------------------------------------------- the case


def load_case(n: int, directory: Path) -> Case:
    """The benchmark's case at size ``n``, written as YAML and read by gradconf's loader."""
    path = directory / f"cost-scaling-n{n}.yaml"
    path.write_text(CASE_YAML.format(n=n, function=FUNCTION, dtype=DTYPE), encoding="utf-8")
    (item,) = load_file(path, path.name)
    if not isinstance(item, Case):
        raise SystemExit(f"the benchmark's case does not load: {item}")
    return item


def torch_function(case: Case) -> tuple[Callable[[torch.Tensor], torch.Tensor], torch.Tensor]:
    """The case's function in torch (the adapter's lowering) and its point as a leaf."""
    (name,) = case.wrt
    x = torch.from_numpy(env_for(case, DTYPE)[name].copy()).requires_grad_(True)

    def f(t: torch.Tensor) -> torch.Tensor:
        return evaluate(case.program, {name: t}, LOWERING)[0]
    return f, x


# ---------------------------------------------------------------- memory


def _status_kb(key: str) -> int:
    """A ``/proc/self/status`` figure (VmRSS, VmHWM, VmSize) in kB."""
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def _reset_peak_rss() -> bool:
    """Reset the kernel's peak-RSS counter (VmHWM) to the current RSS, if allowed."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
            fh.write("5")
        return True
    except OSError:
        return False


class OutOfMemory(Exception):
    """A check needed more memory than the cap allows."""


def _is_allocation_failure(exc: BaseException | str) -> bool:
    text = str(exc)
    return isinstance(exc, MemoryError) or "allocate memory" in text or "MemoryError" in text


@contextmanager
def _memory_cap(cap_bytes: int) -> Iterator[dict[str, float | None]]:
    """Limit the address space to ``cap_bytes`` more than now; afterwards ``peak_mb`` is the
    peak RSS above the RSS at the start (None if the peak counter cannot be reset)."""
    out: dict[str, float | None] = {"peak_mb": None}
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = _status_kb("VmSize") * 1024 + cap_bytes
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resettable = _reset_peak_rss()
    rss0 = _status_kb("VmRSS")
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield out
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        if resettable:
            out["peak_mb"] = max(0.0, (_status_kb("VmHWM") - rss0) / 1024)


def _guarded(measure: Callable[[], dict[str, Any]], cap_bytes: int) -> dict[str, Any]:
    """One measurement under the memory cap, with its peak memory."""
    t0 = time.perf_counter()
    try:
        with _memory_cap(cap_bytes) as mem:
            rec = measure()
    except (MemoryError, RuntimeError) as exc:
        if not _is_allocation_failure(exc):
            raise
        raise OutOfMemory(f"{type(exc).__name__} after {time.perf_counter() - t0:.3g} s: "
                          f"{str(exc).splitlines()[0][:160]}") from exc
    if rec.get("verdict") == "error" and _is_allocation_failure(rec.get("message", "")):
        raise OutOfMemory(f"{rec['message'][:200]}")
    rec["peak_memory_mb"] = mem["peak_mb"]
    return rec


# ---------------------------------------------------------------- measurements


def _median_run(measure: Callable[[], dict[str, Any]], cap_bytes: int) -> dict[str, Any]:
    """Run ``measure`` until about MIN_TIMED_S has passed (at most MAX_RUNS times) and keep
    the run with the median wall time (and the largest peak memory of all runs)."""
    runs = [_guarded(measure, cap_bytes)]
    while len(runs) < MAX_RUNS and sum(r["wall_s"] for r in runs) < MIN_TIMED_S:
        runs.append(_guarded(measure, cap_bytes))
    counts = {(r["evaluations"], r["backward_passes"]) for r in runs}
    runs.sort(key=lambda r: r["wall_s"])
    kept = dict(runs[(len(runs) - 1) // 2])
    peaks = [r["peak_memory_mb"] for r in runs if r["peak_memory_mb"] is not None]
    kept.update(runs=len(runs), counts_vary=len(counts) > 1,
                peak_memory_mb=max(peaks) if peaks else None)
    return kept


@contextmanager
def _counting(adapter: Adapter, counts: dict[str, int]) -> Iterator[None]:
    """Count the adapter's forward calls and vjps (one backward pass each) while inside."""
    forward, vjp = adapter.forward, adapter.vjp  # type: ignore[attr-defined]

    def counted_forward(*args: Any, **kwargs: Any) -> Any:
        counts["forward"] += 1
        return forward(*args, **kwargs)

    def counted_vjp(*args: Any, **kwargs: Any) -> Any:
        counts["vjp"] += 1
        return vjp(*args, **kwargs)
    adapter.forward = counted_forward  # type: ignore[attr-defined]
    adapter.vjp = counted_vjp  # type: ignore[method-assign]
    try:
        yield
    finally:
        del adapter.forward, adapter.vjp  # back to the class's methods


def measure_gradconf(case: Case, adapter: Adapter, fast: bool) -> dict[str, Any]:
    """One cold run of the vjp check (oracle cache cleared) with its counts and times."""
    (check,) = case.checks
    counts = {"forward": 0, "vjp": 0}
    oracle_module._CACHE.clear()
    with _counting(adapter, counts):
        t0 = time.perf_counter()
        rec = run_check(case, check, DTYPE, adapter, adapter.version(), fast=fast,
                        repeat=REPEAT)
        wall = time.perf_counter() - t0
    counted = sum(o.evaluations for _, o in oracle_module._CACHE.values())
    oracle_module._CACHE.clear()
    oracle_evals = rec.get("oracle_evaluations")
    framework_s, oracle_s = rec["duration_s"], rec.get("oracle_s") or 0.0
    return {"verdict": rec["verdict"], "mode": rec.get("mode"),
            "evaluations": (oracle_evals or 0) + counts["forward"],
            "oracle_evaluations": oracle_evals, "oracle_evaluations_counted": counted,
            "framework_forward_calls": counts["forward"], "framework_vjp_calls": counts["vjp"],
            "backward_passes": counts["vjp"],
            "wall_s": wall, "framework_s": framework_s, "oracle_s": oracle_s,
            "other_s": wall - framework_s - oracle_s,
            "max_abs_err": rec.get("max_abs_err"), "oracle_err": rec.get("oracle_err"),
            "message": rec.get("message", "")}


def measure_gradcheck(case: Case, fast: bool) -> dict[str, Any]:
    """One run of torch.autograd.gradcheck, counting calls of the function and backward
    passes through its output, and the time spent inside the function."""
    f, x = torch_function(case)
    calls = {"f": 0, "backward": 0, "in_f_s": 0.0}

    def on_backward(grad: torch.Tensor) -> None:
        calls["backward"] += 1

    def counted(t: torch.Tensor) -> torch.Tensor:
        calls["f"] += 1
        t0 = time.perf_counter()
        y = f(t)
        calls["in_f_s"] += time.perf_counter() - t0
        if y.requires_grad:
            y.register_hook(on_backward)
        return y
    t0 = time.perf_counter()
    ok = gradcheck(counted, (x,), raise_exception=False, fast_mode=fast)
    wall = time.perf_counter() - t0
    return {"verdict": "pass" if ok else "fail", "mode": "fast" if fast else "slow",
            "evaluations": calls["f"], "function_calls": calls["f"],
            "backward_passes": calls["backward"], "wall_s": wall, "framework_s": None,
            "oracle_s": None, "in_function_s": calls["in_f_s"]}


def baselines(case: Case) -> dict[str, float]:
    """Median times of one torch forward + backward pass, one torch forward pass (no
    graph) and one NumPy evaluation of the function by the oracle, at the case's point."""
    f, x = torch_function(case)
    oracle = oracle_module.Oracle(case, DTYPE, case.wrt)

    def forward_backward() -> None:
        x.grad = None
        f(x).backward()

    def forward() -> None:
        with torch.no_grad():
            f(x)
    return {"forward_backward_s": _median_time(forward_backward),
            "torch_forward_s": _median_time(forward),
            "numpy_eval_s": _median_time(lambda: oracle.f(oracle.x0))}


def _median_time(fn: Callable[[], Any], total_s: float = 0.3, most: int = 200) -> float:
    fn()  # first call: allocations and lazy initialisation, not counted
    times: list[float] = []
    while len(times) < 3 or (sum(times) < total_s and len(times) < most):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


# ---------------------------------------------------------------- the time budget


MEMORY_FLOOR_MB = 1.0  # peaks below this are noise: projections start from here


class Budget:
    """Which sizes a tool still runs: see the module's docstring."""

    def __init__(self, seconds: float, memory_mb: float) -> None:
        self.seconds, self.memory_mb = seconds, memory_mb
        # (n, wall_s, evaluations, peak memory MB)
        self.measured: list[tuple[int, float, int, float]] = []
        self.stopped = False
        self.out_of_memory: str | None = None

    def record(self, n: int, rec: dict[str, Any]) -> None:
        """Remember a measured size."""
        mem = max(rec.get("peak_memory_mb") or 0.0, MEMORY_FLOOR_MB)
        self.measured.append((n, rec["wall_s"], rec["evaluations"], mem))

    def stop(self, reason: str) -> None:
        """Skip every larger size, saying why."""
        self.out_of_memory = reason

    def skip_reason(self, n: int) -> str | None:
        """Why size ``n`` is skipped, or None to run it."""
        if self.out_of_memory:
            return self.out_of_memory
        if len(self.measured) < 2:
            return None
        (n1, t1, e1, m1), (n2, t2, e2, m2) = self.measured[-2:]
        span = math.log(n2 / n1)
        growth = max(math.log(t2 / t1) / span, math.log(max(e2, 1) / max(e1, 1)) / span)
        projected = t2 * (n / n2) ** growth
        m_growth = math.log(m2 / m1) / span
        m_projected = m2 * (n / n2) ** m_growth
        where = f"from n={n1} to n={n2}"
        time_over = t2 > self.seconds or projected > self.seconds
        memory_over = m_projected > self.memory_mb
        if not (self.stopped or time_over or memory_over):
            return None
        self.stopped = True
        reasons = []
        if time_over or not memory_over:
            reasons.append(f"time {projected:.3g} s (growth n^{growth:.2f} measured {where}; "
                           f"budget {self.seconds:g} s)")
        if memory_over:
            reasons.append(f"peak memory {m_projected / 1024:.3g} GB (growth n^{m_growth:.2f} "
                           f"measured {where}; cap {self.memory_mb / 1024:g} GB)")
        return f"skipped: projected {' and '.join(reasons)}"


# ---------------------------------------------------------------- the run


def run(sizes: list[int], budget_s: float, memory_gb: float, threads: int) -> dict[str, Any]:
    """Measure every tool at every size (within the budgets) and the baselines."""
    torch.set_num_threads(threads)
    adapter = load_adapter("torch")
    load_at_start = list(os.getloadavg())
    cap = int(memory_gb * 2**30)
    budgets = {tool: Budget(budget_s, memory_gb * 1024) for tool in TOOLS}
    rows: list[dict[str, Any]] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        warm = load_case(10, Path(tmp))  # first use of gradcheck and the oracle: not timed
        measure_gradconf(warm, adapter, False)
        measure_gradcheck(warm, False)
        measure_gradcheck(warm, True)
        for n in sizes:
            case = load_case(n, Path(tmp))
            measures: dict[str, Callable[[], dict[str, Any]]] = {
                "gradconf_exact": lambda c=case: measure_gradconf(c, adapter, False),
                "gradconf_fast": lambda c=case: measure_gradconf(c, adapter, True),
                "gradcheck_slow": lambda c=case: measure_gradcheck(c, False),
                "gradcheck_fast": lambda c=case: measure_gradcheck(c, True)}
            row: dict[str, Any] = {"n": n, "baseline": baselines(case), "tools": {}}
            for tool in TOOLS:
                reason = budgets[tool].skip_reason(n)
                if reason:
                    row["tools"][tool] = {"skipped": reason}
                else:
                    row["tools"][tool] = _measure(tool, n, measures[tool], cap, memory_gb,
                                                  budgets[tool])
                print(f"n={n:>7} {tool:<15} {_brief(row['tools'][tool])}", flush=True)
            row["ratios"] = _ratios(row["tools"])
            rows.append(row)
    total = time.perf_counter() - started
    return {"benchmark": "cost-scaling", "function": FUNCTION, "dtype": DTYPE,
            "check": "vjp (cotangent ones)", "case_yaml": CASE_YAML, "run_check_repeat": REPEAT,
            "budget_s": budget_s, "memory_cap_gb": memory_gb, "sizes": sizes,
            "environment": {**_environment(adapter), "load_average_at_start": load_at_start},
            "rows": rows, "targets": _targets(rows), "total_wall_s": round(total, 1)}


def _measure(tool: str, n: int, measure: Callable[[], dict[str, Any]], cap: int,
             memory_gb: float, budget: Budget) -> dict[str, Any]:
    """The median run of one tool at one size, or why it stopped for want of memory."""
    try:
        rec = _median_run(measure, cap)
    except OutOfMemory as exc:
        budget.stop(f"skipped: {LABELS[tool]} ran out of memory at n={n}")
        return {"skipped": f"stopped: out of memory under the {memory_gb:g} GB cap ({exc})"}
    rec["skipped"] = None
    budget.record(n, rec)
    return rec


def _brief(rec: dict[str, Any]) -> str:
    if rec.get("skipped"):
        return rec["skipped"]
    return (f"{rec['verdict']:<5} {rec['evaluations']:>8} evaluations "
            f"{rec['wall_s']:>10.4f} s ({rec['runs']} run(s))")


def _ratios(tools: dict[str, dict[str, Any]]) -> dict[str, dict[str, float | None]]:
    """gradcheck / gradconf, for time and evaluations, in each mode."""
    out: dict[str, dict[str, float | None]] = {}
    for mode, ours, theirs in (("exact_vs_slow", "gradconf_exact", "gradcheck_slow"),
                               ("fast_vs_fast", "gradconf_fast", "gradcheck_fast")):
        a, b = tools[ours], tools[theirs]
        if a.get("skipped") or b.get("skipped"):
            out[mode] = {"time": None, "evaluations": None}
        else:
            out[mode] = {"time": b["wall_s"] / a["wall_s"],
                         "evaluations": b["evaluations"] / a["evaluations"]}
    return out


def _targets(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The two targets of issue 4 with the measured numbers."""
    fast = [(r["n"], r["tools"]["gradconf_fast"]) for r in rows
            if not r["tools"]["gradconf_fast"].get("skipped")]
    evals = [rec["oracle_evaluations"] for _, rec in fast]
    exact = [(r["n"], r["tools"]["gradconf_exact"]["evaluations"]) for r in rows
             if not r["tools"]["gradconf_exact"].get("skipped")]
    out: dict[str, Any] = {}
    if len(fast) >= 2:
        slope = _slope([(n, rec["evaluations"]) for n, rec in fast])
        out["constant_evaluations"] = {
            "oracle_evaluations_min": min(evals), "oracle_evaluations_max": max(evals),
            "framework_forward_calls": sorted({rec["framework_forward_calls"] for _, rec in fast}),
            "framework_backward_passes": sorted({rec["backward_passes"] for _, rec in fast}),
            "loglog_slope_of_evaluations": slope, "sizes": [n for n, _ in fast],
            "exact_mode_loglog_slope": _slope(exact)}
    big = rows[-1]
    rec = big["tools"]["gradconf_fast"]
    if not rec.get("skipped"):
        base = big["baseline"]
        k = rec["oracle_evaluations"]
        units = base["forward_backward_s"] + k * base["numpy_eval_s"]
        out["largest_fast_check"] = {
            "n": big["n"], "wall_s": rec["wall_s"], "k_numpy_evaluations": k,
            "forward_backward_s": base["forward_backward_s"],
            "numpy_eval_s": base["numpy_eval_s"], "target_units_s": units,
            "ratio_wall_to_target": rec["wall_s"] / units,
            "framework_s_over_forward_backward": rec["framework_s"]
            / base["forward_backward_s"],
            "oracle_s_over_k_numpy": rec["oracle_s"] / (k * base["numpy_eval_s"]),
            "other_s": rec["other_s"]}
    return out


def _slope(points: list[tuple[int, int]]) -> float | None:
    """Least-squares slope of log(evaluations) against log(n)."""
    if len(points) < 2:
        return None
    return float(np.polyfit(np.log([n for n, _ in points]), np.log([e for _, e in points]),
                            1)[0])


def _environment(adapter: Adapter) -> dict[str, Any]:
    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return ""
    return {"date": datetime.now(UTC).isoformat(timespec="seconds"),
            "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "load_average_at_end": list(os.getloadavg()),
            "torch": adapter.version(), "torch_threads": torch.get_num_threads(),
            "numpy": np.__version__, "commit": git("rev-parse", "HEAD"),
            "engine_uncommitted_changes": bool(git("status", "--porcelain", "gradconf",
                                                   "adapters"))}


# ---------------------------------------------------------------- outputs


def write_plot(doc: dict[str, Any], path: Path) -> None:
    """Log-log: evaluations against n and time against n, one line per tool."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_e, ax_t) = plt.subplots(1, 2, figsize=(12, 5), constrained_layout=True)
    markers = {"gradconf_exact": "o", "gradconf_fast": "s", "gradcheck_slow": "^",
               "gradcheck_fast": "v"}
    for tool in TOOLS:
        pts = [(r["n"], r["tools"][tool]) for r in doc["rows"]
               if not r["tools"][tool].get("skipped")]
        ns = [n for n, _ in pts]
        ax_e.plot(ns, [rec["evaluations"] for _, rec in pts], marker=markers[tool],
                  label=LABELS[tool])
        ax_t.plot(ns, [rec["wall_s"] for _, rec in pts], marker=markers[tool],
                  label=LABELS[tool])
    ns = [r["n"] for r in doc["rows"]]
    ax_t.plot(ns, [r["baseline"]["forward_backward_s"] for r in doc["rows"]], "k--",
              lw=0.8, label="one torch forward + backward")
    ax_t.plot(ns, [r["baseline"]["numpy_eval_s"] for r in doc["rows"]], "k:", lw=0.8,
              label="one NumPy evaluation")
    ax_e.set(xscale="log", yscale="log", xlabel="input entries n",
             ylabel="function evaluations per check",
             title="Evaluations (gradconf: NumPy oracle + framework forward)")
    ax_t.set(xscale="log", yscale="log", xlabel="input entries n",
             ylabel="wall time per check (s)", title="Time")
    for ax in (ax_e, ax_t):
        ax.grid(True, which="both", lw=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(f"{doc['function']}, {doc['dtype']}, vjp check; missing points: projected "
                 f"over the {doc['budget_s']:g} s budget or the {doc['memory_cap_gb']:g} GB "
                 "memory cap", fontsize=10)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _per_tool_table(rows: list[dict[str, Any]], cell: Callable[[dict[str, Any]], str]
                    ) -> list[str]:
    """A Markdown table with a row per size and ``cell(record)`` per tool."""
    lines = ["| n | " + " | ".join(LABELS[t] for t in TOOLS) + " |",
             "|---:|" + "---:|" * len(TOOLS)]
    for r in rows:
        lines.append(f"| {r['n']:,} | " + " | ".join(cell(r["tools"][t]) for t in TOOLS) + " |")
    return lines


def _fmt_t(s: float | None) -> str:
    if s is None:
        return "—"
    if s < 1e-3:
        return f"{s * 1e6:.0f} µs"
    if s < 1.0:
        return f"{s * 1e3:.1f} ms"
    return f"{s:.2f} s"


def _fmt_r(x: float | None) -> str:
    if x is None:
        return "—"
    return f"{x:.3g}×"


def write_markdown(doc: dict[str, Any], path: Path) -> None:
    """The tables and the two target statements, for a reviewer."""
    rows, env = doc["rows"], doc["environment"]
    lines = [
        "# Cost against input size",
        "",
        f"`{doc['function']}` of an n-entry {doc['dtype']} input (normal, seed 0), "
        f"{doc['check']}, one gradconf case loaded by gradconf's loader; gradcheck gets "
        "the same program in torch ops at the same point. gradconf runs with "
        f"`repeat={doc['run_check_repeat']}` (one framework vjp: no nondeterminism re-run). "
        "Evaluations: calls of the function — for gradconf the NumPy oracle's evaluations "
        "plus the framework's forward calls, for gradcheck the calls of the function it is "
        "given. Times are wall times of the whole check (median run of up to "
        f"{MAX_RUNS} when one run is under {MIN_TIMED_S:g} s). A size is skipped when its "
        f"time projected from the growth so far exceeds the {doc['budget_s']:g} s budget, or "
        f"its peak memory the {doc['memory_cap_gb']:g} GB cap (which each check also runs "
        "under as an address-space limit).",
        "",
        f"Machine: {env['cpus']} CPUs ({env['machine']}), Python {env['python']}, "
        f"torch {env['torch']} ({env['torch_threads']} thread(s)), NumPy {env['numpy']}, "
        + ("freed memory held for reuse as in a run (`gradconf/allocator.py`), "
           if env.get("freed_memory_held") else "freed memory handed back (glibc's default), ")
        + f"commit {env['commit'][:10]}"
        + (" with uncommitted engine changes" if env["engine_uncommitted_changes"] else "")
        + f", {env['date']}; whole run {doc['total_wall_s']:g} s; load average (1 min) "
        f"{env['load_average_at_start'][0]:.1f} at the start, "
        f"{env['load_average_at_end'][0]:.1f} at the end.",
        "",
        "## Evaluations and time per check",
        "",
    ]

    def cost(rec: dict[str, Any]) -> str:
        if rec.get("skipped"):
            return "skipped"
        bad = "" if rec["verdict"] == "pass" else f" **{rec['verdict']}**"
        return f"{rec['evaluations']:,} ev, {_fmt_t(rec['wall_s'])}{bad}"
    lines += _per_tool_table(rows, cost)
    lines += ["", "Every check that ran passed unless marked. Skipped:", ""]
    for r in rows:
        for tool in TOOLS:
            rec = r["tools"][tool]
            if rec.get("skipped"):
                why = rec["skipped"].removeprefix("skipped: ")
                lines.append(f"- n = {r['n']:,}, {LABELS[tool]}: {why}")
    lines += [
        "",
        "## gradconf: where the time goes",
        "",
        "| n | mode | NumPy evaluations | framework forward / backward | wall | framework "
        "(`duration_s`) | oracle (`oracle_s`) | other | oracle time per evaluation |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        for tool in ("gradconf_exact", "gradconf_fast"):
            rec = r["tools"][tool]
            if rec.get("skipped"):
                continue
            per = rec["oracle_s"] / rec["oracle_evaluations"] if rec["oracle_evaluations"] \
                else None
            lines.append(
                f"| {r['n']:,} | {rec['mode']} | {rec['oracle_evaluations']:,} | "
                f"{rec['framework_forward_calls']} / {rec['backward_passes']} | "
                f"{_fmt_t(rec['wall_s'])} | {_fmt_t(rec['framework_s'])} | "
                f"{_fmt_t(rec['oracle_s'])} | {_fmt_t(rec['other_s'])} | {_fmt_t(per)} |")
    lines += [
        "",
        "## Peak memory per check",
        "",
        "Peak resident memory above what the process held before the check (MB): memory "
        "the process had already freed and reuses does not count, so small figures are "
        "lower bounds; growth is what they show.",
        "",
    ]

    def memory(rec: dict[str, Any]) -> str:
        mem = None if rec.get("skipped") else rec.get("peak_memory_mb")
        return "—" if mem is None else f"{mem:,.1f}"
    lines += _per_tool_table(rows, memory)
    lines += [
        "",
        "## Units: one pass at each size",
        "",
        "| n | torch forward + backward | torch forward (no graph) | one NumPy evaluation |",
        "|---:|---:|---:|---:|",
    ]
    for r in rows:
        b = r["baseline"]
        lines.append(f"| {r['n']:,} | {_fmt_t(b['forward_backward_s'])} | "
                     f"{_fmt_t(b['torch_forward_s'])} | {_fmt_t(b['numpy_eval_s'])} |")
    lines += [
        "",
        "## gradcheck / gradconf",
        "",
        "Ratios above 1: gradcheck costs more.",
        "",
        "| n | time, gradcheck slow / gradconf exact | evaluations, slow / exact | "
        "time, gradcheck fast / gradconf fast | evaluations, fast / fast |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ex, fa = r["ratios"]["exact_vs_slow"], r["ratios"]["fast_vs_fast"]
        lines.append(f"| {r['n']:,} | {_fmt_r(ex['time'])} | {_fmt_r(ex['evaluations'])} | "
                     f"{_fmt_r(fa['time'])} | {_fmt_r(fa['evaluations'])} |")
    lines += ["", "## The targets", ""]
    tg = doc["targets"]
    c = tg.get("constant_evaluations")
    if c:
        lines.append(
            f"- **Fast mode's function evaluations are constant in n**: from n = "
            f"{c['sizes'][0]:,} to {c['sizes'][-1]:,}, every fast check took between "
            f"{c['oracle_evaluations_min']} and {c['oracle_evaluations_max']} NumPy "
            f"evaluations plus {', '.join(map(str, c['framework_forward_calls']))} framework "
            f"forward and {', '.join(map(str, c['framework_backward_passes']))} backward "
            f"pass; the slope of log(evaluations) against log(n) is "
            f"{c['loglog_slope_of_evaluations']:.3f}"
            + (f" (exact mode's: {c['exact_mode_loglog_slope']:.3f})."
               if c["exact_mode_loglog_slope"] is not None else "."))
    big = tg.get("largest_fast_check")
    if big:
        lines.append(
            f"- **A {big['n']:,}-entry case in about one forward + backward pass and a few "
            f"dozen NumPy evaluations**: fast mode took {_fmt_t(big['wall_s'])} at n = "
            f"{big['n']:,}; one forward + backward is {_fmt_t(big['forward_backward_s'])} and "
            f"k = {big['k_numpy_evaluations']} NumPy evaluations (the number observed) are "
            f"{big['k_numpy_evaluations']} × {_fmt_t(big['numpy_eval_s'])}, so the check "
            f"costs **{big['ratio_wall_to_target']:.2f}×** (forward + backward + k × NumPy "
            f"evaluation). Its parts: the framework's vjp "
            f"{big['framework_s_over_forward_backward']:.2f}× one forward + backward, the "
            f"oracle {big['oracle_s_over_k_numpy']:.2f}× k NumPy evaluations, and "
            f"{_fmt_t(big['other_s'])} of setup outside both (building the point, the "
            "cotangent and the record).")
    lines += ["", "## Observations", "", *_observations(doc)]
    lines += ["", "Reproduce: `python benchmarks/cost_scaling.py"
              + (f" --max-size {doc['sizes'][-1]}" if doc["sizes"][-1] != SIZES[-1] else "")
              + (f" --budget {doc['budget_s']:g}" if doc["budget_s"] != 120 else "")
              + (f" --memory {doc['memory_cap_gb']:g}" if doc["memory_cap_gb"] != 4 else "")
              + (f" --threads {env['torch_threads']}" if env["torch_threads"] != 1 else "")
              + "` (figures in `cost-scaling.json`, plot in `cost-scaling.png`).", ""]
    path.write_text("\n".join(lines), encoding="utf-8")


def _observations(doc: dict[str, Any]) -> list[str]:
    """Where each method's cost comes from, read off the largest size each one ran at."""
    def last(tool: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        ran = [r for r in doc["rows"] if not r["tools"][tool].get("skipped")]
        return (ran[-1], ran[-1]["tools"][tool]) if ran else None
    out = []
    got = last("gradconf_exact")
    if got:
        row, rec = got
        n, ev = row["n"], rec["oracle_evaluations"]
        out.append(
            f"- gradconf exact: {ev / n:.1f} NumPy evaluations per input entry (one "
            f"Richardson-extrapolated directional derivative per entry, halving the step "
            f"until it settles); at n = {n:,} each cost {_fmt_t(rec['oracle_s'] / ev)} in "
            f"the oracle against {_fmt_t(row['baseline']['numpy_eval_s'])} for a bare "
            "evaluation (the stencil's steps and the extrapolation are per evaluation), and "
            f"the oracle is {rec['oracle_s'] / rec['wall_s']:.1%} of the check's time.")
    got = last("gradcheck_slow")
    if got:
        row, rec = got
        mems = [(r["n"], r["tools"]["gradcheck_slow"].get("peak_memory_mb") or 0.0)
                for r in doc["rows"] if not r["tools"]["gradcheck_slow"].get("skipped")]
        big = [(n, m) for n, m in mems if m >= MEMORY_FLOOR_MB]
        grow = ""
        if len(big) >= 2:
            (n1, m1), (n2, m2) = big[-2:]
            grow = (f"; its peak memory grows as n^{math.log(m2 / m1) / math.log(n2 / n1):.2f} "
                    f"({m2:,.0f} MB at n = {n2:,})")
        out.append(
            f"- gradcheck slow: {rec['evaluations']:,} calls of the function at n = "
            f"{row['n']:,} (two per input entry, plus {rec['evaluations'] - 2 * row['n']}) and "
            f"{rec['backward_passes']} "
            f"backward passes; {rec['in_function_s'] / rec['wall_s']:.0%} of its time is "
            f"spent inside the function, the rest in its per-entry bookkeeping{grow}.")
    got = last("gradcheck_fast")
    if got:
        row, rec = got
        ran = [r["tools"]["gradcheck_fast"] for r in doc["rows"]
               if not r["tools"]["gradcheck_fast"].get("skipped")]
        calls = sorted({x["evaluations"] for x in ran})
        passes = sorted({x["backward_passes"] for x in ran})
        ours = sorted({r["tools"]["gradconf_fast"]["oracle_evaluations"] for r in doc["rows"]
                       if not r["tools"]["gradconf_fast"].get("skipped")})
        out.append(
            f"- gradcheck fast_mode: {'/'.join(map(str, calls))} calls of the function and "
            f"{'/'.join(map(str, passes))} backward passes at every n: one central "
            "difference at "
            "a fixed step (eps 1e-6) along one random direction, judged at atol 1e-5 and "
            "rtol 1e-3 (its defaults). gradconf's fast mode spends its "
            f"{ours[0]}–{ours[-1]} NumPy evaluations on two projections, "
            "each a Richardson-extrapolated directional derivative with an error estimate, "
            "judged at float64's 1e-9.")
    return out


def main() -> None:
    """Parse the options, run the measurements and write the three result files."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-size", type=int, default=SIZES[-1],
                        help="largest input size to measure (default 10^6)")
    parser.add_argument("--budget", type=float, default=120.0,
                        help="seconds a single check may take before larger sizes are "
                             "skipped (default 120)")
    parser.add_argument("--memory", type=float, default=4.0,
                        help="GB of memory a single check may use above what the process "
                             "holds (default 4)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch's intra-op threads (default 1)")
    args = parser.parse_args()
    sizes = [n for n in SIZES if n <= args.max_size]
    if not sizes:
        parser.error(f"--max-size must be at least {SIZES[0]}")
    held = hold_freed_memory()  # as a run's pytest process does (gradconf.allocator)
    doc = run(sizes, args.budget, args.memory, args.threads)
    doc["environment"]["freed_memory_held"] = held
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "cost-scaling.json").write_text(json.dumps(doc, indent=1) + "\n",
                                               encoding="utf-8")
    write_plot(doc, RESULTS / "cost-scaling.png")
    write_markdown(doc, RESULTS / "cost-scaling.md")
    print(f"wrote {RESULTS / 'cost-scaling.json'}, .png and .md in {doc['total_wall_s']} s")


if __name__ == "__main__":
    main()
