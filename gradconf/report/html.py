"""Render ``results.json`` into one self-contained HTML page (Jinja2, autoescaped).

The page is rendered once, at the end of a run, from the JSON (the source of truth). It
loads nothing from the network: styles are inline and there is no script.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import jinja2

from gradconf.kinds import FAILING, VERDICTS
from gradconf.report.text import array_text

KIND_ORDER = ("value", "vjp", "jvp", "jacobian", "hessian", "derivative", "rev_fwd", "probe")
COLOURS = {
    "pass": "#1a7f37", "expected_divergence": "#6f42c1", "convention": "#0969da",
    "mismatch": "#cf222e", "nan": "#a40e26", "inf": "#a40e26", "error": "#bc4c00",
    "crash": "#82071e", "timeout": "#9a6700", "unsupported": "#6e7781",
    "undefined": "#57606a", "stale": "#bf8700", "invalid": "#4c2889",
}


def _env() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("gradconf.report", "templates"),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters["arr"] = array_text
    env.filters["num"] = lambda v: "" if v is None else f"{v:.3g}"
    return env


def _label(rec: dict[str, Any]) -> str:
    """A matrix badge's text: the check id without its kind (the column says it), + dtype."""
    prefix = {"rev_fwd": "rev-fwd", "load": "load"}.get(rec["kind"], rec["kind"])
    rest = rec["check"].removeprefix(prefix).lstrip("-")
    short = rec["dtype"].replace("float", "f").replace("bf16", "bf16")
    return f"{rest} {short}".strip()


def _sides(rec: dict[str, Any]) -> list[dict[str, Any]]:
    """Rows of observed / oracle / golden by array name, for the side-by-side table."""
    observed = rec.get("observed") or {}
    reference = rec.get("reference") or {}
    golden = rec.get("golden") or {}
    names = list(dict.fromkeys([*observed, *reference, *golden]))
    return [{"name": n, "observed": observed.get(n, "—"), "reference": reference.get(n, "—"),
             "golden": golden.get(n, "—")} for n in names]


def view(doc: dict[str, Any]) -> dict[str, Any]:
    """The template's data: counts, the case × check matrix, details per case."""
    records = doc["records"]
    frameworks = sorted({r["framework"] for r in records})
    counts = {fw: Counter(r["verdict"] for r in records if r["framework"] == fw)
              for fw in frameworks}
    verdicts = [v for v in VERDICTS if any(counts[fw][v] for fw in frameworks)]
    cases: dict[tuple[str, str], dict[str, Any]] = {}
    for i, r in enumerate(records):
        key = (r["file"], r["case"])
        case = cases.setdefault(key, {"id": r["case"], "file": r["file"], "line": r["line"],
                                      "title": r.get("title", ""), "source": r.get("source"),
                                      "cells": defaultdict(list), "records": [],
                                      "failing": 0})
        r = {**r, "anchor": f"r{i}", "sides": _sides(r), "label": _label(r)}
        case["cells"][r["kind"] if r["kind"] in KIND_ORDER else "probe"].append(r)
        case["records"].append(r)
        case["failing"] += r["verdict"] in FAILING
    kinds = [k for k in KIND_ORDER if any(k in c["cells"] for c in cases.values())]
    invalid = [r for r in records if r["verdict"] == "invalid"]
    divergences = [r for r in records if r.get("divergence")]
    return {"doc": doc, "env": doc["environment"], "frameworks": frameworks, "counts": counts,
            "verdicts": verdicts, "cases": list(cases.values()), "kinds": kinds,
            "colours": COLOURS, "invalid": invalid, "divergences": divergences,
            "failing": FAILING, "total": len(records)}


def render(doc: dict[str, Any]) -> str:
    """The whole HTML page for a results document."""
    return _env().get_template("index.html.j2").render(**view(doc))
