"""The run's reference cache: a reference computed by one session is read back by the
next, identical; anything it depends on changing is a miss; a bad entry is a miss."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf import refcache
from gradconf.adapter import Adapter
from gradconf.oracle import _CACHE
from gradconf.runner import run_check


class _Grad(Adapter):
    name = "scripted"

    def __init__(self, grad: list[float]) -> None:
        self.grad = np.asarray(grad, dtype=np.float64)

    def version(self) -> str:
        return "0"

    def vjp(self, prog, env, wrt, cotangent):
        return {"x": self.grad * np.asarray(cotangent)}

    def hessian(self, prog, env, wrt, cotangent):
        return {"x,x": np.zeros((self.grad.size, self.grad.size))}


def _case(one_case, function="sum(abs(x) * x * x)", x="[0.0, 1.5]"):
    return one_case(f"""
        id: cached
        title: t
        source: {{note: t, section: t}}
        inputs: {{x: {x}}}
        function: {function}
        dtypes: [float64]
        checks: [vjp, hessian]
    """)


VOLATILE = ("duration_s", "oracle_s", "oracle_evaluations", "reference_cached")


def _run(case, kind, grad):
    _CACHE.clear()  # a new session: no oracle in memory
    check = next(c for c in case.checks if c.kind == kind)
    return run_check(case, check, "float64", _Grad(grad), "0")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(refcache.ENV, str(tmp_path / "refs"))
    return tmp_path / "refs"


@pytest.mark.parametrize(("function", "x", "kind", "grad"), [
    ("sum(abs(x) * x * x)", "[0.0, 1.5]", "vjp", [0.0, 6.75]),
    ("sum(x * x * x)", "[1.0, 2.0]", "hessian", [3.0, 12.0]),
    ("sum(abs(x))", "[0.0, 2.0]", "vjp", [0.25, 1.0]),       # a kink: the interval too
])
def test_a_second_session_reads_the_same_reference(one_case, cache, function, x, kind, grad):
    case = _case(one_case, function, x)
    first = _run(case, kind, grad)
    second = _run(case, kind, grad)
    assert first["reference_cached"] is False and second["reference_cached"] is True
    assert second["oracle_evaluations"] == 0
    assert {k: v for k, v in first.items() if k not in VOLATILE} == \
        {k: v for k, v in second.items() if k not in VOLATILE}
    assert len(list(cache.glob("*/*.npz"))) == 1


def test_another_point_function_or_oracle_misses(one_case, cache, monkeypatch):
    _run(_case(one_case), "vjp", [0.0, 6.75])
    assert _run(_case(one_case, x="[0.0, 1.25]"), "vjp", [0.0, 4.6875])["reference_cached"] \
        is False
    assert _run(_case(one_case, function="sum(abs(x) * x * x * 1.0)"), "vjp",
                [0.0, 6.75])["reference_cached"] is False
    monkeypatch.setattr(refcache, "VERSION", "another oracle")
    assert _run(_case(one_case), "vjp", [0.0, 6.75])["reference_cached"] is False
    assert len(list(cache.glob("*/*.npz"))) == 4


def test_a_torn_entry_is_a_miss_and_is_replaced(one_case, cache):
    first = _run(_case(one_case), "vjp", [0.0, 6.75])
    (entry,) = cache.glob("*/*.npz")
    entry.write_bytes(entry.read_bytes()[:40])
    again = _run(_case(one_case), "vjp", [0.0, 6.75])
    assert again["reference_cached"] is False and again["verdict"] == first["verdict"]
    assert _run(_case(one_case), "vjp", [0.0, 6.75])["reference_cached"] is True


def test_without_the_variable_nothing_is_kept(one_case, monkeypatch, tmp_path):
    monkeypatch.delenv(refcache.ENV, raising=False)
    monkeypatch.chdir(tmp_path)
    _run(_case(one_case), "vjp", [0.0, 6.75])
    assert _run(_case(one_case), "vjp", [0.0, 6.75])["reference_cached"] is False
    assert not list(tmp_path.rglob("*.npz"))
