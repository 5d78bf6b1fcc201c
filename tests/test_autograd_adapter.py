"""The HIPS autograd plug-in adapter: registration from outside the engine, lowerings, each
check kind, probes, error mapping, and autograd's dtype behaviour on float32 inputs."""

from __future__ import annotations

from importlib.metadata import distribution

import numpy as np
import pytest

from adapter_contract import A, V, assert_checks_on_x_cubed, assert_lowering, lowering_params
from gradconf.adapter import ProbeInputs, Unsupported, installed, load_adapter, registered
from gradconf.expr import parse
from gradconf.kinds import ERROR_KINDS, PROBE_KINDS, WARNING_KINDS
from gradconf.ops import OPS
from gradconf.runner import captured, env_for
from gradconf.schema import Expect, ProbeSpec

gradconf_autograd = pytest.importorskip("gradconf_autograd")
autograd = pytest.importorskip("autograd")
anp = pytest.importorskip("autograd.numpy")
adapter_module = pytest.importorskip("gradconf_autograd.adapter")
pytestmark = pytest.mark.autograd


@pytest.fixture(scope="module")
def ad():
    """One adapter for the module, loaded the way the engine loads it."""
    return load_adapter("autograd")


# ---------------------------------------------------------------- registration

def test_entry_point_comes_from_the_plug_in_distribution():
    ep = registered()["autograd"]
    assert ep.value == "gradconf_autograd.adapter:AutogradAdapter"
    assert ep.dist is not None and ep.dist.name == "gradconf-autograd"
    assert "autograd" not in (distribution("gradconf").entry_points.names)


def test_load_adapter_instantiates_it(ad):
    assert isinstance(ad, gradconf_autograd.AutogradAdapter)
    assert ad.name == "autograd"
    assert ad.version() == distribution("autograd").version == "1.9.1"
    assert "autograd" in installed()


# ---------------------------------------------------------------- lowerings

def test_every_op_has_exactly_one_lowering():
    assert set(adapter_module.LOWERING) == set(OPS)


@pytest.mark.parametrize("text", lowering_params(adapter_module.LOWERING))
def test_lowering_matches_numpy_reference(ad, text):
    assert_lowering(ad, text)


# ---------------------------------------------------------------- checks

def test_checks_on_x_cubed(ad, cube):
    assert_checks_on_x_cubed(ad, cube)


def test_two_inputs_jacobians_and_cross_hessian_blocks(ad):
    prog = parse("a * b * b", ["a", "b"])
    env = {"a": np.array(2.0), "b": np.array([3.0, 4.0])}
    wrt = ("a", "b")
    for mode in ("rev", "fwd", "loop"):
        jac = ad.jacobian(prog, env, wrt, mode)
        np.testing.assert_allclose(jac["a"], [9.0, 16.0])
        np.testing.assert_allclose(jac["b"], np.diag([12.0, 16.0]))
    assert ad.jvp(prog, env, wrt, {"a": np.array(1.0), "b": np.array([0.0, 1.0])}) == \
        pytest.approx([9.0, 16.0 + 16.0])
    with pytest.warns(UserWarning, match="Output seems independent of input"):
        hess = ad.hessian(prog, env, wrt, np.ones(2))  # d/da is constant in a
    assert hess["a,a"] == pytest.approx(0.0)
    np.testing.assert_allclose(hess["a,b"], [6.0, 8.0])
    np.testing.assert_allclose(hess["b,a"], [6.0, 8.0])
    np.testing.assert_allclose(hess["b,b"], np.diag([4.0, 4.0]))


def test_an_unknown_jacobian_mode_is_unsupported_with_a_reason(ad, cube):
    env = env_for(cube, "float64")
    with pytest.raises(Unsupported, match="jacobian by 'sideways'"):
        ad.jacobian(cube.program, env, ("x",), "sideways")


# ---------------------------------------------------------------- dtypes (not coerced)

def _f32(text, names, **arrays):
    prog = parse(text, names)
    return prog, {n: np.asarray(a, np.float32) for n, a in arrays.items()}


def test_float32_results_stay_float32_where_autograd_keeps_them(ad):
    prog, env = _f32("x ** 2", ["x"], x=[1.0, 2.0])
    assert ad.value(prog, env)["out"].dtype == np.float32
    assert ad.vjp(prog, env, ("x",), np.ones(2, np.float32))["x"].dtype == np.float32
    assert ad.jvp(prog, env, ("x",), {"x": np.ones(2, np.float32)}).dtype == np.float32
    for mode in ("rev", "fwd", "loop"):
        assert ad.jacobian(prog, env, ("x",), mode)["x"].dtype == np.float32


def test_float32_gradient_of_mean_comes_back_float64(ad):
    """autograd's mean vjp divides by a NumPy int64 count: float64 under NumPy 2 promotion.

    Reported, not coerced. With a tuple ``argnum`` autograd adds each gradient in place
    into zeros of its input's dtype, so the same gradient is float32 again.
    """
    prog, env = _f32("mean(x * x)", ["x"], x=[1.0, 2.0])
    one = np.ones((), np.float32)
    assert ad.vjp(prog, env, ("x",), one)["x"].dtype == np.float64
    assert ad.jacobian(prog, env, ("x",), "fwd")["x"].dtype == np.float32
    prog2, env2 = _f32("mean(x * x) + 0 * y", ["x", "y"], x=[1.0, 2.0], y=1.0)
    assert ad.vjp(prog2, env2, ("x", "y"), one)["x"].dtype == np.float32
    np.testing.assert_allclose(ad.vjp(prog, env, ("x",), one)["x"], [1.0, 2.0])


