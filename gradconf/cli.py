"""Command line: ``python -m gradconf report``, ``check``, ``diff``, ``gate``, ``baseline``,
``merge`` and more.

Exit codes, the same for every command: 0 clean; 1 failures found (a failing record with
``report --strict``, an incomplete run, a case file that does not load, a failed gate);
2 usage or input error (a bad argument, a path that does not exist, a stream or document
that cannot be trusted); 3 gradconf itself failed (a bug: the one line says so). No
command prints a traceback unless ``GRADCONF_DEBUG=1`` is set.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gradconf.intake import InputError
from gradconf.kinds import FAILING

OK, FAILED, USAGE, INTERNAL = 0, 1, 2, 3
EXIT_CODES = """exit codes:
  0  clean
  1  failures found: a failing record (report --strict), an incomplete run (report,
     diff), a case file that does not load (check), a failed gate (diff, gate)
  2  usage or input error: a bad argument, a missing path, a stream or results document
     that cannot be trusted (corrupt, torn in the middle, another schema version)
  3  gradconf itself failed (a bug; GRADCONF_DEBUG=1 shows the traceback)"""


def _say(message: str) -> None:
    print(f"gradconf: {message}", file=sys.stderr)


def _report(args: argparse.Namespace) -> int:
    from gradconf.report.html import render
    from gradconf.report.markdown import summary_markdown
    from gradconf.results import merge, write_results

    out = Path(args.results_dir)
    if not out.is_dir():
        raise InputError(str(out), "no such directory", "run the cases first")
    parts = sorted(out.glob("*.jsonl"))
    if not parts:
        raise InputError(str(out), "no *.jsonl results in this directory", "run the cases first")
    doc = merge(parts, expect=_names(args.expect))
    write_results(doc, out / "results.json")
    (out / "index.html").write_text(render(doc), encoding="utf-8")
    (out / "summary.md").write_text(summary_markdown(doc), encoding="utf-8")
    counts = ", ".join(f"{n} {v}" for v, n in doc["summary"]["verdicts"].items())
    print(f"gradconf: {doc['summary']['total']} records from {len(parts)} file(s): {counts}")
    print(f"gradconf: wrote {out / 'results.json'}, {out / 'index.html'}, {out / 'summary.md'}")
    code = OK
    for fw, run in doc["runs"].items():
        for reason in [*run["problems"], *run["incomplete"]]:
            _say(f"{fw} run incomplete: {reason}")
            code = FAILED
        for nodeid in run["missing"]:
            _say(f"{fw}: never finished: {nodeid}")
    failing = sum(n for v, n in doc["summary"]["verdicts"].items() if v in FAILING)
    if failing and args.strict:
        _say(f"{failing} failing record(s); see {out / 'summary.md'}")
        code = FAILED
    return code


def _check(args: argparse.Namespace) -> int:
    from gradconf.intake.limits import from_env
    from gradconf.loader import files, load_paths

    for path in args.paths:
        if not Path(path).exists():
            raise InputError(path, "no such file or directory")
    if not files(args.paths):
        raise InputError(" ".join(args.paths), "no *.yaml or *.yml case files here")
    result = load_paths(args.paths, limits=from_env(args.limit))
    for err in result.errors:
        print(err)
    print(f"gradconf: {len(result.cases)} case(s) loaded, {len(result.errors)} error(s)")
    return FAILED if result.errors else OK


def _ack_file(given: str | None) -> Path | None:
    """The acknowledgements file: the one named (which must exist), none for '', else
    gate/acknowledged.yaml when there is one."""
    from gradconf.acks import DEFAULT_FILE

    if given == "":
        return None
    if given is None:
        return DEFAULT_FILE if DEFAULT_FILE.is_file() else None
    if not Path(given).is_file():
        raise InputError("--ack", f"no acknowledgements file {given!r}",
                         "name a YAML file, or '' for none")
    return Path(given)


def _diff(args: argparse.Namespace) -> int:
    from gradconf.intake.streams import load_document

    base, cand = load_document(Path(args.base)), load_document(Path(args.candidate))
    return _gate_run(base, cand, args)


def _gate(args: argparse.Namespace) -> int:
    from gradconf.baseline import base_for
    from gradconf.intake.streams import load_document

    cand = load_document(Path(args.run))
    base = base_for(cand, Path(args.baselines), _names(args.framework) or None)
    return _gate_run(base, cand, args)


def _gate_run(base: dict[str, Any], cand: dict[str, Any], args: argparse.Namespace) -> int:
    """Diff ``cand`` against ``base``, write diff.json/.md/.html, print the gating changes
    as located lines; the gate's exit code."""
    from gradconf.acks import load as load_acks
    from gradconf.diff import diff, validate
    from gradconf.report.html import render_diff
    from gradconf.report.markdown import diff_markdown

    ack_path = _ack_file(args.ack)
    acks = load_acks(ack_path) if ack_path else []
    doc = diff(base, cand, _names(args.framework) or None,
               [c.strip() for c in args.fail_on.split(",") if c.strip()],
               acks=acks, ack_file=str(ack_path) if ack_path else None)
    validate(doc)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "diff.json").write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n",
                                   encoding="utf-8")
    (out / "diff.md").write_text(diff_markdown(doc), encoding="utf-8")
    (out / "diff.html").write_text(render_diff(doc), encoding="utf-8")
    counts = ", ".join(f"{n} {c}" for c, n in doc["summary"].items() if n)
    print(f"gradconf diff: {counts}")
    for change in doc.get("environment") or []:
        print(f"  {change['framework']}: {change['field']} {change['base']} → "
              f"{change['candidate']}")
    gate = doc["gate"]
    for reason in gate["incomplete"]:
        print(f"  incomplete: {reason}")
    for a in gate["acknowledgements"]["expired"]:
        print(f"  expired acknowledgement: {a['file']}:{a['line']}: {a['category']} until "
              f"{a['expires']}: {a['reason']}")
    for a in gate["acknowledgements"]["stale"]:
        print(f"  stale acknowledgement (matches no change): {a['file']}:{a['line']}")
    for change in doc["changes"]:
        if change["category"] in gate["fail_on"] and not change["acknowledged"]:
            tag = "" if change["execution"] == "eager" else f"{change['execution']}-"
            print(f"  {change['category']}: {change['file']}:{change['line']}: "
                  f"{change['case']} [{change['framework']}-{tag}{change['check']}-"
                  f"{change['dtype']}]: {change['why']}")
    print(f"gradconf diff: wrote {out / 'diff.json'}, {out / 'diff.md'}, {out / 'diff.html'}; gate "
          + ("passed" if gate["passed"] else f"FAILED on {', '.join(gate['failed_on'])}"))
    return OK if gate["passed"] else FAILED


