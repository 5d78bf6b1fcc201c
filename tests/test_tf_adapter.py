"""The TensorFlow adapter on its own: lowerings, each check kind, probes, error mapping."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.adapter import ProbeInputs
from gradconf.expr import evaluate, parse
from gradconf.kinds import ERROR_KINDS, PROBE_KINDS, WARNING_KINDS
from gradconf.ops import NUMPY_LOWERING, OPS
from gradconf.runner import captured, env_for
from gradconf.schema import Expect, ProbeSpec

# the adapter first: it quiets TF's C++ logging before importing tensorflow
tf_adapter = pytest.importorskip("gradconf_adapters.tf_adapter")
tf = pytest.importorskip("tensorflow")
pytestmark = pytest.mark.tensorflow


@pytest.fixture(scope="module")
def ad():
    """One adapter for the module: its warm-up builds TF's kernels and functions."""
    return tf_adapter.TensorflowAdapter()


def test_every_op_has_exactly_one_lowering():
    assert set(tf_adapter.LOWERING) == set(OPS)


A = np.array([[1.5, -2.0, 0.5], [3.0, 0.25, -1.0]])
B = np.array([[0.5, 1.0], [-1.5, 2.0], [1.0, 0.75]])
V = np.array([0.3, -1.2, 2.0])
POS = np.abs(A) + 0.5
T = np.arange(12.0).reshape(2, 2, 3) / 4 - 1

LOWERED = [
    ("neg(a)", {}), ("-a", {}), ("exp(a)", {}), ("log(p)", {}), ("sin(a)", {}), ("cos(a)", {}),
    ("tanh(a)", {}), ("sqrt(p)", {}), ("abs(a)", {}), ("a + 2 * a", {}), ("a - p", {}),
    ("a / p", {}), ("p ** 1.5", {}), ("a ** 3", {}), ("2 ** a", {}), ("a @ b", {}),
    ("mm(a, b)", {}), ("dot(v, v)", {}), ("v @ v", {}), ("a @ v", {}),
    ("sum(a)", {}), ("sum(a, axis=0)", {}), ("sum(a, axis=-1, keepdims=True)", {}),
    ("mean(a)", {}), ("mean(a, axis=1)", {}),
    ("norm(a)", {}), ("norm(v, ord=1)", {}), ("norm(a, ord=inf, axis=0)", {}),
    ("norm(a, axis=1, keepdims=True)", {}),
    ("concat([a, p], axis=0)", {}), ("cat([a, p], axis=1)", {}),
    ("transpose(a)", {}), ("transpose(a, axes=(1, 0))", {}), ("a.T", {}),
    ("reshape(a, (3, 2))", {}), ("reshape(a, (-1,))", {}),
    ("a[:, 0:1]", {}), ("a[1, 1]", {}), ("a[..., 2]", {}), ("a[:, None, 1]", {}),
    ("ones_like(a) + zeros_like(a)", {}),
    # beyond the torch table: NumPy's 1-D and batched matmul, -inf and keepdims norms,
    # a 1-D transpose, tuple axes, an integer reshape
    ("v @ b", {}), ("t @ v", {}), ("t @ b", {}), ("v.T", {}), ("transpose(t)", {}),
    ("norm(a, ord=-inf)", {}), ("norm(a, keepdims=True)", {}), ("norm(t, ord=1, axis=2)", {}),
    ("sum(t, axis=(0, 2))", {}), ("mean(t, axis=(1, 2), keepdims=True)", {}),
    ("reshape(a, 6)", {}), ("t[1, ..., 0:2]", {}),
]


@pytest.mark.parametrize(("text", "_"), LOWERED, ids=[t for t, _ in LOWERED])
def test_lowering_matches_numpy_reference(ad, text, _):
    prog = parse(text, ["a", "b", "v", "p", "t"])
    env = {"a": A, "b": B, "v": V, "p": POS, "t": T}
    ref, _named = evaluate(prog, env, NUMPY_LOWERING)
    got = ad.value(prog, env)["out"]
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-14)
    assert got.shape == np.shape(ref)


@pytest.fixture
def cube(one_case):
    return one_case("""
        id: cube
        title: x**3
        source: {note: t, section: t}
        inputs: {x: [1., 2.]}
        function: sum(x**3)
    """)


