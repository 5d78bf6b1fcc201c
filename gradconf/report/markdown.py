"""The Markdown views: ``summary.md`` of a run and ``diff.md`` of two runs compared.

Both are read in CI summaries, whose Markdown viewers may let HTML through, and most of
what they show comes from outside the suite: framework names, versions and messages,
case ids, file names, node ids, divergence reasons and links, the environment block. Every
such field is written through one of three helpers, so no field can start a tag, a link,
an image, emphasis or a table cell of its own:

``text(s, limit=300)``
    inline text: ``& < >`` as entities, Markdown punctuation backslash-escaped, line
    breaks and control characters as spaces, at most ``limit`` characters.
``code(s, cell=False)``
    one inline code span, whatever backticks ``s`` holds; ``cell=True`` for a GFM table
    cell, where ``|`` is written ``\\|`` (a code span elsewhere shows ``\\|`` literally).
``link(url, label)``
    a link only when :func:`gradconf.schema.safe_link` accepts the URL (http or https, a
    host, no whitespace, quotes, angle brackets, backtick or backslash), otherwise the
    URL as text.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Mapping
from typing import Any

from gradconf.diff import describe_move, describe_run, groups, sections
from gradconf.findings import compiled_summary, complex_conventions, found, run_label
from gradconf.kinds import FAILING, VERDICTS
from gradconf.schema import safe_link

# ASCII punctuation that can open or close Markdown syntax (CommonMark and GFM: emphasis,
# strikethrough, code, links, images, headings, list markers, table cells, math).
PUNCTUATION = "\\`*_{}[]()#+-.!|~$"
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}
_ESCAPES = {ord(c): "\\" + c for c in PUNCTUATION} | {ord(c): e for c, e in _ENTITIES.items()}
_BACKTICKS = re.compile(r"`+")


def _flat(s: str) -> str:
    """``s`` on one line: control characters and line or paragraph separators as spaces."""
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in s)


def text(s: object, limit: int = 300) -> str:
    """``s`` as Markdown inline text that renders literally and opens no syntax.

    Line breaks and control characters become spaces; then, when longer than ``limit``
    characters, ``s`` is cut to ``limit - 1`` and ends with ``…`` (before escaping, so no
    escape is cut in half); then ``& < >`` become ``&amp; &lt; &gt;`` and every character
    of :data:`PUNCTUATION` is backslash-escaped. The result contains no raw ``<`` or
    ``>``, no unescaped ``|``, so it is safe in a GFM table cell and at the start of a line.
    """
    flat = _flat(str(s))
    if len(flat) > limit:
        flat = flat[:max(limit - 1, 0)] + "…"
    return flat.translate(_ESCAPES)


def code(s: object, cell: bool = False) -> str:
    """``s`` as exactly one inline code span, shown literally whatever it holds.

    The fence is one backtick longer than the longest run of backticks in ``s``; a space
    pads each side when ``s`` starts or ends with a backtick or a space (CommonMark strips
    one from each side), and line breaks and control characters become spaces. With
    ``cell=True`` each ``|`` is written ``\\|``, as a GFM table cell needs even inside a
    code span; without it ``|`` is left alone (outside a table ``\\|`` would show the
    backslash). An empty ``s`` is a span of one space.
    """
    flat = _flat(str(s))
    if not flat:
        return "` `"
    fence = "`" * (max((len(m) for m in _BACKTICKS.findall(flat)), default=0) + 1)
    if flat.strip(" ") and (flat[0] in "` " or flat[-1] in "` "):
        flat = f" {flat} "
    if cell:
        flat = flat.replace("|", "\\|")
    return f"{fence}{flat}{fence}"


def link(url: object, label: str) -> str:
    """``[label](<url>)`` when :func:`gradconf.schema.safe_link` accepts ``url``, else the
    URL as :func:`text` (shown, not linked). The label is written as :func:`text`. Not for
    a table cell: a ``|`` in the URL would end the cell."""
    if isinstance(url, str) and safe_link(url):
        return f"[{text(label)}](<{url}>)"
    return text(url)


# ----------------------------------------------------------------------------- summary.md


def summary_markdown(doc: Mapping[str, Any]) -> str:
    """A Markdown summary for CI: counts per framework and verdict, then every failure and
    every declared divergence; every field from the document is escaped."""
    records = doc["records"]
    frameworks = sorted({r["framework"] for r in records})
    counts: dict[str, Counter[str]] = {}
    for r in records:
        counts.setdefault(run_label(r), Counter())[r["verdict"]] += 1
    rows = sorted(counts, key=lambda label: (label.split()[0], " " in label))
    shown = [v for v in VERDICTS if any(counts[fw][v] for fw in rows)]
    env = doc["environment"]
    versions = ", ".join(f"{text(fw)} {text(env['frameworks'].get(fw, '?'))}"
                         for fw in frameworks)
    revision = text(env.get("git_revision") or env.get("gradconf"))
    out = ["# gradconf conformance summary", "",
           f"{len(records)} records; {versions}; gradconf {revision}", "",
           "| framework | " + " | ".join(text(v) for v in shown) + " |",
           "|---|" + "---|" * len(shown)]
    for fw in rows:
        out.append(f"| {text(fw)} | " + " | ".join(str(counts[fw][v]) for v in shown) + " |")
    compiled = compiled_summary(records)
    if compiled:
        out += ["", "## Compiled beside eager", "",
                "| framework | compiler | items | bit-identical | differ | largest difference "
                "| only compiled raised | only eager raised | failing | compile time |",
                "|---|---|---:|---:|---:|---|---:|---:|---:|---:|"]
        out += [f"| {text(c['framework'])} | {text(c['compiler'] or 'none')} | {c['items']} | "
                f"{c['identical']} | {c['differ']} | "
                + (f"{c['max_abs']:.3g} ({code(c['largest'], True)})" if c["largest"] else "")
                + f" | {c['compiled_raised']} | {c['eager_raised']} | {c['failing']} | "
                f"{c['compile_s']:.0f} s |" for c in compiled]
    incomplete = {fw: run for fw, run in (doc.get("runs") or {}).items() if not run["complete"]}
    if incomplete:
        out += ["", f"## Incomplete runs ({len(incomplete)})", ""]
        for fw, run in incomplete.items():
            missing = ", ".join(code(n) for n in run["missing"][:20])
            more = f" (of {run['missing_count']})" if run["missing_count"] > 20 else ""
            out.append(f"- {text(fw)}: {text('; '.join(run['problems'] + run['incomplete']), 600)}"
                       + (f"; never finished{more}: {missing}" if missing else ""))
    failing = [r for r in records if r["verdict"] in FAILING]
    out += ["", f"## Failing ({len(failing)})", ""]
    out += [f"- {code(r.get('nodeid') or r['case'])} **{text(r['verdict'])}**: "
            f"{text(r.get('message') or '')}" for r in failing] or ["None."]
    conventions = complex_conventions(records)
    if conventions:
        out += ["", "## Complex-gradient conventions", ""]
        out += [f"- {text(c['framework'])}: {code(c['convention'])}, {text(c['description'])} "
                f"({c['records']} records, normalised to ∂f/∂x + i ∂f/∂y)" for c in conventions]
    bugs = found(records)
    if bugs:
        out += ["", f"## Framework bugs found ({len(bugs)})", "",
                "| framework | version | case | checks | what the framework does | upstream |",
                "|---|---|---|---|---|---|"]
        out += [f"| {text(b['framework'])} | {text(b['version'])} | {code(b['case'], True)} | "
                f"{text(', '.join(b['checks']))} ({text(', '.join(b['dtypes']))}) | "
                f"{text(b['reason'], 400)} | {link(b['link'], 'link')} |" for b in bugs]
    diverging = [r for r in records if r["verdict"] in ("expected_divergence", "stale")]
    if diverging:
        out += ["", "## Declared divergences", ""]
        for r in diverging:
            d = r.get("divergence") or {}
            where = f" {link(d['link'], 'link')}" if d.get("link") else ""
            out.append(f"- {code(r['case'])} {text(r['check'])} ({text(r['framework'])}, "
                       f"{text(d.get('kind') or '?')}, {text(r['verdict'])}): "
                       f"{text(d.get('reason') or 'no reason recorded')}{where}")
    return "\n".join(out) + "\n"


# ----------------------------------------------------------------------------- diff.md


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _items(g: Mapping[str, Any]) -> str:
    return f"{', '.join(g['checks'])} × {', '.join(g['dtypes'])} ({len(g['items'])})"


def _acknowledgements(acks: Mapping[str, Any] | None, covered: int) -> list[str]:
    """What the acknowledgements file did: changes covered, stale and expired entries."""
    if not acks or not acks["entries"]:
        return []
    out = ["", f"## acknowledgements ({acks['entries']} entries)", "",
           f"{covered} change(s) acknowledged by {code(acks['file'] or '')} on "
           f"{text(acks['date'])}."]
    for label, entries in (("expired, fails the gate", acks["expired"]),
                           ("stale, matches no change", acks["stale"])):
        for a in entries:
            out.append(f"- {code(a['file'] + ':' + str(a['line']))} {text(label)}: "
                       f"{text(a['category'])} "
                       f"until {text(a['expires'])}: {text(a['reason'])}")
    return out


def diff_markdown(doc: Mapping[str, Any]) -> str:
    """The diff of two runs for a CI summary: the gate, the counts, how values moved per
    framework, then every change by category, one row per case whose items went the same
    way (its items listed below in a collapsed block); every field from the document is
    escaped."""
    gate = doc["gate"]
    failed_on = ", ".join(text(c) for c in gate["failed_on"])
    verdict = "passed" if gate["passed"] else f"FAILED on {failed_on}"
    fail_on = ", ".join(text(c) for c in gate["fail_on"]) or "nothing"
    lines = [f"# gradconf diff: gate {verdict}", "",
             f"Base: {text(describe_run(doc['base']), 1000)}. "
             f"Candidate: {text(describe_run(doc['candidate']), 1000)}. "
             f"The gate fails on: {fail_on}, and on any incomplete run.", "",
             *(f"- incomplete: {text(reason, 1000)}" for reason in gate["incomplete"]),
             *([""] if gate["incomplete"] else []),
             "| " + " | ".join(text(c) for c in doc["summary"]) + " |",
             "|" + "---:|" * len(doc["summary"]),
             "| " + " | ".join(text(n) for n in doc["summary"].values()) + " |"]
    if doc.get("environment"):
        lines += ["", "What else differs between the runs:", ""]
        for e in doc["environment"]:
            what = "the cases run" if e["field"] == "cases_digest" else e["field"]
            lines.append(f"- {code(e['framework'])} {text(what)}: {text(e['base'])} → "
                         f"{text(e['candidate'])}")
    if doc.get("values"):
        lines += ["", "Observed values of the items both runs have:", "",
                  "| framework | bit-identical | moved within tolerance | drifted | "
                  "not compared |", "|---|---:|---:|---:|---:|"]
        for fw, n in doc["values"].items():
            lines.append(f"| {text(fw)} | {n['identical']} | {n['within_tolerance']} | "
                         f"{n['drifted']} | {n['not_compared']} |")
    lines += _acknowledgements(doc["gate"].get("acknowledgements"),
                               doc["gate"].get("acknowledged", 0))
    for category, rows in sections(doc):
        found = groups(rows)
        lines += ["", f"## {text(category)} ({_count(len(rows), 'item')}, "
                  f"{_count(len(found), 'case')})", "",
                  "| case | framework | checks × dtypes | base → candidate | values | why |",
                  "|---|---|---|---|---|---|"]
        for g in found:
            why = g["why"]
            if g["acknowledged"]:
                a = g["acknowledged"]
                why = (f"acknowledged until {a['expires']} ({a['file']}:{a['line']}: "
                       f"{a['reason']}) — {why}")
            if g["messages"]:
                why += (f" — message: “{g['messages']['base']}” → "
                        f"“{g['messages']['candidate']}”")
            cells = [code(g["case"], cell=True),
                     *(text(v) for v in (run_label(g), _items(g),
                                         f"{g['base_verdict']} → {g['candidate_verdict']}",
                                         describe_move(g["values"]), why))]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", f"<details><summary>the {_count(len(rows), 'item')}</summary>", "",
                  "| case | framework | check | dtype | base | candidate | values | why |",
                  "|---|---|---|---|---|---|---|---|"]
        for c in rows:
            b = c["base"]["verdict"] if c["base"] else "—"
            n = c["candidate"]["verdict"] if c["candidate"] else "—"
            cells = [code(c["case"], cell=True),
                     *(text(v) for v in (run_label(c), c["check"], c["dtype"], b, n,
                                         describe_move(c.get("values")), c["why"]))]
            lines.append("| " + " | ".join(cells) + " |")
        lines += ["", "</details>"]
    return "\n".join(lines) + "\n"
