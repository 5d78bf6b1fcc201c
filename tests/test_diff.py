"""``gradconf diff``: every category on hand-made records, the gate, the files it writes."""

from __future__ import annotations

import copy
import json
import re
import subprocess
import sys
import warnings
from collections import Counter

import jsonschema
import pytest

from gradconf import SCHEMA_VERSION
from gradconf.arrays import encode
from gradconf.diff import classify, diff, validate
from gradconf.intake import InputError
from gradconf.intake.streams import load_document
from gradconf.report.markdown import diff_markdown
from test_results import complete_run, write_stream

TOL = {"rtol": 1e-9, "atol": 1e-9, "oracle_factor": 4.0}


def record(**over):
    """A vjp record of the shape the runner writes, with ``over`` applied."""
    rec = {"case": "norm-of-square", "framework": "torch", "framework_version": "2.13.0",
           "check": "vjp", "kind": "vjp", "dtype": "float64", "file": "cases/reductions.yaml",
           "line": 12, "verdict": "pass", "message": "", "tolerance": TOL,
           "observed": {"x": encode([0.48507125007266594, 3.8805700005813275])},
           "outcome": None, "error_kind": None, "error": None, "warnings": [],
           "reference": None, "golden": None, "max_abs_err": None, "max_rel_err": None,
           "oracle_err": None, "duration_s": 0.01}
    rec.update(over)
    return rec


def probe(**over):
    """A probe record: the second backward pass through a freed graph."""
    rec = record(check="probe-second-backward", kind="probe", observed=None,
                 outcome={"kind": "error", "values": {}, "steps": [], "idiom": "y.backward()"},
                 error_kind="graph_freed",
                 error={"type": "RuntimeError", "message": "Trying to backward through the "
                                                           "graph a second time"})
    rec.update(over)
    return rec


def doc(*records, version="2.13.0", runs=None):
    """A results document of ``records`` whose runs (default: every framework's) are
    complete."""
    frameworks = {r["framework"] for r in records} or {"torch"}
    return {"schema_version": SCHEMA_VERSION,
            "environment": {"frameworks": {"torch": version}, "git_revision": "abc",
                            "time": "2026-11-22T00:00:00+00:00", "python": "3.11.7",
                            "platform": "Linux", "numpy": "2.1.0", "gradconf": "0.1.0"},
            "summary": {"total": len(records),
                        "verdicts": dict(Counter(r["verdict"] for r in records))},
            "runs": runs if runs is not None else {fw: complete_run(fw, len(records))
                                                   for fw in frameworks},
            "records": list(records)}


@pytest.mark.parametrize(("base", "cand", "category"), [
    (record(), record(), "unchanged"),
    (record(), record(verdict="mismatch", message="x[1]: 3.88 but should be 3.89"),
     "regression"),
    (record(verdict="nan"), record(), "fix"),
    (record(verdict="expected_divergence"), record(verdict="stale"), "fix"),
    (record(verdict="expected_divergence"), record(), "fix"),
    (record(verdict="expected_divergence"), record(verdict="convention"), "fix"),
    (record(verdict="expected_divergence"), record(verdict="mismatch"), "regression"),
    (record(verdict="expected_divergence"), record(verdict="undefined"), "behaviour"),
    (record(), record(verdict="convention"), "behaviour"),
    (record(verdict="mismatch"), record(verdict="error"), "behaviour"),
    (record(), record(verdict="unsupported"), "behaviour"),
    (probe(), probe(error_kind="other"), "behaviour"),
    (probe(), probe(error={"type": "ValueError", "message": "Trying to backward through the "
                                                            "graph a second time"}),
     "behaviour"),
    (probe(), probe(outcome={"kind": "value", "values": {}, "steps": [], "idiom": ""}),
     "behaviour"),
    (record(), record(warnings=[{"kind": "other", "category": "DeprecationWarning",
                                 "message": "deprecated"}]), "behaviour"),
    (probe(), probe(error={"type": "RuntimeError", "message": "graph freed"}), "drift"),
    (record(execution="compiled"),
     record(execution="compiled", warnings=[{"kind": "deprecated_api", "category":
                                             "FutureWarning", "message": "deprecated"}]),
     "drift"),
    (record(execution="compiled"), record(execution="compiled", verdict="error"),
     "regression"),
])
def test_categories(base, cand, category):
    got, why = classify(base, cand)
    assert got == category, why
    assert (why == "") == (category == "unchanged")


