"""Compiled execution in the engine, framework-free: a NumPy adapter with a pretend compiler
whose compiled vjp moves its result by one ulp (or raises), run beside eager."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from gradconf.adapter import Unsupported
from gradconf.arrays import json_safe
from gradconf.diff import diff as diff_docs
from gradconf.findings import compiled_summary
from gradconf.report.html import render
from gradconf.report.markdown import diff_markdown, summary_markdown
from gradconf.results import JsonlWriter, environment, merge, read_jsonl, validate
from gradconf.runner import eager_difference, run_check
from helpers import ROOT, SQUARE_SUM, case_yaml, one_case
from numpy_adapter import NumpyDifferences

CASE = SQUARE_SUM


class PretendCompiler(NumpyDifferences):
    """Compiled vjp: one ulp off eager's (a fused kernel rounding differently)."""

    name = "pretend"
    compiler = "pretend.jit"

    def vjp(self, prog, env, wrt, cotangent):
        out = super().vjp(prog, env, wrt, cotangent)
        if self.execution == "compiled":
            return {n: np.nextafter(g, np.inf) for n, g in out.items()}
        return out


class CompilerRaises(NumpyDifferences):
    """The compiler fails on reverse mode; eager runs it."""

    name = "pretend_raises"
    compiler = "pretend.jit"

    def vjp(self, prog, env, wrt, cotangent):
        if self.execution == "compiled":
            raise RuntimeError("pretend.jit: cannot lower the backward of pow")
        return super().vjp(prog, env, wrt, cotangent)


def _case(tmp_path: Path, body: str = CASE):
    return one_case(tmp_path, body)


def _check(case, kind):
    return next(c for c in case.checks if c.kind == kind)


def test_a_framework_without_a_compiler_is_not_applicable(tmp_path):
    case = _case(tmp_path)
    rec = run_check(case, _check(case, "vjp"), "float64", NumpyDifferences(), "1",
                    execution="compiled")
    assert rec["verdict"] == "not_applicable" and rec["execution"] == "compiled"
    assert "no compiler" in rec["message"]
    with pytest.raises(Unsupported):
        NumpyDifferences().compiled()


def test_a_compiled_result_is_judged_and_set_beside_eager(tmp_path):
    case = _case(tmp_path)
    eager = run_check(case, _check(case, "vjp"), "float64", PretendCompiler(), "1")
    rec = run_check(case, _check(case, "vjp"), "float64", PretendCompiler(), "1",
                    execution="compiled")
    assert eager["execution"] == "eager" and "eager_difference" not in eager
    assert rec["verdict"] == eager["verdict"] == "pass"
    assert rec["compiler"] == "pretend.jit" and rec["compile_s"] >= 0
    diff = rec["eager_difference"]
    assert diff["identical"] is False and diff["entries"] == 3
    assert 0 < diff["max_abs"] < 1e-14
    same = run_check(case, _check(case, "value"), "float64", PretendCompiler(), "1",
                     execution="compiled")
    assert same["eager_difference"] == {"identical": True, "eager_raised": False,
                                        "max_abs": 0.0, "entries": 0}


def test_only_the_compiler_failing_is_an_error_that_says_eager_runs_it(tmp_path):
    case = _case(tmp_path)
    rec = run_check(case, _check(case, "vjp"), "float64", CompilerRaises(), "1",
                    execution="compiled")
    assert rec["verdict"] == "error" and "cannot lower" in rec["message"]
    assert rec["compile_s"] == rec["duration_s"] >= 0
    assert rec["eager_difference"]["eager_raised"] is False
    assert "eager runs it" in rec["eager_difference"]["message"]


class SecondRunRaises(NumpyDifferences):
    """A vjp that works once, then raises: its repeat differs by an unbounded amount."""

    name = "second_run_raises"

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def vjp(self, prog, env, wrt, cotangent):
        self.calls += 1
        if self.calls > 1:
            raise RuntimeError("the second run fails")
        return super().vjp(prog, env, wrt, cotangent)


def test_a_repeat_that_raises_is_nondeterministic_in_a_strict_json_record(tmp_path):
    case = _case(tmp_path)
    rec = run_check(case, _check(case, "vjp"), "float64", SecondRunRaises(), "1", repeat=2)
    assert rec["verdict"] == "nondeterministic" and "run 2 raised" in rec["message"]
    assert rec["repeat_max_diff"] == "Infinity"
    json.dumps(rec, allow_nan=False)  # a raw inf here once cost the whole record
    rec["nodeid"] = "c.yaml::square-sum[second_run_raises-vjp-float64]"
    doc = _doc(tmp_path, [rec])
    validate(doc)
    assert "two runs differ by up to Infinity" in render(doc)  # the page once raised here


def test_json_safe_writes_every_non_finite_number_as_the_schema_spells_it():
    rec = {"a": float("inf"), "b": [1.0, float("-inf"), {"c": float("nan")}], "d": "x"}
    assert json_safe(rec) == {"a": "Infinity", "b": [1.0, "-Infinity", {"c": "NaN"}],
                              "d": "x"}


def test_eager_difference_of_results_with_infinities_is_measured():
    # both inf at the pole, one entry apart: inf - inf is no difference and no error
    # (it stopped the judgement of a compiled Jacobian at a pole once)
    inf = np.inf
    got = eager_difference({"x": np.array([inf, 1.0, -inf])}, {"x": np.array([inf, 1.5, -inf])})
    assert got["entries"] == 1 and got["max_abs"] == 0.5 and not got["identical"]
    got = eager_difference({"x": np.array([inf, 1.0])}, {"x": np.array([-inf, 1.0])})
    assert got["entries"] == 1 and got["max_abs"] == "Infinity"


