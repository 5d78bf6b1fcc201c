"""Findings as data: the framework bugs a run reproduced, and those the corpus declares.

A declared divergence of kind ``bug`` says a framework disagrees with calculus where
calculus has one answer. In a run's records it becomes ``expected_divergence`` when the
framework still does it (the bug was reproduced) and ``stale`` when it no longer does.
:func:`found` groups a run's reproduced bugs per framework and version for the report;
:func:`declared` lists what the case files declare, for the README's table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from gradconf.case import Case


def found(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """One row per (framework, version, case, reason, link) of a reproduced bug, with the
    checks and dtypes it showed in, sorted by framework then case."""
    rows: dict[tuple[str, ...], dict[str, Any]] = {}
    for r in records:
        d = r.get("divergence") or {}
        if d.get("kind") != "bug" or r.get("verdict") != "expected_divergence":
            continue
        key = (r["framework"], r["framework_version"], r["case"], d["reason"], d["link"])
        row = rows.setdefault(key, {
            "framework": r["framework"], "version": r["framework_version"], "case": r["case"],
            "file": r["file"], "line": r["line"], "versions": d.get("versions", ""),
            "reason": d["reason"], "link": d["link"], "checks": [], "dtypes": []})
        if r["check"] not in row["checks"]:
            row["checks"].append(r["check"])
        if r["dtype"] not in row["dtypes"]:
            row["dtypes"].append(r["dtype"])
    return sorted(rows.values(), key=lambda row: (row["framework"], row["case"]))


def complex_conventions(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per framework, the complex-gradient convention its records name, with a count."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for r in records:
        c = r.get("complex")
        if not c:
            continue
        row = rows.setdefault((r["framework"], c["convention"]), {
            "framework": r["framework"], "convention": c["convention"],
            "description": c["description"], "records": 0})
        row["records"] += 1
    return sorted(rows.values(), key=lambda row: (row["framework"], row["convention"]))


def declared(cases: Iterable[Case]) -> list[dict[str, Any]]:
    """Every divergence of kind ``bug`` the cases declare: framework, versions, case,
    checks, reason, link; sorted by framework, then case."""
    rows = [{"framework": d.framework, "versions": d.versions, "case": c.id, "file": c.file,
             "checks": list(d.check), "dtypes": list(d.dtypes or ()), "reason": d.reason,
             "link": d.link}
            for c in cases for d in c.divergences if d.kind == "bug"]
    return sorted(rows, key=lambda row: (row["framework"], row["case"]))


def declared_markdown(cases: Iterable[Case]) -> str:
    """The README's table of declared framework bugs (``gradconf bugs`` prints it)."""
    from gradconf.report.markdown import code, link, text

    rows = declared(cases)
    out = ["| framework | versions | case | checks | what the framework does | upstream |",
           "|---|---|---|---|---|---|"]
    for r in rows:
        checks = ", ".join(r["checks"]) + (f" ({', '.join(r['dtypes'])})" if r["dtypes"] else "")
        out.append(f"| {text(r['framework'])} | {text(r['versions'])} | {code(r['case'], True)} "
                   f"| {text(checks)} | {text(r['reason'], 400)} | {link(r['link'], 'link')} |")
    per = Counter(r["framework"] for r in rows)
    tally = ", ".join(f"{fw} {n}" for fw, n in sorted(per.items()))
    out += ["", f"{len(rows)} declared bug(s) over {len(per)} framework(s)"
            + (f": {tally}." if per else ".")]
    return "\n".join(out) + "\n"
