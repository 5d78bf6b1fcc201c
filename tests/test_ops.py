"""The op table: consistency, and every shape rule against what its NumPy reference returns."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import hypothesis.extra.numpy as hnp
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.configuration import set_hypothesis_home_dir

from gradconf.expr import evaluate, infer_shapes, parse
from gradconf.ops import (
    ALIASES,
    EXAMPLE_ENV,
    FAMILIES,
    NUMPY_LOWERING,
    OPS,
    SPECIAL_KINDS,
    OpSpec,
    ShapeError,
    format_index,
    register,
)

# Hypothesis writes caches under ./.hypothesis while collecting; keep the checkout clean.
set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "gradconf-hypothesis")
FAST = settings(max_examples=60, deadline=None, database=None)

UNARY = ("neg", "pos", "exp", "log", "sin", "cos", "tanh", "sqrt", "abs",
         "ones_like", "zeros_like")
BINARY = ("add", "sub", "mul", "div", "pow")

shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
nonscalar = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)


def arr(shape: tuple[int, ...]) -> np.ndarray:
    """Positive entries, so log, sqrt, pow and div stay quiet (warnings are errors here)."""
    return np.full(shape, 0.5)


def ref_shape(name: str, *shapes_: tuple[int, ...], **attrs: object) -> tuple[int, ...]:
    return np.shape(OPS[name].ref(*(arr(s) for s in shapes_), **attrs))


def rule(name: str, *shapes_: tuple[int, ...], **attrs: object) -> tuple[int, ...]:
    return tuple(OPS[name].shape(*shapes_, **attrs))


# ---------------------------------------------------------------- the table itself

@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_spec_is_complete(name):
    spec = OPS[name]
    assert isinstance(spec, OpSpec)
    assert spec.name == name
    assert callable(spec.shape)
    assert callable(spec.ref)
    assert spec.notes.strip()
    assert spec.arity is None or spec.arity >= 1
    assert NUMPY_LOWERING[name] is spec.ref
    assert spec.family in FAMILIES
    assert all(s.kind in SPECIAL_KINDS and s.where.strip() for s in spec.special)
    assert spec.examples, f"{name} has no example expression for the adapter tests"
    assert all(name in parse(e, list(EXAMPLE_ENV)).ops_used() or
               (ALIASES.get(e.split("(")[0]) == name) for e in spec.examples)


EXAMPLES = sorted({e for spec in OPS.values() for e in spec.examples})


@pytest.mark.parametrize("text", EXAMPLES)
def test_example_shapes_match_the_reference(text):
    """Each op's shape rule agrees with what its NumPy reference returns on its examples."""
    prog = parse(text, list(EXAMPLE_ENV))
    shapes = infer_shapes(prog, {n: np.shape(a) for n, a in EXAMPLE_ENV.items()})
    with np.errstate(all="raise"):
        out, _ = evaluate(prog, EXAMPLE_ENV, NUMPY_LOWERING)
    assert shapes[prog.output] == np.shape(out)
    assert np.all(np.isfinite(np.asarray(out, dtype=np.float64))), "examples sit at generic points"


def test_aliases_point_at_real_ops():
    assert ALIASES == {"cat": "concat", "concatenate": "concat", "negative": "neg"}
    for alias, target in ALIASES.items():
        assert target in OPS
        assert alias not in OPS


def test_only_list_ops_take_a_list():
    assert sorted(n for n, s in OPS.items() if s.arity is None) == ["concat", "einsum", "stack"]


def test_registering_a_name_twice_raises_and_keeps_the_first():
    before = OPS["exp"]
    with pytest.raises(KeyError) as info:
        register("exp", 1, lambda x: x, np.exp, "again")
    assert info.value.args == ("op 'exp' registered twice",)
    assert OPS["exp"] is before


def test_format_index_renders_as_written():
    assert format_index((slice(None), slice(0, 1))) == "[:, 0:1]"
    assert format_index((Ellipsis, 0, None)) == "[..., 0, None]"
    assert format_index((slice(1, None, 2), slice(None, -1, 1))) == "[1::2, :-1]"


# ---------------------------------------------------------------- rules match references

