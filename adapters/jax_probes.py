"""The API-semantics probes in JAX's idiom (kinds: gradconf.kinds.PROBE_KINDS).

JAX is functional: arrays carry no ``.grad`` and nothing is recorded between calls. A
gradient exists only as the return value of a transform (``jax.grad``, a ``jax.vjp``
pullback), and "tracking" an input means making it an argument the transform
differentiates (``argnums``). Each probe makes the JAX call a user would make and
reports what it returned, or the exception, normalised by the adapter; where the
question presupposes stored state it is ``not_applicable``, with the reason in ``idiom``.
Imports jax only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import jax
import jax.numpy as jnp
import numpy as np

from gradconf.adapter import ErrorInfo, ProbeInputs, ProbeResult
from gradconf.expr import Node, Program
from gradconf.schema import ProbeSpec
from gradconf_adapters.jax_adapter import Fn, inner

if TYPE_CHECKING:
    from gradconf_adapters.jax_adapter import JaxAdapter

Env = Mapping[str, np.ndarray]
Grads = dict[str, np.ndarray | None]


def _named(names: tuple[str, ...], grads: tuple[Any, ...]) -> Grads:
    """Returned gradients as NumPy, by input name."""
    return {n: np.array(g) for n, g in zip(names, grads, strict=True)}


def _attempt(ad: JaxAdapter, fn: Callable[[], Any]) -> tuple[Any, ErrorInfo | None]:
    """``fn()``, or the framework's exception in neutral terms (the observation)."""
    try:
        return fn(), None
    except Exception as exc:  # the framework's error is the observation
        return None, ad.error_info(exc)


def _scalar(fn: Fn, cot: np.ndarray) -> tuple[Fn, str]:
    """``f`` itself for a scalar output (as the notes write it), ``<v, f>`` otherwise."""
    if cot.ndim == 0:
        return fn, "f"
    v = jnp.asarray(cot)
    return (lambda *xs: inner(v, fn(*xs))), "lambda *xs: vdot(v, f(*xs))"


def _call(names: tuple[str, ...]) -> str:
    return f"({', '.join(names)})"


