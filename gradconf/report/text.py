"""Plain-text views of records: arrays as text and the pytest failure message (the Markdown
views are in :mod:`gradconf.report.markdown`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from gradconf.arrays import decode


def array_text(encoded: dict[str, Any] | None, digits: int = 6, width: int = 88) -> str:
    """A compact one-or-few-line rendering of an encoded array, ``digits`` decimals."""
    if encoded is None:
        return "None (absent)"
    if encoded.get("truncated"):
        return f"<{encoded['shape']} array, first entries {encoded['data'][:6]}>"
    arr = decode(encoded)
    return np.array2string(arr, precision=digits, max_line_width=width, separator=", ",
                           suppress_small=False, threshold=60)


def digits_for(rec: dict[str, Any]) -> int:
    """Decimals that make a record's relative error visible (6 to 16)."""
    rel = rec.get("max_rel_err")
    if not rel or rec.get("verdict") == "pass":
        return 6
    return int(min(16, max(6, np.ceil(-np.log10(max(rel, 1e-16))) + 3)))


def named_text(named: dict[str, Any] | None, label: str, digits: int = 6) -> list[str]:
    """``label: name = array`` lines for a mapping of encoded arrays."""
    if not named:
        return []
    return [f"  {label:<9}: {n} = {array_text(a, digits)}".replace("\n", "\n" + " " * 14)
            for n, a in named.items()]


def failure_text(rec: dict[str, Any]) -> str:
    """What a person needs to act on a failing record, in the order they need it."""
    head = (f"{rec['verdict']}: {rec['case']} {rec['check']} {rec['dtype']} on "
            f"{rec['framework']} {rec['framework_version']}")
    lines = [head, f"  {rec['message']}"]
    tol = rec.get("tolerance")
    if tol and rec.get("kind") != "probe":
        lines.append(f"  tolerance: rtol {tol['rtol']:.3g}, atol {tol['atol']:.3g} x scale, "
                     f"{tol['oracle_factor']:g} x oracle error (max {rec['oracle_err'] or 0:.3g})")
    digits = digits_for(rec)
    lines += named_text(rec.get("observed"), "observed", digits)
    lines += named_text(rec.get("reference"), "reference", digits)
    lines += named_text(rec.get("golden"), "golden", digits)
    outcome = rec.get("outcome")
    if outcome:
        lines.append(f"  outcome  : {outcome['kind']} via {outcome.get('idiom', '')}")
        lines.append(f"  expected : {rec.get('expected')}")
    if rec.get("error"):
        lines.append(f"  raised   : {rec['error']['type']}: {rec['error']['message']}")
    for w in rec.get("warnings") or []:
        lines.append(f"  warning  : [{w['kind']}] {w['category']}: {w['message'][:160]}")
    if rec.get("traceback"):
        lines.append("  traceback (last frames):")
        lines += ["    " + t for t in rec["traceback"].strip().splitlines()[-8:]]
    src = rec.get("source") or {}
    where = f" (note {src.get('note')}, {src.get('section')})" if src else ""
    lines.append(f"  case at  : {rec['file']}:{rec['line']}{where}")
    return "\n".join(lines)
