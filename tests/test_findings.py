"""Findings as data: divergence kinds and version ranges, the bug tables, generated docs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradconf.findings import declared, declared_markdown, found
from gradconf.loader import load_paths
from gradconf.opsdoc import ops_markdown
from gradconf.report.html import render
from gradconf.report.markdown import summary_markdown
from gradconf.schema import Divergence
from test_results import diverging, document, passing

ROOT = Path(__file__).resolve().parent.parent


def _divergence(versions: str) -> Divergence:
    return Divergence(framework="tensorflow", kind="bug", versions=versions, check="vjp",
                      reason="a reason long enough", link="https://example.com/i/1")


@pytest.mark.parametrize(("versions", "version", "applies"), [
    (">=2.21", "2.21.0", True),
    (">=2.21,<2.22", "2.22.0.dev20251120", False),   # the nightly lies past the range
    (">=2.21,<2.22", "2.21.3", True),
    (">=2.22.0.dev0", "2.22.0.dev20251120", True),
    (">=2.13", "2.13.0+cpu", True),                   # a local build is its version
    ("<2.13", "2.13.0+cpu", False),
    ("==0.10.2", "0.10.2", True),
    (">=1.9", "not a version", True),                 # unreadable: the declaration stands
])
def test_a_divergence_applies_within_its_version_range(versions, version, applies):
    assert _divergence(versions).applies_to(version) is applies


@pytest.mark.parametrize("versions", ["", "2.21", "latest", ">= two"])
def test_a_version_range_that_is_not_pep_440_is_refused(versions):
    with pytest.raises(ValueError, match=r"PEP 440|range"):
        _divergence(versions)


def _bug(**kw):
    rec = diverging(**kw)
    rec["divergence"] = {**rec["divergence"], "kind": "bug"}
    return rec


def test_found_groups_reproduced_bugs_and_skips_the_rest():
    stale = _bug(case="c2")
    stale["verdict"] = "stale"
    api = diverging(case="c3")  # kind api
    rows = found([_bug(check="vjp", dtype="float64"), _bug(check="jvp", dtype="float32"),
                  stale, api, passing()])
    assert len(rows) == 1
    (row,) = rows
    assert row["case"] == "column" and row["checks"] == ["vjp", "jvp"]
    assert row["dtypes"] == ["float64", "float32"]


def test_the_report_and_summary_carry_the_bug_table():
    doc = document([_bug(), passing()])
    md = summary_markdown(doc)
    assert "## Framework bugs found (1)" in md
    assert "| torch | 2\\.13\\.0\\+cpu |" in md
    page = render(doc)
    assert 'id="bugs"' in page and "Framework bugs found (1)" in page


def test_a_run_without_bugs_has_no_bug_table():
    doc = document([diverging(), passing()])
    assert "Framework bugs found" not in summary_markdown(doc)
    assert 'id="bugs"' not in render(doc)


def _between(text: str, name: str) -> str:
    m = re.search(rf"<!-- {name}:start -->\n(.*?)<!-- {name}:end -->", text, re.S)
    assert m, f"markers {name}:start/end not found"
    return m.group(1)


def test_the_readme_bug_table_is_generated_from_the_cases():
    result = load_paths([ROOT / "cases"], ROOT)
    assert not result.errors
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _between(readme, "bugs") == declared_markdown(result.cases), \
        "README.md is out of date: paste `gradconf bugs` between the bugs markers"
    assert all(r["link"].startswith("https://") and r["versions"]
               for r in declared(result.cases))


def test_the_op_table_in_cases_readme_is_generated_from_the_rows():
    doc = (ROOT / "cases" / "README.md").read_text(encoding="utf-8")
    assert _between(doc, "ops") == ops_markdown(), \
        "cases/README.md is out of date: paste `gradconf ops` between the ops markers"
