"""The oracle's stacked evaluation (gradconf.batch) and lockstep stencils: the same numbers
as one evaluation per point, for every op's examples and every batch mode."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from gradconf import batch, richardson
from gradconf import oracle as oracle_module
from gradconf.expr import evaluate, infer_shapes, parse
from gradconf.ops import EXAMPLE_ENV, NUMPY_LOWERING, OPS

EXAMPLES = sorted({e for spec in OPS.values() for e in spec.examples})
FLOAT_INPUTS = [n for n, a in EXAMPLE_ENV.items() if a.dtype.kind == "f"]


def _moved(name: str, k: int) -> np.ndarray:
    rng = np.random.default_rng(k)
    a = EXAMPLE_ENV[name]
    return a + 1e-3 * rng.standard_normal(a.shape)


@pytest.mark.parametrize("text", EXAMPLES)
def test_a_stack_of_points_gives_each_point_s_value(text):
    """Each example over a stack of 3 points, once with each float input stacked alone and
    once with all of them: equal to evaluating the points one by one."""
    prog = parse(text, list(EXAMPLE_ENV))
    shapes = tuple(infer_shapes(prog, {n: np.shape(a) for n, a in EXAMPLE_ENV.items()}))
    used = [n for n in FLOAT_INPUTS if any(nd.op == "input" and nd.name == n
                                           for nd in prog.nodes)]
    for stacked in [*([n] for n in used), used]:
        env = dict(EXAMPLE_ENV)
        points = [{**env, **{n: _moved(n, k) for n in stacked}} for k in range(3)]
        env.update({n: np.stack([p[n] for p in points]) for n in stacked})
        with np.errstate(all="ignore"):
            got = batch.evaluate_stack(prog, env, frozenset(stacked), shapes, NUMPY_LOWERING, 3)
            want = np.stack([np.asarray(evaluate(prog, p, NUMPY_LOWERING)[0]) for p in points])
        assert got.shape == want.shape, (text, stacked)
        np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-300, err_msg=str(stacked))


def test_a_mode_whose_result_has_another_shape_falls_back_to_each_point(monkeypatch):
    """A row that claims a batch mode its reference cannot honour still gives the right
    numbers: a result of the wrong shape is recomputed point by point."""
    prog = parse("matmul(v, m)", ["v", "m"])
    spec = OPS["matmul"]
    monkeypatch.setitem(OPS, "matmul", type(spec)(**{**spec.__dict__, "batch": "leading"}))
    shapes = tuple(infer_shapes(prog, {"v": (3,), "m": (3, 3)}))
    vs = np.stack([_moved("v", k) for k in range(3)])
    got = batch.evaluate_stack(prog, {"v": vs, "m": EXAMPLE_ENV["m"]}, frozenset({"v"}),
                               shapes, NUMPY_LOWERING, 3)
    np.testing.assert_array_equal(got, np.stack([v @ EXAMPLE_ENV["m"] for v in vs]))


def test_an_output_that_no_point_moves_is_repeated_for_each():
    prog = parse("sum(a) + v", ["a", "v"])
    shapes = tuple(infer_shapes(prog, {"a": (2, 3), "v": (3,)}))
    got = batch.evaluate_stack(prog, EXAMPLE_ENV, frozenset(), shapes, NUMPY_LOWERING, 4)
    assert got.shape == (4, 3)
    np.testing.assert_array_equal(got[2], np.sum(EXAMPLE_ENV["a"]) + EXAMPLE_ENV["v"])


def test_lockstep_stencils_equal_one_at_a_time():
    """drive_many over several directional and one-sided derivatives gives bit for bit
    what drive gives each alone, including one whose steps leave the domain."""
    x0 = np.array([0.3, 1e-9, 2.0])

    def f(x: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return np.array([np.sin(x[0]) * x[2], np.log(x[1]) + x[0] ** 3])

    def f_rows(xs: np.ndarray) -> np.ndarray:
        return np.stack([f(x) for x in xs])
    center = f(x0)
    units = [np.eye(3)[i] for i in range(3)]

    def make() -> list[richardson.Steps]:
        return [*(richardson.directional_steps(x0, [d], center) for d in units),
                *(richardson.directional_steps(x0, [a, b], center)
                  for a, b in itertools.combinations(units, 2)),
                *(richardson.one_sided_steps(x0, d, center, s) for d in units for s in (1, -1))]
    rows: list[int] = []

    def f_rows_counted(xs: np.ndarray) -> np.ndarray:
        rows.append(len(xs))
        return f_rows(xs)
    alone = [richardson.drive(s, f) for s in make()]
    for width in (None, 2):
        rows.clear()
        together = richardson.drive_many(make(), f_rows_counted, width)
        for (v1, e1), (v2, e2) in zip(together, alone, strict=True):
            assert (v1 is None) == (v2 is None)
            if v1 is not None:
                assert v1.tobytes() == v2.tobytes() and e1.tobytes() == e2.tobytes()
        # at most `width` stencils at once, 4 points each (order 2) at the most
        assert max(rows) <= (4 * len(alone) if width is None else 4 * width)
    assert max(rows) <= 8


@pytest.mark.parametrize("function,shapes", [
    ("sum(tanh(x) * x)", {"x": [4]}),
    ("softmax(x @ w)", {"x": [2, 3], "w": [3, 2]}),
    ("sum(conv2d(x, w, padding=1))", {"x": [1, 2, 3, 3], "w": [2, 2, 2, 2]}),
    ("max(abs(x))", {"x": [3]}),
])
def test_the_oracle_s_stacked_references_equal_its_point_by_point_ones(function, shapes,
                                                                      one_case, monkeypatch):
    """The Jacobian and Hessian from stacked evaluations equal those from evaluating every
    point alone (f_stack replaced by a loop over f)."""
    rng = np.random.default_rng(0)
    values = {n: json.dumps(np.round(rng.uniform(-1, 1, s), 3).tolist())
              for n, s in shapes.items()}
    case = one_case("\n".join([
        "id: stacked", "title: stacked", "source: {note: test, section: test}", "inputs:",
        *(f"  {n}: {v}" for n, v in values.items()),
        f'function: "{function}"', "dtypes: [float64]", "checks: [value]"]))

    def refs() -> tuple[np.ndarray, ...]:
        o = oracle_module.Oracle(case, "float64", tuple(shapes))
        jac = o.jacobian()
        cot = np.ones(case.out_shape)
        hess = o.hessian(cot) if case.out_shape == () else {}
        return (jac.value, jac.err, *(e.value for e in hess.values()))
    stacked = refs()
    monkeypatch.setattr(oracle_module.Oracle, "f_stack",
                        lambda self, xs: np.stack([self.f(x) for x in xs]))
    alone = refs()
    for a, b in zip(stacked, alone, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)
