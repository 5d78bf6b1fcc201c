"""Checking documents against the committed JSON Schemas: fast, and located when they break.

jsonschema is the authority and says where a document breaks a schema, but it interprets
the schema anew for every record: some 100 s for the 30,000 records of a four-framework
run, read once as streams and again as the merged document. fastjsonschema compiles the
same schema to Python once and answers *valid* in a fraction of that. So every check asks
the compiled validator first; only what it rejects goes to jsonschema, whose answer (the
located error, or none) is the one given. A document fastjsonschema accepted and jsonschema
would reject is the one way this could go wrong: the schemas use only keywords both read
alike (:data:`SHARED_KEYWORDS`, checked by the tests on the committed schemas), and the
tests compare both validators' verdicts on valid and broken records.

fastjsonschema knows drafts 4, 6 and 7; the schemas declare draft 2020-12 and are compiled
as draft 7, which reads every keyword in :data:`SHARED_KEYWORDS` the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import fastjsonschema
import jsonschema

# keywords draft 7 and draft 2020-12 read alike ("items" with one schema, "$defs" reached
# by a JSON pointer in "$ref"); a schema using any other cannot take the fast path
SHARED_KEYWORDS = frozenset({
    "$schema", "$id", "$ref", "$defs", "title", "description", "type", "enum", "const",
    "properties", "required", "additionalProperties", "propertyNames", "items", "anyOf",
    "oneOf", "allOf", "not", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "pattern", "minLength", "maxLength", "minItems", "maxItems", "format",
})
_DRAFT7 = "http://json-schema.org/draft-07/schema#"


def keywords(schema: Any, found: set[str] | None = None) -> set[str]:
    """Every keyword a schema uses (names under ``properties`` and ``$defs`` are not)."""
    found = set() if found is None else found
    if isinstance(schema, dict):
        for key, value in schema.items():
            found.add(key)
            if key in ("properties", "$defs"):
                for sub in value.values():
                    keywords(sub, found)
            elif key not in ("enum", "const"):
                keywords(value, found)
    elif isinstance(schema, list):
        for sub in schema:
            keywords(sub, found)
    return found


class Contract:
    """One schema (or a part of it): :meth:`first_error` says why a document breaks it."""

    def __init__(self, schema: dict[str, Any]) -> None:
        self.schema = schema
        self._slow = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.FormatChecker())
        unknown = keywords(schema) - SHARED_KEYWORDS
        self._fast: Callable[[Any], Any] | None = None if unknown else fastjsonschema.compile(
            {**schema, "$schema": _DRAFT7}, use_default=False)

    @property
    def compiled(self) -> bool:
        """Whether the fast path is taken (the schema uses only shared keywords)."""
        return self._fast is not None

    def fast_accepts(self, doc: Any) -> bool:
        """The compiled validator's verdict alone (False when there is none)."""
        if self._fast is None:
            return False
        try:
            self._fast(doc)
        except fastjsonschema.JsonSchemaException:
            return False
        return True

    def first_error(self, doc: Any) -> jsonschema.ValidationError | None:
        """jsonschema's best-matching error, or None when ``doc`` is valid."""
        if self.fast_accepts(doc):
            return None
        # jsonschema locates it (and is the authority on whether it is one)
        return jsonschema.exceptions.best_match(self._slow.iter_errors(doc))

    def validate(self, doc: Any) -> None:
        """Raise jsonschema.ValidationError, located, if ``doc`` breaks the schema."""
        error = self.first_error(doc)
        if error is not None:
            raise error


@cache
def contract(name: str, part: str | None = None) -> Contract:
    """The contract of a committed schema (``results.schema.json``), or of one part of it:
    ``record`` (one record) or a top-level property such as ``environment``."""
    from gradconf.results import load_schema

    full = load_schema(name)
    if part is None:
        return Contract(full)
    sub = {"$ref": "#/$defs/record"} if part == "record" else full["properties"][part]
    return Contract({**sub, "$defs": full["$defs"]})