def test_checks_on_x_cubed(ad, cube):
    env = env_for(cube, "float64")
    prog, x = cube.program, np.array([1.0, 2.0])
    assert ad.value(prog, env)["out"] == pytest.approx(9.0)
    np.testing.assert_allclose(ad.vjp(prog, env, ("x",), np.array(2.0))["x"], 2 * 3 * x**2)
    assert ad.jvp(prog, env, ("x",), {"x": np.array([1.0, -1.0])}) == pytest.approx(3 - 12)
    for mode in ("rev", "fwd", "loop"):
        np.testing.assert_allclose(ad.jacobian(prog, env, ("x",), mode)["x"], 3 * x**2)
    np.testing.assert_allclose(ad.hessian(prog, env, ("x",), np.array(1.0))["x,x"],
                               np.diag(6 * x))
    ones = np.ones(2)
    np.testing.assert_allclose(ad.derivative(prog, env, "x", [np.array(1.0), ones]), 6 * x)
    np.testing.assert_allclose(ad.derivative(prog, env, "x", [np.array(1.0), ones, ones]),
                               [6.0, 6.0])
    np.testing.assert_allclose(ad.derivative(prog, env, "x", [np.array(1.0), *[ones] * 3]),
                               [0.0, 0.0])


def test_jacobians_of_a_matrix_output_by_every_mode(ad, one_case):
    case = one_case("""
        id: cols
        title: X**3 @ W
        source: {note: t, section: t}
        inputs: {X: [[4.], [1.]], u: [[1.], [1.]]}
        constants: {W: [[2., 4.]]}
        function: X**3 @ W
    """)
    env = env_for(case, "float64")
    expected = np.zeros((2, 2, 2, 1))
    for i, (xi, w) in enumerate([(4.0, (2.0, 4.0)), (1.0, (2.0, 4.0))]):
        expected[i, :, i, 0] = 3 * xi**2 * np.array(w)
    for mode in ("rev", "fwd", "loop"):
        jac = ad.jacobian(case.program, env, ("X", "u"), mode)
        np.testing.assert_allclose(jac["X"], expected)
        np.testing.assert_array_equal(jac["u"], np.zeros((2, 2, 2, 1)))  # unconnected: ZERO


def test_checks_emit_no_warning_after_the_warm_up(ad, cube):
    env = env_for(cube, "float32")
    with captured(ad) as caught:
        ad.vjp(cube.program, env, ("x",), np.float32(1.0))
        ad.jacobian(cube.program, env, ("x",), "rev")
        ad.hessian(cube.program, env, ("x",), np.float32(1.0))
    assert caught == []


def test_results_keep_the_run_dtype(ad, one_case):
    case = one_case("""
        id: f32
        title: dtype
        source: {note: t, section: t}
        inputs: {x: [1., 2.]}
        function: x**2
    """)
    prog, env, ones = case.program, env_for(case, "float32"), np.ones(2, np.float32)
    assert ad.value(prog, env)["out"].dtype == np.float32
    assert ad.vjp(prog, env, ("x",), ones)["x"].dtype == np.float32
    assert ad.jvp(prog, env, ("x",), {"x": ones}).dtype == np.float32
    for mode in ("rev", "fwd", "loop"):
        assert ad.jacobian(prog, env, ("x",), mode)["x"].dtype == np.float32
    assert ad.hessian(prog, env, ("x",), ones)["x,x"].dtype == np.float32
    assert ad.derivative(prog, env, "x", [ones, ones]).dtype == np.float32


def test_mixed_float_dtypes_raise_dtype_mismatch(ad, one_case):
    case = one_case("""
        id: mixed
        title: mixed
        source: {note: t, section: t}
        inputs:
          x: {value: [1., 2.], dtype: float64}
          y: {value: [1., 1.], dtype: float32}
        function: x + y
        dtypes: [float64]
    """)
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        ad.value(case.program, env_for(case, "float64"))
    assert ad.error_kind(info.value) == "dtype_mismatch"


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


