"""Dtype names shared by cases, adapters and reports, and the JSON form of arrays."""

from __future__ import annotations

import math
from typing import Any

import ml_dtypes
import numpy as np

FLOAT_DTYPES = ("float16", "bfloat16", "float32", "float64")
COMPLEX_DTYPES = ("complex64", "complex128")
RUN_DTYPES = FLOAT_DTYPES + COMPLEX_DTYPES
INT_DTYPES = ("int32", "int64")
DTYPES = RUN_DTYPES + INT_DTYPES
REAL_OF = {"complex64": "float32", "complex128": "float64"}

# bfloat16 is ml_dtypes' NumPy dtype (JAX and TensorFlow use the same one)
_NUMPY = {"float16": np.float16, "bfloat16": ml_dtypes.bfloat16, "float32": np.float32,
          "float64": np.float64, "int32": np.int32, "int64": np.int64,
          "complex64": np.complex64, "complex128": np.complex128}

MAX_ENCODED = 4096  # entries written to JSON per array; larger arrays keep a summary


def is_float(dtype: str) -> bool:
    """True for the floating dtypes a framework can differentiate."""
    return dtype in FLOAT_DTYPES


def is_complex(dtype: str) -> bool:
    """True for complex64 and complex128."""
    return dtype in COMPLEX_DTYPES


def pairs(arr: Any) -> np.ndarray:
    """A complex array as real pairs: a trailing axis of 2 holding (real, imaginary); a real
    array unchanged. Oracle, comparison and records see complex values this way."""
    a = np.asarray(arr)
    if not np.iscomplexobj(a):
        return a
    return np.stack([a.real, a.imag], axis=-1)


def round_to(values: Any, dtype: str) -> np.ndarray:
    """``values`` rounded to ``dtype`` and returned as float64 (int64 for integer dtypes,
    complex128 for complex ones).

    This is the point the oracle differentiates at: the exact value a framework sees.
    """
    if is_complex(dtype):
        return np.asarray(values, dtype=np.complex128).astype(_NUMPY[dtype]).astype(
            np.complex128)
    arr = np.asarray(values, dtype=np.float64)
    if dtype in INT_DTYPES:
        return arr.astype(_NUMPY[dtype]).astype(np.int64)
    if _NUMPY[dtype] == np.float64:
        return arr.copy() if arr is values else arr
    return arr.astype(_NUMPY[dtype]).astype(np.float64)


def as_dtype(values: Any, dtype: str) -> np.ndarray:
    """``values`` as a NumPy array of ``dtype`` (bfloat16: ``ml_dtypes.bfloat16``)."""
    return np.asarray(values).astype(_NUMPY[dtype])


def result_dtype(dtypes: list[str]) -> str:
    """The dtype a framework's type promotion gives for ``dtypes`` (float and complex)."""
    if any(is_complex(d) for d in dtypes):
        wide = any(d in ("complex128", "float64") for d in dtypes)
        return "complex128" if wide else "complex64"
    floats = [d for d in dtypes if is_float(d)]
    if not floats:
        return "float32"
    order = {"float16": 0, "bfloat16": 0, "float32": 1, "float64": 2}
    best = max(floats, key=order.__getitem__)
    if best in ("float16", "bfloat16") and len(set(floats)) > 1:
        return "float32"
    return best


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float, however deep, as :func:`json_number` writes it."""
    if isinstance(value, float):
        return json_number(value)
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def json_number(x: float) -> float | str:
    """A float for strict JSON: non-finite values become the strings NaN, Infinity,
    -Infinity."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    return float(x)


def encode(arr: Any, dtype: str | None = None) -> dict[str, Any]:
    """JSON form of an array: shape, dtype, row-major data (NaN/inf as strings).

    Arrays above :data:`MAX_ENCODED` entries keep their first entries and a summary.
    """
    a = np.asarray(arr)
    flat = a.astype(np.float64).reshape(-1)
    out: dict[str, Any] = {"shape": list(a.shape), "dtype": dtype or str(a.dtype),
                           "data": [json_number(v) for v in flat[:MAX_ENCODED]]}
    if flat.size > MAX_ENCODED:
        finite = flat[np.isfinite(flat)]
        out["truncated"] = True
        out["summary"] = {"min": json_number(finite.min()) if finite.size else None,
                          "max": json_number(finite.max()) if finite.size else None,
                          "nonfinite": int(flat.size - finite.size)}
    return out


def decode(obj: dict[str, Any]) -> np.ndarray:
    """Inverse of :func:`encode` for untruncated arrays (float64)."""
    data = [float(v) if isinstance(v, str) else v for v in obj["data"]]
    return np.asarray(data, dtype=np.float64).reshape(obj["shape"])
