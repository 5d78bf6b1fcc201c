"""Two runs compared: what a framework upgrade (or a change of the cases) changed.

Records are matched by (case, framework, check, dtype). Each matched pair, and each record
only one side has, falls in one category:

``regression``
    the base run was not failing and the candidate is (``pass`` → ``mismatch``, …).
``fix``
    the base run was failing and the candidate is not; ``expected_divergence`` → ``stale``
    is a fix too (the framework now does what the case expects: drop the declaration), and
    so is ``expected_divergence`` → ``pass`` / ``convention`` / ``precision`` (the
    declaration's versions end before the candidate, and it no longer diverges).
``behaviour``
    neither side failing, or both, but the outcome differs: another verdict
    (``pass`` → ``convention``, ``mismatch`` → ``error``), or, for the same verdict, another
    normalised probe outcome, neutral error kind, raw exception type or set of warning kinds.
``drift``
    same verdict and behaviour, but a value moved by more than the check's tolerance
    (taken relative to the base value), the raw error message was reworded, or a compiled
    item's warnings changed (a compiler warns once per process, or not at all when its
    on-disk cache holds the graph, so which compiled item carries a warning depends on the
    order and the machine).
``added`` / ``removed``
    the record exists on one side only.

Everything else is ``unchanged``. The gate fails when a category in ``fail_on`` (default:
regression, behaviour, removed) has an entry. The engine's only inputs are the two
results documents; no framework is imported.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from gradconf import SCHEMA_VERSION
from gradconf import acks as acks_module
from gradconf.arrays import decode, json_number
from gradconf.compare import entry_bound
from gradconf.contract import contract
from gradconf.intake import InputError
from gradconf.kinds import DIFF_CATEGORIES, FAILING
from gradconf.results import load_schema, run_environment

CATEGORIES = DIFF_CATEGORIES
DEFAULT_FAIL_ON = ("regression", "behaviour", "removed")
# how the observed values of a matched item moved (see _moved)
VALUE_BUCKETS = ("identical", "within_tolerance", "drifted", "not_compared")

Key = tuple[str, str, str, str, str]
# what a declared divergence's item may become when the framework fixes it and the
# declaration's version range ends before the candidate: a fix, not a change of behaviour
GONE = frozenset({"pass", "convention", "precision"})


# ----------------------------------------------------------------------------- indexing


def _key(rec: Mapping[str, Any]) -> Key:
    """An item's identity across runs; a case that did not load is identified by where."""
    check = rec["check"] if rec["kind"] != "load" else f"load@{rec['file']}:{rec['line']}"
    return (rec["case"], rec["framework"], check, rec["dtype"], rec.get("execution", "eager"))


def _index(doc: Mapping[str, Any], frameworks: Iterable[str] | None,
           side: str) -> dict[Key, dict[str, Any]]:
    keep = set(frameworks) if frameworks else None
    out: dict[Key, dict[str, Any]] = {}
    for rec in doc["records"]:
        if keep is not None and rec["framework"] not in keep:
            continue
        key = _key(rec)
        if key in out:
            tag = "" if key[4] == "eager" else f"{key[4]}-"  # as in the node id
            raise InputError(f"the {side} run", f"two records of {key[0]} [{key[1]}-"
                             f"{tag}{key[2]}-{key[3]}]", "streams of two runs merged?")
        out[key] = rec
    return out


def _frameworks(doc: Mapping[str, Any]) -> set[str]:
    """The frameworks a results document ran (a run with no record still counts)."""
    return {r["framework"] for r in doc["records"]} | {
        fw for fw, run in (doc.get("runs") or {}).items() if run.get("stream")}


def _incomplete(base: Mapping[str, Any], cand: Mapping[str, Any],
                frameworks: list[str]) -> list[str]:
    """Why the comparison is not whole: a compared framework's run that did not finish
    (its missing items named), or one that a side does not have at all."""
    out = []
    for side, doc in (("base", base), ("candidate", cand)):
        runs = doc.get("runs") or {}
        for fw in frameworks:
            run = runs.get(fw)
            if run is None:
                out.append(f"{side}: no run of {fw}")
                continue
            reasons = [*run["incomplete"], *run["problems"]]
            if not reasons:
                continue
            shown = run["missing"][:10]
            more = run["missing_count"] - len(shown)
            named = ("; never finished: " + ", ".join(shown) + (f" and {more} more" if more
                                                                  else "")) if shown else ""
            out.append(f"{side} {fw} incomplete: {'; '.join(reasons)}{named}")
    return out


# ----------------------------------------------------------------------------- comparing


def _signature(rec: Mapping[str, Any]) -> dict[str, Any]:
    """What a user's code can observe of a record besides its numbers."""
    outcome = rec.get("outcome") or {}
    error = rec.get("error") or {}
    return {"outcome": outcome.get("kind"), "error_kind": rec.get("error_kind"),
            "error_type": error.get("type"),
            "warnings": sorted({w.get("kind", "other") for w in rec.get("warnings") or []})}


