"""The finite-difference oracle: what calculus says, from the NumPy reference alone.

Every derivative the checks need is a mixed directional derivative of the case's
function at its point (see :mod:`gradconf.richardson`): a gradient entry has one
direction, a Hessian entry two, an order-n derivative n. Each estimate carries an error
estimate per entry.

Where the function uses an op that is not smooth everywhere (``abs``, ``relu``,
``maximum``, ``norm``, ``sqrt``, a non-integer power, …), first derivatives are also
taken from each side. Each Jacobian entry is then classified: *smooth* (the sides agree),
a *kink* (both sides exist and differ: any value between them is a valid subgradient,
``lo``..``hi``), a *discontinuity* (the function jumps), or *undefined* (the point is
outside the domain, or a side diverges). Derivatives of order two and more do not exist
at a kink and are undefined there.

This module imports NumPy and the engine's op table; never a framework.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradconf.arrays import pairs
from gradconf.batch import evaluate_stack
from gradconf.case import Case
from gradconf.expr import Program, evaluate
from gradconf.ops import NUMPY_LOWERING, OPS
from gradconf.richardson import (  # noqa: F401 - BASE_STEP and richardson: part of the API
    BASE_STEP,
    Steps,
    directional,
    directional_steps,
    drive_each,
    drive_many,
    offset,
    one_sided,
    one_sided_steps,
    richardson,
)

STACK_ENTRIES = 1 << 16  # entries of an intermediate over a stack of points, about
STACK_POINTS = 1 << 22   # entries of the points one lockstep round stacks, at most about
JVP_FROM_JACOBIAN = 64  # up to this many input entries a jvp contracts the Jacobian
SIDE_CONVERGED = 1e-6   # relative error a one-sided estimate needs to count
CONVERGED_ABS = 1e-9    # ... or this absolute one, times 1 + |f|
KINK_RTOL = 1e-8        # sides differing by more than this (and their errors) make a kink

SMOOTH, KINK, DISCONTINUITY, OVERFLOW, UNDEFINED = 0, 1, 2, 3, 4
# a Jacobian column: value, error, class per entry, subgradient bounds lo and hi
Column = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
CLASS_NAMES = ("smooth", "kink", "discontinuity", "overflow", "undefined")


@dataclass(frozen=True)
class Estimate:
    """An oracle result: value, per-entry error estimate, how the point looked, and at a
    kink the interval ``lo``..``hi`` of valid subgradients (None where all is smooth)."""

    value: np.ndarray
    err: np.ndarray
    classification: str = "smooth"    # smooth | kink | discontinuity | undefined
    evaluations: int = 0
    lo: np.ndarray | None = None
    hi: np.ndarray | None = None

    @property
    def max_err(self) -> float:
        """The largest per-entry error estimate (0 for an empty array)."""
        finite = self.err[np.isfinite(self.err)]
        return float(finite.max()) if finite.size else 0.0


def nonsmooth(program: Program) -> bool:
    """Whether the program uses an op with a kink, a pole or a domain edge somewhere.

    A power with a non-negative integer literal exponent (``x**2``) is smooth everywhere.
    """
    for node in program.nodes:
        if node.op in ("input", "scalar") or OPS[node.op].smooth:
            continue
        exponent = program.nodes[node.args[1]] if node.op == "pow" else None
        if exponent is not None and exponent.op == "scalar" and isinstance(
                exponent.value, int) and exponent.value >= 0:
            continue
        return True
    return False


@dataclass
class Oracle:
    """Derivatives of one case's function at one run dtype's point, w.r.t. ``wrt``."""

    case: Case
    dtype: str
    wrt: tuple[str, ...]
    shift: Mapping[str, np.ndarray] | None = None   # relative perturbation of the point
    point: dict[str, np.ndarray] = field(init=False)
    evaluations: int = field(init=False, default=0)
    _jac: Estimate | None = field(init=False, default=None)
    _center: np.ndarray | None = field(init=False, default=None)
    _overflow: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.point = self.case.point(self.dtype)
        for name, rel in (self.shift or {}).items():
            self.point[name] = self.point[name] * (1.0 + rel)
        # a complex input is differentiated as its real and imaginary parts: its entries
        # are real pairs (a trailing axis of 2) everywhere below
        self._complex = {n for n in self.wrt if np.iscomplexobj(self.point[n])}
        shapes = [self.case.shapes[n] + ((2,) if n in self._complex else ()) for n in self.wrt]
        offsets = np.cumsum([0, *(math.prod(s) for s in shapes)])
        self._slices = {n: (slice(int(offsets[i]), int(offsets[i + 1])), shapes[i])
                        for i, n in enumerate(self.wrt)}
        self.x0 = np.concatenate([pairs(self.point[n]).reshape(-1) for n in self.wrt]) \
            if self.wrt else np.zeros(0)
        self.nonsmooth = nonsmooth(self.case.program)
        self._held = self._held_values()

    def _held_values(self) -> dict[int, np.ndarray]:
        """``stop_gradient`` nodes' values at the point: every perturbed evaluation reuses
        them, so nothing upstream of one moves the output (its derivative is zero)."""
        held = [i for i, n in enumerate(self.case.program.nodes) if n.op == "stop_gradient"]
        if not held:
            return {}
        seen: dict[int, np.ndarray] = {}

        def keep(i: int, node: Any, value: Any) -> Any:
            if i in held:
                seen[i] = value
            return value
        with np.errstate(all="ignore"):
            evaluate(self.case.program, self.point, NUMPY_LOWERING, keep)
        return seen

    def _hold(self, i: int, node: Any, value: Any) -> Any:
        return self._held.get(i, value)

    # ------------------------------------------------------------ the function

    def f(self, x: np.ndarray) -> np.ndarray:
        """The case's function of the flattened ``wrt`` inputs (float64)."""
        self.evaluations += 1
        env = dict(self.point)
        for n, (sl, shape) in self._slices.items():
            part = x[sl].reshape(shape)
            env[n] = part[..., 0] + 1j * part[..., 1] if n in self._complex else part
        with np.errstate(all="ignore"):
            out, _ = evaluate(self.case.program, env, NUMPY_LOWERING,
                              self._hold if self._held else None)
        return np.asarray(pairs(out), dtype=np.float64)

    def f_stack(self, xs: np.ndarray) -> np.ndarray:
        """``f`` at each row of ``xs`` (points of the flattened inputs), stacked: one pass
        of the program per chunk of rows (:mod:`gradconf.batch`), the chunk sized so an
        intermediate stays near ``STACK_ENTRIES`` entries."""
        rows = xs.shape[0]
        self.evaluations += rows
        widest = max((math.prod(s) for s in self.case.node_shapes), default=1)
        chunk = max(1, STACK_ENTRIES // max(widest, 1))
        parts = [self._stack(xs[k:k + chunk]) for k in range(0, rows, chunk)]
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _stack(self, xs: np.ndarray) -> np.ndarray:
        size = xs.shape[0]
        env, stacked = dict(self.point), set()
        for n, (sl, shape) in self._slices.items():
            part = xs[:, sl]
            lead: tuple[int, ...] = (size,)
            if np.array_equal(part, np.broadcast_to(part[:1], part.shape)):
                part, lead = part[0], ()  # the same at every point: no stack axis
            else:
                stacked.add(n)
            part = part.reshape(lead + shape)
            env[n] = part[..., 0] + 1j * part[..., 1] if n in self._complex else part
        with np.errstate(all="ignore"):
            out = evaluate_stack(self.case.program, env, frozenset(stacked),
                                 self.case.node_shapes, NUMPY_LOWERING, size, self._held)
        return np.asarray(pairs(out), dtype=np.float64)

    def split(self, flat: np.ndarray, lead: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
        """Cut the last axis of ``flat`` back into arrays shaped like each input."""
        return {n: flat[..., sl].reshape(lead + shape) for n, (sl, shape) in self._slices.items()}

    def flat(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Concatenate per-input arrays (e.g. tangents) into one flat vector."""
        return np.concatenate([np.asarray(pairs(arrays[n]), dtype=np.float64).reshape(-1)
                               for n in self.wrt])

    def where(self, flat_index: int) -> tuple[str, list[int]]:
        """The input and index of a position in the flattened inputs."""
        for name, (sl, shape) in self._slices.items():
            if sl.start <= flat_index < sl.stop:
                local = np.unravel_index(flat_index - sl.start, shape) if shape else ()
                return name, [int(k) for k in local]
        raise IndexError(flat_index)

    def center(self) -> np.ndarray:
        """``f`` at the point, evaluated once."""
        if self._center is None:
            self._center = self.f(self.x0)
        return self._center

    def overflows(self) -> np.ndarray:
        """Per output entry: the value is not finite in float64 but finite when the same
        program runs in NumPy's extended precision (``longdouble``, 64-bit mantissa and a
        15-bit exponent on x86): a float64 overflow of a finite quantity, as exp(1000),
        rather than a pole, a domain edge or an identically infinite value (1/x or log x at
        0, log of a zero constant). Where ``longdouble`` is float64, or an op cannot run in
        it, nothing counts as an overflow."""
        if self._overflow is None:
            bad = ~np.isfinite(self.center())
            if bad.any():
                env = {n: (v.astype(np.clongdouble) if np.iscomplexobj(v)
                           else v.astype(np.longdouble) if v.dtype.kind == "f" else v)
                       for n, v in self.point.items()}
                try:
                    with np.errstate(all="ignore"):
                        out, _ = evaluate(self.case.program, env, NUMPY_LOWERING)
                    wide = np.asarray(pairs(np.asarray(out)))
                    bad &= np.isfinite(wide) & (np.abs(wide) > np.finfo(np.float64).max)
                except Exception:  # an op with no extended-precision kernel
                    bad[...] = False
            self._overflow = bad
        return self._overflow

    def _at_center(self, kind: np.ndarray, value: np.ndarray,
                   err: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Entries whose output is not finite at the point have no derivative there: an
        overflow, or undefined (a pole, a domain edge); their value and error are NaN."""
        off = ~np.isfinite(self.center())
        if not off.any():
            return kind, value, err
        kind = np.where(off, np.where(self.overflows(), OVERFLOW, UNDEFINED), kind)
        return kind, np.where(off, np.nan, value), np.where(off, np.nan, err)

    # ------------------------------------------------------------ what checks need

    def value(self) -> dict[str, Estimate]:
        """The forward value (``out``) and named intermediates, exact up to rounding."""
        with np.errstate(all="ignore"):
            out, named = evaluate(self.case.program, self.point, NUMPY_LOWERING)
        arrays = {n: np.asarray(pairs(a), np.float64) for n, a in {"out": out, **named}.items()}
        found = {n: Estimate(a, np.zeros(np.shape(a)), _classify(a), 1)
                 for n, a in arrays.items()}
        if found["out"].classification != "smooth" and np.any(self.overflows()):
            est = found["out"]
            found["out"] = Estimate(est.value, est.err, "overflow", 1)
        return found

    def jacobian(self) -> Estimate:
        """The full Jacobian, shape ``out_shape + (n_wrt_entries,)``, classified; computed
        once, its columns' stencils evaluated together (:func:`drive_many`)."""
        if self._jac is None:
            cols = self._columns()
            if not cols:
                empty = np.zeros((*self.case.out_shape, 0))
                self._jac = Estimate(empty, empty)
            else:
                stack = [np.stack(p, -1) for p in zip(*cols, strict=True)]
                value, err, kind, lo, hi = stack
                self._jac = _estimate(value, err, kind, lo, hi, self.evaluations)
        return self._jac

    def _columns(self) -> list[Column]:
        """Per Jacobian column: value, error, class per entry, subgradient bounds."""
        n, center = self.x0.size, self.center()

        def along(make: Callable[[np.ndarray], Steps]) -> list[Any]:
            return drive_many((make(_unit(n, i)) for i in range(n)), self.f_stack,
                              self._width(1))
        nan = np.full(np.shape(center), np.nan)  # no level of a stencil in the domain
        central = [(nan, nan) if v is None else (v, e)
                   for v, e in along(lambda d: directional_steps(self.x0, [d], center))]
        if not self.nonsmooth:
            cols: list[Column] = []
            for value, err in central:
                kind, value, err = self._at_center(
                    np.where(np.isfinite(value), SMOOTH, UNDEFINED), value, err)
                cols.append((value, err, kind, value, value))
            return cols
        right = along(lambda d: one_sided_steps(self.x0, d, center, +1.0))
        left = along(lambda d: one_sided_steps(self.x0, d, center, -1.0))
        # f just either side of the point along each axis: a jump shows there
        near = along(lambda d: _evaluated([offset(self.x0, 1e-9 * d),
                                           offset(self.x0, -1e-9 * d)]))
        cols = []
        for i, (value, err) in enumerate(central):
            with np.errstate(all="ignore"):  # inf - inf near float64's range: no jump measured
                jump = np.abs(near[i][0] - near[i][1])
            value, err, kind, lo, hi = classify(value, err, right[i], left[i], center, jump)
            kind, value, err = self._at_center(kind, value, err)
            cols.append((value, err, kind, np.where(kind >= DISCONTINUITY, value, lo),
                         np.where(kind >= DISCONTINUITY, value, hi)))
        return cols

    def vjp(self, cotangent: np.ndarray) -> dict[str, Estimate]:
        """``∇ <v, f>`` per input, from the Jacobian (intervals by interval arithmetic)."""
        jac = self.jacobian()
        axes = tuple(range(cotangent.ndim))

        def contract(a: np.ndarray) -> np.ndarray:
            return np.tensordot(cotangent, a, axes=(axes, axes))
        return self._cut(jac, contract, lambda a: np.tensordot(np.abs(cotangent), a,
                                                               axes=(axes, axes)))

    def jvp(self, tangents: Mapping[str, np.ndarray]) -> Estimate:
        """``J u`` for per-input tangents."""
        u = self.flat(tangents)
        if not np.any(u):
            zero = np.zeros(self.case.out_shape)
            return Estimate(zero, zero, "smooth")
        if self._jac is not None or self.x0.size <= JVP_FROM_JACOBIAN or self.nonsmooth:
            jac = self.jacobian()
            value, err = jac.value @ u, jac.err @ np.abs(u)
            lo, hi = _interval(jac, lambda a: a @ u)
            return Estimate(value, err, jac.classification, lo=lo, hi=hi)
        value, err = directional(self.f, self.x0, [u], self.center())
        if value is None:
            nan = np.full(self.case.out_shape, np.nan)
            return Estimate(nan, nan, "undefined")
        return Estimate(value, err, _classify(value))

    def jacobian_by_input(self) -> dict[str, Estimate]:
        """The Jacobian cut per input: each of shape ``out_shape + input_shape``."""
        out = self.case.out_shape
        parts = self._cut(self.jacobian(), lambda a: a, lambda a: a, lead=out)
        return parts

    def _cut(self, jac: Estimate, contract: Callable[[np.ndarray], np.ndarray],
             contract_abs: Callable[[np.ndarray], np.ndarray],
             lead: tuple[int, ...] = ()) -> dict[str, Estimate]:
        value, err = self.split(contract(jac.value), lead), self.split(contract_abs(jac.err), lead)
        lo, hi = _interval(jac, contract)
        los = self.split(lo, lead) if lo is not None else None
        his = self.split(hi, lead) if hi is not None else None
        return {n: Estimate(value[n], err[n], jac.classification,
                            lo=None if los is None else los[n],
                            hi=None if his is None else his[n]) for n in self.wrt}

    def hessian(self, cotangent: np.ndarray) -> dict[str, Estimate]:
        """Hessian of ``<v, f>``: keys ``"a,b"``, each of shape ``shape(a) + shape(b)``."""
        n = self.x0.size
        val, err = np.zeros((n, n)), np.zeros((n, n))
        if self._first_order_breaks():
            val[:], err[:] = np.nan, np.nan
        else:
            s = self._contracted(cotangent)
            center = np.sum(cotangent * self.center())
            pairs_ = np.triu_indices(n)
            steps = (directional_steps(self.x0, [_unit(n, int(i)), _unit(n, int(j))], center)
                     for i, j in zip(*pairs_, strict=True))
            for k, (v, e) in drive_each(steps, s, self._width(2)):
                i, j = int(pairs_[0][k]), int(pairs_[1][k])
                val[i, j] = val[j, i] = np.nan if v is None else float(v)
                err[i, j] = err[j, i] = np.nan if v is None else float(e)
        broken = self._first_order_class()
        return {f"{a},{b}": Estimate(val[sa, sb].reshape(shape_a + shape_b),
                                     err[sa, sb].reshape(shape_a + shape_b),
                                     broken or _classify(val))
                for a, (sa, shape_a) in self._slices.items()
                for b, (sb, shape_b) in self._slices.items()}

    def derivative(self, cotangents: list[np.ndarray]) -> Estimate:
        """Order-n derivative ``∇ₓ<vₙ, … ∇ₓ<v₂, ∇ₓ<v₁, f>>>`` for a single ``wrt`` input."""
        shape = self._slices[self.wrt[0]][1]
        if len(cotangents) > 1 and self._first_order_breaks():
            nan = np.full(shape, np.nan)
            return Estimate(nan, nan, self._first_order_class() or "undefined")
        v1, rest = cotangents[0], [self.flat({self.wrt[0]: v}) for v in cotangents[1:]]
        s = self._contracted(v1)
        n, center = self.x0.size, np.sum(v1 * self.center())
        pairs = drive_many((directional_steps(self.x0, [_unit(n, i), *rest], center)
                            for i in range(n)), s, self._width(len(cotangents)))
        value = np.array([np.nan if v is None else float(v) for v, _ in pairs]).reshape(shape)
        err = np.array([np.nan if v is None else float(e) for v, e in pairs]).reshape(shape)
        return Estimate(value, err, _classify(value), self.evaluations)

    def _width(self, order: int) -> int:
        """How many stencils of ``order`` run in lockstep: their points stay near
        ``STACK_POINTS`` entries."""
        return max(1, STACK_POINTS // (max(self.x0.size, 1) * 2 ** order))

    def _contracted(self, weights: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        """``x ↦ Σ weights · f(x)`` for each row of a stack of points."""
        def s(xs: np.ndarray) -> np.ndarray:
            terms = weights * self.f_stack(xs)
            return np.sum(terms, axis=tuple(range(1, terms.ndim)))
        return s

    def _first_order_breaks(self) -> bool:
        """A kink, jump, pole or domain edge at the point: no derivative of order two
        exists (a function that is not finite at the point has none of any order)."""
        if not np.all(np.isfinite(self.center())):
            return True
        return self.nonsmooth and self.jacobian().classification != "smooth"

    def _first_order_class(self) -> str | None:
        """"overflow" when the function overflows at the point (its higher derivatives with
        it), "undefined" when first order breaks otherwise, else None."""
        if np.any(self.overflows()):
            return "overflow"
        return "undefined" if self._first_order_breaks() else None


def classify(value: np.ndarray, err: np.ndarray,
             right: tuple[np.ndarray | None, np.ndarray],
             left: tuple[np.ndarray | None, np.ndarray], center: np.ndarray,
             jump: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per entry, from the central estimate and the two one-sided ones: the value, its
    error, the class, and the subgradient interval (equal to the value unless a kink)."""
    shape = np.shape(value)
    r, er = _side(right, shape)
    ll, el = _side(left, shape)
    scale = float(np.max(np.abs(np.nan_to_num(np.stack([value, r, ll]))), initial=0.0))
    # an absolute floor for a flat stretch, where the derivative (and its scale) is 0
    floor = CONVERGED_ABS * (1.0 + np.abs(np.nan_to_num(center)))
    with np.errstate(all="ignore"):
        r_ok = np.isfinite(r) & (er <= SIDE_CONVERGED * (np.abs(r) + scale) + floor)
        l_ok = np.isfinite(ll) & (el <= SIDE_CONVERGED * (np.abs(ll) + scale) + floor)
        central_ok = np.isfinite(value) & (
            err <= SIDE_CONVERGED * (np.abs(value) + scale) + floor)
        differ = np.abs(r - ll) > 8.0 * (er + el) + KINK_RTOL * (np.abs(r) + np.abs(ll) + scale)
        # one-sided slopes near float64's range may be ±inf: the classes say so, silently
        kink = r_ok & l_ok & differ
        jumps = ~central_ok & ~(r_ok & l_ok) & (jump > 1e-6 * (np.abs(center) + 1.0))
        kind = np.select([~np.isfinite(center), kink, jumps, ~central_ok & ~(r_ok & l_ok)],
                         [UNDEFINED, KINK, DISCONTINUITY, UNDEFINED], SMOOTH)
        value = np.where(kink, (r + ll) / 2.0, np.where(kind >= DISCONTINUITY, np.nan, value))
        err = np.where(kink, er + el, err)
    lo = np.where(kink, np.minimum(r, ll), value)
    hi = np.where(kink, np.maximum(r, ll), value)
    return value, err, kind, lo, hi


def kink_mask(est: Estimate) -> np.ndarray:
    """Entries of ``est`` at a kink (a finite interval of more than one value)."""
    if est.lo is None or est.hi is None:
        return np.zeros(np.shape(est.value), dtype=bool)
    return np.isfinite(est.lo) & np.isfinite(est.hi) & (est.lo != est.hi)


def _side(side: tuple[np.ndarray | None, np.ndarray],
          shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """A one-sided estimate, or NaN with infinite error where that side has none."""
    value, err = side
    if value is None:
        return np.full(shape, np.nan), np.full(shape, np.inf)
    return value, err


def _estimate(value: np.ndarray, err: np.ndarray, kind: np.ndarray, lo: np.ndarray,
              hi: np.ndarray, evaluations: int) -> Estimate:
    worst = int(kind.max(initial=SMOOTH))
    kinked = worst == KINK or bool(np.any(kind == KINK))
    return Estimate(value, err, CLASS_NAMES[worst], evaluations,
                    lo if kinked else None, hi if kinked else None)


def _interval(jac: Estimate, contract: Callable[[np.ndarray], np.ndarray]
              ) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Bounds of a linear map of the Jacobian over its kink intervals (interval
    arithmetic: the centre plus or minus the map of the half-widths, in absolute value)."""
    if jac.lo is None or jac.hi is None:
        return None, None
    mid, half = contract((jac.lo + jac.hi) / 2.0), (jac.hi - jac.lo) / 2.0
    spread = contract_abs_of(contract, half)
    return mid - spread, mid + spread


def contract_abs_of(contract: Callable[[np.ndarray], np.ndarray], half: np.ndarray) -> np.ndarray:
    """|M| applied to ``half`` for the linear map M that ``contract`` is: column by column,
    since M is linear, via its action on each unit array."""
    flat = half.reshape(-1)
    total = None
    for k in np.flatnonzero(flat):
        e = np.zeros_like(flat)
        e[k] = flat[k]
        part = np.abs(contract(e.reshape(half.shape)))
        total = part if total is None else total + part
    return total if total is not None else np.zeros_like(contract(half))


def _evaluated(points: list[np.ndarray]) -> Steps[list[np.ndarray]]:
    """Steps that only evaluate ``points``: their values are the result."""
    values = yield [functools.partial(np.asarray, p) for p in points]
    return values


def _unit(n: int, i: int) -> np.ndarray:
    e = np.zeros(n)
    e[i] = 1.0
    return e


def _classify(arr: np.ndarray) -> str:
    return "smooth" if np.all(np.isfinite(arr)) else "undefined"


_CACHE: dict[tuple[int, str, tuple[str, ...]], tuple[Case, Oracle]] = {}


def oracle_for(case: Case, dtype: str, wrt: tuple[str, ...]) -> Oracle:
    """The oracle for (case, dtype, wrt), built once per process and reused by every check.

    Keyed by the loaded case itself, not its file and id: a case file loaded again (edited,
    or generated anew under the same id) never meets another case's oracle. The entry keeps
    the case alive, so its identity is not reused.
    """
    key = (id(case), dtype, tuple(wrt))
    if key not in _CACHE:
        _CACHE[key] = (case, Oracle(case, dtype, tuple(wrt)))
    return _CACHE[key][1]
