"""What every adapter's tests check the same way: each op lowered as NumPy computes it, and
every check kind on one function with known derivatives. Each adapter's test module runs
these with its own adapter; what is particular to a framework stays in its module."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from gradconf.adapter import Adapter, unsupported_reason
from gradconf.case import Case
from gradconf.expr import evaluate, parse
from gradconf.ops import EXAMPLE_ENV, NUMPY_LOWERING, OPS
from gradconf.runner import env_for

ENV = EXAMPLE_ENV
A, V = ENV["a"], ENV["v"]
# every op's examples from its row in gradconf/ops/ (NumPy's corner cases: 1-D and batched
# matmul, 1-D transpose, tuple axes, keepdims norms, integer reshape, strided slices, ...)
LOWERED = tuple(dict.fromkeys(e for spec in OPS.values() for e in spec.examples))


def lowering_params(lowering: Mapping[str, Any],
                    known: Mapping[str, str] | None = None) -> list[Any]:
    """LOWERED as pytest params; ``known`` maps an entry to the framework bug it hits.

    An example using an op the adapter declares ``unsupported`` is skipped with the
    declared reason (the runs record it as ``unsupported``).
    """
    known = known or {}
    out = []
    for t in LOWERED:
        reasons = [r for op in parse(t, list(ENV)).ops_used()
                   if (r := unsupported_reason(lowering[op])) is not None]
        if reasons:
            out.append(pytest.param(t, marks=pytest.mark.skip(reason="; ".join(reasons))))
        elif t in known:
            out.append(pytest.param(t, marks=pytest.mark.xfail(strict=True, reason=known[t])))
        else:
            out.append(t)
    return out


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
