"""The JAX adapter on its own: lowerings, each check kind, dtypes, probes, error mapping."""

from __future__ import annotations

import numpy as np
import pytest

from adapter_contract import assert_checks_on_x_cubed, assert_lowering, lowering_params
from gradconf.adapter import ProbeInputs
from gradconf.kinds import ERROR_KINDS, PROBE_KINDS, WARNING_KINDS
from gradconf.ops import OPS
from gradconf.runner import captured, env_for, run_probe
from gradconf.schema import Expect, ProbeSpec

jax = pytest.importorskip("jax")
jax_adapter = pytest.importorskip("gradconf_adapters.jax_adapter")
pytestmark = pytest.mark.jax


@pytest.fixture(scope="module")
def ad():
    """One adapter for the module: it warms up JAX's transforms once."""
    return jax_adapter.JaxAdapter()


def test_every_op_has_exactly_one_lowering():
    assert set(jax_adapter.LOWERING) == set(OPS)


def test_float64_is_on_and_the_backend_is_cpu(ad):
    assert jax.config.jax_enable_x64
    assert jax.default_backend() == "cpu"
    assert ad.version() == jax.__version__


@pytest.mark.parametrize("text", lowering_params(jax_adapter.LOWERING))
def test_lowering_matches_numpy_reference(ad, text):
    assert_lowering(ad, text)


def test_checks_on_x_cubed(ad, cube):
    assert_checks_on_x_cubed(ad, cube)


def test_jacobian_loop_is_one_pullback_per_output_entry(ad, one_case):
    case = one_case("""
        id: outer
        title: outer
        source: {note: t, section: t}
        inputs: {x: [[4.], [1.]]}
        constants: {W: [[2., 4.]]}
        function: X = x**3; X @ W
    """)
    env = env_for(case, "float64")
    jac = {m: ad.jacobian(case.program, env, ("x",), m)["x"] for m in ("rev", "fwd", "loop")}
    expected = [[[[96.], [0.]], [[192.], [0.]]], [[[0.], [6.]], [[0.], [12.]]]]
    for got in jac.values():
        np.testing.assert_allclose(got, expected)
        assert got.shape == (2, 2, 2, 1)


def _every_check(ad, case, dtype):
    env, prog, wrt = env_for(case, dtype), case.program, case.wrt
    out_dt = np.dtype(case.output_dtype(dtype))
    cot = np.ones(case.out_shape, out_dt)
    tangents = {n: np.ones_like(env[n]) for n in wrt}
    return {
        "value": ad.value(prog, env),
        "vjp": ad.vjp(prog, env, wrt, cot),
        "jvp": {"out": ad.jvp(prog, env, wrt, tangents)},
        **{f"jacobian-{m}": ad.jacobian(prog, env, wrt, m) for m in ("rev", "fwd", "loop")},
        "hessian": ad.hessian(prog, env, wrt, cot),
        "derivative": {wrt[0]: ad.derivative(prog, env, wrt[0], [cot, tangents[wrt[0]]])},
    }


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_results_keep_the_run_dtype(ad, cube, dtype):
    results = _every_check(ad, cube, dtype)
    for check, arrays in results.items():
        for name, arr in arrays.items():
            assert arr.dtype == np.dtype(dtype), (check, name)


def test_mixed_dtypes_promote_the_value_and_keep_each_gradient(ad, one_case):
    case = one_case("""
        id: mixed
        title: mixed
        source: {note: t, section: t}
        inputs:
          x: {value: [[1, 2], [2, 3]], dtype: float64}
          y: {value: [[1, 1], [1, 1]], dtype: float32}
        function: "t = x * x; z = 2 * t + 2 * y * y; mean(z)"
        dtypes: [float64]
    """)
    env = env_for(case, "float64")
    values = ad.value(case.program, env)
    assert {n: str(a.dtype) for n, a in values.items()} == {
        "out": "float64", "t": "float64", "z": "float64"}
    grads = ad.vjp(case.program, env, ("x", "y"), np.array(1.0))
    assert (grads["x"].dtype, grads["y"].dtype) == (np.float64, np.float32)
    np.testing.assert_allclose(grads["x"], [[1.0, 2.0], [2.0, 3.0]])
    np.testing.assert_allclose(grads["y"], np.ones((2, 2)))


def test_checks_emit_no_warnings(ad, cube):
    with captured(ad) as caught:
        _every_check(ad, cube, "float32")
    assert caught == []


def _probe(ad, case, kind, **params):
    spec = ProbeSpec(kind=kind, expect=Expect(outcome="value"), **params)
    env = env_for(case, case.dtypes[0])
    cot = np.ones(case.out_shape, dtype=np.float32)
    steps = tuple(None if s == "zero" else np.ones(case.out_shape, np.float32)
                  for s in params.get("steps", ()))
    with captured(ad) as warnings:
        result = ad.probe(spec, case.program, env, case.wrt, ProbeInputs(cot, steps))
    assert result.idiom
    return result, [w.kind for w in warnings]


@pytest.fixture
def square(one_case):
    return one_case("""
        id: sq
        title: square
        source: {note: t, section: t}
        inputs: {x: [1., 2.], u: [5.]}
        constants: {k: {value: [1, 2], dtype: int64}}
        function: "y = x * x; 3 * y"
        dtypes: [float32]
    """)


def test_every_probe_kind_has_a_jax_idiom():
    from gradconf_adapters.jax_probes import PROBES
    assert set(PROBES) == set(PROBE_KINDS)


def test_grad_of_a_nonscalar_function_is_refused(ad, square):
    result, _ = _probe(ad, square, "nonscalar_no_cotangent")
    assert (result.outcome, result.error.kind) == ("error", "non_scalar_output")
    assert "jax.grad(f" in result.idiom


