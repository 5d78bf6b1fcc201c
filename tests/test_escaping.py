"""Fields from outside cannot write markup: the Markdown helpers, the link rule, and
``summary.md``, ``diff.md`` and the HTML pages built from hostile documents."""

from __future__ import annotations

import copy
import json
import re
import unicodedata
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_report import Tags

from gradconf.case import Case
from gradconf.diff import diff
from gradconf.loader import LoadError, load_file
from gradconf.report.html import render, render_diff
from gradconf.report.markdown import code, diff_markdown, link, summary_markdown, text
from gradconf.results import validate
from gradconf.schema import safe_link
from helpers import MINIMAL, case_yaml
from test_results import diverging, document, errored, mismatch, passing, probe

HOSTILE_LINK = 'https://example.com/"><img/src=x/onerror=alert(7)>)[x](javascript:alert(8))'
# markup of every kind a Markdown viewer that lets HTML through would act on
EVIL = ('<img src=x onerror=alert(1)><script>alert(2)</script> ``|`` [x](javascript:alert(3)) '
        '**b** _i_ ~~s~~ $m$ &amp;\n# heading\n- item\r\n| a | b |')
EVIL_FILE = "cases/we`ird näme <img src=x onerror=alert(4)>.yaml"
EVIL_NODEID = "cases/x.yaml::a`b<img/src=x/onerror=alert(5)>|[x](javascript:alert(6))"
SAFE_LINKS = [
    "https://github.com/pytorch/pytorch/issues/123#issuecomment-1",
    "https://docs.jax.dev/en/latest/_autosummary/jax.grad.html",
    "https://en.wikipedia.org/wiki/Subderivative_(math)",
    "https://example.com/a%20b?a=b&c=d",
    "http://x",
]
UNSAFE_LINKS = [
    HOSTILE_LINK, "javascript:alert(1)", "JAVASCRIPT:alert(1)", "data:text/html,<b>x</b>",
    "http://x y", 'https://a"b', "https://a'b", "https://<a>", "https://a`b", "https://a\\b",
    "https://a\nb", "https://a\n", "https://a\x00b", "https:///path", "https://", "ftp://x",
    "//example.com", "https://[::1", "", " https://x",
]


# ----------------------------------------------------------------------------- the link rule


@pytest.mark.parametrize("url", SAFE_LINKS)
def test_ordinary_links_are_safe(url: str) -> None:
    assert safe_link(url)
    assert link(url, "link") == f"[link](<{url}>)"


@pytest.mark.parametrize("url", UNSAFE_LINKS)
def test_links_that_could_break_out_are_refused_and_shown_as_text(url: str) -> None:
    assert not safe_link(url)
    shown = link(url, "link")
    assert shown == text(url)
    assert "](" not in shown and "<" not in shown and "\n" not in shown


@pytest.mark.parametrize("url", ["https://a b", 'https://a"b', "https://a`b", "https://a\\b",
                                 "javascript:alert(1)", "https://a\n"])
def test_results_schema_refuses_what_safe_link_refuses(url: str) -> None:
    doc = hostile_document()
    validate(doc)  # with a safe link the hostile document is valid
    bad = copy.deepcopy(doc)
    next(r for r in bad["records"] if r.get("divergence"))["divergence"]["link"] = url
    with pytest.raises(jsonschema.ValidationError, match=r"does not match"):
        validate(bad)


# ----------------------------------------------------------------------------- text and code


def test_text_escapes_markup_and_flattens_lines() -> None:
    assert text("<script>alert(1)</script>") == "&lt;script&gt;alert\\(1\\)&lt;/script&gt;"
    assert text("a & b | c") == "a &amp; b \\| c"
    assert text("[x](javascript:alert(1))") == "\\[x\\]\\(javascript:alert\\(1\\)\\)"
    assert text("*b* _i_ `c` ~s~ #h +1 -2 3. !") == \
        "\\*b\\* \\_i\\_ \\`c\\` \\~s\\~ \\#h \\+1 \\-2 3\\. \\!"
    assert text("a\nb\r\nc\td\x00e\u2028f") == "a b  c d e f"
    assert text("back\\slash") == "back\\\\slash"
    assert text("ünïcødé ✓") == "ünïcødé ✓"


def test_text_cuts_before_escaping() -> None:
    assert text("x" * 300) == "x" * 300
    assert text("x" * 301) == "x" * 299 + "…"
    assert text("*" * 50, limit=10) == "\\*" * 9 + "…"
    assert text("&" * 50, limit=4) == "&amp;" * 3 + "…"


