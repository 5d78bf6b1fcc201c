"""The finite-difference oracle: what calculus says, from the NumPy reference alone.

Every derivative the checks need is a *mixed directional derivative*
``∂ⁿ f / ∂d₁ … ∂dₙ`` at the case's point: a gradient entry has one direction (a unit
vector), a Hessian entry two, an order-n derivative n. It is estimated by the product of
central-difference operators (``2ⁿ`` evaluations per step), whose error expands in even
powers of the step; Richardson extrapolation over a halving sequence of steps removes
those terms, and the spread of the extrapolation table gives an error estimate per
entry. Steps start from the input's scale and shrink away from a domain edge (a step
that turns a finite value non-finite is discarded).

This module imports NumPy and the engine's op table; never a framework.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradconf.case import Case
from gradconf.expr import evaluate
from gradconf.ops import NUMPY_LOWERING

EPS = float(np.finfo(np.float64).eps)
BASE_STEP = 0.125   # first step, relative to max(1, |x|) on the directions' support
WINDOW = 4          # levels per Richardson extrapolation (removes h², h⁴, h⁶)
MAX_LEVELS = 24     # step halvings at most
SETTLED = 1e-12     # two windows in a row converged to this (relative) end the halving
JVP_FROM_JACOBIAN = 64  # up to this many input entries a jvp contracts the Jacobian


@dataclass(frozen=True)
class Estimate:
    """An oracle result: value, per-entry error estimate, and how the point looked."""

    value: np.ndarray
    err: np.ndarray
    classification: str = "smooth"          # smooth | undefined
    evaluations: int = 0

    @property
    def max_err(self) -> float:
        """The largest per-entry error estimate (0 for an empty array)."""
        finite = self.err[np.isfinite(self.err)]
        return float(finite.max()) if finite.size else 0.0


@dataclass
class Oracle:
    """Derivatives of one case's function at one run dtype's point, w.r.t. ``wrt``."""

    case: Case
    dtype: str
    wrt: tuple[str, ...]
    point: dict[str, np.ndarray] = field(init=False)
    evaluations: int = field(init=False, default=0)
    _jac: np.ndarray | None = field(init=False, default=None)
    _jac_err: np.ndarray | None = field(init=False, default=None)
    _center: np.ndarray | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        self.point = self.case.point(self.dtype)
        shapes = [self.case.shapes[n] for n in self.wrt]
        sizes = [math.prod(s) for s in shapes]
        offsets = np.cumsum([0, *sizes])
        self._slices = {n: (slice(int(offsets[i]), int(offsets[i + 1])), shapes[i])
                        for i, n in enumerate(self.wrt)}
        self.x0 = np.concatenate([self.point[n].reshape(-1) for n in self.wrt]) if self.wrt \
            else np.zeros(0)

    # ------------------------------------------------------------ the function

    def f(self, x: np.ndarray) -> np.ndarray:
        """The case's function of the flattened ``wrt`` inputs (float64)."""
        self.evaluations += 1
        env = dict(self.point)
        for n, (sl, shape) in self._slices.items():
            env[n] = x[sl].reshape(shape)
        with np.errstate(all="ignore"):
            out, _ = evaluate(self.case.program, env, NUMPY_LOWERING)
        return np.asarray(out, dtype=np.float64)

    def split(self, flat: np.ndarray, lead: tuple[int, ...] = ()) -> dict[str, np.ndarray]:
        """Cut the last axis of ``flat`` back into arrays shaped like each input."""
        return {n: flat[..., sl].reshape(lead + shape) for n, (sl, shape) in self._slices.items()}

    def flat(self, arrays: Mapping[str, np.ndarray]) -> np.ndarray:
        """Concatenate per-input arrays (e.g. tangents) into one flat vector."""
        return np.concatenate([np.asarray(arrays[n], dtype=np.float64).reshape(-1)
                               for n in self.wrt])

    def center(self) -> np.ndarray:
        """``f`` at the point, evaluated once."""
        if self._center is None:
            self._center = self.f(self.x0)
        return self._center

    # ------------------------------------------------------------ what checks need

    def value(self) -> dict[str, Estimate]:
        """The forward value (``out``) and named intermediates, exact up to rounding."""
        with np.errstate(all="ignore"):
            out, named = evaluate(self.case.program, self.point, NUMPY_LOWERING)
        arrays = {"out": out, **named}
        return {n: Estimate(np.asarray(a, np.float64), np.zeros(np.shape(a)),
                            _classify(np.asarray(a, np.float64)), 1) for n, a in arrays.items()}

    def jacobian(self) -> Estimate:
        """The full Jacobian, shape ``out_shape + (n_wrt_entries,)``; computed once."""
        if self._jac is None or self._jac_err is None:
            center = self.center()
            cols = [self.directional(self.f, [_unit(self.x0.size, i)], center)
                    for i in range(self.x0.size)]
            empty = np.zeros((*self.case.out_shape, 0))
            self._jac = np.stack([c.value for c in cols], -1) if cols else empty
            self._jac_err = np.stack([c.err for c in cols], -1) if cols else empty
        return Estimate(self._jac, self._jac_err, _classify(self._jac), self.evaluations)

    def vjp(self, cotangent: np.ndarray) -> dict[str, Estimate]:
        """``∇ <v, f>`` per input, from the Jacobian."""
        jac = self.jacobian()
        axes = tuple(range(cotangent.ndim))
        value = np.tensordot(cotangent, jac.value, axes=(axes, axes))
        err = np.tensordot(np.abs(cotangent), jac.err, axes=(axes, axes))
        return {n: Estimate(v, self.split(err)[n], jac.classification)
                for n, v in self.split(value).items()}

    def jvp(self, tangents: Mapping[str, np.ndarray]) -> Estimate:
        """``J u`` for per-input tangents."""
        u = self.flat(tangents)
        if not np.any(u):
            zero = np.zeros(self.case.out_shape)
            return Estimate(zero, zero, "smooth")
        if self._jac is not None or self.x0.size <= JVP_FROM_JACOBIAN:
            jac = self.jacobian()
            return Estimate(jac.value @ u, jac.err @ np.abs(u), jac.classification)
        return self.directional(self.f, [u], self.center())

    def jacobian_by_input(self) -> dict[str, Estimate]:
        """The Jacobian cut per input: each of shape ``out_shape + input_shape``."""
        jac = self.jacobian()
        out = self.case.out_shape
        values, errs = self.split(jac.value, out), self.split(jac.err, out)
        return {n: Estimate(values[n], errs[n], jac.classification) for n in self.wrt}

    def hessian(self, cotangent: np.ndarray) -> dict[str, Estimate]:
        """Hessian of ``<v, f>``: keys ``"a,b"``, each of shape ``shape(a) + shape(b)``."""
        def s(x: np.ndarray) -> np.ndarray:
            return np.asarray(np.sum(cotangent * self.f(x)))
        n = self.x0.size
        val, err = np.zeros((n, n)), np.zeros((n, n))
        for i in range(n):
            for j in range(i, n):
                e = self.directional(s, [_unit(n, i), _unit(n, j)])
                val[i, j] = val[j, i] = float(e.value)
                err[i, j] = err[j, i] = float(e.err)
        out: dict[str, Estimate] = {}
        for a, (sa, shape_a) in self._slices.items():
            for b, (sb, shape_b) in self._slices.items():
                out[f"{a},{b}"] = Estimate(val[sa, sb].reshape(shape_a + shape_b),
                                           err[sa, sb].reshape(shape_a + shape_b),
                                           _classify(val))
        return out

    def derivative(self, cotangents: list[np.ndarray]) -> Estimate:
        """Order-n derivative ``∇ₓ<vₙ, … ∇ₓ<v₂, ∇ₓ<v₁, f>>>`` for a single ``wrt`` input."""
        v1, rest = cotangents[0], [self.flat({self.wrt[0]: v}) for v in cotangents[1:]]

        def s(x: np.ndarray) -> np.ndarray:
            return np.asarray(np.sum(v1 * self.f(x)))
        n = self.x0.size
        entries = [self.directional(s, [_unit(n, i), *rest]) for i in range(n)]
        shape = self._slices[self.wrt[0]][1]
        value = np.array([float(e.value) for e in entries]).reshape(shape)
        err = np.array([float(e.err) for e in entries]).reshape(shape)
        return Estimate(value, err, _classify(value), self.evaluations)

    # ------------------------------------------------------------ the estimator

    def directional(self, fn: Callable[[np.ndarray], np.ndarray], dirs: list[np.ndarray],
                    center: np.ndarray | None = None) -> Estimate:
        """Mixed directional derivative of ``fn`` along ``dirs`` at ``x0``, extrapolated.

        Each direction is rescaled so its step is ``h · max(1, |x|)`` on its support. The
        step halves until two successive Richardson windows agree to ``SETTLED``, rounding
        starts to dominate, or ``MAX_LEVELS`` is reached; a step whose stencil leaves the
        domain (non-finite where ``fn(x0)`` is finite) is dropped and the step quartered.
        """
        scaled, factor = [], 1.0
        for d in dirs:
            size = float(np.max(np.abs(d)))
            if size == 0.0:
                zero = np.zeros(np.shape(fn(self.x0) if center is None else center))
                return Estimate(zero, zero)
            scale = max(1.0, float(np.max(np.abs(self.x0[d != 0]))))
            scaled.append(d * (scale / size))
            factor *= size / scale
        if center is None:
            center = fn(self.x0)
        order, seq = len(dirs), Sequence()
        h = BASE_STEP * 2.0 ** (order - 1)
        for _ in range(MAX_LEVELS + 12):
            d, biggest = _stencil(fn, self.x0, scaled, h)
            if not np.all(np.isfinite(d) | ~np.isfinite(center)):
                if seq.levels:
                    break  # the domain edge lies between two steps: keep what converged
                h /= 4.0
                continue
            rounding = EPS * biggest * 2.0 ** order / (2.0 * h) ** order
            seq.add(d, rounding + order * EPS / h * np.abs(d))
            if len(seq.levels) >= MAX_LEVELS or seq.settled() or seq.noisy():
                break
            h /= 2.0
        value, err = seq.best()
        if value is None:
            nan = np.full(np.shape(center), np.nan)
            return Estimate(nan, nan, "undefined")
        return Estimate(value * factor, err * abs(factor), _classify(value))


