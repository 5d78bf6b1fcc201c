"""The plugin end to end: pytest runs case files on PyTorch in a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from gradconf.kinds import FAILING
from gradconf.results import merge, read_jsonl, validate
from helpers import CASES, ROOT, case_yaml

pytest.importorskip("gradconf_adapters.torch_adapter")
pytestmark = pytest.mark.torch

NODEID = re.compile(
    r"^cases/[a-z0-9-]+\.yaml::[a-z0-9-]+\[torch-[a-z0-9-]+-"
    r"(b?float16|float32|float64|complex64|complex128)\]$"
)


def run_pytest(*args: str, cwd: Path = ROOT, timeout: float = 600) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    env.pop("GRADCONF_FRAMEWORK", None)
    cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", *args]
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """All shipped cases on torch with two xdist workers and JUnit XML, each check computed
    once (repeats and nondeterminism have tests of their own in test_execution.py)."""
    out = tmp_path_factory.mktemp("full")
    proc = run_pytest("cases", "--framework", "torch", "--results-dir", str(out),
                      "-n", "2", "--dist", "loadfile", "--repeat", "1",
                      f"--junitxml={out / 'junit.xml'}")
    env, records = read_jsonl(out / "torch.jsonl")
    return proc, env, records, out


def test_full_run_passes_and_reproduces_every_golden(full_run):
    proc, env, records, _ = full_run
    assert proc.returncode == 0, proc.stdout[-3000:]
    assert env["frameworks"]["torch"].startswith("2.13.0")
    verdicts = {r["verdict"] for r in records}
    assert not verdicts & FAILING, [r["message"] for r in records if r["verdict"] in FAILING]
    # kinks pass as conventions, domain edges as undefined; the rest of the notes pass
    assert verdicts <= {"pass", "convention", "undefined", "expected_divergence"}
    assert all(r["verdict"] == "pass" for r in records if "beyond" not in r["source"]["note"])
    with_golden = [r for r in records if r["golden"] is not None]
    assert len(with_golden) > 60
    # a declared framework bug is a departure from the golden; everything else matches it
    assert all(r["golden_ok"] for r in with_golden if r["verdict"] != "expected_divergence"), \
        [(r["case"], r["check"], r["dtype"]) for r in with_golden
         if not r["golden_ok"] and r["verdict"] != "expected_divergence"]
    assert {"000", "001", "002", "003", "004"} <= {r["source"]["note"][:3] for r in records}


def test_full_run_records_every_item_once_with_ascii_node_ids(full_run):
    proc, _, records, _ = full_run
    collected = int(re.search(r"(\d+) passed", proc.stdout).group(1))
    nodeids = [r["nodeid"] for r in records]
    assert len(nodeids) == len(set(nodeids)) == collected
    assert all(NODEID.match(n) for n in nodeids), [n for n in nodeids if not NODEID.match(n)]


def test_full_run_results_validate_and_junit_is_lean(full_run):
    _, _, records, out = full_run
    doc = merge([out / "torch.jsonl"])
    validate(doc)
    cases = ET.parse(out / "junit.xml").getroot().iter("testcase")
    props = [p.get("name") for c in cases for p in c.iter("property")]
    assert len(props) == len(records)
    assert set(props) == {"gradconf_verdict"}


def test_dash_k_selects_items(tmp_path):
    proc = run_pytest("cases", "--framework", "torch", "--results-dir", str(tmp_path),
                      "-k", "mean-of-matrix and vjp")
    assert proc.returncode == 0, proc.stdout[-2000:]
    _, records = read_jsonl(tmp_path / "torch.jsonl")
    assert [(r["case"], r["check"], r["dtype"]) for r in records] == [
        ("mean-of-matrix", "vjp", "float64")]


BROKEN = """
cases:
  - id: fine-one
    title: fine
    source: {note: t, section: t}
    inputs: {x: [1., 2.]}
    function: sum(x**2)
    checks: [vjp]
  - id: typo-op
    title: broken
    source: {note: t, section: t}
    inputs: {x: [1., 2.]}
    function: sum(expp(x))
    checks: [vjp]
  - id: fine-two
    title: fine
    source: {note: t, section: t}
    inputs: {x: [1., 2.]}
    function: mean(x)
    checks: [vjp]
