"""The views of a results document: the HTML page, the Markdown summary, the failure text
and ``gradconf report`` itself."""

from __future__ import annotations

import json
import re
from collections import Counter
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from gradconf.cli import main
from gradconf.kinds import FAILING, VERDICTS
from gradconf.report.html import render
from gradconf.report.markdown import summary_markdown
from gradconf.report.text import failure_text
from gradconf.results import merge, schema, validate
from gradconf.runner import invalid_record
from test_results import (
    DIVERGENCE_LINK,
    DIVERGENCE_REASON,
    EXPECTED_COUNTS,
    PIPE_MESSAGE,
    VERSIONS,
    document,
    errored,
    hostile,
    jax_records,
    mismatch,
    passing,
    probe,
    sample_document,
    torch_records,
    write_stream,
)

HOSTILE_FIELDS = ("title", "message", "error", "warning", "array")


# ------------------------------------------------------------------ reading the page


class Tags(HTMLParser):
    """Every start tag with its attributes, in document order."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def ids(self) -> dict[str, tuple[str, dict[str, str | None]]]:
        """id -> (tag, attributes); ids must be unique."""
        out: dict[str, tuple[str, dict[str, str | None]]] = {}
        for tag, attrs in self.tags:
            if attrs.get("id") is not None:
                assert attrs["id"] not in out, f"duplicate id {attrs['id']}"
                out[str(attrs["id"])] = (tag, attrs)
        return out


class Rows(HTMLParser):
    """The text of every table cell, row by row (whitespace collapsed)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def section(html: str, h2_id: str) -> str:
    """The first table after ``<h2 id=h2_id>``, as HTML."""
    start = html.index(f'<h2 id="{h2_id}">')
    return html[start:html.index("</table>", start) + len("</table>")]


def details(html: str, anchor: str) -> tuple[bool, str]:
    """Whether ``<details id=anchor>`` is open, and its inner HTML."""
    m = re.search(rf'<details\b([^>]*\bid="{anchor}"[^>]*)>(.*?)</details>', html, re.S)
    assert m, f"no <details id={anchor}>"
    ((_, attrs),) = Tags(f"<details{m.group(1)}>").tags
    return "open" in attrs, m.group(2)


def anchor_of(doc: dict[str, Any], **match: Any) -> str:
    """The page anchor of the only record whose fields equal ``match``."""
    (i,) = [i for i, r in enumerate(doc["records"])
            if all(r.get(k) == v for k, v in match.items())]
    return f"r{i}"


@pytest.fixture(scope="module")
def doc() -> dict[str, Any]:
    """The sample document (validated: the page is rendered from valid documents)."""
    d = sample_document()
    validate(d)
    return d


@pytest.fixture(scope="module")
def page(doc: dict[str, Any]) -> str:
    """The rendered page."""
    return render(doc)


# ------------------------------------------------------------------ self-contained


def test_page_is_one_self_contained_document(page: str) -> None:
    tags = Tags(page)
    names = [t for t, _ in tags.tags]
    assert page.startswith("<!DOCTYPE html>")
    assert names.count("html") == names.count("head") == names.count("body") == 1
    for banned in ("script", "link", "iframe", "img", "object", "embed", "base", "frame"):
        assert banned not in names, banned
    assert not re.search(r"<\s*(script|link)\b", page, re.I)
    assert not re.search(r"\bsrc\s*=", page, re.I)
    assert "@import" not in page and "url(" not in page
    # all CSS inline: one <style> in <head>, nothing fetched
    assert names.count("style") == 1
    assert page.index("<style>") < page.index("</head>")
    # no event handlers, no links but in-page anchors and the declared divergence link
    for tag, attrs in tags.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        href = attrs.get("href")
        if href is not None:
            assert href.startswith("#") or href == DIVERGENCE_LINK, href
    assert "http" not in page.replace(DIVERGENCE_LINK, "")


def test_page_has_no_meta_refresh(page: str) -> None:
    metas = [attrs for tag, attrs in Tags(page).tags if tag == "meta"]
    assert metas and all("http-equiv" not in m for m in metas)


# ------------------------------------------------------------------ escaping


