"""Acknowledged changes: what a team has looked at and accepts, until a date.

A diff gate fails on every change of a gating category. Some are known and accepted for
a while (a drift the team measured, a behaviour change waiting on an upstream fix);
editing the cases or dropping a whole category from the gate would hide more than that
one change. An acknowledgements file names them::

    acknowledged:
      - case: "linalg-*"          # fnmatch patterns: case, framework, check, dtype,
        framework: torch          # execution; an omitted one matches everything
        check: "hessian"
        category: drift           # the diff category accepted (regression, fix, ...)
        reason: "eigh's new LAPACK driver moves float32 eigenvectors by ~2 tolerances"
        link: "https://github.com/pytorch/pytorch/issues/..."
        expires: 2027-03-01       # after this date the entry fails the gate

A change an entry matches does not fail the gate and is listed as acknowledged. An entry
that matches no change is reported stale (it is no longer needed); an expired one fails
the gate whatever it matches, so an acknowledgement cannot outlive its review. The file is
read with the bounded safe YAML loader and every problem is reported with its line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any

from gradconf.intake import InputError
from gradconf.intake.yamldoc import YamlLimitError, parse_yaml
from gradconf.kinds import DIFF_CATEGORIES as CATEGORIES
from gradconf.schema import safe_link

PATTERNS = ("case", "framework", "check", "dtype", "execution")
REQUIRED = ("category", "reason", "link", "expires")
DEFAULT_FILE = Path("gate") / "acknowledged.yaml"


@dataclass(frozen=True)
class Ack:
    """One entry: its patterns, the category accepted, why, a link, until when, where."""

    patterns: Mapping[str, str]
    category: str
    reason: str
    link: str
    expires: dt.date
    file: str
    line: int

    def matches(self, change: Mapping[str, Any]) -> bool:
        """Whether this entry covers ``change`` (a diff change)."""
        if change["category"] != self.category:
            return False
        return all(fnmatchcase(str(change.get(k) or ("eager" if k == "execution" else "")),
                               pattern) for k, pattern in self.patterns.items())

    def where(self) -> str:
        """The entry as a located line: file, line, patterns and category."""
        shown = ", ".join(f"{k} {v}" for k, v in self.patterns.items() if v != "*")
        return f"{self.file}:{self.line}: {self.category} of {shown or 'every item'}"

    def to_json(self) -> dict[str, Any]:
        """The entry as a diff document records it."""
        return {"file": self.file, "line": self.line, "category": self.category,
                "patterns": dict(self.patterns), "reason": self.reason, "link": self.link,
                "expires": self.expires.isoformat()}


def load(path: Path, shown: str | None = None) -> list[Ack]:
    """The entries of an acknowledgements file; InputError with the file and line of the
    first problem found (every problem of the file, one per line, in the message)."""
    name = shown or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(name, f"cannot read the acknowledgements file ({exc})") from None
    try:
        data, lines = parse_yaml(text)
    except YamlLimitError as exc:
        raise InputError(f"{name}:{exc.line}", exc.message, exc.hint) from None
    except Exception as exc:  # a YAML syntax error: PyYAML puts the line in its mark
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 1
        raise InputError(f"{name}:{line}", f"not valid YAML ({getattr(exc, 'problem', exc)})",
                         "see gradconf/acks.py for the format") from None
    if data is None:
        return []
    if not isinstance(data, dict) or set(data) != {"acknowledged"}:
        raise InputError(f"{name}:1", "the file must be one mapping with the key "
                         "'acknowledged' (a list of entries)")
    entries = data["acknowledged"] or []
    if not isinstance(entries, list):
        raise InputError(f"{name}:{lines.line(('acknowledged',))}",
                         "'acknowledged' must be a list of entries")
    problems = [f"{name}:{line}: the key {path[-1]!r} appears twice in one mapping"
                for path, line in lines.duplicates]
    out: list[Ack] = []
    for i, raw in enumerate(entries):
        line = lines.line(("acknowledged", i))
        found = _entry(raw, i, lines, name, problems)
        if found is not None:
            out.append(Ack(**found, file=name, line=line))
    if problems:
        raise InputError(problems[0].split(": ", 1)[0], problems[0].split(": ", 1)[1]
                         + "".join(f"\n  {p}" for p in problems[1:]),
                         "see gradconf/acks.py for the format")
    return out


def _entry(raw: Any, i: int, lines: Any, name: str, problems: list[str]
           ) -> dict[str, Any] | None:
    """An entry's fields, or None after appending its problems (located) to ``problems``."""
    at, before = lines.line(("acknowledged", i)), len(problems)

    def bad(key: str | None, message: str) -> None:
        where = lines.line(("acknowledged", i, key)) if key else at
        problems.append(f"{name}:{where}: entry {i + 1}: {message}")
    if not isinstance(raw, dict):
        bad(None, "must be a mapping with category, reason, link and expires")
        return None
    known = (*PATTERNS, *REQUIRED)
    for key in raw:
        if key not in known:
            bad(str(key), f"unknown field {key!r} (fields: {', '.join(known)})")
    for key in REQUIRED:
        if key not in raw:
            bad(None, f"missing field {key!r}")
    patterns = {}
    for key in PATTERNS:
        value = raw.get(key, "*")
        if not isinstance(value, str) or not value:
            bad(key, f"{key} must be a non-empty pattern string, got {value!r}")
        patterns[key] = str(value)
    category = raw.get("category")
    if "category" in raw and category not in CATEGORIES:
        bad("category", f"category must be one of {', '.join(CATEGORIES)}, got {category!r}")
    reason, link = raw.get("reason"), raw.get("link")
    if "reason" in raw and (not isinstance(reason, str) or not reason.strip()):
        bad("reason", "reason must say why the change is accepted")
    if "link" in raw and (not isinstance(link, str) or not safe_link(link)):
        bad("link", f"link must be an http(s) URL, got {link!r}")
    expires = raw.get("expires")
    if isinstance(expires, str):
        with contextlib.suppress(ValueError):  # not a date: reported just below
            expires = dt.date.fromisoformat(expires)
    if "expires" in raw and (not isinstance(expires, dt.date) or isinstance(expires,
                                                                            dt.datetime)):
        bad("expires", f"expires must be a date (YYYY-MM-DD), got {raw.get('expires')!r}")
    if len(problems) > before:
        return None
    return {"patterns": patterns, "category": category, "reason": reason, "link": link,
            "expires": expires}


def apply(changes: Iterable[dict[str, Any]], acks: list[Ack], today: dt.date
          ) -> dict[str, list[dict[str, Any]]]:
    """Mark each change the first live entry covers as ``acknowledged``; return the stale
    (no change matched) and expired entries, each as the diff document records them."""
    used: set[int] = set()
    for change in changes:
        change["acknowledged"] = None
        for k, ack in enumerate(acks):
            if ack.expires >= today and ack.matches(change):
                change["acknowledged"] = ack.to_json()
                used.add(k)
                break
    expired = [a for a in acks if a.expires < today]
    stale = [a for k, a in enumerate(acks) if k not in used and a.expires >= today]
    return {"stale": [a.to_json() for a in stale], "expired": [a.to_json() for a in expired]}
