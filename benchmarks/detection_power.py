"""Detection power: how small a wrong derivative each tool notices, on the same functions.

    python benchmarks/detection_power.py                      # torch venv: gradconf + gradcheck
    python benchmarks/detection_power.py --framework jax      # JAX venv: gradconf + check_grads
    python benchmarks/detection_power.py --plot               # combine both into a chart + table

For every smooth case of the benchmark corpus (``CORPUS``) and every perturbable op the
case's function uses, a mutant framework (``benchmarks/mutants.py``) scales that op's
derivative rule by ``1 + eps`` with its forward unchanged; for each ``eps`` of the grid
1e-1 … 1e-12 each tool is asked whether something is wrong, and the smallest ``eps`` it
flags is recorded (null: not flagged even at 1e-1):

- ``gradconf``: ``run_check`` of the case's vjp / jvp / jacobian checks in float64
  (``repeat=1``); flagged when any verdict is in ``gradconf.kinds.FAILING``.
- ``gradcheck``, ``gradcheck-fast``, ``gradgradcheck`` (torch): default settings
  (``eps=1e-6, atol=1e-5, rtol=1e-3``; ``fast_mode=True`` for the second) on the case's
  program evaluated with the mutant's lowering, every differentiated input as a float64
  leaf; flagged when it returns False or raises ``GradcheckError``.
- ``check_grads-1``, ``check_grads-2`` (JAX): ``jax.test_util.check_grads(f, args,
  order=1 or 2, modes=["rev"])`` on the same function; flagged on ``AssertionError``.

Every tool also runs on the unmutated framework for every case: anything it flags there is
a false positive (gradconf: every check of every corpus case at each of its dtypes). The
``effect`` of a mutation is how much it moves the case's Jacobian (relative to the
Jacobian's largest entry, at eps = 1e-1, per unit eps): a mutation with effect 0 cannot be
seen by any tool (an op whose output is multiplied by zero) and is reported apart.

Results: ``benchmarks/results/detection-power-<framework>.json``; ``--plot`` writes
``detection-power.png`` and ``detection-power.md`` from the JSON files present.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable, Mapping
from importlib.metadata import version as dist_version
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))  # `benchmarks.mutants` when run as a script

from benchmarks.mutants import PERTURBABLE  # noqa: E402
from gradconf.case import Case, Check  # noqa: E402
from gradconf.expr import evaluate  # noqa: E402
from gradconf.kinds import FAILING  # noqa: E402
from gradconf.loader import load_paths  # noqa: E402
from gradconf.runner import env_for, run_check  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
CORPUS = ("reductions.yaml", "graph-lifetime.yaml", "higher-order.yaml",
          "column-jacobian.yaml", "matrix-calculus.yaml")
GRID = tuple(float(f"1e-{k}") for k in range(1, 13))
DTYPE = "float64"
DETECTION_KINDS = ("vjp", "jvp", "jacobian")
TARGET = 1e-7
REFINE_STEPS = 6  # bisection steps of log10(eps) inside the last decade: 10^(1/64) = 1.04x
GRADCONF = ("gradconf", "gradconf-oracle")
TOOLS = {
    "torch": (*GRADCONF, "gradcheck", "gradcheck-fast", "gradgradcheck"),
    "jax": (*GRADCONF, "check_grads-1", "check_grads-2"),
}
GOLDEN_ONLY = "differs from the note's golden value"  # runner.py's message when only a golden
# number, not the oracle, failed
TOOL_DOC = {
    "gradconf": "run_check of the case's vjp/jvp/jacobian checks, float64, repeat=1; "
                "flagged on a FAILING verdict",
    "gradconf-oracle": "gradconf, counting only failures against the finite-difference "
                       "oracle (not against a golden number printed in a note): what a "
                       "function with no printed numbers gets",
    "gradcheck": "torch.autograd.gradcheck, defaults (eps=1e-6, atol=1e-5, rtol=1e-3)",
    "gradcheck-fast": "torch.autograd.gradcheck(fast_mode=True), other settings default",
    "gradgradcheck": "torch.autograd.gradgradcheck, defaults",
    "check_grads-1": "jax.test_util.check_grads(f, args, order=1, modes=['rev'])",
    "check_grads-2": "jax.test_util.check_grads(f, args, order=2, modes=['rev'])",
}
Verdict = tuple[bool | None, str]  # flagged (None: the tool itself failed), message


# ------------------------------------------------------------------------------ corpus

def load_corpus(files: tuple[str, ...] = CORPUS) -> list[Case]:
    """The cases of the corpus files, in file order (load errors abort: the corpus is fixed)."""
    result = load_paths([ROOT / "cases" / f for f in files], root=ROOT)
    if result.errors:
        raise SystemExit("corpus does not load:\n" + "\n".join(map(str, result.errors)))
    return result.cases


def detection_checks(case: Case) -> list[Check]:
    """The checks that judge first derivatives: vjp, jvp and jacobian (every mode)."""
    return [c for c in case.checks if c.kind in DETECTION_KINDS]


def perturbable_ops(case: Case) -> list[str]:
    """The ops of the case's function a mutant can perturb, sorted."""
    return sorted(case.program.ops_used() & set(PERTURBABLE))