def test_code_is_one_span_whatever_it_holds() -> None:
    assert code("a") == "`a`"
    assert code("a`b") == "``a`b``"
    assert code("a``b`c") == "```a``b`c```"
    assert code("`a") == "`` `a ``"
    assert code("a ") == "` a  `"
    assert code("  ") == "`  `"
    assert code("") == "` `"
    assert code("a\nb") == "`a b`"
    assert code("<img src=x>") == "`<img src=x>`"  # a code span shows HTML as text


def test_code_escapes_pipes_only_in_a_table_cell() -> None:
    assert code("a|b") == "`a|b`"
    assert code("a|b", cell=True) == "`a\\|b`"


FRAGMENTS = ["<script>", "</script>", "<img src=x onerror=alert(1)>", "`", "``", "```", "|",
             "[x](javascript:alert(1))", "\n", "\r\n", "\\", "&amp;", "&lt;", " ", "*", "_",
             "ünï ✓", "\x00", "\u2028", "# ", "- "]
hostile_strings = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=8)),
                           max_size=12).map("".join)


def _flat(s: str) -> str:
    return "".join(" " if unicodedata.category(c) in ("Cc", "Zl", "Zp") else c for c in s)


def _unescaped(s: str, chars: str) -> list[str]:
    """The characters of ``chars`` in ``s`` that no backslash escapes."""
    out, i = [], 0
    while i < len(s):
        if s[i] == "\\":
            i += 2
            continue
        if s[i] in chars:
            out.append(s[i])
        i += 1
    return out


def _unescape(s: str) -> str:
    """What a CommonMark viewer shows for the output of ``text``."""
    return re.sub(r"\\(.)|&(amp|lt|gt);",
                  lambda m: m.group(1) or {"amp": "&", "lt": "<", "gt": ">"}[m.group(2)], s)


@given(hostile_strings)
def test_text_opens_no_syntax_and_shows_the_input(s: str) -> None:
    out = text(s)
    assert "<" not in out and ">" not in out
    assert not _unescaped(out, "|[]`*_~!")
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in out)
    assert not re.search(r"&(?!amp;|lt;|gt;)", out)
    flat = _flat(s)
    assert _unescape(out) == (flat if len(flat) <= 300 else flat[:299] + "…")


@given(hostile_strings, st.booleans())
def test_code_is_exactly_one_code_span(s: str, cell: bool) -> None:
    out = code(s, cell)
    m = re.fullmatch(r"(`+)(.*?)(`+)", out, re.S)
    assert m, out
    fence, inner = m.group(1), m.group(2)
    assert m.group(3) == fence  # the closing run is the opening run
    assert not inner.startswith("`") and not inner.endswith("`")
    assert len(fence) not in {len(run) for run in re.findall(r"`+", inner)}
    assert not any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in inner)
    if cell:
        assert not cell_pipes(inner)
        inner = inner.replace("\\|", "|")
    if inner.startswith(" ") and inner.endswith(" ") and inner.strip(" "):
        inner = inner[1:-1]
    assert inner == (_flat(s) or " ")


# ----------------------------------------------------------------------------- documents


def hostile_document(link_: str = "https://example.com/ok") -> dict[str, Any]:
    """Records whose every field from outside is markup, as far as the results schema lets
    it be (the framework name is a slug there); the divergence link is ``link_``."""
    evil = {"case": f"case {EVIL}", "file": EVIL_FILE, "framework_version": EVIL,
            "title": EVIL, "source": {"note": EVIL, "section": EVIL}, "nodeid": EVIL_NODEID,
            "message": EVIL}
    records = [
        mismatch(check=f"vjp-{EVIL}", dtype="float32", **evil),
        errored(check=f"jacobian-rev-{EVIL}", **evil,
                error={"type": EVIL, "message": EVIL},
                warnings=[{"kind": "other", "category": EVIL, "message": EVIL}]),
        diverging(check=f"jvp-{EVIL}", **evil),
        probe(check=f"probe-{EVIL}", **{**evil, "message": ""}),
        passing(check="value", **{**evil, "message": ""}),
    ]
    records[2]["divergence"] = {"kind": "bug", "versions": EVIL, "reason": EVIL, "link": link_}
    records[3]["outcome"]["idiom"] = EVIL
    doc = document(records)
    doc["environment"].update(python=EVIL, platform=EVIL, git_revision=EVIL, gradconf=EVIL,
                              frameworks={"torch": EVIL})
    return doc


