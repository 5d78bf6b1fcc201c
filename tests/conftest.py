"""Fixtures shared by the suite's own tests."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import pytest

from adapter_contract import CUBE
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
def cube(one_case) -> Case:
    """sum(x**3) at (1, 2): the function every adapter's contract tests use."""
    return one_case(CUBE)


@pytest.fixture
def one_case(load_text):
    """Load a one-case body and return the Case (failing the test on a load error)."""
    def make(body: str) -> Case:
        (item,) = load_text(case_yaml(body))
        assert isinstance(item, Case), str(item)
        return item
    return make


PLUGIN_MODULES = {"autograd": "gradconf_autograd"}


def pytest_configure(config: pytest.Config) -> None:
    """Fail, rather than skip, when a framework the session promises is missing."""
    for name in filter(None, os.environ.get("GRADCONF_REQUIRE_FRAMEWORKS", "").split(",")):
        for module in {name, PLUGIN_MODULES.get(name, name)}:
            if importlib.util.find_spec(module) is None:
                raise pytest.UsageError(f"GRADCONF_REQUIRE_FRAMEWORKS names {name!r}, but "
                                        f"{module!r} is not installed in this environment")
