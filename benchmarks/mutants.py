"""Mutant adapters: a framework whose derivative rule for ONE op is wrong by a factor (1 + eps).

A mutant keeps the framework's forward computation bit for bit and scales every derivative
of the chosen op (reverse and forward mode alike, as a wrong derivative rule would) by
``1 + eps``; every other op is untouched. ``detection_power.py`` asks how small an
``eps`` each tool notices; ``tests/test_mutant_detection.py`` checks gradconf notices one.

    from benchmarks.mutants import mutant_torch, mutant_jax
    Adapter = mutant_torch("exp", 1e-6)      # a TorchAdapter subclass
    Adapter.lowering["exp"]                  # the perturbed lowering, for other tools

PyTorch: the op becomes a ``torch.autograd.Function`` whose ``forward`` is the shipped
lowering, whose ``backward`` is the op's own vector-Jacobian product (``torch.func.vjp``
of the lowering) times ``1 + eps`` and whose ``jvp`` is the op's Jacobian-vector product
(``torch.func.jvp``) times ``1 + eps``; ``generate_vmap_rule`` lets ``jacrev``,
``jacfwd`` and ``hessian`` batch it, and the backward is differentiable, so higher-order
derivatives see the same rule. JAX: the op becomes a ``jax.custom_jvp`` whose rule is the
op's ``jax.jvp`` times ``1 + eps``; reverse mode is JAX's transpose of that rule.

The mutants keep their framework's ``name`` (``torch``, ``jax``): a mutant is that
framework with one wrong rule, so the cases' declared divergences for it still apply.
Each framework is imported only when its mutant is first asked for, so this module
imports in either framework's virtualenv.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

# Ops whose derivative a mutant can perturb: every op of gradconf/ops.py with a nonzero
# derivative that is not a pure rearrangement of entries (concat, reshape, transpose,
# getitem) or piecewise (abs, relu, maximum, minimum, max, min).
PERTURBABLE = ("neg", "exp", "log", "sin", "cos", "tanh", "sqrt", "add", "sub", "mul", "div",
               "pow", "matmul", "mm", "dot", "sum", "mean", "norm")


def _check(op: str, eps: float) -> None:
    if op not in PERTURBABLE:
        raise ValueError(f"cannot perturb {op!r}; perturbable ops: {', '.join(PERTURBABLE)}")
    if not eps > -1:
        raise ValueError(f"eps must be > -1, got {eps}")


def _split(args: tuple[Any, ...], is_diff: Callable[[Any], bool]
           ) -> tuple[list[int], Callable[..., Any]]:
    """Positions of the differentiable arguments, and a function of those alone.

    Everything else (Python numbers such as the 2 of ``x**2``, integer arrays) is closed
    over, so it keeps its exact type (an integer power stays an integer power).
    """
    idx = [i for i, a in enumerate(args) if is_diff(a)]
    template = [None if i in idx else a for i, a in enumerate(args)]  # holds no array

    def rebuild(*diff: Any) -> list[Any]:
        full = list(template)
        for i, d in zip(idx, diff, strict=True):
            full[i] = d
        return full

    return idx, rebuild


# ------------------------------------------------------------------------------ PyTorch

@functools.cache
def _torch_function() -> type:
    """The ``torch.autograd.Function`` that applies a lowering with a scaled derivative."""
    import torch
    import torch.func

    class ScaledDerivative(torch.autograd.Function):
        """``fn(*args)`` forward; derivative (both modes) of ``fn`` times ``scale``."""

        generate_vmap_rule = True

        @staticmethod
        def forward(fn: Callable[..., Any], scale: float, *args: Any) -> Any:
            return fn(*args)

        @staticmethod
        def setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
            fn, scale, *args = inputs
            idx, rebuild = _split(tuple(args), _torch_differentiable)
            ctx.fn, ctx.scale, ctx.idx, ctx.rebuild, ctx.nargs = fn, scale, idx, rebuild, len(args)
            tensors = [args[i] for i in idx]
            ctx.save_for_backward(*tensors)
            ctx.save_for_forward(*tensors)

        @staticmethod
        def backward(ctx: Any, grad: Any) -> tuple[Any, ...]:
            primals = ctx.saved_tensors
            _, pullback = torch.func.vjp(lambda *d: ctx.fn(*ctx.rebuild(*d)), *primals)
            grads = pullback(grad)
            out: list[Any] = [None] * (2 + ctx.nargs)
            for i, g in zip(ctx.idx, grads, strict=True):
                out[2 + i] = g * ctx.scale
            return tuple(out)

        @staticmethod
        def jvp(ctx: Any, _fn_tangent: Any, _scale_tangent: Any, *tangents: Any) -> Any:
            primals = ctx.saved_tensors
            tans = tuple(torch.zeros_like(p) if tangents[i] is None else tangents[i]
                         for i, p in zip(ctx.idx, primals, strict=True))
            _, out = torch.func.jvp(lambda *d: ctx.fn(*ctx.rebuild(*d)), tuple(primals), tans)
            return out * ctx.scale

    return ScaledDerivative


def _torch_differentiable(a: Any) -> bool:
    import torch
    return isinstance(a, torch.Tensor) and (a.is_floating_point() or a.is_complex())


def perturb_torch(base: Callable[..., Any], eps: float) -> Callable[..., Any]:
    """A torch lowering with ``base``'s forward and ``(1 + eps)`` times its derivative."""
    scale = 1.0 + eps

    def lowered(*args: Any, **attrs: Any) -> Any:
        if not any(_torch_differentiable(a) for a in args):
            return base(*args, **attrs)
        fn = functools.partial(base, **attrs) if attrs else base
        return _torch_function().apply(fn, scale, *args)

    lowered.__name__ = f"perturbed_{getattr(base, '__name__', 'op')}"
    return lowered