def outside_code(md: str) -> str:
    """``md`` with its code spans cut out (CommonMark: a run of N backticks not escaped by
    a backslash opens a span, the next run of exactly N closes it)."""
    out, i = [], 0
    while i < len(md):
        if md[i] == "\\":
            out.append(md[i:i + 2])
            i += 2
            continue
        run = re.match(r"`+", md[i:])
        if run:
            n = len(run.group())
            close = re.compile(rf"(?<!`)`{{{n}}}(?!`)").search(md, i + n)
            assert close, f"unclosed code span at {md[i:i + 40]!r}"
            assert "\n" not in md[i:close.start()]
            i = close.end()
            continue
        out.append(md[i])
        i += 1
    return "".join(out)


def cell_pipes(line: str) -> int:
    """The pipes of a line that split GFM table cells (one a backslash precedes does not)."""
    return len(re.findall(r"(?<!\\)\|", line))


def assert_inert(md: str, headings: list[str], ours: tuple[str, ...] = ()) -> None:
    """No markup from outside in ``md``: no tag, link, image, emphasis or code outside the
    code spans, no line, heading, list item or table cell of its own, and every table row as
    wide as its header. ``ours`` are the links the document itself writes."""
    rest = outside_code(md)  # a code span shows its text literally: no HTML, no link
    assert "](javascript:" not in rest and "](<javascript" not in rest
    for mine in ours:
        rest = rest.replace(mine, "")
    # the collapsed item lists the diff writes itself
    rest = re.sub(r"<details><summary>the \d+ items?</summary>|</details>", "", rest)
    rest = re.sub(r"\*\*[\w\\]+\*\*", "", rest)  # the verdicts the document puts in bold
    assert "<" not in rest and ">" not in rest, rest
    assert not _unescaped(rest, "[]*_~`!"), rest
    lines = md.splitlines()
    assert [line for line in lines if line.startswith("#")] == headings
    width = None
    for line in lines:
        if not line.startswith("|"):
            width = None
            assert not cell_pipes(outside_code(line)), line
            assert not line or re.match(r"#|- `|None\.$|\d+ records; |Base: |Observed values "
                                        r"of the items both runs have:$|What else differs "
                                        r"between the runs:$|<details><summary>the "
                                        r"\d+ items?</summary>$|</details>$", line), line
        elif width is None:
            width = cell_pipes(line)  # a table's header row
        else:
            assert cell_pipes(line) == width, line


def _rec(doc: dict[str, Any], check: str) -> dict[str, Any]:
    (rec,) = [r for r in doc["records"] if r["check"].startswith(check)]
    return rec


@pytest.mark.parametrize("link_", [HOSTILE_LINK, "https://example.com/ok"])
def test_summary_markdown_of_a_hostile_document_is_inert(link_: str) -> None:
    md = summary_markdown(hostile_document(link_))
    safe = link_ != HOSTILE_LINK
    assert_inert(md, ["# gradconf conformance summary", "## Failing (2)",
                      "## Framework bugs found (1)", "## Declared divergences"],
                 ("[link](<https://example.com/ok>)",) if safe else ())
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in md  # shown, escaped
    assert "\\[x\\]\\(javascript:alert\\(3\\)\\)" in md
    assert f"- ``{EVIL_NODEID}`` **mismatch**: " in md
    assert ("[link](<https://example.com/ok>)" in md) == safe
    assert ("&lt;img/src=x/onerror=alert\\(7\\)&gt;" in md) == (not safe)
    # the verdict counts are the first torch row (the bug table below has its own)
    counts = next(line for line in md.splitlines() if line.startswith("| torch |"))
    assert counts == "| torch | 2 | 1 | 1 | 1 |"


def test_diff_markdown_of_hostile_documents_is_inert() -> None:
    base = hostile_document(HOSTILE_LINK)
    cand = copy.deepcopy(base)
    _rec(cand, "vjp").update(verdict="pass", message=EVIL)                # fix
    _rec(cand, "value").update(verdict="mismatch", message=EVIL)          # regression
    cand["records"].append(dict(_rec(cand, "value"), dtype=EVIL))         # added
    cand["records"].remove(_rec(cand, "jacobian-rev"))                    # removed
    cand["environment"]["frameworks"] = {"torch": EVIL[::-1]}
    out = diff(base, cand)
    assert [c["category"] for c in out["changes"]] == ["regression", "fix", "added", "removed"]
    md = diff_markdown(out)
    assert_inert(md, ["# gradconf diff: gate FAILED on regression, removed",
                      "## regression (1 item, 1 case)", "## fix (1 item, 1 case)",
                      "## added (1 item, 1 case)", "## removed (1 item, 1 case)"])
    assert "Base: torch &lt;img src=x onerror=alert\\(1\\)&gt;" in md
    assert f"| {code('case ' + EVIL, cell=True)} | torch | " in md


