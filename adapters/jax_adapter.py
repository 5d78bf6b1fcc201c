"""JAX adapter: every check and probe in JAX's own functional idiom.

Reverse mode is ``jax.vjp`` (a pullback applied to the cotangent), forward mode
``jax.jvp``, Jacobians ``jax.jacrev`` / ``jax.jacfwd`` / one pullback call per output
entry with a one-hot cotangent, Hessians ``jax.hessian`` of ``<v, f>``, order-n
derivatives nested ``jax.grad`` of ``<v_k, previous level>``. Programs run eagerly, op by
op (no ``jax.jit``), on the CPU backend with float64 enabled, so float32 inputs stay
float32 and float64 inputs stay float64. Imports jax and nothing of any other framework.

Compiled execution (:meth:`JaxAdapter.compiled`) wraps each check's whole computation, the
function and its transform, in one ``jax.jit``: ``jax.jit(lambda xs, fixed, v:
jax.vjp(f, *xs)[1](v))``, ``jax.jit(jax.jacrev(f, argnums))``, ``jax.jit(jax.hessian(...))``,
nested ``jax.grad`` under one ``jax.jit``. Inputs, constants, cotangents and tangents are
arguments of the jitted function, never closure constants, and the jitted function is kept
per (program, check, wrt, ...), so a check's second call runs the compiled executable
without tracing again.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from gradconf.adapter import Adapter
from gradconf.expr import Node, Program, evaluate
from gradconf_adapters.jax_lowering import LOWERING
from gradconf_adapters.jax_reproducer import TEMPLATES

Env = Mapping[str, np.ndarray]
Fn = Callable[..., jax.Array]

if os.environ.get("PYTEST_XDIST_WORKER") and "intra_op_parallelism" not in os.environ.get(
        "XLA_FLAGS", ""):
    # one XLA thread per xdist worker (read when the backend starts): no oversubscription
    os.environ["XLA_FLAGS"] = (os.environ.get("XLA_FLAGS", "") + " --xla_cpu_multi_thread_eigen"
                               "=false intra_op_parallelism_threads=1").strip()
# Before any array exists: without x64 a float64 input silently becomes float32; the CPU
# backend is pinned so no accelerator plugin is probed and results do not depend on one.
jax.config.update("jax_platforms", "cpu")
jax.config.update("jax_enable_x64", True)


# message fragment -> neutral error kind (gradconf.kinds.ERROR_KINDS)
ERRORS = (
    ("Gradient only defined for scalar-output functions", "non_scalar_output"),
    ("requires at least 1 positional argument", "input_not_tracked"),
    ("requires real- or complex-valued inputs", "integer_input"),
    ("requires real-valued inputs", "integer_input"),
    ("different primal and tangent shapes", "shape_mismatch"),
    ("Incompatible shapes for broadcasting", "shape_mismatch"),
    ("contracting dimensions to have the same shape", "shape_mismatch"),
    ("does not match previous terms", "shape_mismatch"),
    ("cannot reshape array", "shape_mismatch"),
    ("Cannot concatenate arrays with shapes", "shape_mismatch"),
    ("dtypes must be equal", "dtype_mismatch"),
    ("singular", "singular_input"),
)
# the pullback's complaint names both types: "got float32[3], but expected float32[2,2]"
_PULLBACK_TYPES = re.compile(r"got (\w+)\[.*?\], but expected (\w+)\[")
WARNINGS = (
    ("^DeprecationWarning:", "deprecated_api"),
    ("deprecated", "deprecated_api"),
    ("reference cycle", "reference_cycle"),
)


def _np(a: Any) -> np.ndarray:
    """A JAX array as a writable NumPy array, in the dtype JAX produced."""
    return np.array(a)


def inner(v: jax.Array, y: jax.Array) -> jax.Array:
    """``<v, y>``: the scalar whose gradient is the vjp of ``y`` with cotangent ``v``."""
    return jnp.sum(v * y)


def _grad_of_inner(fn: Fn, v: jax.Array) -> Fn:
    """One level of nesting: ``x -> ∇ₓ <v, fn(x)>`` by ``jax.grad``."""
    return jax.grad(lambda x: inner(v, fn(x)))


def _one_hot(i: int, like: jax.Array) -> jax.Array:
    """The cotangent selecting output entry ``i`` (row-major)."""
    return jnp.zeros(like.size, like.dtype).at[i].set(1).reshape(like.shape)


def _warm_up() -> None:
    """First use of each transform traces and compiles; done once so no check pays it."""
    f = jnp.sin
    for dtype in (jnp.float32, jnp.float64):
        x = jnp.ones(2, dtype)
        jax.vjp(f, x)[1](x)
        jax.jvp(f, (x,), (x,))
        jax.jacrev(f)(x)
        jax.jacfwd(f)(x)
        jax.hessian(lambda z: inner(z, f(z)))(x)
        _grad_of_inner(_grad_of_inner(f, x), x)(x)


class JaxAdapter(Adapter):
    """JAX, functional transforms (``vjp``, ``jvp``, ``jacrev``, ``jacfwd``, ``hessian``)."""

    name = "jax"
    lowering = LOWERING
    reproducer_templates = TEMPLATES
    complex_gradient = "wirtinger"  # checked by tests/test_complex.py
    error_patterns = ERRORS
    warning_patterns = WARNINGS
    probe_module = "gradconf_adapters.jax_probes"
    compiler = "jax.jit (XLA)"
    _jitted: dict[tuple[Any, ...], Fn]
    _jit_program: Program | None

    def __init__(self) -> None:
        jax.config.update("jax_default_device", jax.devices("cpu")[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            _warm_up()

    def version(self) -> str:
        """``jax.__version__``."""
        return str(jax.__version__)

    # ------------------------------------------------------------ building blocks

    def arrays(self, env: Env) -> dict[str, jax.Array]:
        """A JAX array for every source, in its NumPy dtype."""
        return {n: jnp.asarray(a) for n, a in env.items()}

    def primals(self, env: Env, names: tuple[str, ...]) -> tuple[jax.Array, ...]:
        """The arrays of ``names``, in order: the positional arguments of a transform."""
        return tuple(jnp.asarray(env[n]) for n in names)

    def forward(self, prog: Program, arrays: Mapping[str, Any],
                hook: Callable[[int, Node, Any], Any] | None = None
                ) -> tuple[jax.Array, dict[str, Any]]:
        """Evaluate the program with jax.numpy ops."""
        return evaluate(prog, arrays, LOWERING, hook)

    def closure(self, prog: Program, env: Env, wrt: tuple[str, ...]) -> Fn:
        """The function of the ``wrt`` arrays alone; every other source is a constant."""
        return self._fn(prog, self.arrays(env), wrt)

    def _fn(self, prog: Program, fixed: Mapping[str, Any], wrt: tuple[str, ...]) -> Fn:
        """The function of the ``wrt`` arrays, the other sources taken from ``fixed`` (concrete
        arrays eagerly, the jitted function's traced arguments when compiled)."""
        def fn(*xs: jax.Array) -> jax.Array:
            return jnp.asarray(self.forward(prog, {**fixed, **dict(zip(wrt, xs, strict=True))})[0])
        return fn

    # ------------------------------------------------------------ compiled execution

    def compiled(self) -> JaxAdapter:
        """This adapter under ``jax.jit``, with its own (empty) cache of jitted functions."""
        twin = super().compiled()
        assert isinstance(twin, JaxAdapter)
        twin._jitted = {}
        twin._jit_program = None
        return twin

    def _jit(self, prog: Program, key: tuple[Any, ...], build: Callable[[], Fn]) -> Fn:
        """The jitted function of ``key`` for ``prog``, built by ``build`` on first use.

        Keyed by the program (the cache is emptied when another program arrives, which
        bounds its memory) and the check's own parameters; ``jax.jit`` itself keys its
        compiled executables by the arguments' shapes and dtypes, so a float32 and a
        float64 run share the jitted function and each compiles once.
        """
        if "_jitted" not in self.__dict__:  # execution set without compiled()
            self._jitted, self._jit_program = {}, None
        if self._jit_program is not prog:  # identity, and the program is held: no id reuse
            self._jitted.clear()
            self._jit_program = prog
        if key not in self._jitted:
            self._jitted[key] = build()
        return self._jitted[key]

    @staticmethod
    def _split(env: Env, wrt: tuple[str, ...]) -> tuple[tuple[np.ndarray, ...],
                                                         dict[str, np.ndarray]]:
        """The ``wrt`` arrays in order and every other source by name: jit arguments."""
        return tuple(np.asarray(env[n]) for n in wrt), \
            {n: np.asarray(a) for n, a in env.items() if n not in wrt}

    # ------------------------------------------------------------ checks

    def value(self, prog: Program, env: Env) -> dict[str, np.ndarray]:
        """Forward value and named intermediates, evaluated eagerly (compiled: one
        ``jax.jit`` of the whole program returning them all)."""
        if self.execution == "compiled":
            def build() -> Fn:
                def run(sources: dict[str, jax.Array]) -> dict[str, jax.Array]:
                    out, named = self.forward(prog, sources)
                    return {n: jnp.asarray(v) for n, v in {"out": out, **named}.items()}
                return jax.jit(run)
            found = self._jit(prog, ("value",), build)(dict(env))
            return {n: _np(v) for n, v in found.items()}
        out, named = self.forward(prog, self.arrays(env))
        return {n: _np(jnp.asarray(v)) for n, v in {"out": out, **named}.items()}

    def vjp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``_, vjp_fun = jax.vjp(f, *xs)``, then ``vjp_fun(cotangent)`` (compiled:
        ``jax.jit(lambda xs, fixed, v: jax.vjp(f, *xs)[1](v))``)."""
        if self.execution == "compiled":
            def build() -> Fn:
                return jax.jit(lambda xs, fixed, v: jax.vjp(self._fn(prog, fixed, wrt), *xs)[1](v))
            xs, fixed = self._split(env, wrt)
            grads = self._jit(prog, ("vjp", wrt), build)(xs, fixed, np.asarray(cotangent))
            return {n: _np(g) for n, g in zip(wrt, grads, strict=True)}
        pullback = jax.vjp(self.closure(prog, env, wrt), *self.primals(env, wrt))[1]
        grads = pullback(jnp.asarray(cotangent))
        return {n: _np(g) for n, g in zip(wrt, grads, strict=True)}

    def jvp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        """``jax.jvp(f, primals, tangents)`` (compiled: ``jax.jit`` of it, primals and
        tangents as arguments)."""
        if self.execution == "compiled":
            def build() -> Fn:
                return jax.jit(lambda xs, fixed, ts: jax.jvp(self._fn(prog, fixed, wrt), xs, ts)[1])
            xs, fixed = self._split(env, wrt)
            ts = tuple(np.asarray(tangents[n]) for n in wrt)
            return _np(self._jit(prog, ("jvp", wrt), build)(xs, fixed, ts))
        tans = tuple(jnp.asarray(tangents[n]) for n in wrt)
        return _np(jax.jvp(self.closure(prog, env, wrt), self.primals(env, wrt), tans)[1])

    def jacobian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                 mode: str) -> dict[str, np.ndarray]:
        """``jax.jacrev`` / ``jax.jacfwd``, or one pullback call per output entry (``loop``).

        Compiled: ``jax.jit(jax.jacrev(f, argnums))`` with the other sources as a last
        argument; the loop's pullback calls are unrolled inside one ``jax.jit``."""
        if self.execution == "compiled":
            return self._jacobian_compiled(prog, env, wrt, mode)
        if mode == "loop":
            return self._jacobian_loop(prog, env, wrt)
        transform = jax.jacrev if mode == "rev" else jax.jacfwd
        argnums = tuple(range(len(wrt)))
        jac = transform(self.closure(prog, env, wrt), argnums=argnums)(*self.primals(env, wrt))
        return {n: _np(j) for n, j in zip(wrt, jac, strict=True)}

    def _jacobian_loop(self, prog: Program, env: Env,
                       wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        primals = self.primals(env, wrt)
        y, pullback = jax.vjp(self.closure(prog, env, wrt), *primals)
        rows = [[_np(g) for g in pullback(_one_hot(i, y))] for i in range(y.size)]
        return {n: np.stack([r[k] for r in rows]).reshape(y.shape + primals[k].shape)
                for k, n in enumerate(wrt)}

    def _jacobian_compiled(self, prog: Program, env: Env, wrt: tuple[str, ...],
                           mode: str) -> dict[str, np.ndarray]:
        argnums = tuple(range(len(wrt)))

        def f(*args: Any) -> jax.Array:  # (*xs, fixed)
            return self._fn(prog, args[-1], wrt)(*args[:-1])

        def loop(xs: tuple[jax.Array, ...], fixed: dict[str, jax.Array]) -> list[jax.Array]:
            y, pullback = jax.vjp(self._fn(prog, fixed, wrt), *xs)
            rows = [pullback(_one_hot(i, y)) for i in range(y.size)]
            return [jnp.stack([r[k] for r in rows]).reshape(y.shape + x.shape)
                    for k, x in enumerate(xs)]

        def build() -> Fn:
            if mode == "loop":
                return jax.jit(loop)
            transform = jax.jacrev if mode == "rev" else jax.jacfwd
            return jax.jit(transform(f, argnums=argnums))

        xs, fixed = self._split(env, wrt)
        jitted = self._jit(prog, ("jacobian", mode, wrt), build)
        jac = jitted(xs, fixed) if mode == "loop" else jitted(*xs, fixed)
        return {n: _np(j) for n, j in zip(wrt, jac, strict=True)}

    def hessian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``jax.hessian`` of ``<v, f>`` (compiled: ``jax.jit(jax.hessian(g, argnums))`` with
        ``g(*xs, fixed, v) = <v, f(*xs)>``)."""
        if self.execution == "compiled":
            n = len(wrt)

            def g(*args: Any) -> jax.Array:  # (*xs, fixed, v)
                return inner(args[-1], self._fn(prog, args[-2], wrt)(*args[:n]))

            def build() -> Fn:
                return jax.jit(jax.hessian(g, argnums=tuple(range(n))))
            xs, fixed = self._split(env, wrt)
            hess = self._jit(prog, ("hessian", wrt), build)(*xs, fixed, np.asarray(cotangent))
            return {f"{a},{b}": _np(hess[i][j]) for i, a in enumerate(wrt)
                    for j, b in enumerate(wrt)}
        fn, v = self.closure(prog, env, wrt), jnp.asarray(cotangent)
        hess = jax.hessian(lambda *xs: inner(v, fn(*xs)),
                           argnums=tuple(range(len(wrt))))(*self.primals(env, wrt))
        return {f"{a},{b}": _np(hess[i][j]) for i, a in enumerate(wrt)
                for j, b in enumerate(wrt)}

    def derivative(self, prog: Program, env: Env, wrt: str,
                   cotangents: list[np.ndarray]) -> np.ndarray:
        """Nested ``jax.grad``: level k is ``∇ₓ <v_k, level k-1>``, level 0 the function.

        A level that no longer depends on x differentiates to zeros, as calculus says.
        Compiled: the whole nest under one ``jax.jit``, x and the cotangents as arguments.
        """
        if self.execution == "compiled":
            def nested(x: jax.Array, fixed: dict[str, jax.Array],
                       vs: tuple[jax.Array, ...]) -> jax.Array:
                fn = self._fn(prog, fixed, (wrt,))
                for v in vs:
                    fn = _grad_of_inner(fn, v)
                return fn(x)

            def build() -> Fn:
                return jax.jit(nested)
            xs, fixed = self._split(env, (wrt,))
            jitted = self._jit(prog, ("derivative", wrt, len(cotangents)), build)
            return _np(jitted(xs[0], fixed, tuple(np.asarray(v) for v in cotangents)))
        fn = self.closure(prog, env, (wrt,))
        for v in cotangents:
            fn = _grad_of_inner(fn, jnp.asarray(v))
        return _np(fn(jnp.asarray(env[wrt])))

    # ------------------------------------------------------------ framework messages

    def error_kind(self, exc: BaseException) -> str:
        """Neutral kind from JAX's message; a pullback's type complaint says which of shape
        and dtype differs only by comparing the two types it names."""
        text = str(exc)
        types = _PULLBACK_TYPES.search(text)
        if types and "argument to VJP function" in text:
            return "dtype_mismatch" if types[1] != types[2] else "shape_mismatch"
        return super().error_kind(exc)