# ------------------------------------------------------------------------------ framework

class Framework:
    """What differs between the two runs: adapters, the callable, the tools."""

    name = ""
    tools: tuple[str, ...] = ()

    def __init__(self, base: Any, mutant_cls: Callable[[str, float], type]) -> None:
        self._base, self._mutant_cls = base, mutant_cls
        self._adapters: dict[tuple[str, float], Any] = {}

    def base(self) -> Any:
        """The unmutated (shipped) adapter."""
        return self._base

    def mutant(self, op: str, eps: float) -> Any:
        """An instance of the mutant adapter, one per (op, eps)."""
        key = (op, eps)
        if key not in self._adapters:
            self._adapters[key] = self._mutant_cls(op, eps)()
        return self._adapters[key]

    def function(self, case: Case, lowering: Mapping[str, Callable[..., Any]]
                 ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """The case's program as a function of its differentiated inputs, and the inputs."""
        raise NotImplementedError

    def run_tool(self, tool: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Verdict:
        """Run one external tool on ``fn`` at ``args``."""
        raise NotImplementedError

    def versions(self) -> dict[str, str]:
        """Framework package versions."""
        raise NotImplementedError


def _float64_env(case: Case) -> dict[str, np.ndarray]:
    """The case's point in a float64 run, every float array float64 (pinned ones too)."""
    return {n: a.astype(np.float64) if np.issubdtype(a.dtype, np.floating) else a
            for n, a in env_for(case, DTYPE).items()}


class TorchFramework(Framework):
    """PyTorch: gradconf's torch adapter and torch.autograd's checkers."""

    name = "torch"
    tools = TOOLS["torch"]

    def __init__(self) -> None:
        import torch

        from benchmarks.mutants import mutant_torch
        from gradconf_adapters.torch_adapter import TorchAdapter
        super().__init__(TorchAdapter(), mutant_torch)
        self.torch = torch

    def function(self, case: Case, lowering: Mapping[str, Callable[..., Any]]
                 ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """``evaluate(program, ...)`` with ``lowering``; float64 leaves that require grad."""
        torch = self.torch
        env = _float64_env(case)
        fixed = {n: torch.from_numpy(a.copy()) for n, a in env.items() if n not in case.wrt}

        def fn(*xs: Any) -> Any:
            return evaluate(case.program, {**fixed, **dict(zip(case.wrt, xs, strict=True))},
                            lowering)[0]
        args = tuple(torch.from_numpy(env[n].copy()).requires_grad_(True) for n in case.wrt)
        return fn, args

    def run_tool(self, tool: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Verdict:
        """gradcheck / gradcheck(fast_mode=True) / gradgradcheck, default settings."""
        from torch.autograd.gradcheck import GradcheckError
        self.torch.manual_seed(0)  # fast mode and gradgradcheck draw random vectors
        call = {"gradcheck": lambda: self.torch.autograd.gradcheck(fn, args),
                "gradcheck-fast": lambda: self.torch.autograd.gradcheck(fn, args,
                                                                        fast_mode=True),
                "gradgradcheck": lambda: self.torch.autograd.gradgradcheck(fn, args)}[tool]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ok = call()
        except GradcheckError as exc:
            return True, _first_line(str(exc))
        except Exception as exc:  # the tool itself broke: recorded, never a detection
            return None, f"{type(exc).__name__}: {_first_line(str(exc))}"
        return (not ok), ""

    def versions(self) -> dict[str, str]:
        """torch."""
        return {"torch": str(self.torch.__version__)}


class JaxFramework(Framework):
    """JAX: gradconf's JAX adapter and jax.test_util.check_grads."""

    name = "jax"
    tools = TOOLS["jax"]

    def __init__(self) -> None:
        import jax

        from benchmarks.mutants import mutant_jax
        from gradconf_adapters.jax_adapter import JaxAdapter  # enables float64 first
        super().__init__(JaxAdapter(), mutant_jax)
        self.jax = jax

    def function(self, case: Case, lowering: Mapping[str, Callable[..., Any]]
                 ) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        """``evaluate(program, ...)`` with ``lowering``; float64 arrays."""
        jnp = self.jax.numpy
        env = _float64_env(case)
        fixed = {n: jnp.asarray(a) for n, a in env.items() if n not in case.wrt}

        def fn(*xs: Any) -> Any:
            return evaluate(case.program, {**fixed, **dict(zip(case.wrt, xs, strict=True))},
                            lowering)[0]
        return fn, tuple(jnp.asarray(env[n]) for n in case.wrt)

    def run_tool(self, tool: str, fn: Callable[..., Any], args: tuple[Any, ...]) -> Verdict:
        """``check_grads(fn, args, order, modes=["rev"])`` with default tolerances."""
        from jax.test_util import check_grads
        order = {"check_grads-1": 1, "check_grads-2": 2}[tool]
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                check_grads(fn, args, order=order, modes=["rev"])
        except AssertionError as exc:
            return True, _first_line(str(exc))
        except Exception as exc:  # the tool itself broke: recorded, never a detection
            return None, f"{type(exc).__name__}: {_first_line(str(exc))}"
        return False, ""

    def versions(self) -> dict[str, str]:
        """jax and jaxlib."""
        return {"jax": str(self.jax.__version__), "jaxlib": dist_version("jaxlib")}


# ------------------------------------------------------------------------------ measuring

def gradconf_verdicts(case: Case, checks: list[Check], adapter: Any, dtype: str = DTYPE
                      ) -> dict[str, dict[str, Any]]:
    """``run_check`` of each check: verdict and message by check id."""
    out = {}
    for check in checks:
        rec = run_check(case, check, dtype, adapter, adapter.version(), repeat=1)
        out[check.id] = {"verdict": rec["verdict"], "message": rec["message"],
                         "worst": rec["worst"]}
    return out


def effect(fw: Framework, case: Case, op: str) -> float:
    """How far the mutation moves the reverse-mode Jacobian, per unit eps.

    max |J_mutant - J| / max |J| over the differentiated inputs at eps = 1e-1, divided by
    1e-1 (0 when the mutation cannot change any derivative of this function).
    """
    env = env_for(case, DTYPE)
    eps = GRID[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the case's own warnings are gradconf's to record
        true = fw.base().jacobian(case.program, env, case.wrt, "rev")
        bent = fw.mutant(op, eps).jacobian(case.program, env, case.wrt, "rev")
    scale = max(float(np.max(np.abs(j))) if j.size else 0.0 for j in true.values())
    moved = max(float(np.max(np.abs(bent[n].astype(np.float64) - j.astype(np.float64))))
                if j.size else 0.0 for n, j in true.items())
    return moved / (scale or 1.0) / eps


def _flagged(fw: Framework, case: Case, op: str, tool: str, eps: float) -> bool:
    """Whether ``tool`` flags the mutant of ``op`` at ``eps``."""
    adapter = fw.mutant(op, eps)
    if tool in GRADCONF:
        recs = gradconf_verdicts(case, detection_checks(case), adapter)
        return bool(_gradconf_flags(recs)[tool])
    fn, args = fw.function(case, type(adapter).lowering)
    return bool(fw.run_tool(tool, fn, args)[0])


def refine(flagged: Callable[[float], bool], hit: float | None,
           steps: int = REFINE_STEPS) -> float | None:
    """The threshold inside the decade below ``hit`` (the smallest grid eps flagged), by
    bisection of log10(eps): the smallest eps found flagged, to 10^(1/2^steps).

    Assumes the tool flags every eps above its threshold within that decade; None when
    nothing was flagged, ``hit`` itself when it is the smallest eps of the grid.
    """
    if hit is None or hit == GRID[-1]:
        return hit
    lo, hi = np.log10(hit) - 1.0, np.log10(hit)  # lo: not flagged, hi: flagged
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (lo, mid) if flagged(float(10.0 ** mid)) else (mid, hi)
    return float(f"{10.0 ** hi:.3g}")


def _oracle_failure(rec: Mapping[str, Any]) -> bool:
    return rec["verdict"] in FAILING and not rec["message"].startswith(GOLDEN_ONLY)


def _gradconf_flags(recs: Mapping[str, Mapping[str, Any]]) -> dict[str, list[str]]:
    """The failing checks by gradconf's two readings: any failure, oracle failures only."""
    return {"gradconf": [c for c, r in recs.items() if r["verdict"] in FAILING],
            "gradconf-oracle": [c for c, r in recs.items() if _oracle_failure(r)]}


def smallest(flags: list[bool | None]) -> float | None:
    """The smallest grid eps flagged (None: none)."""
    hit = [e for e, f in zip(GRID, flags, strict=True) if f]
    return min(hit) if hit else None


def monotone(flags: list[bool | None]) -> bool:
    """Whether every eps above the smallest flagged one is flagged too."""
    s = smallest(flags)
    return s is None or all(f for e, f in zip(GRID, flags, strict=True) if e >= s)


def false_positives(fw: Framework, cases: list[Case]) -> dict[str, Any]:
    """Every tool on the unmutated framework, every case: what it flags is a false alarm.

    ``cases``: every case of the corpus files, measured or skipped. gradconf runs every
    check of every case at each of the case's dtypes; the detection checks at float64
    (the ones the grid uses) are reported apart. The other tools run once per case on the
    case's function of its differentiated inputs.
    """
    out: dict[str, Any] = {t: {"count": 0, "items": []} for t in fw.tools}
    for t in GRADCONF:
        out[t]["checks_run"] = 0
        out[t]["detection_checks_float64"] = {"count": 0, "items": []}
    for case in cases:
        for dtype in case.dtypes:
            recs = gradconf_verdicts(case, list(case.checks), fw.base(), dtype)
            for t, failing in _gradconf_flags(recs).items():
                out[t]["checks_run"] += len(recs)
                for cid in failing:
                    item = {"case": case.id, "check": cid, "dtype": dtype, **recs[cid]}
                    out[t]["items"].append(item)
                    kind = next(c.kind for c in case.checks if c.id == cid)
                    if dtype == DTYPE and kind in DETECTION_KINDS:
                        out[t]["detection_checks_float64"]["items"].append(item)
        fn, args = fw.function(case, fw.base().lowering)
        for tool in fw.tools[len(GRADCONF):]:
            flagged, msg = fw.run_tool(tool, fn, args)
            if flagged is not False:
                out[tool]["items"].append({"case": case.id, "flagged": flagged,
                                           "message": msg})
    for t in fw.tools:
        out[t]["count"] = len(out[t]["items"])
    for t in GRADCONF:
        d = out[t]["detection_checks_float64"]
        d["count"] = len(d["items"])
    return out


def measure(fw: Framework, case: Case, op: str) -> dict[str, Any]:
    """Every tool on the mutants of ``op`` over the grid, for one case."""
    checks = detection_checks(case)
    flags: dict[str, list[bool | None]] = {t: [] for t in fw.tools}
    per_check: dict[str, list[bool]] = {c.id: [] for c in checks}
    messages: dict[str, Any] = {}
    tool_errors: list[dict[str, Any]] = []
    for eps in GRID:
        adapter = fw.mutant(op, eps)
        recs = gradconf_verdicts(case, checks, adapter)
        for cid, r in recs.items():
            per_check[cid].append(r["verdict"] in FAILING)
        for tool, flagged in _gradconf_flags(recs).items():
            flags[tool].append(bool(flagged))
            if flagged:  # the message at the smallest eps flagged so far
                messages[tool] = {"eps": eps, "check": flagged[0],
                                  "verdict": recs[flagged[0]]["verdict"],
                                  "message": recs[flagged[0]]["message"]}
        fn, args = fw.function(case, type(adapter).lowering)
        for tool in fw.tools[len(GRADCONF):]:
            hit, msg = fw.run_tool(tool, fn, args)
            flags[tool].append(hit)
            if hit is None:
                tool_errors.append({"tool": tool, "eps": eps, "message": msg})
            elif hit:
                messages[tool] = {"eps": eps, "message": msg}
    return {"case": case.id, "op": op,
            "effect_per_eps": effect(fw, case, op),
            "smallest": {t: smallest(f) for t, f in flags.items()},
            "threshold": {t: refine(lambda e, t=t: _flagged(fw, case, op, t, e), smallest(f))
                          for t, f in flags.items()},
            "monotone": {t: monotone(f) for t, f in flags.items()},
            "flags": flags,
            "gradconf_checks": {cid: smallest(f) for cid, f in per_check.items()},
            "messages": messages, "tool_errors": tool_errors}


def run(framework: str, case_filter: list[str] | None, op_filter: list[str] | None) -> Path:
    """Measure one framework and write its JSON."""
    t_start = time.perf_counter()
    fw: Framework = TorchFramework() if framework == "torch" else JaxFramework()
    corpus, skipped, every = [], [], []
    for case in load_corpus():
        if case_filter and case.id not in case_filter:
            continue
        every.append(case)
        reason = _skip_reason(fw, case)
        if reason:
            skipped.append({"case": case.id, "reason": reason})
        else:
            corpus.append(case)
    print(f"{framework}: {len(corpus)} cases in the corpus, {len(skipped)} skipped", flush=True)
    t0 = time.perf_counter()
    fp = false_positives(fw, every)
    fp_s = time.perf_counter() - t0
    print("false positives: " + ", ".join(f"{t} {fp[t]['count']}" for t in fw.tools)
          + f" ({fp_s:.1f} s)", flush=True)
    results = []
    for case in corpus:
        for op in perturbable_ops(case):
            if op_filter and op not in op_filter:
                continue
            t0 = time.perf_counter()
            row = measure(fw, case, op)
            row["wall_s"] = round(time.perf_counter() - t0, 3)
            results.append(row)
            print(f"  {case.id:34s} {op:7s} effect {row['effect_per_eps']:.3g}  "
                  + "  ".join(f"{t} {_fmt(row['smallest'][t])}" for t in fw.tools)
                  + f"  ({row['wall_s']:.1f} s)", flush=True)
    doc = {"benchmark": "detection-power", "framework": framework, "dtype": DTYPE,
           "grid": list(GRID), "target": TARGET, "tools": {t: TOOL_DOC[t] for t in fw.tools},
           "versions": {"python": platform.python_version(), "numpy": np.__version__,
                        "gradconf": dist_version("gradconf"), **fw.versions(),
                        "git_commit": _git_commit()},
           "machine": {"platform": platform.platform(), "machine": platform.machine(),
                       "cpus": os.cpu_count()},
           "corpus": {"files": list(CORPUS), "cases": [c.id for c in corpus],
                      "skipped": skipped, "perturbable_ops": list(PERTURBABLE)},
           "filters": {"cases": case_filter, "ops": op_filter},
           "false_positives": fp, "false_positive_cases": [c.id for c in every],
           "false_positives_wall_s": round(fp_s, 3),
           "results": results, "wall_s": round(time.perf_counter() - t_start, 3)}
    out = RESULTS / f"detection-power-{framework}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(doc, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out.relative_to(ROOT)} ({doc['wall_s']:.1f} s)")
    return out


def _skip_reason(fw: Framework, case: Case) -> str:
    """Why a case is not in the detection corpus ('' when it is)."""
    if DTYPE not in case.dtypes:
        return f"does not run in {DTYPE}"
    checks = detection_checks(case)
    if not checks:
        return "no vjp / jvp / jacobian check (probes only, or other checks)"
    if not perturbable_ops(case):
        return "its function has no perturbable op"
    try:
        recs = {c.id: run_check(case, c, DTYPE, fw.base(), fw.base().version(), repeat=1)
                for c in checks}
    except Exception:  # a case the engine cannot run here is reported, not measured
        return "run_check raised: " + _first_line(traceback.format_exc(limit=1))
    rough = {cid: r["classification"] for cid, r in recs.items()
             if r["classification"] not in (None, "smooth")}
    if rough:
        return f"not smooth at its point: {rough}"
    return ""


# ------------------------------------------------------------------------------ report

def summarize(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Per tool: median and worst smallest-detected eps over the visible (case, op) pairs."""
    rows = []
    visible = [r for r in doc["results"] if r["effect_per_eps"] > 0]
    for tool in doc["tools"]:
        vals = [r["smallest"][tool] for r in visible]
        inf = [np.inf if v is None else v for v in vals]
        fine = [np.inf if r["threshold"][tool] is None else r["threshold"][tool]
                for r in visible]
        fp = doc["false_positives"][tool]["count"]
        rows.append({
            "tool": tool, "framework": doc["framework"], "pairs": len(vals),
            "median": statistics.median_high(inf) if inf else None,
            "worst": max(inf) if inf else None,
            "best": min(inf) if inf else None,
            "median_threshold": statistics.median_high(fine) if fine else None,
            "worst_threshold": max(fine) if fine else None,
            "meets_target": sum(v <= doc["target"] for v in inf),
            "not_detected": sum(v is None for v in vals),
            "nonmonotone": sum(not r["monotone"][tool] for r in visible),
            "invisible_flagged": sum(r["smallest"][tool] is not None
                                     for r in doc["results"] if r["effect_per_eps"] == 0),
            "false_positives": fp,
        })
    return rows


def _fmt(v: float | None, digits: int = 1) -> str:
    if v is None or v == np.inf:
        return "not at 1e-1"
    return f"{v:.{digits - 1}e}"


def plot() -> None:
    """Chart and table from the JSON files present."""
    docs = [json.loads(p.read_text(encoding="utf-8")) for fw in TOOLS
            if (p := RESULTS / f"detection-power-{fw}.json").exists()]
    if not docs:
        raise SystemExit("no benchmarks/results/detection-power-*.json: run the benchmark first")
    _chart(docs, RESULTS / "detection-power.png")
    (RESULTS / "detection-power.md").write_text(_table(docs), encoding="utf-8")
    print(f"wrote {RESULTS.relative_to(ROOT)}/detection-power.png and detection-power.md")


def _chart(docs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = [(doc, tool) for doc in docs for tool in doc["tools"]]
    fig, ax = plt.subplots(figsize=(1.5 * len(columns) + 2, 6))
    rng = np.random.default_rng(0)
    top = 10.0  # "not flagged at 1e-1" is drawn here, above the grid
    for x, (doc, tool) in enumerate(columns):
        visible = [r for r in doc["results"] if r["effect_per_eps"] > 0]
        vals = np.array([top if r["smallest"][tool] is None else r["smallest"][tool]
                         for r in visible])
        jitter = rng.uniform(-0.28, 0.28, len(vals))
        miss = vals == top
        colour = "tab:blue" if tool in GRADCONF else "tab:orange"
        ax.scatter(x + jitter[~miss], vals[~miss], s=18, alpha=0.6, color=colour)
        ax.scatter(x + jitter[miss], vals[miss], s=22, marker="x", color="tab:red")
        for level in np.unique(vals):
            n = int(np.sum(vals == level))
            ax.annotate(str(n), (x + 0.33, level), fontsize=7, va="center", color="0.3")
        if len(vals):
            med = statistics.median_high(vals.tolist())
            ax.hlines(med, x - 0.35, x + 0.35, color="black", linewidth=1.5)
    ax.axhline(TARGET, color="tab:green", linestyle="--", linewidth=1)
    ax.annotate("target 1e-7", (len(columns) - 0.5, TARGET), color="tab:green", fontsize=8,
                ha="right", va="bottom")
    ax.set_yscale("log")
    ax.set_ylim(3e-13, 30)
    ax.set_yticks([top, *GRID])
    ax.set_yticklabels(["not flagged", *(f"{e:.0e}" for e in GRID)])
    for x in range(1, len(columns)):
        if columns[x][0] is not columns[x - 1][0]:  # frameworks apart
            ax.axvline(x - 0.5, color="0.5", linewidth=0.8)
    ax.set_xticks(range(len(columns)))
    ax.set_xticklabels([f"{tool}\n({doc['framework']} {_fw_version(doc)})"
                        for doc, tool in columns], fontsize=8)
    ax.set_ylabel("smallest relative error of one op's derivative rule flagged (float64)")
    invisible = sum(r["effect_per_eps"] == 0 for d in docs for r in d["results"]) // len(docs)
    ax.set_title("Detection power: one (case, op) mutant per dot, lower is better; bar = "
                 f"median\n(excluded: {invisible} mutant(s) per framework no derivative of "
                 "the case depends on)", fontsize=10)
    ax.grid(axis="y", linewidth=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fw_version(doc: dict[str, Any]) -> str:
    return str(doc["versions"].get(doc["framework"], ""))


def _table(docs: list[dict[str, Any]]) -> str:
    lines = ["# Detection power", "",
             "Smallest relative error `eps` of one op's derivative rule (both modes scaled by "
             "`1 + eps`, forward unchanged) that each tool flags, float64, grid 1e-1 … 1e-12; "
             "over every (case, op) pair of the corpus whose Jacobian the mutation moves. "
             "Produced by `benchmarks/detection_power.py`; raw data in "
             "`detection-power-<framework>.json`.", "",
             "| tool | framework | pairs | median | worst | ≤ 1e-7 | not flagged at 1e-1 "
             "| false positives | threshold: median / worst |",
             "|---|---|---|---|---|---|---|---|---|"]
    for doc in docs:
        for s in summarize(doc):
            fp = s["false_positives"]
            if s["tool"] in GRADCONF:
                fpd = doc["false_positives"][s["tool"]]
                fp_txt = f"{fp} of {fpd['checks_run']} checks"
            else:
                fp_txt = f"{fp} of {len(doc['false_positive_cases'])} cases"
            lines.append(f"| {s['tool']} | {doc['framework']} {_fw_version(doc)} | {s['pairs']} "
                         f"| {_fmt(s['median'])} | {_fmt(s['worst'])} | {s['meets_target']} "
                         f"| {s['not_detected']} | {fp_txt} | {_fmt(s['median_threshold'], 2)} "
                         f"/ {_fmt(s['worst_threshold'], 2)} |")
    lines += ["", "Median: the upper median over the pairs, on the grid. Worst: the largest "
              "smallest-flagged eps (`not at 1e-1`: some mutant is never flagged). Threshold: "
              f"the smallest eps flagged after {REFINE_STEPS} bisection steps of log10(eps) "
              "inside the decade below the smallest flagged grid eps. False positives: "
              "gradconf counts failing records of every check of every case of the corpus "
              "files at each of the case's dtypes on the unmutated framework; the other tools "
              "count cases they flag unmutated.", ""]
    for doc in docs:
        inv = [r for r in doc["results"] if r["effect_per_eps"] == 0]
        if inv:
            lines.append(f"Excluded on {doc['framework']} (the mutation changes no derivative "
                         "of the case, so no tool can see it): "
                         + ", ".join(f"`{r['case']}` / `{r['op']}`" for r in inv)
                         + "; flagged by: " + (", ".join(
                             t for t in doc["tools"] if any(r["smallest"][t] for r in inv))
                             or "none") + ".")
            lines.append("")
        lines.append(f"Corpus ({doc['framework']}): {len(doc['corpus']['cases'])} cases; "
                     "skipped: " + ("; ".join(f"`{s['case']}` ({s['reason']})"
                                             for s in doc["corpus"]["skipped"]) or "none")
                     + f". Wall time {doc['wall_s']:.0f} s.")
        lines.append("")
    for doc in docs:
        tools = doc["tools"]
        lines += [f"## Per (case, op): {doc['framework']}", "",
                  "Smallest flagged grid eps (bisected threshold in parentheses); effect/eps: "
                  "how far the mutation moves the Jacobian relative to its largest entry, per "
                  "unit eps.", "",
                  "| case | op | effect/eps | " + " | ".join(tools) + " |",
                  "|---|---|---|" + "---|" * len(tools)]
        for r in doc["results"]:
            cells = []
            for t in tools:
                cell = _fmt(r["smallest"][t])
                if r["threshold"][t] is not None:
                    cell += f" ({_fmt(r['threshold'][t], 2)})"
                if not r["monotone"][t]:
                    cell += " non-monotone"
                cells.append(cell)
            lines.append(f"| {r['case']} | {r['op']} | {r['effect_per_eps']:.3g} | "
                         + " | ".join(cells) + " |")
        lines.append("")
    return "\n".join(lines)


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else ""


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True,
                              text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


def main() -> None:
    """Measure one framework, or (``--plot``) combine the measurements."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--framework", choices=sorted(TOOLS), default="torch")
    parser.add_argument("--plot", action="store_true",
                        help="write detection-power.png and .md from the JSON files present")
    parser.add_argument("--cases", help="comma-separated case ids (default: the whole corpus)")
    parser.add_argument("--ops", help="comma-separated ops (default: every perturbable op)")
    args = parser.parse_args()
    if args.plot:
        plot()
        return
    run(args.framework, args.cases.split(",") if args.cases else None,
        args.ops.split(",") if args.ops else None)


if __name__ == "__main__":
    main()
