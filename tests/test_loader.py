"""The bad-input contract: each problem is one located line, and the other cases still load."""

from __future__ import annotations

import textwrap

import pytest

from gradconf.case import Case
from gradconf.cli import main
from gradconf.loader import LoadError, load_paths
from helpers import CASES, MINIMAL, case_yaml

GOOD = MINIMAL.replace("id: tiny", "id: good")
FIRST = MINIMAL.replace("id: tiny", "id: first")
HINT_YAML = "(hint: check indentation and quoting near this line)"
HINT_ARRAY = "(hint: use ones, zeros, random, {random: seed} or a literal array)"


def many(*bodies: str) -> str:
    """A file holding one case per body, in order."""
    return "cases:\n" + "".join(case_yaml(b).removeprefix("cases:\n") for b in bodies)


def bad(rest: str, inputs: str = "x: [1., 2.]") -> str:
    """Case 'bad': lines 2-6 of the file are its head and inputs; ``rest`` starts on line 7."""
    head = "id: bad\ntitle: t\nsource: {note: n, section: s}\ninputs:\n"
    return head + textwrap.indent(inputs, "  ") + "\n" + textwrap.dedent(rest)


def summary(items: list[Case | LoadError]) -> list[str]:
    return [f"Case {i.id}" if isinstance(i, Case) else str(i) for i in items]


# ---------------------------------------------------------------- one line per bad case

BAD_CASES = {
    "unknown-op": (bad("function: expp(x)"),
                   "case.yaml:7: case 'bad': unknown op 'expp' (column 1 of the function) "
                   "(hint: did you mean 'exp'?)"),
    "unknown-op-block-line-2": (bad("""\
        function: |
          y = x * 2
          sum(expp(y))"""),
        "case.yaml:9: case 'bad': unknown op 'expp' (column 5 of the function) "
        "(hint: did you mean 'exp'?)"),
    "arity-too-many": (bad("function: exp(x, x)"),
                       "case.yaml:7: case 'bad': exp takes 1 array argument, got 2 positional "
                       "arguments (column 1 of the function)"),
    "arity-too-few": (bad("function: 1 + matmul(x)"),
                      "case.yaml:7: case 'bad': matmul takes 2 array arguments, got 1 "
                      "(column 5 of the function)"),
    "shape-mismatch": (bad("function: x @ y",
                           "x: {shape: [2, 3], init: ones}\ny: {shape: [2, 3], init: ones}"),
                       "case.yaml:8: case 'bad': matmul: inner dimensions differ: "
                       "(2, 3) @ (2, 3) (3 != 2) (column 1 of the function)"),
    "input-dtype": (bad("function: sum(x)", "x: {value: [1., 2.], dtype: float65}"),
                    "case.yaml:6: case 'bad': inputs.x.dtype: unknown dtype 'float65'; known: "
                    "float16, bfloat16, float32, float64, complex64, complex128, int32, int64"),
    "run-dtype": (bad("function: sum(x)\ndtypes: [float32, float65]"),
                  "case.yaml:8: case 'bad': dtypes: unknown run dtype 'float65'; known: "
                  "float16, bfloat16, float32, float64, complex64, complex128"),
    "missing-input": (bad("function: x + z"),
                      "case.yaml:7: case 'bad': unknown name 'z' (column 5 of the function) "
                      "(hint: declare it under inputs or constants)"),
    "wrt-not-input": (bad("function: sum(x)\nwrt: [x, w]"),
                      "case.yaml:8: case 'bad': wrt names 'w', which is not an input "
                      "(hint: inputs: x)"),
    "unknown-field": (bad("function: sum(x)\nderivaton: copied"),
                      "case.yaml:8: case 'bad': unknown field 'derivaton' "
                      "(hint: see cases/README.md for the fields)"),
    "missing-title": ("id: bad\nsource: {note: n, section: s}\ninputs:\n  x: [1.]\n"
                      "function: sum(x)",
                      "case.yaml:2: case 'bad': missing field 'title' "
                      "(hint: see cases/README.md for the schema)"),
    "unknown-check-kind": (bad("function: sum(x)\nchecks: [value, vjpp]"),
                           "case.yaml:8: case 'bad': checks.1.kind: unknown kind 'vjpp' "
                           "(hint: did you mean 'vjp'?)"),
    "golden-no-such-check": (bad("""\
        function: sum(x)
        checks: [value]
        golden:
          vjp: [2., 4.]"""),
        "case.yaml:10: case 'bad': golden names check 'vjp', which the case does not have "
        "(hint: check ids: value)"),
    "golden-wrong-shape": (bad("""\
        function: x * 2
        checks: [value, vjp]
        golden:
          vjp: [2., 2., 2.]"""),
        "case.yaml:10: case 'bad': golden 'vjp' x has shape (3,), but should be (2,)"),
    "golden-wrong-intermediate-shape": (bad("""\
        function: y = sum(x); y * x
        checks: [value]
        golden:
          value: {out: [1., 2.], y: [1., 2.]}"""),
        "case.yaml:10: case 'bad': golden 'value' y has shape (2,), but should be ()"),
    "divergence-no-check": (bad("""\
        function: sum(x)
        checks: [value]
        divergences:
          - {framework: torch, kind: api, versions: '>=2.13', check: 'jvp*',
             reason: long enough reason, link: 'https://e.org'}
        """),
        "case.yaml:10: case 'bad': divergence names check 'jvp*', which matches no check "
        "(hint: check ids: value)"),
    "cotangent-shape": (bad("""\
        function: x * 2
        checks:
          - value
          - vjp: {cotangent: [1., 2., 3.]}"""),
        f"case.yaml:10: case 'bad': cotangent has shape (3,), but should be (2,) {HINT_ARRAY}"),
    "probe-of-unassigned": (bad("""\
        function: y = x * 2; sum(y)
        probes:
          - kind: nonleaf_grad
            of: [y, z]
            expect: {outcome: absent}"""),
        "case.yaml:10: case 'bad': probe reads intermediate 'z', which the function does not "
        "assign (hint: assigned: y)"),
}


