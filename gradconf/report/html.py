"""Render ``results.json``, and the diff of two runs, as self-contained HTML (Jinja2).

Each page is rendered once from its JSON (the source of truth), autoescaped. It loads
nothing from the network: styles are inline and there is no script.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import jinja2

from gradconf.findings import compiled_summary, complex_conventions, found, run_label
from gradconf.kinds import FAILING, VERDICTS
from gradconf.report.text import array_text, digits_for
from gradconf.schema import safe_link

KIND_ORDER = ("load", "value", "vjp", "jvp", "jacobian", "hessian", "derivative", "rev_fwd",
              "probe")
COLOURS = {
    "pass": "#1a7f37", "expected_divergence": "#8250df", "convention": "#0969da",
    "precision": "#54aeff", "nondeterministic": "#0550ae",
    "mismatch": "#cf222e", "nan": "#d4478b", "inf": "#9e1f63", "error": "#bc4c00",
    "crash": "#6e1a0b", "timeout": "#9a6700", "unsupported": "#6e7781",
    "not_applicable": "#afb8c1",
    "undefined": "#3d444d", "stale": "#d4a72c", "invalid": "#1f2328",
}
# Optional record fields and what a record without them means.
DEFAULTS = {"nodeid": "", "title": "", "source": None, "worst": None, "expected": None,
            "subgradient": None, "projection": None, "mode": None, "repeat_max_diff": None,
            "oracle_evaluations": None,
            "error": None, "divergence": None, "oracle_s": 0.0, "classification": None,
            "golden_ok": None, "traceback": "", "complex": None}


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gradconf.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["arr"] = array_text
    # a non-finite number is the string NaN, Infinity or -Infinity in a record
    env.filters["num"] = lambda v: "" if v is None else v if isinstance(v, str) else f"{v:.3g}"
    env.tests["safe_link"] = safe_link  # an outside URL becomes an href only when it holds
    return env


def _label(rec: dict[str, Any], several: bool) -> str:
    """A matrix badge's text: the check id without its kind (the column says it) and the
    dtype, led by the framework when a report holds several."""
    prefix = {"rev_fwd": "rev-fwd"}.get(rec["kind"], rec["kind"])
    rest = rec["check"].removeprefix(prefix).lstrip("-")
    short = "" if rec["dtype"] == "-" else rec["dtype"].replace("float", "f")
    compiled = "" if rec.get("execution", "eager") == "eager" else rec["execution"]
    return " ".join(p for p in (rec["framework"] if several else "", compiled, rest, short) if p)


def _expected(rec: dict[str, Any]) -> str:
    exp = rec.get("expected") or {}
    return ", ".join(f"{k} {', '.join(v) if isinstance(v, list) else v}"
                     for k, v in exp.items() if v not in (None, [], ()))


def _sides(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of observed / oracle / golden by array name, for the side-by-side table."""
    observed = rec.get("observed") or {}
    reference = rec.get("reference") or {}
    golden = rec.get("golden") or {}
    names = list(dict.fromkeys([*observed, *reference, *golden]))
    return [{"name": n, "observed": observed.get(n, "—"), "reference": reference.get(n, "—"),
             "golden": golden.get(n, "—")} for n in names]


def _outcome_text(rec: dict[str, Any]) -> str:
    """A probe's normalised outcome in a few words: ``error: graph_freed``, ``absent``."""
    outcome = rec.get("outcome") or {}
    kind = outcome.get("kind") or rec["verdict"]
    return f"error: {rec.get('error_kind') or 'other'}" if kind == "error" else kind


def _compact(named: dict[str, Any] | None) -> str:
    """One short line for a mapping of arrays (the side-by-side table's oracle/golden)."""
    if not named:
        return ""
    parts = [f"{n} = {' '.join(array_text(a, 4, 60).split())}" for n, a in named.items()]
    text = "; ".join(parts)
    return text if len(text) <= 120 else text[:117] + "..."


def _side_by_side(case: dict[str, Any], frameworks: list[str]) -> list[dict[str, Any]]:
    """Rows (check, dtype, execution): each framework's record, the oracle and golden values."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for r in case["records"]:
        if r["kind"] in ("probe", "load"):
            continue
        execution = r.get("execution", "eager")
        row = rows.setdefault((r["check"], r["dtype"], execution), {
            "check": r["check"], "dtype": r["dtype"], "execution": execution, "by": {},
            "oracle": "", "golden": "",
            "order": (execution != "eager", KIND_ORDER.index(r["kind"]), r["check"], r["dtype"])})
        row["by"][r["framework"]] = r
        if r["kind"] != "rev_fwd":  # its reference is the reverse-mode Jacobian, not the oracle
            row["oracle"] = row["oracle"] or _compact(r.get("reference"))
        row["golden"] = row["golden"] or _compact(r.get("golden"))
    return sorted(rows.values(), key=lambda row: row["order"])


def _probe_rows(cases: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the probe matrix: one per (case, probe), a cell per framework."""
    rows = []
    for c in cases:
        by_probe: dict[str, dict[str, Any]] = {}
        for r in c["records"]:
            if r["kind"] == "probe":
                by_probe.setdefault(r["check"], {})[r["framework"]] = r
        rows += [{"case": c["id"], "probe": p, "by": by} for p, by in by_probe.items()]
    return rows


