"""The merged run of every framework, as ``nox -s tests`` leaves it (checked by ``nox -s merged``).

Each framework's test session also runs every shipped case in its own venv, streaming to
``GRADCONF_E2E_DIR/<framework>.jsonl``. Here, in a venv with no framework at all, the
streams merge into one document that must name every framework, cover every item on
every framework, and hold no difference that is neither a pass nor declared and linked.
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from gradconf.arrays import decode
from gradconf.kinds import FAILING
from gradconf.report.html import render
from gradconf.results import merge, validate

E2E = os.environ.get("GRADCONF_E2E_DIR")
FRAMEWORKS = ("autograd", "jax", "tensorflow", "torch")
pytestmark = [pytest.mark.merged,
              pytest.mark.skipif(not E2E, reason="needs the streams of nox -s tests")]


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    streams = sorted(Path(E2E or ".").glob("*.jsonl"))
    return merge(streams)


def test_every_framework_ran_and_the_document_is_valid(doc):
    validate(doc)
    assert tuple(sorted(doc["environment"]["frameworks"])) == FRAMEWORKS
    assert all(doc["environment"]["frameworks"].values())


def test_every_run_is_complete(doc):
    assert tuple(sorted(doc["runs"])) == FRAMEWORKS
    for fw, run in doc["runs"].items():
        assert run["complete"], (fw, run["incomplete"], run["problems"], run["missing"][:5])
        assert run["collected"] == run["finished"] > 400


def test_every_item_ran_on_every_framework(doc):
    items: dict[str, set[tuple[str, str, str, str]]] = defaultdict(set)
    for r in doc["records"]:
        items[r["framework"]].add((r["case"], r["check"], r["dtype"],
                                   r.get("execution", "eager")))
    reference = items["torch"]
    assert len(reference) > 400
    for fw in FRAMEWORKS:
        assert items[fw] == reference, (fw, sorted(items[fw] ^ reference)[:10])


def test_compiled_execution_ran_beside_eager(doc):
    """The representative subset ran through each compiler and beside eager; autograd,
    which has no compiler, says so."""
    compiled = [r for r in doc["records"] if r.get("execution") == "compiled"]
    by_fw = defaultdict(list)
    for r in compiled:
        by_fw[r["framework"]].append(r)
    assert set(by_fw) == set(FRAMEWORKS)
    assert {r["verdict"] for r in by_fw["autograd"]} == {"not_applicable"}
    for fw in ("torch", "jax", "tensorflow"):
        ran = [r for r in by_fw[fw] if r["verdict"] not in ("unsupported", "not_applicable")]
        assert len(ran) > 100 and all(r["compiler"] for r in ran), fw
        assert all("eager_difference" in r and "compile_s" in r for r in ran
                   if r["verdict"] not in ("invalid", "crash", "timeout")), fw
    assert '<h2 id="compiled">' in render(doc)


def test_every_difference_is_a_pass_or_declared(doc):
    failing = [f"{r.get('nodeid') or r['case']}: {r['verdict']} "
               f"{r['message'][:160]}" for r in doc["records"] if r["verdict"] in FAILING]
    assert failing == []
    for r in doc["records"]:
        if r["verdict"] == "expected_divergence":
            assert r["divergence"]["reason"] and r["divergence"]["link"].startswith("http")
        if r["verdict"] in ("unsupported", "not_applicable"):
            assert r["message"], r


def test_goldens_hold_wherever_a_check_passes(doc):
    with_golden = [r for r in doc["records"] if r["verdict"] == "pass" and r["golden"]]
    assert {r["framework"] for r in with_golden} == set(FRAMEWORKS)
    assert all(r.get("golden_ok") for r in with_golden)


def test_the_page_puts_the_frameworks_side_by_side(doc):
    page = render(doc)
    assert '<h2 id="side-by-side">' in page and '<h2 id="probes">' in page
    for fw in FRAMEWORKS:
        assert f"<th>{fw}</th>" in page


def test_every_op_is_met_on_every_framework(doc):
    """Each op of the table is used by some case whose records every framework produced
    (an op a framework cannot lower is recorded there as unsupported, with its reason)."""
    from gradconf.loader import load_paths
    from gradconf.ops import OPS

    root = Path(__file__).resolve().parent.parent
    result = load_paths([root / "cases"], root)
    ran = defaultdict(set)
    for r in doc["records"]:
        ran[r["case"]].add(r["framework"])
    met = {op for c in result.cases if set(FRAMEWORKS) <= ran[c.id]
           for op in c.program.ops_used()}
    assert sorted(set(OPS) - met) == []
    assert len(OPS) >= 120 and len(result.cases) >= 300


def test_complex_cases_name_each_frameworks_convention(doc):
    named = {(r["framework"], r["complex"]["convention"]) for r in doc["records"]
             if r.get("complex")}
    assert named == {("torch", "conjugate_wirtinger"), ("tensorflow", "conjugate_wirtinger"),
                     ("jax", "wirtinger"), ("autograd", "wirtinger")}


def test_verdicts_agree_with_the_classification(doc):
    """No framework is blamed where calculus has nothing to say: a nan, inf or mismatch
    verdict always points at an entry whose reference is finite, and a point the oracle
    found undefined or overflowing is never judged there."""
    bad = []
    for r in doc["records"]:
        verdict = r["verdict"]
        if r.get("divergence"):
            verdict = r["message"].partition("(")[2].partition(")")[0] or verdict
        if verdict in ("nan", "inf") and r.get("observed") and r.get("reference"):
            blamed = False
            for name, ref in r["reference"].items():
                obs = r["observed"].get(name)
                if obs is None or r["kind"] == "rev_fwd":
                    blamed = True
                    break
                o, f = decode(obs).astype(np.float64), decode(ref).astype(np.float64)
                if o.shape == f.shape and np.any(~np.isfinite(o) & np.isfinite(f)):
                    blamed = True
            if not blamed:
                bad.append(f"{r['nodeid']}: {verdict} without a finite reference entry")
        if verdict == "mismatch" and r.get("worst") and not np.isfinite(
                r["worst"]["reference"]):
            bad.append(f"{r['nodeid']}: mismatch at a non-finite reference")
        if verdict == "undefined" and r.get("classification") not in (
                "undefined", "overflow", "discontinuity", None):
            bad.append(f"{r['nodeid']}: undefined at a {r['classification']} point")
    # where the function itself is not finite, no derivative blames the framework's values
    # (a wrong dtype or shape is wrong anywhere)
    off = {(r["framework"], r["case"], r["dtype"]) for r in doc["records"]
           if r["kind"] == "value" and r.get("reference") and "out" in r["reference"]
           and not np.any(np.isfinite(decode(r["reference"]["out"]).astype(np.float64)))}
    for r in doc["records"]:
        verdict = r["verdict"]
        if r.get("divergence"):
            verdict = r["message"].partition("(")[2].partition(")")[0] or verdict
        if ((r["framework"], r["case"], r["dtype"]) in off and r["kind"] != "value"
                and verdict in ("nan", "inf", "mismatch")
                and not any(f": {what} " in r["message"] for what in ("dtype", "shape"))):
            bad.append(f"{r['nodeid']}: {verdict} where the function is not finite")
    assert not bad, "\n".join(bad[:20])


def test_the_test_runs_pass_the_gate_against_the_committed_baselines(tmp_path):
    """The test sessions run the gate's run of the pinned versions (noxfile GATE_RUN), so
    ``gradconf gate`` over their streams is ``nox -s gate`` on this clone: each framework's
    committed baseline is found by the version that ran, made from the same case files,
    and nothing has changed."""
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-m", "gradconf", "gate", str(E2E), "--baselines",
                           str(Path(__file__).parent.parent / "baselines"),
                           "--out", str(tmp_path)], capture_output=True, text=True,
                          timeout=600, cwd=Path(__file__).parent.parent)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    assert "gate passed" in proc.stdout
