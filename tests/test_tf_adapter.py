"""The TensorFlow adapter on its own: lowerings, each check kind, probes, error mapping."""

from __future__ import annotations

import re

import numpy as np
import pytest

from adapter_contract import assert_checks_on_x_cubed, assert_lowering, lowering_params
from gradconf.adapter import ProbeInputs
from gradconf.kinds import ERROR_KINDS, PROBE_KINDS, WARNING_KINDS
from gradconf.ops import OPS
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


# TensorFlow computes these in float32 precision even for float64 inputs: the op attribute
# alpha is a 32-bit float, and gelu's constants are float32 (errors of ~1e-9 relative)
TF_FLOAT32_INSIDE = {
    "gelu(a)": "tf.nn.gelu's float64 result is accurate to ~5e-9 only",
    "gelu_tanh(a)": "tf.nn.gelu(approximate=True)'s float64 result is accurate to ~1e-9 only",
    "leaky_relu(a)": "tf.nn.leaky_relu's alpha is a float32 attribute: 0.01 is not float64 0.01",
    "leaky_relu(a, negative_slope=0.2)": "tf.nn.leaky_relu's alpha is a float32 attribute",
}


@pytest.mark.parametrize("text", lowering_params(tf_adapter.LOWERING, TF_FLOAT32_INSIDE))
def test_lowering_matches_numpy_reference(ad, text):
    assert_lowering(ad, text)


def test_checks_on_x_cubed(ad, cube):
    assert_checks_on_x_cubed(ad, cube)


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


def test_a_graph_error_keeps_the_failure_and_drops_the_stack(ad):
    """det's Jacobian at a singular matrix by tape.jacobian (a pfor graph): TensorFlow's
    message starts "Graph execution error:" and lists the Python stack (this checkout's
    paths) where the node was defined; the record keeps the sentence, the node and the op,
    with no path and no trace counter, so the first line says what failed."""
    x = tf.constant([[1.0, 2.0], [2.0, 4.0]], tf.float32)
    with pytest.raises(tf.errors.InvalidArgumentError) as raised:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = tf.linalg.det(x)
        tape.jacobian(y, x)
    assert "File " in str(raised.value) and "Detected at node" in str(raised.value)
    info = ad.error_info(raised.value)
    assert info.kind == "singular_input" and info.type == "InvalidArgumentError"
    assert info.message.splitlines()[0] == "Input is not invertible."
    assert "File " not in info.message and "/" not in info.message.split("[[")[0]
    assert "{{node gradient_tape/MatrixInverse}}" in info.message
    assert not re.search(r"_\d{3,}", info.message)


def test_a_trace_time_error_keeps_the_exception_line(ad):
    fn = tf.function(lambda x: tf.math.lgamma(x))
    with pytest.raises(TypeError) as raised:
        fn(tf.constant([1, 2], tf.int32))
    info = ad.error_info(raised.value)
    assert "in user code" in str(raised.value) and "File " in str(raised.value)
    assert info.message.startswith("TypeError: Value passed to parameter")
    assert "File " not in info.message
