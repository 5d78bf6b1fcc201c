"""The adapter contract: what every framework adapter implements, and how adapters are found.

An adapter receives the case's op graph and NumPy inputs already rounded to the run's
dtype, runs one check in its framework's own idiom, and returns NumPy arrays. It never
compares anything: the engine does. Adapters register under the entry-point group
``gradconf.adapters`` (see ``adapters/README.md``), so a third-party adapter needs no
engine change. This module imports no framework.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, ClassVar

import numpy as np

from gradconf.expr import Program
from gradconf.schema import ProbeSpec

ENTRY_POINT_GROUP = "gradconf.adapters"


class Unsupported(Exception):
    """The framework cannot express this check, probe or op; the message says why."""


# How a framework reports the gradient of a real-valued function f of a complex input
# z = x + iy: the neutral value is the pair (∂f/∂x, ∂f/∂y), i.e. ∂f/∂x + i ∂f/∂y. Each
# adapter names its convention; the engine normalises with the function given here and
# keeps the raw value beside it.
COMPLEX_CONVENTIONS: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    "conjugate_wirtinger": ("∂f/∂x + i ∂f/∂y = 2 ∂f/∂z̄ (the steepest-ascent direction)",
                            lambda g: g),
    "wirtinger": ("∂f/∂x − i ∂f/∂y = 2 ∂f/∂z (the conjugate of the ascent direction)",
                  np.conj),
}


def unsupported(op: str, reason: str) -> Callable[..., Any]:
    """A lowering-table entry for an op the framework cannot express: calling it raises
    :class:`Unsupported` (the check's verdict is ``unsupported``, with ``reason``)."""
    def lowered(*args: Any, **kwargs: Any) -> Any:
        raise Unsupported(f"op {op}: {reason}")
    lowered.unsupported = reason  # type: ignore[attr-defined]
    return lowered


def family_lowerings(package: str) -> dict[str, Callable[..., Any]]:
    """An adapter's whole lowering table: the ``LOWERING`` of ``package.<family>`` for every
    family of the op table (gradconf.ops.FAMILIES), merged; an op lowered twice raises."""
    from gradconf.ops import FAMILIES

    table: dict[str, Callable[..., Any]] = {}
    for family in FAMILIES:
        part = importlib.import_module(f"{package}.{family}").LOWERING
        twice = sorted(set(table) & set(part))
        if twice:
            raise KeyError(f"{package}.{family} lowers {', '.join(twice)} again")
        table.update(part)
    return table


def unsupported_reason(fn: Callable[..., Any]) -> str | None:
    """The reason of an :func:`unsupported` table entry, None for a real lowering."""
    return getattr(fn, "unsupported", None)


@dataclass(frozen=True)
class ReproducerTemplates:
    """How an adapter writes a standalone reproducer script (``gradconf.reproducer``) in its
    framework's public API: the function comes from the lowering table's own source, these
    say the rest. Templates are :class:`string.Template` text; see ``adapters/README.md``."""

    lowering: str                     # the lowering package: "gradconf_adapters.torch_lowering"
    header: str                       # import lines (and settings) every script starts with
    array: str                        # an input from ``$values`` (a literal) at ``$dtype``
    show: str                         # an expression in ``r``: the result as Python numbers
    checks: Mapping[str, str]         # check kind (jacobian_rev, ...) -> code setting ``result``
    compiled: Mapping[str, str] = field(default_factory=dict)  # the same, compiled


@dataclass(frozen=True)
class ErrorInfo:
    """A framework exception in neutral terms, with the raw type and message kept."""

    kind: str
    type: str
    message: str


@dataclass(frozen=True)
class WarningInfo:
    """A warning the framework emitted during a check."""

    kind: str
    category: str
    message: str


@dataclass
class ProbeResult:
    """What a probe observed: the outcome, named values (None = absent), step snapshots."""

    outcome: str                                  # value | absent | error | not_applicable
    values: dict[str, np.ndarray | None] = field(default_factory=dict)
    steps: list[dict[str, np.ndarray | None]] = field(default_factory=list)
    error: ErrorInfo | None = None
    idiom: str = ""                               # the framework call the probe made


@dataclass(frozen=True)
class ProbeInputs:
    """Arrays a probe needs, rounded to the run's dtypes: the cotangent and step cotangents."""

    cotangent: np.ndarray
    steps: tuple[np.ndarray | None, ...] = ()     # None marks a reset ("zero") step


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+\b")  # where a repr put an object in memory


class Adapter:
    """Base class for framework adapters. Unimplemented checks raise :class:`Unsupported`.

    Arrays in ``env`` carry their run dtype (float32 arrays for a float32 run). Every
    method returns NumPy arrays in the dtype the framework produced.
    """

    name: ClassVar[str] = ""
    lowering: ClassVar[Mapping[str, Callable[..., Any]]] = {}
    # (regex, neutral kind): searched in "ExceptionType: message" / "WarningCategory: message"
    error_patterns: ClassVar[tuple[tuple[str, str], ...]] = ()
    warning_patterns: ClassVar[tuple[tuple[str, str], ...]] = ()
    # a module whose PROBES maps each probe kind to fn(adapter, spec, prog, env, wrt, vectors)
    probe_module: ClassVar[str] = ""
    # the gradient convention for complex inputs, a key of COMPLEX_CONVENTIONS
    complex_gradient: ClassVar[str] = "conjugate_wirtinger"
    # The framework's compiler as its users call it, e.g. "torch.compile (inductor)"; ""
    # when it has none (its compiled items are then ``not_applicable``).
    compiler: ClassVar[str] = ""
    # True when a compile that raises can leave the process changed (grad mode, a mode or
    # transform layer left set): the compiled process is then replaced after such a check.
    compiled_fresh_after_error: ClassVar[bool] = False
    # How the check methods run: "eager", or "compiled" (see :meth:`compiled`).
    execution: str = "eager"
    # How to write a standalone script reproducing a record that did not pass; None: no
    # reproducer (the record is the same without it).
    reproducer_templates: ClassVar[ReproducerTemplates | None] = None

    def compiled(self) -> Adapter:
        """This adapter in compiled execution: a shallow copy whose ``execution`` is
        ``"compiled"``. There every check method runs its whole computation, the function and
        its derivative, through :attr:`compiler` in the framework's own idiom, and returns what
        the eager method returns. A compiled function is kept and called again for the same
        program, check and input types, so a check's second run measures the run, not the
        compile. Probes stay eager: they ask about the API, not the generated code."""
        if not self.compiler:
            raise Unsupported(f"{self.name} has no compiler")
        twin = copy.copy(self)
        twin.execution = "compiled"
        return twin

    def eager(self) -> Adapter:
        """This adapter in eager execution (itself when it is already eager)."""
        if self.execution == "eager":
            return self
        twin = copy.copy(self)
        twin.execution = "eager"
        return twin

    def leftover_state(self) -> str | None:
        """What a check left set in the framework's process-wide state (grad mode off, a
        mode or transform layer still open), in words; None when the process is as fresh.
        The compiled process asks after every check and is replaced when something is."""
        return None

    def version(self) -> str:
        """The framework's version string."""
        raise NotImplementedError

    def value(self, prog: Program, env: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The forward value as ``out``, and each named intermediate under its name."""
        raise Unsupported("value")

    def vjp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """Reverse mode: ``∇<v, f>`` per input in ``wrt``."""
        raise Unsupported("reverse mode")

    def jvp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        """Forward mode: ``J u``."""
        raise Unsupported("forward mode")

    def jacobian(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
                 mode: str) -> dict[str, np.ndarray]:
        """Full Jacobian per input (``out_shape + in_shape``) by ``rev``, ``fwd`` or ``loop``."""
        raise Unsupported(f"jacobian by {mode}")

    def hessian(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
                cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """Hessian of ``<v, f>``, keyed ``"a,b"``."""
        raise Unsupported("hessian")

    def derivative(self, prog: Program, env: Mapping[str, np.ndarray], wrt: str,
                   cotangents: list[np.ndarray]) -> np.ndarray:
        """Order-n derivative by nesting reverse passes with the given cotangents."""
        raise Unsupported(f"order-{len(cotangents)} derivative")

    def probe(self, spec: ProbeSpec, prog: Program, env: Mapping[str, np.ndarray],
              wrt: tuple[str, ...], vectors: ProbeInputs) -> ProbeResult:
        """Run the probe ``spec.kind``: from ``probe_module``'s PROBES, or ``probe_<kind>``."""
        if self.probe_module:
            table = importlib.import_module(self.probe_module).PROBES
            if spec.kind not in table:
                raise Unsupported(f"probe {spec.kind}")
            found: ProbeResult = table[spec.kind](self, spec, prog, env, wrt, vectors)
            return found
        method = getattr(self, f"probe_{spec.kind}", None)
        if method is None:
            raise Unsupported(f"probe {spec.kind}")
        result: ProbeResult = method(spec, prog, env, wrt, vectors)
        return result

    def error_kind(self, exc: BaseException) -> str:
        """The neutral error kind (gradconf.kinds) of the first matching error pattern.

        A pattern sees "Type: message" for the exception's type and each of its bases, so
        ``^TypeError:`` also matches NumPy's UFuncTypeError.
        """
        texts = [f"{cls.__name__}: {exc}" for cls in type(exc).__mro__]
        return next((kind for pattern, kind in self.error_patterns
                     if any(re.search(pattern, t) for t in texts)), "other")

    def warning_kind(self, category: str, message: str) -> str:
        """The neutral warning kind of the first matching warning pattern (any case)."""
        text = f"{category}: {message}"
        return next((kind for pattern, kind in self.warning_patterns
                     if re.search(pattern, text, re.IGNORECASE)), "other")

    def error_info(self, exc: BaseException) -> ErrorInfo:
        """The neutral form of ``exc``; a Python object's memory address in the message
        (``<built-in method quantile ... at 0x7f94...>``) reads ``at 0x…``, so two runs of
        one version give the same text."""
        return ErrorInfo(self.error_kind(exc), type(exc).__name__,
                         _ADDRESS.sub(" at 0x…", str(exc)))


def registered() -> dict[str, Any]:
    """Adapter entry points by name (nothing is imported)."""
    return {ep.name: ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def installed() -> list[str]:
    """Registered adapters whose framework module of the same name can be imported."""
    return sorted(n for n in registered() if importlib.util.find_spec(n) is not None)


def load_adapter(name: str) -> Adapter:
    """Instantiate the adapter registered as ``name``, or ``package.module:Class``.

    The second form runs an adapter that is not registered (one under development, or a
    test's fault-injecting adapter).
    """
    if ":" in name:
        module, _, attr = name.partition(":")
        cls = getattr(importlib.import_module(module), attr)
    else:
        eps = registered()
        if name not in eps:
            raise LookupError(f"no adapter named {name!r}; registered: "
                              f"{', '.join(sorted(eps))}")
        cls = eps[name].load()
    adapter: Adapter = cls()
    return adapter
