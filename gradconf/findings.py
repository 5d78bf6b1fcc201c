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
from gradconf.kinds import FAILING


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
    """Every divergence of kind ``bug`` the cases declare: framework (with the execution a
    declaration is narrowed to, e.g. ``torch (compiled)``), versions, case, checks, reason,
    link; sorted by framework, then case."""
    rows = [{"framework": d.framework if d.execution is None else
             f"{d.framework} ({d.execution})", "versions": d.versions, "case": c.id,
             "file": c.file,
             "checks": list(d.check), "dtypes": list(d.dtypes or ()), "reason": d.reason,
             "link": d.link}
            for c in cases for d in c.divergences if d.kind == "bug"]
    return sorted(rows, key=lambda row: (row["framework"], row["case"]))


def declared_markdown(cases: Iterable[Case], shown: int = 6) -> str:
    """The README's table of declared framework bugs (``gradconf bugs`` prints it): one row
    per upstream report (framework, versions, link), naming the cases that meet it."""
    from gradconf.report.markdown import code, link, text

    rows = declared(cases)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        groups.setdefault((r["framework"], r["versions"], r["link"]), []).append(r)
    out = ["| framework | versions | cases | what the framework does | upstream |",
           "|---|---|---|---|---|"]
    for (fw, versions, url), group in sorted(groups.items()):
        ids = sorted({r["case"] for r in group})
        names = ", ".join(code(i, True) for i in ids[:shown])
        if len(ids) > shown:
            names += f" and {len(ids) - shown} more"
        reasons = Counter(r["reason"] for r in group)
        what = text(reasons.most_common(1)[0][0], 400)
        if len(reasons) > 1:
            what += f" ({len(reasons) - 1} other case(s) say it in their own words)"
        out.append(f"| {text(fw)} | {text(versions)} | {names} | {what} "
                   f"| {link(url, 'link')} |")
    per = Counter(fw for fw, _, _ in groups)
    tally = ", ".join(f"{fw} {n}" for fw, n in sorted(per.items()))
    frameworks = {fw.split()[0] for fw in per}
    out += ["", f"{len(groups)} bug(s), one per upstream link, over {len(frameworks)} "
            "framework(s)"
            + (f" ({tally}), declared {len(rows)} time(s) by the cases." if per else ".")]
    return "\n".join(out) + "\n"


def run_label(rec: Mapping[str, Any]) -> str:
    """The framework, with ``compiled`` after it for a record of compiled execution."""
    execution = rec.get("execution", "eager")
    return rec["framework"] if execution == "eager" else f"{rec['framework']} {execution}"


def compiled_summary(records: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per framework, its compiled execution beside its eager one: items compiled, results
    bit for bit identical to eager, those that differ (how many, by how much at most),
    those only the compiler fails or only eager fails, and the compile time spent."""
    rows: dict[str, dict[str, Any]] = {}
    for r in records:
        if r.get("execution", "eager") != "compiled":
            continue
        row = rows.setdefault(r["framework"], {
            "framework": r["framework"], "compiler": r.get("compiler") or "", "items": 0,
            "not_applicable": 0, "identical": 0, "differ": 0, "max_abs": 0.0,
            "compiled_raised": 0, "eager_raised": 0, "compile_s": 0.0, "failing": 0,
            "largest": None})
        row["items"] += 1
        row["not_applicable"] += r["verdict"] == "not_applicable"
        row["compile_s"] += float(r.get("compile_s") or 0.0)
        row["failing"] += r["verdict"] in FAILING
        diff = r.get("eager_difference")
        if not diff:
            continue
        if r["verdict"] == "error" and not diff.get("eager_raised"):
            row["compiled_raised"] += 1
        elif diff.get("eager_raised") and r["verdict"] != "error":
            row["eager_raised"] += 1
        elif diff.get("identical"):
            row["identical"] += 1
        elif not diff.get("eager_raised"):
            row["differ"] += 1
            size = diff.get("max_abs")
            size = float(size) if isinstance(size, int | float) else float("inf")
            if row["largest"] is None or size > row["max_abs"]:
                row["max_abs"], row["largest"] = size, r.get("nodeid") or r["case"]
    return [rows[fw] for fw in sorted(rows)]
