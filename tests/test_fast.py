"""Fast mode (projections, constant cost, bisection to the worst entry) and the repeated
computation that catches nondeterminism, with scripted NumPy adapters."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.adapter import Adapter
from gradconf.fast import FAST_THRESHOLD, wants_fast
from gradconf.oracle import oracle_for
from gradconf.runner import run_check


class Cubes(Adapter):
    """sum(x**3) and x**3 computed by hand, optionally wrong at one entry or everywhere."""

    name = "cubes"

    def __init__(self, bad_index: int | None = None, bad_by: float = 0.0,
                 relative: float = 0.0) -> None:
        self.bad_index, self.bad_by, self.relative = bad_index, bad_by, relative
        self.calls = 0

    def version(self) -> str:
        return "0"

    def _spoil(self, a: np.ndarray) -> np.ndarray:
        a = a * (1.0 + self.relative)
        if self.bad_index is not None:
            a.reshape(-1)[self.bad_index] += self.bad_by
        return a

    def vjp(self, prog, env, wrt, cotangent):
        x = env["x"]
        return {"x": self._spoil(3 * x**2 * cotangent)}

    def jvp(self, prog, env, wrt, tangents):
        x = env["x"]
        return self._spoil(3 * x**2 * tangents["x"])

    def derivative(self, prog, env, wrt, cotangents):
        x = env["x"]
        return self._spoil(6 * x * cotangents[0] * cotangents[1])


def _case(one_case, n: int, function: str = "x**3", fast: str = ""):
    return one_case(f"""
        id: big-{n}
        title: large
        source: {{note: t, section: t}}
        inputs:
          x: {{shape: [{n}], init: uniform, low: 0.5, high: 2.0, seed: 1}}
        function: {function}
        dtypes: [float64]
        checks: [vjp, jvp, derivative: {{order: 2}}]
        {fast}
    """)


def _check(case, kind):
    return next(c for c in case.checks if c.kind == kind)


def test_fast_mode_is_chosen_by_size_flag_or_request(one_case):
    small, big = _case(one_case, 10), _case(one_case, FAST_THRESHOLD + 1)
    assert not wants_fast(small, None) and wants_fast(big, None)
    assert wants_fast(small, True) and not wants_fast(big, False)
    assert wants_fast(_case(one_case, 10, fast="fast: true"), None)


@pytest.mark.parametrize("kind", ["vjp", "jvp", "derivative"])
def test_a_correct_result_passes_at_a_cost_independent_of_size(one_case, kind):
    evaluations = []
    for n in (5_000, 200_000):
        case = _case(one_case, n)
        rec = run_check(case, _check(case, kind), "float64", Cubes(), "0")
        assert (rec["verdict"], rec["mode"]) == ("pass", "fast"), rec["message"]
        evaluations.append(rec["oracle_evaluations"])
    assert evaluations[0] == evaluations[1] < 100


def test_fast_and_exact_agree_on_a_small_case(one_case):
    case = _case(one_case, 50)
    for fast in (True, False):
        rec = run_check(case, _check(case, "vjp"), "float64", Cubes(), "0", fast=fast)
        assert rec["verdict"] == "pass" and rec["mode"] == ("fast" if fast else "exact")


def test_a_wrong_entry_is_found_by_bisection(one_case):
    case = _case(one_case, 20_000)
    rec = run_check(case, _check(case, "vjp"), "float64", Cubes(bad_index=12_345, bad_by=0.5),
                    "0")
    assert rec["verdict"] == "mismatch"
    assert (rec["worst"]["name"], rec["worst"]["index"]) == ("x", [12_345])
    x = oracle_for(case, "float64", ("x",)).point["x"][12_345]
    assert rec["worst"]["reference"] == pytest.approx(3 * x**2, rel=1e-6)
    assert rec["worst"]["observed"] == pytest.approx(3 * x**2 + 0.5)
    # bisection costs two directional derivatives per halving: logarithmic in the size
    assert rec["oracle_evaluations"] < 40 * 2 * 16


def test_a_wrong_output_entry_of_a_jvp_is_found(one_case):
    case = _case(one_case, 20_000)
    rec = run_check(case, _check(case, "jvp"), "float64", Cubes(bad_index=777, bad_by=0.5), "0")
    assert rec["verdict"] == "mismatch"
    assert (rec["worst"]["name"], rec["worst"]["index"]) == ("out", [777])


@pytest.mark.parametrize("kind", ["vjp", "jvp", "derivative"])
def test_a_small_relative_error_everywhere_is_caught(one_case, kind):
    case = _case(one_case, 100_000)
    rec = run_check(case, _check(case, kind), "float64", Cubes(relative=1e-7), "0")
    assert rec["verdict"] == "mismatch", rec["projection"]
    assert "signed like the result" in rec["message"]


class Flaky(Cubes):
    """A different last bit on every call."""

    def vjp(self, prog, env, wrt, cotangent):
        self.calls += 1
        out = super().vjp(prog, env, wrt, cotangent)
        return {"x": np.nextafter(out["x"], np.inf) if self.calls % 2 else out["x"]}


def test_results_that_differ_bit_for_bit_are_nondeterministic(one_case):
    case = _case(one_case, 10)
    rec = run_check(case, _check(case, "vjp"), "float64", Flaky(), "0")
    assert rec["verdict"] == "nondeterministic"
    assert rec["message"].startswith("run 2 differs from run 1 bit for bit: x by up to")
    assert 0 < rec["repeat_max_diff"] < 1e-12
    assert run_check(case, _check(case, "vjp"), "float64", Cubes(), "0")["verdict"] == "pass"
    assert run_check(case, _check(case, "vjp"), "float64", Flaky(), "0",
                     repeat=1)["verdict"] == "pass"