def test_eager_difference_counts_bits_not_values():
    a = {"x": np.array([0.0, np.nan, 1.0])}
    assert eager_difference(a, {"x": np.array([0.0, np.nan, 1.0])})["identical"]
    signed = eager_difference(a, {"x": np.array([-0.0, np.nan, 1.0])})
    assert not signed["identical"] and signed["entries"] == 1 and signed["max_abs"] == 0.0
    inf = eager_difference({"x": np.array([np.inf])}, {"x": np.array([1.0])})
    assert inf["max_abs"] == "Infinity" and inf["entries"] == 1
    assert eager_difference(a, {"y": a["x"]})["max_abs"] is None
    assert eager_difference(a, None) == {"identical": False, "eager_raised": True}


def test_a_divergence_can_be_declared_for_compiled_execution_only(tmp_path):
    body = CASE + """divergences:
  - framework: pretend_raises
    kind: bug
    execution: compiled
    versions: ">=1"
    check: vjp
    reason: the pretend compiler cannot lower the backward of pow
    link: https://example.com/issue/1
"""
    case = _case(tmp_path, body)
    compiled = run_check(case, _check(case, "vjp"), "float64", CompilerRaises(), "1",
                         execution="compiled")
    eager = run_check(case, _check(case, "vjp"), "float64", CompilerRaises(), "1")
    assert compiled["verdict"] == "expected_divergence"
    assert eager["verdict"] == "pass" and eager["divergence"] is None


def _doc(tmp_path, records):
    writer = JsonlWriter(tmp_path / "pretend.jsonl", environment("pretend", "1", ROOT))
    writer.manifest([r["nodeid"] for r in records])
    for r in records:
        writer.write(r)
    writer.end(0, 0)
    writer.close()
    return merge([tmp_path / "pretend.jsonl"])


def test_compiled_records_validate_report_and_diff_apart_from_eager(tmp_path):
    case = _case(tmp_path)
    recs = []
    for execution in ("eager", "compiled"):
        for kind in ("value", "vjp"):
            r = run_check(case, _check(case, kind), "float64", PretendCompiler(), "1",
                          execution=execution)
            tag = "" if execution == "eager" else "compiled-"
            r["nodeid"] = f"c.yaml::square-sum[pretend-{tag}{kind}-float64]"
            recs.append(r)
    base_dir, cand_dir = tmp_path / "base", tmp_path / "cand"
    base_dir.mkdir()
    cand_dir.mkdir()
    doc = _doc(base_dir, recs)
    validate(doc)
    [row] = compiled_summary(doc["records"])
    assert (row["items"], row["identical"], row["differ"]) == (2, 1, 1)
    assert "square-sum[pretend-compiled-vjp-float64]" in row["largest"]
    page, md = render(doc), summary_markdown(doc)
    assert '<h2 id="compiled">' in page and "pretend.jit" in page
    assert "| pretend compiled |" in md and "## Compiled beside eager" in md
    # a candidate whose compiled vjp now fails: one change, on the compiled item alone
    broken = [dict(r) for r in recs]
    broken[3] = {**broken[3], "verdict": "mismatch", "message": "off"}
    d = diff_docs(doc, _doc(cand_dir, broken))
    [change] = [c for c in d["changes"]]
    assert (change["execution"], change["check"], change["category"]) == (
        "compiled", "vjp", "regression")
    assert "pretend compiled" in diff_markdown(d)


def _pytest(tmp_path, *args):
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", str(tmp_path),
           "--framework", "test_execution:PretendCompiler", "--results-dir",
           str(tmp_path / "out"), *args]
    return subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300)


def test_the_plugin_names_compiled_items_and_picks_one_case_per_op(tmp_path):
    (tmp_path / "c.yaml").write_text(
        "cases:\n" + "".join(case_yaml(CASE.replace("square-sum", name).replace(
            "sum(x**2)", fn)).removeprefix("cases:\n")
            for name, fn in (("a", "sum(x**2)"), ("b", "sum(x**2)"),
                             ("c", "sum(x*x)"), ("d", "sum(sin(x))"))))
    proc = _pytest(tmp_path, "--execution", "eager,compiled", "--compiled-subset", "ops")
    assert proc.returncode == 0, proc.stdout[-2000:]
    _, records = read_jsonl(tmp_path / "out" / "pretend.jsonl")
    compiled = sorted(r["nodeid"].rpartition("::")[2] for r in records
                      if r["execution"] == "compiled")
    # a brings pow and sum; b nothing new; c brings mul; d brings sin
    # and of those only the derivative checks (vjp here; value is the forward alone)
    assert compiled == [f"{c}[pretend-compiled-vjp-float64]" for c in "acd"]
    assert sum(r["execution"] == "eager" for r in records) == 8
    everything = _pytest(tmp_path, "--execution", "compiled")
    _, records = read_jsonl(tmp_path / "out" / "pretend.jsonl")
    assert everything.returncode == 0 and len(records) == 8
    assert {r["execution"] for r in records} == {"compiled"}
    wrong = _pytest(tmp_path, "--execution", "eager,jit")
    assert wrong.returncode == 4
    assert "--execution takes eager and/or compiled, comma-separated; not jit" in wrong.stderr


def test_an_objects_memory_address_in_an_error_message_reads_alike_in_every_run():
    def raised(address: str) -> BaseException:
        return RuntimeError(f"failed on call_function <built-in method quantile of type "
                            f"object at {address}>(*(x,))")
    infos = [NumpyDifferences().error_info(raised(a)) for a in ("0x7f9428ecea40", "0x7f0012ab")]
    assert infos[0] == infos[1]
    assert "object at 0x…>" in infos[0].message and "7f94" not in infos[0].message
    assert NumpyDifferences().error_info(ValueError("bits 0x7f800000")).message == "bits 0x7f800000"