def test_hostile_strings_are_escaped_everywhere(page: str) -> None:
    assert "<script>alert(1)</script>" not in page
    assert '"onmouseover=' not in page
    for where in HOSTILE_FIELDS:
        escaped = str(markupsafe.escape(hostile(where)))
        assert "&lt;script&gt;alert(1)&lt;/script&gt;&#34;onmouseover=" in escaped
        assert escaped in page, where
    assert not [attrs for _, attrs in Tags(page).tags if "onmouseover" in attrs]


def test_hostile_title_is_the_heading_text(page: str) -> None:
    assert f'<span class="muted">— {markupsafe.escape(hostile("title"))}</span></h3>' in page


# ------------------------------------------------------------------ counts and matrix


def test_verdict_table_counts_per_framework(page: str) -> None:
    rows = Rows(section(page, "counts")).rows
    shown = [v for v in VERDICTS if any(v in c for c in EXPECTED_COUNTS.values())]
    assert rows[0] == ["framework", *shown, "total"]
    assert rows[0] == ["framework", "pass", "expected_divergence", "mismatch", "nan", "error",
                       "invalid", "total"]
    assert rows[1:] == [
        ["jax", "4", "0", "1", "0", "0", "0", "5"],
        ["torch", "2", "1", "1", "1", "2", "1", "8"],
    ]


def test_matrix_has_one_badge_per_record_linking_to_its_details(doc: dict[str, Any],
                                                              page: str) -> None:
    matrix = section(page, "matrix")
    badges = [attrs for tag, attrs in Tags(matrix).tags
              if tag == "a" and attrs.get("class") == "badge"]
    assert len(badges) == len(doc["records"])
    ids = Tags(page).ids()
    assert sorted(str(b["href"]) for b in badges) == sorted(
        f"#r{i}" for i in range(len(doc["records"])))
    for b in badges:
        tag, _ = ids[str(b["href"])[1:]]
        assert tag == "details"
        rec = doc["records"][int(str(b["href"])[2:])]
        assert b["title"] == f"{rec['check']} {rec['dtype']} {rec['framework']}: {rec['verdict']}"
    # the case links in the first column land on the case headings
    case_links = [str(a["href"]) for t, a in Tags(matrix).tags
                  if t == "a" and a.get("class") is None]
    assert len(case_links) == len({(r["file"], r["case"]) for r in doc["records"]})
    for href in case_links:
        assert ids[href[1:]][0] == "h3", href


def test_failing_details_are_open_and_passing_closed(doc: dict[str, Any], page: str) -> None:
    ids = Tags(page).ids()
    for i, rec in enumerate(doc["records"]):
        tag, attrs = ids[f"r{i}"]
        assert tag == "details"
        assert ("open" in attrs) == (rec["verdict"] in FAILING), (rec["verdict"], rec["case"])
        assert details(page, f"r{i}")[0] == (rec["verdict"] in FAILING)


def test_observed_oracle_and_golden_side_by_side(doc: dict[str, Any], page: str) -> None:
    is_open, inner = details(page, anchor_of(doc, framework="torch", case="square", check="vjp"))
    assert is_open
    rows = Rows(inner).rows
    assert rows[0] == ["", "observed (torch)", "oracle", "golden (notes)"]
    name, observed, oracle, golden = rows[1]
    assert name == "X"
    assert "3.25" in observed and "3.0001" not in observed
    assert "3." in oracle and "3.25" not in oracle and "3.0001" not in oracle
    assert "3.0001" in golden and "3.25" not in golden
    kv = {r[0]: r[1] for r in rows[2:] if len(r) == 2}
    assert kv["worst entry"].startswith("X[1, 0]: observed 3.25, reference 3.0")
    assert kv["tolerance"] == "rtol 1.91e-06, atol 1.91e-06 × scale, 4 × oracle error"


def test_record_without_golden_shows_a_dash_in_the_golden_column(doc: dict[str, Any],
                                                                 page: str) -> None:
    _, inner = details(page, anchor_of(doc, framework="jax", case="square", check="vjp"))
    assert Rows(inner).rows[1][3] == "—"


def test_divergence_list_shows_reason_and_link(doc: dict[str, Any], page: str) -> None:
    table = section(page, "divergences")
    rows = Rows(table).rows
    assert rows[0] == ["case", "check", "framework", "kind", "verdict", "reason"]
    assert rows[1:] == [["column", "vjp float32", "torch", "api", "expected_divergence",
                         f"{DIVERGENCE_REASON} {DIVERGENCE_LINK}"]]
    links = [a["href"] for t, a in Tags(table).tags if t == "a"]
    assert links == [DIVERGENCE_LINK]
    _, inner = details(page, anchor_of(doc, verdict="expected_divergence"))
    assert f'{DIVERGENCE_REASON} <a href="{DIVERGENCE_LINK}">{DIVERGENCE_LINK}</a>' in inner


