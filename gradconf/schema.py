"""The case file schema, as pydantic models. ``cases/README.md`` documents each field.

These models check the form of a case (types, required fields, allowed names). What needs
the whole case at once (names resolve, shapes agree, golden keys name checks) is checked
by :mod:`gradconf.case` after this.
"""

from __future__ import annotations

import fnmatch
import re
from typing import Any, Literal
from urllib.parse import urlsplit

from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from gradconf.arrays import DTYPES, RUN_DTYPES
from gradconf.kinds import ERROR_KINDS, OUTCOMES, PROBE_KINDS, WARNING_KINDS

SLUG = r"^[a-z0-9][a-z0-9-]*$"
CHECK_KINDS = ("value", "vjp", "jvp", "jacobian", "hessian", "derivative", "rev_fwd")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Source(_Strict):
    """Where the case comes from: the note file and the section in it."""

    note: str
    section: str


class ArraySpec(_Strict):
    """An input or constant: a literal ``value`` or a ``shape`` with a seeded ``init``."""

    value: Any = None
    imag: Any = None     # a literal's imaginary part (complex runs), shaped like value
    shape: tuple[int, ...] | None = None
    init: Literal["normal", "uniform", "ones", "zeros"] | None = None
    seed: int = Field(default=0, ge=0)
    low: float = Field(default=-1.0, allow_inf_nan=False)
    high: float = Field(default=1.0, allow_inf_nan=False)
    scale: float = Field(default=1.0, allow_inf_nan=False)
    dtype: str | None = None

    @field_validator("shape")
    @classmethod
    def _shape(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is not None and any(n < 1 for n in v):
            raise ValueError(f"shape {list(v)}: every axis needs a length of at least 1")
        return v

    @field_validator("dtype")
    @classmethod
    def _dtype(cls, v: str | None) -> str | None:
        if v is not None and v not in DTYPES:
            raise ValueError(f"unknown dtype {v!r}; known: {', '.join(DTYPES)}")
        return v

    @model_validator(mode="after")
    def _one_source(self) -> ArraySpec:
        if (self.value is None) == (self.shape is None):
            raise ValueError("give either value or shape (with init), not both or neither")
        if self.imag is not None and self.value is None:
            raise ValueError("imag is the imaginary part of a literal value: give value too")
        if self.shape is not None and self.init is None:
            raise ValueError("a shape needs an init: normal, uniform, ones or zeros")
        if self.low > self.high:
            raise ValueError(f"low {self.low} is above high {self.high}")
        return self


def _array_spec(v: Any) -> Any:
    return v if isinstance(v, dict) else {"value": v}


class CheckSpec(_Strict):
    """One derivative check. ``name`` distinguishes checks of one kind in a case."""

    kind: Literal["value", "vjp", "jvp", "jacobian", "hessian", "derivative", "rev_fwd"]
    name: str | None = Field(default=None, pattern=SLUG)
    cotangent: Any = "ones"
    tangent: Any = "ones"
    modes: tuple[Literal["rev", "fwd", "loop"], ...] = ("rev", "fwd", "loop")
    order: int = Field(default=2, ge=1, le=4)
    cotangents: tuple[Any, ...] | None = None
    wrt: tuple[str, ...] | None = None

    @field_validator("wrt", mode="before")
    @classmethod
    def _wrt(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


class Expect(_Strict):
    """The neutral expectation for a probe."""

    outcome: Literal["value", "absent", "error", "not_applicable"]
    error_kind: str | None = None
    warning_kinds: tuple[str, ...] = ()
    accumulates: bool | None = None

    @model_validator(mode="after")
    def _kinds(self) -> Expect:
        assert self.outcome in OUTCOMES
        if self.error_kind is not None and self.error_kind not in ERROR_KINDS:
            raise ValueError(f"unknown error_kind {self.error_kind!r}; known: "
                             + ", ".join(ERROR_KINDS))
        if (self.outcome == "error") != (self.error_kind is not None):
            raise ValueError("error_kind is given exactly when outcome is error")
        for w in self.warning_kinds:
            if w not in WARNING_KINDS:
                raise ValueError(f"unknown warning kind {w!r}; known: " + ", ".join(WARNING_KINDS))
        return self


class ProbeSpec(_Strict):
    """One API-semantics probe (see :data:`gradconf.kinds.PROBE_KINDS`)."""

    kind: str
    name: str | None = Field(default=None, pattern=SLUG)
    expect: Expect
    cotangent: Any = "ones"
    retain: bool = False
    steps: tuple[Any, ...] = ()
    of: tuple[str, ...] = ()
    track: str | None = None
    parts: tuple[str, ...] = ()
    input: str | None = None
    allow_unused: bool = False

    @field_validator("kind")
    @classmethod
    def _kind(cls, v: str) -> str:
        if v not in PROBE_KINDS:
            raise ValueError(f"unknown probe kind {v!r}; known: {', '.join(PROBE_KINDS)}")
        return v

    @field_validator("of", "parts", mode="before")
    @classmethod
    def _names(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v


# An outside link as the reports write it: http(s), then nothing that could end an HTML
# attribute, a Markdown link destination or a code span (results.schema.json has the same).
LINK_PATTERN = re.compile(r"https?://[^\s\"'<>`\\\x00-\x1f\x7f-\x9f]+")


def safe_link(url: object) -> bool:
    """Whether ``url`` may be written as a link in a report: an http or https URL with a
    host and no whitespace, control characters, quotes, angle brackets, backtick or
    backslash."""
    if not isinstance(url, str) or not LINK_PATTERN.fullmatch(url):
        return False
    try:
        return bool(urlsplit(url).hostname)
    except ValueError:
        return False


DIVERGENCE_KINDS = {
    "bug": "the framework disagrees with calculus where calculus has one answer",
    "convention": "a documented choice where calculus leaves one open (a kink, a gauge)",
    "api": "a documented API difference (what a call returns, refuses or stores)",
    "unsupported": "the framework cannot express the op or check",
}


class Divergence(_Strict):
    """A documented difference of one framework from the neutral expectation: its kind,
    the framework versions it was seen on (a PEP 440 range such as ``">=2.21,<2.22"``;
    outside it the divergence is not applied), why, and a link."""

    framework: str = Field(pattern=r"^[a-z0-9_]+$")
    kind: Literal["bug", "convention", "api", "unsupported"]
    versions: str
    check: tuple[str, ...]   # check ids or globs; one string is accepted
    reason: str = Field(min_length=10)
    link: str
    dtypes: tuple[str, ...] | None = None
    # eager or compiled execution only (None: both); a compiler's own bug is "compiled"
    execution: Literal["eager", "compiled"] | None = None

    @field_validator("versions")
    @classmethod
    def _versions(cls, v: str) -> str:
        try:
            SpecifierSet(v)
        except InvalidSpecifier:
            raise ValueError(f"versions {v!r} is not a PEP 440 version range; write e.g. "
                             "'>=2.21' or '>=2.21,<2.22'") from None
        if not v.strip():
            raise ValueError("versions needs a range, e.g. '>=2.21'")
        return v

    def applies_to(self, version: str) -> bool:
        """Whether a framework at ``version`` lies in the declared range (pre-releases and
        local builds such as ``2.13.0+cpu`` or ``2.22.0.dev20251120`` included)."""
        try:
            parsed = Version(version)
        except InvalidVersion:
            return True  # a version string PEP 440 cannot read: the declaration stands
        return SpecifierSet(self.versions).contains(parsed, prereleases=True)

    @field_validator("check", mode="before")
    @classmethod
    def _checks(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("link")
    @classmethod
    def _link(cls, v: str) -> str:
        if not safe_link(v):
            raise ValueError("link must be an http(s) URL with a host and no spaces, quotes, "
                             "angle brackets, backticks or backslashes")
        return v

    def covers(self, check_id: str) -> bool:
        """Whether ``check_id`` matches one of the ids or globs."""
        return any(fnmatch.fnmatchcase(check_id, pattern) for pattern in self.check)


class Tolerance(_Strict):
    """Per-case tolerance overrides, merged over the per-dtype table."""

    rtol: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    atol: float | None = Field(default=None, ge=0, allow_inf_nan=False)
    oracle_factor: float | None = Field(default=None, ge=0, allow_inf_nan=False)


class CaseSpec(_Strict):
    """A case as written in YAML."""

    id: str = Field(pattern=SLUG, max_length=80)
    title: str = Field(min_length=1)
    source: Source
    inputs: dict[str, ArraySpec]
    constants: dict[str, ArraySpec] = {}
    function: str = Field(min_length=1)
    wrt: tuple[str, ...] | None = None
    dtypes: tuple[str, ...] = ("float32", "float64")
    checks: tuple[CheckSpec, ...] = ()
    probes: tuple[ProbeSpec, ...] = ()
    golden: dict[str, Any] = {}
    derivation: str | None = None
    tolerance: dict[str, Tolerance] = {}
    divergences: tuple[Divergence, ...] = ()
    fast: bool | None = None

    @field_validator("inputs", "constants", mode="before")
    @classmethod
    def _arrays(cls, v: Any) -> Any:
        return {k: _array_spec(x) for k, x in v.items()} if isinstance(v, dict) else v

    @field_validator("wrt", mode="before")
    @classmethod
    def _wrt(cls, v: Any) -> Any:
        return (v,) if isinstance(v, str) else v

    @field_validator("inputs")
    @classmethod
    def _some_input(cls, v: dict[str, ArraySpec]) -> dict[str, ArraySpec]:
        if not v:
            raise ValueError("a case needs at least one input: what would it differentiate?")
        return v

    @field_validator("dtypes")
    @classmethod
    def _dtypes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        for d in v:
            if d not in RUN_DTYPES:
                raise ValueError(f"unknown run dtype {d!r}; known: {', '.join(RUN_DTYPES)}")
        if not v:
            raise ValueError("dtypes needs at least one entry")
        return v

    @field_validator("checks", mode="before")
    @classmethod
    def _checks(cls, v: Any) -> Any:
        """Accept ``- vjp`` and ``- vjp: {cotangent: random}`` as well as full mappings."""
        if not isinstance(v, list):
            return v
        out = []
        for item in v:
            if isinstance(item, str):
                out.append({"kind": item})
            elif isinstance(item, dict) and len(item) == 1 and "kind" not in item:
                (kind, params), = item.items()
                if params is not None and not isinstance(params, dict):
                    raise ValueError(f"check '{kind}' takes a mapping of parameters, "
                                     f"e.g. '- {kind}: {{name: ...}}'")
                out.append({"kind": kind, **(params or {})})
            else:
                out.append(item)
        return out

    @field_validator("tolerance")
    @classmethod
    def _tolerance(cls, v: dict[str, Tolerance]) -> dict[str, Tolerance]:
        for key in v:
            if key not in (*RUN_DTYPES, "golden"):
                raise ValueError(f"tolerance keys are dtypes or 'golden', not {key!r}")
        return v


class FileSpec(BaseModel):
    """A case file: an optional topic line and a list of cases."""

    model_config = ConfigDict(extra="forbid")
    topic: str | None = None
    cases: list[Any]