def _side(rec: Mapping[str, Any]) -> dict[str, Any]:
    error = rec.get("error") or {}
    return {"verdict": rec["verdict"], "framework_version": rec.get("framework_version"),
            "message": rec.get("message", ""), "error_message": error.get("message")} \
        | _signature(rec)


def _value_drift(base: Mapping[str, Any], cand: Mapping[str, Any]) -> dict[str, Any] | None:
    """How the observed values moved: the entry that moved most relative to the check's
    tolerance at the base value (name, index, old and new value, ratio), and whether every
    compared array is bit-identical; None when nothing comparable was observed."""
    obs_b, obs_c = base.get("observed"), cand.get("observed")
    tol = base.get("tolerance") or cand.get("tolerance")
    if not isinstance(obs_b, dict) or not isinstance(obs_c, dict) or not tol:
        return None
    worst: dict[str, Any] | None = None
    identical = True
    for name in sorted(set(obs_b) & set(obs_c)):
        a, b = obs_b[name], obs_c[name]
        if not a or not b or a.get("truncated") or b.get("truncated") or \
                list(a["shape"]) != list(b["shape"]):
            continue
        old, new = decode(a), decode(b)
        identical = identical and old.tobytes() == new.tobytes()
        if old.size == 0:
            continue
        both = np.isfinite(old) & np.isfinite(new)
        bound = entry_bound(old, tol)
        big = np.finfo(np.float64).max  # JSON has no inf: the largest float stands for it
        with np.errstate(invalid="ignore", over="ignore"):  # inf - inf: neither is finite
            delta = np.where(both, np.abs(new - old), 0.0)
            ratio = np.minimum(delta / bound, big)
        # an entry that became or stopped being finite (0.5 -> NaN) moved the most
        same = np.where(np.isnan(old), np.isnan(new), old == new)
        ratio = np.where(~both & ~same, big, ratio)
        i = int(np.argmax(ratio))
        here = {"name": name, "index": [int(j) for j in np.unravel_index(i, old.shape)],
                "base": json_number(float(old.reshape(-1)[i])),
                "candidate": json_number(float(new.reshape(-1)[i])),
                "ratio": float(ratio.reshape(-1)[i])}
        if worst is None or here["ratio"] > worst["ratio"]:
            worst = here
    if worst is None:
        return None
    return {**worst, "identical": identical}


def _moved(values: Mapping[str, Any] | None) -> str:
    """A value comparison's bucket: identical, within_tolerance, drifted or not_compared."""
    if values is None:
        return "not_compared"
    if values["identical"]:
        return "identical"
    return "drifted" if values["ratio"] > 1.0 else "within_tolerance"


def classify(base: Mapping[str, Any], cand: Mapping[str, Any]) -> tuple[str, str]:
    """The category of a matched pair and one line saying why."""
    vb, vc = base["verdict"], cand["verdict"]
    fb, fc = vb in FAILING, vc in FAILING
    if vb == "expected_divergence" and vc == "stale":
        return "fix", ("the declared divergence no longer diverges: the framework now does "
                       "what the case expects (remove the declaration)")
    if vb == "expected_divergence" and vc in GONE:
        return "fix", (f"the declared divergence is gone: {vc} at the candidate's version, "
                       "which the declaration does not cover")
    if not fb and fc:
        return "regression", f"{vb} → {vc}: {cand.get('message') or ''}".rstrip(": ")
    if fb and not fc:
        return "fix", f"{vb} → {vc}"
    if vb != vc:
        return "behaviour", f"verdict {vb} → {vc}: {cand.get('message') or ''}".rstrip(": ")
    sb, sc = _signature(base), _signature(cand)
    # a compiled item's warnings are mostly its compiler's, which warns once per process, or
    # not at all when its on-disk cache already holds the graph: which item carries them
    # depends on the order items compiled in and on the machine, so they drift, never gate
    quiet = ("warnings",) if base.get("execution", "eager") != "eager" else ()
    changed = [f"{k} {sb[k]} → {sc[k]}" for k in sb if sb[k] != sc[k] and k not in quiet]
    if changed:
        return "behaviour", "; ".join(changed)
    drift = _value_drift(base, cand)
    if drift and not drift["identical"] and drift["ratio"] > 1.0:
        where = drift["name"] + (str(drift["index"]) if drift["index"] else "")
        return "drift", (f"{where} moved {drift['base']!r} → {drift['candidate']!r}: "
                         f"{drift['ratio']:.3g}× the tolerance")
    if sb["warnings"] != sc["warnings"]:
        return "drift", (f"compiled: warnings {sb['warnings']} → {sc['warnings']} (a compiler "
                         "warns once per process, or not when its cache holds the graph)")
    eb, ec = (base.get("error") or {}).get("message"), (cand.get("error") or {}).get("message")
    if eb != ec:
        return "drift", "the raw error message was reworded"
    return "unchanged", ""