def _scripts(page: str) -> tuple[list[dict[str, str | None]], list[str]]:
    """The page's script elements: their attributes and their text."""
    attrs = [a for tag, a in Tags(page).tags if tag == "script"]
    bodies = re.findall(r"<script\b[^>]*>(.*?)</script>", page, re.S | re.I)
    return attrs, bodies


def test_pages_of_a_hostile_document_escape_everything_and_link_nothing_unsafe() -> None:
    """Every field from outside is markup. In the HTML the page renders itself it is
    escaped text; in the data the page's script reads it is JSON that cannot end its
    ``<script>`` element or open markup, and comes back unchanged; the only scripts are the
    page's own (their program the same as for a harmless document), and no link but the
    page's anchors and a safe divergence link is an href."""
    doc = hostile_document(HOSTILE_LINK)
    cand = copy.deepcopy(doc)
    _rec(cand, "vjp").update(verdict="pass")
    plain = document([mismatch(), passing(case="calm")])
    calm = copy.deepcopy(plain)
    calm["records"].pop()  # one change: a removed item
    pairs = ((render(doc), render(plain)), (render_diff(diff(doc, cand)),
                                            render_diff(diff(plain, calm))))
    for page, harmless in pairs:
        assert "<img" not in page
        assert 'href="javascript:' not in page and 'href="https://example.com/' not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page  # server-rendered: escaped
        for tag, attrs in Tags(page).tags:
            assert tag != "img", tag
            assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
            assert str(attrs.get("href", "#")).startswith("#"), attrs
        # three scripts, the page's own: two JSON blocks and one program with no source
        attrs, bodies = _scripts(page)
        assert attrs == [{"type": "application/json", "id": "gradconf-meta"},
                         {"type": "application/json", "id": "gradconf-data"}, {}]
        assert len(re.findall(r"<script", page, re.I)) == 3
        assert len(re.findall(r"</script", page, re.I)) == 3
        assert bodies[2] == _scripts(harmless)[1][2]  # nothing from the data in the program
        for body in bodies[:2]:  # no markup can start or end inside a data block
            assert not set(body) & set("<>&\u2028\u2029"), body[:200]
        data = json.loads(bodies[1])
        assert EVIL in data["S"] and f"case {EVIL}" in data["S"] and EVIL_FILE in data["S"]
        rows = data["records"] if "records" in data else data["changes"]
        assert rows
    records = json.loads(_scripts(render(doc))[1][1])["records"]
    assert not [r for r in records if r[-1] and "dl" in r[-1]]  # the refused link: text only
    assert "&lt;img/src=x/onerror=alert(7)&gt;" in render(doc)  # the refused link, as text
    safe = render(hostile_document("https://example.com/ok"))
    assert '<a href="https://example.com/ok">https://example.com/ok</a>' in safe
    records = json.loads(_scripts(safe)[1][1])["records"]
    assert [r[-1]["dl"] for r in records if r[-1] and "dl" in r[-1]] == [
        "https://example.com/ok"]


# ----------------------------------------------------------------------------- case files


CASE = MINIMAL + """divergences:
  - framework: torch
    kind: api
    versions: ">=2.13"
    check: vjp
    reason: torch differs here for a documented reason
    link: LINK
"""


@pytest.mark.parametrize("url", [HOSTILE_LINK, "javascript:alert(1)", "https://a b",
                                 "https://a`b", "https://a\\b", "https://a'b"])
def test_loader_refuses_an_unsafe_divergence_link_on_its_line(tmp_path: Path,
                                                               url: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(case_yaml(CASE.replace("LINK", json.dumps(url))), encoding="utf-8")
    (err,) = load_file(path, "x.yaml")
    assert isinstance(err, LoadError)
    assert str(err) == ("x.yaml:15: case 'tiny': divergences.0.link: link must be an http(s) "
                        "URL with a host and no spaces, quotes, angle brackets, backticks or "
                        "backslashes")


def test_loader_accepts_an_ordinary_divergence_link(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(case_yaml(CASE.replace("LINK", SAFE_LINKS[0])), encoding="utf-8")
    (case,) = load_file(path, "x.yaml")
    assert isinstance(case, Case)