def nonscalar_no_cotangent(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
                           wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``jax.grad(f)`` of the (non-scalar) function itself: no cotangent anywhere."""
    argnums = tuple(range(len(wrt)))
    idiom = f"jax.grad(f, argnums={argnums}){_call(wrt)}"
    grads, err = _attempt(ad, lambda: jax.grad(ad.closure(prog, env, wrt), argnums=argnums)(
        *ad.primals(env, wrt)))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("value", _named(wrt, grads), idiom=idiom)


def untracked_inputs(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
                     wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``jax.grad`` of a function with every input closed over: none is an argument."""
    fn, text = _scalar(ad.closure(prog, env, wrt), v.cotangent)
    primals = ad.primals(env, wrt)
    idiom = (f"jax.grad(lambda: ({text}){_call(wrt)})(): every input a closed-over constant, "
             "none an argument to differentiate")
    _, err = _attempt(ad, lambda: jax.grad(lambda: fn(*primals))())
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("value", idiom=idiom)


def second_pass(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
                wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """One ``jax.vjp``, its pullback called twice; each step is what that call returned.

    ``retain`` has no counterpart: the pullback closes over its residuals and keeps them
    while it is referenced, so there is no graph to free.
    """
    pullback = jax.vjp(ad.closure(prog, env, wrt), *ad.primals(env, wrt))[1]
    cot = jnp.asarray(v.cotangent)
    idiom = (f"y, vjp_fun = jax.vjp(f, {', '.join(wrt)}); vjp_fun(v); vjp_fun(v) "
             f"(retain={spec.retain} has no counterpart)")
    steps: list[Grads] = []
    for _ in range(2):
        grads, err = _attempt(ad, lambda: pullback(cot))
        if err:
            return ProbeResult("error", steps=steps, error=err, idiom=idiom)
        steps.append(_named(wrt, grads))
    return ProbeResult("value", steps[-1], steps, idiom=idiom)


def accumulate(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
               wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """A fresh ``jax.vjp`` per step; the gradient a step shows is what its call returned.

    Nothing is stored, so nothing adds up. A reset (``zero``) is the JAX user's
    ``g = jax.tree.map(jnp.zeros_like, g)`` on the gradient they hold: it shows zeros.
    """
    fn, primals = ad.closure(prog, env, wrt), ad.primals(env, wrt)
    held: tuple[Any, ...] = tuple(jnp.zeros_like(p) for p in primals)
    steps: list[Grads] = []
    for cot in v.steps or (v.cotangent, v.cotangent):
        if cot is None:
            held = jax.tree.map(jnp.zeros_like, held)
        else:
            held = jax.vjp(fn, *primals)[1](jnp.asarray(cot))
        steps.append(_named(wrt, held))
    return ProbeResult("value", steps[-1], steps,
                       idiom=f"g = jax.vjp(f, {', '.join(wrt)})[1](v) per step (a fresh "
                             "pullback each time, returned, not stored); reset: "
                             "g = jax.tree.map(jnp.zeros_like, g)")


def combined_before_tracking(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
                             wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """The combination is the argument ``jax.grad`` differentiates; the parts are not.

    ``jax.grad`` returns one gradient, the combination's; the parts are constants of that
    function and the call returns nothing for them: ``absent``, as in the notes.
    """
    track = spec.track or ""
    fixed = ad.arrays(env)
    target = prog.names[track]
    combined = ad.forward(prog, fixed)[1][track]

    def of_combined(c: jax.Array) -> jax.Array:
        def hook(i: int, node: Node, value: Any) -> Any:
            return c if i == target else value
        return jnp.asarray(ad.forward(prog, fixed, hook)[0])
    fn, text = _scalar(of_combined, v.cotangent)
    idiom = (f"jax.grad({text})({track}) with {track} = <combination of "
             f"{', '.join(spec.parts)}> as the argument; the call returns {track}'s "
             f"gradient only, nothing for {', '.join(spec.parts)}")
    _, err = _attempt(ad, lambda: jax.grad(fn)(combined))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("absent", dict.fromkeys(spec.parts), idiom=idiom)


def nonleaf_grad(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
                 wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """No counterpart: JAX arrays store no gradient, intermediate or not."""
    return ProbeResult("not_applicable",
                       idiom=f"JAX arrays have no .grad to read on {', '.join(spec.of)}: a "
                             "gradient is only ever a transform's return value (to get an "
                             "intermediate's, make it an argument of jax.grad)")


def unused_input(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
                 wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``jax.grad`` w.r.t. an argument the output does not read: its gradient is zeros."""
    u = spec.input or ""
    names = tuple(dict.fromkeys((*wrt, u)))
    fn, text = _scalar(ad.closure(prog, env, names), v.cotangent)
    argnums = tuple(range(len(names)))
    idiom = (f"jax.grad({text}, argnums={argnums}){_call(names)} "
             f"(allow_unused={spec.allow_unused} has no counterpart)")
    grads, err = _attempt(ad, lambda: jax.grad(fn, argnums=argnums)(*ad.primals(env, names)))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("value", {u: _named(names, grads)[u]}, idiom=idiom)


def integer_input(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
                  wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``jax.grad`` w.r.t. an integer-dtype argument."""
    name = spec.input or ""
    names = tuple(dict.fromkeys((*wrt, name)))
    fn, text = _scalar(ad.closure(prog, env, names), v.cotangent)
    argnums = (names.index(name),)
    idiom = f"jax.grad({text}, argnums={argnums}){_call(names)} with {name}: {env[name].dtype}"
    grads, err = _attempt(ad, lambda: jax.grad(fn, argnums=argnums)(*ad.primals(env, names)))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("value", _named((name,), grads), idiom=idiom)


def grad_before_pass(ad: JaxAdapter, spec: ProbeSpec, prog: Program, env: Env,
                     wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """No counterpart: there is no stored gradient to read before (or after) a pass."""
    return ProbeResult("not_applicable",
                       idiom="JAX arrays have no .grad: before any jax.grad/vjp call there is "
                             "no gradient object to read at all")


PROBES: dict[str, Callable[..., ProbeResult]] = {
    f.__name__: f for f in (nonscalar_no_cotangent, untracked_inputs, second_pass, accumulate,
                            combined_before_tracking, nonleaf_grad, unused_input, integer_input,
                            grad_before_pass)
}
