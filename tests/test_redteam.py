"""Red team: malformed, partial and hostile input, as an adversarial user would bring it.

Every file under ``tests/redteam/broken/`` is broken in one way and says, in its last line
(``# expect: LINE: MESSAGE``), the one located line ``gradconf check`` must print for it.
Around that corpus: hostile files made here (too large, binary, not UTF-8), command-line
misuse with the exit code each must give, Hypothesis-generated and mutated case documents,
and a whole run on PyTorch of the corpus beside good cases whose records must stay intact.
"""

from __future__ import annotations

import copy
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradconf.case import Case
from gradconf.cli import main
from gradconf.loader import LoadError, load_file
from gradconf.results import JsonlWriter, validate
from gradconf.runner import run_check, run_probe
from helpers import CASES, ROOT, case_yaml, one_case
from numpy_adapter import NumpyDifferences
from test_results import environment, passing, write_stream

REDTEAM = Path(__file__).parent / "redteam"
CORPUS = sorted((REDTEAM / "broken").glob("*.yaml"))  # not "cases": pytest would run them
EXPECT = re.compile(r"^# expect: (\d+): (.*)$", re.M)


def expected(path: Path) -> tuple[int, str]:
    """The line and message a corpus file declares for itself."""
    (m,) = EXPECT.findall(path.read_text(encoding="utf-8"))
    return int(m[0]), m[1]


