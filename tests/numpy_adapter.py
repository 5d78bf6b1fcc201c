"""A framework-free adapter for the suite's own tests: NumPy values, central differences.

It lets a test push any case the loader accepts through the whole engine (points,
cotangents, the oracle, the comparison, the record) without importing a framework. Its
derivatives are plain central differences, so its verdicts mean nothing; what it shows is
that the engine judges every accepted case without an error of its own.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from gradconf.adapter import Adapter, Unsupported
from gradconf.expr import Program, evaluate
from gradconf.ops import NUMPY_LOWERING

STEP = 1e-6


def _f(prog: Program, env: Mapping[str, np.ndarray]) -> np.ndarray:
    with np.errstate(all="ignore"):
        out, _ = evaluate(prog, {n: np.asarray(v, dtype=np.float64) for n, v in env.items()},
                          NUMPY_LOWERING)
    return np.asarray(out, dtype=np.float64)


class NumpyDifferences(Adapter):
    """Values by NumPy, derivatives by central differences of the NumPy evaluation."""

    name = "numpy_differences"

    def version(self) -> str:
        """NumPy's version."""
        return np.__version__

    def value(self, prog: Program, env: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The output (named intermediates are not reported)."""
        return {"out": _f(prog, env)}

    def _partials(self, prog: Program, env: Mapping[str, np.ndarray],
                  name: str) -> np.ndarray:
        """d out / d name, shape out_shape + in_shape."""
        base = np.asarray(env[name], dtype=np.float64)
        out_shape = _f(prog, env).shape
        cols = []
        for i in range(base.size):
            step = np.zeros(base.size)
            step[i] = STEP
            hi = _f(prog, {**env, name: base + step.reshape(base.shape)})
            lo = _f(prog, {**env, name: base - step.reshape(base.shape)})
            cols.append(((hi - lo) / (2 * STEP)).reshape(-1))
        jac = np.stack(cols, axis=-1) if cols else np.zeros((int(np.prod(out_shape)), 0))
        return jac.reshape(out_shape + base.shape)

    def vjp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """``Jᵀ v`` per input, from the differenced Jacobian."""
        cot = np.asarray(cotangent, dtype=np.float64)
        out = {}
        for n in wrt:
            jac = self._partials(prog, env, n)
            g = np.tensordot(cot, jac, axes=cot.ndim)
            out[n] = np.asarray(g).astype(np.asarray(env[n]).dtype)
        return out

    def jvp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        """``J u`` summed over inputs."""
        total = None
        for n in wrt:
            jac = self._partials(prog, env, n)
            t = np.asarray(tangents[n], dtype=np.float64)
            part = np.tensordot(jac, t, axes=t.ndim) if t.ndim else jac * t
            total = part if total is None else total + part
        if total is None:
            raise Unsupported("jvp with nothing to differentiate")
        return np.asarray(total)

    def jacobian(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
                 mode: str) -> dict[str, np.ndarray]:
        """The differenced Jacobian, whatever the mode."""
        return {n: self._partials(prog, env, n) for n in wrt}