def test_frameworks_side_by_side(doc: dict[str, Any], page: str) -> None:
    """One row per (check, dtype) of a case, a verdict per framework, oracle and golden."""
    start = page.index('<h2 id="side-by-side">')
    table = page[page.index("<table", start):page.index("</table>", start) + len("</table>")]
    rows = Rows(table).rows
    assert rows[0] == ["check", "jax", "torch", "oracle", "golden (notes)"]
    want: dict[str, dict[str, str]] = {}
    for r in doc["records"]:
        if r["case"] == "square":
            want.setdefault(f"{r['check']} {r['dtype']}", {"jax": "—", "torch": "—"})[
                r["framework"]] = r["verdict"]
    assert {row[0]: {"jax": row[1], "torch": row[2]} for row in rows[1:]} == want
    mismatched = next(row for row in rows if row[2] == "mismatch")
    assert mismatched[3].startswith("X = ") and mismatched[4].startswith("X = ")
    links = [a["href"] for t, a in Tags(table).tags if t == "a"]
    square = [r for r in doc["records"] if r["case"] == "square"]
    anchors = ["#" + anchor_of(doc, case="square", check=r["check"], framework=r["framework"])
               for r in square]
    assert sorted(links) == sorted(anchors)


def test_matrix_folds_each_cells_non_failing_verdicts_behind_their_counts(
        doc: dict[str, Any], page: str) -> None:
    """Failing badges stand in the cell; the others sit in closed folds, one per verdict,
    whose summaries count them."""
    matrix = section(page, "matrix")
    folds = re.findall(r'<details class="fold"><summary>(.*?)</summary>(.*?)</details>',
                       matrix, re.S)
    folded: dict[str, str] = {}
    for summary, inner in folds:
        hrefs = [str(a["href"]) for t, a in Tags(inner).tags if t == "a"]
        verdicts = {doc["records"][int(h[2:])]["verdict"] for h in hrefs}
        assert len(verdicts) == 1, summary  # one fold per verdict
        (verdict,) = verdicts
        assert Rows(f"<table><tr><td>{summary}</td></tr></table>").rows == [
            [f"{len(hrefs)} {verdict}"]]
        folded.update({h: verdict for h in hrefs})
    non_failing = {f"#r{i}": r["verdict"] for i, r in enumerate(doc["records"])
                   if r["verdict"] not in FAILING}
    assert folded == non_failing
    assert {"pass", "expected_divergence"} <= set(folded.values())
    assert "<details class=\"fold\" open" not in matrix
    outside = re.sub(r'<details class="fold">.*?</details>', "", matrix, flags=re.S)
    shown = {str(a["href"]) for t, a in Tags(outside).tags if t == "a" and a.get("class")}
    assert shown == {f"#r{i}" for i, r in enumerate(doc["records"]) if r["verdict"] in FAILING}


def test_side_by_side_case_is_open_when_a_framework_fails_it(doc: dict[str, Any]) -> None:
    # the sample plus a case every framework passes, whose table must start closed
    calm = [dict(r, case="calm", title="passes everywhere") for r in doc["records"]
            if r["case"] == "square" and r["check"] == "value"]
    assert {r["verdict"] for r in calm} == {"pass"} and len(calm) == 2
    doc = dict(doc, records=doc["records"] + calm)
    validate(doc)
    page = render(doc)
    start = page.index('<h2 id="side-by-side">')
    cases = re.findall(r'<details class="sbs"( open)?><summary><strong>(.*?)</strong>(.*?)'
                       r'</summary>', page[start:], re.S)
    seen: set[str] = set()
    for is_open, case, summary in cases:
        verdicts = Counter(r["verdict"] for r in doc["records"]
                           if r["case"] == case and r.get("kind") != "probe")
        assert bool(is_open) == any(v in FAILING for v in verdicts), case
        seen.add(case)
        for v, n in verdicts.items():
            assert f"{n} {v}" in summary, (case, summary)
    assert seen == {"square", "column", "blowup", "hostile-strings", "calm"}


