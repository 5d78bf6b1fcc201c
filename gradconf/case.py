"""A validated case: the YAML form resolved into a program, shapes, checks and probes.

:func:`build` takes a :class:`~gradconf.schema.CaseSpec` and checks everything that needs
the whole case (names resolve, shapes agree, golden keys name checks, divergences name
checks). Each problem is a :class:`CaseError` carrying the path of the offending field so
the loader can point at its line.
"""

from __future__ import annotations

import fnmatch
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from gradconf.arrays import REAL_OF, is_complex, is_float, result_dtype, round_to
from gradconf.expr import ExprError, Program, infer_shapes, parse
from gradconf.intake.limits import DEFAULT, Limits
from gradconf.literals import (
    CaseError,
    Path,
    check_node_sizes,
    check_vector,
    entries,
    literal_array,
    shape_of,
)
from gradconf.ops import OPS, Shape
from gradconf.schema import ArraySpec, CaseSpec, CheckSpec, Divergence, ProbeSpec, Tolerance


@dataclass(frozen=True)
class Check:
    """One expanded check: a jacobian with three modes becomes three of these."""

    id: str
    kind: str
    wrt: tuple[str, ...]
    mode: str | None = None
    order: int = 1
    cotangent: Any = "ones"
    tangent: Any = "ones"
    cotangents: tuple[Any, ...] = ()
    spec_index: int = 0


@dataclass(frozen=True)
class Probe:
    """One probe with its id (``probe-<kind>`` unless named)."""

    id: str
    spec: ProbeSpec
    spec_index: int = 0


@dataclass(frozen=True)
class Case:
    """A case ready to run: everything an adapter, the oracle and the report need."""

    id: str
    title: str
    file: str
    line: int
    source: Mapping[str, str]
    program: Program
    sources: Mapping[str, ArraySpec]
    inputs: tuple[str, ...]
    constants: tuple[str, ...]
    wrt: tuple[str, ...]
    shapes: Mapping[str, Shape]
    out_shape: Shape
    dtypes: tuple[str, ...]
    checks: tuple[Check, ...]
    probes: tuple[Probe, ...]
    golden: Mapping[str, Any]
    tolerance: Mapping[str, Tolerance]
    divergences: tuple[Divergence, ...]
    derivation: str | None = None
    node_shapes: tuple[Shape, ...] = field(default=())
    fast: bool | None = None

    def dtype_of(self, name: str, run_dtype: str) -> str:
        """The dtype ``name`` has in a run at ``run_dtype`` (pinned dtypes win)."""
        return self.sources[name].dtype or run_dtype

    def output_dtype(self, run_dtype: str) -> str:
        """The dtype the output should have: promotion over the float sources read."""
        return self.node_dtypes(run_dtype)[self.program.output]

    def node_dtypes(self, run_dtype: str) -> list[str]:
        """The dtype promotion gives every node (Python scalars do not promote)."""
        return node_dtypes(self.program, lambda n: self.dtype_of(n, run_dtype))

    def named_dtype(self, name: str, run_dtype: str) -> str:
        """The dtype of ``out`` or of a named intermediate."""
        index = self.program.output if name == "out" else self.program.names[name]
        return self.node_dtypes(run_dtype)[index]

    def point(self, run_dtype: str) -> dict[str, np.ndarray]:
        """Every source's value rounded to its dtype in this run, as float64 / int64."""
        out = {}
        for n, spec in self.sources.items():
            dtype = self.dtype_of(n, run_dtype)
            out[n] = round_to(base_value(spec, is_complex(dtype)), dtype)
        return out

    @property
    def is_complex(self) -> bool:
        """Whether the case runs at a complex dtype (its float inputs become complex)."""
        return any(is_complex(d) for d in self.dtypes)

    def divergence(self, framework: str, check_id: str, dtype: str,
                   version: str | None = None, execution: str = "eager") -> Divergence | None:
        """The declared divergence covering this (framework, check, dtype, execution) at the
        framework ``version`` (None: any version), if any."""
        for d in self.divergences:
            if d.framework == framework and d.covers(check_id) and (
                    d.dtypes is None or dtype in d.dtypes) and (
                    d.execution is None or d.execution == execution) and (
                    version is None or d.applies_to(version)):
                return d
        return None


