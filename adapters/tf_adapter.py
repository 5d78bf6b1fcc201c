"""TensorFlow adapter: every check and probe in TensorFlow's own idiom, eager or compiled.

Reverse mode is ``tf.GradientTape.gradient(y, x, output_gradients=v)``, forward mode
``tf.autodiff.ForwardAccumulator``, Jacobians ``tape.jacobian`` / one forward accumulator
per one-hot tangent / one ``tape.gradient`` per output entry on a persistent tape,
Hessians ``tape.jacobian`` of an inner tape's gradient, order-n derivatives nested tapes.
Checks ask for zeros where a source is unconnected (``UnconnectedGradients.ZERO``) so they
measure the math; TensorFlow's None is the probes' business (``tf_probes.py``).

Compiled execution (:meth:`Adapter.compiled`) runs each check's whole computation, the
forward and its tape or accumulator, inside one ``tf.function(jit_compile=True)``, the way a
compiled training step is written: sources, cotangents and tangents are its tensor
arguments, and the function is kept per program and check, so a second call runs the XLA
executable without retracing. Probes stay eager.

TensorFlow does not promote mixed float32/float64 operands; the adapter does not cast, so
such a case raises and is recorded as ``dtype_mismatch``. Warnings TensorFlow logs through
its Python logger (not ``warnings``) are re-issued as :class:`TensorflowLogWarning` when
they concern the case (see ``LOGGED``). Imports tensorflow and nothing of any other
framework.
"""

from __future__ import annotations

import os

# C++ logging reads this when the library loads: quiet it first (errors surface as
# Python exceptions anyway; TF 2.19+ prints its oneDNN notice at import regardless)
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import dataclasses
import logging
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from gradconf.adapter import Adapter, ErrorInfo, Unsupported
from gradconf.expr import Node, Program, evaluate
from gradconf_adapters.tf_lowering import LOWERING
from gradconf_adapters.tf_messages import clean
from gradconf_adapters.tf_reproducer import TEMPLATES

Env = Mapping[str, np.ndarray]
ZERO = tf.UnconnectedGradients.ZERO


# message fragment -> neutral error kind (gradconf.kinds.ERROR_KINDS)
ERRORS = (
    ("non-persistent GradientTape can only be used to compute one set", "graph_freed"),
    ("was expected to be a", "dtype_mismatch"),  # "... a double tensor but is a float tensor"
    ("requested dtype", "dtype_mismatch"),
    ("Incompatible shapes", "shape_mismatch"),
    ("size-incompatible", "shape_mismatch"),
    ("are incompatible", "shape_mismatch"),
    ("not invertible", "singular_input"),
    ("Could not find device for node", "unsupported_op"),
    ("No gradient defined for operation", "unsupported_op"),
    ("dtype", "dtype_mismatch"),
)
# message fragment -> neutral warning kind (gradconf.kinds.WARNING_KINDS)
WARNINGS = (
    ("The dtype of the watched tensor must be floating", "integer_input"),
    ("deprecated", "deprecated_api"),
    ("reference cycle", "reference_cycle"),
)
# TF log messages (WARNING and up) that concern what a case does, re-issued as warnings;
# the rest (e.g. tape.jacobian's tf.function retracing notices) is left to TF's logger
LOGGED = (
    "The dtype of the watched tensor must be floating",
    "deprecated",
    "reference cycle",
)


class TensorflowLogWarning(UserWarning):
    """A warning TensorFlow logged with its Python logger, re-issued through ``warnings``."""


class _LogBridge(logging.Handler):
    """Re-issue TF's logged warnings named in ``LOGGED`` as :class:`TensorflowLogWarning`."""

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.levelno >= logging.WARNING and any(f in message for f in LOGGED):
            warnings.warn(message, TensorflowLogWarning, stacklevel=2)


def _install_log_bridge() -> None:
    logger = tf.get_logger()
    if not any(isinstance(h, _LogBridge) for h in logger.handlers):
        logger.addHandler(_LogBridge())


def _np(t: Any) -> np.ndarray:
    """A tensor (or IndexedSlices, or Python number) as a fresh NumPy array."""
    if isinstance(t, tf.IndexedSlices):
        t = tf.convert_to_tensor(t)
    return np.array(t.numpy() if tf.is_tensor(t) else t)


