"""The tolerance model and the comparisons built on it (oracle and golden)."""

from __future__ import annotations

import numpy as np
import pytest

from gradconf.compare import (
    DTYPE_TOLERANCE,
    PRINTED_DECIMALS,
    compare,
    compare_golden,
    decimals_of,
    golden_bound,
    tolerance_for,
)
from gradconf.schema import Tolerance

TINY = np.finfo(np.float64).tiny * 16   # the bound's floor, so an exact 0 vs 0 passes


# ---------------------------------------------------------------- tolerance_for


@pytest.mark.parametrize("dtype", sorted(DTYPE_TOLERANCE))
def test_tolerance_for_without_overrides_is_the_table(dtype):
    assert tolerance_for(dtype, {}) == DTYPE_TOLERANCE[dtype].model_dump()
    assert all(isinstance(v, float) for v in tolerance_for(dtype, {}).values())


def test_tolerance_table_values():
    """The table in cases/README.md: 16 epsilons of each dtype, never below 1e-9."""
    table = {d: tolerance_for(d, {}) for d in DTYPE_TOLERANCE}
    f32, f16, bf16 = 16 * 2.0**-23, 16 * 2.0**-10, 16 * 2.0**-7
    assert table == {
        "float64": {"rtol": 1e-9, "atol": 1e-9, "oracle_factor": 4.0},
        "float32": {"rtol": f32, "atol": f32, "oracle_factor": 4.0},
        "float16": {"rtol": f16, "atol": f16, "oracle_factor": 4.0},
        "bfloat16": {"rtol": bf16, "atol": bf16, "oracle_factor": 4.0},
        # a complex dtype's parts are floats of its real counterpart
        "complex64": {"rtol": f32, "atol": f32, "oracle_factor": 4.0},
        "complex128": {"rtol": 1e-9, "atol": 1e-9, "oracle_factor": 4.0},
    }
    assert (f32, f16, bf16) == pytest.approx((1.9073e-6, 1.5625e-2, 0.125), rel=1e-4)


def test_tolerance_for_merges_only_given_fields():
    overrides = {"float32": Tolerance(rtol=1e-4), "golden": Tolerance(atol=1e-3)}
    assert tolerance_for("float32", overrides) == {
        "rtol": 1e-4, "atol": 16 * 2.0**-23, "oracle_factor": 4.0}
    # other dtypes and the golden entry do not leak into each other
    assert tolerance_for("float64", overrides) == DTYPE_TOLERANCE["float64"].model_dump()
    # the table itself is untouched
    assert DTYPE_TOLERANCE["float32"].rtol == 16 * 2.0**-23


def test_tolerance_for_keeps_a_zero_override():
    """0 is a given value (not None): it replaces the table's entry."""
    merged = tolerance_for("float64", {"float64": Tolerance(atol=0.0, oracle_factor=0.0)})
    assert merged == {"rtol": 1e-9, "atol": 0.0, "oracle_factor": 0.0}


def test_tolerance_for_from_a_loaded_case(one_case):
    case = one_case("""
        id: tol-case
        title: tolerance override
        source: {note: test, section: test}
        inputs:
          x: [1., 2.]
        function: sum(x**2)
        checks: [vjp]
        tolerance: {float32: {rtol: 1.0e-4, oracle_factor: 8}}
        """)
    assert tolerance_for("float32", case.tolerance) == {
        "rtol": 1e-4, "atol": 16 * 2.0**-23, "oracle_factor": 8.0}
    assert tolerance_for("float64", case.tolerance) == {
        "rtol": 1e-9, "atol": 1e-9, "oracle_factor": 4.0}


# ---------------------------------------------------------------- compare: each bound term

def _one(obs, ref, err=None, **tol):
    """Compare one array named 'x'."""
    full = {"rtol": 0.0, "atol": 0.0, "oracle_factor": 0.0, **tol}
    errors = {} if err is None else {"x": np.asarray(err, dtype=np.float64)}
    return compare({"x": np.asarray(obs, dtype=np.float64)},
                   {"x": np.asarray(ref, dtype=np.float64)}, errors, full)


@pytest.mark.parametrize(("inside", "ok"), [(0.99, True), (1.01, False)])
def test_rtol_term(inside, ok):
    """|obs - ref| ≤ rtol·|ref|: ref 200, rtol 1e-3 → bound 0.2."""
    ref = [200.0, 1.0]
    res = _one([200.0 + 0.2 * inside, 1.0], ref, rtol=1e-3)
    assert res.ok is ok
    assert res.worst is not None and res.worst["index"] == [0]
    assert res.worst["bound"] == pytest.approx(0.2, rel=1e-12)
    assert res.max_abs_err == pytest.approx(0.2 * inside, rel=1e-9)