def test_grad_with_every_input_closed_over_has_nothing_to_differentiate(ad, square):
    result, _ = _probe(ad, square, "untracked_inputs")
    assert (result.outcome, result.error.kind) == ("error", "input_not_tracked")


@pytest.mark.parametrize("retain", [False, True])
def test_a_pullback_called_twice_returns_the_same_gradient(ad, square, retain):
    result, _ = _probe(ad, square, "second_pass", retain=retain)
    assert (result.outcome, result.error) == ("value", None)
    assert [list(s["x"]) for s in result.steps] == [[6, 12], [6, 12]]
    assert result.steps[1]["x"].dtype == np.float32


def test_repeated_passes_do_not_accumulate_and_a_reset_shows_zeros(ad, square):
    result, _ = _probe(ad, square, "accumulate", steps=("ones", "zero", "ones"))
    assert result.outcome == "value"
    assert [list(s["x"]) for s in result.steps] == [[6, 12], [0, 0], [6, 12]]
    assert [list(s["u"]) for s in result.steps] == [[0], [0], [0]]
    result, _ = _probe(ad, square, "accumulate", steps=("ones", "ones"))
    assert [list(s["x"]) for s in result.steps] == [[6, 12], [6, 12]]


def test_the_engine_judges_per_pass_accumulation_against_the_oracle(ad, one_case):
    case = one_case("""
        id: acc
        title: acc
        source: {note: t, section: t}
        inputs: {x: [1., 2.]}
        function: "x**2"
        probes:
          - kind: accumulate
            steps: [ones, [2., 3.], zero, ones]
            expect: {outcome: value, accumulates: false}
    """)
    rec = run_probe(case, case.probes[0], ad, ad.version())
    assert (rec["verdict"], rec["message"]) == ("pass", "")


def test_stored_gradient_probes_are_not_applicable(ad, square):
    result, kinds = _probe(ad, square, "nonleaf_grad", of=("y",))
    assert (result.outcome, result.values, kinds) == ("not_applicable", {}, [])
    result, _ = _probe(ad, square, "grad_before_pass")
    assert result.outcome == "not_applicable"


@pytest.mark.parametrize("allow_unused", [False, True])
def test_an_unused_argument_gets_zeros(ad, square, allow_unused):
    result, _ = _probe(ad, square, "unused_input", input="u", allow_unused=allow_unused)
    assert result.outcome == "value"
    np.testing.assert_array_equal(result.values["u"], [0.0])
    assert result.values["u"].dtype == np.float32


def test_grad_of_an_integer_argument_is_refused(ad, square):
    result, _ = _probe(ad, square, "integer_input", input="k")
    assert (result.outcome, result.error.kind) == ("error", "integer_input")
    assert "int64" in result.idiom


def test_combined_before_tracking_leaves_parts_without_grad(ad, one_case):
    case = one_case("""
        id: cat
        title: cat
        source: {note: t, section: t}
        inputs: {x: [[4.], [1.]], t: [[8.], [2.]]}
        function: "X = concat([x, t], axis=1); sum(X * X)"
    """)
    result, _ = _probe(ad, case, "combined_before_tracking", track="X", parts=("x", "t"))
    assert (result.outcome, result.values) == ("absent", {"x": None, "t": None})


def _raised(fn):
    with pytest.raises(Exception) as info:
        fn()
    return info.value


def _jax_failures():
    import jax.numpy as jnp
    m, ints = jnp.ones((2, 2), jnp.float32), jnp.array([1, 2])
    square = lambda z: z**2  # noqa: E731
    return [
        (lambda: jax.grad(square)(m), "non_scalar_output"),
        (lambda: jax.grad(lambda: jnp.sum(m))(), "input_not_tracked"),
        (lambda: jax.grad(lambda z: jnp.sum(z * 1.0))(ints), "integer_input"),
        (lambda: jax.jacfwd(lambda z: z * 1.0)(ints), "integer_input"),
        (lambda: jax.vjp(square, m)[1](jnp.ones(3, jnp.float32)), "shape_mismatch"),
        (lambda: jax.vjp(square, m)[1](jnp.ones((2, 2), jnp.float64)), "dtype_mismatch"),
        (lambda: jax.jvp(square, (m,), (jnp.ones(3, jnp.float32),)), "shape_mismatch"),
        (lambda: jax.jvp(square, (m,), (jnp.ones((2, 2)),)), "dtype_mismatch"),
        (lambda: m + jnp.ones(3), "shape_mismatch"),
        (lambda: m @ jnp.ones(3), "shape_mismatch"),
        (lambda: jnp.reshape(m, (3,)), "shape_mismatch"),
        (lambda: jax.grad(square, argnums=5)(m), "other"),
    ]


def test_jax_errors_map_to_neutral_kinds(ad):
    for fn, kind in _jax_failures():
        exc = _raised(fn)
        assert (ad.error_kind(exc), str(exc)) == (kind, str(exc))
        assert kind in ERROR_KINDS


def test_a_check_lets_the_framework_error_propagate(ad, cube):
    env = env_for(cube, "float64")
    exc = _raised(lambda: ad.vjp(cube.program, env, ("x",), np.ones(3)))
    assert ad.error_kind(exc) == "shape_mismatch"


def test_warning_messages_map_to_neutral_kinds(ad):
    assert ad.warning_kind("DeprecationWarning", "jax.foo will be removed") == "deprecated_api"
    assert ad.warning_kind("UserWarning", "this call is deprecated") == "deprecated_api"
    assert ad.warning_kind("UserWarning", "Explicitly requested dtype float64 is not "
                           "available") == "other"
    assert set(k for _, k in jax_adapter.WARNINGS) <= set(WARNING_KINDS)
