"""Fixtures shared by the suite's own tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from gradconf.case import Case
from gradconf.loader import LoadError, load_file
from helpers import case_yaml


@pytest.fixture
def load_text(tmp_path: Path):
    """Write YAML text to a file and load it: a list of Case or LoadError."""
    def load(text: str, name: str = "case.yaml") -> list[Case | LoadError]:
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return load_file(path, name)
    return load


@pytest.fixture
def one_case(load_text):
    """Load a one-case body and return the Case (failing the test on a load error)."""
    def make(body: str) -> Case:
        (item,) = load_text(case_yaml(body))
        assert isinstance(item, Case), str(item)
        return item
    return make