def _mutated(table: Mapping[str, Callable[..., Any]], op: str, eps: float,
             perturb: Callable[[Callable[..., Any], float], Callable[..., Any]]
             ) -> dict[str, Callable[..., Any]]:
    _check(op, eps)
    return {**table, op: perturb(table[op], eps)}


@functools.cache
def _torch_base() -> type:
    import torch

    from gradconf.expr import Node, Program, evaluate
    from gradconf_adapters.torch_adapter import LOWERING, TorchAdapter

    class MutantTorch(TorchAdapter):
        """PyTorch with the derivative of ``op`` scaled by ``1 + eps`` (class attributes).

        Subclass it with other ``op`` / ``eps`` (or call :func:`mutant_torch`); the
        ``lowering`` table is rebuilt for each subclass.
        """

        op: str = "exp"
        eps: float = 1e-6
        lowering = _mutated(LOWERING, "exp", 1e-6, perturb_torch)

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            cls.lowering = _mutated(LOWERING, cls.op, cls.eps, perturb_torch)

        def forward(self, prog: Program, t: Mapping[str, torch.Tensor],
                    hook: Callable[[int, Node, Any], Any] | None = None
                    ) -> tuple[torch.Tensor, dict[str, Any]]:
            """Evaluate the program with the mutated lowering."""
            return evaluate(prog, t, self.lowering, hook)

    return MutantTorch


@functools.cache
def mutant_torch(op: str, eps: float) -> type:
    """A ``TorchAdapter`` subclass whose ``op`` has its derivative scaled by ``1 + eps``."""
    _check(op, eps)
    base = _torch_base()
    return type(f"MutantTorch_{op}", (base,), {"op": op, "eps": float(eps),
                                               "__module__": __name__})


# ------------------------------------------------------------------------------ JAX

def _jax_differentiable(a: Any) -> bool:
    import jax
    import jax.numpy as jnp
    return isinstance(a, jax.Array) and bool(jnp.issubdtype(a.dtype, jnp.inexact))


def perturb_jax(base: Callable[..., Any], eps: float) -> Callable[..., Any]:
    """A jax lowering with ``base``'s forward and a ``custom_jvp`` rule ``(1 + eps)`` times
    ``base``'s; reverse mode transposes the rule, so both modes carry the factor."""
    import jax
    scale = 1.0 + eps

    def lowered(*args: Any, **attrs: Any) -> Any:
        idx, rebuild = _split(args, _jax_differentiable)
        if not idx:
            return base(*args, **attrs)

        def fn(*diff: Any) -> Any:
            return base(*rebuild(*diff), **attrs)

        wrapped = jax.custom_jvp(fn)

        def rule(primals: tuple[Any, ...], tangents: tuple[Any, ...]) -> tuple[Any, Any]:
            out, tangent = jax.jvp(fn, primals, tangents)
            return out, tangent * scale

        wrapped.defjvp(rule)
        return wrapped(*(args[i] for i in idx))

    lowered.__name__ = f"perturbed_{getattr(base, '__name__', 'op')}"
    return lowered


@functools.cache
def _jax_base() -> type:
    import jax

    from gradconf.expr import Node, Program, evaluate
    from gradconf_adapters.jax_adapter import LOWERING, JaxAdapter

    class MutantJax(JaxAdapter):
        """JAX with the derivative of ``op`` scaled by ``1 + eps`` (class attributes)."""

        op: str = "exp"
        eps: float = 1e-6
        lowering = _mutated(LOWERING, "exp", 1e-6, perturb_jax)

        def __init_subclass__(cls, **kwargs: Any) -> None:
            super().__init_subclass__(**kwargs)
            cls.lowering = _mutated(LOWERING, cls.op, cls.eps, perturb_jax)

        def forward(self, prog: Program, arrays: Mapping[str, Any],
                    hook: Callable[[int, Node, Any], Any] | None = None
                    ) -> tuple[jax.Array, dict[str, Any]]:
            """Evaluate the program with the mutated lowering."""
            return evaluate(prog, arrays, self.lowering, hook)

    return MutantJax


@functools.cache
def mutant_jax(op: str, eps: float) -> type:
    """A ``JaxAdapter`` subclass whose ``op`` has its derivative scaled by ``1 + eps``."""
    _check(op, eps)
    base = _jax_base()
    return type(f"MutantJax_{op}", (base,), {"op": op, "eps": float(eps),
                                             "__module__": __name__})


def __getattr__(name: str) -> type:
    """``MutantTorch`` / ``MutantJax``: the base classes, built on first access."""
    if name == "MutantTorch":
        return _torch_base()
    if name == "MutantJax":
        return _jax_base()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