"""


def test_a_broken_case_is_one_located_error_and_the_rest_still_run(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "mixed.yaml").write_text(BROKEN, encoding="utf-8")
    (cases / "malformed.yaml").write_text("cases:\n  - id: [unclosed\n", encoding="utf-8")
    proc = run_pytest("cases", "--framework", "torch", "--results-dir", "out", cwd=tmp_path)
    assert proc.returncode == 1
    expected = ("cases/mixed.yaml:13: case 'typo-op': unknown op 'expp' (column 5 of the "
                "function) (hint: did you mean 'exp'?)")
    assert expected in proc.stdout
    assert "cases/malformed.yaml:3: malformed YAML" in proc.stdout
    _, records = read_jsonl(tmp_path / "out" / "torch.jsonl")
    verdicts = sorted((r["case"], r["verdict"]) for r in records)
    assert verdicts == [("(file)", "invalid"), ("fine-one", "pass"), ("fine-one", "pass"),
                        ("fine-two", "pass"), ("fine-two", "pass"), ("typo-op", "invalid")]


def test_a_perturbed_gradient_is_caught_in_float64(tmp_path):
    proc = run_pytest("cases/reductions.yaml", "--framework", "fault_adapters:PerturbedVjp",
                      "--results-dir", str(tmp_path))
    assert proc.returncode == 1
    _, records = read_jsonl(tmp_path / "torch_perturbed.jsonl")
    vjp64 = [r for r in records if r["check"] == "vjp" and r["dtype"] == "float64"]
    assert vjp64 and all(r["verdict"] == "mismatch" for r in vjp64)
    assert all(r["verdict"] == "pass" for r in records if r["kind"] != "vjp")
    # relative 1e-6 is inside float32's tolerance: no false alarm there either way
    assert all(r["verdict"] == "pass" for r in records
               if r["kind"] == "vjp" and r["dtype"] == "float32")
    assert "but should be" in proc.stdout


def test_diff_gates_an_upgrade_that_breaks_reverse_mode(tmp_path):
    """The same cases on PyTorch and on a release whose vjp is off by 1e-6 and warns: the
    float64 vjps are regressions, the float32 ones (inside tolerance) changed behaviour by
    warning, every other item is unchanged, and the gate fails."""
    base, cand = tmp_path / "base", tmp_path / "cand"
    assert run_pytest("cases/reductions.yaml", "--framework", "torch",
                      "--results-dir", str(base)).returncode == 0
    run_pytest("cases/reductions.yaml", "--framework", "fault_adapters:UpgradedTorch",
               "--results-dir", str(cand))
    proc = subprocess.run([sys.executable, "-m", "gradconf", "diff", str(base), str(cand),
                           "--out", str(tmp_path / "diff")], capture_output=True, text=True,
                          cwd=ROOT, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    doc = json.loads((tmp_path / "diff" / "diff.json").read_text(encoding="utf-8"))
    _, records = read_jsonl(base / "torch.jsonl")
    vjps = {(r["case"], r["dtype"]) for r in records if r["kind"] == "vjp"}
    by = {c: {(ch["case"], ch["dtype"]) for ch in doc["changes"] if ch["category"] == c}
          for c in ("regression", "behaviour")}
    assert by["regression"] == {k for k in vjps if k[1] == "float64"} != set()
    assert by["behaviour"] == {k for k in vjps if k[1] == "float32"} != set()
    assert all(ch["check"] == "vjp" for ch in doc["changes"])
    assert doc["summary"]["unchanged"] == len(records) - len(vjps)
    assert doc["candidate"]["frameworks"]["torch"].endswith("+upgrade")
    assert "gate FAILED on regression, behaviour" in proc.stdout


def test_framework_exceptions_become_error_records(tmp_path):
    proc = run_pytest("cases/graph-lifetime.yaml", "--framework", "fault_adapters:Raises",
                      "--results-dir", str(tmp_path))
    assert proc.returncode == 1
    _, records = read_jsonl(tmp_path / "torch_raises.jsonl")
    jvp = [r for r in records if r["kind"] == "jvp"]
    assert jvp and {r["verdict"] for r in jvp} == {"error"}
    assert jvp[0]["error"] == {"type": "RuntimeError",
                               "message": "injected failure in forward mode"}
    assert {r["verdict"] for r in records if r["kind"] != "jvp"} == {"pass"}


def test_a_wrong_api_behaviour_fails_its_probe(tmp_path):
    proc = run_pytest("cases/graph-lifetime.yaml", "--framework", "fault_adapters:SwallowsErrors",
                      "--results-dir", str(tmp_path), "-k", "probe")
    _, records = read_jsonl(tmp_path / "torch_swallows.jsonl")
    freed = next(r for r in records if r["check"] == "probe-freed-graph")
    assert freed["verdict"] == "mismatch"
    assert freed["message"].startswith("outcome value, but should be error (graph_freed)")
    assert proc.returncode == 1


def test_an_interrupted_run_keeps_what_it_wrote(tmp_path):
    """Kill pytest mid-run (SIGKILL: no cleanup at all) and read what was streamed."""
    cases = tmp_path / "cases"
    cases.mkdir()
    shutil.copy(CASES / "reductions.yaml", cases)
    (cases / "zz-slow.yaml").write_text(case_yaml("""
        id: zz-slow
        title: a check that never ends
        source: {note: t, section: t}
        inputs: {hang: [1., 2.]}
        function: sum(hang**2)
        checks: [hessian]
    """), encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    proc = subprocess.Popen([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                             "cases", "--framework", "fault_adapters:SlowHessian",
                             "--results-dir", "out", "-p", "no:timeout"],
                            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    stream = tmp_path / "out" / "torch_slow.jsonl"
    n_before = 80  # reductions.yaml's items; then the run hangs in zz-slow's Hessian
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not (
                stream.exists() and len(stream.read_text().splitlines()) > n_before):
            time.sleep(0.2)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    _, records = read_jsonl(stream)
    assert len(records) == n_before
    assert all(r["verdict"] == "pass" and r["case"] != "zz-slow" for r in records)
    doc = merge([stream])
    validate(doc)
    # the report and the gate see the run as incomplete and name what never finished
    run = doc["runs"]["torch_slow"]
    assert run["complete"] is False and run["collected"] == n_before + 2
    assert run["missing"] == ["cases/zz-slow.yaml::zz-slow[torch_slow-hessian-float32]",
                              "cases/zz-slow.yaml::zz-slow[torch_slow-hessian-float64]"]
    report = subprocess.run([sys.executable, "-m", "gradconf", "report", "--results-dir", "out"],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert report.returncode == 1
    assert "torch_slow: never finished: cases/zz-slow.yaml::zz-slow[torch_slow-hessian-" \
           "float32]" in report.stderr
    # a complete base of the same cases: the diff of the killed run fails the gate
    base = run_pytest("cases", "--framework", "fault_adapters:SlowHessian", "--results-dir",
                      "base", "-k", "not zz-slow", cwd=tmp_path)
    assert base.returncode == 0, base.stdout[-2000:]
    gate = subprocess.run([sys.executable, "-m", "gradconf", "diff", "base", "out", "--out",
                           "diff"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert gate.returncode == 1, gate.stdout + gate.stderr
    assert "incomplete: candidate torch_slow incomplete" in gate.stdout
    assert "gate FAILED on added, incomplete" not in gate.stdout
    assert "FAILED on incomplete" in gate.stdout


def test_a_hanging_check_becomes_a_timeout_record(tmp_path):
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "slow.yaml").write_text(case_yaml("""
        id: slow
        title: hangs in hessian
        source: {note: t, section: t}
        inputs: {hang: [1., 2.]}
        function: sum(hang**2)
        checks: [hessian, vjp]
    """), encoding="utf-8")
    proc = run_pytest("cases", "--framework", "fault_adapters:SlowHessian",
                      "--results-dir", "out", "--timeout", "3", cwd=tmp_path)
    assert proc.returncode == 1
    _, records = read_jsonl(tmp_path / "out" / "torch_slow.jsonl")
    verdicts = {(r["check"], r["dtype"]): r["verdict"] for r in records}
    assert verdicts == {("hessian", "float32"): "timeout", ("hessian", "float64"): "timeout",
                        ("vjp", "float32"): "pass", ("vjp", "float64"): "pass"}
    assert all(r["verdict"] not in FAILING or r["kind"] == "hessian" for r in records)
    validate(merge([tmp_path / "out" / "torch_slow.jsonl"]))


def test_report_command_renders_the_merged_results(full_run, tmp_path):
    _, _, _, out = full_run
    shutil.copy(out / "torch.jsonl", tmp_path)
    proc = subprocess.run([sys.executable, "-m", "gradconf", "report", "--results-dir",
                           str(tmp_path), "--strict"], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads((tmp_path / "results.json").read_text())
    validate(doc)
    page = (tmp_path / "index.html").read_text()
    data = json.loads(re.search(r'<script type="application/json" id="gradconf-data">(.*?)'
                                r'</script>', page, re.S).group(1))
    assert len(data["records"]) == doc["summary"]["total"]  # every record, for the script
    assert "0.4851" in page and "grad can be implicitly created" in page


def test_dash_x_stops_at_the_first_failure_and_keeps_what_ran(tmp_path):
    proc = run_pytest("cases/reductions.yaml", "--framework", "fault_adapters:PerturbedVjp",
                      "--results-dir", str(tmp_path), "-x")
    assert proc.returncode == 1
    _, records = read_jsonl(tmp_path / "torch_perturbed.jsonl")
    assert [r["verdict"] for r in records][-1] == "mismatch"
    assert {r["verdict"] for r in records[:-1]} == {"pass"}
    assert (records[-1]["check"], records[-1]["dtype"]) == ("vjp", "float64")


FAULTS = ("segfault", "abort", "spin", "native_hang")


def fault_cases(*names: str) -> str:
    """A case file with one case per fault, each reading an input named after its fault."""
    return "cases:\n" + "".join(f"""
  - id: fault-{name.replace('_', '-')}
    title: reverse mode {name}
    source: {{note: t, section: t}}
    inputs: {{{name}: [1., 2.]}}
    function: sum({name}**2)
    dtypes: [float64]
    checks: [value, vjp]
