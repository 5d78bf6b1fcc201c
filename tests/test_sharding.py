"""Sharded runs (gradconf/sharding.py): the split, and shard streams joined back into the
unsharded run's results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gradconf import sharding
from gradconf.intake import InputError
from gradconf.results import JsonlWriter, environment
from helpers import ROOT

IDS = [f"cases/{f}.yaml::{c}[torch-{k}-float64]" for f in ("a", "b") for c in
       ("one", "two", "three") for k in ("value", "vjp", "hessian")]


def test_parts_are_whole_cases_balanced_by_durations_and_deterministic():
    seconds = {n: (10.0 if "three" in n else 1.0) for n in IDS}
    part = sharding.assign(IDS, 3, seconds)
    assert set(part) == set(IDS) and set(part.values()) == {1, 2, 3}
    for n in IDS:  # a case's checks stay together
        assert len({part[m] for m in IDS if sharding.case_of(m) == sharding.case_of(n)}) == 1
    loads = {k: sum(seconds[n] for n in IDS if part[n] == k) for k in (1, 2, 3)}
    # the two heavy cases (30 s each) get a part each; the four light ones (3 s) the third
    assert sorted(loads.values()) == [12.0, 30.0, 30.0]
    assert sharding.assign(list(reversed(IDS)), 3, seconds) == part
    even = sharding.assign(IDS, 2)
    assert sorted(list(even.values()).count(k) for k in (1, 2)) == [9, 9]


def test_files_are_ordered_longest_first_keeping_each_files_items_in_order():
    class Item:
        def __init__(self, nodeid: str) -> None:
            self.nodeid = nodeid

    items = [Item(n) for n in IDS] + [Item("cases/c.yaml::new[torch-value-float64]")]
    seconds = {n: (5.0 if n.startswith("cases/b.yaml") else 1.0) for n in IDS}
    ordered = [i.nodeid for i in sharding.longest_files_first(items, seconds)]
    b_items = [n for n in IDS if n.startswith("cases/b.yaml")]
    a_items = [n for n in IDS if n.startswith("cases/a.yaml")]
    # b (45 s) before a (9 s) before c, which the earlier run lacks; order within a file kept
    assert ordered == b_items + a_items + ["cases/c.yaml::new[torch-value-float64]"]
    assert [i.nodeid for i in sharding.longest_files_first(items, {})] == [i.nodeid
                                                                           for i in items]


@pytest.mark.parametrize("text", ["0/3", "4/3", "3", "a/b", "1/0", ""])
def test_a_bad_shard_is_refused(text):
    with pytest.raises(InputError, match="is not K/N"):
        sharding.parse(text)


def _stream(path: Path, shard: str | None, items: list[str], end: bool = True) -> None:
    env = environment("torch", "2.13.0")
    if shard:
        env["shard"] = shard
    w = JsonlWriter(path, env)
    w.manifest(items)
    if end:
        w.end(0, 0)
    w.close()


def test_a_missing_repeated_or_unfinished_shard_is_a_problem(tmp_path):
    for k in (1, 3):
        _stream(tmp_path / f"s{k}" / "torch.jsonl", f"{k}/3", [f"x::c{k}[torch-value-float64]"])
    _stream(tmp_path / "again" / "torch.jsonl", "3/3", [])
    written, problems = sharding.join([tmp_path / "s1", tmp_path / "s3", tmp_path / "again"],
                                      tmp_path / "out")
    assert written == [tmp_path / "out" / "torch.jsonl"]
    assert any("shard(s) 2/3 missing" in p for p in problems)
    assert any("shard 3/3 of torch twice" in p for p in problems)
    lines = [json.loads(line) for line in written[0].read_text().splitlines()]
    assert "shard" not in lines[0]["environment"]
    assert lines[1]["manifest"]["items"] == ["x::c1[torch-value-float64]",
                                             "x::c3[torch-value-float64]"]
    assert not any("end" in line for line in lines)  # incomplete: it reads as interrupted
    _stream(tmp_path / "late" / "torch.jsonl", "2/3", [], end=False)
    _, problems = sharding.join([tmp_path / "s1", tmp_path / "late", tmp_path / "s3"],
                                tmp_path / "out2")
    assert any("shard 2/3 of torch did not finish" in p for p in problems)


@pytest.mark.torch
def test_shards_merge_to_the_unsharded_result(tmp_path):
    """Two case files on torch, whole and as three shards with xdist; `gradconf merge` of
    the shards gives the unsharded results.json, cost aside: the times, and the oracle
    evaluations an item counts (a reference is computed once per process, by the first
    item there that needs it, so they follow the split)."""
    pytest.importorskip("gradconf_adapters.torch_adapter")
    files = ["cases/basics.yaml", "cases/reductions.yaml"]
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    env.pop("GRADCONF_FRAMEWORK", None)

    def run(out: Path, *extra: str) -> None:
        proc = subprocess.run([sys.executable, "-m", "pytest", *files, "--framework", "torch",
                               "--results-dir", str(out), "-p", "no:cacheprovider", "-q",
                               "--repeat", "1", *extra], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    run(tmp_path / "whole")
    for k in (1, 2, 3):  # one shard under xdist: every worker must compute the same split
        run(tmp_path / f"shard{k}", "--shard", f"{k}/3", *(("-n", "2") if k == 2 else ()),
            "--durations-from", str(tmp_path / "whole"))
    sizes = [len(json.loads((tmp_path / f"shard{k}" / "torch.jsonl").read_text()
                            .splitlines()[1])["manifest"]["items"]) for k in (1, 2, 3)]
    assert all(sizes) and max(sizes) < sum(sizes)
    merged = subprocess.run([sys.executable, "-m", "gradconf", "merge", "--out",
                             str(tmp_path / "merged"), *(str(tmp_path / f"shard{k}")
                                                         for k in (3, 1, 2))],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert merged.returncode == 0, merged.stdout + merged.stderr
    report = subprocess.run([sys.executable, "-m", "gradconf", "report", "--results-dir",
                             str(tmp_path / "whole")], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=300)
    assert report.returncode == 0, report.stdout + report.stderr

    def comparable(path: Path) -> dict:
        doc = json.loads(path.read_text(encoding="utf-8"))
        doc["environment"].pop("time")
        for rec in doc["records"]:
            for key in ("duration_s", "oracle_s", "compile_s", "oracle_evaluations"):
                rec.pop(key, None)
        for run_ in doc["runs"].values():
            run_["environment"].pop("time")
        return doc
    whole, joined = comparable(tmp_path / "whole" / "results.json"), \
        comparable(tmp_path / "merged" / "results.json")
    assert joined["summary"] == whole["summary"]
    assert joined["records"] == whole["records"]
    assert joined == whole
