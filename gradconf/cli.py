"""Command line: ``python -m gradconf report`` and ``python -m gradconf check``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from gradconf.kinds import FAILING
from gradconf.loader import load_paths


def _report(args: argparse.Namespace) -> int:
    from gradconf.report.html import render
    from gradconf.report.text import summary_markdown
    from gradconf.results import merge, write_results

    out = Path(args.results_dir)
    parts = sorted(out.glob("*.jsonl"))
    if not parts:
        print(f"gradconf: no *.jsonl results in {out}/ (run the cases first)", file=sys.stderr)
        return 2
    doc = merge(parts)
    write_results(doc, out / "results.json")
    (out / "index.html").write_text(render(doc), encoding="utf-8")
    (out / "summary.md").write_text(summary_markdown(doc), encoding="utf-8")
    counts = ", ".join(f"{n} {v}" for v, n in doc["summary"]["verdicts"].items())
    print(f"gradconf: {doc['summary']['total']} records from {len(parts)} file(s): {counts}")
    print(f"gradconf: wrote {out / 'results.json'}, {out / 'index.html'}, {out / 'summary.md'}")
    failing = sum(n for v, n in doc["summary"]["verdicts"].items() if v in FAILING)
    if failing and args.strict:
        print(f"gradconf: {failing} failing record(s); see {out / 'summary.md'}", file=sys.stderr)
        return 1
    return 0


def _check(args: argparse.Namespace) -> int:
    result = load_paths(args.paths)
    for err in result.errors:
        print(err)
    print(f"gradconf: {len(result.cases)} case(s) loaded, {len(result.errors)} error(s)")
    return 1 if result.errors else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gradconf`` command."""
    parser = argparse.ArgumentParser(prog="gradconf", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    rep = sub.add_parser("report", help="merge <dir>/*.jsonl into results.json, index.html, "
                                        "summary.md")
    rep.add_argument("--results-dir", default="reports")
    rep.add_argument("--strict", action="store_true",
                     help="exit 1 if any record has a failing verdict")
    rep.set_defaults(func=_report)
    chk = sub.add_parser("check", help="load case files and print every problem, located")
    chk.add_argument("paths", nargs="*", default=["cases"])
    chk.set_defaults(func=_check)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code
