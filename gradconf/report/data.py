"""The compact JSON the HTML pages embed and render in the browser.

A page embeds its records (or a diff's changes) once, as JSON inside
``<script type="application/json">``. Repeated strings (case titles, messages, check ids,
array texts) are stored once in a string table ``S`` and referred to by index, as are the
combinations of framework, version, check, kind, dtype and execution and the lists of a
detail's rows that records share; a pass carries its values as one line each; arrays are
rounded and cut to what a reader can take in, errors to the 3 digits the page shows;
fields the page never shows (tracebacks, the reference's probe steps) are left out.
:func:`script_json` writes the JSON so that no string in it can end the ``<script>``
element or open markup.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from markupsafe import Markup

from gradconf.arrays import json_number, json_safe
from gradconf.kinds import FAILING
from gradconf.report.text import array_text, digits_for
from gradconf.schema import safe_link

# how many characters of an array's text a detail shows: a failing record gets more
FAILING_CHARS = 600
COMPACT_CHARS = 100  # the side-by-side table's oracle and golden
MESSAGE_CHARS = 2000
PADDING = re.compile(r"(?<=\[) +| +(?=[,\]])")  # NumPy's alignment: "[ 1.5 , -2. ]"
CASE_FILE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_./-]*\.ya?ml")


class Strings:
    """A table of strings, each stored once; index 0 is the empty string."""

    def __init__(self) -> None:
        self.table: list[str] = [""]
        self._index: dict[str, int] = {"": 0}

    def __call__(self, s: object) -> int:
        text = "" if s is None else str(s)
        i = self._index.get(text)
        if i is None:
            i = self._index[text] = len(self.table)
            self.table.append(text)
        return i


def script_json(data: Any) -> Markup:
    """``data`` as JSON safe inside a ``<script>`` element: ``<``, ``>`` and ``&`` (so
    ``</script>`` and ``<!--``) become ``\\u`` escapes, as do the two JavaScript line
    separators; JSON.parse reads them back unchanged. A non-finite number anywhere in
    ``data`` is written as the results schema writes it, the string ``NaN``, ``Infinity``
    or ``-Infinity`` (JSON has no such numbers)."""
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except ValueError:  # rare: walk the data only when a non-finite float is in it
        text = json.dumps(json_safe(data), separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    for ch, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026"),
                    ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(ch, esc)
    return Markup(text)


def num(v: Any) -> float | str | None:
    """A number rounded to the 3 significant digits the page shows (it sorts by them too);
    a non-finite one is its schema string. A
    finite number that rounding would overflow (the largest float, which a diff's ratio
    uses to stand for infinity) is kept as it is."""
    if v is None or isinstance(v, str):
        return v
    f = float(v)
    if not math.isfinite(f):
        return json_number(f)
    rounded = float(f"{f:.3g}")
    return rounded if math.isfinite(rounded) else f


def fmt(v: Any) -> str:
    """A number as the page shows it (3 significant digits)."""
    return "" if v is None else v if isinstance(v, str) else f"{v:.3g}"


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit - 1] + "…"


def case_link(file: str) -> str:
    """The relative link from ``reports/index.html`` to a case file, or "" when the file
    name is not a plain relative path."""
    return f"../{file}" if CASE_FILE.fullmatch(file) and ".." not in file else ""


def topic(file: str) -> str:
    """A case file's stem: ``cases/piecewise.yaml`` -> ``piecewise``."""
    name = file.rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[0] if "." in name else name


def compact(named: Mapping[str, Any] | None) -> str:
    """One short line for a mapping of arrays (the side-by-side table's oracle/golden, a
    pass's observed value), without NumPy's column padding."""
    if not named:
        return ""
    return cut("; ".join(f"{n} = {PADDING.sub('', ' '.join(array_text(a, 4, 60).split()))}"
                         for n, a in named.items()), COMPACT_CHARS)


def _arr(a: Any, digits: int, limit: int) -> str:
    return cut(array_text(dict(a) if a is not None else None, digits), limit) \
        if isinstance(a, Mapping) or a is None else "—"


