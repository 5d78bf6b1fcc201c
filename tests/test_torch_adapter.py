"""The PyTorch adapter on its own: lowerings, each check kind, probes, error mapping."""

from __future__ import annotations

import numpy as np
import pytest

from adapter_contract import assert_checks_on_x_cubed, assert_lowering, lowering_params
from gradconf.adapter import ProbeInputs
from gradconf.kinds import ERROR_KINDS, PROBE_KINDS, WARNING_KINDS
from gradconf.ops import OPS
from gradconf.runner import captured, env_for
from gradconf.schema import Expect, ProbeSpec

torch_adapter = pytest.importorskip("gradconf_adapters.torch_adapter")
pytestmark = pytest.mark.torch


@pytest.fixture(scope="module")
def ad():
    """One adapter for the module: its first use of torch.func takes seconds."""
    return torch_adapter.TorchAdapter()


def test_every_op_has_exactly_one_lowering():
    assert set(torch_adapter.LOWERING) == set(OPS)


@pytest.mark.parametrize("text", lowering_params(torch_adapter.LOWERING))
def test_lowering_matches_numpy_reference(ad, text):
    assert_lowering(ad, text)


def test_checks_on_x_cubed(ad, cube):
    assert_checks_on_x_cubed(ad, cube)


def test_results_keep_the_run_dtype(ad, one_case):
    case = one_case("""
        id: f32
        title: dtype
        source: {note: t, section: t}
        inputs: {x: [1., 2.]}
        function: x**2
    """)
    env = env_for(case, "float32")
    assert ad.value(case.program, env)["out"].dtype == np.float32
    grads = ad.vjp(case.program, env, ("x",), np.ones(2, np.float32))
    assert grads["x"].dtype == np.float32


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


def test_probe_outcomes_in_torch_idiom(ad, square):
    result, _ = _probe(ad, square, "nonscalar_no_cotangent")
    assert (result.outcome, result.error.kind) == ("error", "non_scalar_output")
    result, _ = _probe(ad, square, "untracked_inputs")
    assert (result.outcome, result.error.kind) == ("error", "input_not_tracked")
    result, _ = _probe(ad, square, "second_pass")
    assert (result.outcome, result.error.kind) == ("error", "graph_freed")
    np.testing.assert_allclose(result.steps[0]["x"], [6.0, 12.0])
    result, _ = _probe(ad, square, "second_pass", retain=True)
    np.testing.assert_allclose(result.steps[1]["x"], [12.0, 24.0])
    result, _ = _probe(ad, square, "accumulate", steps=("ones", "zero", "ones"))
    assert [list(s["x"]) for s in result.steps] == [[6, 12], [0, 0], [6, 12]]
    result, kinds = _probe(ad, square, "nonleaf_grad", of=("y",))
    assert (result.outcome, result.values, kinds) == ("absent", {"y": None},
                                                      ["nonleaf_grad_access"])
    result, _ = _probe(ad, square, "unused_input", input="u")
    assert (result.outcome, result.error.kind) == ("error", "unused_input")
    result, _ = _probe(ad, square, "unused_input", input="u", allow_unused=True)
    assert (result.outcome, result.values) == ("absent", {"u": None})
    result, _ = _probe(ad, square, "integer_input", input="k")
    assert (result.outcome, result.error.kind) == ("error", "integer_input")
    result, _ = _probe(ad, square, "grad_before_pass")
    assert result.outcome == "absent"


def test_every_probe_kind_has_a_torch_idiom():
    from gradconf_adapters.torch_probes import PROBES
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
    ("grad can be implicitly created only for scalar outputs", "non_scalar_output"),
    ("element 0 of tensors does not require grad and does not have a grad_fn",
     "input_not_tracked"),
    ("Trying to backward through the graph a second time (or directly access saved "
     "tensors after they have already been freed).", "graph_freed"),
    ("One of the differentiated Tensors appears to not have been used in the graph.",
     "unused_input"),
    ("only Tensors of floating point dtype can require gradients", "integer_input"),
    ("something new", "other"),
])
def test_error_messages_map_to_neutral_kinds(ad, message, kind):
    assert ad.error_kind(RuntimeError(message)) == kind
    assert kind in ERROR_KINDS


def test_warning_messages_map_to_neutral_kinds(ad):
    nonleaf = ("The .grad attribute of a Tensor that is not a leaf Tensor is being "
               "accessed.")
    assert ad.warning_kind("UserWarning", nonleaf) == "nonleaf_grad_access"
    assert ad.warning_kind("UserWarning", "The use of `x.T` ... is deprecated") == \
        "deprecated_api"
    assert set(k for _, k in torch_adapter.WARNINGS) <= set(WARNING_KINDS)
