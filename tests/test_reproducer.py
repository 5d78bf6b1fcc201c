"""Reproducer scripts: the lowering source they are made of, and real records reproduced.

For declared divergences of the shipped cases (the framework's real behaviour, not a
mutant's), the record's reproducer runs as a script of its own, in a fresh interpreter of
the framework's environment, and must print exactly what the record observed.
"""

from __future__ import annotations

import builtins
import importlib.util
import math
import subprocess
import symtable
import sys
from pathlib import Path

import numpy as np
import pytest

from gradconf.adapter import load_adapter
from gradconf.arrays import decode
from gradconf.loader import load_paths
from gradconf.lowering_source import ExtractionError, Lowering, NotReproducible
from gradconf.reproducer import script
from gradconf.runner import _vectors, env_for, run_check
from helpers import CASES, ROOT

ADAPTERS = ROOT / "adapters"
LOWERINGS = {"gradconf_adapters.torch_lowering": ADAPTERS / "torch_lowering",
             "gradconf_adapters.jax_lowering": ADAPTERS / "jax_lowering",
             "gradconf_adapters.tf_lowering": ADAPTERS / "tf_lowering",
             "gradconf_autograd.lowering": ADAPTERS / "autograd" / "gradconf_autograd" / "lowering"}


def _undefined(source: str) -> set[str]:
    """Global names the code reads but neither binds at module level nor finds in builtins."""
    table = symtable.symtable(source, "<snippet>", "exec")
    defined = {s.get_name() for s in table.get_symbols() if s.is_assigned() or s.is_imported()}
    missing: set[str] = set()

    def walk(t: symtable.SymbolTable) -> None:
        for s in t.get_symbols():
            if (s.is_global() or t is table) and s.is_referenced() and \
                    s.get_name() not in defined and not hasattr(builtins, s.get_name()):
                missing.add(s.get_name())
        for child in t.get_children():
            walk(child)
    walk(table)
    return missing


@pytest.mark.parametrize("package", sorted(LOWERINGS))
def test_every_lowering_entry_stands_alone(package):
    """Every op of every lowering table gives compilable source that reads no gradconf name
    and no name it does not define; only ``unsupported`` entries are not reproducible."""
    lowering = Lowering(package, LOWERINGS[package])
    ops = lowering.ops()
    assert len(ops) > 140
    standalone = 0
    for op in ops:
        try:
            found = lowering.extract([op])
        except NotReproducible as exc:
            assert "unsupported" in str(exc), (op, exc)
            continue
        source = "\n".join([*found.imports, *found.defs, f"lowered = {found.entries[op]}"])
        compile(source, f"<{package} {op}>", "exec")
        assert "gradconf" not in source, (op, source)
        assert not _undefined(source), (op, _undefined(source), source)
        standalone += 1
    assert standalone > 140


def test_the_extractor_refuses_what_cannot_stand_alone(tmp_path):
    pkg = tmp_path / "fake_lowering"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    for family in ("piecewise", "complex", "reductions", "linalg", "shape", "nn"):
        (pkg / f"{family}.py").write_text("LOWERING = {}\n")
    (pkg / "elementwise.py").write_text(
        "import math\nfrom gradconf.adapter import unsupported\n"
        "def _twice(x):\n    return 2 * _half(x)\n"
        "def _half(x):\n    return math.sqrt(x) / 2\n"
        "LOWERING = {'a': _twice, 'b': lambda x: nowhere(x), "
        "'c': unsupported('c', 'no such op')}\n")
    lowering = Lowering("fake_lowering", pkg)
    found = lowering.extract(["a"])
    assert found.imports == ["import math"]
    assert [d.split("(")[0] for d in found.defs] == ["def _half", "def _twice"]
    with pytest.raises(ExtractionError, match="nowhere"):
        lowering.extract(["b"])
    with pytest.raises(NotReproducible, match="unsupported"):
        lowering.extract(["c"])


def _printed(out: str) -> dict[str, np.ndarray]:
    values = {}
    for line in out.splitlines():
        name, sep, text = line.partition(" = ")
        if sep:
            values[name] = np.asarray(eval(text, {"nan": math.nan, "inf": math.inf}),
                                      dtype=np.float64)
    return values


