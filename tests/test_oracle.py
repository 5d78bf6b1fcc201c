"""The finite-difference oracle against derivatives worked out by hand.

Every expected value here is analytic (written in the test); the oracle's value must
agree with it, and its per-entry error estimate must cover the actual error (within the
tolerance model's ``oracle_factor``) while staying small where the function is well
scaled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest

from gradconf.compare import DTYPE_TOLERANCE, compare, tolerance_for
from gradconf.oracle import BASE_STEP, Estimate, Oracle, oracle_for, richardson

FACTOR = DTYPE_TOLERANCE["float64"].oracle_factor  # 4: how far the estimate may undershoot

Arrays = dict[str, np.ndarray]


# ---------------------------------------------------------------- helpers


def _num(v: float) -> str:
    """A float as YAML 1.1 reads it back as a float (``1e-05`` would be a string)."""
    s = repr(float(v))
    return s.replace("e", ".0e") if "e" in s and "." not in s else s


def _literal(value: Any) -> str:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        return _num(float(arr))
    return "[" + ", ".join(_literal(v) for v in arr) + "]"


def _body(function: str, inputs: Mapping[str, Any], dtypes: str = "[float64]",
          case_id: str = "oracle-test") -> str:
    lines = [f"id: {case_id}", "title: oracle test", "source: {note: test, section: test}",
             "inputs:"]
    lines += [f"  {name}: {_literal(value)}" for name, value in inputs.items()]
    lines += [f'function: "{function}"', f"dtypes: {dtypes}", "checks: [value]"]
    return "\n".join(lines)


def _oracle(one_case, function: str, inputs: Mapping[str, Any], dtype: str = "float64",
            dtypes: str = "[float64]", case_id: str = "oracle-test") -> Oracle:
    case = one_case(_body(function, inputs, dtypes, case_id))
    return Oracle(case, dtype, case.wrt)


def _verify(est: Estimate, analytic: Any, *, rtol: float, err_rtol: float,
            floor: float = 1.0) -> tuple[float, float]:
    """Value within ``rtol·max(|a|, floor)`` per entry; error estimate honest and small.

    Honest: ``|value - a| <= oracle_factor · err`` entry by entry. Small: every ``err`` is
    at most ``err_rtol`` times the array's scale ``max(max|a|, floor)``. Returns the
    largest actual error and the largest estimate (for the report).
    """
    a = np.asarray(analytic, dtype=np.float64)
    value, err = np.asarray(est.value), np.asarray(est.err)
    assert value.shape == a.shape
    assert est.classification == "smooth"
    assert np.all(np.isfinite(value)) and np.all(np.isfinite(err))
    actual = np.abs(value - a)
    bound = rtol * np.maximum(np.abs(a), floor)
    assert np.all(actual <= bound), (
        f"max relative error {np.max(actual / np.maximum(np.abs(a), floor)):.3g} > {rtol}")
    assert np.all(actual <= FACTOR * err), (
        f"error estimate too small: actual/err up to "
        f"{np.max(actual / np.maximum(err, 1e-300)):.3g}")
    scale = max(float(np.max(np.abs(a))) if a.size else 0.0, floor)
    assert np.all(err <= err_rtol * scale), f"err {np.max(err):.3g} vs scale {scale:.3g}"
    return float(actual.max()), float(err.max())


def _diag(values: np.ndarray) -> np.ndarray:
    """Jacobian of an elementwise map of a vector: ``diag(values)``."""
    return np.diag(np.asarray(values, dtype=np.float64))


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


# ---------------------------------------------------------------- first order

X3 = np.array([0.3, -1.2, 2.0])
POS = np.array([0.5, 2.0, 7.0])
A23 = np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]])
B32 = np.array([[1.0, -2.0], [0.5, 3.0], [-1.5, 0.2]])
M22 = np.array([[0.7, -1.1], [1.3, 0.4]])


def _matmul_jac(a: np.ndarray, b: np.ndarray) -> Arrays:
    m, k = a.shape
    n = b.shape[1]
    ja = np.einsum("ik,lj->ijkl", np.eye(m), b)      # ∂(ab)[i,j]/∂a[k,l] = δik b[l,j]
    jb = np.einsum("ik,jl->ijkl", a, np.eye(n))      # ∂(ab)[i,j]/∂b[k,l] = a[i,k] δjl
    assert ja.shape == (m, n, m, k) and jb.shape == (m, n, k, n)
    return {"a": ja, "b": jb}


def _tanh_matvec_jac(a: np.ndarray, x: np.ndarray) -> Arrays:
    s = 1.0 - np.tanh(a @ x) ** 2                   # out = sum(tanh(a @ x)), a scalar
    return {"a": np.outer(s, x), "x": a.T @ s}


@dataclass(frozen=True)
class FirstOrder:
    """A function, its point, its analytic Jacobian per input (out_shape + in_shape)."""

    id: str
    function: str
    inputs: Mapping[str, np.ndarray]
    jacobian: Callable[..., Arrays]
    floor: float = 1.0      # accuracy is relative to max(|a|, floor): 1 → absolute near 0


FIRST_ORDER = [
    FirstOrder("exp", "exp(x)", {"x": X3}, lambda x: {"x": _diag(np.exp(x))}),
    FirstOrder("sin", "sin(x)", {"x": X3}, lambda x: {"x": _diag(np.cos(x))}),
    FirstOrder("cos", "cos(x)", {"x": X3}, lambda x: {"x": _diag(-np.sin(x))}),
    FirstOrder("tanh", "tanh(x)", {"x": X3}, lambda x: {"x": _diag(1 - np.tanh(x) ** 2)}),
    FirstOrder("log", "log(x)", {"x": POS}, lambda x: {"x": _diag(1 / x)}),
    FirstOrder("sqrt", "sqrt(x)", {"x": POS}, lambda x: {"x": _diag(0.5 / np.sqrt(x))}),
    FirstOrder("cube", "x**3", {"x": X3}, lambda x: {"x": _diag(3 * x**2)}),
    # large scale: the step starts at 0.125·|x|
    FirstOrder("log-large", "log(x)", {"x": np.array([1e3, 2.5e3])},
               lambda x: {"x": _diag(1 / x)}, floor=1e-12),
    FirstOrder("sqrt-large", "sqrt(x)", {"x": np.array([1e3, 4e4])},
               lambda x: {"x": _diag(0.5 / np.sqrt(x))}, floor=1e-12),
    FirstOrder("exp-large", "exp(x)", {"x": np.array([20.0])},
               lambda x: {"x": _diag(np.exp(x))}),
    FirstOrder("cube-large", "x**3", {"x": np.array([1e3, -250.0])},
               lambda x: {"x": _diag(3 * x**2)}),
    # small scale: the step stays at 0.125 (max(1, |x|)), far larger than x itself;
    # judged purely relatively (derivatives ~1e-6)
    FirstOrder("cube-small", "x**3", {"x": np.array([1e-3, -2e-3, 5e-4])},
               lambda x: {"x": _diag(3 * x**2)}, floor=1e-12),
    FirstOrder("matmul", "a @ b", {"a": A23, "b": B32}, _matmul_jac),
    FirstOrder("norm-of-square", "norm(x**2)", {"x": M22},
               lambda x: {"x": 2 * x**3 / np.sqrt(np.sum(x**4))}),
    FirstOrder("mean", "mean(x)", {"x": A23}, lambda x: {"x": np.full(x.shape, 1 / x.size)}),
    FirstOrder("sum", "sum(x)", {"x": A23}, lambda x: {"x": np.ones(x.shape)}),
    FirstOrder("mean-axis", "mean(x, axis=0)", {"x": A23},
               lambda x: {"x": np.einsum("jl,k->jkl", np.eye(3), np.full(2, 0.5))}),
    FirstOrder("divide", "a / b",
               {"a": np.array([1.5, -2.0, 0.7]), "b": np.array([0.8, 2.5, -1.3])},
               lambda a, b: {"a": _diag(1 / b), "b": _diag(-a / b**2)}),
    FirstOrder("softplus-mean", "mean(log(1 + exp(z)))",
               {"z": np.array([-2.0, 0.1, 3.0, 0.7])},
               lambda z: {"z": _sigmoid(z) / z.size}),
    FirstOrder("tanh-matvec", "sum(tanh(a @ x))",
               {"a": A23, "x": np.array([0.4, -0.3, 0.9])}, _tanh_matvec_jac),
]


@pytest.mark.parametrize("fo", FIRST_ORDER, ids=lambda fo: fo.id)
def test_first_order_against_analytic(one_case, fo: FirstOrder):
    """Jacobian per input, vjp (ones and random cotangent) and jvp: 1e-9, honest err."""
    o = _oracle(one_case, fo.function, fo.inputs)
    jac = fo.jacobian(*(fo.inputs[n] for n in o.wrt))
    out_shape = o.case.out_shape
    nd = len(out_shape)
    check = {"rtol": 1e-9, "err_rtol": 1e-8, "floor": fo.floor}

    by_input = o.jacobian_by_input()
    for name in o.wrt:
        _verify(by_input[name], jac[name].reshape(out_shape + o.case.shapes[name]), **check)

    rng = np.random.default_rng(7)
    for cot in (np.ones(out_shape), rng.standard_normal(out_shape)):
        vjp = o.vjp(cot)
        for name in o.wrt:
            expected = np.tensordot(cot, jac[name].reshape(out_shape + o.case.shapes[name]),
                                    axes=nd)
            _verify(vjp[name], expected, **check)

    tangents = {n: rng.standard_normal(o.case.shapes[n]) for n in o.wrt}
    expected_jvp = sum(
        np.tensordot(jac[n].reshape(out_shape + o.case.shapes[n]), tangents[n],
                     axes=len(o.case.shapes[n])) for n in o.wrt)
    # one step length serves every coordinate of u (set by the largest |x| on its support),
    # so a jvp's estimate is looser than a Jacobian column's: 2e-8 relative for log here
    _verify(o.jvp(tangents), expected_jvp, **{**check, "err_rtol": 1e-7})


def test_jvp_with_one_input_tangent_zero(one_case):
    """A tangent only on ``b`` of a / b gives -a u / b²; a zero tangent gives exact zeros."""
    a, b = np.array([1.5, -2.0, 0.7]), np.array([0.8, 2.5, -1.3])
    o = _oracle(one_case, "a / b", {"a": a, "b": b})
    u = np.array([0.3, -1.0, 2.0])
    _verify(o.jvp({"a": np.zeros(3), "b": u}), -a * u / b**2, rtol=1e-9, err_rtol=1e-8)
    zero = o.jvp({"a": np.zeros(3), "b": np.zeros(3)})
    assert np.array_equal(zero.value, np.zeros(3)) and zero.classification == "smooth"


# ------------------------------------------------- high-frequency and poles (weaknesses)

@pytest.mark.parametrize(("function", "x", "slope"), [
    ("sin(100 * x)", 0.3, 100 * np.cos(30.0)),
    ("sin(x)", 1e3, np.cos(1e3)),
    ("sin(10 * x)", 20.0, 10 * np.cos(200.0)),
], ids=["sin-100x-at-0.3", "sin-at-1e3", "sin-10x-at-20"])
def test_oscillatory_first_order(one_case, function, x, slope):
    """Large frequency or large |x|: value right to 1e-9, or at least an honest error."""
    est = _oracle(one_case, function, {"x": [x]}).jacobian()
    value, err = float(est.value[0, 0]), float(est.err[0, 0])
    assert abs(value - slope) <= FACTOR * err, (
        f"confidently wrong: {value:.6g} vs {slope:.6g}, err {err:.3g}")
    assert abs(value - slope) <= 1e-9 * max(abs(slope), 1.0)


def test_divide_near_pole_is_not_confidently_wrong(one_case):
    est = _oracle(one_case, "a / b", {"a": [1.0], "b": [1e-3]}).jacobian_by_input()["b"]
    value, err = float(est.value[0, 0]), float(est.err[0, 0])
    assert abs(value - (-1e6)) <= FACTOR * err, f"{value:.6g} with err {err:.3g}"


# ---------------------------------------------------------------- second order


def test_hessian_sum_of_cubes(one_case):
    o = _oracle(one_case, "sum(x**3)", {"x": X3})
    h = o.hessian(np.array(1.0))
    assert set(h) == {"x,x"}
    _verify(h["x,x"], np.diag(6 * X3), rtol=1e-7, err_rtol=1e-7)


def test_hessian_exp_times_y_blocks(one_case):
    """sum(exp(x) * y): xx = diag(eˣ y), xy = yx = diag(eˣ), yy = 0."""
    y = np.array([0.5, 1.5, -0.7])
    o = _oracle(one_case, "sum(exp(x) * y)", {"x": X3, "y": y})
    h = o.hessian(np.array(1.0))
    assert set(h) == {"x,x", "x,y", "y,x", "y,y"}
    _verify(h["x,x"], np.diag(np.exp(X3) * y), rtol=1e-7, err_rtol=1e-7)
    _verify(h["x,y"], np.diag(np.exp(X3)), rtol=1e-7, err_rtol=1e-7)
    _verify(h["y,x"], np.diag(np.exp(X3)), rtol=1e-7, err_rtol=1e-7)
    _verify(h["y,y"], np.zeros((3, 3)), rtol=1e-7, err_rtol=1e-7)


def test_hessian_dot_self(one_case):
    o = _oracle(one_case, "x @ x", {"x": X3})
    _verify(o.hessian(np.array(1.0))["x,x"], 2 * np.eye(3), rtol=1e-7, err_rtol=1e-7)


def test_hessian_with_cotangent_of_vector_output(one_case):
    """Hessian of <v, x³> is diag(6 x v)."""
    v = np.array([0.4, -2.0, 1.1])
    o = _oracle(one_case, "x**3", {"x": X3})
    _verify(o.hessian(v)["x,x"], np.diag(6 * X3 * v), rtol=1e-7, err_rtol=1e-7)


def test_hessian_of_divide_blocks(one_case):
    """sum(a / b): aa = 0, ab = ba = diag(-1/b²), bb = diag(2a/b³)."""
    a, b = np.array([1.5, -2.0]), np.array([0.8, 2.5])
    h = _oracle(one_case, "sum(a / b)", {"a": a, "b": b}).hessian(np.array(1.0))
    _verify(h["a,a"], np.zeros((2, 2)), rtol=1e-7, err_rtol=1e-7)
    _verify(h["a,b"], np.diag(-1 / b**2), rtol=1e-7, err_rtol=1e-7)
    _verify(h["b,a"], np.diag(-1 / b**2), rtol=1e-7, err_rtol=1e-7)
    _verify(h["b,b"], np.diag(2 * a / b**3), rtol=1e-7, err_rtol=1e-7)


HIGHER = [
    ("x**4", X3, {2: lambda x: 12 * x**2, 3: lambda x: 24 * x}),
    ("sin(x)", X3, {2: lambda x: -np.sin(x), 3: lambda x: -np.cos(x)}),
    ("exp(x)", X3, {2: np.exp, 3: np.exp}),
    ("log(x)", POS, {2: lambda x: -1 / x**2, 3: lambda x: 2 / x**3}),
    ("tanh(x)", X3, {2: lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)}),
]


@pytest.mark.parametrize(("function", "x", "derivs"), HIGHER, ids=[h[0] for h in HIGHER])
def test_derivative_orders_2_and_3(one_case, function, x, derivs):
    """∇ₓ<1, ∇ₓ<1, f>> (and order 3) of an elementwise f is its n-th derivative."""
    o = _oracle(one_case, function, {"x": x})
    for order, fn in derivs.items():
        est = o.derivative([np.ones(3)] * order)
        # order 3 amplifies rounding by 1/h³: its estimate is honest but looser
        _verify(est, fn(x), rtol=1e-7, err_rtol=1e-7 if order == 2 else 1e-5)


def test_derivative_with_cotangents(one_case):
    """With cotangents v₁, v₂, v₃ of x⁴: order 2 is 12x²v₁v₂, order 3 is 24x v₁v₂v₃."""
    rng = np.random.default_rng(3)
    v1, v2, v3 = rng.standard_normal((3, 3))
    o = _oracle(one_case, "x**4", {"x": X3})
    _verify(o.derivative([v1, v2]), 12 * X3**2 * v1 * v2, rtol=1e-7, err_rtol=1e-7)
    _verify(o.derivative([v1, v2, v3]), 24 * X3 * v1 * v2 * v3, rtol=1e-7, err_rtol=1e-5)


def test_fourth_derivative_of_x4_is_24(one_case):
    o = _oracle(one_case, "x**4", {"x": X3})
    _verify(o.derivative([np.ones(3)] * 4), np.full(3, 24.0), rtol=1e-7, err_rtol=1e-5)


# ---------------------------------------------------------------- error estimates


@pytest.mark.parametrize(("function", "x", "slope"), [
    ("1 / x", 0.05, -400.0),                 # pole at 0, 0.4 steps away from the first step
    ("log(x)", 1e-5, 1e5),                   # the edge lies 13 halvings below the first step
    ("tanh(100 * x)", 0.0, 100.0),           # varies on a 0.01 scale, first step 0.125
], ids=["reciprocal-near-pole", "log-at-1e-5", "steep-tanh"])
def test_badly_scaled_points_are_resolved(one_case, function, x, slope):
    """The step keeps halving until successive extrapolations agree: accurate and honest."""
    est = _oracle(one_case, function, {"x": [x]}).jacobian()
    value, err = float(est.value[0, 0]), float(est.err[0, 0])
    actual = abs(value - slope)
    assert est.classification == "smooth" and np.isfinite(value)
    assert actual <= 1e-9 * abs(slope)
    assert actual <= FACTOR * err
    # so a correct framework still passes the comparison, its bound widened by err
    cmp = compare({"d": np.array([slope])}, {"d": np.array([value])}, {"d": np.array([err])},
                  tolerance_for("float64", {}))
    assert cmp.ok, cmp.reason


def test_well_scaled_error_estimate_is_tight(one_case):
    """For exp at moderate x, err is far below 1e-8 relative yet not below the error."""
    est = _oracle(one_case, "exp(x)", {"x": X3}).jacobian()
    err = np.diagonal(est.err)
    assert np.all(err < 1e-11 * np.exp(X3))
    assert np.all(err > 0)


# ---------------------------------------------------------------- domain edges


@pytest.mark.parametrize(("function", "x", "slope"), [
    ("log(x)", 1e-3, 1e3),
    ("log(x)", 0.05, 20.0),
    ("sqrt(x)", 1e-3, 0.5 / np.sqrt(1e-3)),
    ("sqrt(x)", 0.05, 0.5 / np.sqrt(0.05)),
], ids=["log-1e-3", "log-0.05", "sqrt-1e-3", "sqrt-0.05"])
def test_near_domain_edge_steps_shrink(one_case, function, x, slope):
    """The first steps cross 0 (NaN); they are discarded and the result stays accurate."""
    assert x - BASE_STEP < 0  # the first stencil leaves the domain
    est = _oracle(one_case, function, {"x": [x]}).jacobian()
    _verify(est, [[slope]], rtol=1e-8, err_rtol=1e-6, floor=1e-12)


def test_second_derivative_near_domain_edge(one_case):
    o = _oracle(one_case, "log(x)", {"x": [0.05]})
    _verify(o.hessian(np.ones(1))["x,x"], [[-400.0]], rtol=1e-7, err_rtol=1e-7)


@pytest.mark.parametrize("function", ["sqrt(x)", "log(x)"])
def test_at_domain_edge_undefined(one_case, function):
    """At x = 0 there is no finite derivative: "undefined" and NaN, never a number."""
    o = _oracle(one_case, function, {"x": [0.0]})
    jac = o.jacobian()
    assert jac.classification == "undefined"
    assert np.isnan(jac.value[0, 0]) and not np.isfinite(jac.err[0, 0])
    assert o.jacobian_by_input()["x"].classification == "undefined"
    vjp = o.vjp(np.ones(1))["x"]
    assert vjp.classification == "undefined" and np.isnan(vjp.value[0])
    hess = o.hessian(np.ones(1))["x,x"]
    assert hess.classification == "undefined" and np.isnan(hess.value[0, 0])


def test_at_domain_edge_other_entries_still_right(one_case):
    """sqrt at [0, 1]: the column along x[0] is NaN, the one along x[1] is exact."""
    o = _oracle(one_case, "sqrt(x)", {"x": [0.0, 1.0]})
    jac = o.jacobian()
    assert jac.classification == "undefined"
    assert np.all(np.isnan(jac.value[:, 0]))
    assert jac.value[0, 1] == 0.0
    assert jac.value[1, 1] == pytest.approx(0.5, rel=1e-12)
    vjp = o.vjp(np.ones(2))["x"]
    assert np.isnan(vjp.value[0]) and vjp.value[1] == pytest.approx(0.5, rel=1e-12)


def test_infinite_output_entry_emits_no_warning(one_case):
    o = _oracle(one_case, "log(x)", {"x": [0.0, 1.0]})
    jac = o.jacobian()
    assert jac.classification == "undefined"
    assert jac.value[1, 1] == pytest.approx(1.0, rel=1e-12)


@pytest.mark.parametrize(("function", "slope"), [
    ("log(x)", 1e6), ("sqrt(x)", 0.5 / np.sqrt(1e-6))], ids=["log", "sqrt"])
def test_smooth_at_1e_6_is_not_undefined(one_case, function, slope):
    est = _oracle(one_case, function, {"x": [1e-6]}).jacobian()
    assert est.classification == "smooth"
    assert abs(float(est.value[0, 0]) - slope) <= FACTOR * float(est.err[0, 0])


# ---------------------------------------------------------------- caching


def test_jacobian_is_computed_once(one_case):
    o = _oracle(one_case, "a / b", {"a": [1.5, -2.0], "b": [0.8, 2.5]})
    assert o.evaluations == 0
    first = o.jacobian()
    n = o.evaluations
    assert n > 0
    second = o.jacobian()
    assert o.evaluations == n
    assert np.array_equal(first.value, second.value) and np.array_equal(first.err, second.err)
    o.vjp(np.ones(2))
    o.vjp(np.array([0.3, -0.7]))
    by_input = o.jacobian_by_input()
    assert o.evaluations == n
    assert np.array_equal(by_input["a"].value, first.value[:, :2])
    assert np.array_equal(by_input["b"].value, first.value[:, 2:])


def test_jvp_agrees_with_cached_jacobian(one_case):
    """jvp along u equals J·u from the Jacobian, within both error estimates."""
    o = _oracle(one_case, "sum(tanh(a @ x))", {"a": A23, "x": [0.4, -0.3, 0.9]})
    rng = np.random.default_rng(1)
    tangents = {"a": rng.standard_normal((2, 3)), "x": rng.standard_normal(3)}
    jac = o.jacobian()
    u = o.flat(tangents)
    jvp = o.jvp(tangents)
    assert abs(float(jvp.value) - float(jac.value @ u)) <= (
        FACTOR * (float(jvp.err) + float(jac.err @ np.abs(u))))


def test_jvp_reuses_cached_jacobian(one_case):
    o = _oracle(one_case, "a / b", {"a": [1.5, -2.0], "b": [0.8, 2.5]})
    o.jacobian()
    n = o.evaluations
    o.jvp({"a": np.ones(2), "b": np.ones(2)})
    assert o.evaluations == n


def test_jvp_at_mixed_scales(one_case):
    x = np.array([1e-3, 1e3])
    o = _oracle(one_case, "log(x)", {"x": x})
    _verify(o.jacobian_by_input()["x"], np.diag(1 / x), rtol=1e-8, err_rtol=1e-6,
            floor=1e-12)
    _verify(o.jvp({"x": np.ones(2)}), 1 / x, rtol=1e-8, err_rtol=1e-6, floor=1e-12)


def test_oracle_for_returns_the_same_object(one_case):
    case = one_case(_body("exp(x)", {"x": [0.5, 1.0]}, "[float32, float64]",
                          case_id="oracle-for-cache-test"))
    first = oracle_for(case, "float64", ("x",))
    assert oracle_for(case, "float64", ("x",)) is first
    assert oracle_for(case, "float64", ["x"]) is first           # wrt as a list
    assert oracle_for(case, "float32", ("x",)) is not first
    first.jacobian()
    n = first.evaluations
    oracle_for(case, "float64", ("x",)).jacobian()
    assert first.evaluations == n


# ---------------------------------------------------------------- dtype rounding


@pytest.mark.parametrize(("dtype", "np_dtype"), [
    ("float32", np.float32), ("float16", np.float16)])
def test_low_precision_point_is_rounded(one_case, dtype, np_dtype):
    """A float32 run differentiates exp at float32(0.1), not at 0.1."""
    o = _oracle(one_case, "exp(x)", {"x": [0.1]}, dtype=dtype,
                dtypes=f"[{dtype}, float64]")
    rounded = float(np_dtype(0.1))
    assert rounded != 0.1
    assert o.point["x"][0] == rounded
    assert o.x0[0] == rounded
    slope = float(o.jacobian().value[0, 0])
    assert abs(slope - np.exp(rounded)) <= 1e-13
    assert abs(slope - np.exp(0.1)) > 1e-10       # the unrounded point is distinguishable


def test_float64_point_is_exact(one_case):
    o = _oracle(one_case, "exp(x)", {"x": [0.1]}, dtypes="[float32, float64]")
    assert o.point["x"][0] == 0.1


# ---------------------------------------------------------------- richardson


def test_richardson_recovers_limit_of_even_series():
    """D(h) = d + c₁h² + c₂h⁴ on h, h/2, …: two eliminations leave d exactly."""
    d = np.array([1.2345678901234, -0.5, 3e-3])
    c1, c2 = np.array([0.7, -2.0, 5.0]), np.array([-0.3, 1.5, 11.0])
    hs = [0.25 / 2**k for k in range(6)]
    levels = [d + c1 * h**2 + c2 * h**4 for h in hs]
    noise = [np.zeros(3) for _ in hs]
    value, err = richardson(levels, noise)
    assert np.all(np.abs(value - d) <= 8 * np.finfo(float).eps * np.maximum(np.abs(d), 1))
    assert np.all(err <= 1e-14)


def test_richardson_error_covers_rounding_noise():
    """With rounding noise on each level, err covers it and the value keeps to it."""
    rng = np.random.default_rng(5)
    d, hs = np.array([0.75, -3.0]), [0.125 / 2**k for k in range(6)]
    eps = np.finfo(float).eps
    noise = [np.full(2, 4 * eps / h) for h in hs]        # like EPS·|f|/(2h) with |f| ~ 8
    levels = [d + 1.3 * h**2 - 0.4 * h**4 + rng.uniform(-1, 1, 2) * n
              for h, n in zip(hs, noise, strict=True)]
    value, err = richardson(levels, noise)
    assert np.all(np.abs(value - d) <= FACTOR * err)
    assert np.all(err <= 1e-12)


def test_richardson_with_an_h6_term_and_noise():
    """A sixth-order term needs one more level; the noise term is carried into err."""
    d, hs = 2.0, [0.5 / 2**k for k in range(6)]
    levels = [np.asarray(d + 0.3 * h**2 - 0.2 * h**4 + 0.1 * h**6) for h in hs]
    noise = [np.asarray(1e-13) for _ in hs]
    value, err = richardson(levels, noise)
    assert abs(float(value) - d) <= 1e-14
    assert float(err) >= 2e-13               # at least the noise, doubled


def test_richardson_needs_three_levels():
    """Two levels cannot show convergence: no estimate. Three equal levels: converged."""
    value, err = richardson([np.asarray(5.0)] * 2, [np.asarray(0.0)] * 2)
    assert np.isnan(value) and np.isnan(err)
    value, err = richardson([np.asarray(5.0)] * 4, [np.asarray(0.0)] * 4)
    assert float(value) == 5.0 and float(err) == 0.0
