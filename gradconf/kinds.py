"""The neutral vocabulary every adapter maps its framework into.

Error kinds, warning kinds, probe outcomes and verdicts are listed here once; adapters
translate exceptions and warnings into these names and keep the raw type and message
beside them. The case schema and the results JSON Schema are checked against these lists
by the tests.
"""

from __future__ import annotations

ERROR_KINDS: dict[str, str] = {
    "non_scalar_output": "a reverse pass was asked of a non-scalar output without a cotangent",
    "input_not_tracked": "a derivative was asked but no input was tracked for differentiation",
    "graph_freed": "a second reverse pass ran over a recorded computation that was released",
    "unused_input": "a derivative was asked with respect to an input the output does not use",
    "integer_input": "an integer-dtype input was marked for differentiation",
    "shape_mismatch": "a cotangent, tangent or operand had the wrong shape",
    "dtype_mismatch": "operands or cotangents had dtypes the framework would not combine",
    "singular_input": "the computation is undefined at this input (e.g. a singular matrix)",
    "unsupported_op": "the framework has no lowering for an op of the case",
    "other": "any other exception; the raw type and message say what",
}

WARNING_KINDS: dict[str, str] = {
    "nonleaf_grad_access": "the stored gradient of an intermediate (non-leaf) value was read",
    "deprecated_api": "the framework flagged a call the case makes as deprecated",
    "reference_cycle": "the framework warned that the call creates a reference cycle",
    "output_independent": "the framework warned that the output does not depend on an input",
    "integer_input": "the framework warned that an integer input cannot be differentiated",
    "other": "any other warning; the raw category and message say what",
}

OUTCOMES = ("value", "absent", "error", "not_applicable")

# Verdicts in the order a report lists them; FAILING ones fail the pytest item.
VERDICTS = ("pass", "expected_divergence", "convention", "precision", "nondeterministic",
            "mismatch", "nan", "inf", "error", "crash", "timeout", "unsupported", "not_applicable",
            "undefined", "stale", "invalid")
FAILING = frozenset({"mismatch", "nan", "inf", "error", "crash", "timeout", "stale", "invalid"})
# "Not run here", not "wrong": the framework cannot express it (unsupported) or has no
# counterpart by design (not_applicable). Their pytest items are skipped with the reason.
NOT_RUN = frozenset({"unsupported", "not_applicable"})

PROBE_KINDS: dict[str, str] = {
    "nonscalar_no_cotangent": "reverse pass of a non-scalar output with no cotangent given",
    "untracked_inputs": "reverse pass when no input is tracked for differentiation",
    "second_pass": "a second reverse pass over one recorded computation (optionally retained)",
    "accumulate": "reverse passes over fresh computations in a row, with optional resets",
    "combined_before_tracking": "inputs combined first, the combination then tracked as a "
                                "new variable: what the parts receive",
    "nonleaf_grad": "the stored gradient of a named intermediate after a reverse pass",
    "unused_input": "a derivative with respect to an input the output does not use",
    "integer_input": "an integer-dtype input marked for differentiation",
    "grad_before_pass": "the stored gradient of a tracked input before any reverse pass",
}

# What a diff of two runs calls each change (gradconf.diff), in report order.
DIFF_CATEGORIES = ("regression", "fix", "behaviour", "drift", "added", "removed")
