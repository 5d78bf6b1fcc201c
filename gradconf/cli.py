"""Command line: ``python -m gradconf report``, ``check`` and ``diff``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from gradconf.kinds import FAILING
from gradconf.loader import load_paths


def _report(args: argparse.Namespace) -> int:
    from gradconf.report.html import render
    from gradconf.report.markdown import summary_markdown
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


def _diff(args: argparse.Namespace) -> int:
    from gradconf.diff import diff, load_run, validate
    from gradconf.report.html import render_diff
    from gradconf.report.markdown import diff_markdown

    try:
        base, cand = load_run(Path(args.base)), load_run(Path(args.candidate))
        doc = diff(base, cand, args.framework or None, args.fail_on.split(",")
                   if args.fail_on else ())
    except ValueError as exc:
        print(f"gradconf diff: {exc}", file=sys.stderr)
        return 2
    validate(doc)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "diff.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n",
                                   encoding="utf-8")
    (out / "diff.md").write_text(diff_markdown(doc), encoding="utf-8")
    (out / "diff.html").write_text(render_diff(doc), encoding="utf-8")
    counts = ", ".join(f"{n} {c}" for c, n in doc["summary"].items() if n)
    print(f"gradconf diff: {counts or 'nothing to compare'}")
    for change in doc["changes"]:
        if change["category"] in doc["gate"]["fail_on"]:
            print(f"  {change['category']}: {change['file']}:{change['line']}: "
                  f"{change['case']} [{change['framework']}-{change['check']}-"
                  f"{change['dtype']}]: {change['why']}")
    gate = doc["gate"]
    print(f"gradconf diff: wrote {out / 'diff.json'}, {out / 'diff.md'}, {out / 'diff.html'}; gate "
          + ("passed" if gate["passed"] else f"FAILED on {', '.join(gate['failed_on'])}"))
    return 0 if gate["passed"] else 1


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
    dif = sub.add_parser("diff", help="compare two runs; exit 1 when the gate fails",
                         description="Compare a base run with a candidate run (results.json, "
                                     "a *.jsonl stream, or a directory of streams).")
    dif.add_argument("base")
    dif.add_argument("candidate")
    dif.add_argument("--framework", action="append", default=[],
                     help="compare this framework only (repeatable)")
    dif.add_argument("--fail-on", default="regression,behaviour,removed",
                     help="comma-separated categories that fail the gate: regression, fix, "
                          "behaviour, drift, added, removed (default: %(default)s; '' for none)")
    dif.add_argument("--out", default="reports/diff", help="where diff.json and diff.md go")
    dif.set_defaults(func=_diff)
    args = parser.parse_args(argv)
    code: int = args.func(args)
    return code
