"""The TensorFlow adapter's compiled execution: tf.function(jit_compile=True) equals eager."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.adapter import Unsupported
from gradconf.runner import env_for

# the adapter first: it quiets TF's C++ logging before importing tensorflow
tf_adapter = pytest.importorskip("gradconf_adapters.tf_adapter")
tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tensorflow

SMOOTH = """
    id: smooth
    title: a smooth function of two inputs
    source: {note: t, section: t}
    inputs: {x: [0.3, -1.2, 0.7], y: [[0.5, 1.5, -0.25], [2.0, -0.5, 1.0]]}
    function: |
      h = tanh(y @ x)
      sum(exp(sin(x)) * x) + sum(h * h) + sum(log1p(y * y))
"""


@pytest.fixture(scope="module")
def ad():
    """One eager adapter for the module (its warm-up builds TF's kernels)."""
    return tf_adapter.TensorflowAdapter()


@pytest.fixture
def comp(ad):
    """A fresh compiled twin: its own, empty cache of compiled steps."""
    return ad.compiled()


@pytest.fixture
def smooth(one_case):
    return one_case(SMOOTH)


def close(a, b, ulps: int = 8) -> None:
    """Equal within a few units in the last place of their magnitude."""
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape and a.dtype == b.dtype
    eps = np.finfo(a.dtype).eps
    np.testing.assert_allclose(a, b, rtol=ulps * eps, atol=ulps * eps * max(1.0, np.abs(a).max()))


def same(a: dict, b: dict, ulps: int = 8) -> None:
    assert list(a) == list(b)
    for k in a:
        close(a[k], b[k], ulps)


def test_the_twin_names_its_compiler_and_leaves_the_adapter_eager(ad, comp):
    assert comp.execution == "compiled" and ad.execution == "eager"
    assert "jit_compile=True" in tf_adapter.TensorflowAdapter.compiler


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_check_equals_eager(ad, comp, smooth, dtype):
    env = env_for(smooth, dtype)
    prog, wrt = smooth.program, ("x", "y")
    v = np.asarray(0.75, dtype=dtype)
    us = {"x": np.array([1.0, -2.0, 0.5], dtype), "y": np.full((2, 3), 0.25, dtype)}
    same(ad.value(prog, env), comp.value(prog, env))
    same(ad.vjp(prog, env, wrt, v), comp.vjp(prog, env, wrt, v))
    close(ad.jvp(prog, env, wrt, us), comp.jvp(prog, env, wrt, us))
    for mode in ("rev", "fwd", "loop"):
        same(ad.jacobian(prog, env, wrt, mode), comp.jacobian(prog, env, wrt, mode))
    same(ad.hessian(prog, env, wrt, v), comp.hessian(prog, env, wrt, v), ulps=16)
    vs = [v, np.ones(3, dtype), np.array([1.0, 0.0, -1.0], dtype)]
    for order in (1, 2, 3):
        close(ad.derivative(prog, env, "x", vs[:order]),
              comp.derivative(prog, env, "x", vs[:order]), ulps=16)


def test_matrix_outputs_and_named_intermediates(ad, comp, one_case):
    case = one_case("""
        id: mat
        title: a matrix output with a named intermediate and a Python number
        source: {note: t, section: t}
        inputs: {X: [[1.0, 2.0], [0.5, -1.0]]}
        function: |
          c = 2.0
          s = sin(X)
          s @ X * c
    """)
    env = env_for(case, "float64")
    eager, compiled = ad.value(case.program, env), comp.value(case.program, env)
    same(eager, compiled)
    for mode in ("rev", "fwd", "loop"):
        same(ad.jacobian(case.program, env, ("X",), mode),
             comp.jacobian(case.program, env, ("X",), mode))


def test_values_are_computed_again_and_at_another_dtype(ad, comp, one_case):
    # the named Python number is kept beside the traced function: a second call, and a
    # retrace at another dtype, find it (they raised KeyError once)
    case = one_case("""
        id: twice
        title: a value with a Python number, computed twice and at two dtypes
        source: {note: t, section: t}
        inputs: {x: [1.0, -2.0]}
        function: |
          c = 3.0
          x * c
    """)
    for dtype in ("float64", "float64", "float32", "float64"):
        env = env_for(case, dtype)
        same(ad.value(case.program, env), comp.value(case.program, env))


def test_a_second_call_reuses_the_compiled_function(comp, smooth):
    env = env_for(smooth, "float64")
    prog, wrt, v = smooth.program, ("x", "y"), np.float64(1.0)
    first = comp.vjp(prog, env, wrt, v)
    (fn,) = comp._steps.values()
    assert fn.experimental_get_tracing_count() == 1
    # new arrays (another cotangent, other input values) of the same types: no retrace
    moved = {n: a + 0.125 for n, a in env.items()}
    second = comp.vjp(prog, moved, wrt, np.float64(2.0))
    assert fn.experimental_get_tracing_count() == 1
    assert not np.array_equal(first["x"], second["x"])
    comp.vjp(prog, env, wrt, v)
    assert fn.experimental_get_tracing_count() == 1
    # another dtype traces once more, into the same function
    comp.vjp(prog, env_for(smooth, "float32"), wrt, np.float32(1.0))
    assert fn.experimental_get_tracing_count() == 2


def test_a_new_program_clears_the_cache(comp, smooth, cube):
    comp.value(smooth.program, env_for(smooth, "float64"))
    comp.jacobian(smooth.program, env_for(smooth, "float64"), ("x",), "rev")
    assert len(comp._steps) == 2
    comp.value(cube.program, env_for(cube, "float64"))
    assert len(comp._steps) == 1


def test_the_compiled_step_is_xla(comp, smooth):
    env = env_for(smooth, "float64")
    comp.vjp(smooth.program, env, ("x",), np.float64(1.0))
    (fn,) = comp._steps.values()
    args = (comp.tensors(env), tf.constant(np.float64(1.0)))
    hlo = fn.experimental_get_compiler_ir(*args)(stage="hlo")
    assert "HloModule" in hlo and "ENTRY" in hlo
    assert fn._jit_compile is True  # compiled as a whole by XLA, not auto-clustered


def test_what_xla_cannot_compile_is_unsupported_with_the_reason(comp, ad, one_case):
    """No XLA kernel for the determinant, a norm needing a compile-time constant: the
    compiled check is unsupported, naming the limit; eager runs both."""
    det = one_case("""
        id: det-xla
        title: det
        source: {note: test, section: test}
        inputs:
          X: [[2., 1.], [1., 3.]]
        function: det(X)
        checks: [value]
    """)
    env = env_for(det, "float64")
    assert ad.value(det.program, env)["out"] == pytest.approx(5.0)
    with pytest.raises(Unsupported, match="XLA has no kernel for MatrixDeterminant"):
        comp.value(det.program, env)