def test_probe_matrix_shows_normalised_outcomes(doc: dict[str, Any], page: str) -> None:
    table = section(page, "probes")
    rows = Rows(table).rows
    assert rows[0] == ["case", "probe", "jax", "torch"]
    (row,) = rows[1:]
    assert row[:3] == ["graph", "probe-second-pass", "—"]
    assert row[3].startswith("pass value")


def test_invalid_cases_are_listed(page: str) -> None:
    assert '<h2 id="invalid">Cases that did not load (1)</h2>' in page
    assert "cases/broken.yaml:7: case &#39;broken&#39;: unknown check &#39;vjpp&#39;" in page


def test_probe_details_show_outcome_absent_values_and_steps(doc: dict[str, Any],
                                                           page: str) -> None:
    is_open, inner = details(page, anchor_of(doc, kind="probe"))
    assert not is_open
    kv = {r[0]: r[1] for r in Rows(inner).rows if len(r) == 2}
    assert kv["outcome"] == "value via y.backward(retain_graph=True); y.backward()"
    assert kv["value x"] == "[2.]"
    assert kv["value v"] == "None (absent)"
    # each pass lists its arrays by name, one nested row each
    rows = Rows(inner).rows
    for n, x in ((1, "[1.]"), (2, "[2.]")):
        i = next(k for k, r in enumerate(rows) if r[:1] == [f"after pass {n}"])
        assert rows[i + 1][:2] == ["x", x]
        assert rows[i + 2][:2] == ["v", "None (absent)"]
    assert kv["warning"].startswith("[nonleaf_grad_access] UserWarning: The .grad attribute")


def test_nonfinite_data_is_shown_as_nan_and_inf(doc: dict[str, Any], page: str) -> None:
    is_open, inner = details(page, anchor_of(doc, verdict="nan"))
    assert is_open
    observed = Rows(inner).rows[1][1]
    assert observed == "[ 1., nan, inf, -inf]"


def test_render_accepts_a_record_with_only_the_required_fields() -> None:
    rec = invalid_record("cases/x.yaml", 1, "x", "did not load", "torch", VERSIONS["torch"])
    required = set(schema()["$defs"]["record"]["required"])
    rec = {k: v for k, v in rec.items() if k in required}
    doc = document([rec])
    validate(doc)
    assert "did not load" in render(doc)


# ------------------------------------------------------------------ Markdown summary


def test_summary_markdown_counts_table_and_failures(doc: dict[str, Any]) -> None:
    md = summary_markdown(doc)
    lines = md.splitlines()
    assert lines[0] == "# gradconf conformance summary"
    assert f"{len(doc['records'])} records; jax 0\\.4\\.30, torch 2\\.13\\.0\\+cpu" in md
    i = lines.index(
        "| framework | pass | expected\\_divergence | mismatch | nan | error | invalid |")
    assert lines[i + 1:i + 4] == ["|---|---|---|---|---|---|---|",
                                  "| jax | 4 | 0 | 1 | 0 | 0 | 0 |",
                                  "| torch | 2 | 1 | 1 | 1 | 2 | 1 |"]
    failing = [r for r in doc["records"] if r["verdict"] in FAILING]
    assert len(failing) == 6
    assert "## Failing (6)" in lines
    listed = [x for x in lines if x.startswith("- `") and "**" in x]
    assert len(listed) == len(failing)
    for r in failing:
        assert f"- `{r['nodeid']}` **{r['verdict']}**: " in md
    for r in doc["records"]:
        if r["verdict"] not in FAILING:
            assert f"`{r['nodeid']}`" not in md
    assert "## Declared divergences" in lines
    reason = DIVERGENCE_REASON.replace("-", "\\-")
    assert f"(torch, api, expected\\_divergence): {reason} [link](<{DIVERGENCE_LINK}>)" in md


def test_summary_markdown_escapes_pipes_and_newlines() -> None:
    rec = mismatch(message=PIPE_MESSAGE + "\nsecond line | here")
    md = summary_markdown(document([rec, passing()]))
    assert PIPE_MESSAGE not in md
    assert "out\\[0\\]: 1\\.5 \\| 2\\.5, but should be 3 \\| 4 second line \\| here" in md
    # every unescaped pipe is a table pipe
    for line in md.splitlines():
        if not line.startswith("|"):
            assert not re.search(r"(?<!\\)\|", line), line


