"""Committed baselines: one framework's run at its pinned version, kept in the repository,
and the gate that compares a new run of the same version with it.

``baselines/<framework>-<version>.json.gz`` is a results document (the results schema)
holding one framework's records, with the values the diff reads: verdicts, messages,
errors, warnings and observed values. What the diff never reads is left out to keep the
file small: tracebacks, the oracle's Richardson steps, reproducers. Each item's times
(framework, oracle, compile) are kept to the millisecond: sharded CI runs balance their
parts by them and every run orders its case files by them (``--durations-from``).

:func:`write` makes one from a finished run and refuses an incomplete one. :func:`base_for`
finds the baselines a run must be gated against (one per framework, by the version the run
reports) and refuses to compare runs of different cases: a baseline records the digest of
the case files it collected, and a run of other cases would show every edited case as a
change of the framework.
"""

from __future__ import annotations

import gzip
import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from gradconf import SCHEMA_VERSION
from gradconf.intake import InputError
from gradconf.results import run_environment

DEFAULT_DIR = Path("baselines")
SUFFIX = ".json.gz"
# fields the diff does not read, left out of a baseline (each optional in the schema)
DROPPED = ("traceback", "reference_steps", "reproducer")
TIMES = ("duration_s", "oracle_s", "compile_s")  # what --durations-from reads
SAFE_VERSION = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.+_!-]*$")


def file_name(framework: str, version: str) -> str:
    """``torch-2.13.0+cpu.json.gz``; a version that is not a plain version string is
    refused rather than turned into a path."""
    if not SAFE_VERSION.match(version or ""):
        raise InputError(framework, f"version {version!r} cannot name a baseline file")
    return f"{framework}-{version}{SUFFIX}"


def _trim(rec: Mapping[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in rec.items() if k not in DROPPED}
    for k in TIMES:
        if isinstance(out.get(k), float):
            out[k] = round(out[k], 3)
    return out


def _version(doc: Mapping[str, Any], framework: str) -> str:
    version = (run_environment(doc, framework).get("frameworks") or {}).get(framework) or \
        (doc["environment"].get("frameworks") or {}).get(framework)
    if not version:
        raise InputError(framework, "the run does not say which version it ran")
    return str(version)


def _digest(doc: Mapping[str, Any], framework: str) -> str | None:
    digest = run_environment(doc, framework).get("cases_digest")
    return str(digest) if digest else None


def one_framework(doc: Mapping[str, Any], framework: str) -> dict[str, Any]:
    """``doc`` cut down to ``framework``'s run, trimmed as a baseline keeps it."""
    if framework not in doc["runs"]:
        raise InputError(framework, "no run of this framework in the results",
                         f"ran: {', '.join(sorted(doc['runs'])) or 'none'}")
    records = [_trim(r) for r in doc["records"] if r["framework"] == framework]
    run = dict(doc["runs"][framework])
    env = dict(doc["environment"])
    env["frameworks"] = {framework: _version(doc, framework)}
    if run.get("environment"):
        env = {**env, **{k: v for k, v in run["environment"].items() if k != "frameworks"}}
    counts = Counter(r["verdict"] for r in records)
    return {"schema_version": SCHEMA_VERSION, "environment": env,
            "summary": {"total": len(records), "verdicts": dict(sorted(counts.items()))},
            "runs": {framework: run}, "records": records}


def write(doc: Mapping[str, Any], framework: str, out_dir: Path) -> Path:
    """Write ``framework``'s baseline from a finished run; returns its path.

    An incomplete run (items missing, a stream that did not end) is refused: gating against
    it would report every missing item as added.
    """
    from gradconf.results import validate

    run = doc["runs"].get(framework)
    if run is None:
        raise InputError(framework, "no run of this framework in the results")
    if not run["complete"]:
        why = "; ".join(run["incomplete"] + run["problems"])[:300] or "incomplete"
        raise InputError(framework, f"the run is not complete ({why})",
                         "a baseline is made from a whole run")
    if not _digest(doc, framework):
        raise InputError(framework, "the run does not record which cases it ran "
                                    "(no cases_digest)", "rerun with this gradconf")
    base = one_framework(doc, framework)
    validate(base)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / file_name(framework, _version(doc, framework))
    text = json.dumps(base, separators=(",", ":"), sort_keys=True, allow_nan=False)
    # mtime 0 and no file name: the same run gives the same bytes
    with path.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw,
                                               mtime=0, compresslevel=9) as gz:
        gz.write(text.encode("utf-8"))
    return path


def read(path: Path) -> dict[str, Any]:
    """A results document from ``*.json.gz`` (bounded: a baseline is a few MB)."""
    limit = 512 * 2**20
    try:
        with gzip.open(path, "rb") as gz:
            data = gz.read(limit + 1)
    except (OSError, EOFError) as exc:
        raise InputError(str(path), f"not a readable gzip file ({exc})") from None
    if len(data) > limit:
        raise InputError(str(path), f"more than {limit >> 20} MB once decompressed")
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise InputError(str(path), f"not a readable results document ({str(exc)[:80]})"
                         ) from None
    if not isinstance(doc, dict):
        raise InputError(str(path), "not a results document")
    return doc


def available(directory: Path) -> list[str]:
    """The baseline files in ``directory``, by name."""
    return sorted(p.name for p in directory.glob(f"*{SUFFIX}")) if directory.is_dir() else []


def base_for(run: Mapping[str, Any], directory: Path,
             frameworks: Iterable[str] | None = None) -> dict[str, Any]:
    """The committed baselines ``run`` is gated against, joined into one document.

    Each framework of ``run`` (or of ``frameworks``) needs ``<framework>-<its version>``
    in ``directory``, made from the same case files. Raises :class:`InputError`, saying
    which baselines there are, when one is missing or ran other cases.
    """
    from gradconf.intake.streams import load_document

    wanted = sorted(frameworks) if frameworks else sorted(run["runs"])
    if not wanted:
        raise InputError("the run", "has no framework to gate")
    parts: list[dict[str, Any]] = []
    for fw in wanted:
        if fw not in run["runs"]:
            raise InputError(fw, "not in the run to gate",
                             f"ran: {', '.join(sorted(run['runs']))}")
        version = _version(run, fw)
        path = directory / file_name(fw, version)
        if not path.is_file():
            have = [n for n in available(directory) if n.startswith(f"{fw}-")]
            raise InputError(str(path), f"no baseline of {fw} {version}",
                             (f"baselines of {fw}: {', '.join(have)}; " if have else "") +
                             "make one with nox -s baseline, or gate the version pinned")
        base = load_document(path)
        mine, theirs = _digest(run, fw), _digest(base, fw)
        if mine != theirs:
            raise InputError(str(path), f"ran other cases than this run (case digest "
                             f"{theirs} in the baseline, {mine} here)",
                             "the cases changed since the baseline was made: make it "
                             "again with nox -s baseline and commit it with the cases")
        parts.append(base)
    return join(parts)


def join(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """Several one-framework documents as one (records, runs and versions side by side)."""
    env = dict(parts[0]["environment"])
    env["frameworks"] = {}
    records: list[dict[str, Any]] = []
    runs: dict[str, Any] = {}
    for part in parts:
        env["frameworks"].update(part["environment"].get("frameworks") or {})
        runs.update(part["runs"])
        records.extend(part["records"])
    counts = Counter(r["verdict"] for r in records)
    return {"schema_version": SCHEMA_VERSION, "environment": env,
            "summary": {"total": len(records), "verdicts": dict(sorted(counts.items()))},
            "runs": runs, "records": records}