def test_a_value_moving_past_its_tolerance_is_drift_and_inside_it_is_not():
    base = record()
    near = record(observed={"x": encode([0.48507125007266594 * (1 + 1e-10),
                                         3.8805700005813275])})
    far = record(observed={"x": encode([0.48507125007266594, 3.8805700005813275 * (1 + 1e-7)])})
    assert classify(base, near) == ("unchanged", "")
    category, why = classify(base, far)
    assert category == "drift"
    assert why.startswith("x[1] moved 3.8805700005813275 → ") and "× the tolerance" in why


def test_drift_ignores_non_finite_entries_and_shape_changes():
    base = record(observed={"x": encode([float("nan"), 1.0])})
    assert classify(base, record(observed={"x": encode([float("nan"), 1.0])}))[0] == "unchanged"
    inf = record(observed={"x": encode([float("inf"), 1.0])})
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # inf - inf is skipped, not computed with a warning
        assert classify(inf, inf)[0] == "unchanged"
    assert classify(base, record(observed={"x": encode([1.0, 1.0, 1.0])}))[0] == "unchanged"


def test_diff_document_counts_gates_and_validates():
    base = doc(record(), record(check="jvp"), probe(), record(case="only-in-base"))
    cand = doc(record(verdict="mismatch", message="worse"), record(check="jvp"),
               probe(error_kind="other"), record(case="only-in-candidate"), version="2.14.1")
    out = diff(base, cand)
    validate(out)
    assert out["summary"] == {"regression": 1, "fix": 0, "behaviour": 1, "drift": 0,
                              "added": 1, "removed": 1, "unchanged": 1}
    gate = dict(out["gate"])
    assert gate.pop("acknowledgements")["entries"] == 0
    assert gate == {"fail_on": ["regression", "behaviour", "removed"], "passed": False,
                    "failed_on": ["regression", "behaviour", "removed"], "incomplete": [],
                    "acknowledged": 0}
    assert [c["category"] for c in out["changes"]] == ["regression", "behaviour", "added",
                                                       "removed"]
    reg = out["changes"][0]
    assert (reg["case"], reg["check"], reg["file"], reg["line"]) == \
        ("norm-of-square", "vjp", "cases/reductions.yaml", 12)
    assert reg["base"]["verdict"] == "pass" and reg["candidate"]["verdict"] == "mismatch"
    assert out["base"]["frameworks"] == {"torch": "2.13.0"}
    assert out["candidate"]["frameworks"] == {"torch": "2.14.1"}
    assert diff(base, cand, fail_on=["fix"])["gate"]["passed"] is True
    assert diff(base, cand, fail_on=[])["gate"]["passed"] is True


def test_a_run_against_itself_passes_the_gate():
    base = doc(record(), probe(), record(check="jvp", verdict="expected_divergence"))
    out = diff(base, copy.deepcopy(base))
    assert out["changes"] == [] and out["gate"]["passed"]
    assert out["summary"]["unchanged"] == 3


def test_framework_filter_compares_one_framework():
    base = doc(record(), record(framework="jax", verdict="pass"))
    cand = doc(record(), record(framework="jax", verdict="mismatch"))
    assert diff(base, cand)["summary"]["regression"] == 1
    only = diff(base, cand, frameworks=["torch"])
    assert only["summary"]["regression"] == 0 and only["summary"]["unchanged"] == 1
    assert only["base"]["records"] == 1


def test_a_run_with_two_records_of_one_item_is_refused():
    with pytest.raises(ValueError, match="candidate run: two records of norm-of-square "
                                         "\\[torch-vjp-float64\\]"):
        diff(doc(record()), doc(record(), record(verdict="mismatch")))


def test_unknown_gate_category_is_refused():
    with pytest.raises(ValueError, match="unknown categories \\['regressions'\\]"):
        diff(doc(), doc(), fail_on=["regressions"])


