"""Compiled execution runs in a process of its own: a compiler that crashes, hangs or leaves
state behind costs the item that caused it, never the eager checks of the same run."""

from __future__ import annotations

import ctypes
import mmap
import os
import time
import warnings
from pathlib import Path

import numpy as np

from gradconf import isolation
from gradconf.runner import compiled_twin, run_check
from helpers import SQUARE_SUM, one_case
from numpy_adapter import NumpyDifferences

CASE = SQUARE_SUM

POISONED = False  # set by a compiled check in whichever process runs it
MAPS: list[mmap.mmap] = []  # memory maps held by the process that made them


class Misbehaves(NumpyDifferences):
    """A pretend compiler whose compiled vjp does what its environment variable asks."""

    name = "misbehaves"
    compiler = "pretend.jit"

    def vjp(self, prog, env, wrt, cotangent):
        global POISONED
        if POISONED:
            raise RuntimeError("grad mode was left off by an earlier compile")
        if self.execution == "compiled":
            what = os.environ.get("MISBEHAVE", "")
            if what == "segfault":
                ctypes.string_at(0)
            if what == "hang":
                time.sleep(60)
            if what == "poison":
                POISONED = True
            if what == "warn":
                warnings.warn("pretend.jit: this backward is deprecated", DeprecationWarning,
                              stacklevel=2)
            if what == "maps" and not MAPS:
                # hold half the kernel's limit of memory maps, as thousands of compiled
                # functions do (alternating protections, so the kernel cannot merge them)
                limit = int(Path("/proc/sys/vm/max_map_count").read_text())
                for i in range(int(limit * isolation.WORN_SHARE) + 100):
                    MAPS.append(mmap.mmap(-1, 4096, prot=mmap.PROT_READ if i % 2 else
                                          mmap.PROT_READ | mmap.PROT_WRITE))
            if what in ("pid", "maps"):
                return {"x": np.full(3, float(os.getpid()))}
        return super().vjp(prog, env, wrt, cotangent)


class FreshAfterError(Misbehaves):
    """Its compiled value raises; its compiler may leave state behind when it does."""

    name = "fresh_after_error"
    compiled_fresh_after_error = True

    def value(self, prog, env):
        if self.execution == "compiled":
            raise RuntimeError("pretend.jit: lowering failed half way")
        return super().value(prog, env)


class LeavesState(NumpyDifferences):
    """A compiled vjp that returns its pid and leaves its process changed."""

    name = "leaves_state"
    compiler = "pretend.jit"
    left = False

    def vjp(self, prog, env, wrt, cotangent):
        if self.execution == "compiled":
            type(self).left = True
            return {"x": np.full(3, float(os.getpid()))}
        return super().vjp(prog, env, wrt, cotangent)

    def leftover_state(self):
        return "grad mode off" if type(self).left else None


def _case(tmp_path: Path, body: str = CASE):
    return one_case(tmp_path, body)


def _vjp(case, adapter, execution="compiled"):
    check = next(c for c in case.checks if c.kind == "vjp")
    return run_check(case, check, "float64", adapter, "1", execution=execution, repeat=1)


def test_the_compiled_twin_runs_in_another_process_and_is_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("MISBEHAVE", "pid")
    case, adapter = _case(tmp_path), Misbehaves()
    first = _vjp(case, adapter)
    assert first["observed"]["x"]["data"][0] not in (0, os.getpid())
    again = _vjp(case, adapter)
    assert again["observed"] == first["observed"]  # the same child, kept
    assert compiled_twin(adapter) is compiled_twin(adapter)