def diff(base: Mapping[str, Any], cand: Mapping[str, Any],
         frameworks: Iterable[str] | None = None,
         fail_on: Iterable[str] = DEFAULT_FAIL_ON,
         acks: list[acks_module.Ack] | None = None, ack_file: str | None = None,
         today: dt.date | None = None) -> dict[str, Any]:
    """The diff document of two results documents (optionally for some frameworks only).

    ``acks`` (from ``ack_file``) acknowledge changes: one an entry covers does not fail
    the gate; an entry that has expired by ``today`` (default: the date now, UTC) fails it.
    """
    fail_on = tuple(fail_on)
    unknown = sorted(set(fail_on) - set(CATEGORIES))
    if unknown:
        raise InputError("--fail-on", f"unknown categories {unknown}",
                         f"choose from {', '.join(CATEGORIES)}, or '' for none")
    frameworks = list(frameworks) if frameworks else None
    present = _frameworks(base) | _frameworks(cand)
    for fw in frameworks or ():
        if fw not in present:
            raise InputError("--framework", f"neither run has {fw!r}",
                             f"the runs have: {', '.join(sorted(present)) or 'nothing'}")
    compared = frameworks or sorted(present)
    if not compared:
        raise InputError("diff", "both runs are empty: nothing to compare")
    incomplete = _incomplete(base, cand, compared)
    ib, ic = _index(base, frameworks, "base"), _index(cand, frameworks, "candidate")
    changes: list[dict[str, Any]] = []
    counts: Counter[str] = Counter()
    moved: dict[str, Counter[str]] = {fw: Counter() for fw in compared}
    for key in sorted(set(ib) | set(ic)):
        b, c = ib.get(key), ic.get(key)
        values = None
        if b is not None and c is not None:
            category, why = classify(b, c)
            values = _value_drift(b, c)
            moved.setdefault(key[1], Counter())[_moved(values)] += 1
        elif c is not None:
            category, why = "added", f"only in the candidate run ({c['verdict']})"
        else:
            assert b is not None
            category, why = "removed", f"only in the base run ({b['verdict']})"
        counts[category] += 1
        if category == "unchanged":
            continue
        where = c if c is not None else b
        assert where is not None
        changes.append({"category": category, "case": key[0], "framework": key[1],
                        "check": key[2], "dtype": key[3], "execution": key[4],
                        "file": where.get("file"),
                        "line": where.get("line"), "why": why, "values": values,
                        "base": _side(b) if b is not None else None,
                        "candidate": _side(c) if c is not None else None})
    order = {c: i for i, c in enumerate(CATEGORIES)}
    changes.sort(key=lambda ch: (order[ch["category"]], ch["file"] or "", ch["case"],
                                 ch["framework"], ch["execution"], ch["check"], ch["dtype"]))
    today = today or dt.datetime.now(dt.UTC).date()
    reviewed = acks_module.apply(changes, acks or [], today)
    failing = [c for c in fail_on
               if any(ch["category"] == c and not ch["acknowledged"] for ch in changes)]
    failing += (["incomplete"] if incomplete else []) + (
        ["expired_acknowledgement"] if reviewed["expired"] else [])
    return {
        "schema_version": SCHEMA_VERSION,
        "base": _run_info(base, frameworks), "candidate": _run_info(cand, frameworks),
        "frameworks": frameworks,
        "environment": environment_changes(base, cand, compared),
        "summary": {c: counts[c] for c in (*CATEGORIES, "unchanged")},
        "values": {fw: {b: n[b] for b in VALUE_BUCKETS} for fw, n in sorted(moved.items())},
        "gate": {"fail_on": list(fail_on), "passed": not failing, "failed_on": failing,
                 "incomplete": incomplete,
                 "acknowledged": sum(1 for ch in changes if ch["acknowledged"]),
                 "acknowledgements": {"file": ack_file, "date": today.isoformat(),
                                      "entries": len(acks or []), **reviewed}},
        "changes": changes,
    }


ENVIRONMENT_FIELDS = ("python", "numpy", "platform", "gradconf", "cases_digest")


def _build(version: str | None) -> tuple[str | None, str]:
    """A framework version and its build variant: ``2.13.0+cpu`` is (2.13.0, +cpu); a
    version without a local part is the index's default build."""
    if not version:
        return version, ""
    public, _, local = version.partition("+")
    return public, f"+{local}" if local else ""