def test_schema_rejects_a_tampered_document():
    out = diff(doc(record()), doc(record(verdict="mismatch")))
    out["changes"][0]["category"] = "worse"
    with pytest.raises(jsonschema.ValidationError):
        validate(out)


def test_markdown_lists_changes_and_escapes_table_cells():
    out = diff(doc(record()), doc(record(verdict="mismatch", message="a | b")))
    text = diff_markdown(out)
    assert text.startswith("# gradconf diff: gate FAILED on regression")
    assert "## regression (1 item, 1 case)" in text
    assert ("| `norm-of-square` | torch | vjp × float64 \\(1\\) | pass → mismatch | "
            "bit\\-identical | pass → mismatch: a \\| b — message: “” → “a \\| b” |") in text
    assert ("| `norm-of-square` | torch | vjp | float64 | pass | mismatch | bit\\-identical | "
            "pass → mismatch: a \\| b |") in text


def _moved_by(factor):
    """The base record's observed x with its second entry moved by ``factor`` tolerances."""
    x = [0.48507125007266594, 3.8805700005813275]
    bound = TOL["rtol"] * abs(x[1]) + TOL["atol"] * max(abs(v) for v in x)
    return {"x": encode([x[0], x[1] + factor * bound])}


def test_one_change_over_checks_and_dtypes_is_one_row_with_old_and_new_values():
    """A fix seen in 4 checks x 2 dtypes is one grouped row (its 8 items listed below), with
    the largest old -> new value; the per-framework counts say what stayed bit-identical,
    moved within tolerance, or drifted."""
    base, cand = [], []
    for check in ("vjp", "jvp", "jacobian", "hessian"):
        for dtype in ("float32", "float64"):
            over = {"check": check, "kind": check, "dtype": dtype}
            base.append(record(verdict="nan", message="NaN where the reference is 0", **over))
            cand.append(record(observed=_moved_by(3.0 if check == "jvp" else 0.5), **over))
    base.append(record(case="other", check="vjp"))
    cand.append(record(case="other", check="vjp", observed=_moved_by(0.5)))
    base.append(record(case="third", check="vjp"))
    cand.append(record(case="third", check="vjp"))
    out = diff(doc(*base), doc(*cand))
    validate(out)
    assert out["summary"]["fix"] == 8
    assert out["values"] == {"torch": {"identical": 1, "within_tolerance": 7, "drifted": 2,
                                       "not_compared": 0}}
    text = diff_markdown(out)
    assert "## fix (8 items, 1 case)" in text
    rows = [line for line in text.splitlines() if line.startswith("| `norm-of-square`")]
    assert len(rows) == 1 + 8  # the group, then its items in the collapsed block
    assert "hessian, jacobian, jvp, vjp × float32, float64 \\(8\\)" in rows[0]
    assert "nan → pass" in rows[0]
    assert "x\\[1\\]: 3\\.8805700005813275 → 3\\.8805700238647476 \\(3× tol\\)" in rows[0]
    assert "message: “NaN where the reference is 0” → “”" in rows[0]
    assert "| torch | 1 | 7 | 2 | 0 |" in text


def test_load_document_reads_results_json_jsonl_and_directories(tmp_path):
    (tmp_path / "run").mkdir()
    stream = tmp_path / "run" / "torch.jsonl"
    write_stream(stream, "torch", [record(nodeid="cases/r.yaml::norm-of-square[torch-vjp-"
                                          "float64]")])
    (tmp_path / "results.json").write_text(json.dumps(doc(record())), encoding="utf-8")
    for path in (stream, tmp_path / "run", tmp_path / "results.json"):
        assert [r["case"] for r in load_document(path)["records"]] == ["norm-of-square"]
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"no \*\.jsonl streams in this directory"):
        load_document(tmp_path / "empty")
    (tmp_path / "broken.json").write_text("{", encoding="utf-8")
    with pytest.raises(InputError, match=r"broken\.json: not a readable results document"):
        load_document(tmp_path / "broken.json")