def _baseline(args: argparse.Namespace) -> int:
    from gradconf.baseline import write
    from gradconf.intake.streams import load_document

    doc = load_document(Path(args.run))
    wanted = _names(args.framework) or sorted(doc["runs"])
    if not wanted:
        raise InputError(args.run, "holds no framework's run")
    for fw in wanted:
        path = write(doc, fw, Path(args.out))
        n = sum(1 for r in doc["records"] if r["framework"] == fw)
        print(f"gradconf baseline: {n} records of {fw} → {path} "
              f"({path.stat().st_size / 1e6:.1f} MB)")
    return OK


def _merge(args: argparse.Namespace) -> int:
    from gradconf.results import merge, write_results
    from gradconf.sharding import join

    out = Path(args.out)
    written, problems = join([Path(p) for p in args.inputs], out)
    doc = merge(written)
    write_results(doc, out / "results.json")
    for problem in problems:
        _say(problem)
    print(f"gradconf merge: {doc['summary']['total']} records of {len(written)} framework(s) "
          f"into {out / 'results.json'} (and {', '.join(p.name for p in written)})")
    incomplete = any(run["incomplete"] or run["problems"] for run in doc["runs"].values())
    return FAILED if problems or incomplete else OK


def _bugs(args: argparse.Namespace) -> int:
    from gradconf.findings import declared_markdown
    from gradconf.intake.limits import from_env
    from gradconf.loader import load_paths

    result = load_paths(args.paths, limits=from_env([]))
    for err in result.errors:
        _say(str(err))
    print(declared_markdown(result.cases), end="")
    return FAILED if result.errors else OK


def _ops(args: argparse.Namespace) -> int:
    from gradconf.opsdoc import ops_markdown

    print(ops_markdown(), end="")
    return OK


def _gate_options(cmd: argparse.ArgumentParser) -> None:
    """The options ``diff`` and ``gate`` share."""
    cmd.add_argument("--framework", action="append", default=[],
                     help="compare this framework only (repeatable)")
    cmd.add_argument("--fail-on", default="regression,behaviour,removed",
                     help="comma-separated categories that fail the gate: regression, fix, "
                          "behaviour, drift, added, removed (default: %(default)s; '' for "
                          "none); an incomplete run always fails it")
    cmd.add_argument("--out", default="reports/diff", help="where diff.json, diff.md and "
                                                            "diff.html go")
    cmd.add_argument("--ack", default=None, metavar="FILE",
                     help="acknowledged changes (YAML; see gradconf/acks.py): a change an "
                          "entry covers does not fail the gate, an expired entry does "
                          "(default: gate/acknowledged.yaml if present; '' for none)")


