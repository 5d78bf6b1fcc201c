"""Results files: the JSONL stream, merging, and the ``results.json`` contract.

The first half of this module is a small builder of synthetic records, one per shape a
record can take (pass, mismatch with golden, error, probe, declared divergence, invalid,
non-finite data, and one full of hostile strings). ``test_report.py`` and
``test_browser.py`` import it from here.
"""

from __future__ import annotations

import copy
import json
import math
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import pytest

from gradconf import SCHEMA_VERSION
from gradconf.arrays import decode, encode
from gradconf.compare import compare, tolerance_for
from gradconf.results import (
    JsonlWriter,
    cases_digest,
    merge,
    read_jsonl,
    schema,
    validate,
    write_results,
)
from gradconf.runner import invalid_record
from helpers import CASES

# ------------------------------------------------------------------ synthetic records

VERSIONS = {"torch": "2.13.0+cpu", "jax": "0.4.30"}
DIVERGENCE_REASON = "torch sums the per-column gradients of a non-scalar output"
DIVERGENCE_LINK = "https://github.com/pytorch/pytorch/issues/12345"
PIPE_MESSAGE = "out[0]: 1.5 | 2.5, but should be 3 | 4"


def hostile(where: str) -> str:
    """A string that would run script or add an attribute if it reached the page raw."""
    return f'<script>alert(1)</script>"onmouseover=alert(2) {where}'


def environment(*frameworks: str) -> dict[str, Any]:
    """A fixed environment block (no git call, no clock) for the given frameworks."""
    return {"python": "3.11.7", "platform": "Linux-synthetic-x86_64", "numpy": np.__version__,
            "gradconf": "0.1.0", "git_revision": "0123456789ab",
            "time": "2026-01-02T03:04:05+00:00",
            "frameworks": {fw: VERSIONS[fw] for fw in frameworks}}


def _kind(check: str) -> str:
    if check.startswith("probe-"):
        return "probe"
    if check.startswith("rev-fwd"):
        return "rev_fwd"
    return check.split("-")[0]


def record(case: str = "square", check: str = "value", *, verdict: str = "pass",
           framework: str = "torch", dtype: str = "float64", file: str = "cases/synthetic.yaml",
           line: int = 3, **fields: Any) -> dict[str, Any]:
    """A record with every field the plugin writes; ``fields`` override any of them."""
    rec = invalid_record(file, line, case, "", framework, VERSIONS[framework])
    rec.update(title=f"{case}: a synthetic case",
               source={"note": "000_synthetic", "section": "2. worked example"},
               check=check, kind=_kind(check), dtype=dtype, verdict=verdict,
               nodeid=f"{file}::{case}[{framework}-{check}-{dtype}]",
               duration_s=0.0012, oracle_s=0.0003)
    rec.update(fields)
    return rec


def _judged(observed: dict[str, Any], reference: dict[str, Any], dtype: str) -> dict[str, Any]:
    """The comparison fields, computed by the engine's own ``compare``."""
    tol = tolerance_for(dtype, {})
    obs = {n: np.asarray(a, dtype=dtype) for n, a in observed.items()}
    ref = {n: np.asarray(a, dtype=np.float64) for n, a in reference.items()}
    cmp = compare(obs, ref, {}, tol)
    return {"observed": {n: encode(a) for n, a in obs.items()},
            "reference": {n: encode(a) for n, a in ref.items()},
            "tolerance": tol, "oracle_err": 1e-12, "classification": "smooth",
            "max_abs_err": cmp.max_abs_err, "max_rel_err": cmp.max_rel_err, "worst": cmp.worst,
            "message": cmp.reason, "verdict": "pass" if cmp.ok else "mismatch"}


def passing(case: str = "square", check: str = "value", **kw: Any) -> dict[str, Any]:
    """A passing check: observed equals the oracle."""
    dtype = kw.pop("dtype", "float64")
    return record(case, check, dtype=dtype,
                  **{**_judged({"x": [2.0, 4.0]}, {"x": [2.0, 4.0]}, dtype), **kw})


MISMATCH_OBSERVED = [[0.5], [3.25]]
MISMATCH_REFERENCE = [[0.5], [3.0]]
MISMATCH_GOLDEN = [[0.5], [3.0001]]


