"""Precision-faithful references: the case's computation in the run dtype itself.

The oracle works in float64. In a float32, float16 or bfloat16 run, a framework that
follows IEEE arithmetic of that dtype can be far from the float64 value for reasons that
are the case's, not the framework's: ``(x + 1e8) - 1e8`` in float32 is 0 for x = 3,
because x + 1e8 rounds to 1e8 before anything is subtracted. So when a value check misses
the float64 reference, the same computation is evaluated with NumPy in the run dtype
(inputs of that dtype, every op in it, Python literals adopting it as NumPy 2 does). A
result within the dtype's tolerance of that evaluation gets the verdict ``precision``:
the case forces the rounding, every IEEE implementation meets it, and the record keeps
both references. A result off from both still fails.

Derivative checks have no same-precision evaluation in NumPy (the oracle differentiates
numerically, in float64); they are judged against the float64 reference alone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from gradconf.arrays import as_dtype, pairs
from gradconf.case import Case
from gradconf.compare import Comparison, compare
from gradconf.expr import evaluate
from gradconf.ops import NUMPY_LOWERING

LOW = ("float32", "float16", "bfloat16", "complex64")


def same_precision(case: Case, dtype: str) -> dict[str, np.ndarray]:
    """The forward value (``out``) and named intermediates, every op in the run dtypes;
    as float64 (complex: real pairs) for comparison."""
    env = {n: as_dtype(v, case.dtype_of(n, dtype)) for n, v in case.point(dtype).items()}
    with np.errstate(all="ignore"):
        out, named = evaluate(case.program, env, NUMPY_LOWERING)
    return {n: np.asarray(pairs(np.asarray(a)), dtype=np.float64)
            for n, a in {"out": out, **named}.items()}


def judge(case: Case, dtype: str, observed: dict[str, Any],
          tol: dict[str, float]) -> tuple[Comparison, dict[str, np.ndarray]] | None:
    """For a value check that missed the float64 reference in a low-precision run: the
    comparison with the same computation in the run dtype, and that evaluation."""
    if dtype not in LOW:
        return None
    try:
        ref = same_precision(case, dtype)
    except Exception:  # an op NumPy cannot run in this dtype: no second reference
        return None
    ref = {n: a for n, a in ref.items() if n in observed}
    zeros = {n: np.zeros_like(a) for n, a in ref.items()}
    return compare(observed, ref, zeros, tol), ref