@pytest.mark.parametrize(("inside", "ok"), [(0.99, True), (1.01, False)])
def test_atol_term_uses_the_arrays_largest_entry(inside, ok):
    """atol·max|ref|: an entry with ref 0 in an array whose largest |ref| is 50 → 0.05."""
    res = _one([0.05 * inside, -50.0], [0.0, -50.0], atol=1e-3)
    assert res.ok is ok
    assert res.worst is not None and res.worst["index"] == [0]
    assert res.worst["bound"] == pytest.approx(0.05, rel=1e-12)


@pytest.mark.parametrize(("inside", "ok"), [(0.99, True), (1.01, False)])
def test_oracle_factor_term(inside, ok):
    """oracle_factor·err per entry: err 0.01, factor 4 → 0.04 (and only on that entry)."""
    res = _one([3.0 + 0.04 * inside, 3.0], [3.0, 3.0], err=[0.01, 0.0], oracle_factor=4.0)
    assert res.ok is ok
    assert res.worst is not None and res.worst["bound"] == pytest.approx(0.04, rel=1e-12)
    # the same deviation on the entry without an error estimate fails
    assert not _one([3.0, 3.0 + 0.04 * inside], [3.0, 3.0], err=[0.01, 0.0],
                    oracle_factor=4.0).ok


@pytest.mark.parametrize(("inside", "ok"), [(0.999, True), (1.001, False)])
def test_terms_add_up(inside, ok):
    """rtol·|ref| + atol·scale + factor·err: 1e-3·10 + 1e-4·100 + 2·0.005 = 0.03."""
    ref, err = [10.0, 100.0], [0.005, 0.0]
    res = _one([10.0 - 0.03 * inside, 100.0], ref, err=err, rtol=1e-3, atol=1e-4,
               oracle_factor=2.0)
    assert res.ok is ok
    assert res.worst is not None and res.worst["bound"] == pytest.approx(0.03, rel=1e-12)


def test_missing_error_entry_means_no_oracle_term():
    """Arrays with no entry in ``errors`` are compared with err = 0."""
    assert not _one([1.001], [1.0], err=None, rtol=1e-4, oracle_factor=4.0).ok
    assert _one([1.001], [1.0], err=[0.001], rtol=1e-4, oracle_factor=4.0).ok


def test_exact_zero_passes_with_zero_tolerance():
    res = _one([0.0, 0.0], [0.0, 0.0])
    assert res.ok and res.reason == ""
    assert res.worst is not None and res.worst["bound"] == TINY


def test_default_float64_tolerance_boundaries():
    """The real table: every entry may be off by 1e-9 of itself plus 1e-9 of the array's
    largest (3 here), so a uniform relative error passes up to 2e-9 and fails beyond."""
    tol = tolerance_for("float64", {})
    ref = np.array([1.0, 2.0, -3.0])
    assert compare({"g": ref * (1 + 1.9e-9)}, {"g": ref}, {}, tol).ok
    assert not compare({"g": ref * (1 + 2.2e-9)}, {"g": ref}, {}, tol).ok


# ---------------------------------------------------------------- compare: the worst entry


def test_worst_is_furthest_past_its_bound_not_largest_difference():
    """Across arrays: 'a' is off by 10 with bound 5 (2×), 'b' by 1 with bound 0.1 (10×)."""
    tol = {"rtol": 0.1, "atol": 0.0, "oracle_factor": 0.0}
    observed = {"a": np.array([[50.0, 60.0], [0.0, 0.0]]), "b": np.array([1.0, 2.0, 3.0])}
    reference = {"a": np.array([[50.0, 50.0], [0.0, 0.0]]), "b": np.array([1.0, 1.0, 3.0])}
    res = compare(observed, reference, {}, tol)
    assert not res.ok
    assert res.worst == {"name": "b", "index": [1], "observed": 2.0, "reference": 1.0,
                         "bound": pytest.approx(0.1 + TINY, rel=1e-15)}
    assert res.max_abs_err == 10.0
    assert res.max_rel_err == pytest.approx(1.0)
    assert res.reason == "b[1]: 2, but should be 1 (|diff| 1 > bound 0.1)"


