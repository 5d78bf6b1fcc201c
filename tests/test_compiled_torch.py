"""The PyTorch adapter in compiled execution: torch.compile(fullgraph=True) gives what eager
gives, really compiles, compiles once per check, and keeps compiling past dynamo's
recompile limit."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.runner import env_for

torch_adapter = pytest.importorskip("gradconf_adapters.torch_adapter")
pytestmark = [
    pytest.mark.torch,
    # inductor warns from its own modules while compiling (a deprecated torch._prims_common
    # helper, torch.jit); the runner records such warnings, these tests do not judge them
    pytest.mark.filterwarnings("ignore::FutureWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

import torch._dynamo.utils  # noqa: E402  (after the importorskip)

ULPS = 8


@pytest.fixture(scope="module")
def eager():
    return torch_adapter.TorchAdapter()


@pytest.fixture
def compiled(eager):
    return eager.compiled()


@pytest.fixture
def smooth(one_case):
    return one_case("""
        id: smooth
        title: smooth
        source: {note: t, section: t}
        inputs: {x: [0.3, 0.7, 1.1], y: [0.5, -0.2, 0.9]}
        function: sin(x) * exp(y) + x * y
    """)


def graphs() -> int:
    """How many graphs dynamo has compiled in this process."""
    return int(torch._dynamo.utils.counters["stats"]["unique_graphs"])


def close(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert a.keys() == b.keys()
    for n in a:
        assert a[n].shape == b[n].shape and a[n].dtype == b[n].dtype, n
        eps = np.finfo(a[n].dtype).eps
        np.testing.assert_allclose(b[n], a[n], rtol=ULPS * eps, atol=ULPS * eps, err_msg=n)


def test_compiled_is_a_twin(eager, compiled):
    assert torch_adapter.TorchAdapter.compiler == "torch.compile (inductor)"
    assert (eager.execution, compiled.execution) == ("eager", "compiled")
    assert compiled._compiled is not eager._compiled


def test_compiled_checks_equal_eager(eager, compiled, smooth):
    prog, env = smooth.program, env_for(smooth, "float64")
    wrt, v = ("x", "y"), np.array([1.0, -2.0, 0.5])
    runs = {
        "value": lambda ad: ad.value(prog, env),
        "vjp": lambda ad: ad.vjp(prog, env, wrt, v),
        "jvp": lambda ad: {"out": ad.jvp(prog, env, wrt, {"x": v, "y": v[::-1].copy()})},
        "rev": lambda ad: ad.jacobian(prog, env, wrt, "rev"),
        "fwd": lambda ad: ad.jacobian(prog, env, wrt, "fwd"),
        "hessian": lambda ad: ad.hessian(prog, env, wrt, v),
        "order3": lambda ad: {"x": ad.derivative(prog, env, "x", [v, np.ones(3), v])},
    }
    for name, run in runs.items():
        before = graphs()
        got = run(compiled)
        assert graphs() > before, f"{name} did not compile"
        close(run(eager), got)


def test_compiled_jacobian_loop(eager, compiled, cube):
    # sum(x**3): the loop of autograd.grad(retain_graph=True) through the compiled graph
    prog, env = cube.program, env_for(cube, "float64")
    before = graphs()
    close(eager.jacobian(prog, env, ("x",), "loop"), compiled.jacobian(prog, env, ("x",), "loop"))
    assert graphs() > before


def test_compiled_vjp_dtype_float32(eager, compiled, smooth):
    prog, env = smooth.program, env_for(smooth, "float32")
    v = np.ones(3, np.float32)
    close(eager.vjp(prog, env, ("x",), v), compiled.vjp(prog, env, ("x",), v))


def test_second_call_reuses_the_compiled_function(compiled, smooth):
    prog, env = smooth.program, env_for(smooth, "float64")
    v = np.array([1.0, 2.0, 3.0])
    before = graphs()
    first = compiled.vjp(prog, env, ("x",), v)
    middle = graphs()
    second = compiled.vjp(prog, env, ("x",), v * 2)  # a new cotangent, same types
    assert middle > before and graphs() == middle
    np.testing.assert_array_equal(second["x"], 2 * first["x"])


def test_compiles_past_the_recompile_limit(compiled, one_case):
    limit = torch._dynamo.config.recompile_limit
    for k in range(limit + 3):
        case = one_case(f"""
            id: p{k}
            title: p
            source: {{note: t, section: t}}
            inputs: {{x: [1., 2.]}}
            function: x * {k + 1}.0 + x
        """)
        before = graphs()
        out = compiled.value(case.program, env_for(case, "float64"))["out"]
        assert graphs() == before + 1, f"program {k} did not compile"
        np.testing.assert_array_equal(out, np.array([1.0, 2.0]) * (k + 2))


def test_leftover_state_names_what_a_check_left_open(eager):
    from torch.utils._mode_utils import no_dispatch
    assert eager.leftover_state() is None
    with torch.no_grad():
        assert eager.leftover_state() == "grad mode off"
    with no_dispatch():
        assert "no_dispatch() left open" in eager.leftover_state()
    with torch.inference_mode():
        assert "inference mode on" in eager.leftover_state()
    assert eager.leftover_state() is None