def mismatch(case: str = "square", check: str = "vjp", *, golden: bool = True,
             **kw: Any) -> dict[str, Any]:
    """A mismatch against the oracle, with the note's golden numbers beside it."""
    dtype = kw.pop("dtype", "float32")
    judged = _judged({"X": MISMATCH_OBSERVED}, {"X": MISMATCH_REFERENCE}, dtype)
    assert judged["verdict"] == "mismatch" and judged["worst"]["index"] == [1, 0]
    if golden:
        judged.update(golden={"X": encode(np.asarray(MISMATCH_GOLDEN))}, golden_ok=False)
    return record(case, check, dtype=dtype, **{**judged, **kw})


def errored(case: str = "column", check: str = "jacobian-rev", **kw: Any) -> dict[str, Any]:
    """A framework call that raised."""
    msg = "grad can be implicitly created only for scalar outputs"
    fields = {"verdict": "error", "message": f"raised RuntimeError: {msg}",
              "error_kind": "non_scalar_output", "error": {"type": "RuntimeError", "message": msg},
              "traceback": f'Traceback (most recent call last):\n  File "x.py", line 1\n'
                           f"RuntimeError: {msg}"}
    return record(case, check, **{**fields, **kw})


def probe(case: str = "graph", check: str = "probe-second-pass", **kw: Any) -> dict[str, Any]:
    """A passing probe: a value outcome with an absent entry and two steps."""
    one, two = encode(np.float32([1.0]), "float32"), encode(np.float32([2.0]), "float32")
    return record(
        case, check, dtype="float32", tolerance=tolerance_for("float32", {}),
        outcome={"kind": "value", "values": {"x": two, "v": None},
                 "steps": [{"x": one, "v": None}, {"x": two, "v": None}],
                 "idiom": "y.backward(retain_graph=True); y.backward()"},
        expected={"outcome": "value", "warning_kinds": ["nonleaf_grad_access"],
                  "accumulates": True},
        reference_steps=[{"x": encode(np.float64([1.0]))}, {"x": encode(np.float64([2.0]))}],
        warnings=[{"kind": "nonleaf_grad_access", "category": "UserWarning",
                   "message": "The .grad attribute of a Tensor that is not a leaf Tensor is "
                              "being accessed."}], **kw)


def diverging(case: str = "column", check: str = "vjp", **kw: Any) -> dict[str, Any]:
    """A mismatch covered by a declared divergence."""
    rec = mismatch(case, check, golden=False, **kw)
    rec.update(verdict="expected_divergence",
               message=f"declared divergence (mismatch): {rec['message']}",
               divergence={"kind": "api", "versions": ">=2.13", "reason": DIVERGENCE_REASON,
                           "link": DIVERGENCE_LINK})
    return rec


def invalid(framework: str = "torch") -> dict[str, Any]:
    """A case that did not load, as the plugin records it."""
    rec = invalid_record("cases/broken.yaml", 7, "broken",
                         "cases/broken.yaml:7: case 'broken': unknown check 'vjpp'",
                         framework, VERSIONS[framework])
    rec["nodeid"] = f"cases/broken.yaml::broken[{framework}-invalid-L7]"
    return rec


def nonfinite(case: str = "blowup", check: str = "value", **kw: Any) -> dict[str, Any]:
    """A ``nan`` verdict whose observed array holds NaN and both infinities."""
    fields = {"verdict": "nan", "line": 60, "message": "out: nan where the reference is finite",
              "observed": {"out": encode(np.array([1.0, np.nan, np.inf, -np.inf]))},
              "reference": {"out": encode(np.array([1.0, 2.0, 3.0, 4.0]))},
              "tolerance": tolerance_for("float64", {}), "oracle_err": 0.0}
    return record(case, check, **{**fields, **kw})


def hostile_record() -> dict[str, Any]:
    """An error whose title, message, raised message, warning and array name are markup."""
    return errored("hostile-strings", "vjp", line=80, title=hostile("title"),
                   message=hostile("message"),
                   error={"type": "RuntimeError", "message": hostile("error")},
                   warnings=[{"kind": "other", "category": "UserWarning",
                              "message": hostile("warning")}],
                   observed={hostile("array"): encode(np.array([1.0]))})


def sort_key(r: dict[str, Any]) -> tuple[Any, ...]:
    """The order ``merge`` puts records in."""
    return (r["file"], r["line"], r["case"], r["framework"], r["check"], r["dtype"])