def _stencil(fn: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, dirs: list[np.ndarray],
             h: float) -> tuple[np.ndarray, np.ndarray]:
    """Product of central differences at step ``h``, and the largest |f| it touched."""
    total: Any = 0.0
    biggest: Any = 0.0
    with np.errstate(all="ignore"):
        for signs in itertools.product((1.0, -1.0), repeat=len(dirs)):
            step = sum(s * d for s, d in zip(signs, dirs, strict=True))
            val = fn(x0 + h * step)
            total = total + math.prod(signs) * val
            biggest = np.maximum(biggest, np.abs(val))
        return np.asarray(total / (2.0 * h) ** len(dirs)), np.asarray(biggest)


def _extrapolate(levels: list[np.ndarray]) -> np.ndarray:
    """Richardson's table over estimates at h, h/2, …: the fully extrapolated entry."""
    row = [np.asarray(v, dtype=np.float64) for v in levels]
    with np.errstate(all="ignore"):
        for j in range(1, len(row)):
            row = [row[i] + (row[i] - row[i - 1]) / (4.0 ** j - 1.0) for i in range(1, len(row))]
    return row[-1]


# Sum of |weights| of a WINDOW-level extrapolation, doubled for safety: how much the
# rounding noise of the finest level can grow.
AMPLIFICATION = 2.0 * math.prod(1.0 + 2.0 / (4.0 ** j - 1.0) for j in range(1, WINDOW))