def sides(r: Mapping[str, Any], limit: int) -> list[list[str]]:
    """Rows of name, observed, oracle, golden ("—" where a side lacks the array)."""
    observed, reference = r.get("observed") or {}, r.get("reference") or {}
    golden, digits = r.get("golden") or {}, digits_for(dict(r))
    names = list(dict.fromkeys([*observed, *reference, *golden]))
    return [[n, *(_arr(side[n], digits, limit) if n in side else "—"
                  for side in (observed, reference, golden))] for n in names]


def outcome_text(r: Mapping[str, Any]) -> str:
    """A probe's normalised outcome in a few words: ``error: graph_freed``, ``absent``."""
    kind = (r.get("outcome") or {}).get("kind") or r["verdict"]
    return f"error: {r.get('error_kind') or 'other'}" if kind == "error" else kind


def _named(step: Mapping[str, Any]) -> str:
    return "; ".join(f"{n} = {' '.join(array_text(a).split())}" for n, a in step.items())


def detail_rows(r: Mapping[str, Any], failing: bool) -> list[tuple[str, str]]:
    """The (label, text) rows under a record's side-by-side table, in reading order."""
    rows: list[tuple[str, str]] = []
    add = rows.append
    w, digits = r.get("worst"), digits_for(dict(r))
    if w:
        add(("worst entry", f"{w.get('name', '')}{w.get('index') or ''}: observed "
             f"{w.get('observed')}, reference {w.get('reference')}, bound {fmt(w.get('bound'))}"))
    if r.get("max_abs_err") is not None:
        add(("max |error|", f"{fmt(r['max_abs_err'])} (relative {fmt(r.get('max_rel_err'))})"))
    tol = r.get("tolerance")
    if tol:
        add(("tolerance", f"rtol {fmt(tol['rtol'])}, atol {fmt(tol['atol'])} × scale, "
             f"{fmt(tol['oracle_factor'])} × oracle error"))
    if r.get("oracle_err") is not None:
        cls = f" · {r['classification']}" if r.get("classification") else ""
        add(("oracle error estimate", f"{fmt(r['oracle_err'])}{cls}"))
    for p in r.get("projection") or [] if r.get("mode") == "fast" else []:
        add((f"projection along {p['direction']}", f"framework {p['observed']}, oracle "
             f"{p['reference']} ± {fmt(p['oracle_err'])}, bound {fmt(p['bound'])}"))
    c = r.get("complex")
    if c:
        add(("complex gradient", f"convention {c['convention']}: {c['description']}; observed "
             f"is normalised to ∂f/∂x + i ∂f/∂y, raw {cut(json.dumps(c.get('raw')), 200)}"))
    if r.get("oracle_evaluations") is not None:
        add(("oracle evaluations", str(r["oracle_evaluations"])))
    if r.get("repeat_max_diff") is not None:
        add(("repeat", f"two runs differ by up to {fmt(r['repeat_max_diff'])}"))
    for n, iv in (r.get("subgradient") or {}).items():
        add((f"subgradients {n}", f"from {array_text(iv['lo'], digits)} to "
             f"{array_text(iv['hi'], digits)}"))
    gg = r.get("generalised_gradient")
    if gg:
        what = "a generalised gradient" if gg["valid"] else (
            f"not a generalised gradient: slope {fmt(gg['slope'])} along the direction shown, "
            f"where the function rises at most {fmt(gg['bound'])} (allowed {fmt(gg['allowed'])})")
        add(("whole gradient", f"{what}; {gg['samples']} gradients sampled around the point, "
             f"{gg['rows']} row(s) checked"))
    for n, a in (r.get("reference_run_dtype") or {}).items():
        add((f"same computation in {r['dtype']} {n}", array_text(a, digits)))
    if r.get("compiler"):
        secs = f", compile {fmt(r['compile_s'])} s" if r.get("compile_s") is not None else ""
        add(("compiled by", f"{r['compiler']}{secs}"))
    ed = r.get("eager_difference")
    if ed:
        if ed.get("eager_raised"):
            text = "eager raised" + (" too" if r["verdict"] == "error" else " where compiled ran")
        elif ed.get("identical"):
            text = "bit for bit identical to the eager result"
        elif ed.get("entries") is None:
            text = ed.get("message", "differs from eager")
        else:
            text = f"{ed['entries']} entries differ from eager, by up to {fmt(ed['max_abs'])}"
        add(("beside eager", text))
    cond = r.get("condition")
    if cond:
        add(("condition estimate", f"{cond['estimate']}: rounding the inputs to {r['dtype']} "
             f"moves the float64 result by up to {fmt(cond['input_rounding'])}; the difference "
             f"is {'within four times that' if cond['within'] else 'beyond it'}"))
    out = r.get("outcome")
    if out:
        idiom = f" via {out['idiom']}" if out.get("idiom") else ""
        add(("outcome", f"{out['kind']}{idiom}"))
        exp = r.get("expected") or {}
        add(("expected", ", ".join(f"{k} {', '.join(v) if isinstance(v, list) else v}"
                                   for k, v in exp.items() if v not in (None, [], ()))))
        for n, a in (out.get("values") or {}).items():
            add((f"value {n}", array_text(a)))
        for k, step in enumerate(out.get("steps") or [], 1):
            add((f"after pass {k}", _named(step)))
    if r.get("error"):
        add(("raised", f"{r['error']['type']} ({r.get('error_kind')}): "
             f"{cut(r['error']['message'], MESSAGE_CHARS)}"))
    for w in r.get("warnings") or []:
        add(("warning", f"[{w['kind']}] {w['category']}: {cut(w['message'], MESSAGE_CHARS)}"))
    d = r.get("divergence")
    if d:
        add(("declared divergence", f"{d['reason']} {d['link']}"))
    if failing:
        cached = " (reference read from the run's cache)" if r.get("reference_cached") else ""
        add(("time", f"{r.get('duration_s', 0.0):.4f} s framework, "
             f"{r.get('oracle_s') or 0.0:.4f} s oracle{cached}"))
        if r.get("nodeid"):
            add(("node id", r["nodeid"]))
    return rows


