"""PyTorch adapter: every check and probe in PyTorch's own idiom.

Reverse mode is ``y.backward(cotangent)`` into leaf ``.grad`` (the notes' idiom), forward
mode ``torch.func.jvp``, Jacobians ``torch.func.jacrev`` / ``jacfwd`` / a loop of
``torch.autograd.grad`` over output entries (note 001), Hessians ``torch.func.hessian``,
order-n derivatives nested ``torch.autograd.grad(..., create_graph=True)`` (note 000).
Imports torch and nothing of any other framework.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import ml_dtypes
import numpy as np
import torch
import torch.func

from gradconf.adapter import Adapter
from gradconf.expr import Node, Program, evaluate
from gradconf_adapters.torch_lowering import LOWERING

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


class TorchAdapter(Adapter):
    """PyTorch, eager autograd and ``torch.func`` transforms."""

    name = "torch"
    lowering = LOWERING
    complex_gradient = "conjugate_wirtinger"  # checked by tests/test_complex.py
    error_patterns = ERRORS
    warning_patterns = WARNINGS
    probe_module = "gradconf_adapters.torch_probes"

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

    # ------------------------------------------------------------ checks

    def value(self, prog: Program, env: Env) -> dict[str, np.ndarray]:
        """Forward value and named intermediates under ``torch.no_grad``."""
        with torch.no_grad():
            out, named = self.forward(prog, self.tensors(env, ()))
        return {n: _np(torch.as_tensor(v)) for n, v in {"out": out, **named}.items()}  # type: ignore[misc]

    def vjp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``y.backward(cotangent)``, then each leaf's ``.grad``."""
        t = self.tensors(env, wrt)
        y = self.forward(prog, t)[0]
        y.backward(_t(cotangent))
        return {n: _zeros_if_none(t[n].grad, t[n]) for n in wrt}

    def jvp(self, prog: Program, env: Env, wrt: tuple[str, ...],
            tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        """``torch.func.jvp``."""
        primals = tuple(_t(env[n]) for n in wrt)
        tans = tuple(_t(tangents[n]) for n in wrt)
        out = torch.func.jvp(self.closure(prog, env, wrt), primals, tans)[1]
        return _np(out)  # type: ignore[return-value]

    def jacobian(self, prog: Program, env: Env, wrt: tuple[str, ...],
                 mode: str) -> dict[str, np.ndarray]:
        """``jacrev`` / ``jacfwd``, or one ``autograd.grad`` per output entry (``loop``)."""
        if mode == "loop":
            return self._jacobian_loop(prog, env, wrt)
        transform = torch.func.jacrev if mode == "rev" else torch.func.jacfwd
        primals = tuple(_t(env[n]) for n in wrt)
        jac = transform(self.closure(prog, env, wrt), argnums=tuple(range(len(wrt))))(*primals)
        return {n: _np(j) for n, j in zip(wrt, jac, strict=True)}  # type: ignore[misc]

    def _jacobian_loop(self, prog: Program, env: Env,
                       wrt: tuple[str, ...]) -> dict[str, np.ndarray]:
        t = self.tensors(env, wrt)
        y = self.forward(prog, t)[0]
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
        t = self.tensors(env, (wrt,))
        x = t[wrt]
        g = self.forward(prog, t)[0]
        for v in cotangents:
            if not g.requires_grad:
                return np.zeros(x.shape, dtype=env[wrt].dtype)
            g = torch.autograd.grad(g, x, _t(v), create_graph=True,
                                    allow_unused=True, materialize_grads=True)[0]
        return _np(g)  # type: ignore[return-value]

