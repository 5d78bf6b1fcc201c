"""The API-semantics probes in PyTorch's idiom (kinds: gradconf.kinds.PROBE_KINDS).

Each probe returns what a user would see: the stored ``.grad`` (None is ``absent``), or
the exception, normalised by the adapter. Imports torch only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from gradconf.adapter import ErrorInfo, ProbeInputs, ProbeResult
from gradconf.expr import Node, Program
from gradconf.schema import ProbeSpec
from gradconf_adapters.torch_adapter import _np, _t

if TYPE_CHECKING:
    from gradconf_adapters.torch_adapter import TorchAdapter

Env = Mapping[str, np.ndarray]
Grads = dict[str, np.ndarray | None]


def _grads(t: Mapping[str, torch.Tensor], names: tuple[str, ...] | list[str]) -> Grads:
    """Each tensor's stored ``.grad`` as NumPy, None where there is none."""
    return {n: _np(t[n].grad) for n in names}


def _outcome(values: Grads) -> str:
    return "absent" if values and all(v is None for v in values.values()) else "value"


def _attempt(ad: TorchAdapter, fn: Callable[[], Any]) -> ErrorInfo | None:
    try:
        fn()
    except Exception as exc:  # the framework's error is the observation
        return ad.error_info(exc)
    return None


def _backward(y: torch.Tensor, cot: np.ndarray, **kw: Any) -> None:
    """``y.backward()`` for a scalar (as the notes write it), ``y.backward(v)`` otherwise."""
    if y.dim() == 0:
        y.backward(**kw)
    else:
        y.backward(_t(cot), **kw)


def nonscalar_no_cotangent(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
                           wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``y.backward()`` on a non-scalar ``y``."""
    t = ad.tensors(env, wrt)
    y = ad.forward(prog, t)[0]
    err = _attempt(ad, y.backward)
    if err:
        return ProbeResult("error", error=err, idiom="y.backward()")
    values = _grads(t, wrt)
    return ProbeResult(_outcome(values), values, idiom="y.backward()")


def untracked_inputs(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
                     wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """Backward when no tensor has ``requires_grad=True``."""
    t = ad.tensors(env, ())
    y = ad.forward(prog, t)[0]
    err = _attempt(ad, lambda: _backward(y, v.cotangent))
    if err:
        return ProbeResult("error", error=err, idiom="y.backward() with no requires_grad")
    values = _grads(t, wrt)
    return ProbeResult(_outcome(values), values, idiom="y.backward() with no requires_grad")


def second_pass(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
                wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``y.backward(retain_graph=retain)`` then ``y.backward()`` on the same graph."""
    t = ad.tensors(env, wrt)
    y = ad.forward(prog, t)[0]
    idiom = f"y.backward(retain_graph={spec.retain}); y.backward()"
    _backward(y, v.cotangent, retain_graph=spec.retain)
    steps = [_grads(t, wrt)]
    err = _attempt(ad, lambda: _backward(y, v.cotangent))
    if err:
        return ProbeResult("error", steps=steps, error=err, idiom=idiom)
    steps.append(_grads(t, wrt))
    return ProbeResult("value", steps[-1], steps, idiom=idiom)


def accumulate(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
               wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """Fresh forward + backward per step into the same leaves; ``zero`` is ``.grad.zero_()``."""
    t = ad.tensors(env, wrt)
    steps: list[Grads] = []
    for cot in v.steps or (v.cotangent, v.cotangent):
        if cot is None:
            for n in wrt:
                if t[n].grad is not None:
                    t[n].grad.zero_()
        else:
            _backward(ad.forward(prog, t)[0], cot)
        steps.append(_grads(t, wrt))
    return ProbeResult("value", steps[-1], steps,
                       idiom="y = f(x); y.backward(v) per step, x.grad.zero_() on reset")


def combined_before_tracking(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
                             wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """Parts as plain tensors; the combination becomes a new leaf with requires_grad."""
    t = ad.tensors(env, ())
    target = prog.names[spec.track or ""]

    def hook(i: int, node: Node, value: Any) -> Any:
        return value.detach().requires_grad_(True) if i == target else value
    y = ad.forward(prog, t, hook)[0]
    _backward(y, v.cotangent)
    values = _grads(t, spec.parts)
    return ProbeResult(_outcome(values), values,
                       idiom=f"{spec.track} = Variable(<combination>, requires_grad=True); "
                             f"y.backward(v); read {', '.join(spec.parts)}.grad")


def nonleaf_grad(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
                 wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``.grad`` of named intermediates after ``y.backward``."""
    t = ad.tensors(env, wrt)
    y, named = ad.forward(prog, t)
    _backward(y, v.cotangent)
    values = _grads(named, spec.of)
    return ProbeResult(_outcome(values), values,
                       idiom=f"y.backward(); read {', '.join(spec.of)}.grad")


def unused_input(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
                 wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``torch.autograd.grad(y, [..., u], allow_unused=...)`` for an input ``u`` not read."""
    u = spec.input or ""
    names = tuple(dict.fromkeys((*wrt, u)))
    t = ad.tensors(env, names)
    y = ad.forward(prog, t)[0]
    idiom = f"torch.autograd.grad(y, [{', '.join(names)}], allow_unused={spec.allow_unused})"
    out: list[Any] = []
    err = _attempt(ad, lambda: out.extend(torch.autograd.grad(
        y, [t[n] for n in names], _t(v.cotangent) if y.dim() else None,
        allow_unused=spec.allow_unused)))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    grads = dict(zip(names, out, strict=True))
    values: Grads = {u: _np(grads[u])}
    return ProbeResult(_outcome(values), values, idiom=idiom)


def integer_input(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
                  wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``torch.tensor(<ints>).requires_grad_(True)``."""
    name = spec.input or ""
    err = _attempt(ad, lambda: _t(env[name]).requires_grad_(True))
    idiom = f"{name}.requires_grad_(True) on {env[name].dtype}"
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("value", idiom=idiom)


def grad_before_pass(ad: TorchAdapter, spec: ProbeSpec, prog: Program, env: Env,
                     wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``x.grad`` of fresh leaves, before any backward."""
    t = ad.tensors(env, wrt)
    values = _grads(t, wrt)
    return ProbeResult(_outcome(values), values, idiom="read x.grad before backward")


PROBES: dict[str, Callable[..., ProbeResult]] = {
    f.__name__: f for f in (nonscalar_no_cotangent, untracked_inputs, second_pass, accumulate,
                            combined_before_tracking, nonleaf_grad, unused_input, integer_input,
                            grad_before_pass)
}