def record_detail(r: Mapping[str, Any], s: Strings) -> dict[str, Any]:
    """What a record's detail shows beyond its row, string-table indexed: the failing
    record's sides, the divergence link, the reproducer, a probe's outcome (the observed
    line of a pass and the label/text rows are columns of the record, see index_data)."""
    out: dict[str, Any] = {}
    if r["verdict"] != "pass":
        sd = sides(r, FAILING_CHARS)
        if sd:
            out["sd"] = [[s(x) for x in row] for row in sd]
    link = (r.get("divergence") or {}).get("link")
    if link and safe_link(link):
        out["dl"] = link
    if isinstance(r.get("reproducer"), str) and r["reproducer"]:
        out["rp"] = r["reproducer"]
    if r.get("kind") == "probe":
        out["ot"] = s(outcome_text(r))
    return out


# the positions of a record's fields in the page's data (the JS reads these names): the
# fields many records share (framework, version, check, kind, dtype, execution) are one
# index into a table of their combinations; "observed" is a pass's one observed line (-1
# when it reads as the oracle's), "kv" an index into the table of detail rows, "detail" 0
# or what record_detail gives
RECORD_FIELDS = ("case", "combo", "verdict", "rel", "abs", "message", "oracle", "golden",
                 "observed", "kv", "detail")
COMBO_FIELDS = ("framework", "version", "check", "kind", "dtype", "execution")
CASE_FIELDS = ("id", "file", "line", "title", "source", "topic", "ops", "href")