def document(records: list[dict[str, Any]]) -> dict[str, Any]:
    """A results document as ``merge`` would make it from these records."""
    records = sorted(records, key=sort_key)
    counts = Counter(r["verdict"] for r in records)
    frameworks = sorted({r["framework"] for r in records})
    return {"schema_version": SCHEMA_VERSION, "environment": environment(*frameworks),
            "summary": {"total": len(records), "verdicts": dict(sorted(counts.items()))},
            "runs": {fw: complete_run(fw, sum(r["framework"] == fw for r in records))
                     for fw in frameworks},
            "records": records}


def complete_run(framework: str, items: int) -> dict[str, Any]:
    """The ``runs`` entry of a run that collected ``items`` and finished every one."""
    return {"stream": f"{framework}.jsonl", "complete": True, "collected": items,
            "finished": items, "missing": [], "missing_count": 0, "incomplete": [],
            "problems": []}


def torch_records() -> list[dict[str, Any]]:
    """One torch record of every shape: 2 pass, 1 each of the others."""
    return [passing("square", "value", line=3), mismatch("square", "vjp", line=3),
            diverging("column", "vjp", line=20), errored("column", "jacobian-rev", line=20),
            probe("graph", line=40), nonfinite(), invalid(), hostile_record()]


def jax_records() -> list[dict[str, Any]]:
    """Four passes and a mismatch whose message has pipes."""
    kw: dict[str, Any] = {"framework": "jax"}
    return [passing("square", "value", line=3, **kw), passing("square", "vjp", line=3, **kw),
            passing("column", "vjp", line=20, **kw),
            passing("column", "jacobian-rev", line=20, **kw),
            mismatch("blowup", "value", line=60, golden=False, message=PIPE_MESSAGE, **kw)]


# counts per framework of the documents above: the tests below and the page must agree
EXPECTED_COUNTS = {
    "torch": {"pass": 2, "mismatch": 1, "expected_divergence": 1, "error": 2, "nan": 1,
              "invalid": 1},
    "jax": {"pass": 4, "mismatch": 1},
}


def sample_document() -> dict[str, Any]:
    """Both frameworks' records in one document."""
    return document(torch_records() + jax_records())


def strict_loads(text: str) -> Any:
    """``json.loads`` that refuses the bare NaN / Infinity tokens JSON does not have."""
    def refuse(token: str) -> Any:
        raise ValueError(f"bare {token} in JSON")
    return json.loads(text, parse_constant=refuse)


def test_builder_makes_schema_valid_records() -> None:
    doc = sample_document()
    validate(doc)
    got: dict[str, Counter[str]] = {}
    for r in doc["records"]:
        got.setdefault(r["framework"], Counter())[r["verdict"]] += 1
    assert {fw: dict(c) for fw, c in got.items()} == EXPECTED_COUNTS


# ------------------------------------------------------------------ the JSONL stream


