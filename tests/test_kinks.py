"""Kinks, jumps and domain edges: the oracle classifies them, the runner judges against
the subgradient interval (convention inside, mismatch outside, nan never passes)."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.adapter import Adapter
from gradconf.expr import parse
from gradconf.oracle import (
    DISCONTINUITY,
    KINK,
    SMOOTH,
    UNDEFINED,
    Oracle,
    classify,
    nonsmooth,
)
from gradconf.richardson import directional, one_sided
from gradconf.runner import run_check


def _oracle(one_case, function, inputs):
    flow = ", ".join(f"{n}: {list(map(float, np.ravel(v)))}" for n, v in inputs.items())
    case = one_case(f"""
        id: k
        title: k
        source: {{note: t, section: t}}
        inputs: {{{flow}}}
        function: {function}
        dtypes: [float64]
        checks: [vjp, jvp, hessian]
    """)
    return case, Oracle(case, "float64", case.wrt)


@pytest.mark.parametrize(("text", "expected"), [
    ("x**2", False), ("x**0", False), ("x**1.5", True), ("x**-1", True), ("abs(x)", True),
    ("exp(x) * sin(x)", False), ("relu(x)", True), ("norm(x)", True), ("sqrt(x)", True),
])
def test_nonsmooth_programs_are_recognised(text, expected):
    assert nonsmooth(parse(text, ["x"])) is expected


@pytest.mark.parametrize(("function", "point", "lo", "hi", "kinked"), [
    ("sum(abs(x))", [0.0, 1.0, -2.0], [-1.0, 1.0, -1.0], [1.0, 1.0, -1.0], [True, False, False]),
    ("sum(relu(x))", [-1.0, 0.0, 2.0], [0.0, 0.0, 1.0], [0.0, 1.0, 1.0], [False, True, False]),
    ("max(x)", [1.0, 3.0, 3.0, 2.0], [0.0, 0.0, 0.0, 0.0], [0.0, 1.0, 1.0, 0.0],
     [False, True, True, False]),
    ("norm(x)", [0.0, 0.0], [-1.0, -1.0], [1.0, 1.0], [True, True]),
])
def test_kinks_give_the_subgradient_interval(one_case, function, point, lo, hi, kinked):
    _, o = _oracle(one_case, function, {"x": point})
    (g,) = o.vjp(np.array(1.0)).values()
    assert g.classification == "kink"
    np.testing.assert_allclose(g.lo, lo, atol=1e-9)
    np.testing.assert_allclose(g.hi, hi, atol=1e-9)
    assert list(g.lo != g.hi) == kinked


def test_a_tie_in_maximum_is_a_kink_in_both_arguments(one_case):
    _, o = _oracle(one_case, "sum(maximum(a, b))", {"a": [1.0, 2.0], "b": [1.0, 3.0]})
    grads = o.vjp(np.array(1.0))
    for name, smooth_value in (("a", 0.0), ("b", 1.0)):
        np.testing.assert_allclose(grads[name].lo, [0.0, smooth_value], atol=1e-9)
        np.testing.assert_allclose(grads[name].hi, [1.0, smooth_value], atol=1e-9)


def test_smooth_points_of_nonsmooth_programs_stay_smooth(one_case):
    _, o = _oracle(one_case, "sum(abs(x)) + sum(relu(x))", {"x": [0.5, -1.5, 2.0]})
    jac = o.jacobian()
    assert jac.classification == "smooth" and jac.lo is None
    np.testing.assert_allclose(jac.value, [2.0, -1.0, 2.0], atol=1e-10)


def test_a_domain_edge_is_undefined_and_other_entries_right(one_case):
    _, o = _oracle(one_case, "sum(sqrt(x))", {"x": [0.0, 1.0]})
    jac = o.jacobian()
    assert jac.classification == "undefined"
    assert np.isnan(jac.value[0]) and jac.value[1] == pytest.approx(0.5, rel=1e-9)


def test_outside_the_domain_nothing_is_defined(one_case):
    """sum(log(x)) at x[0] = 0 is -inf itself: no entry of its gradient exists."""
    _, o = _oracle(one_case, "sum(log(x))", {"x": [0.0, 1.0]})
    jac = o.jacobian()
    assert jac.classification == "undefined" and np.all(np.isnan(jac.value))


def test_no_second_derivative_at_a_kink(one_case):
    _, o = _oracle(one_case, "sum(relu(x))", {"x": [-1.0, 0.0, 2.0]})
    hess = o.hessian(np.array(1.0))["x,x"]
    assert hess.classification == "undefined" and np.all(np.isnan(hess.value))
    _, o = _oracle(one_case, "sum(relu(x))", {"x": [-1.0, 0.5, 2.0]})
    np.testing.assert_allclose(o.hessian(np.array(1.0))["x,x"].value, 0.0, atol=1e-9)


def test_a_jump_is_a_discontinuity():
    """The language has no step function; the classifier sees one through its inputs."""
    def step(x):
        return np.atleast_1d(np.where(x[0] >= 0.0, 1.0, 0.0) + x[1])
    x0, d = np.array([0.0, 0.0]), np.array([1.0, 0.0])
    center = step(x0)
    value, err = directional(step, x0, [d], center)
    right, left = one_sided(step, x0, d, center, 1.0), one_sided(step, x0, d, center, -1.0)
    jump = np.abs(step(x0 + 1e-9 * d) - step(x0 - 1e-9 * d))
    _, _, kind, _, _ = classify(value, err, right, left, center, jump)
    assert kind.tolist() == [DISCONTINUITY]
    # and the same machinery calls a smooth direction smooth
    d2 = np.array([0.0, 1.0])
    value, err = directional(step, x0, [d2], center)
    r2, l2 = one_sided(step, x0, d2, center, 1.0), one_sided(step, x0, d2, center, -1.0)
    _, _, kind, _, _ = classify(value, err, r2, l2, center, np.zeros(1))
    assert kind.tolist() == [SMOOTH] and KINK != UNDEFINED


class _Chooses(Adapter):
    """An adapter whose gradient is scripted: the value it 'chose' at the kink."""

    name = "scripted"

    def __init__(self, chosen: float) -> None:
        self.chosen = chosen

    def version(self) -> str:
        return "0"

    def vjp(self, prog, env, wrt, cotangent):
        return {"x": np.array([self.chosen, 1.0, -1.0])}


@pytest.mark.parametrize(("chosen", "verdict"), [
    (0.0, "convention"), (0.5, "convention"), (-1.0, "convention"), (1.0, "convention"),
    (1.5, "mismatch"), (np.nan, "nan"), (np.inf, "inf"),
])
def test_the_runner_judges_a_choice_against_the_interval(one_case, chosen, verdict):
    case, _ = _oracle(one_case, "sum(abs(x))", {"x": [0.0, 1.0, -2.0]})
    check = next(c for c in case.checks if c.kind == "vjp")
    rec = run_check(case, check, "float64", _Chooses(chosen), "0")
    assert rec["verdict"] == verdict, rec["message"]
    assert rec["classification"] == "kink"
    if verdict == "convention":
        assert rec["message"] == f"x[0]: kink, chose {chosen:.6g} in [-1, 1]"
        assert rec["subgradient"]["x"]["lo"]["data"] == pytest.approx([-1.0, 1.0, -1.0])