@pytest.mark.parametrize(("body", "expected"), BAD_CASES.values(), ids=BAD_CASES.keys())
def test_bad_case_is_one_located_line_and_the_next_case_loads(load_text, body, expected):
    assert summary(load_text(many(body, GOOD))) == [expected, "Case good"]


def test_a_broken_case_between_good_ones(load_text):
    items = load_text(many(FIRST, bad("function: expp(x)"), GOOD))
    assert [type(i) for i in items] == [Case, LoadError, Case]
    assert summary(items) == [
        "Case first",
        "case.yaml:14: case 'bad': unknown op 'expp' (column 1 of the function) "
        "(hint: did you mean 'exp'?)",
        "Case good"]
    assert (items[1].file, items[1].line, items[1].case_id) == ("case.yaml", 14, "bad")
    assert (items[0].line, items[2].line) == (2, 15)


def test_a_typo_in_a_required_field_is_reported_at_the_typo(load_text):
    (err, good) = load_text(many(bad("functoin: sum(x)"), GOOD))
    assert isinstance(good, Case)
    assert str(err).startswith("case.yaml:7: case 'bad': unknown field 'functoin'")


def test_block_scalar_with_a_leading_blank_line(load_text):
    body = bad("function: |\n\n  y = x * 2\n  expp(y)")
    assert summary(load_text(case_yaml(body)))[0].startswith("case.yaml:10: ")


@pytest.mark.parametrize("function", ["reshape(x)", "sum(x, axis='a')", "transpose(x, (1,))"])
def test_engine_exceptions_do_not_lose_the_file(load_text, function):
    items = load_text(many(FIRST, bad(f'function: "{function}"'), GOOD))
    assert [type(i) for i in items] == [Case, LoadError, Case]


# ---------------------------------------------------------------- whole-file problems

@pytest.mark.parametrize(("text", "expected"), [
    ("cases:\n  - id: c1\n    title: t\n\tfunction: x\n",
     f"case.yaml:4: malformed YAML: found character '\\t' that cannot start any token {HINT_YAML}"),
    ("cases:\n  - id: c1\n    inputs:\n      x: [1., 2.\n    function: x\n",
     "case.yaml:5: malformed YAML: expected ',' or ']', but got ':' "
     f"(while parsing a flow sequence on line 4) {HINT_YAML}"),
])
def test_malformed_yaml_is_one_error_for_the_file(load_text, text, expected):
    items = load_text(text + case_yaml(GOOD).removeprefix("cases:\n"))
    assert summary(items) == [expected]
    assert items[0].case_id is None


