"""Committed baselines and the gate against them (``gradconf baseline``, ``gradconf gate``,
``nox -s baseline`` / ``nox -s gate``), on real PyTorch runs of one case file."""

from __future__ import annotations

import gzip
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from test_plugin import ROOT, run_pytest

from gradconf.baseline import file_name, read
from gradconf.intake import InputError
from gradconf.intake.streams import load_document
from gradconf.results import validate
from test_results import torch_records, write_stream

pytestmark = pytest.mark.torch
CASES = "cases/reductions.yaml"


def gradconf(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gradconf", *args], capture_output=True,
                          text=True, cwd=ROOT, timeout=300)


@pytest.fixture(scope="module")
def pinned(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A run of one case file on the installed PyTorch, and the baseline made from it."""
    tmp = tmp_path_factory.mktemp("pinned")
    run, baselines = tmp / "run", tmp / "baselines"
    assert run_pytest(CASES, "--framework", "torch", "--results-dir", str(run)
                      ).returncode == 0
    proc = gradconf("baseline", str(run), "--out", str(baselines))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return run, baselines


def test_a_baseline_is_a_small_valid_document_of_one_version(pinned):
    run, baselines = pinned
    (path,) = baselines.iterdir()
    doc = read(path)
    validate(doc)
    version = doc["environment"]["frameworks"]["torch"]
    assert path.name == file_name("torch", version) == f"torch-{version}.json.gz"
    whole = load_document(run)
    assert [r["nodeid"] for r in doc["records"]] == [r["nodeid"] for r in whole["records"]]
    header = json.loads((run / "torch.jsonl").read_text(encoding="utf-8").splitlines()[0])
    assert doc["environment"]["cases_digest"] == header["environment"]["cases_digest"]
    assert not any("traceback" in r or "reference_steps" in r for r in doc["records"])
    assert path.stat().st_size < (run / "torch.jsonl").stat().st_size / 3
    # the same run gives the same bytes (no time or file name in the gzip header)
    before = path.read_bytes()
    assert gradconf("baseline", str(run), "--out", str(baselines)).returncode == 0
    assert path.read_bytes() == before


def test_the_same_version_passes_its_gate(pinned, tmp_path):
    run, baselines = pinned
    proc = gradconf("gate", str(run), "--baselines", str(baselines), "--out", str(tmp_path))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gate passed" in proc.stdout
    doc = json.loads((tmp_path / "diff.json").read_text(encoding="utf-8"))
    assert doc["summary"]["unchanged"] == len(load_document(run)["records"])
    assert doc["environment"] == []  # same Python, NumPy, platform, cases, build


def test_a_broken_build_of_the_pinned_version_fails_its_gate_with_located_lines(pinned,
                                                                                tmp_path):
    _, baselines = pinned
    broken = tmp_path / "broken"
    run_pytest(CASES, "--framework", "fault_adapters:BrokenBuildTorch", "--results-dir",
               str(broken))
    proc = gradconf("gate", str(broken), "--baselines", str(baselines), "--out",
                    str(tmp_path / "diff"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "gate FAILED on regression" in proc.stdout
    located = re.findall(r"^  regression: (cases/reductions\.yaml):(\d+): (\S+) "
                         r"\[torch-vjp-float64\]", proc.stdout, re.M)
    assert located
    lines = (ROOT / CASES).read_text(encoding="utf-8").splitlines()
    for _, line, case in located:  # each line is where its case starts
        assert re.search(rf"id:\s*['\"]?{re.escape(case)}['\"]?\s*$", lines[int(line) - 1])


def test_a_run_of_other_cases_is_refused(pinned, tmp_path):
    _, baselines = pinned
    other = tmp_path / "other"
    run_pytest("cases/graph-lifetime.yaml", "--framework", "torch", "--results-dir",
               str(other), "-k", "value")
    proc = gradconf("gate", str(other), "--baselines", str(baselines), "--out",
                    str(tmp_path / "diff"))
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "ran other cases than this run" in proc.stderr
    assert "nox -s baseline" in proc.stderr


def test_a_missing_baseline_names_the_ones_there(pinned, tmp_path):
    run, baselines = pinned
    (tmp_path / "torch-1.0.0.json.gz").write_bytes((next(baselines.iterdir())).read_bytes())
    proc = gradconf("gate", str(run), "--baselines", str(tmp_path), "--out",
                    str(tmp_path / "diff"))
    assert proc.returncode == 2
    assert "no baseline of torch 2.13.0" in proc.stderr
    assert "baselines of torch: torch-1.0.0.json.gz" in proc.stderr


def test_an_incomplete_run_makes_no_baseline(tmp_path):
    write_stream(tmp_path / "torch.jsonl", "torch", torch_records(), complete=False)
    proc = gradconf("baseline", str(tmp_path), "--out", str(tmp_path / "b"))
    assert proc.returncode == 2
    assert "the run is not complete" in proc.stderr
    assert not (tmp_path / "b").exists()


@pytest.mark.parametrize("version", ["../x", "", "2.0 beta", "a/b"])
def test_a_version_that_is_not_a_version_names_no_file(version):
    with pytest.raises(InputError, match="cannot name a baseline file"):
        file_name("torch", version)


def test_a_corrupt_baseline_is_refused_with_its_path(tmp_path):
    bad = tmp_path / "torch-2.13.0.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(InputError, match="not a readable gzip file"):
        load_document(bad)
    bad.write_bytes(gzip.compress(b"[1, 2]"))
    with pytest.raises(InputError, match="not a results document"):
        load_document(bad)
