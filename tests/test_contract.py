"""The compiled fast path of schema validation agrees with jsonschema, the authority.

:mod:`gradconf.contract` asks fastjsonschema first and jsonschema only for what it rejects,
so the one way to go wrong is a document fastjsonschema accepts and jsonschema rejects.
Here both validators judge valid records of every shape and thousands of broken ones
(each field dropped, retyped, set out of range; unknown fields added; nested values
broken), and every verdict must be the same.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import jsonschema
import pytest

from gradconf.contract import SHARED_KEYWORDS, contract, keywords
from gradconf.diff import diff
from gradconf.results import load_schema, validate
from test_results import (
    diverging,
    environment,
    errored,
    hostile_record,
    invalid,
    mismatch,
    nonfinite,
    passing,
    probe,
    sample_document,
)

# values of every JSON type, and ones that break common constraints (negative, empty,
# not matching a slug or version pattern)
ODD_VALUES = (None, True, False, 0, -1, 1.5, -2.5, "", "x", "NaN", [], [1], ["a"], {},
              {"a": 1}, {"shape": [2], "data": "x"})


def _records() -> list[dict[str, Any]]:
    builders = (passing, mismatch, errored, probe, diverging, invalid, nonfinite,
                hostile_record)
    return [json.loads(json.dumps(build())) for build in builders]


def _mutations(doc: Any, depth: int = 0) -> Any:
    """``doc`` with one thing changed: each key dropped, each value replaced by each odd
    value, an unknown key added; recursively two levels into objects and lists."""
    if isinstance(doc, dict):
        yield {**doc, "unexpected_field": 1}
        for key, value in doc.items():
            yield {k: v for k, v in doc.items() if k != key}
            for odd in ODD_VALUES:
                yield {**doc, key: odd}
            if depth < 2:
                for changed in _mutations(value, depth + 1):
                    yield {**doc, key: changed}
    elif isinstance(doc, list) and doc and depth < 2:
        for changed in _mutations(doc[0], depth + 1):
            yield [changed, *doc[1:]]
        yield [*doc, *ODD_VALUES[:3]]


def _agree(part: str | None, doc: Any, name: str = "results.schema.json") -> bool:
    """Whether the fast path and jsonschema alone give the same verdict on ``doc``."""
    checked = contract(name, part)
    slow = jsonschema.Draft202012Validator(checked.schema,
                                           format_checker=jsonschema.FormatChecker())
    fast_ok = checked.fast_accepts(doc)
    slow_ok = slow.is_valid(doc)
    # the fast path may reject more (jsonschema then has the last word), never less
    return slow_ok or not fast_ok


@pytest.mark.parametrize("name", ["results.schema.json", "diff.schema.json"])
def test_the_committed_schemas_take_the_fast_path(name):
    assert keywords(load_schema(name)) <= SHARED_KEYWORDS
    assert contract(name).compiled
    assert contract("results.schema.json", "record").compiled


def test_valid_records_and_documents_pass_both_ways():
    for rec in _records():
        assert contract("results.schema.json", "record").fast_accepts(rec)
        assert contract("results.schema.json", "record").first_error(rec) is None
    doc = json.loads(json.dumps(sample_document()))
    assert contract("results.schema.json").fast_accepts(doc)
    validate(doc)


def test_broken_records_are_judged_alike():
    seen = broken = 0
    for rec in _records():
        for changed in _mutations(rec):
            seen += 1
            assert _agree("record", changed), json.dumps(changed)[:400]
            broken += contract("results.schema.json", "record").first_error(changed) is not None
    assert seen > 3000 and broken > 1500  # the mutations reach the constraints


def test_broken_environments_and_documents_are_judged_alike():
    env = environment("torch", "jax")
    for changed in _mutations(env):
        assert _agree("environment", changed), changed
    doc = json.loads(json.dumps(sample_document()))
    for key in doc:
        for odd in ODD_VALUES:
            assert _agree(None, {**doc, key: odd})


def test_a_broken_record_is_located_by_jsonschema():
    rec = passing()
    rec["max_rel_err"] = "large"
    problem = contract("results.schema.json", "record").first_error(rec)
    assert problem is not None and list(problem.absolute_path) == ["max_rel_err"]


def test_diff_documents_are_judged_alike():
    old, new = sample_document(), copy.deepcopy(sample_document())
    new["records"][0]["verdict"] = "mismatch"
    new["records"][0]["message"] = "moved"
    doc = json.loads(json.dumps(diff(old, new)))
    assert contract("diff.schema.json").fast_accepts(doc)
    for changed in _mutations(doc):
        assert _agree(None, changed, "diff.schema.json"), json.dumps(changed)[:400]
