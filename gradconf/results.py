"""Results files: the per-framework JSONL stream and the merged ``results.json``.

``reports/<framework>.jsonl`` starts with one ``{"environment": ...}`` line and then holds
one record per line, appended and flushed as each item finishes, so an interrupted run
keeps everything it computed. :func:`merge` joins any number of these (one per framework
venv) into ``results.json``, validated against ``gradconf/schema/results.schema.json``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import platform
import subprocess
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import IO, Any

import jsonschema

from gradconf import SCHEMA_VERSION, __version__
from gradconf.contract import contract
from gradconf.intake.streams import absent_run, read_stream, run_status


def environment(framework: str | None = None, framework_version: str | None = None,
                root: Path | None = None) -> dict[str, Any]:
    """Python, platform, NumPy, the suite's git revision and time (and one framework)."""
    import numpy

    env: dict[str, Any] = {
        "python": platform.python_version(), "platform": platform.platform(),
        "numpy": numpy.__version__, "gradconf": __version__,
        "git_revision": git_revision(root or Path.cwd()),
        "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "frameworks": {},
    }
    if framework:
        env["frameworks"][framework] = framework_version
    return env


def run_environment(doc: Mapping[str, Any], framework: str) -> dict[str, Any]:
    """The environment ``framework``'s run recorded in a merged document (each run keeps its
    own), or the document's when the run has none."""
    run = (doc.get("runs") or {}).get(framework) or {}
    return dict(run.get("environment") or doc.get("environment") or {})


def cases_digest(root: Path, files: Iterable[str]) -> str | None:
    """A digest of the case files a run collected (their paths under ``root`` and bytes):
    two runs with one digest ran the same cases. None when a file cannot be read."""
    h = hashlib.sha256()
    try:
        for name in sorted(set(files)):
            h.update(name.encode() + b"\0" + (root / name).read_bytes() + b"\0")
    except OSError:
        return None
    return h.hexdigest()[:16]


def git_revision(root: Path) -> str | None:
    """The checkout's commit (with ``-dirty`` for local changes), or None outside git."""
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=root, check=True,
                             capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                               cwd=root, capture_output=True, text=True, timeout=10).stdout
        return rev + ("-dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


class JsonlWriter:
    """Appends to one framework's stream, flushing after every line: a header first, then
    the manifest, records as they finish, and an end line (see
    :mod:`gradconf.intake.streams` for the format and how it is read back)."""

    def __init__(self, path: Path, env: dict[str, Any]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._fh: IO[str] = path.open("w", encoding="utf-8")
        self.write({"schema_version": SCHEMA_VERSION, "environment": env})

    def write(self, record: dict[str, Any]) -> None:
        """One line, flushed: what is written survives an interrupted run."""
        self._fh.write(json.dumps(record, allow_nan=False, default=_json_default) + "\n")
        self._fh.flush()

    def manifest(self, items: list[str]) -> None:
        """The node ids of every item the run collected (after any selection)."""
        self.write({"manifest": {"items": items}})

    def end(self, exitstatus: int, collection_errors: int) -> None:
        """The last line: the run finished (pytest's exit status, collection errors)."""
        self.write({"end": {"exitstatus": exitstatus, "collection_errors": collection_errors,
                            "time": dt.datetime.now(dt.UTC).isoformat(timespec="seconds")}})

    def close(self) -> None:
        """Close the file."""
        self._fh.close()


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if hasattr(obj, "item"):
        return obj.item()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_jsonl(path: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The environment block and the valid records of one stream (a torn last line, and
    anything else :func:`~gradconf.intake.streams.read_stream` refuses, is left out)."""
    stream = read_stream(path)
    return stream.environment, stream.records


def merge(paths: Iterable[Path], expect: Iterable[str] = ()) -> dict[str, Any]:
    """One results document from per-framework streams, with each run's completeness.

    ``expect`` names frameworks that must have a stream among ``paths``: one that has none
    is an incomplete run. Two streams of one framework are a problem of both.
    """
    env: dict[str, Any] = {}
    records: list[dict[str, Any]] = []
    runs: dict[str, dict[str, Any]] = {}
    paths = sorted(paths)
    for path in paths:
        stream = read_stream(path)
        if stream.environment and not env:
            env = {k: v for k, v in stream.environment.items() if k != "frameworks"} | {
                "frameworks": {}}
        env.setdefault("frameworks", {}).update(stream.environment.get("frameworks", {}))
        fw = stream.framework
        if fw in runs:
            stream.problems.append(f"{path}: a second stream of {fw} (first: "
                                   f"{runs[fw]['stream']}); remove the stale one")
            fw = f"{fw} ({path.name})"
        runs[fw] = run_status(stream)
        records.extend(stream.records)
    where = paths[0].parent if paths else Path(".")
    for fw in expect:
        if fw not in runs:
            runs[fw] = absent_run(fw, where)
    records.sort(key=lambda r: (r["file"], r["line"], r["case"], r["framework"], r["check"],
                                r["dtype"]))
    counts = Counter(r["verdict"] for r in records)
    full_env = environment() | env if env else environment()
    return {"schema_version": SCHEMA_VERSION, "environment": full_env,
            "summary": {"total": len(records), "verdicts": dict(sorted(counts.items()))},
            "runs": dict(sorted(runs.items())), "records": records}


def load_schema(name: str) -> dict[str, Any]:
    """A committed JSON Schema from ``gradconf/schema/``."""
    text = resources.files("gradconf").joinpath(f"schema/{name}").read_text("utf-8")
    loaded: dict[str, Any] = json.loads(text)
    return loaded


def schema() -> dict[str, Any]:
    """The committed JSON Schema of ``results.json``."""
    return load_schema("results.schema.json")


def validate(doc: dict[str, Any]) -> None:
    """Raise jsonschema.ValidationError if ``doc`` breaks the results contract.

    Beyond the schema: the document must be strict JSON (a float NaN or inf is not; such
    values are written as the strings "NaN", "Infinity", "-Infinity"), and formats such
    as the environment's date-time are checked.
    """
    try:
        json.dumps(doc, allow_nan=False)
    except ValueError as exc:
        raise jsonschema.ValidationError(f"not strict JSON: {exc}") from None
    contract("results.schema.json").validate(doc)


def write_results(doc: dict[str, Any], path: Path) -> None:
    """Validate and write ``results.json``."""
    validate(doc)
    path.write_text(json.dumps(doc, indent=1, allow_nan=False) + "\n", encoding="utf-8")

