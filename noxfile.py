"""gradconf's front door: ``nox -s conformance`` judges a framework, ``nox -s tests`` the suite.

Every framework gets its own virtualenv (their pins conflict); framework pins live in
``pyproject.toml`` under ``[project.optional-dependencies]`` and nowhere else. Sessions use
nox's default virtualenv backend with pip, which finds the PyTorch wheels kept on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "lint"]
nox.options.error_on_missing_interpreters = True

RESULTS = Path("reports")
FRAMEWORKS = ("torch",)


def _run_cases(session: nox.Session, framework: str) -> None:
    session.install("-e", f".[{framework}]")
    (RESULTS / f"{framework}.jsonl").unlink(missing_ok=True)
    workers = "auto" if (os.cpu_count() or 1) > 1 else "0"
    session.run(
        "pytest", "cases", "--framework", framework, "--results-dir", str(RESULTS),
        "-n", workers, "--dist", "loadfile", "-p", "no:cacheprovider",
        f"--junitxml={RESULTS}/junit-{framework}.xml", "-q", *session.posargs,
        success_codes=[0, 1, 2],  # failures and interruptions still get a report below
    )


@nox.session
def conformance(session: nox.Session) -> None:
    """Run every case on PyTorch; write reports/results.json, index.html, summary.md."""
    for framework in FRAMEWORKS:
        _run_cases(session, framework)
    session.run("python", "-m", "gradconf", "report", "--results-dir", str(RESULTS),
                "--strict")


@nox.session
def tests(session: nox.Session) -> None:
    """Run the suite's own tests (engine, PyTorch adapter, plugin end to end, report)."""
    session.install("-e", ".[torch,test]")
    session.run("pytest", "tests", "-n", "auto", "-p", "no:cacheprovider", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff and types with mypy."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "gradconf", "adapters", "tests", "benchmarks", "noxfile.py")
    session.run("mypy", "gradconf", "adapters")