def test_python_tags_are_not_constructed(load_text, tmp_path):
    target = tmp_path / "pwned"
    text = f'cases:\n  - id: c1\n    function: !!python/object/apply:os.system ["touch {target}"]\n'
    assert summary(load_text(text)) == [
        "case.yaml:3: YAML tag not allowed: could not determine a constructor for the tag "
        "'tag:yaml.org,2002:python/object/apply:os.system' "
        "(hint: case files are plain YAML: no '!!' tags)"]
    assert not target.exists()


def test_duplicate_yaml_key_is_located(load_text):
    (_, err) = load_text(many(FIRST, bad("function: sum(x)\nfunction: x")))
    assert (err.line, err.message, err.hint) == (
        15, "duplicate key 'function'", "YAML would silently keep only the last one")


def test_duplicate_yaml_key_loses_only_its_case(load_text):
    items = load_text(many(FIRST, bad("function: sum(x)\nfunction: x")))
    assert summary(items) == [
        "Case first", "case.yaml:15: case 'bad': duplicate key 'function' "
        "(hint: YAML would silently keep only the last one)"]


# ---------------------------------------------------------------- ids across files

def test_duplicate_id_within_one_file_refuses_both_copies(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "a.yaml").write_text(many(GOOD, GOOD.replace("x**2", "x**3")))
    result = load_paths([tmp_path / "cases"], root=tmp_path)
    assert result.cases == []
    hint = "(hint: case ids are unique across all case files; every copy is invalid until " \
           "they differ)"
    assert [str(e) for e in result.errors] == [
        f"cases/a.yaml:2: case 'good': duplicate case id (also at cases/a.yaml:9) {hint}",
        f"cases/a.yaml:9: case 'good': duplicate case id (also at cases/a.yaml:2) {hint}"]


@pytest.mark.parametrize("names", [("a.yaml", "b.yaml"), ("z.yaml", "b.yaml")])
def test_duplicate_id_across_files_refuses_every_copy_whatever_the_file_order(tmp_path, names):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / names[0]).write_text(many(GOOD))
    (tmp_path / "cases" / names[1]).write_text(
        "topic: second\n" + many(GOOD.replace("good", "other"), GOOD))
    result = load_paths([tmp_path / "cases"], root=tmp_path)
    assert [(c.id, c.file) for c in result.cases] == [("other", f"cases/{names[1]}")]
    assert sorted(str(e).split(" (hint")[0] for e in result.errors) == sorted([
        f"cases/{names[0]}:2: case 'good': duplicate case id (also at cases/{names[1]}:10)",
        f"cases/{names[1]}:10: case 'good': duplicate case id (also at cases/{names[0]}:2)"])


def test_in_file_and_cross_file_duplicates_are_counted_together(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "a.yaml").write_text(many(GOOD, GOOD))
    (tmp_path / "cases" / "b.yaml").write_text(many(GOOD))
    result = load_paths([tmp_path / "cases"], root=tmp_path)
    assert result.cases == [] and len(result.errors) == 3


# ---------------------------------------------------------------- shipped cases and the CLI

def test_shipped_cases_load_without_errors():
    result = load_paths([CASES], root=CASES.parent)
    assert [str(e) for e in result.errors] == []
    assert {c.file for c in result.cases} == {f"cases/{p.name}" for p in CASES.glob("*.yaml")}
    assert len({c.id for c in result.cases}) == len(result.cases)


def test_check_command_prints_located_lines_and_fails(tmp_path, monkeypatch, capsys):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "a.yaml").write_text(many(GOOD, bad("function: expp(x)")))
    (tmp_path / "cases" / "b.yaml").write_text("cases:\n  - id: [oops\n")
    monkeypatch.chdir(tmp_path)
    assert main(["check", "cases"]) == 1
    assert capsys.readouterr().out.splitlines() == [
        "cases/a.yaml:14: case 'bad': unknown op 'expp' (column 1 of the function) "
        "(hint: did you mean 'exp'?)",
        f"cases/b.yaml:3: malformed YAML: expected ',' or ']', but got '<stream end>' "
        f"(while parsing a flow sequence on line 2) {HINT_YAML}",
        "gradconf: 1 case(s) loaded, 2 error(s)"]


def test_check_command_passes_on_the_shipped_cases(capsys):
    count = len(load_paths([CASES]).cases)
    assert main(["check", str(CASES)]) == 0
    assert capsys.readouterr().out == f"gradconf: {count} case(s) loaded, 0 error(s)\n"
