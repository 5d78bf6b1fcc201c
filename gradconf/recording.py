"""Where records arrive: the results stream of a run, and the guard over running checks.

:class:`RecordWriter` writes ``<results-dir>/<framework>.jsonl`` in the controlling
process (the manifest of collected items, each record as its report arrives, an end line);
an item that produced no record (a worker that died, a timeout, a collection error) gets
one made here. :class:`ItemGuard` runs the memory and hard-timeout watchdog over each
check where checks execute. Registered by :mod:`gradconf.plugin`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from gradconf.adapter import Adapter
from gradconf.results import JsonlWriter, cases_digest, environment
from gradconf.runner import EXECUTIONS, invalid_record
from gradconf.watchdog import Watchdog, read_reason

RECORD = "gradconf_record"


def lost_dir(config: pytest.Config) -> Path:
    return Path(config.getoption("results_dir")) / ".lost"


def hard_timeout(config: pytest.Config) -> float:
    """Twice pytest-timeout's limit (plus 10 s): past it the call ignored the signal."""
    try:
        timeout = float(config.getoption("timeout", None) or config.getini("timeout") or 0)
    except (ValueError, TypeError):
        timeout = 0.0
    return 2 * timeout + 10 if timeout > 0 else 0.0


class ItemGuard:
    """Runs a :class:`Watchdog` over each check in the process that executes checks."""

    def __init__(self, config: pytest.Config) -> None:
        self.watchdog = Watchdog(lost_dir(config), float(config.getoption("max_rss_mb")),
                                 hard_timeout(config))
        self.watchdog.start()

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item) -> Generator[None, object, object]:
        """Watch case items while they run."""
        if item.get_closest_marker("gradconf") is None:
            return (yield)
        self.watchdog.start_item(item.nodeid)
        try:
            return (yield)
        finally:
            self.watchdog.end_item()


class RecordWriter:
    """Writes ``<results-dir>/<framework>.jsonl``: the manifest of collected items, each
    record as its report arrives (making one for a crash, a timeout or a collection error),
    and an end line when the session finishes.

    The file is opened (and truncated) when the first case item is collected, so a run of
    the suite's own tests never touches a report.
    """

    def __init__(self, config: pytest.Config, adapter_for: Callable[[pytest.Config], Adapter]
                 ) -> None:
        self.config, self.adapter_for = config, adapter_for
        self.writer: JsonlWriter | None = None
        self.manifest_written = False
        self.collection_errors: set[str] = set()

    def _open(self, ids: list[str] | None = None) -> JsonlWriter:
        if self.writer is None:
            adapter = self.adapter_for(self.config)
            path = Path(self.config.getoption("results_dir")) / f"{adapter.name}.jsonl"
            root = Path(self.config.rootpath)
            env = environment(adapter.name, adapter.version(), root)
            if ids:  # which cases the run has: a diff checks both sides ran the same
                env["cases_digest"] = cases_digest(root, (n.partition("::")[0] for n in ids))
            if self.config.getoption("shard", None):  # one part: gradconf merge joins them
                env["shard"] = str(self.config.getoption("shard"))
            self.writer = JsonlWriter(path, env)
        return self.writer

    def _manifest(self, nodeids: list[str]) -> None:
        ids = [n for n in nodeids if _is_case_node(n)]
        if ids and not self.manifest_written:
            self.manifest_written = True
            self._open(ids).manifest(ids)

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        """Without xdist: the manifest of the items this process collected."""
        self._manifest([item.nodeid for item in session.items])

    @pytest.hookimpl(optionalhook=True)
    def pytest_xdist_node_collection_finished(self, node: Any, ids: list[str]) -> None:
        """With xdist: the manifest of the first worker's collection (all are the same)."""
        self._manifest(list(ids))

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        """A file that failed to collect: counted (the run is incomplete) and, for a case
        file, recorded as invalid at its path."""
        if not report.failed or report.nodeid in self.collection_errors:
            return
        self.collection_errors.add(report.nodeid)
        path = report.nodeid.rpartition("::")[0] or report.nodeid
        if path.endswith((".yaml", ".yml")):
            adapter = self.adapter_for(self.config)
            text = str(report.longrepr).strip().splitlines()
            rec = invalid_record(path, 1, None, f"collection failed: "
                                 f"{text[-1] if text else 'no message'}", adapter.name,
                                 adapter.version())
            rec["nodeid"] = report.nodeid
            self._open().write(rec)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        """Write the item's record, or make one for a crash or timeout."""
        props = dict(report.user_properties)
        if RECORD in props and report.when == "call":
            self._open().write(json.loads(str(props[RECORD])))
        elif report.failed and RECORD not in props and _is_case_node(report.nodeid):
            rec = _lost_record(report, self.adapter_for(self.config))
            reason = read_reason(lost_dir(self.config), report.nodeid)
            if reason is not None:
                rec.update(verdict=reason["verdict"], message=reason["message"])
            self._open().write(rec)

    def pytest_sessionfinish(self, exitstatus: int) -> None:
        """The end line, then close the stream."""
        if self.writer is not None:
            self.writer.end(int(exitstatus), len(self.collection_errors))
            self.writer.close()


def _is_case_node(nodeid: str) -> bool:
    path, _, name = nodeid.rpartition("::")
    return path.endswith((".yaml", ".yml")) and name.endswith("]")


def _lost_record(report: pytest.TestReport, adapter: Adapter) -> dict[str, Any]:
    """A record for an item that produced none: its worker died, it timed out, or it broke."""
    path, _, name = report.nodeid.rpartition("::")
    case_id, _, params = name.partition("[")
    fw, _, rest = params.rstrip("]").partition("-")
    execution = next((e for e in EXECUTIONS[1:] if rest.startswith(f"{e}-")), "eager")
    rest = rest.removeprefix(f"{execution}-") if execution != "eager" else rest
    check, _, dtype = rest.rpartition("-")
    text = str(report.longrepr).strip()
    verdict = "crash" if "crashed while running" in text else (
        "timeout" if "Timeout" in text else "error")
    kind = "probe" if check.startswith("probe-") else (
        "rev_fwd" if check.startswith("rev-fwd") else check.split("-")[0])
    rec = invalid_record(path, 0, case_id, text.splitlines()[-1] if text else "", fw,
                         adapter.version())
    rec.update(check=check, dtype=dtype, kind=kind, verdict=verdict, nodeid=report.nodeid,
               execution=execution,
               duration_s=float(getattr(report, "duration", 0.0) or 0.0))
    return rec