def index_data(records: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The index page's data: string table, cases, combinations of the shared fields,
    lists of detail rows, and the records (see RECORD_FIELDS), each stored once."""
    s = Strings()
    cases: dict[tuple[str, str], int] = {}
    case_rows: list[list[Any]] = []
    combos: dict[tuple[int, ...], int] = {}
    kvs: dict[tuple[tuple[int, int], ...], int] = {(): 0}
    rows: list[list[Any]] = []
    for r in records:
        key = (r["file"], r["case"])
        ci = cases.get(key)
        if ci is None:
            src = r.get("source") or {}
            where = f"{src.get('note')}, {src.get('section')}" if src else ""
            ci = cases[key] = len(case_rows)
            case_rows.append([s(r["case"]), s(r["file"]), r["line"], s(r.get("title")),
                              s(where), s(topic(r["file"])), [s(o) for o in r.get("ops") or []],
                              s(case_link(r["file"]))])
        elif r.get("ops") and not case_rows[ci][6]:
            case_rows[ci][6] = [s(o) for o in r["ops"]]
        kind = r["kind"]
        combo = (s(r["framework"]), s(r.get("framework_version")), s(r["check"]), s(kind),
                 s(r["dtype"]), s(r.get("execution") or "eager"))
        co = combos.setdefault(combo, len(combos))
        failing = r["verdict"] != "pass"
        kv = tuple((s(k), s(v)) for k, v in detail_rows(r, failing)
                   if failing or k != "max |error|")
        ki = kvs.setdefault(kv, len(kvs))
        reference = r.get("reference") if kind != "rev_fwd" else None
        oracle = s(compact(reference))
        observed = s(compact(r.get("observed"))) if not failing else 0
        rows.append([ci, co, s(r["verdict"]), num(r.get("max_rel_err")),
                     num(r.get("max_abs_err")), s(cut(r.get("message") or "", MESSAGE_CHARS)),
                     oracle, s(compact(r.get("golden"))),
                     -1 if observed and observed == oracle else observed, ki,
                     record_detail(r, s) or 0])
    return {"fields": {"record": RECORD_FIELDS, "case": CASE_FIELDS, "combo": COMBO_FIELDS},
            "failing": sorted(FAILING), "S": s.table, "cases": case_rows,
            "combos": [list(c) for c in combos], "kvs": [[list(p) for p in kv] for kv in kvs],
            "records": rows}


CHANGE_FIELDS = ("category", "case", "framework", "execution", "check", "dtype", "file",
                 "line", "base", "base_version", "candidate", "candidate_version", "move",
                 "ratio", "why", "ack", "base_message", "candidate_message")


def diff_data(doc: Mapping[str, Any]) -> dict[str, Any]:
    """The diff page's data: string table, acknowledgements, changes (CHANGE_FIELDS)."""
    from gradconf.diff import describe_move

    s = Strings()
    acks: dict[tuple[Any, ...], int] = {}
    ack_rows: list[list[Any]] = []
    rows = []
    for ch in doc["changes"]:
        a = ch.get("acknowledged")
        ai = -1
        if a:
            key = (a["file"], a["line"])
            if key not in acks:
                acks[key] = len(ack_rows)
                ack_rows.append([s(a["file"]), a["line"], s(a.get("expires")), s(a.get("reason"))])
            ai = acks[key]
        b, c = ch.get("base") or {}, ch.get("candidate") or {}
        v = ch.get("values")
        rows.append([s(ch["category"]), s(ch["case"]), s(ch["framework"]),
                     s(ch.get("execution") or "eager"), s(ch["check"]), s(ch["dtype"]),
                     s(ch.get("file")), ch.get("line"), s(b.get("verdict") or "—"),
                     s(b.get("framework_version")), s(c.get("verdict") or "—"),
                     s(c.get("framework_version")), s(describe_move(v)),
                     num(v["ratio"]) if v else None, s(ch.get("why")), ai,
                     s(cut(b.get("message") or "", MESSAGE_CHARS)),
                     s(cut(c.get("message") or "", MESSAGE_CHARS))])
    return {"fields": CHANGE_FIELDS, "S": s.table, "acks": ack_rows, "changes": rows}
