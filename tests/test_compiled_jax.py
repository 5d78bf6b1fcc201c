"""The JAX adapter's compiled execution: every check under one ``jax.jit``, equal to eager
within a few ulps, traced once and called again without retracing."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from gradconf.runner import env_for

jax = pytest.importorskip("jax")
jax_adapter = pytest.importorskip("gradconf_adapters.jax_adapter")
pytestmark = pytest.mark.jax

SMOOTH = """
id: smooth
title: two inputs, a constant and a named intermediate
source: {note: t, section: t}
inputs:
  x: [0.3, -0.7, 1.1]
  y: [[0.5, 0.2, -0.4], [1.3, 0.1, 0.9]]
constants:
  W: [[0.25, -1.5], [2.0, 0.75], [-0.5, 1.25]]
function: "h = tanh(y @ x); h * exp(sin(y @ W @ h)) + sum(x * x)"
"""
WRT = ("x", "y")
RNG = np.random.default_rng(0)
COT = RNG.standard_normal(2)
TANGENTS = {"x": RNG.standard_normal(3), "y": RNG.standard_normal((2, 3))}
COTS_X = [RNG.standard_normal(2), RNG.standard_normal(3), RNG.standard_normal(3)]


@pytest.fixture(scope="module")
def ad():
    """One eager adapter for the module (it warms up JAX's transforms once)."""
    return jax_adapter.JaxAdapter()


@pytest.fixture
def smooth(one_case):
    return one_case(SMOOTH)


def calls(ad: Any, prog: Any, env: dict[str, np.ndarray],
          dtype: str) -> dict[str, Callable[[], Any]]:
    """Every check kind on ``prog``, by name: each returns the check's arrays."""
    def typed(a: np.ndarray) -> np.ndarray:
        return a.astype(dtype)
    tangents = {n: typed(t) for n, t in TANGENTS.items()}
    return {
        "value": lambda: ad.value(prog, env),
        "vjp": lambda: ad.vjp(prog, env, WRT, typed(COT)),
        "jvp": lambda: {"out": ad.jvp(prog, env, WRT, tangents)},
        **{f"jacobian-{m}": (lambda m=m: ad.jacobian(prog, env, WRT, m))
           for m in ("rev", "fwd", "loop")},
        "hessian": lambda: ad.hessian(prog, env, WRT, typed(COT)),
        "derivative-2": lambda: {"x": ad.derivative(prog, env, "x",
                                                    [typed(c) for c in COTS_X[:2]])},
        "derivative-3": lambda: {"x": ad.derivative(prog, env, "x",
                                                    [typed(c) for c in COTS_X])},
    }


KINDS = ("value", "vjp", "jvp", "jacobian-rev", "jacobian-fwd", "jacobian-loop", "hessian",
         "derivative-2", "derivative-3")


def test_compiler_is_named_and_eager_stays_eager(ad):
    assert jax_adapter.JaxAdapter.compiler == "jax.jit (XLA)"
    comp = ad.compiled()
    assert ad.execution == "eager" and comp.execution == "compiled"
    assert comp is not ad and comp._jitted is not getattr(ad, "_jitted", None)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_compiled_equals_eager_within_a_few_ulps(ad, smooth, dtype):
    env = env_for(smooth, dtype)
    eager = calls(ad, smooth.program, env, dtype)
    comp = calls(ad.compiled(), smooth.program, env, dtype)
    eps = np.finfo(dtype).eps
    for kind in KINDS:
        want, got = eager[kind](), comp[kind]()
        assert set(got) == set(want), kind
        for name, w in want.items():
            g = got[name]
            assert isinstance(g, np.ndarray), (kind, name)
            assert g.dtype == w.dtype == np.dtype(dtype), (kind, name)
            assert g.shape == w.shape, (kind, name)
            scale = max(1.0, float(np.max(np.abs(w))))
            np.testing.assert_allclose(g, w, rtol=8 * eps, atol=8 * eps * scale,
                                       err_msg=f"{kind} {name}")


def counting(adapter: Any) -> dict[str, Any]:
    """Count the program evaluations of ``adapter`` (compiled, each happens while tracing)
    and record, per evaluation, which sources were tracers."""
    seen: dict[str, Any] = {"calls": 0, "tracers": []}
    forward = adapter.forward

    def spy(prog: Any, arrays: Any, hook: Any = None) -> Any:
        seen["calls"] += 1
        seen["tracers"].append({n for n, a in arrays.items() if isinstance(a, jax.core.Tracer)})
        return forward(prog, arrays, hook)
    adapter.forward = spy
    return seen


def test_second_call_does_not_retrace(ad, smooth):
    comp = ad.compiled()
    seen = counting(comp)
    env = env_for(smooth, "float64")
    checks = calls(comp, smooth.program, env, "float64")
    for kind in KINDS:
        before = seen["calls"]
        first = checks[kind]()
        traced = seen["calls"]
        assert traced > before, f"{kind}: the first call did not trace"
        second = checks[kind]()
        assert seen["calls"] == traced, f"{kind}: the second call traced again"
        for name, a in first.items():
            np.testing.assert_array_equal(second[name], a)
    # one jitted function per check, each with exactly one compiled executable
    assert len(comp._jitted) == len(KINDS)
    assert all(f._cache_size() == 1 for f in comp._jitted.values())


def test_the_compiled_path_runs_under_jit(ad, smooth):
    comp = ad.compiled()
    seen = counting(comp)
    env = env_for(smooth, "float32")
    for kind, call in calls(comp, smooth.program, env, "float32").items():
        seen["tracers"].clear()
        call()
        # even the constant W, a concrete array eagerly, is a traced argument of the jit
        assert seen["tracers"] and all(t == {"x", "y", "W"} for t in seen["tracers"]), kind
    eager = copy.copy(ad)
    eager_seen = counting(eager)
    for kind, call in calls(eager, smooth.program, env, "float32").items():
        eager_seen["tracers"].clear()
        call()
        assert all("W" not in t for t in eager_seen["tracers"]), kind
    eager_seen["tracers"].clear()
    eager.value(smooth.program, env)
    assert eager_seen["tracers"] == [set()]  # eager value: no tracer at all


def test_a_new_program_empties_the_cache(ad, smooth, cube):
    comp = ad.compiled()
    comp.vjp(smooth.program, env_for(smooth, "float64"), WRT, COT)
    assert len(comp._jitted) == 1
    comp.value(cube.program, env_for(cube, "float64"))
    assert list(comp._jitted) == [("value",)] and comp._jit_program is cube.program


def test_a_new_dtype_compiles_once_more_in_the_same_jitted_function(ad, smooth):
    comp = ad.compiled()
    seen = counting(comp)
    for dtype in ("float32", "float64", "float32", "float64"):
        comp.vjp(smooth.program, env_for(smooth, dtype), WRT, COT.astype(dtype))
    assert seen["calls"] == 2
    (jitted,) = comp._jitted.values()
    assert jitted._cache_size() == 2


def test_pooling_differentiates_under_jit(ad, one_case):
    """A jnp.array init of lax.reduce_window is a tracer under jit, where lax no longer
    recognises the max/sum monoid and the generic reduce_window has no derivative: the
    lowering passes a NumPy init, so compiled pooling differentiates like eager."""
    case = one_case("""
        id: pools
        title: pools
        source: {note: t, section: t}
        inputs: {x: [[[0.3, -1.2, 2.0, 0.5, 1.1, -0.4], [1.5, 1.0, -0.25, -2.0, 0.6, 0.9]]]}
        function: "max_pool1d(x, kernel=2) + avg_pool1d(x, kernel=2)"
    """)
    env, cot = env_for(case, "float64"), np.arange(6.0).reshape(1, 2, 3)
    want = ad.vjp(case.program, env, ("x",), cot)["x"]
    np.testing.assert_array_equal(ad.compiled().vjp(case.program, env, ("x",), cot)["x"], want)
