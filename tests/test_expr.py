"""The expression language: parsing, rejections, shape inference and evaluation."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradconf.expr import ExprError, evaluate, infer_shapes, parse
from gradconf.ops import NUMPY_LOWERING, OPS

KNOWN = ["x", "y", "a", "b", "c", "d", "e"]
# the closest op name to "eval" changes as the vocabulary grows; the hint names one or the table
HINT_EVAL = (lambda c: f"did you mean '{c[0]}'?" if c else "see the op table in cases/README.md")(
    __import__("difflib").get_close_matches("eval", sorted(OPS), 1))
ANY_SYNTAX = "use names, numbers, + - * / ** @, comparisons, op calls, [slices] and .T"


def ops(text: str) -> list[str]:
    return [n.op for n in parse(text, KNOWN).nodes]


def output(text: str):
    program = parse(text, KNOWN)
    return program.nodes[program.output]


# ---------------------------------------------------------------- parsing

def test_single_expression():
    program = parse("exp(x) * 2", KNOWN)
    assert [(n.op, n.args, n.name, n.value) for n in program.nodes] == [
        ("input", (), "x", None), ("exp", (0,), None, None), ("scalar", (), None, 2),
        ("mul", (1, 2), None, None)]
    assert program.output == 3
    assert dict(program.names) == {}
    assert program.sources == ("x",)
    assert program.ops_used() == {"exp", "mul"}


def test_statements_record_named_intermediates_in_evaluation_order():
    program = parse("g = a @ b; h = c @ d**2 / e; g + h", KNOWN)
    assert [(n.op, n.args, n.name) for n in program.nodes] == [
        ("input", (), "a"), ("input", (), "b"), ("matmul", (0, 1), "g"),
        ("input", (), "c"), ("input", (), "d"), ("scalar", (), None), ("pow", (4, 5), None),
        ("matmul", (3, 6), None), ("input", (), "e"), ("div", (7, 8), "h"),
        ("add", (2, 9), None)]
    assert dict(program.names) == {"g": 2, "h": 9}
    assert program.output == 10
    assert program.sources == ("a", "b", "c", "d", "e")


def test_statements_on_separate_lines_keep_their_line_numbers():
    program = parse("g = x * 2\nh = exp(g)\nsum(h)", KNOWN)
    assert [(n.op, n.line, n.col) for n in program.nodes if n.op not in ("input", "scalar")] == [
        ("mul", 1, 5), ("exp", 2, 5), ("sum", 3, 1)]


def test_a_name_read_twice_is_one_node():
    assert ops("x * x + x") == ["input", "mul", "add"]


def test_dot_t_is_transpose_without_axes():
    node = output("x.T")
    assert (node.op, dict(node.attrs)) == ("transpose", {"axes": None})


@pytest.mark.parametrize(("text", "index"), [
    ("x[:, 0:1]", (slice(None), slice(0, 1))),
    ("x[1, 1]", (1, 1)),
    ("x[..., 0]", (Ellipsis, 0)),
    ("x[None, -1]", (None, -1)),
    ("x[1::2]", (slice(1, None, 2),)),
])
def test_subscripts(text, index):
    node = output(text)
    assert (node.op, node.attrs["index"]) == ("getitem", index)


@pytest.mark.parametrize(("text", "op", "attrs"), [
    ("sum(x, axis=-1)", "sum", {"axis": -1, "keepdims": False}),
    ("sum(x, 0, True)", "sum", {"axis": 0, "keepdims": True}),
    ("mean(x, axis=(0, -1), keepdims=True)", "mean", {"axis": (0, -1), "keepdims": True}),
    ("norm(x, ord=inf)", "norm", {"ord": math.inf, "axis": None, "keepdims": False}),
    ("norm(x, ord=-inf, axis=1)", "norm", {"ord": -math.inf, "axis": 1, "keepdims": False}),
    ("reshape(x, (2, -1))", "reshape", {"shape": (2, -1)}),
    ("transpose(x, axes=[1, 0])", "transpose", {"axes": (1, 0)}),
    ("cat([x, y], axis=1)", "concat", {"axis": 1}),
    ("concatenate((x, y))", "concat", {"axis": 0}),
    ("negative(x)", "neg", {}),
])
def test_keywords_and_aliases(text, op, attrs):
    node = output(text)
    assert (node.op, dict(node.attrs)) == (op, attrs)


@pytest.mark.parametrize(("text", "index"), [
    ("x[::-1]", (slice(None, None, -1),)),
    ("x[:, 2:0:-2]", (slice(None), slice(2, 0, -2))),
    ("x[-1::-1, ...]", (slice(-1, None, -1), Ellipsis)),
])
def test_negative_slice_steps_walk_backwards_as_in_numpy(text, index):
    node = output(text)
    assert (node.op, node.attrs["index"]) == ("getitem", index)
    x = np.arange(12.0).reshape(3, 4)
    out, _ = run(text, x=x)
    np.testing.assert_array_equal(out, x[index])


def test_negative_number_literals_are_scalars():
    program = parse("x ** -2", KNOWN)
    assert [(n.op, n.value) for n in program.nodes] == [("input", None), ("scalar", -2),
                                                          ("pow", None)]
    assert ops("-x") == ["input", "neg"]
    assert ops("+x") == ["input"]


# ---------------------------------------------------------------- rejections

@pytest.mark.parametrize(("text", "message", "line", "col", "hint"), [
    ("lambda x: x", "Lambda syntax is not part of the expression language", 1, 1, ANY_SYNTAX),
    ("x.sum()", "only calls of op names are allowed, e.g. sum(x, axis=0)", 1, 1, ""),
    ("x.__class__", "attribute .__class__ is not part of the language", 1, 1, "only .T is"),
    ("exp(x).real", "attribute .real is not part of the language", 1, 1, "only .T is"),
    ("eval(x)", "unknown op 'eval'", 1, 1, HINT_EVAL),
    ("__import__('os')", "unknown op '__import__'", 1, 1, "see the op table in cases/README.md"),
    ("2 * expp(x)", "unknown op 'expp'", 1, 5, "did you mean 'exp'?"),
    ("g = mena(x)\ng", "unknown op 'mena'", 1, 5, "did you mean 'mean'?"),
    ("xx + 1", "unknown name 'xx'", 1, 1, "did you mean 'x'?"),
    ("g = x * 2\nexp(gg)", "unknown name 'gg'", 2, 5, "did you mean 'g'?"),
    ("zzz + 1", "unknown name 'zzz'", 1, 1, "declare it under inputs or constants"),
    ("sum(x, axis=y)", "keyword arguments must be literal numbers, strings, None or tuples",
     1, 13, ""),
    ("sum(x, foo=1)", "sum has no keyword 'foo'", 1, 12, "keywords: axis, keepdims"),
    ("x // y", "operator FloorDiv is not part of the language", 1, 1, "supported: + - * / ** @"),
    ("x % y", "operator Mod is not part of the language", 1, 1, "supported: + - * / ** @"),
    ("x < y < x", "chained comparisons are not part of the language", 1, 1,
     "write one comparison, e.g. where(x > 0, x, 0)"),
    ("x is y", "comparison Is is not part of the language", 1, 1, "supported: < <= > >= == !="),
    ("x if y else x", "IfExp syntax is not part of the expression language", 1, 1, ANY_SYNTAX),
    ("~x", "unary Invert is not part of the language", 1, 1, ""),
    ("g = x * 2", "the function must end with the output expression, not an assignment",
     1, 1, ""),
    ("g = x\nimport os", "the function must end with the output expression, not an assignment",
     2, 1, ""),
    ("x = y * 2; x", "'x' is an input, constant or op and cannot be reassigned", 1, 1, ""),
    ("exp = x * 2; exp", "'exp' is an input, constant or op and cannot be reassigned", 1, 1, ""),
    ("g, h = x, y; g", "only 'name = expression' statements may precede the output", 1, 1, ""),
    ("x += 1; x", "only 'name = expression' statements may precede the output", 1, 1, ""),
    ("[x, y]", "List syntax is not part of the expression language", 1, 1, ANY_SYNTAX),
    ("sum([x, y])", "List syntax is not part of the expression language", 1, 5, ANY_SYNTAX),
    ("concat(x, y)", "concat takes a list of arrays, e.g. concat([a, b], axis=1)", 1, 1, ""),
    ("x[::0]", "slice steps must be nonzero (a negative step walks backwards)", 1, 3, ""),
    ("x[:, ::-0]", "slice steps must be nonzero (a negative step walks backwards)", 1, 6, ""),
    ("x[1.5]", "indices must be integer literals or slices of them (got 1.5)", 1, 3, ""),
    ("True", "constant True is not a number", 1, 1, ""),
    ("x * False", "constant False is not a number", 1, 5, ""),
    ("'x'", "constant 'x' is not a number", 1, 1, ""),
    ("exp(x, x)", "exp takes 1 array argument, got 2 positional arguments", 1, 1, ""),
    ("matmul(x)", "matmul takes 2 array arguments, got 1", 1, 1, ""),
    ("sum(x, 0, True, 1)",
     "sum takes 1 array argument and the keywords axis, keepdims, got 4 positional arguments",
     1, 1, ""),
    ("x +", "syntax error: invalid syntax", 1, 4, ""),
    ("", "the function is empty", 1, 1, ""),
])
def test_rejected(text, message, line, col, hint):
    with pytest.raises(ExprError) as info:
        parse(text, KNOWN)
    err = info.value
    assert (err.message, err.line, err.col, err.hint) == (message, line, col, hint)
    assert str(err) == message


@pytest.mark.parametrize("template", [
    '__import__("os").system("touch {p}")',
    'eval(\'__import__("os").system("touch {p}")\')',
    "exec(\"open('{p}', 'w')\")",
    'open("{p}", "w")',
    'sum(x, axis=__import__("os").system("touch {p}"))',
    'x[__import__("os").system("touch {p}")]',
    'g = __import__("os").system("touch {p}"); x',
    '().__class__.__base__.__subclasses__()',
])
def test_nothing_is_evaluated_as_python(tmp_path, template):
    target = tmp_path / "pwned"
    with pytest.raises(ExprError):
        parse(template.format(p=target), KNOWN)
    assert not target.exists()


def test_a_very_long_sum_parses_or_is_rejected_cleanly():
    text = " + ".join(["x"] * 1000)
    try:
        result = parse(text, KNOWN).nodes[-1].op
    except ExprError as exc:
        result = exc.message
    assert result == "add" or "too" in result


# ---------------------------------------------------------------- shapes

@pytest.mark.parametrize(("text", "shapes", "out"), [
    ("x @ y", {"x": (3,), "y": (3,)}, ()),
    ("x @ y", {"x": (2, 3), "y": (3, 4)}, (2, 4)),
    ("x @ y", {"x": (3,), "y": (3, 4)}, (4,)),
    ("x @ y", {"x": (2, 3), "y": (3,)}, (2,)),
    ("x @ y", {"x": (5, 2, 3), "y": (3, 4)}, (5, 2, 4)),
    ("x @ y", {"x": (5, 1, 2, 3), "y": (4, 3, 2)}, (5, 4, 2, 2)),
    ("mm(x, y)", {"x": (2, 3), "y": (3, 4)}, (2, 4)),
    ("dot(x, y)", {"x": (3,), "y": (3,)}, ()),
    ("sum(x)", {"x": (2, 3)}, ()),
    ("sum(x, axis=-1)", {"x": (2, 3)}, (2,)),
    ("sum(x, axis=0, keepdims=True)", {"x": (2, 3)}, (1, 3)),
    ("mean(x, axis=(0, 2))", {"x": (2, 3, 4)}, (3,)),
    ("mean(x, keepdims=True)", {"x": (2, 3)}, (1, 1)),
    ("norm(x)", {"x": (2, 3)}, ()),
    ("norm(x, ord=inf, axis=1)", {"x": (2, 3)}, (2,)),
    ("norm(x, ord=1, axis=0, keepdims=True)", {"x": (2, 3)}, (1, 3)),
    ("concat([x, y], axis=1)", {"x": (2, 3), "y": (2, 1)}, (2, 4)),
    ("cat([x, y, x])", {"x": (2, 3), "y": (1, 3)}, (5, 3)),
    ("concat([x, y], axis=-1)", {"x": (2, 3), "y": (2, 2)}, (2, 5)),
    ("x.T", {"x": (2, 3, 4)}, (4, 3, 2)),
    ("x.T", {"x": (3,)}, (3,)),
    ("transpose(x)", {"x": (2, 3)}, (3, 2)),
    ("transpose(x, (1, 0, 2))", {"x": (2, 3, 4)}, (3, 2, 4)),
    ("transpose(x, axes=(-1, 0, 1))", {"x": (2, 3, 4)}, (4, 2, 3)),
    ("reshape(x, (-1,))", {"x": (2, 3)}, (6,)),
    ("reshape(x, (3, -1))", {"x": (2, 3)}, (3, 2)),
    ("reshape(x, shape=(1, -1, 1))", {"x": (2, 3)}, (1, 6, 1)),
    ("x[:, 0:1]", {"x": (2, 3)}, (2, 1)),
    ("x[1, 1]", {"x": (2, 3)}, ()),
    ("x[..., 0]", {"x": (2, 3, 4)}, (2, 3)),
    ("x[None, 1:]", {"x": (2, 3)}, (1, 1, 3)),
    ("x + 1", {"x": (2, 3)}, (2, 3)),
    ("x * y", {"x": (2, 1), "y": (3,)}, (2, 3)),
])
def test_infer_shapes(text, shapes, out):
    program = parse(text, KNOWN)
    assert infer_shapes(program, shapes)[program.output] == out


def test_infer_shapes_gives_every_node():
    program = parse("g = a @ b; h = c @ d**2 / e; g + h", KNOWN)
    shapes = {"a": (2, 3), "b": (3, 4), "c": (2, 5), "d": (5, 1), "e": (4,)}
    assert infer_shapes(program, shapes) == [
        (2, 3), (3, 4), (2, 4), (2, 5), (5, 1), (), (5, 1), (2, 1), (4,), (2, 4), (2, 4)]


@pytest.mark.parametrize(("text", "shapes", "message", "line", "col"), [
    ("x @ y", {"x": (2, 3), "y": (2, 3)},
     "matmul: inner dimensions differ: (2, 3) @ (2, 3) (3 != 2)", 1, 1),
    ("g = x * 2\nh = g + y\nh", {"x": (2, 3), "y": (2,)},
     "add: shapes (2, 3) and (2,) do not broadcast", 2, 5),
    ("sum(exp(x), axis=2)", {"x": (2, 3)}, "sum: axis 2 is out of range for shape (2, 3)", 1, 1),
    ("y + reshape(x, (4, -1))", {"x": (2, 3), "y": ()},
     "reshape: cannot reshape (2, 3) into (4, -1)", 1, 5),
    ("mm(x, y)", {"x": (2,), "y": (2, 3)},
     "mm: needs two matrices, got shapes (2,) and (2, 3)", 1, 1),
    ("dot(x, y)", {"x": (2,), "y": (3,)},
     "dot: needs two vectors of one length, got shapes (2,) and (3,)", 1, 1),
    ("cat([x, y], axis=1)", {"x": (2, 3), "y": (3, 3)},
     "concat: along axis 1: shapes (2, 3) and (3, 3) differ elsewhere", 1, 1),
    ("norm(x, ord=3)", {"x": (2, 3)}, "norm: ord must be 1, 2, inf or -inf, got 3", 1, 1),
    ("transpose(x, (0, 0))", {"x": (2, 3)},
     "transpose: axes (0, 0) are not a permutation for shape (2, 3)", 1, 1),
    ("x[5]", {"x": (2, 3)}, "getitem: index [5] does not fit shape (2, 3): "
     "index 5 is out of bounds for axis 0 with size 2", 1, 1),
    ("2 @ x", {"x": (2,)}, "matmul: needs arrays of rank >= 1, got () @ (2,)", 1, 1),
])
def test_shape_errors_are_located_at_the_op(text, shapes, message, line, col):
    with pytest.raises(ExprError) as info:
        infer_shapes(parse(text, KNOWN), shapes)
    err = info.value
    assert (err.message, err.line, err.col, err.hint) == (message, line, col, "")


def test_an_intermediate_may_alias_an_input():
    program = parse("g = x\ng * 2", KNOWN)
    assert infer_shapes(program, {"x": (2,)})[program.output] == (2,)
    out, named = evaluate(program, {"x": np.array([1.0, 2.0])}, NUMPY_LOWERING)
    np.testing.assert_array_equal(out, [2.0, 4.0])
    np.testing.assert_array_equal(named["g"], [1.0, 2.0])


@pytest.mark.parametrize("text", [
    "exp(x) + sum(x, axis='a')",
    "exp(x) + sum(x, axis=1.5)",
    "exp(x) + mean(x, axis=inf)",
    "exp(x) + reshape(x)",
    "exp(x) + transpose(x, (2, 1))",
])
def test_bad_attribute_values_are_located_shape_errors(text):
    with pytest.raises(ExprError) as info:
        infer_shapes(parse(text, KNOWN), {"x": (2, 3)})
    assert (info.value.line, info.value.col) == (1, 10)
    assert info.value.message.startswith(text[9:].split("(")[0] + ": ")


# ---------------------------------------------------------------- evaluation

def run(text: str, **env: np.ndarray):
    return evaluate(parse(text, list(env)), env, NUMPY_LOWERING)


def test_evaluate_matches_numpy_with_named_intermediates():
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((2, 3)), rng.standard_normal((3, 4)), rng.standard_normal((2, 5))
    d, e = rng.uniform(1, 2, (5, 4)), rng.uniform(1, 2, (4,))
    out, named = run("g = a @ b; h = c @ d**2 / e; g + h", a=a, b=b, c=c, d=d, e=e)
    np.testing.assert_allclose(named["g"], a @ b)
    np.testing.assert_allclose(named["h"], c @ d**2 / e)
    np.testing.assert_allclose(out, a @ b + c @ d**2 / e)
    assert set(named) == {"g", "h"}


def test_evaluate_the_readme_case():
    out, named = run("y = x + 2; z = y * y * 3; mean(z)", x=np.ones((2, 2)))
    assert out == 27.0
    np.testing.assert_array_equal(named["y"], np.full((2, 2), 3.0))
    np.testing.assert_array_equal(named["z"], np.full((2, 2), 27.0))


def test_evaluate_reductions_indexing_and_concat():
    x = np.arange(6.0).reshape(2, 3) - 2
    out, _ = run("concat([norm(x, ord=inf, axis=1), sum(x[:, 0:1], axis=0), x[1, 1:]])", x=x)
    want = np.concatenate([np.abs(x).max(axis=1), x[:, 0:1].sum(axis=0), x[1, 1:]])
    np.testing.assert_allclose(out, want)
    out, _ = run("reshape(x.T, (2, -1))[..., 0] - transpose(x, (1, 0))[1:, 1]", x=x)
    np.testing.assert_allclose(out, x.T.reshape(2, -1)[..., 0] - x.T[1:, 1])


def test_hook_sees_every_node_in_order_and_can_replace_a_value():
    program = parse("g = x * 2; h = exp(g); sum(h)", ["x"])
    seen = []

    def hook(i, node, value):
        seen.append((i, node.op))
        return np.zeros_like(value) if node.name == "g" else value

    out, named = evaluate(program, {"x": np.array([1.0, 2.0])}, NUMPY_LOWERING, hook)
    assert seen == [(0, "input"), (1, "scalar"), (2, "mul"), (3, "exp"), (4, "sum")]
    assert out == 2.0
    np.testing.assert_array_equal(named["g"], [0.0, 0.0])
    np.testing.assert_array_equal(named["h"], [1.0, 1.0])
