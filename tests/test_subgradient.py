"""Whole-gradient validity at kinks (gradconf.subgradient): a gradient inside every entry's
interval can still be no generalised gradient; valid ones stay conventions."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.adapter import Adapter
from gradconf.runner import run_check


class _Says(Adapter):
    """An adapter whose vjp and Jacobian are scripted."""

    name = "scripted"

    def __init__(self, grads: dict[str, list[float]]) -> None:
        self.grads = {k: np.asarray(v, dtype=np.float64) for k, v in grads.items()}

    def version(self) -> str:
        return "0"

    def vjp(self, prog, env, wrt, cotangent):
        return {n: self.grads[n] * np.asarray(cotangent) for n in wrt}

    def jacobian(self, prog, env, wrt, mode):
        return dict(self.grads)


def _case(one_case, function: str, inputs: dict[str, list[float]], checks: str = "[vjp]"):
    flow = ", ".join(f"{n}: {v}" for n, v in inputs.items())
    return one_case(f"""
        id: whole-gradient
        title: t
        source: {{note: t, section: t}}
        inputs: {{{flow}}}
        function: {function}
        dtypes: [float64]
        checks: {checks}
    """)


def _judge(one_case, function, inputs, grads, kind="vjp"):
    case = _case(one_case, function, inputs, "[vjp]" if kind == "vjp" else "[jacobian]")
    check = next(c for c in case.checks if c.kind == kind)
    return run_check(case, check, "float64", _Says(grads), "0")


# (function, point, a valid generalised gradient, an invalid one inside every entry's
# interval, where the invalid one's excess shows)
CASES = [
    # max at a three-way tie: the simplex; (1, 1, 0) sums to 2
    ("max(x)", {"x": [1.0, 1.0, 1.0]}, {"x": [1 / 3, 1 / 3, 1 / 3]}, {"x": [1.0, 1.0, 0.0]}),
    ("max(x)", {"x": [2.0, 2.0, 0.0]}, {"x": [1.0, 0.0, 0.0]}, {"x": [0.0, 0.0, 0.0]}),
    # maximum at a tie in both entries: a + b weights summing to one per entry
    ("sum(maximum(a, b))", {"a": [1.0, 2.0], "b": [1.0, 2.0]},
     {"a": [0.5, 1.0], "b": [0.5, 0.0]}, {"a": [1.0, 1.0], "b": [1.0, 0.0]}),
    # abs of a sum at zero: g = t (1, 1) with |t| <= 1; (1, -1) is not of that form
    ("abs(sum(x))", {"x": [1.0, -1.0]}, {"x": [0.3, 0.3]}, {"x": [1.0, -1.0]}),
    # 1-norm at zero: the box [-1, 1]^2 (every box point is valid: no invalid one inside)
    # 2-norm at zero: the unit disc; the box corner (1, 1) is outside it
    ("norm(x, ord=2)", {"x": [0.0, 0.0]}, {"x": [0.6, -0.8]}, {"x": [1.0, 1.0]}),
    ("norm(x)", {"x": [0.0, 0.0, 0.0]}, {"x": [0.0, 0.0, 0.0]}, {"x": [0.9, 0.9, 0.0]}),
    # inf-norm at zero: the 1-norm ball; (1, 1) has 1-norm 2
    ("norm(x, ord=inf)", {"x": [0.0, 0.0]}, {"x": [0.5, -0.5]}, {"x": [1.0, 1.0]}),
    # inf-norm at a tie away from zero: the segment between e1 and e2
    ("norm(x, ord=inf)", {"x": [1.0, 1.0]}, {"x": [0.25, 0.75]}, {"x": [1.0, 1.0]}),
    # relu compositions: relu(x0 + x1) at 0 is t (1, 1) with t in [0, 1]; relu(s) - relu(-s)
    # is s itself, smooth: its gradient (1, 1) is judged entry by entry
    ("relu(sum(x))", {"x": [0.5, -0.5]}, {"x": [0.0, 0.0]}, {"x": [1.0, 0.0]}),
    ("relu(sum(x)) - relu(-sum(x))", {"x": [0.5, -0.5]}, {"x": [1.0, 1.0]}, {"x": [1.0, 0.0]}),
]


@pytest.mark.parametrize(("function", "point", "valid", "invalid"), CASES)
def test_a_valid_generalised_gradient_is_a_convention(one_case, function, point, valid,
                                                      invalid):
    rec = _judge(one_case, function, point, valid)
    assert rec["verdict"] in ("convention", "pass"), rec["message"]
    if rec["classification"] == "kink":
        assert rec["generalised_gradient"]["valid"] is True
        assert rec["generalised_gradient"]["samples"] >= 24


@pytest.mark.parametrize(("function", "point", "valid", "invalid"), CASES)
def test_an_invalid_gradient_inside_the_entrywise_box_is_a_mismatch(one_case, function, point,
                                                                    valid, invalid):
    rec = _judge(one_case, function, point, invalid)
    assert rec["verdict"] == "mismatch", rec["message"]
    if rec["classification"] == "kink":  # at a smooth point the entries decide alone
        assert "not a generalised gradient: along d = " in rec["message"]
        whole = rec["generalised_gradient"]
        assert whole["valid"] is False and whole["slope"] > whole["bound"]


def test_the_three_way_tie_of_max_is_caught_by_the_whole_gradient_alone(one_case):
    """Every entry of (1, 1, 0) lies in its interval [0, 1]: only the whole check sees it."""
    rec = _judge(one_case, "max(x)", {"x": [1.0, 1.0, 1.0]}, {"x": [1.0, 1.0, 0.0]})
    assert rec["classification"] == "kink"
    assert rec["verdict"] == "mismatch"
    whole = rec["generalised_gradient"]
    # the separating direction is (1, 1, 0)/√2: slope √2, max rises 1/√2 that way
    assert whole["slope"] == pytest.approx(np.sqrt(2), rel=1e-6)
    assert whole["bound"] == pytest.approx(1 / np.sqrt(2), rel=1e-6)
    np.testing.assert_allclose(whole["direction"], [2 ** -0.5, 2 ** -0.5, 0.0], atol=1e-6)
    assert "x [0.707, 0.707, 0]" in rec["message"]


def test_every_row_of_a_jacobian_is_checked(one_case):
    """relu of each entry of x0 + x1 and x0 - x1 at (0, 0): each row is t (1, ±1); a row
    (1, 0) is in the entry-wise box [0, 1] x [-1, 1] but not of that form."""
    good = {"x": [[0.5, 0.5], [0.0, -0.0]]}
    bad = {"x": [[0.5, 0.5], [1.0, 0.0]]}
    fn = "relu(stack([x[0] + x[1], x[0] - x[1]]))"
    rec = _judge(one_case, fn, {"x": [0.0, 0.0]}, good, kind="jacobian")
    assert rec["verdict"] == "convention", rec["message"]
    assert rec["generalised_gradient"]["rows"] == 2
    rec = _judge(one_case, fn, {"x": [0.0, 0.0]}, bad, kind="jacobian")
    assert rec["verdict"] == "mismatch"
    assert rec["message"].startswith("row [1] of the Jacobian: not a generalised gradient")


def test_smooth_points_are_not_sampled(one_case):
    rec = _judge(one_case, "max(x)", {"x": [1.0, 2.0, 0.0]}, {"x": [0.0, 1.0, 0.0]})
    assert rec["verdict"] == "pass" and "generalised_gradient" not in rec