def base_value(spec: ArraySpec, complex_: bool = False) -> np.ndarray:
    """The float64 value of an input or constant before rounding to a run's dtype; for a
    complex run, complex128 (a literal's ``imag``, or a second draw of ``init``)."""
    if spec.value is not None:
        real = np.asarray(spec.value, dtype=np.float64)
        if not complex_:
            return real
        return real + 1j * (np.asarray(spec.imag, dtype=np.float64) if spec.imag is not None
                            else 0.0)
    key = (id(spec), complex_)
    if key in _DRAWN and _DRAWN[key][0] is spec:
        _DRAWN.move_to_end(key)
        return _DRAWN[key][1]
    drawn = _draw(spec, complex_)
    drawn.setflags(write=False)  # shared: callers round (copy) it before use
    _DRAWN[key] = (spec, drawn)
    while len(_DRAWN) > DRAWN_KEPT:
        _DRAWN.popitem(last=False)
    return drawn


DRAWN_KEPT = 8  # drawn inputs kept: a check's framework side and oracle draw the same point
_DRAWN: OrderedDict[tuple[int, bool], tuple[ArraySpec, np.ndarray]] = OrderedDict()


def _draw(spec: ArraySpec, complex_: bool) -> np.ndarray:
    """A fresh draw of ``spec``'s ``init`` from its seed (a second one for the imaginary part)."""
    shape = tuple(spec.shape or ())
    rng = np.random.default_rng(spec.seed)

    def draw() -> np.ndarray:
        if spec.init == "normal":
            return rng.standard_normal(shape) * spec.scale
        if spec.init == "uniform":
            return rng.uniform(spec.low, spec.high, shape)
        return np.ones(shape) if spec.init == "ones" else np.zeros(shape)
    first = draw()
    return first + 1j * draw() if complex_ else first


def materialize(spec: Any, shape: Shape, seed: int = 0) -> np.ndarray:
    """A cotangent/tangent: ``ones``, ``zeros``, ``random`` / ``{random: seed}``, or literal."""
    if isinstance(spec, str) and spec in ("ones", "zeros"):
        return np.ones(shape) if spec == "ones" else np.zeros(shape)
    if spec == "random" or (isinstance(spec, dict) and set(spec) == {"random"}):
        s = spec["random"] if isinstance(spec, dict) else seed
        return np.random.default_rng(s).standard_normal(shape)
    arr = np.asarray(spec, dtype=np.float64)
    if arr.shape != tuple(shape):
        raise ValueError(f"has shape {arr.shape}, but should be {tuple(shape)}")
    return arr


def tangent_for(check: Check, name: str, shape: Shape) -> np.ndarray:
    """The tangent of input ``name`` for a jvp check (one spec, or a mapping by input)."""
    spec = check.tangent
    if isinstance(spec, dict) and set(spec) != {"random"}:
        spec = spec.get(name, "zeros")
    seed = sorted(check.wrt).index(name) if name in check.wrt else 0
    return materialize(spec, shape, seed)


def build(spec: CaseSpec, file: str, line: int, limits: Limits = DEFAULT) -> Case:
    """Validate ``spec`` as a whole and resolve it into a :class:`Case`.

    Sizes are checked against ``limits`` before any array of the declared size exists.
    """
    _check_names(spec)
    known = [*spec.inputs, *spec.constants]
    try:
        program = parse(spec.function, known, limits)
    except ExprError as exc:
        raise CaseError(exc.message, ("function",), exc.hint, exc.line, exc.col) from None
    if not any(name in spec.inputs for name in program.sources):
        raise CaseError("the function reads no input: its output is a constant, with nothing "
                        "to differentiate", ("function",), f"inputs: {', '.join(spec.inputs)}")
    sources = {**spec.inputs, **spec.constants}
    shapes = {n: shape_of(s, ("inputs" if n in spec.inputs else "constants", n), limits)
              for n, s in sources.items()}
    try:
        node_shapes = infer_shapes(program, shapes)
    except ExprError as exc:
        raise CaseError(exc.message, ("function",), exc.hint, exc.line, exc.col) from None
    check_node_sizes(program, node_shapes, limits)
    wrt = _wrt(spec)
    out_shape = node_shapes[program.output]
    checks = _expand_checks(spec, wrt, shapes, out_shape)
    _check_result_sizes(checks, spec, shapes, out_shape, limits)
    probes = _probes(spec, program, out_shape)
    _check_complex(spec, program, shapes, checks)
    ids = [c.id for c in checks] + [p.id for p in probes]
    named = {n: node_shapes[i] for n, i in program.names.items()}
    # a complex case's goldens are real pairs (a trailing axis of 2) for complex arrays
    pair = (2,) if any(is_complex(d) for d in spec.dtypes) else ()
    golden = _golden(spec, checks, probes,
                     {n: s + (pair if n in wrt else ()) for n, s in shapes.items()},
                     out_shape, named)
    _check_divergences(spec, ids)
    return Case(spec.id, spec.title, file, line, spec.source.model_dump(), program, sources,
                tuple(spec.inputs), tuple(spec.constants), wrt, shapes, out_shape, spec.dtypes,
                checks, probes, golden, dict(spec.tolerance), spec.divergences,
                spec.derivation, tuple(node_shapes), spec.fast)