def test_worst_index_of_a_matrix_and_of_a_scalar():
    tol = {"rtol": 0.0, "atol": 0.0, "oracle_factor": 0.0}
    m = np.zeros((2, 3))
    obs = m.copy()
    obs[1, 2] = 0.5
    obs[0, 1] = 0.1
    res = compare({"m": obs}, {"m": m}, {}, tol)
    assert res.worst is not None and res.worst["index"] == [1, 2]
    res = compare({"s": np.array(2.0)}, {"s": np.array(1.0)}, {}, tol)
    assert res.worst is not None and res.worst["index"] == []
    assert res.reason.startswith("s: 2, but should be 1")


def test_worst_is_reported_when_everything_passes():
    res = _one([1.0, 2.0005], [1.0, 2.0], rtol=1e-3)
    assert res.ok and res.worst is not None and res.worst["index"] == [1]


# ---------------------------------------------------------------- compare: shapes, non-finite


def test_shape_mismatch_message():
    res = compare({"x": np.zeros(2)}, {"x": np.zeros((2, 1))}, {}, tolerance_for("float64", {}))
    assert not res.ok
    assert res.reason == "x: shape (2,), but should be (2, 1)"


def test_missing_result():
    res = compare({}, {"x": np.zeros(2)}, {}, tolerance_for("float64", {}))
    assert not res.ok and res.reason == "no result for 'x'"


@pytest.mark.parametrize(("bad", "kind"), [(np.nan, "nan"), (np.inf, "inf"), (-np.inf, "inf")])
def test_nonfinite_observed(bad, kind):
    res = compare({"x": np.array([1.0, bad])}, {"x": np.array([1.0, 2.0])}, {},
                  tolerance_for("float64", {}))
    assert not res.ok
    assert res.nonfinite == kind
    assert res.reason == f"x: {kind} where the reference is finite"


def test_nan_wins_over_inf():
    res = compare({"x": np.array([np.inf, np.nan])}, {"x": np.array([1.0, 2.0])}, {},
                  tolerance_for("float64", {}))
    assert res.nonfinite == "nan"


def test_nan_reference_entry_is_not_compared():
    tol = tolerance_for("float64", {})
    ref = np.array([np.nan, 1.0])
    for obs in ([123.0, 1.0], [np.nan, 1.0], [np.inf, 1.0]):
        res = compare({"x": np.array(obs)}, {"x": ref}, {}, tol)
        assert res.ok, (obs, res.reason)
        assert res.nonfinite is None


def test_nan_reference_entry_does_not_hide_others():
    res = compare({"x": np.array([0.0, 2.0])}, {"x": np.array([np.nan, 1.0])}, {},
                  tolerance_for("float64", {}))
    assert not res.ok
    assert res.worst is not None and res.worst["index"] == [1]


def test_nan_reference_in_another_array_does_not_hide_a_failure():
    res = compare({"a": np.array([0.0, 1.0]), "b": np.array([2.0])},
                  {"a": np.array([np.nan, 1.0]), "b": np.array([1.0])}, {},
                  tolerance_for("float64", {}))
    assert not res.ok and res.worst is not None and res.worst["name"] == "b"


def test_empty_arrays_pass():
    res = compare({"x": np.zeros((0, 3))}, {"x": np.zeros((0, 3))}, {},
                  tolerance_for("float64", {}))
    assert res.ok