def _divergent_records(framework: str, kinds: int = 3) -> list[dict]:
    """Records of declared divergences of ``framework`` on the shipped cases at the
    installed version, eager, real inputs: one per check kind, up to ``kinds``."""
    adapter = load_adapter(framework)
    version = adapter.version()
    loaded = load_paths([CASES], ROOT)
    records: dict[str, dict] = {}
    for case in loaded.cases:
        if case.is_complex:
            continue
        for d in case.divergences:
            if d.framework != framework or d.execution == "compiled" or \
                    not d.applies_to(version):
                continue
            for check in case.checks:
                if not d.covers(check.id) or check.kind in records:
                    continue
                dtype = next((t for t in case.dtypes if d.dtypes is None or t in d.dtypes), None)
                if dtype is None:
                    continue
                rec = run_check(case, check, dtype, adapter, version, repeat=1)
                if rec["verdict"] == "expected_divergence" and rec.get("observed") and \
                        not any(a.get("truncated") for a in rec["observed"].values()):
                    records[check.kind] = rec
            if len(records) >= kinds:
                return list(records.values())
    return list(records.values())


def _reproduces(rec: dict, tmp_path: Path) -> None:
    script = rec["reproducer"]
    assert "import gradconf" not in script and "from gradconf" not in script
    assert f"# Reproducer: case {rec['case']}, check {rec['check']}" in script
    path = tmp_path / f"{rec['case']}-{rec['check']}-{rec['dtype']}.py"
    path.write_text(script)
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         timeout=240, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    printed = _printed(run.stdout)
    for name, encoded in rec["observed"].items():
        want, got = decode(encoded), printed[name]
        assert got.shape == want.shape, (name, got, want)
        same = np.array_equal(got, want, equal_nan=True) and \
            np.array_equal(np.signbit(got), np.signbit(want))
        assert same, (name, got, want, script)


FRAMEWORKS = [pytest.param("torch", marks=pytest.mark.torch),
              pytest.param("jax", marks=pytest.mark.jax),
              pytest.param("tensorflow", marks=pytest.mark.tensorflow),
              pytest.param("autograd", marks=pytest.mark.autograd)]


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_declared_divergences_reproduce_bit_for_bit(framework, tmp_path):
    """The reproducer of a real non-pass record prints what the record observed."""
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed here")
    records = _divergent_records(framework)
    assert records, f"no declared divergence of {framework} ran as one"
    for rec in records:
        assert rec.get("reproducer"), rec["message"]
        _reproduces(rec, tmp_path)
    # the compiled form of the first one (values may differ from eager's): it runs and
    # prints every result the record has
    rec = records[0]
    case = next(c for c in load_paths([CASES], ROOT).cases if c.id == rec["case"])
    check = next(c for c in case.checks if c.id == rec["check"])
    vectors = _vectors(case, check, rec["dtype"], case.output_dtype(rec["dtype"]))
    compiled = script(load_adapter(framework).reproducer_templates, rec, case.program, check,
                      env_for(case, rec["dtype"]), vectors, "compiled")
    path = tmp_path / "compiled.py"
    path.write_text(compiled)
    run = subprocess.run([sys.executable, str(path)], capture_output=True, text=True,
                         timeout=240, cwd=tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    assert set(_printed(run.stdout)) >= set(rec["observed"]), (run.stdout, compiled)


@pytest.mark.torch
def test_a_passing_record_has_no_reproducer():
    pytest.importorskip("torch")
    case = next(c for c in load_paths([CASES], ROOT).cases if c.id == "pw-hypot-origin")
    adapter = load_adapter("torch")
    recs = [run_check(case, check, dtype, adapter, adapter.version(), repeat=1)
            for check in case.checks for dtype in case.dtypes]
    assert {r["verdict"] for r in recs} >= {"pass", "expected_divergence"}
    for rec in recs:
        assert ("reproducer" in rec) == (rec["verdict"] != "pass"), rec["verdict"]


CLASHING = """
id: names-the-script-uses
title: inputs named like the reproducer's own variables
source: {note: test, section: test}
inputs:
  y: [0.5, 2.0]
  t: [1.5, -1.0]
  result: [3.0, 0.25]
function: sum(y * exp(t) + result * y)
checks: [value, vjp, jvp, jacobian, hessian]
dtypes: [float64]
"""


@pytest.mark.parametrize("framework", FRAMEWORKS)
def test_inputs_named_like_the_scripts_own_variables_are_renamed(framework, tmp_path):
    """An input called ``y`` (the output's variable in reverse-mode templates), ``t`` (the
    loop variable) or ``result`` is renamed in the script, never shadowed, and its printed
    name is the case's."""
    if importlib.util.find_spec(framework) is None:
        pytest.skip(f"{framework} is not installed here")
    from helpers import one_case

    case = one_case(tmp_path, CLASHING)
    adapter = load_adapter(framework)
    for check in case.checks:
        rec = run_check(case, check, "float64", adapter, adapter.version(), repeat=1)
        assert rec["verdict"] == "pass", rec["message"]
        vectors = _vectors(case, check, "float64", case.output_dtype("float64"))
        rec["reproducer"] = script(adapter.reproducer_templates, rec, case.program, check,
                                   env_for(case, "float64"), vectors)
        _reproduces(rec, tmp_path)