@pytest.mark.parametrize("name", UNARY)
@FAST
@given(shape=shapes)
def test_unary_rule_matches_reference(name, shape):
    assert rule(name, shape) == ref_shape(name, shape) == shape


@pytest.mark.parametrize("name", BINARY)
@FAST
@given(bs=hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=4, max_side=4))
def test_broadcast_rule_matches_reference(name, bs):
    a, b = bs.input_shapes
    assert rule(name, a, b) == ref_shape(name, a, b) == bs.result_shape


@st.composite
def non_broadcastable(draw):
    """Two shapes that clash in one axis where neither side is 1."""
    a = list(draw(nonscalar))
    i = draw(st.integers(0, len(a) - 1))
    n, m = draw(st.lists(st.integers(2, 5), min_size=2, max_size=2, unique=True))
    a[i] = n
    b = a.copy()
    b[i] = m
    return tuple(a), tuple(draw(st.sampled_from([b, b[i:]])))


@pytest.mark.parametrize("name", BINARY)
@FAST
@given(pair=non_broadcastable())
def test_broadcast_rule_rejects_clashing_shapes(name, pair):
    a, b = pair
    with pytest.raises(ShapeError) as info:
        rule(name, a, b)
    assert str(info.value) == f"shapes {a} and {b} do not broadcast"
    with pytest.raises(ValueError):
        OPS[name].ref(arr(a), arr(b))


@st.composite
def matmul_operands(draw):
    """Shapes for matmul: either side may be 1-D; batch dimensions broadcast."""
    batch = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
    ba, bb = batch.input_shapes
    m, k, n = draw(st.integers(1, 4)), draw(st.integers(1, 4)), draw(st.integers(1, 4))
    a = (k,) if draw(st.booleans()) else (*ba, m, k)
    b = (k,) if draw(st.booleans()) else (*bb, k, n)
    return a, b


@FAST
@given(ab=matmul_operands())
def test_matmul_rule_matches_reference(ab):
    a, b = ab
    assert rule("matmul", a, b) == ref_shape("matmul", a, b)


@FAST
@given(ab=matmul_operands(), extra=st.integers(1, 3))
def test_matmul_rule_rejects_inner_mismatch(ab, extra):
    a, b = ab
    kb = b[0] if len(b) == 1 else b[-2]
    b = (kb + extra,) if len(b) == 1 else (*b[:-2], kb + extra, b[-1])
    with pytest.raises(ShapeError) as info:
        rule("matmul", a, b)
    assert str(info.value) == (f"inner dimensions differ: {a} @ {b} "
                               f"({a[-1]} != {kb + extra})")
    with pytest.raises(ValueError):
        np.matmul(arr(a), arr(b))


def test_matmul_rejects_scalars():
    with pytest.raises(ShapeError) as info:
        rule("matmul", (), (3,))
    assert str(info.value) == "needs arrays of rank >= 1, got () @ (3,)"


@FAST
@given(m=st.integers(1, 4), k=st.integers(1, 4), n=st.integers(1, 4))
def test_mm_and_dot_rules_match_reference(m, k, n):
    assert rule("mm", (m, k), (k, n)) == ref_shape("mm", (m, k), (k, n)) == (m, n)
    assert rule("dot", (k,), (k,)) == ref_shape("dot", (k,), (k,)) == ()


@pytest.mark.parametrize(("name", "a", "b", "message"), [
    ("mm", (3,), (3, 2), "needs two matrices, got shapes (3,) and (3, 2)"),
    ("mm", (2, 2, 3), (3, 2), "needs two matrices, got shapes (2, 2, 3) and (3, 2)"),
    ("dot", (3,), (4,), "needs two vectors of one length, got shapes (3,) and (4,)"),
    ("dot", (3, 1), (3,), "needs two vectors of one length, got shapes (3, 1) and (3,)"),
])
def test_mm_and_dot_reject_other_ranks(name, a, b, message):
    with pytest.raises(ShapeError) as info:
        rule(name, a, b)
    assert str(info.value) == message


