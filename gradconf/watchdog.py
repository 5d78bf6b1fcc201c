"""A watchdog for the process running checks: memory blow-ups and uninterruptible hangs.

pytest-timeout interrupts a check that hangs in Python code, and xdist replaces a worker
that a segfault or abort kills. Two faults slip past both: a framework call that eats
memory until the machine swaps, and one that hangs inside native code where no signal
reaches it. The watchdog thread samples the process's resident memory and the running
check's age; past a limit it writes the reason to ``<dir>/<hash of node id>.json`` and
ends the process at once. Under xdist the controller then records the check as
``crash`` (memory) or ``timeout`` (hang) with that reason, and the run goes on in a fresh
worker.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

EXIT_CODE = 70
POLL_S = 0.05


def reason_path(directory: Path, nodeid: str) -> Path:
    """Where the reason for ending the process while running ``nodeid`` is written."""
    return directory / (hashlib.sha1(nodeid.encode()).hexdigest()[:16] + ".json")


def read_reason(directory: Path, nodeid: str) -> dict[str, Any] | None:
    """The reason a watchdog left for ``nodeid``, if any."""
    path = reason_path(directory, nodeid)
    try:
        loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return loaded


def resident_mb() -> float:
    """This process's resident memory in MB (Linux /proc; 0 where unavailable)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, ValueError, IndexError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


class Watchdog(threading.Thread):
    """Ends this process when the running check passes ``max_rss_mb`` or ``hard_timeout_s``."""

    def __init__(self, directory: Path, max_rss_mb: float, hard_timeout_s: float) -> None:
        super().__init__(name="gradconf-watchdog", daemon=True)
        self.directory, self.max_rss_mb, self.hard_timeout_s = (
            directory, max_rss_mb, hard_timeout_s)
        self._current: tuple[str, float] | None = None

    def start_item(self, nodeid: str) -> None:
        """A check begins."""
        self._current = (nodeid, time.monotonic())

    def end_item(self) -> None:
        """The check finished (whatever its verdict)."""
        self._current = None

    def run(self) -> None:
        """Poll until the process ends."""
        while True:
            time.sleep(POLL_S)
            current = self._current
            if current is None:
                continue
            nodeid, started = current
            rss = resident_mb()
            if self.max_rss_mb and rss > self.max_rss_mb:
                self._end(nodeid, "crash", f"memory: resident set {rss:.0f} MB passed the "
                          f"limit of {self.max_rss_mb:.0f} MB (--max-rss-mb)")
            age = time.monotonic() - started
            if self.hard_timeout_s and age > self.hard_timeout_s:
                self._end(nodeid, "timeout", f"still running after {age:.0f} s; the framework "
                          "call could not be interrupted, so its process was ended")

    def _end(self, nodeid: str, verdict: str, message: str) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        reason = {"nodeid": nodeid, "verdict": verdict, "message": message}
        reason_path(self.directory, nodeid).write_text(json.dumps(reason), encoding="utf-8")
        os._exit(EXIT_CODE)