def test_summary_markdown_with_no_failures_says_none() -> None:
    md = summary_markdown(document([passing(), probe()]))
    assert "## Failing (0)" in md and "None." in md


# ------------------------------------------------------------------ failure text


def test_failure_text_of_a_mismatch() -> None:
    text = failure_text(mismatch())
    lines = text.splitlines()
    assert lines[0] == "mismatch: square vjp float32 on torch 2.13.0+cpu"
    # the worst entry: where, observed, reference and bound
    assert lines[1].startswith("  X[1, 0]: 3.25, but should be 3 (|diff| 0.25 > bound")
    assert lines[2] == ("  tolerance: rtol 1.91e-06, atol 1.91e-06 x scale, 4 x oracle error "
                        "(max 1e-12)")
    body = "\n".join(lines[3:])
    observed = body.index("  observed : X = [[0.5 ],")
    reference = body.index("  reference: X = [[0.5],")
    golden = body.index("  golden   : X = [[0.5   ],")
    assert observed < reference < golden
    assert "3.25" in body[observed:reference] and "3.0001" in body[golden:]
    assert lines[-1] == ("  case at  : cases/synthetic.yaml:3 "
                         "(note 000_synthetic, 2. worked example)")


def test_failure_text_of_an_error_has_the_raised_message_and_traceback() -> None:
    text = failure_text(errored())
    assert "  raised   : RuntimeError: grad can be implicitly created only for scalar outputs" \
        in text
    assert "  traceback (last frames):\n    Traceback (most recent call last):" in text
    assert "tolerance" not in text


# ------------------------------------------------------------------ gradconf report


@pytest.fixture
def streams(tmp_path: Path) -> Path:
    """A results directory with one stream per framework."""
    write_stream(tmp_path / "torch.jsonl", "torch", torch_records())
    write_stream(tmp_path / "jax.jsonl", "jax", jax_records())
    return tmp_path


def test_report_command_writes_all_three_files(streams: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--results-dir", str(streams)]) == 0
    out = capsys.readouterr().out
    assert "gradconf: 13 records from 2 file(s): " in out
    doc = json.loads((streams / "results.json").read_text(encoding="utf-8"))
    validate(doc)
    assert doc == merge(sorted(streams.glob("*.jsonl")))
    assert (streams / "index.html").read_text(encoding="utf-8") == render(doc)
    assert (streams / "summary.md").read_text(encoding="utf-8") == summary_markdown(doc)


def test_report_strict_fails_on_a_failing_record(streams: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", "--results-dir", str(streams), "--strict"]) == 1
    assert "gradconf: 6 failing record(s)" in capsys.readouterr().err
    assert (streams / "results.json").is_file() and (streams / "index.html").is_file()


def test_report_strict_passes_when_nothing_fails(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    write_stream(tmp_path / "torch.jsonl", "torch",
                 [passing(), probe(), errored(verdict="expected_divergence",
                                              divergence={"kind": "bug", "versions": ">=1",
                                                          "reason": "r", "link": "https://x"})])
    assert main(["report", "--results-dir", str(tmp_path), "--strict"]) == 0
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(("sub", "why"), [("", "no *.jsonl results"),
                                          ("missing", "no such directory")])
def test_report_without_streams_returns_2(tmp_path: Path, sub: str, why: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / sub
    assert main(["report", "--results-dir", str(target)]) == 2
    assert why in capsys.readouterr().err
    assert not (target / "results.json").exists()


def test_details_show_the_whole_gradient_the_run_dtype_reference_and_the_condition() -> None:
    rec = mismatch()
    rec.update(verdict="mismatch", generalised_gradient={
        "samples": 24, "rows": 1, "valid": False, "slope": 1.414, "bound": 0.707,
        "allowed": 1e-6, "direction": [0.707, 0.707, 0.0]},
        reference_run_dtype={"out": {"shape": [], "dtype": "float64", "data": [0.0]}},
        condition={"estimate": 702.0, "input_rounding": 0.0858, "within": True},
        reference_cached=True)
    doc = document([rec])
    validate(doc)
    page = render(doc)
    assert "not a generalised gradient: slope 1.41 along the direction shown" in page
    assert "24 gradients sampled around the point, 1 row(s) checked" in page
    assert f"same computation in {rec['dtype']}" in page
    assert "condition estimate</td><td>702.0: rounding the inputs" in page
    assert "within four times that" in page
    assert "(reference read from the run's cache)" in page
