"""The API-semantics probes in autograd's idiom (kinds: gradconf.kinds.PROBE_KINDS).

autograd is functional: a gradient is the return value of ``grad`` or of a ``make_vjp``
pullback, nothing is stored on an array, and "tracking" is only the ``argnum`` of a
transform. Probes with an honest counterpart run it and report what a user sees; those
that ask about stored ``.grad`` or tracking state return ``not_applicable`` with the
reason as the idiom. Imports autograd only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import autograd
import numpy as np

from gradconf.adapter import ErrorInfo, ProbeInputs, ProbeResult
from gradconf.expr import Program
from gradconf.schema import ProbeSpec
from gradconf_autograd.adapter import AutogradAdapter, argnum, per_input

Env = Mapping[str, np.ndarray]
Grads = dict[str, np.ndarray | None]

NO_STORED_GRAD = ("autograd stores no gradient on an array; a gradient exists only as the "
                  "return value of grad / a make_vjp pullback")
NO_TRACKING = ("autograd has no tracking state; grad(f, argnum) differentiates the "
               "arguments it names, whatever they are")


def _attempt(ad: AutogradAdapter, fn: Callable[[], Any]) -> tuple[Any, ErrorInfo | None]:
    """Run ``fn``; the framework's exception, if any, is the observation."""
    try:
        return fn(), None
    except Exception as exc:  # the framework's error is the observation
        return None, ad.error_info(exc)


def _named(names: tuple[str, ...], grads: Any) -> Grads:
    """A transform's result for ``argnum(len(names))``, by input name."""
    return {n: np.asarray(g) for n, g in
            zip(names, per_input(grads, len(names)), strict=True)}


def _pullback(ad: AutogradAdapter, prog: Program, env: Env,
              names: tuple[str, ...]) -> Callable[[np.ndarray], Any]:
    """``make_vjp(f, argnum)(*x)[0]``: the pullback of one trace."""
    fn = ad.closure(prog, env, names)
    return autograd.make_vjp(fn, argnum(len(names)))(*ad.primals(env, names))[0]


def nonscalar_no_cotangent(ad: AutogradAdapter, spec: ProbeSpec, prog: Program, env: Env,
                           wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``autograd.grad(f, argnum)(*x)``: grad is defined for scalar outputs only."""
    idiom = f"autograd.grad(f, argnum=<{', '.join(wrt)}>)(...)"
    fn = ad.closure(prog, env, wrt)
    grads, err = _attempt(ad, lambda: autograd.grad(fn, argnum(len(wrt)))(
        *ad.primals(env, wrt)))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("value", _named(wrt, grads), idiom=idiom)


def second_pass(ad: AutogradAdapter, spec: ProbeSpec, prog: Program, env: Env,
                wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """The pullback of one ``make_vjp`` trace, called twice (``retain`` has no counterpart).

    Each call returns a fresh gradient computed from the same trace, which lives as long
    as the pullback: nothing is freed and nothing adds up.
    """
    idiom = (f"vjp, y = make_vjp(f, argnum=({', '.join(wrt)}))(...); vjp(v); vjp(v) "
             f"(retain={spec.retain}: no counterpart, the trace lives with vjp)")
    pullback = _pullback(ad, prog, env, wrt)
    steps = [_named(wrt, pullback(v.cotangent))]
    grads, err = _attempt(ad, lambda: pullback(v.cotangent))
    if err:
        return ProbeResult("error", steps=steps, error=err, idiom=idiom)
    steps.append(_named(wrt, grads))
    return ProbeResult("value", steps[-1], steps, idiom=idiom)


def accumulate(ad: AutogradAdapter, spec: ProbeSpec, prog: Program, env: Env,
               wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """A fresh ``make_vjp`` trace and pullback per step; each returns its own gradient.

    A reset step (``zero``) has nothing to reset: its snapshot is absent (None).
    """
    steps: list[Grads] = []
    for cot in v.steps or (v.cotangent, v.cotangent):
        if cot is None:
            steps.append(dict.fromkeys(wrt))
        else:
            steps.append(_named(wrt, _pullback(ad, prog, env, wrt)(cot)))
    return ProbeResult("value", steps[-1], steps,
                       idiom="make_vjp(f)(x)[0](v) per step (a returned gradient; nothing "
                             "stored to accumulate or to reset)")


def unused_input(ad: AutogradAdapter, spec: ProbeSpec, prog: Program, env: Env,
                 wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``make_vjp(f, argnum=(.., u))(*x)[0](v)`` with an input ``u`` that f does not read."""
    u = spec.input or ""
    names = tuple(dict.fromkeys((*wrt, u)))
    idiom = (f"make_vjp(f, argnum=({', '.join(names)}))(...)[0](v) "
             f"(allow_unused={spec.allow_unused}: no counterpart)")
    grads, err = _attempt(ad, lambda: _pullback(ad, prog, env, names)(v.cotangent))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("value", {u: _named(names, grads)[u]}, idiom=idiom)


def integer_input(ad: AutogradAdapter, spec: ProbeSpec, prog: Program, env: Env,
                  wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``make_vjp(f, argnum=(.., k))(*x)[0](v)`` naming an integer-dtype input ``k``."""
    k = spec.input or ""
    names = tuple(dict.fromkeys((*wrt, k)))
    idiom = f"make_vjp(f, argnum=({', '.join(names)}))(...)[0](v) with {k} {env[k].dtype}"
    grads, err = _attempt(ad, lambda: _pullback(ad, prog, env, names)(v.cotangent))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    return ProbeResult("value", {k: _named(names, grads)[k]}, idiom=idiom)


def _not_applicable(reason: str) -> Callable[..., ProbeResult]:
    def probe(ad: AutogradAdapter, spec: ProbeSpec, prog: Program, env: Env,
              wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
        return ProbeResult("not_applicable", idiom=reason)
    return probe


PROBES: dict[str, Callable[..., ProbeResult]] = {
    "nonscalar_no_cotangent": nonscalar_no_cotangent,
    "untracked_inputs": _not_applicable(NO_TRACKING),
    "second_pass": second_pass,
    "accumulate": accumulate,
    "combined_before_tracking": _not_applicable(
        NO_TRACKING + "; parts combined before the call are never arguments, so there "
                      "is nothing to ask of them"),
    "nonleaf_grad": _not_applicable(NO_STORED_GRAD + ", intermediates included"),
    "unused_input": unused_input,
    "integer_input": integer_input,
    "grad_before_pass": _not_applicable(NO_STORED_GRAD + ", so none before the first call"),
}
