"""The API-semantics probes in TensorFlow's idiom (kinds: gradconf.kinds.PROBE_KINDS).

TensorFlow stores no gradient on a tensor: ``tape.gradient`` returns one, and a source
the tape did not connect to the target gets None (the default
``UnconnectedGradients.NONE``). Each probe returns what a user would see from the calls
named in its ``idiom``: the returned gradients (None is ``absent``), or the exception,
normalised by the adapter. Imports tensorflow only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import tensorflow as tf

from gradconf.adapter import ErrorInfo, ProbeInputs, ProbeResult
from gradconf.expr import Node, Program
from gradconf.schema import ProbeSpec

if TYPE_CHECKING:
    from gradconf_adapters.tf_adapter import TensorflowAdapter

Env = Mapping[str, np.ndarray]
Grads = dict[str, np.ndarray | None]
NONE = tf.UnconnectedGradients.NONE


def _grads(names: tuple[str, ...] | list[str], grads: list[Any]) -> Grads:
    """Returned gradients as NumPy by name, None where TF returned None."""
    out: Grads = {}
    for n, g in zip(names, grads, strict=True):
        out[n] = None if g is None else np.array(tf.convert_to_tensor(g).numpy())
    return out


def _outcome(values: Grads) -> str:
    return "absent" if values and all(v is None for v in values.values()) else "value"


def _attempt(ad: TensorflowAdapter, fn: Callable[[], Any]) -> ErrorInfo | None:
    try:
        fn()
    except Exception as exc:  # the framework's error is the observation
        return ad.error_info(exc)
    return None


def _gradient(tape: tf.GradientTape, y: Any, sources: list[Any], cot: np.ndarray,
              **kw: Any) -> list[Any]:
    """``tape.gradient(y, sources)`` for a scalar y (as one writes a loss),
    ``tape.gradient(y, sources, output_gradients=v)`` otherwise."""
    if len(y.shape) == 0:
        return list(tape.gradient(y, sources, **kw))
    return list(tape.gradient(y, sources, output_gradients=tf.constant(cot), **kw))


def nonscalar_no_cotangent(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
                           wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``tape.gradient(y, xs)`` on a non-scalar ``y``: TF differentiates ``sum(y)``."""
    tape, t, y = ad.taped(prog, env, wrt)
    idiom = "tape.gradient(y, xs) on a non-scalar y, no output_gradients"
    out: list[Any] = []
    err = _attempt(ad, lambda: out.extend(tape.gradient(y, [t[n] for n in wrt])))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    values = _grads(wrt, out)
    return ProbeResult(_outcome(values), values, idiom=idiom)