def test_cli_writes_files_and_exits_by_the_gate(tmp_path):
    base, cand = tmp_path / "base.json", tmp_path / "cand.json"
    base.write_text(json.dumps(doc(record(), probe())), encoding="utf-8")
    cand.write_text(json.dumps(doc(record(verdict="mismatch", message="worse"), probe())),
                    encoding="utf-8")

    def run(*args):
        return subprocess.run([sys.executable, "-m", "gradconf", "diff", *args, "--out",
                               str(tmp_path / "out")], capture_output=True, text=True,
                              timeout=120)
    proc = run(str(base), str(cand))
    assert proc.returncode == 1, proc.stderr
    assert "regression: cases/reductions.yaml:12: norm-of-square [torch-vjp-float64]: " \
           "pass → mismatch: worse" in proc.stdout
    assert "gate FAILED on regression" in proc.stdout
    written = json.loads((tmp_path / "out" / "diff.json").read_text(encoding="utf-8"))
    validate(written)
    assert (tmp_path / "out" / "diff.md").read_text(encoding="utf-8").startswith("# gradconf")
    assert "Gate FAILED on regression" in (tmp_path / "out" / "diff.html").read_text(
        encoding="utf-8")
    assert run(str(base), str(base)).returncode == 0
    assert run(str(base), str(cand), "--fail-on", "").returncode == 0
    bad = run(str(base), str(tmp_path / "nowhere.json"))
    assert bad.returncode == 2 and "nowhere.json: no such file or directory" in bad.stderr


def test_every_category_is_documented_in_the_schema():
    from gradconf.diff import CATEGORIES, schema

    assert list(schema()["$defs"]["category"]["enum"]) == list(CATEGORIES)


# ----------------------------------------------------------------------------- the page

def page_changes(page: str) -> list[dict]:
    """The changes a diff page embeds for its script, string-table indexes resolved."""
    m = re.search(r'<script type="application/json" id="gradconf-data">(.*?)</script>',
                  page, re.S)
    assert m
    data = json.loads(m.group(1), parse_constant=lambda c: pytest.fail(f"bare {c} in JSON"))
    out = []
    for row in data["changes"]:
        c = dict(zip(data["fields"], row, strict=True))
        out.append({k: v if k in ("line", "ratio", "ack") else data["S"][v]
                    for k, v in c.items()})
    return out


def test_diff_page_shows_the_gate_counts_and_each_change_under_its_category():
    """The gate, the runs and the counts are HTML; every change, hostile text included,
    is in the page's data for its script (which the browser tests render), with the
    category, verdicts, move and reason that diff.json has; the only scripts are the page's
    own."""
    from test_report import Rows, Tags

    from gradconf.report.html import render_diff

    hostile = "<script>alert(1)</script>"
    base = doc(record(), record(check="jvp"), probe(), record(case="gone"))
    cand = doc(record(verdict="mismatch", message=f"worse {hostile}"), record(check="jvp"),
               probe(error_kind="other"), record(case="new"), version="2.14.1")
    out = diff(base, cand)
    page = render_diff(out)
    tags = Tags(page).tags
    names = [t for t, _ in tags]
    assert page.startswith("<!DOCTYPE html>") and "link" not in names
    assert [a for t, a in tags if t == "script"] == [
        {"type": "application/json", "id": "gradconf-meta"},
        {"type": "application/json", "id": "gradconf-data"}, {}]
    assert page.count("<script") == page.count("</script>") == 3
    assert hostile not in page and "alert(1)" in page  # data only, its < escaped
    assert "Gate FAILED on regression, behaviour, removed" in page
    assert "Base: torch 2.13.0 (4 records, revision abc)" in page
    assert "Candidate: torch 2.14.1 (4 records, revision abc)" in page
    rows = Rows(page).rows
    assert rows[0] == list(out["summary"]) and rows[1] == [str(n) for n in out["summary"].values()]
    assert out["summary"]["regression"] == out["summary"]["behaviour"] == 1
    meta = json.loads(re.search(r'id="gradconf-meta">(.*?)</script>', page, re.S).group(1))
    assert meta["fail_on"] == out["gate"]["fail_on"]
    shown = page_changes(page)
    assert [c["category"] for c in shown] == [c["category"] for c in out["changes"]] == [
        "regression", "behaviour", "added", "removed"]
    for c, s in zip(out["changes"], shown, strict=True):
        assert (s["case"], s["framework"], s["check"], s["dtype"], s["file"], s["line"],
                s["why"]) == (c["case"], c["framework"], c["check"], c["dtype"], c["file"],
                              c["line"], c["why"])
        assert s["base"] == (c["base"] or {}).get("verdict", "—")
        assert s["candidate"] == (c["candidate"] or {}).get("verdict", "—")
        assert s["candidate_message"] == ((c["candidate"] or {}).get("message") or "")
    assert shown[0]["candidate_message"] == f"worse {hostile}"
    calm = render_diff(diff(base, base))
    assert "Gate passed" in calm and "No item changed." in calm
    assert "<script" not in calm and "<details" not in calm


