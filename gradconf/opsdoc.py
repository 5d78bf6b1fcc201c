"""The op table as Markdown, for ``cases/README.md`` (``gradconf ops`` prints it).

Generated from the rows of :mod:`gradconf.ops`, so the documented neutral meaning of every
op is the one its row states and every adapter's lowering implements.
"""

from __future__ import annotations

from gradconf.ops import FAMILIES, OPS, OpSpec


def _arity(spec: OpSpec) -> str:
    return "list" if spec.arity is None else str(spec.arity)


def _keywords(spec: OpSpec) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in spec.attrs.items() if k != "index")


def _special(spec: OpSpec) -> str:
    return "; ".join(f"{s.kind}: {s.where}" for s in spec.special)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def ops_markdown() -> str:
    """One table per family: op, arrays, keywords, neutral meaning, special points."""
    out = [f"{len(OPS)} ops in {len(FAMILIES)} families.", ""]
    for fam in FAMILIES:
        rows = [s for s in OPS.values() if s.family == fam]
        out += [f"#### {fam} ({len(rows)})", "",
                "| op | arrays | keywords | neutral meaning | special points |",
                "|---|---|---|---|---|"]
        out += [f"| `{s.name}` | {_arity(s)} | {_cell(_keywords(s))} | {_cell(s.notes)} "
                f"| {_cell(_special(s))} |" for s in rows]
        out.append("")
    return "\n".join(out)