def test_a_compiler_that_leaves_state_behind_leaves_it_in_its_own_process(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("MISBEHAVE", "poison")
    case, adapter = _case(tmp_path), Misbehaves()
    assert _vjp(case, adapter)["verdict"] == "pass"  # it poisons the child only
    assert _vjp(case, adapter, "eager")["verdict"] == "pass"
    assert POISONED is False


def test_a_compiler_that_crashes_is_a_located_crash_and_the_next_check_runs(tmp_path,
                                                                           monkeypatch):
    case, adapter = _case(tmp_path), Misbehaves()
    monkeypatch.setenv("MISBEHAVE", "segfault")
    # the child reads the variable per call, so a child started now segfaults
    crashed = _vjp(case, adapter)
    assert crashed["verdict"] == "crash" and crashed["execution"] == "compiled"
    assert "SIGSEGV" in crashed["message"] and crashed["case"] == "square-sum"
    assert _vjp(case, adapter, "eager")["verdict"] == "pass"
    monkeypatch.setenv("MISBEHAVE", "")
    # the environment of a restarted child is the parent's at restart
    assert _vjp(case, adapter)["verdict"] == "pass"


def test_a_compiler_that_hangs_is_stopped_and_a_timeout(tmp_path, monkeypatch):
    case, adapter = _case(tmp_path), Misbehaves()
    monkeypatch.setenv("MISBEHAVE", "hang")
    monkeypatch.setattr(isolation, "CALL_TIMEOUT_S", 3.0)
    t0 = time.perf_counter()
    hung = _vjp(case, adapter)
    assert time.perf_counter() - t0 < 30
    assert hung["verdict"] == "timeout" and "within 3 s" in hung["message"]
    monkeypatch.setenv("MISBEHAVE", "")
    assert _vjp(case, adapter)["verdict"] == "pass"


def test_warnings_of_the_compiled_process_reach_the_record(tmp_path, monkeypatch):
    monkeypatch.setenv("MISBEHAVE", "warn")
    rec = _vjp(_case(tmp_path), Misbehaves())
    assert rec["verdict"] == "pass"
    assert {"kind": "other", "category": "DeprecationWarning",
            "message": "pretend.jit: this backward is deprecated"} in rec["warnings"]


def test_a_crash_of_the_compiler_can_be_declared(tmp_path, monkeypatch):
    body = CASE + """divergences:
  - framework: misbehaves
    kind: bug
    execution: compiled
    versions: ">=1"
    check: vjp
    reason: the pretend compiler segfaults on the backward of pow
    link: https://example.com/issue/2
"""
    monkeypatch.setenv("MISBEHAVE", "segfault")
    rec = _vjp(_case(tmp_path, body), Misbehaves())
    assert rec["verdict"] == "expected_divergence" and "SIGSEGV" in rec["message"]


def _pid(case, adapter):
    return _vjp(case, adapter)["observed"]["x"]["data"][0]


def test_a_compiler_that_may_leave_state_gets_a_fresh_process_after_it_raised(tmp_path,
                                                                             monkeypatch):
    monkeypatch.setenv("MISBEHAVE", "pid")
    case = _case(tmp_path)
    value = next(c for c in case.checks if c.kind == "value")
    for adapter, fresh in ((Misbehaves(), False), (FreshAfterError(), True)):
        before = _pid(case, adapter)
        failed = run_check(case, value, "float64", adapter, "1", execution="compiled")
        assert failed["verdict"] == ("error" if fresh else "pass")
        after = _pid(case, adapter)
        assert (after != before) is fresh


def test_a_compiled_check_that_leaves_state_is_told_and_its_process_replaced(tmp_path):
    case, adapter = _case(tmp_path), LeavesState()
    first = _vjp(case, adapter)
    assert any("left the process with grad mode off; the compiled process was replaced"
               in w["message"] and w["category"] == "RuntimeWarning"
               for w in first["warnings"])
    assert _pid(case, adapter) != first["observed"]["x"]["data"][0]
    assert LeavesState.left is False  # only ever set in the compiled processes


def test_the_compiled_process_ends_with_its_adapter(tmp_path):
    import gc
    adapter = Misbehaves()
    assert _vjp(_case(tmp_path), adapter)["verdict"] in ("pass", "mismatch")
    proc = compiled_twin(adapter)._child.proc
    assert proc.poll() is None
    del adapter
    gc.collect()
    assert proc.wait(timeout=10) is not None


def test_a_child_worn_out_by_its_memory_maps_is_replaced_after_its_answer(tmp_path,
                                                                         monkeypatch):
    if not Path("/proc/self/maps").exists():
        import pytest
        pytest.skip("counting memory maps needs /proc")
    monkeypatch.setenv("MISBEHAVE", "maps")
    case = _case(tmp_path)
    check = next(c for c in case.checks if c.kind == "vjp")
    adapter = Misbehaves()
    pids = []
    for _ in range(isolation.WEAR_EVERY + 1):
        rec = run_check(case, check, "float64", adapter, "1", execution="compiled", repeat=1)
        pids.append(str(rec["observed"]["x"]))
        assert rec["verdict"] == "mismatch" and not rec["warnings"]  # the pid, answered
    # the first call mapped the memory; the WEAR_EVERY-th answer found the child worn,
    # so the call after it ran in a fresh process (which maps its own afresh); no warning:
    # nothing was left behind, the process was only worn
    assert len(set(pids[:isolation.WEAR_EVERY])) == 1 and pids[-1] != pids[0]


def test_worn_counts_this_process_s_maps_against_a_limit():
    assert isolation.worn(limit=10) is not None and "memory maps of 10" in isolation.worn(10)
    assert isolation.worn(limit=10**9) is None
