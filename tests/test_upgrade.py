"""The upgrade session's planning (gradconf/upgrade.py): its arguments split into
requirements and diff options, and the interpreter a candidate installs on."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from gradconf import upgrade as plan


@pytest.mark.parametrize(("args", "reqs", "diff", "python", "base"), [
    (["torch==2.14.1"], ["torch==2.14.1"], [], None, None),
    (["jax==0.12.0.1", "jaxlib==0.12.0.1", "--fail-on", "regression", "--ack=a.yaml"],
     ["jax==0.12.0.1", "jaxlib==0.12.0.1"], ["--fail-on", "regression", "--ack", "a.yaml"],
     None, None),
    (["--python", "3.12", "tf-nightly-cpu", "--out", "o", "--fail-on=", "--base",
      "reports/tensorflow.jsonl"],
     ["tf-nightly-cpu"], ["--out", "o", "--fail-on", ""], "3.12", "reports/tensorflow.jsonl"),
])
def test_arguments_split_into_requirements_diff_options_python_and_base(args, reqs, diff,
                                                                         python, base):
    assert plan.split_args(args) == (reqs, diff, python, base)


def test_the_base_is_the_one_committed_baseline_of_the_framework(tmp_path):
    with pytest.raises(plan.UsageError, match=r"found: none\).*--base PATH"):
        plan.committed_baseline("jax", tmp_path)
    (tmp_path / "jax-0.10.2.json.gz").write_bytes(b"")
    (tmp_path / "jaxlike-1.0.json.gz").write_bytes(b"")  # another framework's name
    assert plan.committed_baseline("jax", tmp_path) == tmp_path / "jax-0.10.2.json.gz"
    (tmp_path / "jax-0.9.0.json.gz").write_bytes(b"")
    with pytest.raises(plan.UsageError, match=re.escape("jax-0.10.2.json.gz, jax-0.9.0.json.gz")):
        plan.committed_baseline("jax", tmp_path)


@pytest.mark.parametrize(("args", "message"), [
    ([], "name the candidate after --"),
    (["--fail-on", "regression"], "name the candidate after --"),
    (["torch==2.14.1", "--ack"], "--ack needs a value"),
    (["torch==2.14.1", "-k", "x"], "unknown option '-k'"),
])
def test_bad_arguments_say_what_to_write(args, message):
    with pytest.raises(plan.UsageError, match=message):
        plan.split_args(args)


def _fake_python(where: Path, version: str, installs: bool) -> Path:
    """A script that answers like an interpreter of ``version`` and whose pip dry run
    succeeds or fails."""
    where.mkdir(parents=True, exist_ok=True)
    exe = where / "python"
    major, minor = version.split(".")[:2]
    exe.write_text("#!/bin/sh\n"
                   f'case "$1" in -c) echo {major} {minor};; -m) exit {0 if installs else 1};; '
                   "esac\n")
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    return exe


def test_interpreters_are_found_under_pyenv_and_only_supported_versions_kept(tmp_path):
    root = tmp_path / "versions"
    for v in ("3.9.18", "3.11.7", "3.12.1", "3.13.0"):
        _fake_python(root / v / "bin", v, True)
    found = plan.interpreters([root], path="")
    assert list(found) == [(3, 11), (3, 12), (3, 13)]
    assert found[(3, 12)] == str(root / "3.12.1" / "bin" / "python")


def test_the_baseline_version_first_then_the_newest_the_candidate_installs_on(tmp_path):
    found = {(3, 11): str(_fake_python(tmp_path / "a", "3.11", False)),
             (3, 12): str(_fake_python(tmp_path / "b", "3.12", True)),
             (3, 13): str(_fake_python(tmp_path / "c", "3.13", True))}
    # jax 0.12 needs >= 3.12: not the session's 3.11, but the newest that installs it
    assert plan.pick(["jax==0.12.0.1"], (3, 11), found) == ((3, 13), found[(3, 13)])
    assert plan.pick(["jax==0.12.0.1"], (3, 12), found) == ((3, 12), found[(3, 12)])
    nothing = {(3, 11): found[(3, 11)]}
    with pytest.raises(plan.UsageError, match=r"installs on none of the interpreters here "
                                               r"\(tried Python 3\.11\)"):
        plan.pick(["jax==0.12.0.1"], (3, 11), nothing)


def test_python_is_named_by_version_or_path(tmp_path):
    exe = _fake_python(tmp_path / "p", "3.12", True)
    found = {(3, 12): str(exe)}
    assert plan.resolve_python("3.12", found) == ((3, 12), str(exe))
    assert plan.resolve_python(str(exe), found) == ((3, 12), str(exe))
    with pytest.raises(plan.UsageError, match=r"--python 3\.13: no such interpreter here"):
        plan.resolve_python("3.13", found)
    with pytest.raises(plan.UsageError, match="not a Python interpreter"):
        plan.resolve_python(str(tmp_path / "missing"), found)