def test_a_move_from_or_to_a_non_finite_value_reaches_the_page():
    """NaN -> 0.49 has no size: diff.json writes the largest float as its ratio, which
    rounding for the page must not turn into inf; an infinite ratio is written as the
    results schema writes it, the string Infinity."""
    from gradconf.report.html import render_diff

    base = record(verdict="nan", message="NaN where the reference is finite",
                  observed={"x": encode([float("nan"), 3.8805700005813275])})
    out = diff(doc(base), doc(record(), version="2.14.1"))
    validate(out)
    (change,) = out["changes"]
    assert change["values"]["ratio"] == sys.float_info.max
    assert (change["values"]["base"], change["values"]["candidate"]) == ("NaN",
                                                                         0.48507125007266594)
    page = render_diff(out)
    (shown,) = page_changes(page)
    assert shown["move"] == "x[0]: NaN → 0.48507125007266594"
    assert shown["ratio"] == sys.float_info.max and (shown["base"], shown["candidate"]) == (
        "nan", "pass")
    # the same change with an infinite ratio (a document not read back from strict JSON)
    loose = copy.deepcopy(out)
    loose["changes"][0]["values"]["ratio"] = float("inf")
    (shown,) = page_changes(render_diff(loose))
    assert shown["ratio"] == "Infinity"
    assert shown["move"] == "x[0]: NaN → 0.48507125007266594"


def test_the_diff_says_what_else_differs_between_the_runs():
    """Python, NumPy, the cases run and the framework's build variant (a CPU baseline
    against the index's default CUDA build) are named per framework; the version itself is
    in the run line."""
    base, cand = doc(record()), doc(record(), version="2.14.1")
    base["runs"]["torch"]["environment"] = {"python": "3.11.7", "numpy": "2.4.6",
                                            "cases_digest": "aaaa",
                                            "frameworks": {"torch": "2.13.0+cpu"}}
    cand["runs"]["torch"]["environment"] = {"python": "3.12.12", "numpy": "2.4.6",
                                            "cases_digest": "bbbb",
                                            "frameworks": {"torch": "2.14.1"}}
    out = diff(base, cand)
    validate(out)
    assert out["environment"] == [
        {"framework": "torch", "field": "python", "base": "3.11.7", "candidate": "3.12.12"},
        {"framework": "torch", "field": "cases_digest", "base": "aaaa", "candidate": "bbbb"},
        {"framework": "torch", "field": "build", "base": "+cpu", "candidate": "default"}]
    text = diff_markdown(out)
    assert "- `torch` python: 3\\.11\\.7 → 3\\.12\\.12" in text
    assert "- `torch` build: \\+cpu → default" in text
    assert "the cases run: aaaa → bbbb" in text
    assert diff(base, base)["environment"] == []


def test_a_value_that_became_nan_is_the_move_shown_and_the_document_stays_json():
    base = record(verdict="pass")
    cand = record(verdict="nan", message="NaN where the reference is finite",
                  observed={"x": encode([0.48507125007266594, float("nan")])})
    out = diff(doc(base), doc(cand))
    validate(out)  # strict JSON: the NaN is written as the schema spells it
    (change,) = out["changes"]
    assert change["values"]["index"] == [1]
    assert (change["values"]["base"], change["values"]["candidate"]) == (3.8805700005813275,
                                                                         "NaN")
    assert "x\\[1\\]: 3\\.8805700005813275 → NaN |" in diff_markdown(out)
