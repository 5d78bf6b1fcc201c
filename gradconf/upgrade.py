"""What ``nox -s upgrade`` needs before it can run a candidate: its arguments split, and an
interpreter the candidate installs on.

A candidate release may need another Python than the one nox runs (``jax 0.12`` needs
3.12 or later): :func:`pick` asks pip, for each interpreter on the machine (pyenv's
versions, ``python3.X`` on PATH), whether the requirements resolve there
(``pip install --dry-run``, which reads the index's metadata and downloads no wheel), the
session's own version first, then the newest. Nothing here imports a framework.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from pathlib import Path

SUPPORTED = ((3, 11), (3, 12), (3, 13))  # the engine's own requires-python: >=3.11
# options of `gradconf diff` the upgrade session passes on, and its own --python
DIFF_OPTIONS = ("--fail-on", "--out", "--ack")
OWN_OPTIONS = ("--python", "--base")


class UsageError(ValueError):
    """Arguments the upgrade session cannot use; the message says what to write."""


def split_args(args: Sequence[str]
               ) -> tuple[list[str], list[str], str | None, str | None]:
    """The requirements to install, the options for ``gradconf diff`` (``--fail-on X``,
    ``--out DIR``, ``--ack FILE``, also as ``--opt=X``), ``--python`` (a version such
    as 3.12 or an interpreter's path) and ``--base`` (the run to compare with) from the
    arguments after ``--``."""
    requirements: list[str] = []
    diff_options: list[str] = []
    python: str | None = None
    base: str | None = None
    rest = list(args)
    while rest:
        arg = rest.pop(0)
        name, eq, value = arg.partition("=")
        if name in DIFF_OPTIONS or name in OWN_OPTIONS:
            if not eq:
                if not rest:
                    raise UsageError(f"{name} needs a value")
                value = rest.pop(0)
            if name == "--python":
                python = value
            elif name == "--base":
                base = value
            else:
                diff_options += [name, value]
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg!r}: after -- come the requirements "
                             f"(e.g. jax==0.12.0.1) and {', '.join(DIFF_OPTIONS + OWN_OPTIONS)}")
        else:
            requirements.append(arg)
    if not requirements:
        raise UsageError("name the candidate after --, e.g. torch==2.14.1")
    return requirements, diff_options, python, base


def committed_baseline(framework: str, directory: Path) -> Path:
    """The committed baseline an upgrade of ``framework`` is compared with: the one file
    ``<framework>-<version>.json.gz`` in ``directory`` (that of the pinned version)."""
    found = sorted(p for p in directory.glob(f"{framework}-*.json.gz")
                   if re.fullmatch(rf"{re.escape(framework)}-\d[^/]*\.json\.gz", p.name))
    if len(found) != 1:
        have = ", ".join(p.name for p in found) or "none"
        raise UsageError(f"no single committed baseline of {framework} in {directory}/ "
                         f"(found: {have}); make one with nox -s \"baseline(framework="
                         f"'{framework}')\" or name the run to compare with: --base PATH")
    return found[0]


def _version(python: str) -> tuple[int, int] | None:
    try:
        out = subprocess.run([python, "-c", "import sys; print(*sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=30).stdout.split()
        return (int(out[0]), int(out[1])) if len(out) == 2 else None
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def interpreters(roots: Iterable[Path] | None = None,
                 path: str | None = None) -> dict[tuple[int, int], str]:
    """The supported Python versions found on the machine, each with one interpreter:
    pyenv's (``$PYENV_ROOT`` or ``~/.pyenv``) ``versions/*/bin/python``, then
    ``python3.X`` on PATH."""
    if roots is None:
        pyenv = os.environ.get("PYENV_ROOT") or str(Path.home() / ".pyenv")
        roots = [Path(pyenv) / "versions"]
    found: dict[tuple[int, int], str] = {}
    for root in roots:
        for exe in sorted(root.glob("*/bin/python")):
            v = _version(str(exe))
            if v in SUPPORTED and v not in found:
                found[v] = str(exe)
    for v in SUPPORTED:
        on_path = shutil.which(f"python{v[0]}.{v[1]}", path=path)
        if on_path and v not in found and _version(on_path) == v:
            found[v] = on_path
    return dict(sorted(found.items()))


def supports(python: str, requirements: Sequence[str]) -> bool:
    """Whether ``requirements`` resolve for ``python`` (pip's dry run, no dependencies)."""
    try:
        done = subprocess.run([python, "-m", "pip", "install", "--dry-run", "--quiet",
                               "--ignore-installed", "--no-deps", *requirements],
                              capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.SubprocessError):
        return False
    return done.returncode == 0


def pick(requirements: Sequence[str], prefer: tuple[int, int],
         found: dict[tuple[int, int], str] | None = None) -> tuple[tuple[int, int], str]:
    """The interpreter to run the candidate on: ``prefer`` (the baseline's version) if the
    candidate installs there, else the newest that it installs on; UsageError naming the
    versions tried when none does."""
    found = interpreters() if found is None else found
    order = sorted(found, key=lambda v: (v != prefer, [-x for x in v]))
    for v in order:
        if supports(found[v], requirements):
            return v, found[v]
    tried = ", ".join(f"{a}.{b}" for a, b in order) or "none found"
    raise UsageError(f"{' '.join(requirements)} installs on none of the interpreters here "
                     f"(tried Python {tried}); name one with --python PATH")


def resolve_python(value: str, found: dict[tuple[int, int], str] | None = None
                   ) -> tuple[tuple[int, int], str]:
    """``--python``: a version (``3.12``) among those found, or an interpreter's path."""
    if re.fullmatch(r"3\.\d+", value):
        v = (3, int(value.split(".")[1]))
        found = interpreters() if found is None else found
        if v not in found:
            raise UsageError(f"--python {value}: no such interpreter here (found: "
                             f"{', '.join(f'{a}.{b}' for a, b in found) or 'none'})")
        return v, found[v]
    got = _version(value)
    if got is None:
        raise UsageError(f"--python {value}: not a Python interpreter")
    return got, value
