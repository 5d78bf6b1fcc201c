"""Constants and helpers shared by the suite's tests (fixtures are in conftest.py)."""

from __future__ import annotations

import textwrap
from pathlib import Path

from gradconf.case import Case
from gradconf.loader import load_paths

ROOT = Path(__file__).resolve().parent.parent
CASES = ROOT / "cases"
NOTES = ROOT.parent / "shared" / "notes"


def case_yaml(body: str) -> str:
    """A one-case file from the case's body (indented YAML under ``- ``)."""
    lines = textwrap.dedent(body).strip().splitlines()
    return "cases:\n  - " + "\n    ".join(lines) + "\n"


def one_case(tmp_path: Path, body: str) -> Case:
    """The case of ``body`` written to ``tmp_path/c.yaml`` and loaded (it must load)."""
    path = tmp_path / "c.yaml"
    path.write_text(case_yaml(body))
    result = load_paths([path], tmp_path)
    assert not result.errors, result.errors
    return result.cases[0]


# sum of squares at (1, 2, 3), value and vjp, float64 only
SQUARE_SUM = """
id: square-sum
title: sum of squares
source: {note: test, section: test}
inputs:
  x: [1., 2., 3.]
function: sum(x**2)
checks: [value, vjp]
dtypes: [float64]
"""


MINIMAL = """
id: tiny
title: tiny case
source: {note: test, section: test}
inputs:
  x: [1., 2.]
function: sum(x**2)
checks: [value, vjp]
"""
