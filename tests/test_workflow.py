"""The CI workflow users copy (.github/workflows/conformance.yml): actionlint finds nothing
in it, and it runs what the README says: a framework x shard matrix, a merge, the gate."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from helpers import ROOT

WORKFLOW = ROOT / ".github" / "workflows" / "conformance.yml"


def _actionlint() -> str:
    """The actionlint the test extra installs: beside this interpreter (a venv run without
    activating it), else on PATH."""
    beside = Path(sys.executable).parent / "actionlint"
    exe = str(beside) if beside.is_file() else shutil.which("actionlint")
    if exe is None:
        pytest.fail("actionlint is not installed: the test extra brings it")
    return exe


def test_actionlint_finds_nothing_in_the_workflow():
    exe = _actionlint()
    done = subprocess.run([exe, "-no-color", str(WORKFLOW)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def test_actionlint_would_catch_a_broken_workflow(tmp_path):
    exe = _actionlint()
    broken = tmp_path / ".github" / "workflows" / "broken.yml"
    broken.parent.mkdir(parents=True)
    broken.write_text(WORKFLOW.read_text().replace("needs: cases", "needs: shards"))
    done = subprocess.run([exe, "-no-color", str(broken)], capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1 and "shards" in done.stdout


def test_the_workflow_shards_every_framework_then_merges_and_gates():
    flow = yaml.safe_load(WORKFLOW.read_text())
    matrix = flow["jobs"]["cases"]["strategy"]["matrix"]
    assert matrix["framework"] == ["torch", "jax", "tensorflow", "autograd"]
    assert len(matrix["shard"]) == int(flow["env"]["SHARDS"])
    run = " ".join(step.get("run", "") for step in flow["jobs"]["cases"]["steps"])
    assert '--shard "$SHARD/$SHARDS"' in run
    gate = " ".join(step.get("run", "") for step in flow["jobs"]["gate"]["steps"])
    for command in ("gradconf merge", "gradconf report",
                    "gradconf gate reports --baselines baselines",
                    "--ack gate/acknowledged.yaml", "GITHUB_STEP_SUMMARY"):
        assert command in gate
