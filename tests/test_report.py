"""The views of a results document: the HTML page, the Markdown summary, the failure text
and ``gradconf report`` itself."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import markupsafe
import pytest

from gradconf.cli import main
from gradconf.kinds import FAILING, VERDICTS
from gradconf.report.data import script_json
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


def embedded(page: str, name: str = "data") -> dict[str, Any]:
    """The JSON a page embeds in ``<script type="application/json" id="gradconf-NAME">``."""
    m = re.search(rf'<script type="application/json" id="gradconf-{name}">(.*?)</script>',
                  page, re.S)
    assert m, name
    return dict(json.loads(m.group(1)))


def shown_records(page: str) -> list[dict[str, Any]]:
    """The embedded records with their string-table indexes resolved, as the script reads
    them: combination and case fields merged in, the detail's sides as rows and its other
    rows by label."""
    data = embedded(page)
    strings = data["S"]
    out = []
    for row in data["records"]:
        r = dict(zip(data["fields"]["record"], row, strict=True))
        case = dict(zip(data["fields"]["case"], data["cases"][r.pop("case")], strict=True))
        combo = dict(zip(data["fields"]["combo"], data["combos"][r.pop("combo")], strict=True))
        det, kv = r.pop("detail") or {}, data["kvs"][r.pop("kv")]
        r.update(combo)
        if r["observed"] == -1:  # a pass whose observed line is the oracle's
            r["observed"] = r["oracle"]
        r = {k: strings[v] if k not in ("rel", "abs") else v for k, v in r.items()}
        r.update({f"case_{k}": strings[v] if k not in ("line", "ops") else v
                  for k, v in case.items()})
        r["case_ops"] = [strings[o] for o in case["ops"]]
        r["case"] = r["case_id"]
        r["sides"] = [[strings[x] for x in sd] for sd in det.get("sd", [])]
        r["kv"] = {strings[k]: strings[v] for k, v in kv}
        r["link"], r["reproducer"] = det.get("dl"), det.get("rp")
        out.append(r)
    return out


def shown(doc: dict[str, Any], page: str, **match: Any) -> dict[str, Any]:
    """The embedded record of the only record of ``doc`` whose fields equal ``match``."""
    (i,) = [i for i, r in enumerate(doc["records"])
            if all(r.get(k) == v for k, v in match.items())]
    return shown_records(page)[i]


# ------------------------------------------------------------------ self-contained


def test_page_is_one_self_contained_document(page: str) -> None:
    tags = Tags(page)
    names = [t for t, _ in tags.tags]
    assert page.startswith("<!DOCTYPE html>")
    assert names.count("html") == names.count("head") == names.count("body") == 1
    for banned in ("link", "iframe", "img", "object", "embed", "base", "frame"):
        assert banned not in names, banned
    # three scripts: two JSON data blocks and one inline program, none with a source
    scripts = [attrs for tag, attrs in tags.tags if tag == "script"]
    assert scripts == [{"type": "application/json", "id": "gradconf-meta"},
                       {"type": "application/json", "id": "gradconf-data"}, {}]
    assert page.count("</script>") == 3
    assert not re.search(r"<\s*link\b", page, re.I)
    assert not re.search(r"\bsrc\s*=", page, re.I)
    assert "@import" not in page and "url(" not in page
    program = page[page.rindex("<script>"):page.rindex("</script>")]
    for call in ("fetch(", "XMLHttpRequest", "import(", "innerHTML", "outerHTML",
                 "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert call not in program, call
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


# ------------------------------------------------------------------ escaping and data


def test_hostile_strings_stay_text_everywhere(page: str) -> None:
    assert "<script>alert(1)" not in page
    assert "alert(2)" in page  # present, as data only
    assert not [attrs for _, attrs in Tags(page).tags if "onmouseover" in attrs]
    hostile_rec = next(r for r in shown_records(page) if r["case"] == "hostile-strings")
    assert hostile_rec["case_title"] == hostile("title")
    assert hostile_rec["message"] == hostile("message")
    assert hostile_rec["kv"]["raised"] == f"RuntimeError (non_scalar_output): {hostile('error')}"
    assert hostile_rec["kv"]["warning"] == f"[other] UserWarning: {hostile('warning')}"
    assert hostile_rec["sides"][0][0] == hostile("array")
    # the server-rendered parts escape as before
    assert str(markupsafe.escape("cases/broken.yaml:7: case 'broken'")) in page


def test_a_record_cannot_end_the_data_script() -> None:
    evil = "</script><script>alert(3)</script><!--"
    doc = document([mismatch(message=evil, title=evil + " \u2028 & more"), passing("calm")])
    validate(doc)
    page = render(doc)
    assert evil not in page and "<script>alert(3)" not in page
    assert page.count("</script>") == 3 and page.count("<!--") == 0
    data_block = page[page.index('id="gradconf-data">'):]
    data_block = data_block[:data_block.index("</script>")]
    assert "<" not in data_block.split(">", 1)[1] and "&" not in data_block
    by_check = {r["check"]: r for r in shown_records(page)}
    assert by_check["vjp"]["message"] == evil
    assert by_check["vjp"]["case_title"] == evil + " \u2028 & more"


def test_script_json_round_trips_and_escapes_markup() -> None:
    value = {"a": ["</script>", "<!-- x -->", "a & b", "\u2028\u2029", 1.5, None, "é"]}
    text = str(script_json(value))
    assert json.loads(text) == value
    for ch in "<>&\u2028\u2029":
        assert ch not in text
    # strict JSON: a non-finite number, however deep, is the results schema's string
    odd = {"r": [float("nan"), {"x": float("inf")}, -float("inf"), 2.0]}
    text = str(script_json(odd))
    assert json.loads(text, parse_constant=lambda c: pytest.fail(c)) == {
        "r": ["NaN", {"x": "Infinity"}, "-Infinity", 2.0]}


def test_embedded_records_match_the_document(doc: dict[str, Any], page: str) -> None:
    records = shown_records(page)
    assert len(records) == len(doc["records"])
    for r, e in zip(doc["records"], records, strict=True):
        assert (e["case"], e["case_file"], e["case_line"], e["framework"], e["check"],
                e["kind"], e["dtype"], e["verdict"], e["version"]) == (
            r["case"], r["file"], r["line"], r["framework"], r["check"], r["kind"],
            r["dtype"], r["verdict"], r["framework_version"])
        assert e["message"] == r["message"]
        assert e["case_topic"] == Path(r["file"]).stem
        assert e["rel"] == (None if r.get("max_rel_err") is None
                            else float(f"{r['max_rel_err']:.3g}"))


def test_page_leaves_out_what_it_does_not_show(doc: dict[str, Any], page: str) -> None:
    assert any(r.get("traceback") for r in doc["records"])
    for r in doc["records"]:
        if r.get("traceback"):
            assert r["traceback"].splitlines()[0] not in page  # "Traceback (most recent ..."
    assert "reference_steps" not in page


def test_case_file_links_only_for_plain_relative_paths() -> None:
    recs = [passing(file="cases/piecewise.yaml"), passing(case="b", file="javascript:x.yaml"),
            passing(case="c", file="../../etc/x.yaml"), passing(case="d", file="/abs/x.yaml")]
    page = render(document(recs))
    links = {r["case_file"]: r["case_href"] for r in shown_records(page)}
    assert links == {"cases/piecewise.yaml": "../cases/piecewise.yaml", "javascript:x.yaml": "",
                     "../../etc/x.yaml": "", "/abs/x.yaml": ""}


def test_ops_and_reproducer_reach_the_page_when_present() -> None:
    with_ops = mismatch(ops=["sin", "sum"])
    with_ops["reproducer"] = "import torch\nprint(torch.sin(torch.tensor(3.25)))\n"
    page = render(document([with_ops, passing(case="plain")]))
    by_case = {r["case"]: r for r in shown_records(page)}
    assert by_case["square"]["case_ops"] == ["sin", "sum"]
    assert by_case["square"]["reproducer"] == with_ops["reproducer"]
    assert by_case["plain"]["case_ops"] == [] and by_case["plain"]["reproducer"] is None


def test_long_arrays_are_cut_for_display() -> None:
    import numpy as np

    from gradconf.arrays import encode

    big = passing(observed={"x": encode(np.arange(5000.0))},
                  reference={"x": encode(np.arange(5000.0))}, verdict="convention")
    page = render(document([big]))
    (rec,) = shown_records(page)
    assert all(len(cell) <= 600 for cell in rec["sides"][0])
    assert len(page) < 40_000


# ------------------------------------------------------------------ counts and details


def test_verdict_table_counts_per_framework(page: str) -> None:
    rows = Rows(section(page, "counts")).rows
    shown_verdicts = [v for v in VERDICTS if any(v in c for c in EXPECTED_COUNTS.values())]
    assert rows[0] == ["framework", *shown_verdicts, "total"]
    assert rows[0] == ["framework", "pass", "expected_divergence", "mismatch", "nan", "error",
                       "invalid", "total"]
    assert rows[1:] == [
        ["jax", "4", "0", "1", "0", "0", "0", "5"],
        ["torch", "2", "1", "1", "1", "2", "1", "8"],
    ]


def test_observed_oracle_and_golden_side_by_side(doc: dict[str, Any], page: str) -> None:
    rec = shown(doc, page, framework="torch", case="square", check="vjp")
    assert rec["verdict"] in FAILING
    ((name, observed, oracle, golden),) = rec["sides"]
    assert name == "X"
    assert "3.25" in observed and "3.0001" not in observed
    assert "3." in oracle and "3.25" not in oracle and "3.0001" not in oracle
    assert "3.0001" in golden and "3.25" not in golden
    kv = rec["kv"]
    assert kv["worst entry"].startswith("X[1, 0]: observed 3.25, reference 3.0")
    assert kv["tolerance"] == "rtol 1.91e-06, atol 1.91e-06 × scale, 4 × oracle error"
    assert kv["oracle error estimate"] == "1e-12 · smooth"
    assert kv["node id"] == "cases/synthetic.yaml::square[torch-vjp-float32]"


def test_record_without_golden_shows_a_dash_in_the_golden_column(doc: dict[str, Any],
                                                                 page: str) -> None:
    rec = shown(doc, page, framework="jax", verdict="mismatch")
    assert rec["sides"][0][3] == "—"


def test_divergence_list_shows_reason_and_link(doc: dict[str, Any], page: str) -> None:
    table = section(page, "divergences")
    rows = Rows(table).rows
    assert rows[0] == ["case", "check", "framework", "kind", "verdict", "reason"]
    assert rows[1:] == [["column", "vjp float32", "torch", "api", "expected_divergence",
                         f"{DIVERGENCE_REASON} {DIVERGENCE_LINK}"]]
    links = [a["href"] for t, a in Tags(table).tags if t == "a"]
    assert links == [DIVERGENCE_LINK]
    rec = shown(doc, page, verdict="expected_divergence")
    assert rec["kv"]["declared divergence"] == f"{DIVERGENCE_REASON} {DIVERGENCE_LINK}"
    assert rec["link"] == DIVERGENCE_LINK


def test_unsafe_divergence_link_is_text_only() -> None:
    rec = mismatch(verdict="expected_divergence", divergence={
        "kind": "api", "versions": ">=1", "reason": "r", "link": "javascript:alert(1)"})
    page = render(document([rec]))
    (shown_rec,) = shown_records(page)
    assert shown_rec["link"] is None
    assert shown_rec["kv"]["declared divergence"] == "r javascript:alert(1)"
    assert 'href="javascript:' not in page


def test_frameworks_side_by_side_and_probe_tables_have_a_column_per_framework(
        page: str) -> None:
    start = page.index('<h2 id="side-by-side">')
    sbs = Rows(page[start:page.index("</table>", start)]).rows
    assert sbs == [["case", "check", "jax", "torch", "oracle", "golden (notes)"]]
    start = page.index('<h2 id="probes">')
    assert Rows(page[start:page.index("</table>", start)]).rows == [
        ["case", "probe", "jax", "torch"]]


def test_invalid_cases_are_listed(page: str) -> None:
    assert '<h2 id="invalid">Cases that did not load (1)</h2>' in page
    assert "cases/broken.yaml:7: case &#39;broken&#39;: unknown check &#39;vjpp&#39;" in page


def test_probe_details_show_outcome_absent_values_and_steps(doc: dict[str, Any],
                                                           page: str) -> None:
    kv = shown(doc, page, kind="probe")["kv"]
    assert kv["outcome"] == "value via y.backward(retain_graph=True); y.backward()"
    assert kv["value x"] == "[2.]"
    assert kv["value v"] == "None (absent)"
    assert kv["after pass 1"] == "x = [1.]; v = None (absent)"
    assert kv["after pass 2"] == "x = [2.]; v = None (absent)"
    assert kv["warning"].startswith("[nonleaf_grad_access] UserWarning: The .grad attribute")
    assert kv["expected"] == "outcome value, warning_kinds nonleaf_grad_access, accumulates True"


def test_nonfinite_data_is_shown_as_nan_and_inf(doc: dict[str, Any], page: str) -> None:
    rec = shown(doc, page, verdict="nan")
    assert " ".join(rec["sides"][0][1].split()) == "[ 1., nan, inf, -inf]"


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
    assert "within four times that" in page
    assert "(reference read from the run's cache)" in page
    (kv,) = [r["kv"] for r in shown_records(page)]
    assert kv["condition estimate"].startswith("702.0: rounding the inputs to float32")
    assert kv["whole gradient"].startswith("not a generalised gradient: slope 1.41")
