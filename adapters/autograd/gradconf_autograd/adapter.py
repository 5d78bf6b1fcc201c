"""HIPS autograd adapter: every check in autograd's functional idiom.

autograd differentiates Python functions of NumPy arrays: ``make_vjp`` / ``grad`` for
reverse mode, ``make_jvp`` for forward mode, ``jacobian`` and ``hessian`` built on them.
There is no tensor object, no stored ``.grad`` and no tracking flag: which inputs are
differentiated is the ``argnum`` of a transform, and a gradient is its return value.
Results come back in whatever dtype autograd produced; nothing is coerced.
Imports autograd and nothing of any other framework.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from importlib.metadata import version as dist_version
from typing import Any

import autograd
import autograd.numpy as anp
import numpy as np

from gradconf.adapter import Adapter, Unsupported
from gradconf.expr import Program, evaluate
from gradconf_autograd.lowering import LOWERING
from gradconf_autograd.reproducer import TEMPLATES

Env = Mapping[str, np.ndarray]
Fn = Callable[..., Any]


# (exception type name, message pattern) -> neutral error kind (gradconf.kinds.ERROR_KINDS)
ERRORS: tuple[tuple[str, str], ...] = (
    (r"^TypeError: Grad only applies to real scalar-output", "non_scalar_output"),
    (r"^TypeError: value_and_grad only applies to real scalar-output", "non_scalar_output"),
    (r"^TypeError: Can't differentiate w\.r\.t\. type <class '(numpy\.)?u?int",
     "integer_input"),
    (r"^UFuncTypeError: .*to dtype\('u?int", "integer_input"),
    (r"^NotImplementedError: .*[VJ]JP of .* not defined", "unsupported_op"),
    (r"^NotImplementedError: .*not implemented", "unsupported_op"),
    (r"^LinAlgError: .*[Ss]ingular", "singular_input"),
    (r"^ValueError: .*(could not be broadcast|not aligned|mismatch in its core dimension"
     r"|cannot reshape)", "shape_mismatch"),
    (r"^UFuncTypeError: .*Cannot cast", "dtype_mismatch"),
)
WARNINGS: tuple[tuple[str, str], ...] = (
    ("deprecated", "deprecated_api"),
    ("output seems independent of input", "output_independent"),
)


def as_array(a: Any) -> np.ndarray:
    """A result as a NumPy array, keeping autograd's dtype (a 0-d result may be a scalar)."""
    return np.asarray(a)


def argnum(n: int) -> int | tuple[int, ...]:
    """``argnum`` as a user writes it: ``0`` for one input, ``(0, 1, ..)`` for several.

    The form matters for dtypes: with a tuple, autograd adds each gradient in place into
    zeros of its input's dtype (so float32 inputs get float32); with an int it returns
    whatever the vjp rules produced (float64 for float32 inputs of ``mean``, say).
    """
    return 0 if n == 1 else tuple(range(n))


def per_input(grads: Any, n: int) -> tuple[Any, ...]:
    """A transform's result for ``argnum(n)`` as one entry per input."""
    return (grads,) if n == 1 else tuple(grads)


