"""Result streams and results documents read back: what a run finished, and whether it did.

A run's stream, ``<framework>.jsonl``, is written line by line (:class:`gradconf.results.
JsonlWriter`)::

    {"schema_version": "1.1", "environment": {...}}     the run and its versions
    {"manifest": {"items": [node ids]}}                  every item collected, once collected
    {...record...}                                       one per finished item
    {"end": {"exitstatus": 1, "collection_errors": 0}}   written when pytest finishes

:func:`read_stream` reads one back without trusting it: a line that is not JSON, a record
that breaks the results schema, an unknown schema version or a file that is not text is a
*problem* of the stream, never a traceback. :func:`run_status` compares what finished with
what was collected. A run is complete only when it has a manifest, an end line, a record
for every collected item, no collection error and no problem.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from gradconf import SCHEMA_VERSION
from gradconf.contract import contract
from gradconf.intake import InputError

MAX_LISTED = 50  # missing items and problems named per run; the count says how many in all


@dataclass
class Stream:
    """One framework's JSONL stream as read back, with what is wrong with it."""

    path: Path
    environment: dict[str, Any] = field(default_factory=dict)
    schema_version: str | None = None
    manifest: list[str] | None = None
    records: list[dict[str, Any]] = field(default_factory=list)
    end: dict[str, Any] | None = None
    problems: list[str] = field(default_factory=list)
    torn: bool = False

    @property
    def framework(self) -> str:
        """The framework the stream's environment names (else the file's stem)."""
        names = list(self.environment.get("frameworks") or {})
        return names[0] if len(names) == 1 else self.path.stem


def schema_problem(obj: Any, part: str = "record") -> str | None:
    """Why ``obj`` is not a valid ``part`` of a results document (the first schema error,
    located by its JSON path), or None."""
    if not isinstance(obj, dict):
        return f"holds {type(obj).__name__}, not an object"
    error = contract("results.schema.json", part).first_error(obj)
    if error is None:
        return None
    where = "/".join(str(p) for p in error.absolute_path) or part
    return f"{where}: {_brief(error.message)}"