""" for name in names)


def test_faults_become_records_and_the_run_completes(tmp_path):
    """Each fault kills or stalls its worker; xdist replaces it and every record is written."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "faults.yaml").write_text(fault_cases(*FAULTS), encoding="utf-8")
    shutil.copy(CASES / "reductions.yaml", cases)
    proc = run_pytest("cases", "--framework", "fault_adapters:Faults", "--results-dir", "out",
                      "-n", "2", "--timeout", "4", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:]
    _, records = read_jsonl(tmp_path / "out" / "torch_faults.jsonl")
    got = {r["case"]: (r["verdict"], r["message"]) for r in records
           if r["check"] == "vjp" and r["case"].startswith("fault-")}
    assert got["fault-segfault"][0] == "crash"
    assert got["fault-abort"][0] == "crash"
    assert got["fault-spin"][0] == "timeout"
    assert got["fault-native-hang"] == ("timeout", got["fault-native-hang"][1])
    assert "could not be interrupted" in got["fault-native-hang"][1]
    # everything else ran: the value checks of the fault cases and all of reductions.yaml
    others = [r for r in records if not (r["check"] == "vjp" and r["case"].startswith("fault-"))]
    assert len(others) == len(FAULTS) + 80 and {r["verdict"] for r in others} == {"pass"}
    validate(merge([tmp_path / "out" / "torch_faults.jsonl"]))


def test_a_check_past_the_memory_limit_is_a_crash_and_the_run_goes_on(tmp_path):
    """The memory watchdog, not the timeout, ends a check that allocates without bound.

    Its own run with a generous timeout: on a loaded machine, touching gigabytes can take longer
    than the few seconds the other faults are given, and that would be a timeout, not the
    watchdog."""
    cases = tmp_path / "cases"
    cases.mkdir()
    (cases / "faults.yaml").write_text(fault_cases("memory"), encoding="utf-8")
    proc = run_pytest("cases", "--framework", "fault_adapters:Faults", "--results-dir", "out",
                      "-n", "1", "--timeout", "120", "--max-rss-mb", "1500", cwd=tmp_path)
    assert proc.returncode == 1, proc.stdout[-3000:]
    _, records = read_jsonl(tmp_path / "out" / "torch_faults.jsonl")
    got = {r["check"]: (r["verdict"], r["message"]) for r in records}
    assert got["vjp"][0] == "crash" and "memory: resident set" in got["vjp"][1], got
    assert got["value"][0] == "pass"
    validate(merge([tmp_path / "out" / "torch_faults.jsonl"]))
