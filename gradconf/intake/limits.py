"""Bounds on what a case file may ask for, checked at load before anything is allocated.

Every limit has a default that fits the machines the suite runs on (2 cores, 24 GiB) and
is set per run with ``--limit NAME=VALUE`` (pytest and ``gradconf check``) or the
environment variable ``GRADCONF_LIMITS="NAME=VALUE,..."``. ``cases/README.md`` lists them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Iterable
from dataclasses import dataclass

from gradconf.intake import InputError


@dataclass(frozen=True)
class Limits:
    """What one case file may hold and ask for."""

    file_bytes: int = 4 * 2**20       # size of a case file
    yaml_depth: int = 64              # nesting of YAML mappings and lists
    yaml_nodes: int = 200_000         # YAML values, counted after aliases are expanded
    expr_chars: int = 20_000          # length of a function's text
    expr_depth: int = 200             # nesting of a function's syntax
    expr_nodes: int = 5_000           # ops, names and numbers in a function
    entries: int = 10_000_000         # entries of any array: input, constant, intermediate
    derivative_entries: int = 10_000_000  # entries of a Jacobian (out x in) or Hessian (in x in)


DEFAULT = Limits()
DOCS = {
    "file_bytes": "bytes in one case file",
    "yaml_depth": "nesting depth of YAML mappings and lists",
    "yaml_nodes": "YAML values after alias expansion (an alias bomb stops here, unexpanded)",
    "expr_chars": "characters in a case's function",
    "expr_depth": "nesting depth of a function's syntax tree",
    "expr_nodes": "nodes (ops, names, numbers) of a function",
    "entries": "entries of any array a case declares or computes",
    "derivative_entries": "entries of a jacobian (output x input) or hessian (input x input) "
                          "check's result; a larger one is refused at load (use vjp or jvp)",
}
ENV = "GRADCONF_LIMITS"


def parse(items: Iterable[str], base: Limits = DEFAULT, where: str = "--limit") -> Limits:
    """``base`` with each ``NAME=VALUE`` applied; an unknown name or a bad value is an
    :class:`InputError`."""
    changes: dict[str, int] = {}
    names = [f.name for f in dataclasses.fields(Limits)]
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip().replace("-", "_")
        if not sep or name not in names:
            raise InputError(where, f"{item!r} is not NAME=VALUE with a known NAME",
                             "names: " + ", ".join(names))
        try:
            value = int(float(raw)) if raw.strip().lower() not in ("inf", "nan") else -1
        except ValueError:
            value = -1
        if value < 1:
            raise InputError(where, f"{name} must be a positive whole number, got {raw!r}")
        changes[name] = value
    return dataclasses.replace(base, **changes)


def from_env(items: Iterable[str] = ()) -> Limits:
    """The defaults, then ``GRADCONF_LIMITS``, then ``items`` (command-line ``--limit``)."""
    env = [p for p in os.environ.get(ENV, "").split(",") if p.strip()]
    return parse(items, parse(env, where=ENV))