COMPLEX_CHECKS = ("value", "vjp", "jvp")


def _check_complex(spec: CaseSpec, program: Program, shapes: Mapping[str, Shape],
                   checks: tuple[Check, ...]) -> None:
    """A complex case: imag literals fit their values; only value, vjp and jvp checks, no
    probes; a vjp needs a real output (the gradient of a real-valued function)."""
    complex_run = any(is_complex(d) for d in spec.dtypes)
    for group in ("inputs", "constants"):
        for name, s in getattr(spec, group).items():
            if s.imag is None:
                continue
            if not complex_run:
                raise CaseError("imag is for complex runs: add complex64 or complex128 to "
                                "dtypes", (group, name))
            imag = literal_array(s.imag, (group, name, "imag"))
            if imag.shape != shapes[name]:
                raise CaseError(f"imag has shape {imag.shape}, but value has {shapes[name]}",
                                (group, name, "imag"))
    if not complex_run:
        return
    if not all(is_complex(d) for d in spec.dtypes):
        raise CaseError("a case runs at complex dtypes or at real ones, not both", ("dtypes",),
                        "split it into a real and a complex case")
    for chk in checks:
        if chk.kind not in COMPLEX_CHECKS:
            raise CaseError(f"a complex case takes {', '.join(COMPLEX_CHECKS)} checks, not "
                            f"{chk.kind}", ("checks", chk.spec_index))
    if spec.probes:
        raise CaseError("a complex case takes no probes", ("probes",))
    sources = {**spec.inputs, **spec.constants}
    out_dtype = node_dtypes(program, lambda n: sources[n].dtype or spec.dtypes[0])[
        program.output]
    if is_complex(out_dtype) and any(c.kind == "vjp" for c in checks):
        raise CaseError("a vjp of a complex case needs a real-valued output (the gradient of "
                        "a real function of complex inputs)", ("function",),
                        "take real(), imag() or abs() of the result, e.g. sum(abs(z) ** 2)")


def node_dtypes(program: Program, source_dtype: Callable[[str], str]) -> list[str]:
    """The dtype promotion gives every node of ``program``, given each source's dtype
    (Python scalars do not promote; ``out_dtype="real"`` ops give the real counterpart)."""
    out: list[str] = []
    for node in program.nodes:
        if node.op == "input":
            out.append(source_dtype(node.name or ""))
        elif node.op == "scalar":
            out.append("")
        else:
            promoted = result_dtype([out[a] for a in node.args if out[a]])
            fixed = OPS[node.op].out_dtype
            out.append(REAL_OF.get(promoted, promoted) if fixed == "real" else fixed or promoted)
    return out


def _check_names(spec: CaseSpec) -> None:
    for group in ("inputs", "constants"):
        for name in getattr(spec, group):
            if not name.isidentifier() or name in OPS:
                raise CaseError(f"{group[:-1]} name '{name}' must be an identifier and not an op",
                                (group, name))
    both = set(spec.inputs) & set(spec.constants)
    if both:
        raise CaseError(f"'{sorted(both)[0]}' is both an input and a constant", ("constants",))


