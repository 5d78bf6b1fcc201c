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