def _brief(text: str, width: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[:width - 3] + "..."


def read_stream(path: Path) -> Stream:
    """Everything a stream holds that can be trusted, and a located problem for the rest."""
    stream = Stream(path)
    try:
        raw = path.read_bytes()
    except OSError as exc:
        stream.problems.append(f"{path}: cannot read: {exc.strerror or exc}")
        return stream
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        stream.problems.append(f"{path}: not UTF-8 text (byte {exc.start}): not a results "
                               "stream")
        return stream
    lines = text.split("\n")
    last = max((i for i, line in enumerate(lines) if line.strip()), default=-1)
    for i, line in enumerate(lines):
        if line.strip():
            _read_line(stream, line, i + 1, torn_ok=i == last and not text.endswith("\n"))
    if stream.schema_version is None and not stream.problems:
        stream.problems.append(f"{path}:1: no header line with schema_version: not a gradconf "
                               "results stream (or one of an older version)")
    seen = Counter(str(r["nodeid"]) for r in stream.records if r.get("nodeid"))
    twice = sorted(n for n, k in seen.items() if k > 1)
    if twice:
        stream.problems.append(f"{path}: {len(twice)} item(s) recorded more than once, e.g. "
                               f"{twice[0]} (two runs written to one stream?)")
    return stream


def _read_line(stream: Stream, line: str, number: int, torn_ok: bool) -> None:
    where = f"{stream.path}:{number}"
    try:
        obj = json.loads(line)
    except (json.JSONDecodeError, RecursionError):
        if torn_ok:
            stream.torn = True  # the line an interrupted run was writing
        else:
            stream.problems.append(f"{where}: not a JSON line (the stream is corrupt)")
        return
    if number == 1 or (isinstance(obj, dict) and "schema_version" in obj):
        _read_header(stream, obj, where)
    elif stream.schema_version != SCHEMA_VERSION:
        return  # the header was refused: nothing after it is read
    elif isinstance(obj, dict) and set(obj) == {"manifest"}:
        items = (obj["manifest"] or {}).get("items") if isinstance(obj["manifest"], dict) else None
        if not isinstance(items, list) or not all(isinstance(n, str) for n in items):
            stream.problems.append(f"{where}: the manifest is not a list of node ids")
        else:
            stream.manifest = items
    elif isinstance(obj, dict) and set(obj) == {"end"}:
        stream.end = obj["end"] if isinstance(obj["end"], dict) else {}
    elif (problem := schema_problem(obj)) is not None:
        stream.problems.append(f"{where}: not a valid record: {problem}")
    else:
        stream.records.append(obj)


def _read_header(stream: Stream, obj: Any, where: str) -> None:
    if stream.schema_version is not None:
        stream.problems.append(f"{where}: a second header (two runs written to one stream?)")
        return
    version = obj.get("schema_version") if isinstance(obj, dict) else None
    env = obj.get("environment") if isinstance(obj, dict) else None
    if version is None or not isinstance(env, dict):
        stream.problems.append(f"{where}: the first line is not a gradconf stream header "
                               "(schema_version and environment)")
        stream.schema_version = ""
    elif version == SCHEMA_VERSION and (problem := schema_problem(env, "environment")):
        stream.problems.append(f"{where}: the header's environment is not valid: {problem}")
        stream.schema_version = ""
    elif version != SCHEMA_VERSION:
        stream.problems.append(f"{where}: schema_version {_brief(repr(version), 40)} is not "
                               f"{SCHEMA_VERSION}, the one this gradconf reads (records not "
                               "read; rerun the cases, or use the gradconf that wrote it)")
        stream.schema_version = str(version)
    else:
        stream.schema_version, stream.environment = version, env


def run_status(stream: Stream) -> dict[str, Any]:
    """The ``runs`` entry of a results document: whether the stream's run is complete.

    ``problems`` say why (part of) the stream cannot be trusted; ``incomplete`` why the run
    is not whole (interrupted, a collection error, items that never finished), with the
    missing items named.
    """
    recorded = {r.get("nodeid") for r in stream.records}
    missing = [] if stream.manifest is None else [n for n in stream.manifest
                                                  if n not in recorded]
    incomplete = []
    if stream.schema_version == SCHEMA_VERSION:
        if stream.manifest is None:
            incomplete.append("no manifest: the run ended before its items were collected")
        if stream.end is None:
            incomplete.append("no end line: the run was interrupted or killed"
                              + (" while writing a record" if stream.torn else ""))
    errors = (stream.end or {}).get("collection_errors") or 0
    if errors:
        incomplete.append(f"{errors} collection error(s): files whose items were never "
                          "collected")
    if missing:
        incomplete.append(f"{len(missing)} of {len(stream.manifest or [])} collected item(s) "
                          f"never finished, e.g. {missing[0]}")
    return {"stream": stream.path.name, "complete": not (stream.problems or incomplete),
            "collected": None if stream.manifest is None else len(stream.manifest),
            "finished": len(stream.records), "missing": missing[:MAX_LISTED],
            "missing_count": len(missing), "incomplete": incomplete,
            "problems": stream.problems[:MAX_LISTED],
            "environment": stream.environment or None}


def absent_run(framework: str, where: Path) -> dict[str, Any]:
    """The ``runs`` entry of a framework that was expected but left no stream."""
    return {"stream": None, "complete": False, "collected": None, "finished": 0,
            "missing": [], "missing_count": 0, "problems": [],
            "incomplete": [f"no stream {where / (framework + '.jsonl')}: {framework} was "
                           "expected, but its run wrote nothing (its install failed, or it "
                           "never started)"]}


def load_document(path: Path) -> dict[str, Any]:
    """A results document from ``results.json``, one stream, a directory of streams, or a
    committed baseline (``*.json.gz``).

    Raises :class:`InputError` for input that cannot be trusted: missing, not a results
    document, another schema version, or a stream with a corrupt line or record. A run that
    is merely incomplete loads, its ``runs`` entry saying what is missing.
    """
    from gradconf.results import merge, validate

    if not path.exists():
        raise InputError(str(path), "no such file or directory")
    if path.is_dir():
        parts = sorted(path.glob("*.jsonl"))
        if not parts:
            raise InputError(str(path), "no *.jsonl streams in this directory",
                             "give results.json, a stream, or a directory of streams")
        return _trusted(merge(parts), path)
    if path.suffix == ".jsonl":
        return _trusted(merge([path]), path)
    if path.name.endswith(".gz"):  # a committed baseline (gradconf.baseline)
        from gradconf.baseline import read

        doc = read(path)
    else:
        try:
            doc = json.loads(path.read_bytes().decode("utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise InputError(str(path), "not a readable results document "
                             f"({_brief(str(exc), 80)})", "give results.json, a *.jsonl "
                             "stream, a directory of streams or a baseline *.json.gz"
                             ) from None
    if not isinstance(doc, dict) or "records" not in doc:
        raise InputError(str(path), "not a results document (no 'records')")
    if doc.get("schema_version") != SCHEMA_VERSION:
        raise InputError(str(path), f"schema_version {_brief(repr(doc.get('schema_version')))} "
                         f"is not {SCHEMA_VERSION}, the one this gradconf reads",
                         "rerun the cases, or compare with the gradconf that wrote it")
    try:
        validate(doc)
    except jsonschema.ValidationError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "document"
        raise InputError(str(path), f"breaks the results schema at {where}: "
                         f"{_brief(exc.message, 120)}") from None
    return doc


def _trusted(doc: dict[str, Any], path: Path) -> dict[str, Any]:
    """``doc`` unless one of its streams is corrupt (worse than incomplete)."""
    for fw, run in doc["runs"].items():
        if run["problems"]:
            raise InputError(str(path), f"the {fw} stream cannot be trusted: "
                             f"{run['problems'][0]}")
    return doc
