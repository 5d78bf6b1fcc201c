"""Precision-faithful references: a value the run dtype's own arithmetic forces is the
verdict ``precision``, not a framework mismatch; a value off from both references fails."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.adapter import Adapter
from gradconf.runner import run_check


class _Value(Adapter):
    name = "scripted"

    def __init__(self, out: float, dtype: str) -> None:
        self.out = np.asarray(out, dtype=dtype)

    def version(self) -> str:
        return "0"

    def value(self, prog, env):
        return {"out": self.out}


def _value_check(one_case, function, x, dtype, out):
    case = one_case(f"""
        id: precision
        title: t
        source: {{note: t, section: t}}
        inputs: {{x: {x}}}
        function: {function}
        dtypes: [{dtype}]
        checks: [value]
    """)
    return run_check(case, case.checks[0], dtype, _Value(out, dtype), "0")


def test_float32_cancellation_is_precision_not_mismatch(one_case):
    """(x + 1e8) - 1e8 at x = (1, 2) in float32: x + 1e8 rounds to 1e8, so IEEE float32
    gives 0 where float64 gives 3; every framework returns 0 and none is wrong."""
    rec = _value_check(one_case, "sum((x + 1e8) - 1e8)", "[1.0, 2.0]", "float32", 0.0)
    assert rec["verdict"] == "precision", rec["message"]
    assert "the same computation in float32 gives this" in rec["message"]
    assert np.ravel(rec["reference"]["out"]["data"]).tolist() == [3.0]
    assert np.ravel(rec["reference_run_dtype"]["out"]["data"]).tolist() == [0.0]


@pytest.mark.parametrize("out", [3.5, 1.0])
def test_a_value_off_from_both_references_still_fails(one_case, out):
    rec = _value_check(one_case, "sum((x + 1e8) - 1e8)", "[1.0, 2.0]", "float32", out)
    assert rec["verdict"] == "mismatch"
    assert np.ravel(rec["reference_run_dtype"]["out"]["data"]).tolist() == [0.0]


def test_float64_runs_have_no_second_reference(one_case):
    rec = _value_check(one_case, "sum((x + 1e3) - 1e3)", "[1.0, 2.0]", "float64", 0.0)
    assert rec["verdict"] == "mismatch" and "reference_run_dtype" not in rec


def test_a_right_value_needs_no_second_reference(one_case):
    rec = _value_check(one_case, "sum((x + 1e3) - 1e3)", "[1.0, 2.0]", "float32", 3.0)
    assert rec["verdict"] == "pass" and "reference_run_dtype" not in rec


# [[1, 1], [1, 1 + 2^-10]]: entries of the inverse near 1024, condition near 4e3, so
# rounding the entries to float32 alone moves inv and slogdet's gradient by about 1e-4
NEAR_SINGULAR = [[1.0, 1.0], [1.0, 1.0009765625]]
# SVD-based rules are 1e-5 relative off here in float32: within the condition
WITHIN = [[1025.0098, -1024.0098], [-1024.0098, 1024.0098]]


def _near_singular(one_case, function: str, check: str, more: str = ""):
    return one_case(f"""
        id: near-singular
        title: t
        source: {{note: t, section: t}}
        inputs: {{x: {NEAR_SINGULAR}}}
        function: {function}
        dtypes: [float32]
        checks: [{check}]
    """ + more)


class _Grad(Adapter):
    name = "scripted"

    def __init__(self, grad, dtype: str) -> None:
        self.grad = np.asarray(grad, dtype=dtype)

    def version(self) -> str:
        return "0"

    def vjp(self, prog, env, wrt, cotangent):
        return {"x": self.grad}


@pytest.mark.parametrize(("grad", "within"), [
    (WITHIN, True),
    # a tenth off is no rounding
    ([[1127.5, -1024.0], [-1024.0, 1024.0]], False),
])
def test_a_low_precision_derivative_within_its_condition_is_precision(
        one_case, grad, within):
    """log|det| at [[1, 1], [1, 1 + 2^-10]]: the gradient A^-T has entries near 1024 and
    the matrix a condition number near 4e3, so rounding its entries to float32 alone moves
    the gradient by about 1e-4 relative. A miss within four times that is `precision` (a
    backward-stable float32 computation can give it); a larger one stays a mismatch."""
    case = _near_singular(one_case, "slogdet(x)", "vjp")
    rec = run_check(case, case.checks[0], "float32", _Grad(grad, "float32"), "0")
    assert rec["verdict"] == ("precision" if within else "mismatch")
    cond = rec["condition"]
    assert cond["within"] is within
    assert 1e2 < cond["estimate"] < 1e5
    assert "rounding the inputs to float32 alone moves the float64 result by up to" in \
        rec["message"]


def test_a_wrong_shape_gets_no_condition_estimate_and_stays_a_mismatch(one_case):
    case = one_case("""
        id: condition-shape
        title: t
        source: {note: t, section: t}
        inputs: {x: [[1.0, 2.0], [3.0, 4.0]]}
        function: sum(x * x)
        dtypes: [float32]
        checks: [vjp]
    """)
    rec = run_check(case, case.checks[0], "float32", _Grad([2.0, 4.0, 6.0, 8.0], "float32"), "0")
    assert rec["verdict"] == "mismatch" and "shape" in rec["message"]
    assert "condition" not in rec


def test_a_declared_bug_covers_a_precision_verdict(one_case):
    """The within-condition miss above, declared as a bug (a better rule exists): the
    declaration, not the rounding, explains it."""
    case = _near_singular(one_case, "slogdet(x)", "vjp", """
        divergences:
          - framework: scripted
            kind: bug
            versions: ">=0"
            check: vjp
            reason: "a rule that loses accuracy a better one keeps"
            link: "https://example.org/issue/1"
    """)
    rec = run_check(case, case.checks[0], "float32", _Grad(WITHIN, "float32"), "0")
    assert rec["verdict"] == "expected_divergence"
    assert rec["message"].startswith("declared divergence (precision): ")
    assert rec["condition"]["within"] is True


@pytest.mark.parametrize(("scale", "verdict"), [(1.0001, "precision"), (1.1, "mismatch")])
def test_a_low_precision_value_another_algorithm_rounds_is_judged_by_its_condition(
        one_case, scale, verdict):
    """inv at [[1, 1], [1, 1 + 2^-10]] (entries near 1024, condition near 4e3): a float32
    result 1e-4 relative off matches neither float64 nor NumPy's float32 LU, but rounding the
    inputs alone moves the result that far (another LU, XLA's, lands there); 10 % off does
    not."""
    case = _near_singular(one_case, "inv(x)", "value")
    exact = np.linalg.inv(np.array(NEAR_SINGULAR))
    rec = run_check(case, case.checks[0], "float32", _Value(exact * scale, "float32"), "0")
    assert rec["verdict"] == verdict, rec["message"]
    assert rec["condition"]["within"] is (verdict == "precision")
    assert "reference_run_dtype" in rec  # NumPy's float32 evaluation was tried first


def test_a_wrong_dtype_is_never_precision(one_case):
    """The right gradient, A^-T, but float64 where the run is float32: the dtype is wrong
    whatever the point's conditioning (once it read `precision`)."""
    case = _near_singular(one_case, "slogdet(x)", "vjp")
    right = np.linalg.inv(np.array(NEAR_SINGULAR)).T
    rec = run_check(case, case.checks[0], "float32", _Grad(right, "float64"), "0")
    assert rec["verdict"] == "mismatch" and "dtype float64" in rec["message"]
    assert "condition" not in rec