def _check_result_sizes(checks: tuple[Check, ...], spec: CaseSpec, shapes: Mapping[str, Shape],
                        out_shape: Shape, limits: Limits) -> None:
    """Refuse a jacobian or hessian whose result would exceed ``derivative_entries``."""
    for check in checks:
        if check.kind not in ("jacobian", "hessian", "rev_fwd"):
            continue
        sizes = result_shapes(check, shapes, out_shape)
        n = sum(entries(s) for s in sizes.values())
        if n > limits.derivative_entries:
            raise CaseError(f"the {check.kind} check would hold {n} entries, more than "
                            f"{limits.derivative_entries} (limit derivative_entries)",
                            ("checks", check.spec_index), "check a vjp or jvp instead, or "
                            "raise the limit with --limit derivative_entries=N")


def _wrt(spec: CaseSpec) -> tuple[str, ...]:
    floats = [n for n, s in spec.inputs.items()
              if is_float(s.dtype or "float64") or is_complex(s.dtype or "")]
    wrt = spec.wrt if spec.wrt is not None else tuple(floats)
    if not wrt and (any(c.kind != "value" for c in spec.checks) or spec.probes):
        raise CaseError("the case has no floating-point input to differentiate", ("inputs",),
                        "give an input a float dtype, or name one under wrt")
    for name in wrt:
        if name not in spec.inputs:
            raise CaseError(f"wrt names '{name}', which is not an input", ("wrt",),
                            f"inputs: {', '.join(spec.inputs)}")
        if name not in floats:
            raise CaseError(f"wrt names '{name}', which has an integer dtype", ("wrt",))
    return wrt


def _expand_checks(spec: CaseSpec, wrt: tuple[str, ...], shapes: Mapping[str, Shape],
                   out_shape: Shape) -> tuple[Check, ...]:
    out: list[Check] = []
    for i, c in enumerate(spec.checks):
        cw = c.wrt or wrt
        for name in cw:
            if name not in wrt:
                raise CaseError(f"check wrt '{name}' is not among the case's wrt {list(wrt)}",
                                ("checks", i, "wrt"))
        out.extend(_one_check(c, i, cw, shapes, out_shape))
    seen: set[str] = set()
    for chk in out:
        if chk.id in seen:
            raise CaseError(f"two checks have the id '{chk.id}'", ("checks", chk.spec_index),
                            "give one of them a name: e.g. '- vjp: {name: random, ...}'")
        seen.add(chk.id)
    return tuple(out)


def _one_check(c: CheckSpec, i: int, wrt: tuple[str, ...], shapes: Mapping[str, Shape],
               out_shape: Shape) -> list[Check]:
    suffix = f"-{c.name}" if c.name else ""
    path: Path = ("checks", i)
    if c.kind in ("vjp", "hessian"):
        check_vector(c.cotangent, out_shape, (*path, "cotangent"))
    if c.kind == "jvp":
        for n in wrt:
            t = c.tangent.get(n, "zeros") if isinstance(c.tangent, dict) and set(c.tangent) != {
                "random"} else c.tangent
            check_vector(t, shapes[n], (*path, "tangent"))
    if c.kind == "jacobian":
        return [Check(f"jacobian-{m}{suffix}", "jacobian", wrt, mode=m, spec_index=i)
                for m in c.modes]
    if c.kind == "derivative":
        if len(wrt) != 1:
            raise CaseError("a derivative check differentiates one input; set its wrt",
                            (*path, "wrt"))
        cots = c.cotangents or ("ones",) * c.order
        if len(cots) != c.order:
            raise CaseError(f"order {c.order} needs {c.order} cotangents, got {len(cots)}",
                            (*path, "cotangents"))
        check_vector(cots[0], out_shape, (*path, "cotangents", 0))
        for k, v in enumerate(cots[1:], 1):
            check_vector(v, shapes[wrt[0]], (*path, "cotangents", k))
        return [Check(f"derivative-{c.order}{suffix}", "derivative", wrt, order=c.order,
                      cotangents=tuple(cots), spec_index=i)]
    kind_id = "rev-fwd" if c.kind == "rev_fwd" else c.kind
    return [Check(f"{kind_id}{suffix}", c.kind, wrt, cotangent=c.cotangent, tangent=c.tangent,
                  spec_index=i)]


