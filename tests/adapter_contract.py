"""What every adapter's tests check the same way: each op lowered as NumPy computes it, and
every check kind on one function with known derivatives. Each adapter's test module runs
these with its own adapter; what is particular to a framework stays in its module."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from gradconf.adapter import Adapter
from gradconf.case import Case
from gradconf.expr import evaluate, parse
from gradconf.ops import NUMPY_LOWERING
from gradconf.runner import env_for

A = np.array([[1.5, -2.0, 0.5], [3.0, 0.25, -1.0]])
B = np.array([[0.5, 1.0], [-1.5, 2.0], [1.0, 0.75]])
V = np.array([0.3, -1.2, 2.0])
POS = np.abs(A) + 0.5
T = np.arange(12.0).reshape(2, 2, 3) / 4 - 1
ENV = {"a": A, "b": B, "v": V, "p": POS, "t": T}

# every op of gradconf/ops.py, with NumPy's corner cases (1-D and batched matmul, 1-D
# transpose, tuple axes, keepdims norms, integer reshape, strided slices)
LOWERED = (
    "neg(a)", "-a", "pos(a)", "exp(a)", "log(p)", "sin(a)", "cos(a)", "tanh(a)", "sqrt(p)",
    "abs(a)", "a + 2 * a", "a - p", "a / p", "p ** 1.5", "a ** 3", "2 ** a",
    "a @ b", "mm(a, b)", "dot(v, v)", "v @ v", "a @ v", "v @ b", "t @ v", "t @ b",
    "sum(a)", "sum(a, axis=0)", "sum(a, axis=-1, keepdims=True)", "sum(t, axis=(0, 2))",
    "mean(a)", "mean(a, axis=1)", "mean(t, axis=(1, 2), keepdims=True)",
    "norm(a)", "norm(a, keepdims=True)", "norm(v, ord=1)", "norm(a, ord=inf, axis=0)",
    "norm(a, ord=-inf)", "norm(a, axis=1, keepdims=True)", "norm(t, ord=1, axis=2)",
    "concat([a, p], axis=0)", "cat([a, p], axis=1)",
    "transpose(a)", "transpose(a, axes=(1, 0))", "transpose(t)", "a.T", "v.T",
    "reshape(a, (3, 2))", "reshape(a, (-1,))", "reshape(a, 6)",
    "a[:, 0:1]", "a[1, 1]", "a[..., 2]", "a[:, None, 1]", "a[::2, 1:]", "t[1, ..., 0:2]",
    "ones_like(a) + zeros_like(a)",
    "maximum(a, p)", "minimum(a, 0.5)", "relu(a)", "max(a)", "max(t, axis=(0, 2))",
    "min(a, axis=1, keepdims=True)",
)


def lowering_params(known: Mapping[str, str] | None = None) -> list[Any]:
    """LOWERED as pytest params; ``known`` maps an entry to the framework bug it hits."""
    known = known or {}
    return [pytest.param(t, marks=pytest.mark.xfail(strict=True, reason=known[t]))
            if t in known else t for t in LOWERED]


def assert_lowering(ad: Adapter, text: str) -> None:
    """The adapter's value of ``text`` equals NumPy's, in shape and to 1e-14.

    Warnings are the framework's data here (PyTorch deprecates ``.T`` of a 1-D tensor),
    recorded by runs, not failures of the lowering.
    """
    prog = parse(text, list(ENV))
    ref, _ = evaluate(prog, ENV, NUMPY_LOWERING)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        got = ad.value(prog, ENV)["out"]
    np.testing.assert_allclose(got, ref, rtol=1e-14, atol=1e-14)
    assert got.shape == np.shape(ref)


CUBE = """
    id: cube
    title: x**3
    source: {note: t, section: t}
    inputs: {x: [1., 2.]}
    function: sum(x**3)
"""


def assert_checks_on_x_cubed(ad: Adapter, cube: Case) -> None:
    """Every check kind on sum(x**3) at (1, 2), against its derivatives written out."""
    env = env_for(cube, "float64")
    prog, x, ones, one = cube.program, np.array([1.0, 2.0]), np.ones(2), np.array(1.0)
    assert ad.value(prog, env)["out"] == pytest.approx(9.0)
    np.testing.assert_allclose(ad.vjp(prog, env, ("x",), np.array(2.0))["x"], 2 * 3 * x**2)
    assert ad.jvp(prog, env, ("x",), {"x": np.array([1.0, -1.0])}) == pytest.approx(3 - 12)
    for mode in ("rev", "fwd", "loop"):
        np.testing.assert_allclose(ad.jacobian(prog, env, ("x",), mode)["x"], 3 * x**2)
    np.testing.assert_allclose(ad.hessian(prog, env, ("x",), one)["x,x"], np.diag(6 * x))
    np.testing.assert_allclose(ad.derivative(prog, env, "x", [one]), 3 * x**2)
    np.testing.assert_allclose(ad.derivative(prog, env, "x", [one, ones]), 6 * x)
    np.testing.assert_allclose(ad.derivative(prog, env, "x", [one, ones, ones]), [6.0, 6.0])
    # the fourth derivative of x**3 is zero everywhere
    np.testing.assert_allclose(ad.derivative(prog, env, "x", [one, *[ones] * 3]), [0.0, 0.0])