# What XLA documents it cannot compile (https://www.tensorflow.org/xla/known_issues): an op
# with no XLA kernel for the dtype, a value XLA needs at compile time, a tensor list of
# unknown size. The compiled check is then ``unsupported`` with the reason, not an error:
# the compiler cannot express it, as a lowering marked unsupported cannot.
_NO_KERNEL = re.compile(r"No registered '(\w+)' OpKernel for XLA")
_XLA_CANNOT = (("must be a compile-time constant", "XLA needs, at compile time, a value "
                "TensorFlow's graph computes at run time"),
               ("requires a fixed tensor list size", "XLA needs a fixed size for the tensor "
                "list TensorFlow's graph grows in a loop"))


def _xla_limits(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` raising :class:`Unsupported` where XLA reports one of its documented limits."""
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except Unsupported as exc:  # a lowering's, re-raised by tracing with its trace
            raise Unsupported(str(exc).strip().rpartition("Unsupported: ")[2]) from None
        except tf.errors.InvalidArgumentError as exc:
            text = str(exc)
            kernels = sorted(set(_NO_KERNEL.findall(text)))
            if kernels and "Detected unsupported operations" in text:
                raise Unsupported(f"tf.function(jit_compile=True): XLA has no kernel for "
                                  f"{', '.join(kernels)} at these dtypes") from None
            for fragment, why in _XLA_CANNOT:
                if fragment in text:
                    first = text.strip().splitlines()[0][:200]
                    raise Unsupported(f"tf.function(jit_compile=True): {why} ({first})"
                                      ) from None
            raise
    return call


def _dense(t: Any) -> Any:
    """An IndexedSlices gradient as a dense tensor (what :func:`_np` does eagerly)."""
    return tf.convert_to_tensor(t) if isinstance(t, tf.IndexedSlices) else t


def _rows(rows: Sequence[np.ndarray], out_shape: tuple[int, ...],
          in_shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """Gradients of the output entries, one row each, as one ``out + in`` Jacobian."""
    if not rows:
        return np.zeros(out_shape + in_shape, dtype=dtype)
    return np.stack(rows).reshape(out_shape + in_shape)


class TensorflowAdapter(Adapter):
    """TensorFlow, ``GradientTape`` and ``ForwardAccumulator``, eager or under XLA."""

    name = "tensorflow"
    compiler = "tf.function(jit_compile=True) (XLA)"
    lowering = LOWERING
    reproducer_templates = TEMPLATES
    complex_gradient = "conjugate_wirtinger"  # checked by tests/test_complex.py
    error_patterns = ERRORS
    warning_patterns = WARNINGS
    probe_module = "gradconf_adapters.tf_probes"

    def __init__(self) -> None:
        _configure_runtime()
        _install_log_bridge()
        with warnings.catch_warnings():
            # First use of tapes, forward accumulators and tape.jacobian's pfor builds kernels
            # and tf.functions (a fraction of a second): done here, outside every check
            warnings.simplefilter("ignore")
            x = tf.constant([0.5, 1.0])
            for dtype in (tf.float32, tf.float64):
                xd = tf.cast(x, dtype)
                with tf.GradientTape(persistent=True) as tape:
                    tape.watch(xd)
                    with tf.GradientTape() as inner:
                        inner.watch(xd)
                        y = tf.reduce_sum(tf.sin(xd) ** 2)
                    g = inner.gradient(y, xd, output_gradients=tf.ones_like(y))
                tape.jacobian(g, xd)
                with tf.autodiff.ForwardAccumulator(xd, tf.ones_like(xd)) as acc:
                    acc.jvp(tf.sin(xd))

    def version(self) -> str:
        """``tf.__version__``."""
        return str(tf.__version__)

    def error_info(self, exc: BaseException) -> ErrorInfo:
        """The neutral form of ``exc``, its message without the stack at which a graph node
        was defined, device names or trace counters (``tf_messages.py``); the kind is read
        from the whole message."""
        info = super().error_info(exc)
        return dataclasses.replace(info, message=clean(info.message))

    def compiled(self) -> TensorflowAdapter:
        """The compiled twin, with its own (empty) cache of compiled steps."""
        twin = super().compiled()
        assert isinstance(twin, TensorflowAdapter)
        twin._steps = {}
        twin._steps_prog = None
        return twin

    # ------------------------------------------------------------ compiled execution

    _steps: dict[tuple[Any, ...], Any]
    _steps_prog: Program | None

    def _run(self, prog: Program, key: tuple[Any, ...],
             body: Callable[..., Any]) -> Callable[..., Any]:
        """``body`` itself eagerly; compiled, its kept ``tf.function`` (:meth:`_step`)."""
        return self._step(prog, key, body) if self.execution == "compiled" else body

    def _step(self, prog: Program, key: tuple[Any, ...],
              body: Callable[..., Any]) -> Any:
        """The ``tf.function(body, jit_compile=True)`` kept for ``prog`` and ``key``.

        One program's functions are kept at a time: a new program clears them (the cache
        holds the program, so its id is not reused while it is a key). A function traces
        once per input signature (dtypes, shapes) and is called again without retracing.
        """
        if getattr(self, "_steps_prog", None) is not prog:
            self._steps = {}
            self._steps_prog = prog
        full = (id(prog), *key)
        fn = self._steps.get(full)
        if fn is None:
            fn = self._steps[full] = tf.function(body, jit_compile=True)
        return _xla_limits(fn)

    # ------------------------------------------------------------ building blocks

    def tensors(self, env: Env) -> dict[str, tf.Tensor]:
        """A constant tensor for every source, in its array's dtype (nothing is watched)."""
        return {n: tf.constant(a) for n, a in env.items()}

    def forward(self, prog: Program, t: Mapping[str, Any],
                hook: Callable[[int, Node, Any], Any] | None = None
                ) -> tuple[Any, dict[str, Any]]:
        """Evaluate the program with TF ops (recorded by whatever tapes are active)."""
        return evaluate(prog, t, LOWERING, hook)

    def taped(self, prog: Program, env: Env, wrt: tuple[str, ...],
              persistent: bool = False) -> tuple[tf.GradientTape, dict[str, tf.Tensor], Any]:
        """Run the program on a tape watching ``wrt``: the tape, the sources, the output."""
        t = self.tensors(env)
        tape, y = self._taped(prog, t, wrt, persistent)
        return tape, t, y

    def _taped(self, prog: Program, t: Mapping[str, tf.Tensor], wrt: tuple[str, ...],
               persistent: bool = False) -> tuple[tf.GradientTape, Any]:
        with tf.GradientTape(persistent=persistent) as tape:
            tape.watch([t[n] for n in wrt])
            y = self.forward(prog, t)[0]
        return tape, y

    # ------------------------------------------------------------ checks

    def value(self, prog: Program, env: Env) -> dict[str, np.ndarray]:
        """Forward value and named intermediates, no tape."""
        if self.execution == "compiled":
            return self._compiled_value(prog, env)
        out, named = self.forward(prog, self.tensors(env))
        return {n: _np(v) for n, v in {"out": out, **named}.items()}

    def vjp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``tape.gradient(y, xs, output_gradients=v, unconnected_gradients=ZERO)``."""
        if self.execution == "compiled":
            fn = self._step(prog, ("vjp", wrt), lambda t, v: self._vjp_body(prog, t, wrt, v))
            grads = fn(self.tensors(env), tf.constant(cotangent))
            return {n: _np(g) for n, g in zip(wrt, grads, strict=True)}
        tape, t, y = self.taped(prog, env, wrt)
        grads = tape.gradient(y, [t[n] for n in wrt], output_gradients=tf.constant(cotangent),
                              unconnected_gradients=ZERO)
        return {n: _np(g) for n, g in zip(wrt, grads, strict=True)}

    def jvp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        """``tf.autodiff.ForwardAccumulator(xs, us)``, then ``acc.jvp(y)``."""
        fn = self._run(prog, ("jvp", wrt), lambda t, us: self._jvp_body(prog, t, wrt, us))
        return _np(fn(self.tensors(env), [tf.constant(tangents[n]) for n in wrt]))

    def jacobian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                 mode: str) -> dict[str, np.ndarray]:
        """``tape.jacobian`` (rev), forward accumulators (fwd), or a gradient loop (loop)."""
        if self.execution == "compiled":
            return self._compiled_jacobian(prog, env, wrt, mode)
        if mode == "fwd":
            return {n: self._jacobian_fwd(prog, env, n) for n in wrt}
        if mode == "loop":
            return self._jacobian_loop(prog, env, wrt)
        tape, t, y = self.taped(prog, env, wrt)
        jac = tape.jacobian(y, [t[n] for n in wrt], unconnected_gradients=ZERO)
        return {n: _np(j) for n, j in zip(wrt, jac, strict=True)}

    def _jacobian_fwd(self, prog: Program, env: Env, name: str) -> np.ndarray:
        """One ``ForwardAccumulator`` per one-hot tangent of input ``name``: J's columns."""
        t = self.tensors(env)
        x = t[name]
        n = x.shape.num_elements()
        cols = []
        for k in range(n):
            onehot = tf.reshape(tf.one_hot(k, n, dtype=x.dtype), x.shape)
            with tf.autodiff.ForwardAccumulator(x, onehot) as acc:
                y = self.forward(prog, t)[0]
            cols.append(_np(acc.jvp(y, unconnected_gradients=ZERO)))
        if not cols:  # an empty input: no column to compute
            y = _np(self.forward(prog, t)[0])
            return np.zeros(y.shape + tuple(x.shape), dtype=y.dtype)
        return np.stack(cols, axis=-1).reshape(cols[0].shape + tuple(x.shape))

    def _jacobian_loop(self, prog: Program, env: Env,
                       wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """One ``tape.gradient(y[i], xs)`` per output entry on a persistent tape."""
        t = self.tensors(env)
        xs = [t[n] for n in wrt]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xs)
            y = self.forward(prog, t)[0]
            entries = tf.unstack(tf.reshape(y, [-1]))  # the entries, recorded on the tape
        rows = [tape.gradient(e, xs, unconnected_gradients=ZERO) for e in entries]
        del tape  # a persistent tape holds its resources until it is collected
        return {n: _rows([_np(r[k]) for r in rows], tuple(y.shape), tuple(xs[k].shape),
                         env[n].dtype) for k, n in enumerate(wrt)}

    def hessian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``outer.jacobian`` of an inner tape's ``gradient(y, xs, output_gradients=v)``."""
        fn = self._run(prog, ("hessian", wrt), lambda t, v: self._hessian_body(prog, t, wrt, v))
        blocks = fn(self.tensors(env), tf.constant(cotangent))
        return {f"{a},{b}": _np(blocks[i][j]) for i, a in enumerate(wrt)
                for j, b in enumerate(wrt)}

    def derivative(self, prog: Program, env: Env, wrt: str,
                   cotangents: list[np.ndarray]) -> np.ndarray:
        """Nested tapes: level k is ``tape.gradient(level k-1, x, output_gradients=v_k)``.

        Each level's gradient is taken inside the tapes of the levels above it, so they
        record it; a level that no longer depends on x gives zeros (``ZERO``).
        """
        t = self.tensors(env)
        vs = [tf.constant(v) for v in cotangents]
        if self.execution == "compiled":
            fn = self._step(prog, ("derivative", wrt, len(vs)),
                            lambda t, vs: _dense(self._nested(prog, t, t[wrt], vs)))
            return _np(fn(t, vs))
        return _np(self._nested(prog, t, t[wrt], vs))

    def _nested(self, prog: Program, t: Mapping[str, tf.Tensor], x: tf.Tensor,
                vs: list[tf.Tensor]) -> Any:
        if not vs:
            return self.forward(prog, t)[0]
        with tf.GradientTape() as tape:
            tape.watch(x)
            inner = self._nested(prog, t, x, vs[:-1])
        return tape.gradient(inner, x, output_gradients=vs[-1], unconnected_gradients=ZERO)

    # ------------------------------------------------------------ compiled checks
    # Each body is the eager method's computation on the tensors it is given, returning
    # tensors; the method wraps it in its cached tf.function(jit_compile=True) and turns
    # the results into the eager method's arrays.

    def _compiled_value(self, prog: Program, env: Env) -> dict[str, np.ndarray]:
        # a named value that is not a tensor (a Python number) would come back from
        # tf.function as a tensor of another dtype: it is kept as the eager path returns it
        static: dict[str, Any] = {}

        def body(t: Mapping[str, tf.Tensor]) -> dict[str, Any]:
            out, named = self.forward(prog, t)
            values = {"out": out, **named}
            static.clear()
            static.update(order=list(values),
                          python={n: v for n, v in values.items() if not tf.is_tensor(v)})
            return {n: v for n, v in values.items() if tf.is_tensor(v)}

        fn = self._step(prog, ("value",), body)
        # the body traced (once per input signature) is the first call's: its dict is the
        # one kept, on the tf.function itself (fn is a new wrapper at every call)
        traced = self._steps[(id(prog), "value")]
        if not hasattr(traced, "gradconf_static"):
            traced.gradconf_static = static
        kept = traced.gradconf_static
        found = fn(self.tensors(env))
        return {n: _np(found[n] if n in found else kept["python"][n]) for n in kept["order"]}

    def _vjp_body(self, prog: Program, t: Mapping[str, tf.Tensor], wrt: tuple[str, ...],
                  v: tf.Tensor) -> list[tf.Tensor]:
        tape, y = self._taped(prog, t, wrt)
        grads = tape.gradient(y, [t[n] for n in wrt], output_gradients=v,
                              unconnected_gradients=ZERO)
        return [_dense(g) for g in grads]

    def _jvp_body(self, prog: Program, t: Mapping[str, tf.Tensor], wrt: tuple[str, ...],
                  us: list[tf.Tensor]) -> tf.Tensor:
        with tf.autodiff.ForwardAccumulator([t[n] for n in wrt], us) as acc:
            y = self.forward(prog, t)[0]
        return acc.jvp(y, unconnected_gradients=ZERO)

    def _hessian_body(self, prog: Program, t: Mapping[str, tf.Tensor], wrt: tuple[str, ...],
                      v: tf.Tensor) -> list[list[tf.Tensor]]:
        xs = [t[n] for n in wrt]
        with tf.GradientTape(persistent=True) as outer:
            outer.watch(xs)
            with tf.GradientTape() as inner:
                inner.watch(xs)
                y = self.forward(prog, t)[0]
            grads = inner.gradient(y, xs, output_gradients=v, unconnected_gradients=ZERO)
        blocks = [outer.jacobian(g, xs, unconnected_gradients=ZERO) for g in grads]
        del outer
        return blocks

    def _compiled_jacobian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                           mode: str) -> dict[str, np.ndarray]:
        t = self.tensors(env)
        if mode == "fwd":
            fn = self._step(prog, ("jacobian", mode, wrt),
                            lambda t: self._jacobian_fwd_body(prog, t, wrt))
            cols, ys = fn(t)
            jac = {}
            for n in wrt:
                shape = tuple(t[n].shape)
                if n in ys:  # an empty input: no column to compute
                    y = _np(ys[n])
                    jac[n] = np.zeros(y.shape + shape, dtype=y.dtype)
                else:
                    c = [_np(col) for col in cols[n]]
                    jac[n] = np.stack(c, axis=-1).reshape(c[0].shape + shape)
            return jac
        if mode == "loop":
            fn = self._step(prog, ("jacobian", mode, wrt),
                            lambda t: self._jacobian_loop_body(prog, t, wrt))
            rows, y = fn(t)
            return {n: _rows([_np(r[k]) for r in rows], tuple(y.shape), tuple(t[n].shape),
                             env[n].dtype) for k, n in enumerate(wrt)}
        fn = self._step(prog, ("jacobian", mode, wrt),
                        lambda t: self._jacobian_rev_body(prog, t, wrt))
        return {n: _np(j) for n, j in zip(wrt, fn(t), strict=True)}

    def _jacobian_rev_body(self, prog: Program, t: Mapping[str, tf.Tensor],
                           wrt: tuple[str, ...]) -> list[tf.Tensor]:
        tape, y = self._taped(prog, t, wrt)
        return list(tape.jacobian(y, [t[n] for n in wrt], unconnected_gradients=ZERO))

    def _jacobian_fwd_body(self, prog: Program, t: Mapping[str, tf.Tensor],
                           wrt: tuple[str, ...]
                           ) -> tuple[dict[str, list[tf.Tensor]], dict[str, tf.Tensor]]:
        """Per input of ``wrt`` its columns, one accumulator per one-hot tangent (an
        empty input: the output instead, to shape its empty Jacobian)."""
        cols: dict[str, list[tf.Tensor]] = {}
        ys: dict[str, tf.Tensor] = {}
        for name in wrt:
            x = t[name]
            n = x.shape.num_elements()
            if not n:
                ys[name] = tf.convert_to_tensor(self.forward(prog, t)[0])
                continue
            cols[name] = []
            for k in range(n):
                onehot = tf.reshape(tf.one_hot(k, n, dtype=x.dtype), x.shape)
                with tf.autodiff.ForwardAccumulator(x, onehot) as acc:
                    y = self.forward(prog, t)[0]
                cols[name].append(acc.jvp(y, unconnected_gradients=ZERO))
        return cols, ys

    def _jacobian_loop_body(self, prog: Program, t: Mapping[str, tf.Tensor],
                            wrt: tuple[str, ...]) -> tuple[list[list[tf.Tensor]], tf.Tensor]:
        xs = [t[n] for n in wrt]
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(xs)
            y = self.forward(prog, t)[0]
            entries = tf.unstack(tf.reshape(y, [-1]))
        rows = [[_dense(g) for g in tape.gradient(e, xs, unconnected_gradients=ZERO)]
                for e in entries]
        del tape
        return rows, y



def _configure_runtime() -> None:
    """CPU only; one thread per pytest-xdist worker. Possible only before TF's first op."""
    try:
        tf.config.set_visible_devices([], "GPU")
        if os.environ.get("PYTEST_XDIST_WORKER"):
            tf.config.threading.set_intra_op_parallelism_threads(1)
            tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass  # the runtime is already initialised (a second adapter in this process)