def test_probe_outcomes_in_tf_idiom(ad, square):
    result, _ = _probe(ad, square, "nonscalar_no_cotangent")  # the gradient of sum(y)
    assert result.outcome == "value"
    np.testing.assert_allclose(result.values["x"], [6.0, 12.0])
    result, _ = _probe(ad, square, "untracked_inputs")
    assert (result.outcome, result.values) == ("absent", {"x": None, "u": None})
    result, _ = _probe(ad, square, "second_pass")
    assert (result.outcome, result.error.kind) == ("error", "graph_freed")
    np.testing.assert_allclose(result.steps[0]["x"], [6.0, 12.0])
    result, _ = _probe(ad, square, "second_pass", retain=True)  # returned again, not added
    assert [list(s["x"]) for s in result.steps] == [[6, 12], [6, 12]]
    result, _ = _probe(ad, square, "accumulate", steps=("ones", "zero", "ones"))
    assert [None if s["x"] is None else list(s["x"]) for s in result.steps] == \
        [[6, 12], None, [6, 12]]
    result, kinds = _probe(ad, square, "nonleaf_grad", of=("y",))
    assert (result.outcome, kinds) == ("value", [])
    np.testing.assert_allclose(result.values["y"], [3.0, 3.0])
    result, _ = _probe(ad, square, "grad_before_pass")
    assert result.outcome == "not_applicable"


@pytest.mark.parametrize("allow_unused", [False, True])
def test_unused_input_is_none_whatever_allow_unused_says(ad, square, allow_unused):
    result, _ = _probe(ad, square, "unused_input", input="u", allow_unused=allow_unused)
    assert (result.outcome, result.values) == ("absent", {"u": None})


def test_integer_input_is_watched_with_a_logged_warning(ad, square):
    result, kinds = _probe(ad, square, "integer_input", input="k")
    assert (result.outcome, result.values, kinds) == ("absent", {"k": None}, ["integer_input"])


def test_every_probe_kind_has_a_tf_idiom():
    from gradconf_adapters.tf_probes import PROBES
    assert set(PROBES) == set(PROBE_KINDS)


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


@pytest.mark.parametrize(("message", "kind"), [
    ("A non-persistent GradientTape can only be used to compute one set of gradients (or "
     "jacobians)", "graph_freed"),
    ("cannot compute AddV2 as input #1(zero-based) was expected to be a double tensor but "
     "is a float tensor [Op:AddV2] name: ", "dtype_mismatch"),
    ("Incompatible shapes: [2] vs. [3] [Op:Mul] name: ", "shape_mismatch"),
    ("Matrix size-incompatible: In[0]: [2,3], In[1]: [2,3] [Op:MatMul] name: ",
     "shape_mismatch"),
    ("Input is not invertible. [Op:MatrixInverse]", "singular_input"),
    ("something new", "other"),
])
def test_error_messages_map_to_neutral_kinds(ad, message, kind):
    assert ad.error_kind(RuntimeError(message)) == kind
    assert kind in ERROR_KINDS


def test_error_kind_of_a_real_second_gradient_call(ad):
    x = tf.constant(1.0)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = x * x
    tape.gradient(y, x)
    with pytest.raises(RuntimeError) as info:
        tape.gradient(y, x)
    assert ad.error_kind(info.value) == "graph_freed"


def test_warning_messages_map_to_neutral_kinds(ad):
    deprecated = ("From x.py:1: calling foo (from tensorflow.python.ops) is deprecated and "
                  "will be removed in a future version.")
    assert ad.warning_kind("TensorflowLogWarning", deprecated) == "deprecated_api"
    watched = "The dtype of the watched tensor must be floating (e.g. tf.float32), got tf.int64"
    assert ad.warning_kind("TensorflowLogWarning", watched) == "integer_input"
    assert {k for _, k in tf_adapter.WARNINGS} <= set(WARNING_KINDS)


def test_only_logged_warnings_that_concern_a_case_are_reissued(ad):
    with captured(ad) as caught:
        tf.get_logger().warning("foo (from tensorflow.python.ops) is deprecated")
        tf.get_logger().warning("5 out of the last 5 calls to f triggered tf.function retracing")
    assert [(w.category, w.kind) for w in caught] == [("TensorflowLogWarning", "deprecated_api")]
