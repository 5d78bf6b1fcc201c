"""Test-only adapters that break PyTorch on purpose, run with ``--framework tests...:Class``.

They show that the suite notices wrong derivatives and broken API behaviour: a check that
passes on a perturbed framework could not fail on a real one.
"""

from __future__ import annotations

import ctypes
import os
import signal
import time
import warnings
from collections.abc import Mapping

import numpy as np

from gradconf.adapter import ProbeInputs, ProbeResult
from gradconf.expr import Program
from gradconf.schema import ProbeSpec
from gradconf_adapters.torch_adapter import TorchAdapter

EPSILON = 1e-6  # relative error injected into reverse-mode results


class PerturbedVjp(TorchAdapter):
    """PyTorch with every reverse-mode gradient scaled by (1 + EPSILON)."""

    name = "torch_perturbed"

    def vjp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """The true vjp, off by a relative EPSILON in every entry."""
        out = super().vjp(prog, env, wrt, cotangent)
        return {n: (g * (1 + EPSILON)).astype(g.dtype) for n, g in out.items()}


class UpgradedTorch(TorchAdapter):
    """A hypothetical next PyTorch release, as ``gradconf diff`` sees it: it keeps the name
    ``torch``, its reverse mode is off by a relative EPSILON (a regression in float64, inside
    float32's tolerance) and now warns that it is deprecated (a change of behaviour)."""

    def version(self) -> str:
        """The installed version, marked as the upgrade."""
        return super().version() + "+upgrade"

    def vjp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """A deprecation warning, then the true vjp off by a relative EPSILON."""
        warnings.warn("this reverse-mode entry point is deprecated", DeprecationWarning,
                      stacklevel=2)
        out = super().vjp(prog, env, wrt, cotangent)
        return {n: (g * (1 + EPSILON)).astype(g.dtype) for n, g in out.items()}


class BrokenBuildTorch(TorchAdapter):
    """A broken build of the pinned PyTorch, as ``gradconf gate`` sees it: same name and
    version (so the committed baseline of that version is the one it is gated against),
    every reverse-mode gradient off by a relative EPSILON."""

    def vjp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """The true vjp, off by a relative EPSILON in every entry."""
        out = super().vjp(prog, env, wrt, cotangent)
        return {n: (g * (1 + EPSILON)).astype(g.dtype) for n, g in out.items()}


class SwallowsErrors(TorchAdapter):
    """PyTorch whose second backward pass silently succeeds (as if it retained the graph)."""

    name = "torch_swallows"

    def probe(self, spec: ProbeSpec, prog: Program, env: Mapping[str, np.ndarray],
              wrt: tuple[str, ...], vectors: ProbeInputs) -> ProbeResult:
        """Run every probe as if ``retain`` were set."""
        if spec.kind == "second_pass":
            spec = spec.model_copy(update={"retain": True})
        return super().probe(spec, prog, env, wrt, vectors)


class Raises(TorchAdapter):
    """PyTorch whose forward mode raises inside the framework call."""

    name = "torch_raises"

    def jvp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            tangents: Mapping[str, np.ndarray]) -> np.ndarray:
        """Fail the way a framework bug would."""
        raise RuntimeError("injected failure in forward mode")


class SlowHessian(TorchAdapter):
    """PyTorch whose Hessian never returns for functions of an input named ``hang``."""

    name = "torch_slow"

    def hessian(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
                cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """Sleep far longer than any timeout (a hang inside the framework call)."""
        if "hang" in prog.sources:
            time.sleep(3600)
        return super().hessian(prog, env, wrt, cotangent)


def _segfault() -> None:
    ctypes.string_at(0)  # reads address 0: SIGSEGV


def _native_hang() -> None:
    # block the alarm signal pytest-timeout relies on, then sleep in C: no signal gets in
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    ctypes.CDLL(None).sleep(3600)


def _memory_blowup() -> None:
    hoard = []
    for _ in range(200):  # up to ~40 GB, far beyond any limit a test sets
        hoard.append(np.ones(25_000_000))  # 200 MB, touched


def _spin() -> None:
    while True:
        pass


FAULTS = {"segfault": _segfault, "abort": os.abort, "spin": _spin,
          "native_hang": _native_hang, "memory": _memory_blowup}


class Faults(TorchAdapter):
    """PyTorch whose reverse mode fails hard when the case reads an input named after a fault:
    ``segfault``, ``abort``, ``spin`` (a Python loop), ``native_hang`` (a hang in C that
    ignores signals) or ``memory`` (allocates without bound)."""

    name = "torch_faults"

    def vjp(self, prog: Program, env: Mapping[str, np.ndarray], wrt: tuple[str, ...],
            cotangent: np.ndarray) -> dict[str, np.ndarray]:
        """Fault if asked to; otherwise the true vjp."""
        for name in prog.sources:
            if name in FAULTS:
                FAULTS[name]()
        return super().vjp(prog, env, wrt, cotangent)