def _names(values: Sequence[str]) -> list[str]:
    """Repeated and comma-separated names, in order, once each."""
    return list(dict.fromkeys(n.strip() for v in values for n in v.split(",") if n.strip()))


def parser() -> argparse.ArgumentParser:
    """The ``gradconf`` argument parser (its ``--help`` lists the exit codes)."""
    top = argparse.ArgumentParser(prog="gradconf", description=__doc__.splitlines()[0],
                                  epilog=EXIT_CODES,
                                  formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = top.add_subparsers(dest="command", required=True)

    def command(name: str, help_text: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help_text, epilog=EXIT_CODES,
                              formatter_class=argparse.RawDescriptionHelpFormatter, **kw)

    rep = command("report", "merge <dir>/*.jsonl into results.json, index.html, summary.md; "
                            "exit 1 when a run is incomplete")
    rep.add_argument("--results-dir", default="reports")
    rep.add_argument("--strict", action="store_true",
                     help="exit 1 if any record has a failing verdict")
    rep.add_argument("--expect", action="append", default=[], metavar="FRAMEWORK[,...]",
                     help="frameworks that must have a stream; one without is an incomplete "
                          "run (repeatable)")
    rep.set_defaults(func=_report)
    chk = command("check", "load case files and print every problem, located")
    chk.add_argument("paths", nargs="*", default=["cases"])
    chk.add_argument("--limit", action="append", default=[], metavar="NAME=VALUE",
                     help="raise or lower a load limit (repeatable; see cases/README.md)")
    chk.set_defaults(func=_check)
    dif = command("diff", "compare two runs; exit 1 when the gate fails",
                  description="Compare a base run with a candidate run (results.json, a "
                              "*.jsonl stream, or a directory of streams).")
    dif.add_argument("base")
    dif.add_argument("candidate")
    _gate_options(dif)
    dif.set_defaults(func=_diff)
    gat = command("gate", "gate a run against the committed baselines of the versions it ran; "
                          "exit 1 when the gate fails",
                  description="Compare a run (results.json, a *.jsonl stream or a directory "
                              "of streams) with baselines/<framework>-<version>.json.gz of "
                              "each framework and version it ran; both must have run the "
                              "same case files. Exit 2 when a baseline is missing or ran "
                              "other cases.")
    gat.add_argument("run", nargs="?", default="reports")
    gat.add_argument("--baselines", default="baselines", help="the directory of baselines")
    _gate_options(gat)
    gat.set_defaults(func=_gate)
    bas = command("baseline", "write baselines/<framework>-<version>.json.gz from a whole run",
                  description="A committed baseline is one framework's records (values, "
                              "verdicts, messages, warnings; no tracebacks) of one version, "
                              "with the digest of the case files it ran.")
    bas.add_argument("run", nargs="?", default="reports")
    bas.add_argument("--framework", action="append", default=[],
                     help="this framework only (repeatable; default: every one in the run)")
    bas.add_argument("--out", default="baselines", help="where the baselines go")
    bas.set_defaults(func=_baseline)
    mrg = command("merge", "join the shard streams of sharded runs (pytest --shard K/N) "
                           "into one stream per framework and results.json",
                  description="Each input is a stream or a directory of streams; every part "
                              "1..N of each framework must be there once. Exit 1 when one "
                              "is missing, repeated or unfinished (what is there is still "
                              "written, and reads as an incomplete run).")
    mrg.add_argument("inputs", nargs="+")
    mrg.add_argument("--out", default="reports", help="where the joined <framework>.jsonl "
                                                       "and results.json go")
    mrg.set_defaults(func=_merge)
    bug = command("bugs", "print the Markdown table of the framework bugs the cases declare "
                          "(kind: bug), with versions and links")
    bug.add_argument("paths", nargs="*", default=["cases"])
    bug.set_defaults(func=_bugs)
    ops = command("ops", "print the op table as Markdown: family, arrays, keywords, neutral "
                         "meaning and special points of every op")
    ops.set_defaults(func=_ops)
    return top


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``gradconf`` command: the exit code (see :data:`EXIT_CODES`)."""
    args = parser().parse_args(argv)  # usage errors exit 2 here, with the usage line
    try:
        code: int = args.func(args)
    except InputError as exc:
        _say(str(exc))
        return USAGE
    except OSError as exc:
        _say(f"{exc.filename or ''}: {exc.strerror or exc}".lstrip(": "))
        return USAGE
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except Exception as exc:
        if os.environ.get("GRADCONF_DEBUG"):
            traceback.print_exc()
        _say(f"internal error: {type(exc).__name__}: {exc} (a gradconf bug; "
             "GRADCONF_DEBUG=1 shows the traceback)")
        return INTERNAL
    return code
