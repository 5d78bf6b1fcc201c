"""Poles, overflow and undefined references: a framework is never blamed where the
function itself is not finite, and an overflow is told apart from a pole."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.adapter import Adapter
from gradconf.oracle import Oracle
from gradconf.runner import run_check


class _Says(Adapter):
    """Scripted results, as a framework that follows IEEE arithmetic would give them."""

    name = "scripted"

    def __init__(self, value: list[float], grad: list[float]) -> None:
        self.out = np.asarray(value, dtype=np.float64).reshape(())
        self.grad = np.asarray(grad, dtype=np.float64)

    def version(self) -> str:
        return "0"

    def value(self, prog, env):
        return {"out": self.out}

    def vjp(self, prog, env, wrt, cotangent):
        return {"x": self.grad * np.asarray(cotangent)}

    def jacobian(self, prog, env, wrt, mode):
        return {"x": self.grad}

    def hessian(self, prog, env, wrt, cotangent):
        n = self.grad.size
        return {"x,x": np.diag(np.full(n, np.inf))}


def _case(one_case, function, x):
    return one_case(f"""
        id: pole
        title: t
        source: {{note: t, section: t}}
        inputs: {{x: {x}}}
        function: {function}
        dtypes: [float64]
        checks: [value, vjp, jacobian, hessian]
    """)


def _run(case, adapter):
    return {c.id: run_check(case, c, "float64", adapter, "0") for c in case.checks}


def test_a_pole_is_undefined_not_a_framework_inf(one_case):
    """sum(1/x) at x = (0, 1) is +inf: no entry of its gradient exists, and the
    framework's (-inf, -1) is recorded, not blamed (it used to be "inf where the reference
    is finite": the oracle's Richardson table gave a finite 5440 ± 4096 at the pole)."""
    case = _case(one_case, "sum(1/x)", [0.0, 1.0])
    recs = _run(case, _Says([np.inf], [-np.inf, -1.0]))
    for rec in recs.values():
        assert (rec["verdict"], rec["classification"]) == ("undefined", "undefined"), rec
    assert recs["value"]["message"] == "out: no finite value there, got inf"
    assert recs["vjp"]["message"].startswith("x[0]: no derivative there, got -inf")
    assert recs["vjp"]["reference"]["x"]["data"] == ["NaN", "NaN"]
    assert recs["vjp"]["oracle_err"] == 0.0


def test_an_overflow_is_named_as_such(one_case):
    """exp(1000) is finite but not a float64: the value and every derivative overflow,
    and in extended precision the value is finite, which at a pole it is not."""
    case = _case(one_case, "sum(exp(x))", [1000.0, 1.0])
    recs = _run(case, _Says([np.inf], [np.inf, np.e]))
    for rec in recs.values():
        assert (rec["verdict"], rec["classification"]) == ("undefined", "overflow"), rec
        assert "overflows float64 here (the function's value does not fit" in rec["message"]
    assert "so does the framework's), got inf" in recs["vjp"]["message"]


def test_the_oracle_tells_overflow_from_a_pole(one_case):
    for function, x, overflow in (("sum(exp(x))", [1000.0, 1.0], True),
                                  ("sum(1/x)", [0.0, 1.0], False),
                                  ("sum(log(x))", [0.0, 1.0], False),
                                  ("sum(x * x)", [1e200, 1.0], True),
                                  ("sum(x + log(0 * x))", [1.0, 2.0], False)):
        o = Oracle(_case(one_case, function, x), "float64", ("x",))
        assert bool(np.all(o.overflows())) is overflow, function


@pytest.mark.parametrize(("function", "x", "grad"), [
    ("sum(1/x)", [2.0, 1.0], [-0.25, -1.0]),
    ("sum(exp(x))", [700.0, 1.0], [np.exp(700.0), np.e]),
])
def test_finite_points_next_to_poles_and_overflow_are_still_judged(one_case, function, x,
                                                                   grad):
    case = _case(one_case, function, x)
    check = next(c for c in case.checks if c.kind == "vjp")
    rec = run_check(case, check, "float64", _Says([0.0], grad), "0")
    assert (rec["verdict"], rec["classification"]) == ("pass", "smooth"), rec["message"]
    wrong = run_check(case, check, "float64", _Says([0.0], [np.inf, grad[1]]), "0")
    assert wrong["verdict"] == "inf"


@pytest.mark.parametrize(("grad", "verdict"), [
    ([np.nan, np.nan], "expected_divergence"),   # still what the declaration says
    ([0.0, 0.0], "stale"),                       # a valid subgradient: the convention verdict
    ([0.6, 0.8], "stale"),                       # another one on the unit sphere
])
def test_a_declared_nan_that_became_a_valid_subgradient_is_stale(one_case, grad, verdict):
    """norm(x) at x = 0 declared NaN: once the framework returns a subgradient (verdict
    convention, not only pass) the declaration is stale, and the record says what the
    framework returns now before quoting the declaration's reason."""
    case = one_case("""
        id: norm-at-zero
        title: t
        source: {note: t, section: t}
        inputs: {x: [0.0, 0.0]}
        function: norm(x)
        dtypes: [float64]
        checks: [vjp]
        divergences:
          - framework: scripted
            kind: bug
            versions: ">=0"
            check: vjp
            reason: "the gradient of the norm at 0 is NaN"
            link: "https://example.org/norm-nan"
    """)
    rec = run_check(case, case.checks[0], "float64", _Says([0.0], grad), "0")
    assert rec["verdict"] == verdict, rec["message"]
    if verdict == "stale":
        now, _, said = rec["message"].partition("which says: ")
        assert now.startswith("declared divergence no longer diverges (convention")
        assert said == "the gradient of the norm at 0 is NaN"
