"""The op vocabulary: one table from op name to arity, shape rule, NumPy reference, notes.

Every op the expression language accepts is registered once, one row each, in the module
of its family: :mod:`~gradconf.ops.elementwise`, :mod:`~gradconf.ops.piecewise`,
:mod:`~gradconf.ops.complex`, :mod:`~gradconf.ops.reductions`,
:mod:`~gradconf.ops.linalg`, :mod:`~gradconf.ops.shape` and :mod:`~gradconf.ops.nn`.
The NumPy/SciPy reference is float64 and is what the oracle differentiates; each adapter
lowers the same names to its framework (see ``adapters/``), implementing exactly the
neutral meaning written in the row's notes. Shape rules (:mod:`~gradconf.ops.rules`)
raise :class:`ShapeError` with a sentence a case author can act on.

A row also names the op's *special points* (kinks, poles, domain edges, ties,
degeneracies) as data, and example expressions over :data:`EXAMPLE_ENV` that the
adapter tests evaluate on every framework against the reference.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradconf.ops.rules import Shape, ShapeError, format_index

__all__ = ["ALIASES", "EXAMPLE_ENV", "FAMILIES", "NUMPY_LOWERING", "OPS", "SPECIAL_KINDS",
           "OpSpec", "Shape", "ShapeError", "Special", "format_index", "lookup", "register"]

FAMILIES = ("elementwise", "piecewise", "complex", "reductions", "linalg", "shape", "nn")

# what can make a point special for an op's derivative
SPECIAL_KINDS = {
    "kink": "one-sided derivatives exist and differ: any value between is a subgradient",
    "pole": "the function or its derivative is unbounded there",
    "domain_edge": "the edge of the op's domain: no two-sided derivative",
    "discontinuity": "the function jumps: no derivative",
    "tie": "two or more entries are equal and the op picks one (max, sort, median)",
    "degenerate": "a matrix or statistic is singular, repeated or constant there",
    "flat": "piecewise constant: derivative zero almost everywhere",
    "overflow": "float ranges run out near there",
}


@dataclass(frozen=True)
class Special:
    """A point where an op's derivative needs care: its kind (:data:`SPECIAL_KINDS`), where
    it lies in words, and for elementwise ops the argument values (``at``) if they are
    fixed numbers."""

    kind: str
    where: str
    at: tuple[float, ...] = ()


@dataclass(frozen=True)
class OpSpec:
    """One row of the op table.

    ``arity`` is the number of array operands, or ``None`` for ops taking a list
    (``concat``). ``attrs`` maps each accepted keyword to its default. ``smooth`` is False
    for ops with kinks or unbounded derivatives somewhere (the oracle's concern);
    ``differentiable`` is False for ops whose output is not a function to differentiate
    (comparisons); ``out_dtype`` fixes the output dtype (``bool``, ``int64``) where it
    does not follow promotion of the float operands; ``special`` lists the points that
    need care; ``examples`` are expressions over :data:`EXAMPLE_ENV` every adapter must
    evaluate as the reference does. ``batch`` says how the reference evaluates a stack of
    points along a new leading axis in one call (:mod:`gradconf.batch`): ``leading`` (it
    takes extra leading axes on its operands and broadcasts them: elementwise ops, and
    ops written for stacks), ``axis`` (its ``axis`` is shifted past the stack), or ``""``
    (called once per point).
    """

    name: str
    arity: int | None
    shape: Callable[..., Shape]
    ref: Callable[..., Any]
    notes: str
    family: str
    attrs: Mapping[str, Any] = field(default_factory=dict)
    smooth: bool = True
    special: tuple[Special, ...] = ()
    examples: tuple[str, ...] = ()
    differentiable: bool = True
    out_dtype: str | None = None
    batch: str = ""


OPS: dict[str, OpSpec] = {}
ALIASES: dict[str, str] = {"cat": "concat", "concatenate": "concat", "negative": "neg"}

_FAMILY = ["elementwise"]
BATCH_MODES = ("leading", "axis", "")
# every op of these families applies entry by entry and broadcasts
_ELEMENTWISE_FAMILIES = ("elementwise", "piecewise", "complex")


def register(name: str, arity: int | None, rule: Callable[..., Shape], ref: Callable[..., Any],
             notes: str, smooth: bool = True, *, special: tuple[Special, ...] = (),
             examples: tuple[str, ...] = (), differentiable: bool = True,
             out_dtype: str | None = None, batch: str | None = None, **attrs: Any) -> None:
    """Add one op to the table; a name may be registered once. ``batch`` defaults to
    ``leading`` in the elementwise families and to ``""`` elsewhere."""
    if name in OPS:
        raise KeyError(f"op {name!r} registered twice")
    if batch is None:
        batch = "leading" if _FAMILY[0] in _ELEMENTWISE_FAMILIES else ""
    if batch not in BATCH_MODES:
        raise ValueError(f"op {name!r}: unknown batch mode {batch!r}")
    for s in special:
        if s.kind not in SPECIAL_KINDS:
            raise ValueError(f"op {name!r}: unknown special kind {s.kind!r}")
    OPS[name] = OpSpec(name, arity, rule, ref, notes, _FAMILY[0], dict(attrs), smooth,
                       tuple(special), tuple(examples), differentiable, out_dtype, batch)


def lookup(name: str) -> OpSpec | None:
    """Return the spec for ``name`` or one of its aliases, or None."""
    return OPS.get(ALIASES.get(name, name))


def _rng_array(shape: tuple[int, ...], seed: int, low: float, high: float) -> np.ndarray:
    return np.random.default_rng(seed).uniform(low, high, shape)


def _spd(n: int, seed: int) -> np.ndarray:
    m = _rng_array((n, n), seed, -1.0, 1.0)
    return m @ m.T + n * np.eye(n)


# The arrays example expressions read (shapes and ranges chosen so every op has a valid,
# generic point): a/b/v/t any sign, p positive, u inside (-1, 1), s symmetric positive
# definite, m a general nonsingular square matrix, w a batch of 2x2 matrices, x an image
# batch (N, C, H, W), k integer indices into an axis of length 3, q a float vector of
# distinct values in (0, 1).
EXAMPLE_ENV: dict[str, np.ndarray] = {
    "a": np.array([[1.5, -2.0, 0.5], [3.0, 0.25, -1.0]]),
    "b": np.array([[0.5, 1.0], [-1.5, 2.0], [1.0, 0.75]]),
    "v": np.array([0.3, -1.2, 2.0]),
    "p": np.array([[2.0, 2.5, 1.0], [3.5, 0.75, 1.5]]),
    "t": np.arange(12.0).reshape(2, 2, 3) / 4 - 1.1,
    "u": np.array([[0.2, -0.7, 0.45], [-0.1, 0.9, -0.35]]),
    "s": _spd(3, 1),
    "m": _rng_array((3, 3), 2, -1.0, 1.0) + 2 * np.eye(3),
    "w": _rng_array((2, 2, 2), 3, -1.0, 1.0) + np.eye(2),
    "x": _rng_array((2, 2, 5, 5), 4, -1.0, 1.0),
    "k": np.array([2, 0, 1], dtype=np.int64),
    "q": np.array([0.15, 0.8, 0.45]),
}


# the families register in this order; each module sets _FAMILY while it registers
def _load() -> None:
    import importlib
    for fam in FAMILIES:
        _FAMILY[0] = fam
        importlib.import_module(f"gradconf.ops.{fam}")


_load()

NUMPY_LOWERING: dict[str, Callable[..., Any]] = {name: spec.ref for name, spec in OPS.items()}
