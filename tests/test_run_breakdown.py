"""The run-cost benchmark's reading of the noxfile's step marks: virtualenv, pip, tests."""

from __future__ import annotations

import importlib.util
import json

from helpers import ROOT

spec = importlib.util.spec_from_file_location("run_breakdown",
                                              ROOT / "benchmarks" / "run_breakdown.py")
run_breakdown = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_breakdown)


def test_the_steps_of_each_session_split_into_venv_install_tests_and_cases(tmp_path):
    marks = [("nox", "start", 0), ("a", "start", 10), ("a", "installed", 40),
             ("a", "unit", 40), ("a", "cases", 240), ("a", "end", 340),
             ("b", "start", 345), ("b", "installed", 365), ("b", "cases", 365),
             ("b", "end", 665), ("merged", "start", 670)]  # no end: not a measured session
    path = tmp_path / "marks.jsonl"
    path.write_text("".join(json.dumps({"session": s, "step": k, "t": t}) + "\n"
                            for s, k, t in marks))
    got = run_breakdown.timings(path)
    assert got == {
        "a": {"virtualenv_s": 10, "install_s": 30, "unit_s": 200, "cases_s": 100,
              "total_s": 340},
        "b": {"virtualenv_s": 5, "install_s": 20, "unit_s": 0, "cases_s": 300, "total_s": 325}}
    page = run_breakdown.markdown({"nox": got})
    assert "nox and pip overhead: 65 s of 665 s (10 %)." in page