@st.composite
def shape_and_axes(draw):
    """A shape, and None, one axis or a tuple of distinct axes (each maybe negative)."""
    shape = draw(shapes)
    nd = len(shape)
    if nd == 0 or draw(st.booleans()):
        return shape, None
    picked = draw(st.lists(st.integers(0, nd - 1), min_size=1, max_size=nd, unique=True))
    picked = [ax - nd if draw(st.booleans()) else ax for ax in picked]
    return shape, picked[0] if len(picked) == 1 and draw(st.booleans()) else tuple(picked)


@pytest.mark.parametrize("name", ["sum", "mean"])
@FAST
@given(sa=shape_and_axes(), keepdims=st.booleans())
def test_reduce_rule_matches_reference(name, sa, keepdims):
    shape, axis = sa
    assert rule(name, shape, axis=axis, keepdims=keepdims) == ref_shape(
        name, shape, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("name", ["sum", "mean", "norm"])
@FAST
@given(shape=nonscalar, offset=st.integers(0, 3), negative=st.booleans())
def test_reduce_rule_rejects_axis_out_of_range(name, shape, offset, negative):
    axis = -len(shape) - 1 - offset if negative else len(shape) + offset
    with pytest.raises(ShapeError) as info:
        rule(name, shape, axis=axis)
    assert str(info.value) == f"axis {axis} is out of range for shape {shape}"
    with pytest.raises(ValueError):  # numpy's AxisError is a ValueError
        OPS[name].ref(arr(shape), axis=axis)


@pytest.mark.parametrize("axis", [(0, 0), (0, -2)])
def test_reduce_rule_rejects_repeated_axes(axis):
    with pytest.raises(ValueError):
        np.sum(arr((5, 4)), axis=axis)
    with pytest.raises(ShapeError):
        rule("sum", (5, 4), axis=axis)


@FAST
@given(shape=shapes, data=st.data(), order=st.sampled_from([1, 2, math.inf, -math.inf]),
       keepdims=st.booleans())
def test_norm_rule_matches_reference(shape, data, order, keepdims):
    axes = [None, *range(-len(shape), len(shape))]
    axis = data.draw(st.sampled_from(axes))
    got = rule("norm", shape, ord=order, axis=axis, keepdims=keepdims)
    assert got == ref_shape("norm", shape, ord=order, axis=axis, keepdims=keepdims)


@pytest.mark.parametrize(("attrs", "message"), [
    ({"ord": 3}, "ord must be 1, 2, inf or -inf, got 3"),
    ({"ord": "fro"}, "ord must be 1, 2, inf or -inf, got 'fro'"),
    ({"axis": (0, 1)}, "takes one axis (a vector norm) or none (all entries)"),
])
def test_norm_rejects_other_orders_and_axis_tuples(attrs, message):
    with pytest.raises(ShapeError) as info:
        rule("norm", (2, 3), **attrs)
    assert str(info.value) == message


@st.composite
def concat_operands(draw):
    base = list(draw(nonscalar))
    nd = len(base)
    axis = draw(st.integers(-nd, nd - 1))
    sizes = draw(st.lists(st.integers(1, 3), min_size=1, max_size=4))
    ax = axis % nd
    return [(*base[:ax], n, *base[ax + 1:]) for n in sizes], axis


@FAST
@given(ops=concat_operands())
def test_concat_rule_matches_reference(ops):
    parts, axis = ops
    assert rule("concat", *parts, axis=axis) == ref_shape("concat", *parts, axis=axis)


@pytest.mark.parametrize(("parts", "axis", "message"), [
    ([(2, 3), (3, 3)], 1, "along axis 1: shapes (2, 3) and (3, 3) differ elsewhere"),
    ([(2, 3), (2,)], 0, "shapes (2, 3) and (2,) have different ranks (2 vs 1)"),
    ([(2, 3), (2, 3)], 2, "axis 2 is out of range for shape (2, 3)"),
    ([(), ()], 0, "cannot join scalars"),
    ([], 0, "concat needs at least one array"),
])
def test_concat_rejects_mismatched_parts(parts, axis, message):
    with pytest.raises(ShapeError) as info:
        rule("concat", *parts, axis=axis)
    assert str(info.value) == message


@FAST
@given(shape=shapes, data=st.data())
def test_transpose_rule_matches_reference(shape, data):
    nd = len(shape)
    perm = data.draw(st.permutations(range(nd)))
    axes = tuple(a - nd if data.draw(st.booleans()) else a for a in perm)
    assert rule("transpose", shape, axes=axes) == ref_shape("transpose", shape, axes=axes)
    assert rule("transpose", shape) == ref_shape("transpose", shape) == shape[::-1]


def test_transpose_rejects_a_non_permutation():
    with pytest.raises(ShapeError) as info:
        rule("transpose", (2, 3), axes=(0, 0))
    assert str(info.value) == "axes (0, 0) are not a permutation for shape (2, 3)"


def test_transpose_rejects_out_of_range_axes():
    with pytest.raises(ValueError):
        np.transpose(arr((2, 3)), (2, 1))
    with pytest.raises(ShapeError):
        rule("transpose", (2, 3), axes=(2, 1))


@st.composite
def reshape_target(draw):
    """A shape and a target with its dims shuffled, a few 1s added, one dim made -1."""
    shape = draw(shapes)
    dims = list(draw(st.permutations(shape))) + [1] * draw(st.integers(0, 2))
    dims = draw(st.permutations(dims)) or [1]
    dims[draw(st.integers(0, len(dims) - 1))] = -1
    return shape, tuple(dims)


@FAST
@given(case=reshape_target())
def test_reshape_rule_matches_reference(case):
    shape, target = case
    assert rule("reshape", shape, shape=target) == ref_shape("reshape", shape, shape=target)


@pytest.mark.parametrize(("shape", "target"), [((2, 3), (4, -1)), ((2, 3), (-1, -1)),
                                                ((2, 3), (7,))])
def test_reshape_rejects_a_size_mismatch(shape, target):
    with pytest.raises(ShapeError) as info:
        rule("reshape", shape, shape=target)
    assert str(info.value) == f"cannot reshape {shape} into {target}"


def test_reshape_accepts_an_int_shape_like_numpy():
    assert ref_shape("reshape", (2, 3), shape=6) == (6,)
    assert rule("reshape", (2, 3), shape=6) == (6,)


def index_part(n: int) -> st.SearchStrategy[object]:
    bound = st.none() | st.integers(-n - 2, n + 2)
    return st.integers(-n, n - 1) | st.builds(slice, bound, bound, st.none() | st.integers(1, 3))


@st.composite
def basic_index(draw, shape):
    """Parts for leading axes, maybe `...` and parts for trailing axes, maybe some None."""
    nd = len(shape)
    lead = draw(st.integers(0, nd))
    parts = [draw(index_part(n)) for n in shape[:lead]]
    if draw(st.booleans()):
        trail = draw(st.integers(0, nd - lead))
        parts += [Ellipsis, *(draw(index_part(n)) for n in shape[nd - trail:])]
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), None)
    return tuple(parts)


@FAST
@given(data=st.data(), shape=shapes)
def test_getitem_rule_matches_reference(data, shape):
    index = data.draw(basic_index(shape))
    assert rule("getitem", shape, index=index) == ref_shape("getitem", shape, index=index)


@FAST
@given(data=st.data(), shape=nonscalar)
def test_format_index_round_trips_through_the_parser(data, shape):
    index = data.draw(basic_index(shape).filter(bool))
    (node,) = [n for n in parse("x" + format_index(index), ["x"]).nodes if n.op == "getitem"]
    norm = tuple(slice(i.start, i.stop, None if i.step == 1 else i.step)
                 if isinstance(i, slice) else i for i in index)
    assert node.attrs["index"] == norm


@FAST
@given(shape=nonscalar, data=st.data())
def test_getitem_rejects_an_index_out_of_bounds(shape, data):
    axis = data.draw(st.integers(0, len(shape) - 1))
    index = (*[slice(None)] * axis, shape[axis])
    with pytest.raises(ShapeError) as info:
        rule("getitem", shape, index=index)
    assert str(info.value) == (
        f"index {format_index(index)} does not fit shape {shape}: index {shape[axis]} "
        f"is out of bounds for axis {axis} with size {shape[axis]}")
