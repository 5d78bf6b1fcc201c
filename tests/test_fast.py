"""Fast mode (projections, constant cost, bisection to the worst entry) and the repeated
computation that catches nondeterminism, with scripted NumPy adapters."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf import richardson
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


def test_the_shared_step_stencil_is_the_masked_one_bit_for_bit():
    # x0 ± h·d from one step is what the masked construction gives; it is taken only when
    # x0 has no -0.0, which x0 + 0.0 would turn into +0.0
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal(1000)
    x0[::7] = 0.0
    d = rng.standard_normal(1000)
    d[::5] = 0.0
    seen: list[np.ndarray] = []

    def f(x: np.ndarray) -> np.ndarray:
        seen.append(x.copy())
        return np.asarray(np.sum(np.sin(x) * x))

    def stencil(h: float, negative_zeros: bool) -> tuple[np.ndarray, np.ndarray]:
        points = richardson._stencil_points(x0, [d], h, negative_zeros)
        return richardson._combine([s for s, _ in points], [f(p()) for _, p in points], h, 1)
    for h in (0.125, 2.0**-20, 3e-7):
        seen.clear()
        fast = stencil(h, negative_zeros=False)
        shared = list(seen)
        seen.clear()
        masked = stencil(h, negative_zeros=True)
        assert [p.tobytes() for p in shared] == [p.tobytes() for p in seen]
        assert [np.asarray(a).tobytes() for a in fast] == [np.asarray(a).tobytes()
                                                           for a in masked]


def test_a_negative_zero_the_step_does_not_move_keeps_its_sign():
    x0 = np.array([-0.0, 1.0, 0.0])
    d = np.array([0.0, 1.0, 1.0])
    assert richardson._signed_zeros(x0) and not richardson._signed_zeros(np.abs(x0))
    points: list[np.ndarray] = []
    richardson.directional(lambda x: points.append(x.copy()) or np.asarray(np.sum(x)), x0,
                           [d], np.asarray(1.0))
    assert points and all(np.signbit(p[0]) and p[0] == 0 for p in points)


CHURN = """
import resource, sys
import numpy as np
if sys.argv[1] == "held":
    from gradconf.allocator import hold_freed_memory
    assert hold_freed_memory()
x = np.ones(2**20)  # 8 MB: three temporaries of it at a time, as a perturbed evaluation has
def churn():
    a = x + 1.0; b = a * 2.0; c = b - x; return float(c[0])
churn()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    churn()
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def test_the_run_keeps_freed_memory_for_its_next_arrays():
    import platform
    import subprocess
    import sys
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        pytest.skip("the thresholds are glibc's")

    def faults(mode: str) -> int:
        return int(subprocess.run([sys.executable, "-c", CHURN, mode], check=True,
                                  capture_output=True, text=True).stdout)
    # by default glibc hands the freed arrays back and faults them in again (about 2,000
    # pages per 8 MB array); held, they are reused
    assert faults("held") < faults("default") / 10