# ---------------------------------------------------------------- probes

def _probe(ad, case, kind, **params):
    spec = ProbeSpec(kind=kind, expect=Expect(outcome="value"), **params)
    env = env_for(case, case.dtypes[0])
    cot = np.ones(case.out_shape, dtype=np.float32)
    steps = tuple(None if s == "zero" else np.ones(case.out_shape, np.float32)
                  for s in params.get("steps", ()))
    with captured(ad) as warnings:
        result = ad.probe(spec, case.program, env, case.wrt, ProbeInputs(cot, steps))
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


def test_probes_with_an_autograd_counterpart(ad, square):
    result, _ = _probe(ad, square, "nonscalar_no_cotangent")
    assert (result.outcome, result.error.kind, result.error.type) == \
        ("error", "non_scalar_output", "TypeError")
    for retain in (False, True):  # the trace lives with the pullback: nothing freed, no sum
        result, _ = _probe(ad, square, "second_pass", retain=retain)
        assert result.outcome == "value"
        assert [list(s["x"]) for s in result.steps] == [[6, 12], [6, 12]]
    result, _ = _probe(ad, square, "accumulate", steps=("ones", "zero", "ones"))
    assert [None if s["x"] is None else list(s["x"]) for s in result.steps] == \
        [[6, 12], None, [6, 12]]
    for allow in (False, True):  # an unused input gets zeros, allow_unused or not
        result, kinds = _probe(ad, square, "unused_input", input="u", allow_unused=allow)
        assert (result.outcome, list(result.values["u"]), kinds) == ("value", [0.0], [])
    result, _ = _probe(ad, square, "integer_input", input="k")
    assert result.outcome == "value"
    assert result.values["k"].dtype == np.int64 and not result.values["k"].any()


@pytest.mark.parametrize(("kind", "params", "why"), [
    ("untracked_inputs", {}, "no tracking state"),
    ("grad_before_pass", {}, "stores no gradient"),
    ("nonleaf_grad", {"of": ("y",)}, "stores no gradient"),
    ("combined_before_tracking", {"track": "y", "parts": ("x",)}, "never arguments"),
])
def test_probes_without_a_counterpart_are_not_applicable(ad, square, kind, params, why):
    result, _ = _probe(ad, square, kind, **params)
    assert result.outcome == "not_applicable"
    assert why in result.idiom


def test_every_probe_kind_has_an_autograd_entry():
    from gradconf_autograd.probes import PROBES
    assert set(PROBES) == set(PROBE_KINDS)


# ---------------------------------------------------------------- errors and warnings

def _raised(fn):
    with pytest.raises(Exception) as info:
        fn()
    return info.value


@pytest.mark.parametrize(("call", "kind"), [
    (lambda: autograd.grad(lambda x: x * x)(np.ones(2)), "non_scalar_output"),
    (lambda: autograd.grad(lambda k: k * k)(3), "integer_input"),
    (lambda: autograd.grad(lambda k: anp.sum(k * k))(np.array([1, 2])), "integer_input"),
    (lambda: autograd.grad(lambda v: anp.linalg.norm(v, ord=1))(V), "unsupported_op"),
    (lambda: autograd.grad(lambda x: anp.sum(x + np.ones(3)))(np.ones(2)), "shape_mismatch"),
    (lambda: autograd.grad(lambda x: anp.sum(x @ np.ones(3)))(np.ones(2)), "shape_mismatch"),
])
def test_autograd_exceptions_map_to_neutral_kinds(ad, call, kind):
    assert ad.error_kind(_raised(call)) == kind
    assert kind in ERROR_KINDS


def test_unknown_exceptions_are_other(ad):
    assert ad.error_kind(RuntimeError("something new")) == "other"
    assert ad.error_kind(ValueError("Grad only applies to real scalar-output")) == "other"


def test_warning_messages_map_to_neutral_kinds(ad):
    assert ad.warning_kind("UserWarning", "defgrad is deprecated. See the update guide") == \
        "deprecated_api"
    assert ad.warning_kind("UserWarning", "Output seems independent of input.") == \
        "output_independent"
    assert {k for _, k in adapter_module.WARNINGS} <= set(WARNING_KINDS)
    assert {k for _, k in adapter_module.ERRORS} <= set(ERROR_KINDS)


# ---------------------------------------------------------------- autograd bugs, pinned

@pytest.mark.xfail(strict=True, reason="autograd 1.9.1: norm's vjp ignores keepdims=True "
                                       "and returns a (2, 2, 3) gradient for a (2, 3) input")
def test_norm_keepdims_gradient_has_the_input_shape(ad):
    prog = parse("norm(a, axis=1, keepdims=True)", ["a"])
    assert ad.vjp(prog, {"a": A}, ("a",), np.ones((2, 1)))["a"].shape == A.shape


@pytest.mark.xfail(strict=True, reason="autograd 1.9.1: the ord=inf norm gradient is "
                                       "g / ans**inf * x * |x|**inf: 0 * inf = nan")
def test_inf_norm_gradient_is_finite(ad):
    prog = parse("norm(v, ord=inf)", ["v"])
    np.testing.assert_array_equal(ad.vjp(prog, {"v": V}, ("v",), np.array(1.0))["v"],
                                  [0.0, 0.0, 1.0])