def environment_changes(base: Mapping[str, Any], cand: Mapping[str, Any],
                        frameworks: list[str]) -> list[dict[str, Any]]:
    """Per compared framework, what differs between the two runs' environments besides
    the framework's version: Python, NumPy, platform, gradconf, the cases run (their
    digest), and the framework's build variant (``+cpu`` against a CUDA build)."""
    out: list[dict[str, Any]] = []
    for fw in frameworks:
        sides = []
        for doc in (base, cand):
            env = run_environment(doc, fw)
            sides.append((env, (env.get("frameworks") or {}).get(fw)))
        (eb, vb), (ec, vc) = sides
        for name in ENVIRONMENT_FIELDS:
            if eb.get(name) != ec.get(name) and (eb.get(name) or ec.get(name)):
                out.append({"framework": fw, "field": name, "base": eb.get(name),
                            "candidate": ec.get(name)})
        bb, bc = _build(vb)[1], _build(vc)[1]
        if vb and vc and bb != bc:
            out.append({"framework": fw, "field": "build", "base": bb or "default",
                        "candidate": bc or "default"})
    return out


def _run_info(doc: Mapping[str, Any], frameworks: list[str] | None) -> dict[str, Any]:
    env = doc.get("environment") or {}
    versions = {f: v for f, v in (env.get("frameworks") or {}).items()
                if frameworks is None or f in frameworks}
    return {"frameworks": versions, "git_revision": env.get("git_revision"),
            "time": env.get("time"),
            "records": sum(1 for r in doc["records"]
                           if frameworks is None or r["framework"] in frameworks)}


# ----------------------------------------------------------------------------- output


def schema() -> dict[str, Any]:
    """The committed JSON Schema of a diff document."""
    return load_schema("diff.schema.json")


def validate(doc: Mapping[str, Any]) -> None:
    """Raise jsonschema.ValidationError if ``doc`` is not a valid diff document."""
    json.dumps(doc, allow_nan=False)
    contract("diff.schema.json").validate(doc)


def describe_run(info: Mapping[str, Any]) -> str:
    """One side of a diff in a line: its framework versions, record count and revision."""
    versions = ", ".join(f"{f} {v}" for f, v in sorted(info["frameworks"].items()))
    return (f"{versions or 'no framework'} ({info['records']} records, "
            f"revision {info['git_revision']})")


def sections(doc: Mapping[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """The changes grouped by category, in CATEGORIES order, empty categories left out."""
    return [(c, rows) for c in CATEGORIES
            if (rows := [ch for ch in doc["changes"] if ch["category"] == c])]


def describe_move(v: Mapping[str, Any] | None) -> str:
    """A change's value move in words: ``x[1]: 0.5 → 0.75 (3× tol)``, ``bit-identical``,
    or nothing when no value was compared; no size when a side is not finite."""
    if not v:
        return ""
    if v["identical"]:
        return "bit-identical"
    where = v["name"] + (str(v["index"]) if v["index"] else "")
    finite = not isinstance(v["base"], str) and not isinstance(v["candidate"], str) and \
        v["ratio"] < np.finfo(np.float64).max
    size = f" ({v['ratio']:.3g}× tol)" if finite else ""
    return f"{where}: {v['base']} → {v['candidate']}{size}"


def _verdict(side: Mapping[str, Any] | None) -> str:
    return side["verdict"] if side else "—"


def groups(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One category's changes grouped: one group per case, framework and execution whose
    items went the same way (same base and candidate verdicts), so one change seen over
    several checks and dtypes is one row. Each group names its checks and dtypes, the
    largest value move among its items, whether their messages differ, and its items."""
    out: dict[tuple, dict[str, Any]] = {}
    for ch in rows:
        ack = ch.get("acknowledged")
        key = (ch["case"], ch["framework"], ch.get("execution", "eager"),
               _verdict(ch["base"]), _verdict(ch["candidate"]),
               (ack["file"], ack["line"]) if ack else None)
        g = out.setdefault(key, {"case": ch["case"], "framework": ch["framework"],
                                 "execution": ch.get("execution", "eager"),
                                 "acknowledged": ack,
                                 "file": ch["file"], "line": ch["line"],
                                 "base_verdict": key[3], "candidate_verdict": key[4],
                                 "checks": [], "dtypes": [], "items": [], "values": None})
        g["items"].append(ch)
        for field, value in (("checks", ch["check"]), ("dtypes", ch["dtype"])):
            if value not in g[field]:
                g[field].append(value)
        v = ch.get("values")
        if v and (g["values"] is None or v["ratio"] > g["values"]["ratio"]):
            g["values"] = {**v, "check": ch["check"], "dtype": ch["dtype"]}
    for g in out.values():
        first = g["items"][0]
        g["why"] = first["why"]
        g["messages"] = None
        b, c = first["base"], first["candidate"]
        if b and c and (b.get("message") or "") != (c.get("message") or ""):
            g["messages"] = {"base": b.get("message") or "", "candidate": c.get("message") or ""}
    return list(out.values())
