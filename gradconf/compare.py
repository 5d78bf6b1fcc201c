"""The tolerance model and array comparison: observed vs oracle, observed vs golden.

An entry passes when ``|obs - ref| <= rtol·|ref| + atol·scale + oracle_factor·err``:
``rtol``/``atol`` come from the per-dtype table merged with the case's overrides,
``scale`` is the largest ``|ref|`` in that array (never its size: a tolerance that grows
with the number of entries hides errors), and ``err`` is the oracle's error estimate for
that entry. Golden numbers copied from the notes are compared to half a unit in their
last printed place (the notes print 4 decimals), plus the dtype's ``rtol``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from gradconf.schema import Tolerance

# Machine epsilon (spacing of numbers near 1) of each float dtype.
EPSILON = {"float64": 2.0 ** -52, "float32": 2.0 ** -23, "float16": 2.0 ** -10,
           "bfloat16": 2.0 ** -7}
ULPS = 16             # allowed error in units of the dtype's epsilon
ORACLE_FLOOR = 1e-9   # below this, the float64 oracle's own accuracy decides, not the dtype
ORACLE_FACTOR = 4.0   # multiples of the oracle's error estimate allowed on top


def _from_dtype(dtype: str) -> Tolerance:
    """``rtol`` and ``atol`` (the latter times the array's largest |reference|) of
    ULPS epsilons of the dtype, floored at ORACLE_FLOOR. Measured on the shipped cases,
    every framework stays within 3 epsilons of each dtype at the array's scale."""
    t = max(ULPS * EPSILON[dtype], ORACLE_FLOOR)
    return Tolerance(rtol=t, atol=t, oracle_factor=ORACLE_FACTOR)


DTYPE_TOLERANCE: dict[str, Tolerance] = {d: _from_dtype(d) for d in EPSILON}
# a complex dtype's parts are floats of its real counterpart's precision
DTYPE_TOLERANCE.update({"complex64": DTYPE_TOLERANCE["float32"],
                        "complex128": DTYPE_TOLERANCE["float64"]})
PRINTED_DECIMALS = 4  # torch prints tensors with 4 decimals


def tolerance_for(dtype: str, overrides: Mapping[str, Tolerance]) -> dict[str, float]:
    """The per-dtype tolerance with the case's override for that dtype merged over it."""
    merged = DTYPE_TOLERANCE[dtype].model_dump()
    if dtype in overrides:
        merged.update({k: v for k, v in overrides[dtype].model_dump().items() if v is not None})
    return {k: float(v) for k, v in merged.items()}


@dataclass(frozen=True)
class Comparison:
    """How one set of observed arrays compares with its reference arrays."""

    ok: bool
    reason: str                      # "" when ok; otherwise what failed, in a sentence
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    worst: dict[str, Any] | None = None
    nonfinite: str | None = None     # "nan" or "inf" when the observed value has them


def compare(observed: Mapping[str, np.ndarray], reference: Mapping[str, np.ndarray],
            errors: Mapping[str, np.ndarray], tol: Mapping[str, float]) -> Comparison:
    """Compare arrays name by name; the worst entry is the one furthest past its bound."""
    max_abs = max_rel = 0.0
    worst: dict[str, Any] | None = None
    worst_ratio = -1.0
    for name, ref in reference.items():
        if name not in observed:
            return Comparison(False, f"no result for '{name}'")
        obs = np.asarray(observed[name], dtype=np.float64)
        ref = np.asarray(ref, dtype=np.float64)
        if obs.shape != ref.shape:
            return Comparison(False, f"{name}: shape {obs.shape}, but should be {ref.shape}")
        bad = _nonfinite(obs, ref)
        if bad:
            return Comparison(False, f"{name}: {bad} where the reference is finite",
                              nonfinite=bad)
        finite = np.isfinite(ref)
        if not finite.any():
            continue  # nothing to compare: a golden the note did not print, or no limit
        bound = entry_bound(ref, tol, np.asarray(errors.get(name, np.zeros_like(ref))))
        with np.errstate(all="ignore"):
            diff = np.where(finite, np.abs(obs - ref), 0.0)
            ratio = np.where(finite, diff / np.maximum(bound, 1e-300), -1.0)
            rel = diff / np.maximum(np.abs(np.where(finite, ref, 1.0)), 1e-300)
        max_abs = max(max_abs, float(diff.max()))
        max_rel = max(max_rel, float(rel.max()))
        i = int(np.argmax(ratio))
        if float(ratio.reshape(-1)[i]) > worst_ratio:
            worst_ratio = float(ratio.reshape(-1)[i])
            idx = list(np.unravel_index(i, ref.shape)) if ref.shape else []
            worst = {"name": name, "index": [int(k) for k in idx],
                     "observed": float(obs.reshape(-1)[i]), "reference": float(ref.reshape(-1)[i]),
                     "bound": float(bound.reshape(-1)[i])}
    ok = worst_ratio <= 1.0
    reason = "" if ok else _explain(worst)
    return Comparison(ok, reason, max_abs, max_rel, worst)


def entry_bound(ref: np.ndarray, tol: Mapping[str, float],
                err: np.ndarray | None = None) -> np.ndarray:
    """Each entry's allowed |obs - ref| (the module's formula); inf where ref is not finite."""
    if err is None:
        err = np.zeros_like(ref)
    finite = np.isfinite(ref)
    scale = float(np.abs(ref[finite]).max()) if finite.any() else 0.0
    tiny = np.finfo(np.float64).tiny * 16
    return np.where(finite, tol["rtol"] * np.abs(np.where(finite, ref, 0.0)) + tol["atol"] * scale
                    + tol.get("oracle_factor", 0.0) * np.where(np.isfinite(err), err, 0.0)
                    + tiny, np.inf)


def _nonfinite(obs: np.ndarray, ref: np.ndarray) -> str | None:
    finite_ref = np.isfinite(ref)
    if np.any(np.isnan(obs) & finite_ref):
        return "nan"
    if np.any(np.isinf(obs) & finite_ref):
        return "inf"
    return None


def _explain(worst: dict[str, Any] | None) -> str:
    if worst is None:
        return "no entries compared"
    where = f"{worst['name']}{worst['index']}" if worst["index"] else worst["name"]
    return (f"{where}: {worst['observed']:.10g}, but should be {worst['reference']:.10g} "
            f"(|diff| {abs(worst['observed'] - worst['reference']):.3g} > bound "
            f"{worst['bound']:.3g})")


def golden_bound(golden: np.ndarray, decimals: np.ndarray, rtol: float,
                 atol: float | None) -> np.ndarray:
    """Half a unit in the last printed place (at least 4 decimals), plus ``rtol``."""
    printed = 0.5 * 10.0 ** (-np.maximum(decimals, PRINTED_DECIMALS))
    return (printed if atol is None else atol) + rtol * np.abs(golden)


def decimals_of(values: Any) -> np.ndarray:
    """Decimals each YAML number was written with (``0.4851`` → 4, ``96`` → 0)."""
    arr = np.asarray(values, dtype=object)
    def one(v: Any) -> int:
        if v is None:
            return 0
        text = repr(float(v)) if not isinstance(v, int) else str(v)
        if "e" in text or "E" in text:
            mant, exp = text.lower().split("e")
            frac = len(mant.split(".")[1]) if "." in mant else 0
            return max(frac - int(exp), 0)
        return len(text.split(".")[1].rstrip("0")) if "." in text else 0
    return np.vectorize(one, otypes=[int])(arr) if arr.shape else np.asarray(one(arr.item()))


def compare_golden(observed: Mapping[str, np.ndarray], golden: Mapping[str, Any], rtol: float,
                   atol: float | None) -> Comparison:
    """Compare observed arrays with the note's printed numbers."""
    refs = {k: np.asarray(v, dtype=np.float64) for k, v in golden.items()}
    bounds = {k: golden_bound(refs[k], decimals_of(golden[k]).reshape(refs[k].shape), rtol, atol)
              for k in refs}
    tol = {"rtol": 0.0, "atol": 0.0, "oracle_factor": 1.0}
    return compare(observed, refs, bounds, tol)