# ---------------------------------------------------------------- no growth with size


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("size", [4, 10**5])
def test_tolerance_does_not_grow_with_size(dtype, size):
    """One entry off by 10·rtol fails in 4 entries and in 10⁵ alike (jax issue #3130).

    The reference repeats one pattern, so its largest entry (atol's scale) is the same
    at both sizes; the entry's bound must then be identical.
    """
    tol = tolerance_for(dtype, {})
    ref = np.resize(np.array([0.5, -1.25, 2.0, 0.75]), size)
    obs = ref.copy()
    obs[size // 2] *= 1 + 10 * tol["rtol"]
    res = compare({"g": obs}, {"g": ref}, {}, tol)
    assert not res.ok
    assert res.worst is not None and res.worst["index"] == [size // 2]
    expected = tol["rtol"] * abs(ref[size // 2]) + tol["atol"] * 2.0 + TINY
    assert res.worst["bound"] == pytest.approx(expected, rel=1e-12)
    # every entry off by the same relative amount also fails, however many there are
    assert not compare({"g": ref * (1 + 3 * tol["rtol"])}, {"g": ref}, {}, tol).ok
    # and just inside passes
    assert compare({"g": ref * (1 + 0.5 * tol["rtol"])}, {"g": ref}, {}, tol).ok


# ---------------------------------------------------------------- golden numbers


def test_decimals_of():
    assert int(decimals_of(0.4851)) == 4
    assert int(decimals_of(96)) == 0
    assert int(decimals_of(96.0)) == 0
    assert 16 <= int(decimals_of(0.48507125007266594)) <= 17
    assert int(decimals_of(None)) == 0
    assert int(decimals_of(1e-05)) == 5
    assert int(decimals_of(1.25e-07)) == 9
    assert int(decimals_of(-27.3333)) == 4


def test_decimals_of_nested_with_nulls():
    got = decimals_of([[0.4851, None], [96, 1.5]])
    assert got.shape == (2, 2)
    assert got.tolist() == [[4, 0], [0, 1]]


def test_golden_bound_is_half_a_unit_in_the_last_place():
    b = golden_bound(np.array([27.3333, 96.0, 0.123456]), decimals_of([27.3333, 96, 0.123456]),
                     rtol=0.0, atol=None)
    # at least PRINTED_DECIMALS: 96 is compared as if printed 96.0000
    assert PRINTED_DECIMALS == 4
    np.testing.assert_allclose(b, [0.5e-4, 0.5e-4, 0.5e-6], rtol=1e-12)
    assert golden_bound(np.array([2.0]), np.array([4]), rtol=1e-3, atol=0.01)[0] == (
        pytest.approx(0.01 + 2e-3))


def test_golden_printed_to_4_decimals():
    golden = {"vjp": [27.3333]}
    assert compare_golden({"vjp": np.array([27.333333])}, golden, 1e-9, None).ok
    assert compare_golden({"vjp": np.array([27.33334])}, golden, 1e-9, None).ok
    res = compare_golden({"vjp": np.array([27.3343])}, golden, 1e-9, None)
    assert not res.ok
    assert res.worst is not None and res.worst["reference"] == 27.3333
    # the golden's last place decides: 27.3343 printed is not 27.333333
    assert not compare_golden({"vjp": np.array([27.333333])}, {"vjp": 27.3343}, 1e-9, None).ok


def test_golden_just_inside_and_outside_half_a_unit():
    golden = {"out": [0.4851]}
    assert compare_golden({"out": np.array([0.4851 + 0.49e-4])}, golden, 0.0, None).ok
    assert not compare_golden({"out": np.array([0.4851 + 0.51e-4])}, golden, 0.0, None).ok
    assert not compare_golden({"out": np.array([0.4861])}, golden, 1e-9, None).ok
    assert not compare_golden({"out": np.array([0.4851])}, {"out": [0.4861]}, 1e-9, None).ok


def test_golden_with_17_digits_is_held_to_them():
    g = 0.48507125007266594
    assert compare_golden({"x": np.array(g)}, {"x": g}, 0.0, None).ok
    assert not compare_golden({"x": np.array(g + 1e-12)}, {"x": g}, 0.0, None).ok
    assert compare_golden({"x": np.array(g + 1e-12)}, {"x": g}, 1e-9, None).ok


def test_golden_integer_and_rtol():
    assert compare_golden({"x": np.array([96.00004])}, {"x": [96]}, 0.0, None).ok
    assert not compare_golden({"x": np.array([96.0001])}, {"x": [96]}, 0.0, None).ok
    assert compare_golden({"x": np.array([96.0001])}, {"x": [96]}, 2e-6, None).ok


def test_golden_atol_override_replaces_printed_bound():
    assert compare_golden({"x": np.array([1.004])}, {"x": [1.0]}, 0.0, 5e-3).ok
    assert not compare_golden({"x": np.array([1.006])}, {"x": [1.0]}, 0.0, 5e-3).ok


def test_golden_null_entries_are_skipped():
    golden = {"out": [[139.0, 81.3333], [None, None]]}
    obs = np.array([[139.0, 81.33333333], [-1e9, np.nan]])
    res = compare_golden({"out": obs}, golden, 1e-9, None)
    assert res.ok, res.reason


def test_golden_null_entry_does_not_hide_the_others():
    golden = {"out": [[139.0, 81.3333], [None, None]]}
    obs = np.array([[139.0, 90.0], [0.0, 0.0]])
    res = compare_golden({"out": obs}, golden, 1e-9, None)
    assert not res.ok
    assert res.worst is not None and res.worst["index"] == [0, 1]


def test_golden_missing_result():
    res = compare_golden({}, {"vjp": [1.0]}, 1e-9, None)
    assert not res.ok and res.reason == "no result for 'vjp'"