def test_jsonl_writer_writes_environment_first_and_flushes_each_record(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "torch.jsonl"
    env = environment("torch")
    writer = JsonlWriter(path, env)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        assert [json.loads(x) for x in lines] == [{"schema_version": SCHEMA_VERSION,
                                                   "environment": env}]
        first, second = passing(), mismatch()
        writer.write(first)
        # read back before close(): the record is already on disk
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 2 and strict_loads(lines[1]) == first
        writer.write(second)
        lines = path.read_text(encoding="utf-8").splitlines()
        assert len(lines) == 3 and strict_loads(lines[2]) == second
        assert read_jsonl(path) == (env, [first, second])
    finally:
        writer.close()


def test_jsonl_writer_serialises_numpy_values_and_refuses_bare_nan(tmp_path: Path) -> None:
    writer = JsonlWriter(tmp_path / "torch.jsonl", environment("torch"))
    try:
        writer.write(record(duration_s=np.float32(0.5), worst={"index": np.array([1, 0])}))
        with pytest.raises(ValueError, match="JSON compliant"):
            writer.write(record(max_abs_err=float("nan")))
    finally:
        writer.close()
    _, records = read_jsonl(tmp_path / "torch.jsonl")
    assert records[0]["duration_s"] == 0.5 and records[0]["worst"] == {"index": [1, 0]}


def test_read_jsonl_skips_a_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "torch.jsonl"
    env = environment("torch")
    writer = JsonlWriter(path, env)
    done = [passing(), mismatch()]
    for rec in done:
        writer.write(rec)
    writer.close()
    # an interrupted run: the process died half way through writing the next line
    line = json.dumps(errored())
    with path.open("a", encoding="utf-8") as fh:
        fh.write(line[: len(line) // 2])
    assert read_jsonl(path) == (env, done)
    # and the torn stream still merges into a valid document
    doc = merge([path])
    validate(doc)
    assert doc["summary"] == {"total": 2, "verdicts": {"mismatch": 1, "pass": 1}}


def test_nonfinite_array_data_round_trips_as_strings(tmp_path: Path) -> None:
    rec = nonfinite()
    assert rec["observed"]["out"]["data"] == [1.0, "NaN", "Infinity", "-Infinity"]
    writer = JsonlWriter(tmp_path / "torch.jsonl", environment("torch"))
    writer.write(rec)
    writer.close()
    doc = merge([tmp_path / "torch.jsonl"])
    write_results(doc, tmp_path / "results.json")
    back = strict_loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    arr = decode(back["records"][0]["observed"]["out"])
    assert arr[0] == 1.0 and math.isnan(arr[1]) and arr[2] == math.inf and arr[3] == -math.inf


def test_record_judged_against_an_infinite_reference_can_be_written(tmp_path: Path) -> None:
    fields = _judged({"y": [np.inf, 1.0]}, {"y": [np.inf, 1.0]}, "float64")
    writer = JsonlWriter(tmp_path / "torch.jsonl", environment("torch"))
    try:
        writer.write(record("overflow", "value", **fields))
    finally:
        writer.close()


# ------------------------------------------------------------------ merge


def write_stream(path: Path, framework: str, records: list[dict[str, Any]],
                 complete: bool = True) -> None:
    """A stream as a run writes it: header, manifest of the records' items, the records
    and, for a ``complete`` run, the end line."""
    writer = JsonlWriter(path, environment(framework))
    writer.manifest([r["nodeid"] for r in records])
    for rec in records:
        writer.write(rec)
    if complete:
        writer.end(1, 0)
    writer.close()


def test_merge_combines_frameworks_counts_and_sorts(tmp_path: Path) -> None:
    torch, jax = torch_records(), jax_records()
    # written out of order: merge must sort
    write_stream(tmp_path / "torch.jsonl", "torch", list(reversed(torch)))
    write_stream(tmp_path / "jax.jsonl", "jax", jax[2:] + jax[:2])
    doc = merge([tmp_path / "torch.jsonl", tmp_path / "jax.jsonl"])
    validate(doc)
    assert doc["schema_version"] == SCHEMA_VERSION
    assert doc["environment"]["frameworks"] == {"torch": VERSIONS["torch"],
                                                "jax": VERSIONS["jax"]}
    assert doc["environment"]["python"] == "3.11.7"
    total = len(torch) + len(jax)
    verdicts: Counter[str] = Counter()
    for counts in EXPECTED_COUNTS.values():
        verdicts.update(counts)
    assert doc["summary"] == {"total": total, "verdicts": dict(sorted(verdicts.items()))}
    assert len(doc["records"]) == total
    keys = [(r["file"], r["line"], r["case"]) for r in doc["records"]]
    assert keys == sorted(keys)
    assert keys[0] == ("cases/broken.yaml", 7, "broken")
    assert sorted(map(json.dumps, doc["records"])) == sorted(map(json.dumps, torch + jax))
    # the same document whichever order the files are given in
    assert merge([tmp_path / "jax.jsonl", tmp_path / "torch.jsonl"]) == doc


# ------------------------------------------------------------------ validate


def _set(path: tuple[Any, ...], value: Any) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        target: Any = doc
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return edit


def _drop(field: str) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        del _first(doc, "mismatch")[field]
    return edit


def _first(doc: dict[str, Any], verdict: str) -> dict[str, Any]:
    return next(r for r in doc["records"] if r["verdict"] == verdict)


def _on_mismatch(field: str, value: Any) -> Any:
    def edit(doc: dict[str, Any]) -> None:
        _first(doc, "mismatch")[field] = value
    return edit


def _bare_nan(doc: dict[str, Any]) -> None:
    _first(doc, "mismatch")["observed"]["X"]["data"][0] = float("nan")


BROKEN = [
    pytest.param(_on_mismatch("verdict", "flaky"), id="unknown-verdict"),
    pytest.param(_set(("summary", "verdicts", "flaky"), 1), id="unknown-verdict-in-summary"),
    pytest.param(_drop("duration_s"), id="missing-duration_s"),
    pytest.param(_drop("verdict"), id="missing-verdict"),
    pytest.param(lambda d: d["environment"].pop("frameworks"), id="missing-frameworks"),
    pytest.param(_on_mismatch("error_kind", "segfault"), id="unknown-error_kind"),
    pytest.param(_on_mismatch("nodeid", "cases/a.yaml::square[torch-vjp\nfloat32]"),
                 id="nodeid-with-a-line-break"),
    pytest.param(lambda d: d.pop("runs"), id="missing-runs"),
    pytest.param(_set(("runs", "torch", "complete"), "yes"), id="runs-complete-not-a-boolean"),
    pytest.param(_on_mismatch("surprise", 1), id="unknown-record-field"),
    pytest.param(_set(("schema_version",), "0.9"), id="wrong-schema-version"),
    pytest.param(_bare_nan, id="bare-nan-in-array-data"),
]


def test_validate_accepts_the_sample_document() -> None:
    validate(sample_document())


@pytest.mark.parametrize("breakage", BROKEN)
def test_validate_rejects(breakage: Any) -> None:
    doc = copy.deepcopy(sample_document())
    validate(doc)
    breakage(doc)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc)


def test_write_results_writes_a_valid_document(tmp_path: Path) -> None:
    doc = sample_document()
    write_results(doc, tmp_path / "results.json")
    assert strict_loads((tmp_path / "results.json").read_text(encoding="utf-8")) == doc


def test_write_results_refuses_an_invalid_document(tmp_path: Path) -> None:
    doc = copy.deepcopy(sample_document())
    _first(doc, "pass")["verdict"] = "flaky"
    target = tmp_path / "results.json"
    with pytest.raises(jsonschema.ValidationError):
        write_results(doc, target)
    assert not target.exists()


# ------------------------------------------------------------------ real output


@pytest.mark.torch
def test_torch_run_on_one_case_file_gives_a_valid_results_json(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    case_file = tmp_path / "column-jacobian.yaml"
    shutil.copyfile(CASES / "column-jacobian.yaml", case_file)
    out = tmp_path / "results"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(case_file), "--framework", "torch",
         "--results-dir", str(out), "-p", "no:cacheprovider", "-q"],
        cwd=tmp_path, capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stdout + run.stderr
    report = subprocess.run([sys.executable, "-m", "gradconf", "report", "--results-dir", str(out)],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert report.returncode == 0, report.stdout + report.stderr
    doc = strict_loads((out / "results.json").read_text(encoding="utf-8"))
    validate(doc)
    records = doc["records"]
    assert records and doc["summary"]["total"] == len(records)
    assert set(doc["environment"]["frameworks"]) == {"torch"}
    # the cases the run had: the digest of its one file, and the run keeps its environment
    want = cases_digest(tmp_path, ["column-jacobian.yaml"])
    assert want and doc["runs"]["torch"]["environment"]["cases_digest"] == want
    assert {r["framework"] for r in records} == {"torch"}
    assert {r["file"] for r in records} == {"column-jacobian.yaml"}
    assert {r["case"] for r in records} == {"cube-matmul-row-weights",
                                            "cube-times-row-weights-expanded",
                                            "cube-matmul-unused-input"}
    assert {r["kind"] for r in records} >= {"value", "vjp", "jacobian", "probe"}
    assert all(r["nodeid"].startswith("column-jacobian.yaml::") for r in records)
    assert f"{len(records)} passed" in run.stdout
    assert (out / "index.html").is_file() and (out / "summary.md").is_file()


def test_schema_enums_are_the_engine_vocabulary() -> None:
    """The JSON Schema's closed lists are exactly gradconf.kinds' (one vocabulary)."""
    from gradconf.kinds import ERROR_KINDS, OUTCOMES, VERDICTS, WARNING_KINDS
    rec = schema()["$defs"]["record"]["properties"]
    assert rec["verdict"]["enum"] == list(VERDICTS)
    assert rec["error_kind"]["enum"] == [*ERROR_KINDS, None]
    assert rec["warnings"]["items"]["properties"]["kind"]["enum"] == list(WARNING_KINDS)
    assert rec["outcome"]["properties"]["kind"]["enum"] == list(OUTCOMES)
