"""gradconf's front door: ``nox -s conformance`` judges the frameworks, ``nox -s tests`` the suite.

Every framework gets its own virtualenv (their pins conflict, e.g. ml_dtypes between JAX
and TensorFlow); the pins live in ``pyproject.toml`` under
``[project.optional-dependencies]`` and nowhere else. Results merge afterwards, in a
session that installs no framework. Sessions use nox's default virtualenv backend with
pip, which finds the PyTorch wheels kept on disk.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import time
from pathlib import Path
from typing import Any

import nox

nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "lint"]
nox.options.error_on_missing_interpreters = True

RESULTS = Path("reports")
# The test sessions' full runs stream here, one directory per nox invocation (sessions run
# in the nox process), so `merged` never mixes in another invocation's streams.
E2E_ROOT = Path(".nox") / "_e2e"
REFERENCES = Path(".nox") / "_references"
E2E = E2E_ROOT / str(os.getpid())
# framework -> this project's extra that pins it, or the plug-in distribution that brings it
FRAMEWORKS = {"torch": "torch", "jax": "jax", "tensorflow": "tensorflow", "autograd": None}
PLUGINS = {"autograd": "./adapters/autograd"}
# What `nox -s conformance` compiles (`-- --compiled-subset ...` overrides it): every check
# where the compiler takes seconds at most per function (JAX's and XLA's: about 20 minutes a
# framework on 2 cores), each op's derivatives on torch, whose inductor builds C++ for every
# graph (about 2 s a check: some 4 hours for all of them); autograd has no compiler.
COMPILED = {"torch": "ops", "jax": "all", "tensorflow": "all", "autograd": "ops"}
# The gate's run: every check eagerly, the first cases of each op compiled, each computed
# once. The committed baselines hold this run of the pinned versions; `gate`, `upgrade`, the
# CI workflow and the test sessions run it, so each can be diffed with them item for item.
GATE_RUN = ("--repeat", "1", "--execution", "eager,compiled", "--compiled-subset", "ops")
BASELINES = Path("baselines")
# frameworks whose conformance session started in this nox invocation: the report must
# find a stream of each, or the run is incomplete (an install that failed leaves none)
STARTED: list[str] = []
ADAPTER_MARKERS = ("jax", "tensorflow", "autograd")
# When each session's steps start and end, for benchmarks/run_breakdown.py --timings: the gap
# before a session's start is nox creating its virtualenv, the install step is pip.
TIMINGS = Path(".nox") / "_timings" / f"{os.getpid()}.jsonl"
NOX_START = time.time()


def _mark(session: nox.Session, step: str) -> None:
    if not TIMINGS.exists():
        TIMINGS.parent.mkdir(parents=True, exist_ok=True)
        TIMINGS.write_text(json.dumps({"session": "nox", "step": "start", "t": NOX_START}) + "\n")
    with TIMINGS.open("a") as out:
        out.write(json.dumps({"session": session.name, "step": step, "t": time.time()}) + "\n")


def _install(session: nox.Session, framework: str, *extras: str) -> None:
    _mark(session, "start")  # the virtualenv exists by now
    wanted = [e for e in (FRAMEWORKS[framework], *extras) if e]
    session.install("-e", f".[{','.join(wanted)}]" if wanted else ".")
    if framework in PLUGINS:
        session.install("-e", PLUGINS[framework])
    _mark(session, "installed")


def _run_cases(session: nox.Session, framework: str, results: Path, *args: str,
               python: str | None = None) -> None:
    """All case files on one framework, streaming to ``results/<framework>.jsonl``; with
    ``python``, pytest runs on that interpreter (a virtualenv outside the session's)."""
    (results / f"{framework}.jsonl").unlink(missing_ok=True)
    # references computed by one framework's session are read back by the others
    # (content-addressed: an edited case or oracle misses its old entries)
    session.env["GRADCONF_REFERENCE_CACHE"] = (os.environ.get("GRADCONF_REFERENCE_CACHE")
                                               or str(REFERENCES.resolve()))
    workers = "auto" if (os.cpu_count() or 1) > 1 else "1"  # xdist isolates crashes
    _mark(session, "cases")
    plan = _upgrade_planner()
    try:  # the committed baseline's item times: the long case files start first
        order = ("--durations-from", str(plan.committed_baseline(framework, BASELINES)))
    except plan.UsageError:
        order = ()
    pytest = [python, "-m", "pytest"] if python else ["pytest"]
    session.run(
        *pytest, "cases", "--framework", framework, "--results-dir", str(results),
        "-n", workers, "--dist", "loadfile", "-p", "no:cacheprovider", "-q", *order, *args,
        success_codes=[0, 1, 2],  # failures and interruptions still reach the report
        external=bool(python),
    )
    _mark(session, "end")


@nox.session
@nox.parametrize("framework", list(FRAMEWORKS))
def conformance(session: nox.Session, framework: str) -> None:
    """Run every case on one framework (all four by default); then the report merges them."""
    STARTED.append(framework)
    session.notify("report")
    _install(session, framework)
    # every check eagerly, and through the framework's compiler (COMPILED says which)
    _run_cases(session, framework, RESULTS, f"--junitxml={RESULTS}/junit-{framework}.xml",
               "--execution", "eager,compiled", "--compiled-subset", COMPILED[framework],
               *session.posargs)


@nox.session
def report(session: nox.Session) -> None:
    """Merge reports/*.jsonl into results.json, index.html, summary.md; fail on failures,
    incomplete runs, or a framework started in this invocation that left no stream."""
    session.install("-e", ".")
    expect = ["--expect", ",".join(STARTED)] if STARTED else []
    session.run("python", "-m", "gradconf", "report", "--results-dir", str(RESULTS),
                "--strict", *expect)


@nox.session(default=False)
@nox.parametrize("framework", list(FRAMEWORKS))
def baseline(session: nox.Session, framework: str) -> None:
    """Write baselines/<framework>-<version>.json.gz from the gate's run of the pinned version.

    Commit it with the case files it ran (their digest is in it)."""
    _install(session, framework)
    out = RESULTS / "baseline"
    _run_cases(session, framework, out, *GATE_RUN)
    session.run("python", "-m", "gradconf", "baseline", str(out / f"{framework}.jsonl"),
                "--framework", framework, "--out", str(BASELINES))


@nox.session(default=False)
@nox.parametrize("framework", list(FRAMEWORKS))
def gate(session: nox.Session, framework: str) -> None:
    """Gate the pinned version: its gate's run diffed with its committed baseline.

    Fails when the gate does. After -- come the diff's options (--fail-on, --ack)."""
    _install(session, framework)
    out = RESULTS / "gate"
    _run_cases(session, framework, out, *GATE_RUN)
    session.run("python", "-m", "gradconf", "gate", str(out / f"{framework}.jsonl"),
                "--baselines", str(BASELINES), "--framework", framework,
                "--out", str(out / f"diff-{framework}"), *session.posargs)


def _upgrade_planner() -> Any:
    """gradconf/upgrade.py (standard library only), loaded into nox's own interpreter."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("gradconf_upgrade",
                                                  Path(__file__).parent / "gradconf" /
                                                  "upgrade.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@nox.session(default=False)
@nox.parametrize("framework", list(FRAMEWORKS))
def upgrade(session: nox.Session, framework: str) -> None:
    """Gate an upgrade: the candidate named after -- against the pinned version's baseline.

    After -- come the requirements (``jax==0.12.0.1 jaxlib==0.12.0.1``, a renamed package
    such as ``tf-nightly-cpu``) and options for the diff (``--fail-on``, ``--out``,
    ``--ack``); ``--python 3.12`` (or a path) names the interpreter, otherwise the first
    the candidate installs on is used: the session's own version, then the newest;
    ``--base PATH`` compares with another run than the committed baseline.
    """
    session.install("-e", ".")  # the engine, for the diff
    plan = _upgrade_planner()
    try:
        requirements, diff_options, forced, base = plan.split_args(session.posargs)
        base = Path(base) if base else plan.committed_baseline(framework, BASELINES)
        here = tuple(int(x) for x in platform.python_version_tuple()[:2])
        version, python = (plan.resolve_python(forced) if forced else
                           plan.pick(requirements, (here[0], here[1])))
    except plan.UsageError as exc:
        session.error(f"{exc} (e.g. nox -s \"upgrade(framework='{framework}')\" -- "
                      f"{framework}==<version> --fail-on regression)")
    if not base.exists():
        session.error(f"no base run {base}")
    session.log(f"the candidate runs on Python {version[0]}.{version[1]} ({python}); "
                f"compared with {base}")
    venv = Path(".nox") / f"upgrade-{framework}-py{version[0]}{version[1]}"
    if not (venv / "bin" / "python").exists():
        session.run(python, "-m", "venv", str(venv), external=True)
    py = str((venv / "bin" / "python").absolute())  # not resolved: that is the base Python
    # the candidate replaces the pinned version: the engine without the pin, then it
    session.run(py, "-m", "pip", "install", "-q", "-e", ".", *requirements, external=True)
    if framework in PLUGINS:  # the plug-in pins its framework: the candidate replaces it
        session.run(py, "-m", "pip", "install", "-q", "--no-deps", "-e", PLUGINS[framework],
                    external=True)
    out = RESULTS / "upgrade" / framework
    _run_cases(session, framework, out, f"--junitxml={out}/junit-{framework}.xml",
               *GATE_RUN, python=py)
    session.run("python", "-m", "gradconf", "diff", str(base), str(out), "--framework",
                framework, "--out", str(out), *diff_options)


@nox.session
@nox.parametrize("framework", list(FRAMEWORKS))
def tests(session: nox.Session, framework: str) -> None:
    """The suite's own tests: engine and PyTorch in one venv, each other adapter in its own."""
    session.notify("merged")
    _install(session, framework, "test")
    session.env["GRADCONF_REQUIRE_FRAMEWORKS"] = framework
    _mark(session, "unit")
    if framework == "torch":
        others = " and ".join(f"not {m}" for m in (*ADAPTER_MARKERS, "merged"))
        session.run("pytest", "tests", "-m", others, "-n", "auto", "-p", "no:cacheprovider",
                    *session.posargs)
    else:
        session.run("pytest", "tests", "-m", framework, "-p", "no:cacheprovider",
                    *session.posargs)
    E2E.mkdir(parents=True, exist_ok=True)
    # each check computed once here (conformance computes it twice to catch nondeterminism),
    # and compiled only for the cases that first bring each op (conformance compiles every
    # check): the corpus on four frameworks must fit the CI budget
    _run_cases(session, framework, E2E, *GATE_RUN)


@nox.session
def merged(session: nox.Session) -> None:
    """Check the test sessions' runs merged: every framework, every case, differences declared."""
    missing = [fw for fw in FRAMEWORKS if not (E2E / f"{fw}.jsonl").exists()]
    if missing:
        session.skip(f"needs every framework's test session in this nox run; missing: "
                     f"{', '.join(missing)} (run nox -s tests)")
    for old in E2E_ROOT.iterdir():
        if old != E2E:
            shutil.rmtree(old, ignore_errors=True)
    session.install("-e", ".[test]")
    session.env["GRADCONF_E2E_DIR"] = str(E2E)
    session.run("pytest", "tests", "-m", "merged", "-p", "no:cacheprovider", *session.posargs)


@nox.session(default=False)
def benchmarks(session: nox.Session) -> None:
    """Measure detection power and cost; write benchmarks/results/ (takes ~20 minutes)."""
    _install(session, "torch", "bench")
    session.run("python", "benchmarks/run_cost.py")
    session.run("python", "benchmarks/oracle_pass.py")
    session.run("python", "benchmarks/cost_scaling.py")
    session.run("python", "benchmarks/detection_power.py", "--framework", "torch")
    session.notify("benchmarks_jax")


@nox.session(default=False)
def benchmarks_jax(session: nox.Session) -> None:
    """The JAX half of the detection-power benchmark (its own venv), then the plot."""
    _install(session, "jax", "bench")
    session.run("python", "benchmarks/detection_power.py", "--framework", "jax")
    session.run("python", "benchmarks/detection_power.py", "--plot")


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff and types with mypy."""
    session.install("-e", ".[lint]")
    session.run("ruff", "check", "gradconf", "adapters", "tests", "benchmarks", "noxfile.py")
    session.run("mypy", "gradconf", "adapters")
