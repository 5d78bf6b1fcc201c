"""gradconf notices a derivative rule that is wrong by one part in a million.

A mutant PyTorch (``benchmarks/mutants.py``) scales the derivative of one op by ``1 + eps``
in both modes and leaves its forward alone; gradconf must flag it in float64, naming the
worst entry, while the shipped adapter passes and the mutant's values stay the same.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytestmark = pytest.mark.torch

from gradconf.kinds import FAILING  # noqa: E402
from gradconf.loader import load_file  # noqa: E402
from gradconf.runner import env_for, run_check  # noqa: E402
from gradconf_adapters.torch_adapter import TorchAdapter  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
EPS = 1e-6


def _load_mutants():
    """benchmarks/mutants.py by path (benchmarks/ is not a package)."""
    name = "gradconf_benchmarks_mutants"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "mutants.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


mutants = _load_mutants()


@pytest.fixture(scope="module")
def case():
    """z = x @ w + b; mean(log(1 + exp(z)) - y * z): the one shipped case that uses exp."""
    items = load_file(ROOT / "cases" / "matrix-calculus.yaml", "cases/matrix-calculus.yaml")
    (found,) = [c for c in items if getattr(c, "id", None) == "linear-logistic-loss"]
    return found


@pytest.fixture(scope="module")
def base():
    """The shipped PyTorch adapter."""
    return TorchAdapter()


def _check(case, check_id):
    return next(c for c in case.checks if c.id == check_id)


def _run(case, check_id, adapter):
    return run_check(case, _check(case, check_id), "float64", adapter, "test", repeat=1)


def test_unmutated_passes(case, base):
    """No false alarm: the shipped adapter passes the checks the mutant must fail."""
    for check_id in ("value", "vjp", "jvp", "jacobian-rev", "jacobian-fwd"):
        rec = _run(case, check_id, base)
        assert rec["verdict"] == "pass", (check_id, rec["message"])


def test_exp_off_by_one_in_a_million_is_flagged(case, base):
    """exp's derivative times (1 + 1e-6): reverse and forward mode both fail, and the
    message names the worst entry, off by the injected relative error."""
    adapter = mutants.mutant_torch("exp", EPS)()
    assert isinstance(adapter, TorchAdapter) and adapter.name == "torch"
    for check_id in ("vjp", "jvp", "jacobian-rev", "jacobian-fwd"):
        rec = _run(case, check_id, adapter)
        assert rec["verdict"] in FAILING, (check_id, rec["verdict"], rec["message"])
        worst = rec["worst"]
        where = f"{worst['name']}{worst['index']}" if worst["index"] else worst["name"]
        assert rec["message"].startswith(f"{where}: "), rec["message"]
        assert re.search(r"\|diff\| \S+ > bound", rec["message"]), rec["message"]
        rel = abs(worst["observed"] / worst["reference"] - 1)
        # every path from w and b to the loss goes through exp once (y * z has y = 0)
        assert 0.5 * EPS < rel < 2 * EPS, (check_id, rel)
    assert _run(case, "vjp", adapter)["worst"]["name"] in case.wrt


def test_mutant_forward_is_unchanged(case, base):
    """The value check passes and every value is bit for bit the shipped adapter's."""
    adapter = mutants.mutant_torch("exp", EPS)()
    assert _run(case, "value", adapter)["verdict"] == "pass"
    env = env_for(case, "float64")
    got, want = adapter.value(case.program, env), base.value(case.program, env)
    assert set(got) == set(want)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name])


def test_perturbation_stays_in_its_op(case):
    """A mutant of an op the function does not use, or whose derivative is multiplied by
    zero here (y * z with y = 0), changes nothing gradconf could see."""
    for op in ("sin", "mul"):
        rec = _run(case, "vjp", mutants.mutant_torch(op, 1e-1)())
        assert rec["verdict"] == "pass", (op, rec["message"])


def test_unknown_op_is_refused():
    """Only ops with a derivative rule of their own can be perturbed."""
    with pytest.raises(ValueError, match="cannot perturb 'reshape'"):
        mutants.mutant_torch("reshape", EPS)
