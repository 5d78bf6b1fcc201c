"""PyTorch adapter: every check and probe in PyTorch's own idiom.

Reverse mode is ``y.backward(cotangent)`` into leaf ``.grad`` (the notes' idiom), forward
mode ``torch.func.jvp``, Jacobians ``torch.func.jacrev`` / ``jacfwd`` / a loop of
``torch.autograd.grad`` over output entries (note 001), Hessians ``torch.func.hessian``,
order-n derivatives nested ``torch.autograd.grad(..., create_graph=True)`` (note 000).

Compiled execution (:meth:`TorchAdapter.compiled`) runs the same checks through
``torch.compile(..., fullgraph=True)`` (inductor), as a user would write them:

* value: the compiled forward under ``torch.no_grad``;
* vjp: ``y = compiled_f(*leaves)``, ``y.backward(cotangent)``, the leaves' ``.grad`` (the
  backward is AOTAutograd's generated one);
* jvp / jacrev / jacfwd / hessian: ``torch.compile`` of a function calling the
  ``torch.func`` transform;
* jacobian loop: the compiled forward, then ``autograd.grad`` per output entry;
* derivative: ``torch.compile`` of nested ``torch.func.vjp``. The eager idiom, nested
  ``autograd.grad(create_graph=True)``, cannot run through a compiled graph: AOTAutograd's
  compiled backward does not support double backward.

Every input is an argument of the compiled function, never a closure constant. Each compiled
function wraps a fresh copy of its code object, so dynamo's per-code-object cache holds one
entry for it: no recompile limit can be hit, and with ``fullgraph=True`` any graph break is
an error, never a silent eager fallback.

Imports torch and nothing of any other framework.
"""

from __future__ import annotations

import os
import types
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import ml_dtypes
import numpy as np
import torch
import torch._dynamo
import torch.func

from gradconf.adapter import Adapter, Unsupported
from gradconf.expr import Node, Program, evaluate
from gradconf_adapters.torch_lowering import LOWERING
from gradconf_adapters.torch_reproducer import TEMPLATES

Env = Mapping[str, np.ndarray]


# message fragment -> neutral error kind (gradconf.kinds.ERROR_KINDS)
ERRORS = (
    ("grad can be implicitly created only for scalar outputs", "non_scalar_output"),
    ("does not require grad and does not have a grad_fn", "input_not_tracked"),
    ("backward through the graph a second time", "graph_freed"),
    ("appears to not have been used in the graph", "unused_input"),
    ("only Tensors of floating point", "integer_input"),
    ("singular", "singular_input"),
    ("must match the size", "shape_mismatch"),
    ("Mismatch in shape", "shape_mismatch"),
    ("expected scalar type", "dtype_mismatch"),
    ("dtype", "dtype_mismatch"),
)
WARNINGS = (
    ("not a leaf Tensor is being accessed", "nonleaf_grad_access"),
    ("reference cycle", "reference_cycle"),
    ("deprecated", "deprecated_api"),
)


def _t(a: np.ndarray) -> torch.Tensor:
    """A NumPy array as a tensor of the same dtype (bfloat16 through float32)."""
    if a.dtype == ml_dtypes.bfloat16:
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)
    return torch.from_numpy(a.copy(order="C"))  # a copy keeps 0-d arrays 0-d


def _np(t: torch.Tensor | None) -> np.ndarray | None:
    """A tensor as a NumPy array of the same dtype (bfloat16 as ml_dtypes.bfloat16)."""
    if t is None:
        return None
    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return t.float().numpy().astype(ml_dtypes.bfloat16)
    return t.numpy().copy()


def _zeros_if_none(g: torch.Tensor | None, like: torch.Tensor) -> np.ndarray:
    return _np(torch.zeros_like(like) if g is None else g)  # type: ignore[return-value]


# AOTAutograd lets a compiled backward reuse the buffers it saved (donated buffers) when
# nothing can ask for that backward again; the loop of autograd.grad(retain_graph=True)
# does, and torch raises. A documented trade-off of the compiler (the flag
# torch._functorch.config.donated_buffer turns it off), so the check is unsupported there.
DONATED = ("torch.compile: the compiled backward donates its saved buffers, so it cannot run "
           "again with retain_graph=True, which one autograd.grad per output entry needs "
           "(torch._functorch.config.donated_buffer; pytorch PR 130580)")


