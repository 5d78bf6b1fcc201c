"""Finite differences with Richardson extrapolation: the oracle's numerical core.

:func:`directional` estimates a mixed directional derivative ``∂ⁿf/∂d₁…∂dₙ`` by a product
of central differences (error in even powers of the step); :func:`one_sided` estimates a
first-order one-sided derivative (error in every power of the step). Both halve the step
from the input's scale until two successive extrapolations agree, rounding takes over,
or ``MAX_LEVELS`` is reached, and give an error estimate per entry. NumPy only.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Generator, Iterable, Iterator
from typing import Any, TypeVar

import numpy as np

EPS = float(np.finfo(np.float64).eps)
BASE_STEP = 0.125   # first step, relative to max(1, |x|) on the directions' support
WINDOW = 4          # levels per Richardson extrapolation (removes 3 error terms)
MAX_LEVELS = 24     # step halvings at most
SETTLED = 1e-12     # two windows in a row converged to this (relative) end the halving

Fn = Callable[[np.ndarray], np.ndarray]
Thunk = Callable[[], np.ndarray]
T = TypeVar("T")
# a computation that yields the points it needs evaluated and is sent their values, in
# order; its return value is its result (see :func:`drive` and :func:`drive_many`)
Steps = Generator[list[Thunk], list[np.ndarray], T]


def _extrapolate(levels: list[np.ndarray], even: bool = True) -> np.ndarray:
    """Richardson's table over estimates at h, h/2, …: the fully extrapolated entry.

    ``even``: the error expands in h², h⁴, … (central differences); otherwise in h, h², …
    """
    base = 4.0 if even else 2.0
    row = [np.asarray(v, dtype=np.float64) for v in levels]
    with np.errstate(all="ignore"):
        for j in range(1, len(row)):
            row = [row[i] + (row[i] - row[i - 1]) / (base ** j - 1.0)
                   for i in range(1, len(row))]
    return row[-1]


def _amplification(even: bool) -> float:
    """Sum of |weights| of a WINDOW-level extrapolation, doubled for safety: how much the
    rounding noise of the finest level can grow."""
    base = 4.0 if even else 2.0
    return 2.0 * math.prod(1.0 + 2.0 / (base ** j - 1.0) for j in range(1, WINDOW))


class Sequence:
    """Estimates at steps h, h/2, h/4, … and their extrapolations over a sliding window.

    Each window of ``WINDOW`` levels removes the leading error terms. An extrapolant's
    error estimate is the larger of its change from one fewer level (truncation) and its
    change from the previous window (convergence), plus the finest level's rounding noise:
    both must be small, so levels not yet in the asymptotic range (a step much larger than
    the function's own scale, or straddling a pole) cannot look converged by chance.
    Working on a window rather than the whole table keeps such levels out entirely.
    """

    def __init__(self, even: bool = True) -> None:
        self.even = even
        self.amplification = _amplification(even)
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
        full = _extrapolate(self.levels[-width:], self.even)
        short = _extrapolate(self.levels[-(width - 1):], self.even)
        with np.errstate(all="ignore"):
            change = np.abs(full - self.values[-1]) if self.values else np.full(full.shape,
                                                                                 np.inf)
            err = np.maximum(np.abs(full - short), change) + self.noise[-1] * self.amplification
        self.values.append(full)
        self.errs.append(np.where(np.isfinite(err), err, np.inf))

    def settled(self) -> bool:
        """True once two windows in a row are converged to ``SETTLED`` (relative)."""
        if len(self.errs) < 2:
            return False
        scale = float(np.max(np.abs(np.nan_to_num(self.values[-1])), initial=0.0))
        return all(bool(np.all(e <= SETTLED * (np.abs(v) + 1e-3 * scale)))
                   for v, e in zip(self.values[-2:], self.errs[-2:], strict=True))

    def noisy(self) -> bool:
        """True once rounding noise alone exceeds the best error seen, for every entry."""
        if len(self.errs) < 3:
            return False
        best = np.min(np.stack(self.errs), axis=0)
        return bool(np.all(self.noise[-1] * self.amplification > 16.0 * best))

    def best(self) -> tuple[np.ndarray | None, np.ndarray]:
        """Per entry, the extrapolant with the smallest error estimate."""
        if not self.values:
            return None, np.zeros(0)
        values, errs = np.stack(self.values), np.stack(self.errs)
        pick = np.argmin(errs, axis=0)[None]
        return (np.take_along_axis(values, pick, 0)[0], np.take_along_axis(errs, pick, 0)[0])

    def done(self) -> bool:
        """Whether halving further can only waste evaluations."""
        return len(self.levels) >= MAX_LEVELS or self.settled() or self.noisy()


def richardson(levels: list[np.ndarray], noise: list[np.ndarray],
               even: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Extrapolate estimates at steps h, h/2, h/4, …

    Returns, per entry, the windowed extrapolant with the smallest error estimate (see
    :class:`Sequence`); NaN when fewer than three levels were given.
    """
    seq = Sequence(even)
    for level, n in zip(levels, noise, strict=True):
        seq.add(level, n)
    value, err = seq.best()
    if value is None:
        nan = np.full(np.shape(levels[0]) if levels else (), np.nan)
        return nan, nan
    return value, err


def offset(x0: np.ndarray, step: np.ndarray) -> np.ndarray:
    """``x0 + step``, but ``x0`` itself where the step is 0: IEEE gives -0.0 + 0.0 = +0.0,
    and a function with a jump at a signed zero (atan2, copysign) must not see an entry
    the step does not move change sign."""
    out = step + x0
    np.copyto(out, x0, where=step == 0)
    return out


def _scaled(x0: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, float]:
    """``d`` rescaled to steps of ``max(1, |x|)`` on its support, and the factor undoing it."""
    size = max(float(np.max(d)), -float(np.min(d)))
    support = x0 if np.all(d) else x0[d != 0]
    scale = max(1.0, float(np.max(support)), -float(np.min(support)))
    return d * (scale / size), size / scale


def _signed_zeros(x0: np.ndarray) -> bool:
    """Whether ``x0`` has a -0.0, which ``x0 + 0.0`` would turn into +0.0."""
    return bool(np.any(np.signbit(x0[x0 == 0]))) if x0.size else False


def _stencil_points(x0: np.ndarray, dirs: list[np.ndarray], h: float,
                   negative_zeros: bool = True) -> list[tuple[float, Thunk]]:
    """The points of a product of central differences at step ``h``, each with its sign,
    built only when asked (on a large input each point is as big as the input).

    ``negative_zeros``: whether ``x0`` may hold a -0.0 (see :func:`_signed_zeros`)."""
    if len(dirs) == 1 and not negative_zeros:
        # x0 ± h·d: one step shared by both points, one pass each; without a -0.0 in
        # x0 an entry the step does not move keeps its value and sign
        step = np.multiply(dirs[0], h)

        def ahead() -> np.ndarray:
            return np.add(x0, step)

        def behind() -> np.ndarray:
            return np.subtract(x0, step)
        return [(1.0, ahead), (-1.0, behind)]
    return [(math.prod(signs), functools.partial(_point, x0, dirs, signs, h))
            for signs in itertools.product((1.0, -1.0), repeat=len(dirs))]


def _combine(signs: list[float], values: list[np.ndarray], h: float,
             order: int) -> tuple[np.ndarray, np.ndarray]:
    """The stencil's difference from its points' values, and the largest |f| it touched."""
    total: Any = 0.0
    biggest: Any = 0.0
    with np.errstate(all="ignore"):
        for sign, val in zip(signs, values, strict=True):
            total = total + sign * val
            biggest = np.maximum(biggest, np.abs(val))
        return np.asarray(total / (2.0 * h) ** order), np.asarray(biggest)


def _point(x0: np.ndarray, dirs: list[np.ndarray], signs: tuple[float, ...],
           h: float) -> np.ndarray:
    """x0 + h·Σ sᵢdᵢ, built in one buffer (on large inputs the temporaries of the plain
    expression cost as much as evaluating the function), with x0's own entry where the step
    is 0: IEEE gives -0.0 + 0.0 = +0.0."""
    if len(dirs) == 1:
        point = np.multiply(dirs[0], signs[0] * h)  # = h·(±d) exactly
    else:
        point = np.multiply(dirs[0], signs[0])
        for s, d in zip(signs[1:], dirs[1:], strict=True):
            point += s * d
        point *= h
    still = point == 0
    point += x0
    np.copyto(point, x0, where=still)
    return point


def _halve(seq: Sequence, level_at: Callable[[float], Steps[tuple[np.ndarray, np.ndarray]]],
           center: np.ndarray, h: float) -> Steps[None]:
    """Fill ``seq`` from steps h, h/2, …; a step that leaves the domain (non-finite where
    the centre is finite) is dropped and the step quartered, until levels exist."""
    for _ in range(MAX_LEVELS + 12):
        level, noise = yield from level_at(h)
        if not np.all(np.isfinite(level) | ~np.isfinite(center)):
            if seq.levels:
                return  # the domain edge lies between two steps: keep what converged
            h /= 4.0
            continue
        seq.add(level, noise)
        if seq.done():
            return
        h /= 2.0


def directional_steps(x0: np.ndarray, dirs: list[np.ndarray], center: np.ndarray
                      ) -> Steps[tuple[np.ndarray | None, np.ndarray]]:
    """:func:`directional` as steps: yields the points it needs, is sent their values."""
    scaled, factor = [], 1.0
    for d in dirs:
        if not np.any(d):
            zero = np.zeros(np.shape(center))
            return zero, zero
        sd, f = _scaled(x0, d)
        scaled.append(sd)
        factor *= f
    order, seq = len(dirs), Sequence(even=True)
    negative_zeros = _signed_zeros(x0)

    def level_at(h: float) -> Steps[tuple[np.ndarray, np.ndarray]]:
        points = _stencil_points(x0, scaled, h, negative_zeros)
        values = yield [p for _, p in points]
        d, biggest = _combine([s for s, _ in points], values, h, order)
        rounding = EPS * biggest * 2.0 ** order / (2.0 * h) ** order
        return d, rounding + order * EPS / h * np.abs(d)
    yield from _halve(seq, level_at, center, BASE_STEP * 2.0 ** (order - 1))
    value, err = seq.best()
    return (None, err) if value is None else (value * factor, err * abs(factor))


def one_sided_steps(x0: np.ndarray, d: np.ndarray, center: np.ndarray,
                    side: float) -> Steps[tuple[np.ndarray | None, np.ndarray]]:
    """:func:`one_sided` as steps: yields the points it needs, is sent their values."""
    sd, factor = _scaled(x0, d)
    seq = Sequence(even=False)

    def level_at(h: float) -> Steps[tuple[np.ndarray, np.ndarray]]:
        (val,) = yield [lambda: offset(x0, side * h * sd)]
        with np.errstate(all="ignore"):
            level = side * (val - center) / h
        rounding = EPS * np.maximum(np.abs(val), np.abs(center)) * 2.0 / h
        return np.asarray(level), rounding + EPS / h * np.abs(level)
    yield from _halve(seq, level_at, center, BASE_STEP)
    value, err = seq.best()
    return (None, err) if value is None else (value * factor, err * abs(factor))


def drive(steps: Steps[T], fn: Fn) -> T:
    """Run ``steps`` to its end, evaluating each point with ``fn`` one at a time."""
    try:
        wanted = next(steps)
        while True:
            wanted = steps.send([fn(point()) for point in wanted])
    except StopIteration as stop:
        return stop.value


def drive_each(steps: Iterable[Steps[T]], fn_batch: Callable[[np.ndarray], np.ndarray],
               width: int | None = None) -> Iterator[tuple[int, T]]:
    """Run several independent ``steps`` in lockstep and yield ``(position, result)`` of
    each as it ends: each round stacks every point they ask for into one ``(points, n)``
    array and evaluates it with one call of ``fn_batch`` (which returns one value per row),
    so a Jacobian's columns or a Hessian's pairs share their evaluations' fixed cost. At
    most ``width`` run at once (the next starts when one ends), which bounds the stack's
    memory. Each result is what :func:`drive` would give when ``fn_batch`` evaluates every
    row as ``fn`` does."""
    waiting = enumerate(steps)
    running: dict[int, tuple[Steps[T], list[Thunk]]] = {}
    while True:
        while width is None or len(running) < width:
            k, s = next(waiting, (-1, None))
            if s is None:
                break
            try:
                running[k] = (s, next(s))
            except StopIteration as stop:
                yield k, stop.value
        if not running:
            return
        keys = list(running)
        values = fn_batch(np.stack([point() for k in keys for point in running[k][1]]))
        at = 0
        for k in keys:
            s, wanted = running[k]
            try:
                running[k] = (s, s.send(list(values[at:at + len(wanted)])))
            except StopIteration as stop:
                del running[k]
                yield k, stop.value
            at += len(wanted)


def drive_many(steps: Iterable[Steps[T]], fn_batch: Callable[[np.ndarray], np.ndarray],
               width: int | None = None) -> list[T]:
    """:func:`drive_each`'s results in the order of ``steps``."""
    done: dict[int, T] = dict(drive_each(steps, fn_batch, width))
    return [done[k] for k in range(len(done))]


def directional(fn: Fn, x0: np.ndarray, dirs: list[np.ndarray],
                center: np.ndarray) -> tuple[np.ndarray | None, np.ndarray]:
    """Mixed directional derivative of ``fn`` along ``dirs`` at ``x0``; None if no level
    of the stencil stayed in the domain."""
    return drive(directional_steps(x0, dirs, center), fn)


def one_sided(fn: Fn, x0: np.ndarray, d: np.ndarray, center: np.ndarray,
              side: float) -> tuple[np.ndarray | None, np.ndarray]:
    """One-sided derivative of ``fn`` along ``side · d`` (``side`` ±1), as a derivative
    along ``d``: the right derivative for +1, the left one for -1."""
    return drive(one_sided_steps(x0, d, center, side), fn)