def untracked_inputs(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
                     wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``tape.gradient`` with respect to ``tf.constant`` inputs the tape never watched."""
    tape, t, y = ad.taped(prog, env, ())
    idiom = "tape.gradient(y, xs) with xs = tf.constant(...) and no tape.watch"
    out: list[Any] = []
    err = _attempt(ad, lambda: out.extend(_gradient(tape, y, [t[n] for n in wrt],
                                                    v.cotangent)))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    values = _grads(wrt, out)
    return ProbeResult(_outcome(values), values, idiom=idiom)


def second_pass(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
                wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """Two ``tape.gradient`` calls on one tape, ``persistent=retain``.

    A non-persistent tape refuses the second call (RuntimeError); a persistent one returns
    the same gradients again: nothing is stored, so nothing adds up.
    """
    tape, t, y = ad.taped(prog, env, wrt, persistent=spec.retain)
    xs = [t[n] for n in wrt]
    idiom = (f"tape = tf.GradientTape(persistent={spec.retain}); "
             "tape.gradient(y, xs); tape.gradient(y, xs)")
    steps = [_grads(wrt, _gradient(tape, y, xs, v.cotangent))]
    out: list[Any] = []
    err = _attempt(ad, lambda: out.extend(_gradient(tape, y, xs, v.cotangent)))
    if err:
        return ProbeResult("error", steps=steps, error=err, idiom=idiom)
    steps.append(_grads(wrt, out))
    return ProbeResult("value", steps[-1], steps, idiom=idiom)


def accumulate(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
               wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """A fresh tape and ``tape.gradient(y, xs, output_gradients=v)`` per step.

    Each step's visible gradient is what its call returned: TF keeps no gradient between
    calls. A reset (``zero``) step has nothing to clear and makes no call: its snapshot is
    None for every input (absent; read as zero when the steps are judged).
    """
    steps: list[Grads] = []
    for cot in v.steps or (v.cotangent, v.cotangent):
        if cot is None:
            steps.append(dict.fromkeys(wrt))
            continue
        tape, t, y = ad.taped(prog, env, wrt)
        steps.append(_grads(wrt, _gradient(tape, y, [t[n] for n in wrt], cot)))
    return ProbeResult("value", steps[-1], steps,
                       idiom="with tf.GradientTape() as tape: y = f(xs); "
                             "g = tape.gradient(y, xs, output_gradients=v) per step; "
                             "a reset step makes no call (None)")


def combined_before_tracking(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
                             wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """Parts as ``tf.constant``; their combination, made outside the tape, is watched."""
    t = ad.tensors(env)
    track = spec.track or ""
    combined = ad.forward(prog, t)[1][track]  # outside any tape: nothing is recorded
    target = prog.names[track]

    def hook(i: int, node: Node, value: Any) -> Any:
        return combined if i == target else value
    with tf.GradientTape() as tape:
        tape.watch(combined)
        y = ad.forward(prog, t, hook)[0]
    values = _grads(spec.parts, _gradient(tape, y, [t[n] for n in spec.parts], v.cotangent))
    return ProbeResult(_outcome(values), values,
                       idiom=f"{track} = <combination of {', '.join(spec.parts)}> outside the "
                             f"tape; tape.watch({track}); "
                             f"tape.gradient(y, [{', '.join(spec.parts)}])")


def nonleaf_grad(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
                 wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``tape.gradient(y, [intermediates])``: TF differentiates w.r.t. any recorded tensor."""
    t = ad.tensors(env)
    with tf.GradientTape() as tape:
        tape.watch([t[n] for n in wrt])
        y, named = ad.forward(prog, t)
    values = _grads(spec.of, _gradient(tape, y, [named[n] for n in spec.of], v.cotangent))
    return ProbeResult(_outcome(values), values,
                       idiom=f"tape.gradient(y, [{', '.join(spec.of)}]) with the intermediates "
                             "computed inside the tape")


def unused_input(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
                 wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``tape.gradient(y, [..., u])`` for a watched input ``u`` the output does not read.

    TF never refuses an unconnected source. ``UnconnectedGradients.NONE`` (its default)
    returns None, which is what torch's ``allow_unused=True`` returns; ``ZERO`` is torch's
    ``materialize_grads=True``. So both ``allow_unused`` settings map to ``NONE``: the
    refusing setting has no TF counterpart, and TF's default is the allowing one.
    """
    u = spec.input or ""
    names = tuple(dict.fromkeys((*wrt, u)))
    tape, t, y = ad.taped(prog, env, names)
    idiom = (f"tape.gradient(y, [{', '.join(names)}], "
             "unconnected_gradients=tf.UnconnectedGradients.NONE)")
    out: list[Any] = []
    err = _attempt(ad, lambda: out.extend(_gradient(tape, y, [t[n] for n in names],
                                                    v.cotangent, unconnected_gradients=NONE)))
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    values = {u: _grads(names, out)[u]}
    return ProbeResult(_outcome(values), values, idiom=idiom)


def integer_input(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
                  wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """``tape.watch(k)`` on an integer tensor, then ``tape.gradient(k * k, k)``.

    TF logs "The dtype of the watched tensor must be floating" (re-issued as a warning by
    the adapter; TF logs it for the first 5 such calls of a process only) and returns None.
    """
    name = spec.input or ""
    k = tf.constant(env[name])
    idiom = f"tape.watch({name}) on {env[name].dtype}; tape.gradient({name} * {name}, {name})"
    out: list[Any] = []

    def run() -> None:
        with tf.GradientTape() as tape:
            tape.watch(k)
            y = k * k
        out.append(tape.gradient(y, k))
    err = _attempt(ad, run)
    if err:
        return ProbeResult("error", error=err, idiom=idiom)
    values = _grads([name], out)
    return ProbeResult(_outcome(values), values, idiom=idiom)


def grad_before_pass(ad: TensorflowAdapter, spec: ProbeSpec, prog: Program, env: Env,
                     wrt: tuple[str, ...], v: ProbeInputs) -> ProbeResult:
    """No counterpart: TF tensors and variables carry no stored gradient to read."""
    return ProbeResult("not_applicable",
                       idiom="TF stores no gradient on a tensor or tf.Variable (no .grad); "
                             "gradients exist only as tape.gradient's return value")


PROBES: dict[str, Callable[..., ProbeResult]] = {
    f.__name__: f for f in (nonscalar_no_cotangent, untracked_inputs, second_pass, accumulate,
                            combined_before_tracking, nonleaf_grad, unused_input, integer_input,
                            grad_before_pass)
}