def _whole(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, raising :class:`Unsupported` where dynamo cannot capture the function as one
    graph (``fullgraph=True``: e.g. an op whose output shape depends on the data); the
    compiler cannot express it, as a lowering marked unsupported cannot."""
    def call(*args: Any) -> Any:
        try:
            return fn(*args)
        except torch._dynamo.exc.Unsupported as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise Unsupported(f"torch.compile(fullgraph=True) cannot capture the function as "
                              f"one graph: {first}") from None
    return call


def _fresh(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` with a copy of its code object: dynamo caches compiled code per code object,
    so a fresh one starts with an empty cache and never meets the recompile limit."""
    return types.FunctionType(fn.__code__.replace(), fn.__globals__, fn.__name__,
                              fn.__defaults__, fn.__closure__)


def _vjp_of(g: Callable[[torch.Tensor], torch.Tensor],
            v: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """x -> the vjp of g at x with cotangent v (``torch.func.vjp``): one order up."""
    return lambda x: torch.func.vjp(g, x)[1](v)[0]


def _signature(*groups: Any) -> tuple[Any, ...]:
    """Dtypes and shapes of arrays (names kept), the part of a cache key inputs give."""
    def sig(a: Any) -> Any:
        if isinstance(a, np.ndarray):
            return (str(a.dtype), a.shape)
        if isinstance(a, Mapping):
            return tuple((n, sig(x)) for n, x in a.items())
        if isinstance(a, (list, tuple)):
            return tuple(sig(x) for x in a)
        return a
    return tuple(sig(g) for g in groups)


class TorchAdapter(Adapter):
    """PyTorch, eager autograd and ``torch.func`` transforms."""

    name = "torch"
    compiler = "torch.compile (inductor)"
    # A compile that fails half way (a dynamo refusal inside a torch.func transform, an
    # inductor lowering error) can leave grad mode, inference mode, a fake-tensor mode or a
    # functorch layer set; seen on 2.13.0: eager jacobians and vjps of later checks failing
    # with "element 0 of tensors does not require grad" and "Cannot access storage of
    # TensorWrapper". The compiled process is replaced after every compiled check that raised.
    compiled_fresh_after_error = True
    lowering = LOWERING
    complex_gradient = "conjugate_wirtinger"  # checked by tests/test_complex.py
    error_patterns = ERRORS
    warning_patterns = WARNINGS
    probe_module = "gradconf_adapters.torch_probes"
    reproducer_templates = TEMPLATES

    def __init__(self) -> None:
        # torch emits some warnings once per process (TORCH_WARN_ONCE); every check must see
        # its own, whatever ran before it
        torch.set_warn_always(True)
        if os.environ.get("PYTEST_XDIST_WORKER"):
            torch.set_num_threads(1)  # one thread per xdist worker: no oversubscription
        with warnings.catch_warnings():
            # First use of autograd and torch.func initialises them (seconds, and warnings
            # about torch's own internals): done here so no check's time or record shows it.
            warnings.simplefilter("ignore")
            x = torch.zeros(2, requires_grad=True)
            torch.sin(x).sum().backward()
            torch.func.jacfwd(torch.sin)(x.detach())
            torch.func.jacrev(torch.sin)(x.detach())
        self._compiled: dict[tuple[Any, ...], Callable[..., Any]] = {}
        self._program: Program | None = None

    def leftover_state(self) -> str | None:
        """Process-wide autograd and dispatch state a fresh process does not have."""
        found = [text for text, left in (
            ("grad mode off", not torch.is_grad_enabled()),
            ("inference mode on", torch.is_inference_mode_enabled()),
            ("Python dispatch excluded (a no_dispatch() left open)",
             torch._C._dispatch_tls_local_exclude_set().has(torch._C.DispatchKey.Python)),
            ("a dispatch mode left on the stack", torch._C._len_torch_dispatch_stack() > 0),
            ("a torch.func transform layer left open",
             torch._C._functorch.peek_interpreter_stack() is not None),
        ) if left]
        return ", ".join(found) or None

    def compiled(self) -> TorchAdapter:
        """This adapter in compiled execution, with its own cache of compiled functions."""
        twin = super().compiled()
        assert isinstance(twin, TorchAdapter)
        twin._compiled, twin._program = {}, None
        with warnings.catch_warnings():
            # First use of dynamo and inductor imports and initialises them (seconds, and
            # deprecation warnings from torch's own modules): done here, not in a check.
            warnings.simplefilter("ignore")
            x = torch.zeros(2, requires_grad=True)
            warm = _fresh(lambda t: torch.sin(t))
            torch.compile(warm, fullgraph=True, dynamic=False)(x).sum().backward()
        return twin

    def version(self) -> str:
        """``torch.__version__``."""
        return str(torch.__version__)

    # ------------------------------------------------------------ building blocks

    def tensors(self, env: Env, track: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Fresh tensors for every source; those in ``track`` require grad (leaves)."""
        return {n: _t(a).clone().requires_grad_(n in track) for n, a in env.items()}

    def forward(self, prog: Program, t: Mapping[str, torch.Tensor],
                hook: Callable[[int, Node, Any], Any] | None = None
                ) -> tuple[torch.Tensor, dict[str, Any]]:
        """Evaluate the program with torch ops."""
        return evaluate(prog, t, LOWERING, hook)

    def closure(self, prog: Program, env: Env, wrt: tuple[str, ...]) -> Callable[..., torch.Tensor]:
        """The function of the ``wrt`` tensors alone, for ``torch.func`` transforms."""
        fixed = self.tensors(env, ())

        def fn(*xs: torch.Tensor) -> torch.Tensor:
            return self.forward(prog, {**fixed, **dict(zip(wrt, xs, strict=True))})[0]
        return fn

    # ------------------------------------------------------------ compiled execution

    def compile(self, prog: Program, key: tuple[Any, ...],
                build: Callable[[], Callable[..., Any]]) -> Callable[..., Any]:
        """The compiled function for ``key`` of ``prog``, built and compiled on first use.

        A new program drops every compiled function and resets dynamo, so compiled code
        never piles up across programs."""
        if self._program is not prog:
            self._compiled.clear()
            torch._dynamo.reset()
            self._program = prog  # kept, so id(prog) cannot be reused while cached
        fn = self._compiled.get(key)
        if fn is None:
            fn = torch.compile(_fresh(build()), fullgraph=True, dynamic=False)
            self._compiled[key] = fn
        return _whole(fn)

    def function(self, prog: Program, names: tuple[str, ...],
                 named: bool = False) -> Callable[..., Any]:
        """The program as a function of the tensors ``names`` (every source, in that order):
        the output, or (output, named intermediates) when ``named``."""
        forward = self.forward

        def fn(*xs: torch.Tensor) -> Any:
            out, inter = forward(prog, dict(zip(names, xs, strict=True)))
            return (out, inter) if named else out
        return fn

    @staticmethod
    def order(env: Env, wrt: tuple[str, ...]) -> tuple[str, ...]:
        """Argument order of a compiled function: ``wrt`` first, then the other sources."""
        return tuple(wrt) + tuple(n for n in env if n not in wrt)

    def _value_compiled(self, prog: Program, env: Env) -> dict[str, np.ndarray]:
        names = self.order(env, ())
        fn = self.compile(prog, ("value", _signature(env)),
                          lambda: self.function(prog, names, named=True))
        t = self.tensors(env, ())
        with torch.no_grad():
            out, named = fn(*(t[n] for n in names))
        return {n: _np(torch.as_tensor(v)) for n, v in {"out": out, **named}.items()}  # type: ignore[misc]

    def _forward_compiled(self, kind: str, prog: Program, env: Env, wrt: tuple[str, ...]
                          ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The compiled forward on fresh tensors, ``wrt`` leaves requiring grad."""
        names = self.order(env, wrt)
        fn = self.compile(prog, (kind, wrt, _signature(env)),
                          lambda: self.function(prog, names))
        t = self.tensors(env, wrt)
        return fn(*(t[n] for n in names)), t

    def _vjp_compiled(self, prog: Program, env: Env, wrt: tuple[str, ...],
                      cotangent: np.ndarray) -> dict[str, np.ndarray]:
        y, t = self._forward_compiled("vjp", prog, env, wrt)
        y.backward(_t(cotangent))
        return {n: _zeros_if_none(t[n].grad, t[n]) for n in wrt}

    def _jvp_compiled(self, prog: Program, env: Env, wrt: tuple[str, ...],
                      tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        names, k = self.order(env, wrt), len(wrt)

        def build() -> Callable[..., Any]:
            f = self.function(prog, names)

            def run(*args: torch.Tensor) -> torch.Tensor:
                primals, tans, rest = args[:k], args[k:2 * k], args[2 * k:]
                return torch.func.jvp(lambda *xs: f(*xs, *rest), primals, tans)[1]
            return run
        fn = self.compile(prog, ("jvp", wrt, _signature(env, {n: tangents[n] for n in wrt})),
                          build)
        args = [_t(env[n]) for n in wrt] + [_t(tangents[n]) for n in wrt]
        return _np(fn(*args, *(_t(env[n]) for n in names[k:])))  # type: ignore[return-value]

    def _jacobian_compiled(self, prog: Program, env: Env, wrt: tuple[str, ...],
                           mode: str) -> dict[str, np.ndarray]:
        if mode == "loop":
            y, t = self._forward_compiled("jacobian-loop", prog, env, wrt)
            try:
                return self._rows(y, t, wrt)
            except RuntimeError as exc:
                if "donated buffers" not in str(exc):
                    raise
                raise Unsupported(DONATED) from None
        names, argnums = self.order(env, wrt), tuple(range(len(wrt)))
        transform = torch.func.jacrev if mode == "rev" else torch.func.jacfwd

        def build() -> Callable[..., Any]:
            f = self.function(prog, names)

            def run(*args: torch.Tensor) -> Any:
                return transform(f, argnums=argnums)(*args)
            return run
        fn = self.compile(prog, ("jacobian", mode, wrt, _signature(env)), build)
        jac = fn(*(_t(env[n]) for n in names))
        return {n: _np(j) for n, j in zip(wrt, jac, strict=True)}  # type: ignore[misc]

    def _hessian_compiled(self, prog: Program, env: Env, wrt: tuple[str, ...],
                          cotangent: np.ndarray) -> dict[str, np.ndarray]:
        names, argnums = self.order(env, wrt), tuple(range(len(wrt)))

        def build() -> Callable[..., Any]:
            f = self.function(prog, names)

            def run(*args: torch.Tensor) -> Any:
                v = args[-1]
                return torch.func.hessian(lambda *xs: (v * f(*xs)).sum(),
                                          argnums=argnums)(*args[:-1])
            return run
        fn = self.compile(prog, ("hessian", wrt, _signature(env, cotangent)), build)
        hess = fn(*(_t(env[n]) for n in names), _t(cotangent))
        return {f"{a},{b}": _np(hess[i][j]) for i, a in enumerate(wrt)  # type: ignore[misc]
                for j, b in enumerate(wrt)}

    def _derivative_compiled(self, prog: Program, env: Env, wrt: str,
                             cotangents: list[np.ndarray]) -> np.ndarray:
        names, m = self.order(env, (wrt,)), len(env) - 1

        def build() -> Callable[..., Any]:
            f = self.function(prog, names)

            def run(x: torch.Tensor, *args: torch.Tensor) -> torch.Tensor:
                rest, vs = args[:m], args[m:]
                g: Callable[[torch.Tensor], torch.Tensor] = lambda x: f(x, *rest)  # noqa: E731
                for v in vs:
                    g = _vjp_of(g, v)
                return g(x)
            return run
        fn = self.compile(prog, ("derivative", wrt, _signature(env, list(cotangents))), build)
        out = fn(*(_t(env[n]) for n in names), *(_t(v) for v in cotangents))
        return _np(out)  # type: ignore[return-value]

    # ------------------------------------------------------------ checks

    def value(self, prog: Program, env: Env) -> dict[str, np.ndarray]:
        """Forward value and named intermediates under ``torch.no_grad``."""
        if self.execution == "compiled":
            return self._value_compiled(prog, env)
        with torch.no_grad():
            out, named = self.forward(prog, self.tensors(env, ()))
        return {n: _np(torch.as_tensor(v)) for n, v in {"out": out, **named}.items()}  # type: ignore[misc]

    def vjp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``y.backward(cotangent)``, then each leaf's ``.grad``."""
        if self.execution == "compiled":
            return self._vjp_compiled(prog, env, wrt, cotangent)
        t = self.tensors(env, wrt)
        y = self.forward(prog, t)[0]
        y.backward(_t(cotangent))
        return {n: _zeros_if_none(t[n].grad, t[n]) for n in wrt}

    def jvp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        """``torch.func.jvp``."""
        if self.execution == "compiled":
            return self._jvp_compiled(prog, env, wrt, tangents)
        primals = tuple(_t(env[n]) for n in wrt)
        tans = tuple(_t(tangents[n]) for n in wrt)
        out = torch.func.jvp(self.closure(prog, env, wrt), primals, tans)[1]
        return _np(out)  # type: ignore[return-value]

    def jacobian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                 mode: str) -> dict[str, np.ndarray]:
        """``jacrev`` / ``jacfwd``, or one ``autograd.grad`` per output entry (``loop``)."""
        if self.execution == "compiled":
            return self._jacobian_compiled(prog, env, wrt, mode)
        if mode == "loop":
            return self._jacobian_loop(prog, env, wrt)
        transform = torch.func.jacrev if mode == "rev" else torch.func.jacfwd
        primals = tuple(_t(env[n]) for n in wrt)
        jac = transform(self.closure(prog, env, wrt), argnums=tuple(range(len(wrt))))(*primals)
        return {n: _np(j) for n, j in zip(wrt, jac, strict=True)}  # type: ignore[misc]

    def _jacobian_loop(self, prog: Program, env: Env,
                       wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        t = self.tensors(env, wrt)
        return self._rows(self.forward(prog, t)[0], t, wrt)

    @staticmethod
    def _rows(y: torch.Tensor, t: Mapping[str, torch.Tensor],
              wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        """The Jacobian of ``y`` one ``autograd.grad`` per output entry."""
        flat = y.reshape(-1)
        rows: list[list[np.ndarray]] = []
        for i in range(flat.numel()):
            grads = torch.autograd.grad(flat[i], [t[n] for n in wrt], retain_graph=True,
                                        allow_unused=True, materialize_grads=True)
            rows.append([_np(g) for g in grads])  # type: ignore[misc]
        return {n: np.stack([r[k] for r in rows]).reshape(tuple(y.shape) + tuple(t[n].shape))
                for k, n in enumerate(wrt)}

    def hessian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``torch.func.hessian`` of ``<v, f>``."""
        if self.execution == "compiled":
            return self._hessian_compiled(prog, env, wrt, cotangent)
        fn, v = self.closure(prog, env, wrt), _t(cotangent)
        primals = tuple(_t(env[n]) for n in wrt)
        hess = torch.func.hessian(lambda *xs: (v * fn(*xs)).sum(),
                                  argnums=tuple(range(len(wrt))))(*primals)
        return {f"{a},{b}": _np(hess[i][j]) for i, a in enumerate(wrt)  # type: ignore[misc]
                for j, b in enumerate(wrt)}

    def derivative(self, prog: Program, env: Env, wrt: str,
                   cotangents: list[np.ndarray]) -> np.ndarray:
        """Nested ``autograd.grad(g, x, v, create_graph=True)``, as note 000 does.

        Once a derivative no longer depends on x it has no ``grad_fn``; the next one is
        zero, which is what calculus says, so it is returned as zeros.
        """
        if self.execution == "compiled":
            return self._derivative_compiled(prog, env, wrt, cotangents)
        t = self.tensors(env, (wrt,))
        x = t[wrt]
        g = self.forward(prog, t)[0]
        for v in cotangents:
            if not g.requires_grad:
                return np.zeros(x.shape, dtype=env[wrt].dtype)
            g = torch.autograd.grad(g, x, _t(v), create_graph=True,
                                    allow_unused=True, materialize_grads=True)[0]
        return _np(g)  # type: ignore[return-value]