class Sequence:
    """Estimates at steps h, h/2, h/4, … and their extrapolations over a sliding window.

    Each window of ``WINDOW`` levels removes the h², h⁴, h⁶ terms. An extrapolant's error
    estimate is the larger of its change from one fewer level (truncation) and its change
    from the previous window (convergence), plus the finest level's rounding noise: both
    must be small, so levels that are not yet in the asymptotic range (a step much larger
    than the function's own scale, or straddling a pole) cannot look converged by chance.
    Working on a window rather than the whole table keeps such levels out entirely.
    """

    def __init__(self) -> None:
        self.levels: list[np.ndarray] = []
        self.noise: list[np.ndarray] = []
        self.values: list[np.ndarray] = []
        self.errs: list[np.ndarray] = []

    def add(self, level: np.ndarray, noise: np.ndarray) -> None:
        """Append the estimate at the next (halved) step and its rounding noise."""
        self.levels.append(np.asarray(level, dtype=np.float64))
        self.noise.append(np.asarray(noise, dtype=np.float64))
        width = min(WINDOW, len(self.levels))
        if width < 3:
            return
        full = _extrapolate(self.levels[-width:])
        short = _extrapolate(self.levels[-(width - 1):])
        with np.errstate(all="ignore"):
            change = np.abs(full - self.values[-1]) if self.values else np.full(full.shape,
                                                                                 np.inf)
            err = np.maximum(np.abs(full - short), change) + self.noise[-1] * AMPLIFICATION
        self.values.append(full)
        self.errs.append(np.where(np.isfinite(err), err, np.inf))

    def settled(self) -> bool:
        """True once two windows in a row are converged to ``SETTLED`` (relative)."""
        if len(self.errs) < 2:
            return False
        scale = float(np.max(np.abs(self.values[-1]), initial=0.0))
        return all(bool(np.all(e <= SETTLED * (np.abs(v) + 1e-3 * scale)))
                   for v, e in zip(self.values[-2:], self.errs[-2:], strict=True))

    def noisy(self) -> bool:
        """True once rounding noise alone exceeds the best error seen, for every entry."""
        if len(self.errs) < 3:
            return False
        best = np.min(np.stack(self.errs), axis=0)
        return bool(np.all(self.noise[-1] * AMPLIFICATION > 16.0 * best))

    def best(self) -> tuple[np.ndarray | None, np.ndarray]:
        """Per entry, the extrapolant with the smallest error estimate."""
        if not self.values:
            return None, np.zeros(0)
        values, errs = np.stack(self.values), np.stack(self.errs)
        pick = np.argmin(errs, axis=0)[None]
        return (np.take_along_axis(values, pick, 0)[0], np.take_along_axis(errs, pick, 0)[0])


def richardson(levels: list[np.ndarray], noise: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Extrapolate estimates at steps h, h/2, h/4, … (error in even powers of h).

    Returns, per entry, the windowed extrapolant with the smallest error estimate (see
    :class:`Sequence`); NaN when fewer than three levels were given.
    """
    seq = Sequence()
    for level, n in zip(levels, noise, strict=True):
        seq.add(level, n)
    value, err = seq.best()
    if value is None:
        nan = np.full(np.shape(levels[0]) if levels else (), np.nan)
        return nan, nan
    return value, err


def _unit(n: int, i: int) -> np.ndarray:
    e = np.zeros(n)
    e[i] = 1.0
    return e


def _classify(arr: np.ndarray) -> str:
    return "smooth" if np.all(np.isfinite(arr)) else "undefined"


_CACHE: dict[tuple[str, str, str, tuple[str, ...]], Oracle] = {}


def oracle_for(case: Case, dtype: str, wrt: tuple[str, ...]) -> Oracle:
    """The oracle for (case, dtype, wrt), built once per process and reused by every check."""
    key = (case.file, case.id, dtype, tuple(wrt))
    if key not in _CACHE:
        _CACHE[key] = Oracle(case, dtype, tuple(wrt))
    return _CACHE[key]