def _probes(spec: CaseSpec, program: Program, out_shape: Shape) -> tuple[Probe, ...]:
    out = []
    for i, p in enumerate(spec.probes):
        path: Path = ("probes", i)
        for name in p.of:
            if name not in program.names:
                raise CaseError(f"probe reads intermediate '{name}', which the function "
                                "does not assign", (*path, "of"),
                                f"assigned: {', '.join(program.names) or 'none'}")
        if p.track is not None and p.track not in program.names:
            raise CaseError(f"probe tracks '{p.track}', which the function does not assign",
                            (*path, "track"))
        for name in (*p.parts, *([p.input] if p.input else [])):
            if name not in spec.inputs:
                raise CaseError(f"probe names '{name}', which is not an input", path)
        check_vector(p.cotangent, out_shape, (*path, "cotangent"))
        for k, step in enumerate(p.steps):
            if step != "zero":
                check_vector(step, out_shape, (*path, "steps", k))
        pid = f"probe-{p.name or p.kind.replace('_', '-')}"
        out.append(Probe(pid, p, i))
    if len({p.id for p in out}) != len(out):
        raise CaseError("two probes share an id", ("probes",), "name one of them")
    return tuple(out)


def result_shapes(check: Check, shapes: Mapping[str, Shape], out_shape: Shape,
                  named: Mapping[str, Shape] | None = None) -> dict[str, Shape]:
    """The arrays a check produces, by name: what observed, reference and golden hold.

    ``value`` also reports every named intermediate (``named``: name -> shape).
    """
    if check.kind == "value":
        return {"out": out_shape, **(named or {})}
    if check.kind == "jvp":
        return {"out": out_shape}
    if check.kind in ("vjp", "derivative"):
        return {n: shapes[n] for n in check.wrt}
    if check.kind in ("jacobian", "rev_fwd"):
        return {n: out_shape + shapes[n] for n in check.wrt}
    return {f"{a},{b}": shapes[a] + shapes[b] for a in check.wrt for b in check.wrt}


PROBE_GOLDEN_KEYS = ("message", "message_key", "framework", "values", "steps")


def _golden(spec: CaseSpec, checks: tuple[Check, ...], probes: tuple[Probe, ...],
            shapes: Mapping[str, Shape], out_shape: Shape,
            named: Mapping[str, Shape]) -> dict[str, Any]:
    """Golden numbers normalised to ``{name: array}`` per check, shapes checked."""
    by_id = {c.id: c for c in checks}
    probe_ids = {p.id for p in probes}
    out: dict[str, Any] = {}
    for key, raw in spec.golden.items():
        path: Path = ("golden", key)
        if key in probe_ids:
            if not isinstance(raw, dict) or set(raw) - set(PROBE_GOLDEN_KEYS):
                raise CaseError(f"probe golden takes the keys {', '.join(PROBE_GOLDEN_KEYS)}",
                                path)
            if "message" in raw and "framework" not in raw:
                raise CaseError("a golden message is one framework's wording: name it with "
                                "'framework'", path, "e.g. framework: torch")
            out[key] = raw
            continue
        if key not in by_id:
            raise CaseError(f"golden names check '{key}', which the case does not have", path,
                            f"check ids: {', '.join([*by_id, *sorted(probe_ids)])}")
        want = result_shapes(by_id[key], shapes, out_shape, named)
        arrays = raw if isinstance(raw, dict) else {next(iter(want)): raw}
        for name, value in arrays.items():
            if name not in want:
                raise CaseError(f"golden for '{key}' names '{name}'; expected {', '.join(want)}",
                                (*path, name))
            if isinstance(value, str | dict | bool):
                raise CaseError(f"golden '{key}' {name} is not a number or array of numbers",
                                (*path, name))
            try:
                materialize(value, want[name])
            except (ValueError, TypeError, OverflowError) as exc:
                raise CaseError(f"golden '{key}' {name} {exc}", (*path, name)) from None
        out[key] = arrays
    return out


def _check_divergences(spec: CaseSpec, ids: list[str]) -> None:
    for i, d in enumerate(spec.divergences):
        for dtype in d.dtypes or ():
            if dtype not in spec.dtypes:
                raise CaseError(f"divergence names dtype '{dtype}', which the case does not "
                                "run", ("divergences", i, "dtypes"),
                                f"the case's dtypes: {', '.join(spec.dtypes)}")
        for pattern in d.check:
            if not any(fnmatch.fnmatchcase(cid, pattern) for cid in ids):
                raise CaseError(f"divergence names check '{pattern}', which matches no check",
                                ("divergences", i, "check"), f"check ids: {', '.join(ids)}")