def run_cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``gradconf ARGV`` in process: exit code, stdout, stderr (argparse's exits included)."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_the_corpus_is_large_and_covers_every_category() -> None:
    assert len(CORPUS) >= 60
    prefixes = {p.name.split("-")[0] for p in CORPUS}
    assert prefixes >= {"yaml", "size", "num", "case", "fn", "field", "check", "golden", "div",
                        "probe"}


# ------------------------------------------------------------------ one located line each


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_each_broken_file_is_one_located_line(path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    line, message = expected(path)
    monkeypatch.chdir(REDTEAM)
    code, out, err = run_cli(["check", f"broken/{path.name}"], capsys)
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[-1] == "gradconf: 0 case(s) loaded, 1 error(s)"
    (got,) = lines[:-1]
    assert got.split(" (hint: ")[0] == f"broken/{path.name}:{line}: {message}"
    assert line <= len(path.read_text(encoding="utf-8").splitlines()) + 1  # +1: end of file


def _hostile_files(root: Path) -> dict[str, tuple[Path, int, str]]:
    """Files too hostile to commit, made on the spot: path, line, message fragment."""
    root.mkdir(exist_ok=True)
    made = {
        "too-large": ("cases:\n" + "# padding\n" * 500_000, 1, "more than 4194304"),
        "binary": (bytes(range(256)) * 8, 2, "not UTF-8 text"),  # byte 10 ends line 1
        "latin-1": ("cases:\n  - id: caf\xe9\n".encode("latin-1"), 2, "not UTF-8 text"),
        "nul-byte": ("cases:\n  - id: a\x00b\n", 2, "NUL byte"),
        "empty": ("", 1, "the file is empty"),
        "long-function": (case_yaml("id: rt\ntitle: t\nsource: {note: n, section: s}\n"
                                    "inputs: {x: [1., 2.]}\nfunction: " + "+".join(["x"] * 12000)
                                    ), 6, "more than 20000 (limit expr_chars)"),
    }
    out = {}
    for name, (content, line, fragment) in made.items():
        path = root / f"{name}.yaml"
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
        out[name] = (path, line, fragment)
    return out


@pytest.mark.parametrize("name", ["too-large", "binary", "latin-1", "nul-byte", "empty",
                                  "long-function"])
def test_hostile_files_made_here_are_one_located_line(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    path, line, fragment = _hostile_files(tmp_path / "cases")[name]
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["check", f"cases/{path.name}"], capsys)
    assert code == 1 and err == ""
    (got, summary) = out.splitlines()
    assert got.startswith(f"cases/{path.name}:{line}: ") and fragment in got
    assert summary == "gradconf: 0 case(s) loaded, 1 error(s)"


def test_the_whole_corpus_loads_in_bounded_memory_and_time(tmp_path: Path) -> None:
    """In a child limited to 2 GB of address space: no file may grow past it (the alias
    bomb alone would need tens of GB), and every file is still one line."""
    shutil.copytree(REDTEAM / "broken", tmp_path / "cases")
    _hostile_files(tmp_path / "cases")
    limit = 2 * 2**30

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    proc = subprocess.run([sys.executable, "-m", "gradconf", "check", "cases"], cwd=tmp_path,
                          capture_output=True, text=True, timeout=300, preexec_fn=cap)
    files = len(list((tmp_path / "cases").glob("*.yaml")))
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.splitlines()[-1] == f"gradconf: 0 case(s) loaded, {files} error(s)"
    assert all(re.match(r"^cases/[^:]+\.yaml:\d+: ", line)
               for line in proc.stdout.splitlines()[:-1])


# ------------------------------------------------------------------ the command line


def _results(tmp: Path) -> dict[str, Path]:
    """Inputs for the misuse table: good and broken streams and documents."""
    tmp.mkdir(exist_ok=True)
    rec = passing(nodeid="cases/a.yaml::square[torch-value-float64]")
    good = tmp / "good"
    write_stream((good / "torch.jsonl"), "torch", [rec])
    main(["report", "--results-dir", str(good)])
    paths = {"good": good, "good_json": good / "results.json"}
    for name, text in {
        "binary.json": None, "list.json": "[1, 2]", "old.json": None, "notrecords.json": None,
    }.items():
        path = tmp / name
        if name == "binary.json":
            path.write_bytes(bytes(range(256)))
        elif name == "old.json":
            doc = json.loads(paths["good_json"].read_text(encoding="utf-8"))
            path.write_text(json.dumps(doc | {"schema_version": "0.9"}), encoding="utf-8")
        elif name == "notrecords.json":
            doc = json.loads(paths["good_json"].read_text(encoding="utf-8"))
            doc["records"][0].pop("verdict")
            path.write_text(json.dumps(doc), encoding="utf-8")
        else:
            path.write_text(text or "", encoding="utf-8")
        paths[name.replace(".json", "_json")] = path
    corrupt = tmp / "corrupt"
    write_stream(corrupt / "torch.jsonl", "torch", [rec])
    lines = (corrupt / "torch.jsonl").read_text(encoding="utf-8").splitlines()
    lines.insert(2, '{"case": "half')
    (corrupt / "torch.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    paths["corrupt"] = corrupt
    torn = tmp / "torn"
    write_stream(torn / "torch.jsonl", "torch", [rec, passing(
        check="vjp", nodeid="cases/a.yaml::square[torch-vjp-float64]")], complete=False)
    text = (torn / "torch.jsonl").read_text(encoding="utf-8").splitlines()
    (torn / "torch.jsonl").write_text("\n".join(text[:-1]) + "\n" + text[-1][:40],
                                      encoding="utf-8")
    paths["torn"] = torn
    unknown = tmp / "unknown"
    unknown.mkdir()
    (unknown / "torch.jsonl").write_text(json.dumps({"schema_version": "9.9",
                                                     "environment": {}}) + "\n"
                                         + json.dumps(rec) + "\n", encoding="utf-8")
    paths["unknown"] = unknown
    two = tmp / "two-headers"
    write_stream(two / "torch.jsonl", "torch", [rec])
    with (two / "torch.jsonl").open("a", encoding="utf-8") as fh:
        fh.write(json.dumps({"schema_version": "1.1", "environment": environment("torch")})
                 + "\n")
    paths["two-headers"] = two
    return paths


# (id, argv with {name} placeholders, exit code, fragment of stderr or stdout)
MISUSE = [
    ("no-command", [], 2, "required: command"),
    ("unknown-command", ["frobnicate"], 2, "invalid choice"),
    ("unknown-option", ["check", "--frobnicate"], 2, "unrecognized arguments"),
    ("check-missing-path", ["check", "{tmp}/nowhere"], 2, "nowhere: no such file or directory"),
    ("check-empty-dir", ["check", "{tmp}"], 2, "no *.yaml or *.yml case files here"),
    ("check-limit-unknown", ["check", "--limit", "bogus=1", "cases"], 2,
     "'bogus=1' is not NAME=VALUE with a known NAME"),
    ("check-limit-zero", ["check", "--limit", "entries=0", "cases"], 2,
     "entries must be a positive whole number"),
    ("check-limit-text", ["check", "--limit", "entries=lots", "cases"], 2,
     "entries must be a positive whole number"),
    ("check-limit-no-value", ["check", "--limit", "entries", "cases"], 2, "not NAME=VALUE"),
    ("check-lowered-limit", ["check", "--limit", "entries=1", "cases"], 1,
     "more than 1 (limit entries)"),
    ("report-missing-dir", ["report", "--results-dir", "{tmp}/nowhere"], 2, "no such directory"),
    ("report-empty-dir", ["report", "--results-dir", "{tmp}"], 2, "no *.jsonl results"),
    ("report-missing-framework", ["report", "--results-dir", "{good}", "--expect", "jax"], 1,
     "jax run incomplete: no stream"),
    ("report-corrupt-stream", ["report", "--results-dir", "{corrupt}"], 1,
     "not a JSON line (the stream is corrupt)"),
    ("report-torn-stream", ["report", "--results-dir", "{torn}"], 1,
     "never finished: cases/a.yaml::square[torch-vjp-float64]"),
    ("report-unknown-schema", ["report", "--results-dir", "{unknown}"], 1,
     "schema_version '9.9' is not 1.1"),
    ("report-two-headers", ["report", "--results-dir", "{two_headers}"], 1,
     "a second header"),
    ("report-strict-clean", ["report", "--results-dir", "{good}", "--strict"], 0, ""),
    ("diff-missing-file", ["diff", "{tmp}/nowhere.json", "{good_json}"], 2,
     "nowhere.json: no such file or directory"),
    ("diff-binary", ["diff", "{binary_json}", "{good_json}"], 2, "not a readable results"),
    ("diff-json-list", ["diff", "{good_json}", "{list_json}"], 2, "not a results document"),
    ("diff-other-schema-version", ["diff", "{old_json}", "{good_json}"], 2,
     "schema_version '0.9' is not 1.1"),
    ("diff-records-of-another-schema", ["diff", "{notrecords_json}", "{good_json}"], 2,
     "breaks the results schema at records/0"),
    ("diff-corrupt-stream", ["diff", "{good}", "{corrupt}"], 2, "cannot be trusted"),
    ("diff-unknown-schema-stream", ["diff", "{good}", "{unknown}"], 2, "cannot be trusted"),
    ("diff-torn-candidate", ["diff", "{good}", "{torn}"], 1, "incomplete"),
    ("diff-unknown-framework", ["diff", "{good}", "{good}", "--framework", "nosuch"], 2,
     "--framework: neither run has 'nosuch'"),
    ("diff-unknown-category", ["diff", "{good}", "{good}", "--fail-on", "regressions"], 2,
     "unknown categories ['regressions']"),
    ("diff-out-is-a-file", ["diff", "{good}", "{good}", "--out", "{good_json}"], 2, ""),
    ("diff-clean", ["diff", "{good}", "{good_json}"], 0, "gate passed"),
    ("diff-empty-dir", ["diff", "{tmp}", "{good}"], 2, "no *.jsonl streams"),
]


@pytest.mark.parametrize(("argv", "code", "fragment"), [m[1:] for m in MISUSE],
                         ids=[m[0] for m in MISUSE])
def test_command_line_misuse_gets_its_exit_code_and_one_message(
        argv: list[str], code: int, fragment: str, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    paths = {k.replace("-", "_"): str(v) for k, v in _results(tmp_path / "in").items()}
    empty = tmp_path / "empty"
    empty.mkdir()
    monkeypatch.chdir(ROOT)
    got, out, err = run_cli([a.format(tmp=empty, **paths) for a in argv], capsys)
    assert got == code, out + err
    assert fragment in out + err
    assert "Traceback" not in out + err
    if code == 2 and argv and argv[0] in ("diff", "report") and "--out" not in argv:
        assert len(err.strip().splitlines()) == 1, err


def test_exit_codes_are_in_the_help_and_the_readme(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_cli(["--help"], capsys)
    assert code == 0
    for line in ("0  clean", "1  failures found", "2  usage or input error"):
        assert line in out
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "| 2 |" in readme and "usage or input error" in readme


# ------------------------------------------------------------------ generated documents

NAMES = st.sampled_from(["x", "y", "n"])
USES = st.sampled_from(["x", "x", "x", "y", "n"])
OPS1 = st.sampled_from(["exp", "log", "sin", "tanh", "sqrt", "abs", "relu", "sum", "mean",
                        "max", "norm", "neg"])
ATOMS = st.one_of(USES, USES, st.sampled_from(["1", "2.5", "0", "1e308", "-3"]))


@st.composite
def expressions(draw: Any, depth: int = 3) -> str:
    """A function text over x, y and n from a small grammar (valid or not)."""
    if depth == 0 or draw(st.booleans()):
        return str(draw(ATOMS))
    kind = draw(st.sampled_from(["unary", "binary", "index", "reduce"]))
    inner = draw(expressions(depth - 1))
    if kind == "unary":
        return f"{draw(OPS1)}({inner})"
    if kind == "binary":
        other = draw(expressions(depth - 1))
        return f"({inner} {draw(st.sampled_from(['+', '-', '*', '/', '**', '@']))} {other})"
    if kind == "index":
        return f"({inner})[{draw(st.integers(-3, 3))}]"
    return f"sum({inner}, axis={draw(st.integers(-2, 2))})"


FLOATS = st.lists(st.floats(-3, 3), min_size=2, max_size=2)
ARRAYS = st.one_of(
    st.lists(st.floats(-3, 3), min_size=1, max_size=3),
    st.lists(st.lists(st.floats(-3, 3), min_size=2, max_size=2), min_size=1, max_size=2),
    st.floats(-3, 3),
    st.fixed_dictionaries({"shape": st.lists(st.integers(-1, 3), min_size=1, max_size=2),
                           "init": st.sampled_from(["normal", "uniform", "ones", "bogus"])},
                          optional={"seed": st.integers(-2, 5),
                                    "dtype": st.sampled_from(["float32", "int64", "float65"])}),
    st.sampled_from([[], ".nan", None, "ones", [[1.0], [1.0, 2.0]]]),
)
CHECKS = st.lists(st.one_of(
    st.sampled_from(["value", "vjp", "jvp", "jacobian", "rev_fwd", "hessian", "nonsense"]),
    st.sampled_from(["value", "vjp", "jvp", "jacobian", "rev_fwd"]),
    st.fixed_dictionaries({"vjp": st.fixed_dictionaries({"cotangent": st.sampled_from(
        ["ones", "random", {"random": 3}, {"random": -1}, [1.0, 2.0], "bogus"])})}),
    st.fixed_dictionaries({"derivative": st.fixed_dictionaries(
        {"order": st.integers(0, 5)}, optional={"wrt": st.sampled_from(["x", "y", "q"])})}),
), min_size=1, max_size=4)


@st.composite
def case_documents(draw: Any) -> dict[str, Any]:
    """One case document: mostly well-formed fields, some of them wrong (x is always a
    float input, so about half the documents load and reach the engine)."""
    inputs = {"x": draw(FLOATS), **draw(st.dictionaries(NAMES, ARRAYS, max_size=2))}
    function = draw(expressions())
    if not re.search(r"[xyn]", function):  # a constant output is refused: mostly not that
        function = f"x * {function}"
    case: dict[str, Any] = {"id": draw(st.sampled_from(["gen"] * 6 + ["Bad Id", ""])),
                            "title": "generated", "source": {"note": "g", "section": "g"},
                            "inputs": inputs, "function": function,
                            "checks": draw(CHECKS)}
    if draw(st.integers(0, 3)) == 0:
        case["dtypes"] = draw(st.lists(st.sampled_from(["float32", "float64", "float8"]),
                                       min_size=1, max_size=2))
    if draw(st.booleans()):
        case["probes"] = [{"kind": draw(st.sampled_from(["second_pass", "accumulate"])),
                           "expect": {"outcome": "value"}}]
    return {"cases": [case]}


def _load_doc(doc: Any, path: Path) -> list[Case | LoadError]:
    text = yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)
    path.write_text(text, encoding="utf-8")
    items = load_file(path, "gen.yaml")
    lines = max(1, len(text.splitlines()))
    for item in items:
        if isinstance(item, LoadError):
            located = str(item)
            assert "\n" not in located and located.startswith("gen.yaml:"), located
            assert 1 <= item.line <= lines + 1, (located, text)
    return items


def _judged(rec: dict[str, Any]) -> bool:
    """Whether the engine judged the record without an error of its own. A point so close
    to float64's range that the reference overflows is refused, by name, as the case's."""
    return "could not judge" not in rec["message"] or "float64 overflowed" in rec["message"]


def _judge_everything(case: Case) -> None:
    """Every check and probe of an accepted case through the engine: no engine error."""
    adapter = NumpyDifferences()
    for dtype in case.dtypes:
        for check in case.checks:
            rec = run_check(case, check, dtype, adapter, adapter.version(), repeat=1)
            assert _judged(rec), (case.program.text, rec["message"], rec.get("traceback"))
    for probe in case.probes:
        rec = run_probe(case, probe, adapter, adapter.version())
        assert _judged(rec), (case.program.text, rec["message"], rec.get("traceback"))


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=case_documents())
def test_generated_documents_load_or_fail_located_and_what_loads_runs(
        doc: dict[str, Any], tmp_path: Path) -> None:
    for item in _load_doc(doc, tmp_path / "gen.yaml"):
        if isinstance(item, Case):
            _judge_everything(item)


SHIPPED = [yaml.safe_load(p.read_text(encoding="utf-8")) for p in sorted(CASES.glob("*.yaml"))]
WEIRD = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70),
                  st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                  st.sampled_from([[], {}, [[1], [1, 2]], "ones", {"random": -1},
                                   "x[10**20]", "reshape(x, shape=(10**20,))", "concat([])"]))


@st.composite
def mutated_shipped_cases(draw: Any) -> Any:
    """A shipped case file with a few values replaced, deleted or retyped."""
    doc = copy.deepcopy(draw(st.sampled_from(SHIPPED)))
    for _ in range(draw(st.integers(1, 3))):
        node, depth = doc, 0
        while isinstance(node, dict | list) and node and depth < 8:
            keys = list(node) if isinstance(node, dict) else list(range(len(node)))
            key = draw(st.sampled_from(keys))
            child = node[key]
            if not isinstance(child, dict | list) or not child or draw(st.booleans()):
                if draw(st.integers(0, 4)) == 0:
                    del node[key]
                else:
                    node[key] = copy.deepcopy(draw(WEIRD))
                break
            node, depth = child, depth + 1
    return doc


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(doc=mutated_shipped_cases())
def test_mutated_shipped_cases_load_or_fail_located(doc: Any, tmp_path: Path) -> None:
    _load_doc(doc, tmp_path / "gen.yaml")


# ------------------------------------------------------------------ a whole run, on PyTorch


GOOD = """
  - id: good-square
    title: good
    source: {note: t, section: t}
    inputs: {x: [1., 2.]}
    function: sum(x**2)
    checks: [value, vjp]
  - id: good-mean
    title: good
    source: {note: t, section: t}
    inputs: {x: [1., 2.]}
    function: mean(x)
    checks: [vjp]
"""
TWIN = """
cases:
  - id: twin
    title: one id in two files
    source: {note: t, section: t}
    inputs: {x: [1., 2.]}
    function: sum(x)
    checks: [vjp]
"""


@pytest.mark.torch
def test_a_run_of_the_whole_corpus_keeps_every_good_record_and_locates_every_bad_one(
        tmp_path: Path) -> None:
    pytest.importorskip("gradconf_adapters.torch_adapter")
    cases = tmp_path / "cases"
    shutil.copytree(REDTEAM / "broken", cases)
    good_name = "good `cases` ü é.yaml"  # a space, a backtick and non-ASCII in a file name
    (cases / good_name).write_text("cases:" + GOOD, encoding="utf-8")
    (cases / "aa-twin.yaml").write_text(TWIN, encoding="utf-8")
    (cases / "zz-twin.yaml").write_text(TWIN, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tests")}
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           "cases", "--framework", "torch", "--results-dir", "out", "-n", "2",
                           "--junitxml", "out/junit.xml"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert "Traceback" not in proc.stdout + proc.stderr
    report = subprocess.run([sys.executable, "-m", "gradconf", "report", "--results-dir", "out",
                             "--strict"], cwd=tmp_path, capture_output=True, text=True,
                            timeout=300)
    assert report.returncode == 1 and "incomplete" not in report.stderr, report.stderr
    doc = json.loads((tmp_path / "out" / "results.json").read_text(encoding="utf-8"))
    validate(doc)
    assert doc["runs"]["torch"]["complete"] is True
    records = doc["records"]
    good = [r for r in records if r["file"] == f"cases/{good_name}"]
    assert {(r["case"], r["check"], r["dtype"]) for r in good} == {
        (c, k, d) for c, k in (("good-square", "value"), ("good-square", "vjp"),
                               ("good-mean", "vjp")) for d in ("float32", "float64")}
    assert {r["verdict"] for r in good} == {"pass"}
    assert all(good_name in r["nodeid"] for r in good)
    # each corpus file: exactly its one invalid record, at its line, with its message
    for path in CORPUS:
        line, message = expected(path)
        (rec,) = [r for r in records if r["file"] == f"cases/{path.name}"]
        assert rec["verdict"] == "invalid" and rec["line"] == line
        assert rec["message"].split(" (hint: ")[0] == f"cases/{path.name}:{line}: {message}"
    # one id in two files: both copies invalid, neither publishes records under the id
    twins = [r for r in records if r["case"] == "twin"]
    assert sorted((r["file"], r["verdict"]) for r in twins) == [
        ("cases/aa-twin.yaml", "invalid"), ("cases/zz-twin.yaml", "invalid")]
    # hostile text echoed in a message (yaml-entry-hostile-string) stays text everywhere
    summary = (tmp_path / "out" / "summary.md").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert\\(1\\)&gt;" in summary
    assert "<img" not in summary and "<script" not in summary
    page = (tmp_path / "out" / "index.html").read_text(encoding="utf-8")
    assert "&lt;img src=x onerror=alert(1)&gt;" in page and "<img" not in page
    junit = ET.parse(tmp_path / "out" / "junit.xml").getroot()
    assert not [e for e in junit.iter() if e.tag in ("img", "script")]
    texts = [(f.get("message") or "") + (f.text or "") for f in junit.iter("failure")]
    assert any("<img src=x onerror=alert(1)>" in t for t in texts)


@pytest.mark.torch
def test_a_case_error_found_only_at_run_time_is_invalid_not_the_frameworks(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """If the engine itself fails on a case, the record says so, located at the case."""
    pytest.importorskip("gradconf_adapters.torch_adapter")
    from gradconf import judge, runner
    from gradconf_adapters.torch_adapter import TorchAdapter

    (case,) = load_file(CASES / "reductions.yaml", "cases/reductions.yaml")[:1]
    assert isinstance(case, Case)

    def broken(*args: Any, **kw: Any) -> Any:
        raise ValueError("zero-size array to reduction operation maximum")
    monkeypatch.setattr(judge, "oracle_for", broken)
    adapter = TorchAdapter()
    check = next(c for c in case.checks if c.kind == "vjp")
    rec = runner.run_check(case, check, "float64", adapter, adapter.version(), fast=False)
    assert rec["verdict"] == "invalid" and rec["error_kind"] is None
    assert rec["message"].startswith(f"cases/reductions.yaml:{case.line}: case '{case.id}': "
                                     "gradconf could not judge this check: ValueError")


def test_a_stream_cut_short_reads_as_incomplete_and_names_what_is_missing(
        tmp_path: Path) -> None:
    path = tmp_path / "torch.jsonl"
    writer = JsonlWriter(path, environment("torch"))
    writer.manifest(["cases/a.yaml::a[torch-vjp-float64]", "cases/a.yaml::a[torch-jvp-float64]"])
    writer.write(passing(check="vjp", nodeid="cases/a.yaml::a[torch-vjp-float64]"))
    writer.close()
    from gradconf.diff import diff
    from gradconf.report.html import render
    from gradconf.report.markdown import diff_markdown, summary_markdown
    from gradconf.results import merge
    doc = merge([path])
    run = doc["runs"]["torch"]
    assert run["complete"] is False and run["missing"] == ["cases/a.yaml::a[torch-jvp-float64]"]
    assert any("no end line" in r for r in run["incomplete"])
    # every view says so: summary.md, the page, and a diff against it
    assert "## Incomplete runs (1)" in summary_markdown(doc)
    assert "`cases/a.yaml::a[torch-jvp-float64]`" in summary_markdown(doc)
    page = render(doc)
    assert '<h2 id="incomplete">Incomplete runs (1)</h2>' in page
    assert "<code>cases/a.yaml::a[torch-jvp-float64]</code>" in page
    gate = diff(doc, doc)
    assert gate["gate"]["passed"] is False and gate["gate"]["failed_on"] == ["incomplete"]
    assert "- incomplete: base torch incomplete" in diff_markdown(gate)


@pytest.mark.torch
@pytest.mark.parametrize(("option", "fragment"), [
    (["--framework", "nosuch"], "cannot load the 'nosuch' adapter"),
    (["--framework", "torch", "--limit", "bogus=1"], "is not NAME=VALUE with a known NAME"),
    (["--framework", "torch", "--repeat", "0"], "--repeat must be at least 1"),
])
def test_pytest_usage_errors_stop_before_any_record(option: list[str], fragment: str,
                                                    tmp_path: Path) -> None:
    pytest.importorskip("gradconf_adapters.torch_adapter")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q",
                           str(CASES / "reductions.yaml"), "--results-dir", str(tmp_path),
                           *option], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 4 and fragment in proc.stdout + proc.stderr
    assert not list(tmp_path.glob("*.jsonl"))


def test_a_function_near_float64s_range_is_judged_without_an_engine_error(tmp_path):
    """Found by the generator above: one-sided slopes of x * abs(1e308) overflow, and the
    oracle's inf - inf must classify the entries, not stop the judgement."""
    case = one_case(tmp_path, """
id: near-range
title: near float64's range
source: {note: g, section: g}
inputs:
  x: [1.5, -2.0]
function: x * abs(1e308)
checks: [vjp, jvp, jacobian]
""")
    _judge_everything(case)