class AutogradAdapter(Adapter):
    """HIPS autograd: ``make_vjp``, ``make_jvp``, ``jacobian``, ``hessian``, nested ``grad``."""

    name = "autograd"
    lowering = LOWERING
    complex_gradient = "wirtinger"  # checked by tests/test_complex.py
    error_patterns = ERRORS
    warning_patterns = WARNINGS
    probe_module = "gradconf_autograd.probes"
    reproducer_templates = TEMPLATES

    def version(self) -> str:
        """The installed autograd distribution's version (autograd has no ``__version__``)."""
        return dist_version("autograd")

    # ------------------------------------------------------------ building blocks

    def forward(self, prog: Program, env: Mapping[str, Any]) -> tuple[Any, dict[str, Any]]:
        """Evaluate the program with autograd.numpy ops."""
        return evaluate(prog, env, LOWERING)

    def closure(self, prog: Program, env: Env, wrt: tuple[str, ...]) -> Fn:
        """The case's function of the ``wrt`` arrays, in that order: what autograd transforms."""
        def fn(*xs: Any) -> Any:
            return self.forward(prog, {**env, **dict(zip(wrt, xs, strict=True))})[0]
        return fn

    @staticmethod
    def primals(env: Env, wrt: tuple[str, ...]) -> tuple[np.ndarray, ...]:
        """The arrays at which to differentiate, in ``wrt`` order.

        autograd has no vector space for ml_dtypes' bfloat16: such a run is unsupported.
        """
        if any(env[n].dtype.name == "bfloat16" for n in wrt):
            raise Unsupported("bfloat16: autograd has no vector space for ml_dtypes.bfloat16")
        return tuple(env[n] for n in wrt)

    # ------------------------------------------------------------ checks

    def value(self, prog: Program, env: Env) -> dict[str, np.ndarray]:
        """Forward value and named intermediates: plain autograd.numpy on NumPy arrays."""
        out, named = self.forward(prog, env)
        return {n: as_array(v) for n, v in {"out": out, **named}.items()}

    def vjp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``vjp, y = make_vjp(f, argnum)(*x); vjp(v)``: one gradient per input."""
        pullback, _ = autograd.make_vjp(self.closure(prog, env, wrt), argnum(len(wrt)))(
            *self.primals(env, wrt))
        grads = per_input(pullback(cotangent), len(wrt))
        return {n: as_array(g) for n, g in zip(wrt, grads, strict=True)}

    def jvp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        """``make_jvp(f, argnum)(*x)(u)``: autograd's forward mode."""
        push = autograd.make_jvp(self.closure(prog, env, wrt), argnum(len(wrt)))(
            *self.primals(env, wrt))
        u = tuple(tangents[n] for n in wrt)
        return as_array(push(u[0] if len(u) == 1 else u)[1])

    def jacobian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                 mode: str) -> dict[str, np.ndarray]:
        """``autograd.jacobian`` (rev), one ``make_jvp`` per input entry (fwd), or one call of
        a ``make_vjp`` pullback per output entry (loop)."""
        fn, x = self.closure(prog, env, wrt), self.primals(env, wrt)
        if mode == "loop":
            return dict(zip(wrt, _jacobian_loop(fn, x), strict=True))
        if mode not in JACOBIANS:
            raise Unsupported(f"jacobian by {mode!r}: autograd adapter modes are rev, fwd, loop")
        return {n: JACOBIANS[mode](fn, x, i) for i, n in enumerate(wrt)}

    def hessian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``autograd.hessian`` of ``<v, f>`` per input; ``jacobian(grad(.., a), b)`` across."""
        fn, x = self.closure(prog, env, wrt), self.primals(env, wrt)

        def inner(*xs: Any) -> Any:
            return anp.sum(cotangent * fn(*xs))

        def block(i: int, j: int) -> np.ndarray:
            if i == j:
                return as_array(autograd.hessian(inner, i)(*x))
            return as_array(autograd.jacobian(autograd.grad(inner, i), j)(*x))
        return {f"{a},{b}": block(i, j) for i, a in enumerate(wrt) for j, b in enumerate(wrt)}

    def derivative(self, prog: Program, env: Env, wrt: str,
                   cotangents: list[np.ndarray]) -> np.ndarray:
        """Nested ``grad(lambda x: sum(v_k * g_(k-1)(x)))``, ``g_0 = f``, as note 000 nests.

        When a derivative no longer depends on x, autograd's next ``grad`` returns zeros
        (with its "Output seems independent of input." warning): calculus, not a special case.
        """
        g: Fn = self.closure(prog, env, (wrt,))
        for v in cotangents:
            g = autograd.grad(_contract(g, v))
        return as_array(g(env[wrt]))



def _contract(g: Fn, v: np.ndarray) -> Fn:
    """``x -> sum(v * g(x))``: the scalar whose ``grad`` is the vjp of ``g`` with ``v``."""
    return lambda x: anp.sum(v * g(x))


def _jacobian_rev(fn: Fn, x: tuple[np.ndarray, ...], i: int) -> np.ndarray:
    """``autograd.jacobian(f, argnum=i)``: shape ``out + in``."""
    return as_array(autograd.jacobian(fn, i)(*x))


def _jacobian_fwd(fn: Fn, x: tuple[np.ndarray, ...], i: int) -> np.ndarray:
    """One ``make_jvp(f, argnum=i)`` push per entry of input i: the Jacobian's columns."""
    push = autograd.make_jvp(fn, i)(*x)
    cols = [as_array(push(e)[1]) for e in _basis(np.asarray(x[i]))]
    out_shape = cols[0].shape
    return np.stack(cols, axis=-1).reshape(out_shape + np.shape(x[i]))


JACOBIANS: dict[str, Callable[[Fn, tuple[np.ndarray, ...], int], np.ndarray]] = {
    "rev": _jacobian_rev, "fwd": _jacobian_fwd,
}


def _jacobian_loop(fn: Fn, x: tuple[np.ndarray, ...]) -> list[np.ndarray]:
    """One ``make_vjp`` trace, its pullback called once per output entry: the rows."""
    pullback, y = autograd.make_vjp(fn, argnum(len(x)))(*x)
    y = np.asarray(y)
    rows = [[as_array(g) for g in per_input(pullback(e), len(x))] for e in _basis(y)]
    return [np.stack([r[k] for r in rows]).reshape(y.shape + np.shape(xk))
            for k, xk in enumerate(x)]


def _basis(like: np.ndarray) -> list[np.ndarray]:
    """The one-hot arrays of ``like``'s shape and dtype, in C order."""
    out = []
    for k in range(like.size):
        e = np.zeros(like.shape, like.dtype)
        e.flat[k] = 1
        out.append(e)
    return out
