"""Acknowledgements (gradconf/acks.py): located load errors, what an entry covers, stale
and expired entries, and the gate with them, through the API and the command line."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path

import pytest
from test_diff import doc, record
from test_report import embedded

from gradconf import acks
from gradconf.diff import diff, validate
from gradconf.intake import InputError

TODAY = dt.date(2026, 11, 25)
ENTRY = """\
acknowledged:
  - case: "norm-*"
    framework: torch
    check: vjp
    category: regression
    reason: "measured; waiting on the upstream fix"
    link: "https://example.org/issue/1"
    expires: 2027-01-31
"""


def _load(tmp_path: Path, text: str) -> list[acks.Ack]:
    path = tmp_path / "acknowledged.yaml"
    path.write_text(text, encoding="utf-8")
    return acks.load(path, "acknowledged.yaml")


def test_the_shipped_file_loads_and_is_empty():
    assert acks.load(Path(__file__).parent.parent / "gate" / "acknowledged.yaml") == []


@pytest.mark.parametrize(("text", "where", "message"), [
    (ENTRY.replace("    category: regression\n", ""), ":2:", "missing field 'category'"),
    (ENTRY.replace("category: regression", "category: worse"), ":5:",
     "category must be one of regression, fix"),
    (ENTRY.replace("expires: 2027-01-31", "expires: next spring"), ":8:",
     "expires must be a date"),
    (ENTRY.replace("check: vjp", "chekc: vjp"), ":4:", "unknown field 'chekc'"),
    (ENTRY.replace('link: "https://example.org/issue/1"', "link: javascript:alert(1)"), ":7:",
     "link must be an http(s) URL"),
    (ENTRY + "    reason: again\n", ":9:", "the key 'reason' appears twice"),
    ("acknowledged: [\n", ":2:", "not valid YAML"),
    ("- a list\n", ":1:", "one mapping with the key 'acknowledged'"),
])
def test_a_bad_entry_is_refused_with_its_line(tmp_path, text, where, message):
    with pytest.raises(InputError) as err:
        _load(tmp_path, text)
    assert str(err.value).startswith("acknowledged.yaml" + where), str(err.value)
    assert message in str(err.value)


def _runs():
    base = doc(record(), record(check="jvp"), record(case="other"))
    cand = doc(record(verdict="mismatch", message="worse"), record(check="jvp", verdict="nan"),
               record(case="other"))
    return base, cand


def test_an_acknowledged_regression_does_not_fail_the_gate_the_others_still_do(tmp_path):
    base, cand = _runs()
    out = diff(base, cand, acks=_load(tmp_path, ENTRY), ack_file="acknowledged.yaml",
               today=TODAY)
    validate(out)
    by_check = {c["check"]: c for c in out["changes"]}
    assert by_check["vjp"]["acknowledged"]["line"] == 2
    assert by_check["jvp"]["acknowledged"] is None
    assert out["gate"]["acknowledged"] == 1
    assert out["gate"]["failed_on"] == ["regression"]  # the jvp one
    only = ENTRY.replace("check: vjp", 'check: "*"')
    out = diff(base, cand, acks=_load(tmp_path, only), today=TODAY)
    assert out["gate"]["passed"] and out["gate"]["acknowledged"] == 2


def test_an_entry_that_covers_nothing_is_stale_and_an_expired_one_fails(tmp_path):
    base, cand = _runs()
    unused = ENTRY.replace('case: "norm-*"', 'case: "gone-*"')
    out = diff(base, cand, acks=_load(tmp_path, unused), today=TODAY)
    assert [a["line"] for a in out["gate"]["acknowledgements"]["stale"]] == [2]
    assert out["gate"]["acknowledgements"]["expired"] == []
    calm = diff(base, base, acks=_load(tmp_path, ENTRY), today=TODAY)
    assert calm["gate"]["passed"] and len(calm["gate"]["acknowledgements"]["stale"]) == 1
    late = diff(base, base, acks=_load(tmp_path, ENTRY), today=dt.date(2027, 2, 1))
    validate(late)
    assert late["gate"]["failed_on"] == ["expired_acknowledgement"]
    assert late["gate"]["acknowledgements"]["expired"][0]["expires"] == "2027-01-31"
    # an expired entry acknowledges nothing
    late = diff(base, cand, acks=_load(tmp_path, ENTRY), today=dt.date(2027, 2, 1))
    assert late["gate"]["acknowledged"] == 0 and "regression" in late["gate"]["failed_on"]


def test_the_command_line_takes_ack_and_reports_in_markdown_and_html(tmp_path):
    base, cand = _runs()
    (tmp_path / "base.json").write_text(json.dumps(base), encoding="utf-8")
    (tmp_path / "cand.json").write_text(json.dumps(cand), encoding="utf-8")
    entry = ENTRY.replace("check: vjp", 'check: "*"')
    (tmp_path / "ack.yaml").write_text(entry, encoding="utf-8")

    def run(*extra):
        return subprocess.run([sys.executable, "-m", "gradconf", "diff", "base.json",
                               "cand.json", "--out", "out", *extra], cwd=tmp_path,
                              capture_output=True, text=True)
    assert run("--ack", "").returncode == 1
    done = run("--ack", "ack.yaml")
    assert done.returncode == 0, done.stdout + done.stderr
    md = (tmp_path / "out" / "diff.md").read_text(encoding="utf-8")
    assert "## acknowledgements (1 entries)" in md
    assert "acknowledged until 2027\\-01\\-31" in md
    page = (tmp_path / "out" / "diff.html").read_text(encoding="utf-8")
    data = embedded(page)  # every change is acknowledged by the entry, until its date
    (ack,) = data["acks"]
    assert data["S"][ack[2]] == "2027-01-31"
    assert data["changes"] and all(row[data["fields"].index("ack")] == 0
                                   for row in data["changes"])
    missing = run("--ack", "nope.yaml")
    assert missing.returncode == 2 and "--ack: no acknowledgements file 'nope.yaml'" in \
        missing.stderr
    (tmp_path / "gate").mkdir()
    (tmp_path / "gate" / "acknowledged.yaml").write_text(entry, encoding="utf-8")
    assert run().returncode == 0  # the default file is read
    (tmp_path / "gate" / "acknowledged.yaml").write_text(entry.replace("2027-01-31",
                                                                       "2020-01-01"))
    expired = run()
    assert expired.returncode == 1
    assert "expired acknowledgement: gate/acknowledged.yaml:2: regression" in expired.stdout