def _by_verdict(records: Iterable[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The records grouped by verdict, in the order of VERDICTS."""
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in records:
        groups[r["verdict"]].append(r)
    return [(v, groups[v]) for v in VERDICTS if v in groups]


def view(doc: dict[str, Any]) -> dict[str, Any]:
    """The template's data: counts, the case × check matrix, details per case."""
    records = doc["records"]
    frameworks = sorted({r["framework"] for r in records})
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        counts[run_label(r)][r["verdict"]] += 1
    count_rows = sorted(counts, key=lambda label: (label.split()[0], " " in label))
    verdicts = [v for v in VERDICTS if any(counts[fw][v] for fw in count_rows)]
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    several = len(frameworks) > 1
    for i, raw in enumerate(records):
        r = {**DEFAULTS, **raw}
        key = (r["file"], r["case"])
        case = cases.setdefault(key, {"id": r["case"], "file": r["file"], "line": r["line"],
                                      "title": r.get("title", ""), "source": r.get("source"),
                                      "cells": defaultdict(list), "records": [],
                                      "failing": 0})
        r.update(anchor=f"r{i}", sides=_sides(r), label=_label(r, several),
                 expected_text=_expected(r), digits=digits_for(r), outcome_text=_outcome_text(r))
        case["cells"][r["kind"] if r["kind"] in KIND_ORDER else "probe"].append(r)
        case["records"].append(r)
        case["failing"] += r["verdict"] in FAILING
    for c in cases.values():  # failing items open on top; the rest folded into one group
        # a matrix cell shows each failing record's badge; the rest fold by verdict
        c["shown"] = {k: [r for r in rs if r["verdict"] in FAILING] for k, rs in c["cells"].items()}
        c["folded"] = {k: _by_verdict(r for r in rs if r["verdict"] not in FAILING)
                       for k, rs in c["cells"].items()}
        c["failing_records"] = [r for r in c["records"] if r["verdict"] in FAILING]
        c["other_records"] = [r for r in c["records"] if r["verdict"] not in FAILING]
        tally = Counter(r["verdict"] for r in c["other_records"])
        c["other_summary"] = (f"all {next(iter(tally))}" if len(tally) == 1 else
                              ", ".join(f"{n} {v}" for v, n in tally.most_common()))
        c["side_by_side"] = _side_by_side(c, frameworks) if several else []
        # a case's side-by-side table starts open when some framework fails it
        c["sbs_tally"] = Counter(r["verdict"] for row in c["side_by_side"]
                                 for r in row["by"].values())
        c["sbs_open"] = any(v in FAILING for v in c["sbs_tally"])
    kinds = [k for k in KIND_ORDER if any(k in c["cells"] for c in cases.values())]
    invalid = [r for r in records if r["verdict"] == "invalid"]
    divergences = [r for r in records if r.get("divergence")]
    bugs = found(records)
    conventions = complex_conventions(records)
    incomplete = [(fw, run) for fw, run in (doc.get("runs") or {}).items()
                  if not run["complete"]]
    return {"doc": doc, "env": doc["environment"], "frameworks": frameworks, "counts": counts,
            "count_rows": count_rows, "compiled": compiled_summary(records),
            "incomplete": incomplete,
            "verdicts": verdicts, "cases": list(cases.values()), "kinds": kinds,
            "colours": COLOURS, "invalid": invalid, "divergences": divergences, "bugs": bugs,
            "conventions": conventions,
            "failing": FAILING, "total": len(records), "several": several,
            "probe_rows": _probe_rows(list(cases.values())),
            "run_times": {fw: (doc["environment"].get("runs") or {}).get(fw)
                          for fw in frameworks}}


def render(doc: dict[str, Any]) -> str:
    """The whole HTML page for a results document."""
    return _env().get_template("index.html.j2").render(**view(doc))


def render_diff(doc: Mapping[str, Any]) -> str:
    """The HTML page of a diff document (``gradconf diff``): the gate, the counts, then
    every change by category, the gating categories open."""
    from gradconf.diff import describe_move, describe_run, groups, sections

    return _env().get_template("diff.html.j2").render(
        gate=doc["gate"], summary=doc["summary"], values=doc.get("values"),
        environment=doc.get("environment"), describe_move=describe_move,
        acks=doc["gate"].get("acknowledgements"), acknowledged=doc["gate"].get("acknowledged"),
        sections=[(c, rows, groups(rows)) for c, rows in sections(doc)], colours=COLOURS,
        runs={"base": describe_run(doc["base"]), "candidate": describe_run(doc["candidate"])})
