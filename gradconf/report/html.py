"""Render ``results.json``, and the diff of two runs, as self-contained HTML (Jinja2).

Each page is rendered once from its JSON (the source of truth), autoescaped: the summary
tables as HTML, the records (or changes) as compact JSON in a ``<script
type="application/json">`` that the page's inline script filters, sorts, pages and draws
(:mod:`gradconf.report.data`). It loads nothing from the network: styles and script are
inline, and the script builds every element with textContent, never from markup.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from typing import Any

import jinja2

from gradconf.findings import compiled_summary, complex_conventions, found, run_label
from gradconf.kinds import DIFF_CATEGORIES, VERDICTS
from gradconf.report.data import diff_data, index_data, script_json
from gradconf.report.text import array_text
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


def view(doc: dict[str, Any]) -> dict[str, Any]:
    """The template's data: the summary tables, rendered here, and the records as JSON
    for the page's script."""
    records = doc["records"]
    frameworks = sorted({r["framework"] for r in records})
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for r in records:
        counts[run_label(r)][r["verdict"]] += 1
    count_rows = sorted(counts, key=lambda label: (label.split()[0], " " in label))
    verdicts = [v for v in VERDICTS if any(counts[fw][v] for fw in count_rows)]
    incomplete = [(fw, run) for fw, run in (doc.get("runs") or {}).items()
                  if not run["complete"]]
    meta = {"colours": COLOURS, "verdicts": list(VERDICTS), "kinds": list(KIND_ORDER),
            "frameworks": frameworks}
    return {"doc": doc, "env": doc["environment"], "frameworks": frameworks, "counts": counts,
            "count_rows": count_rows, "compiled": compiled_summary(records),
            "incomplete": incomplete, "verdicts": verdicts, "colours": COLOURS,
            "invalid": [r for r in records if r["verdict"] == "invalid"],
            "divergences": [r for r in records if r.get("divergence")],
            "bugs": found(records), "conventions": complex_conventions(records),
            "total": len(records), "several": len(frameworks) > 1,
            "has_probes": any(r["kind"] == "probe" for r in records),
            "meta": script_json(meta), "data": script_json(index_data(records))}


def render(doc: dict[str, Any]) -> str:
    """The whole HTML page for a results document."""
    return _env().get_template("index.html.j2").render(**view(doc))


def render_diff(doc: Mapping[str, Any]) -> str:
    """The HTML page of a diff document (``gradconf diff``): the gate and the counts,
    then the changes, grouped per case, filtered and paged by the page's script."""
    from gradconf.diff import describe_run

    meta = {"colours": COLOURS, "categories": list(DIFF_CATEGORIES),
            "fail_on": list(doc["gate"]["fail_on"])}
    return _env().get_template("diff.html.j2").render(
        gate=doc["gate"], summary=doc["summary"], values=doc.get("values"),
        environment=doc.get("environment"),
        acks=doc["gate"].get("acknowledgements"), acknowledged=doc["gate"].get("acknowledged"),
        changes=len(doc["changes"]), colours=COLOURS,
        meta=script_json(meta), data=script_json(diff_data(doc)),
        runs={"base": describe_run(doc["base"]), "candidate": describe_run(doc["candidate"])})
