"""Complex inputs: real and imaginary parts differentiated apart, each framework's gradient
convention named and normalised, a wrong value still failing."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from gradconf.arrays import decode, pairs
from gradconf.findings import complex_conventions
from gradconf.loader import load_paths
from gradconf.oracle import Oracle
from gradconf.runner import run_check

ROOT = Path(__file__).resolve().parent.parent
torch_adapter = pytest.importorskip("gradconf_adapters.torch_adapter")
pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def cases():
    result = load_paths([ROOT / "cases" / "complex.yaml"], ROOT)
    assert not result.errors
    return {c.id: c for c in result.cases}


@pytest.fixture(scope="module")
def ad():
    return torch_adapter.TorchAdapter()


class Lying(torch_adapter.TorchAdapter):
    """PyTorch's values under JAX's convention name: the normalisation conjugates them."""

    name = "lying"
    complex_gradient = "wirtinger"


def test_the_oracle_differentiates_real_and_imaginary_parts(cases):
    case = cases["complex-real-imag-linear"]
    est = Oracle(case, "complex128", ("z",)).vjp(np.array(1.0))["z"]
    np.testing.assert_allclose(est.value, [[3.0, 5.0]] * 3, atol=1e-9)


def _check(case, kind):
    return next(c for c in case.checks if c.kind == kind)


@pytest.mark.parametrize("dtype", ["complex64", "complex128"])
def test_a_gradient_records_the_convention_raw_and_normalised(cases, ad, dtype):
    case = cases["complex-real-imag-linear"]
    rec = run_check(case, _check(case, "vjp"), dtype, ad, "2.13.0")
    assert rec["verdict"] == "pass", rec["message"]
    assert rec["complex"]["convention"] == "conjugate_wirtinger"
    raw = decode(rec["complex"]["raw"]["z"])
    np.testing.assert_allclose(raw, [[3.0, 5.0]] * 3)
    np.testing.assert_allclose(decode(rec["observed"]["z"]), raw)
    assert complex_conventions([rec])[0]["convention"] == "conjugate_wirtinger"


def test_a_value_under_the_wrong_convention_still_fails(cases):
    case = cases["complex-real-imag-linear"]
    rec = run_check(case, _check(case, "vjp"), "complex128", Lying(), "2.13.0")
    assert rec["verdict"] == "mismatch"
    assert rec["complex"]["convention"] == "wirtinger"
    np.testing.assert_allclose(decode(rec["observed"]["z"]), [[3.0, -5.0]] * 3)


def test_jvp_moves_both_parts_and_needs_no_convention(cases, ad):
    case = cases["complex-abs-squared"]
    rec = run_check(case, _check(case, "jvp"), "complex128", ad, "2.13.0")
    assert rec["verdict"] == "pass", rec["message"]
    assert "complex" not in rec
    # f = |z|^2 along t (1 + i): 2x + 2y summed over z = (1+2i, -0.5+0.25i)
    assert decode(rec["observed"]["out"]) == pytest.approx(2 + 4 - 1 + 0.5)


def test_pairs_is_the_identity_on_real_arrays():
    a = np.arange(3.0)
    assert pairs(a) is not None and np.array_equal(pairs(a), a)
    assert pairs(np.array([1 + 2j])).tolist() == [[1.0, 2.0]]


BASE = """
cases:
  - id: c
    title: complex
    source: {note: t, section: t}
    dtypes: DTYPES
    inputs:
      z: {value: [1., 2.], imag: [0.5, -1.]}
    function: FUNCTION
    checks: CHECKS
"""


@pytest.mark.parametrize(("dtypes", "function", "checks", "message"), [
    ("[complex128]", "sum(abs(z))", "[jacobian]",
     "a complex case takes value, vjp, jvp checks, not jacobian"),
    ("[complex128]", "sum(z * z)", "[vjp]", "a vjp of a complex case needs a real-valued output"),
    ("[float64]", "sum(z)", "[vjp]", "imag is for complex runs"),
    ("[float64, complex128]", "sum(abs(z))", "[vjp]",
     "a case runs at complex dtypes or at real ones, not both"),
])
def test_complex_cases_the_engine_cannot_judge_are_refused(tmp_path, dtypes, function, checks,
                                                           message):
    path = tmp_path / "c.yaml"
    path.write_text(BASE.replace("DTYPES", dtypes).replace("FUNCTION", function)
                    .replace("CHECKS", checks), encoding="utf-8")
    result = load_paths([path], tmp_path)
    assert not result.cases
    (err,) = result.errors
    assert message in str(err)
    assert str(err).startswith("c.yaml:") and "case 'c'" in str(err)
