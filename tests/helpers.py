"""Constants and helpers shared by the suite's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"
NOTES = ROOT.parent / "shared" / "notes"


def case_yaml(body: str) -> str:
    """A one-case file from the case's body (indented YAML under ``- ``)."""
    lines = textwrap.dedent(body).strip().splitlines()
    return "cases:\n  - " + "\n    ".join(lines) + "\n"


MINIMAL = """
id: tiny
title: tiny case
source: {note: test, section: test}
inputs:
  x: [1., 2.]
function: sum(x**2)
checks: [value, vjp]
"""
