"""Evaluating a program at a stack of points in one pass: the oracle's batched stencils.

Exact mode needs the function at thousands of nearby points (a Jacobian's columns, a
Hessian's pairs, each at several steps), and on the small inputs of most cases each
evaluation is mostly the interpreter's fixed cost per op. :func:`evaluate_stack` runs the
program once over a stack of points along a new leading axis instead. Each value carries
whether it has that axis; an op whose operands have none runs as usual, and one whose
operands have it runs by its row's ``batch`` mode (:class:`gradconf.ops.OpSpec`):

- ``leading``: the reference broadcasts extra leading axes (elementwise ops, and ops
  written for stacks: conv, pooling, attention...); the stacked operands get singleton
  axes after the stack axis up to the largest operand rank, so broadcasting against the
  unstacked operands is what it is at one point;
- ``axis``: a reduction's ``axis`` moves past the stack axis (``None``, all entries,
  becomes every axis but the stack's);
- ``""``: the reference is called once per point and the results stacked, so every op is
  correct here and the modes above are only a saving.

The values equal one evaluation per point up to the rounding of the kernels NumPy picks
for a longer array (SIMD lanes, pairwise summation over a different length), well inside
the oracle's rounding-noise term.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from gradconf.expr import Program
from gradconf.ops import OPS, Shape


def evaluate_stack(program: Program, env: Mapping[str, Any], stacked: frozenset[str],
                   shapes: tuple[Shape, ...], lowering: Mapping[str, Callable[..., Any]],
                   size: int, held: Mapping[int, Any] | None = None) -> Any:
    """The program's output for each of ``size`` points, stacked along axis 0.

    ``env`` holds the sources; those named in ``stacked`` have the leading axis of length
    ``size``, the others are the same at every point. ``shapes`` are the nodes' shapes at
    one point (:func:`gradconf.expr.infer_shapes`); ``held`` maps node indices to values
    that replace theirs at every point (the oracle's ``stop_gradient`` values).
    """
    values: list[Any] = []
    has_axis: list[bool] = []
    held = held or {}
    for i, node in enumerate(program.nodes):
        if i in held:
            value, axis = held[i], False
        elif node.op == "input":
            value, axis = env[node.name or ""], node.name in stacked
        elif node.op == "scalar":
            value, axis = node.value, False
        else:
            args = [values[a] for a in node.args]
            flags = [has_axis[a] for a in node.args]
            fn = lowering[node.op]
            if not any(flags):
                value, axis = fn(*args, **node.attrs), False
            else:
                value = _stacked_call(node.op, fn, args, flags,
                                      [shapes[a] for a in node.args], shapes[i],
                                      node.attrs, size)
                axis = True
        values.append(value)
        has_axis.append(axis)
    out = values[program.output]
    if not has_axis[program.output]:
        out = np.broadcast_to(out, (size, *np.shape(out)))
    return out


def _stacked_call(op: str, fn: Callable[..., Any], args: list[Any], flags: list[bool],
                  arg_shapes: list[Shape], out_shape: Shape, attrs: Mapping[str, Any],
                  size: int) -> Any:
    spec = OPS[op]
    mode, want = spec.batch, (size, *out_shape)
    try:
        if mode == "leading":
            rank = max(len(s) for s in arg_shapes)
            lifted = [np.reshape(a, (size, *(1,) * (rank - len(s)), *s)) if f else a
                      for a, f, s in zip(args, flags, arg_shapes, strict=True)]
            out = np.asarray(fn(*lifted, **attrs))
            if out.shape == want:
                return out
        elif mode == "axis" and len(args) == 1:
            axis = {**spec.attrs, **attrs}.get("axis")
            moved = (tuple(range(1, len(arg_shapes[0]) + 1)) if axis is None
                     else _past_stack(axis))
            out = np.asarray(fn(args[0], **{**attrs, "axis": moved}))
            if out.shape == want:
                return out
    except (TypeError, ValueError):  # a reference that cannot take the stack: per point
        pass
    # once per point (and the fallback should a mode's result come out in another shape)
    return np.stack([np.asarray(fn(*(a[k] if f else a for a, f in zip(args, flags,
                                                                         strict=True)),
                                   **attrs)) for k in range(size)])


def _past_stack(axis: Any) -> Any:
    """An axis (or tuple of axes) of one point's array, as an axis of the stacked array."""
    if isinstance(axis, tuple | list):
        return tuple(_past_stack(a) for a in axis)
    return axis + 1 if axis >= 0 else axis
