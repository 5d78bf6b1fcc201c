"""Elementwise ops: unary math, arithmetic, comparisons, selection and activations.

One ``register`` row per op: name, arity, shape rule, float64 NumPy/SciPy reference,
the neutral meaning, special points and examples (see :mod:`gradconf.ops`).
"""

from __future__ import annotations

import numpy as np

from gradconf.ops import Special, register
from gradconf.ops.rules import broadcast, same


def where_rule(c: tuple[int, ...], a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
    """``where(cond, a, b)``: the three shapes broadcast."""
    return broadcast(broadcast(c, a), b)



KINK0 = Special("kink", "x = 0", (0.0,))

register("neg", 1, same, np.negative, "linear", examples=("neg(a)", "-a"))
register("pos", 1, same, np.positive, "identity", examples=("pos(a)",))
register("exp", 1, same, np.exp, "smooth everywhere",
         special=(Special("overflow", "x > 709 (float64), x > 88 (float32)"),),
         examples=("exp(a)",))
register("log", 1, same, np.log, "smooth for x > 0; undefined for x <= 0",
         special=(Special("domain_edge", "x = 0", (0.0,)),), examples=("log(p)",))
register("sin", 1, same, np.sin, "smooth everywhere", examples=("sin(a)",))
register("cos", 1, same, np.cos, "smooth everywhere", examples=("cos(a)",))
register("tanh", 1, same, np.tanh, "smooth everywhere", examples=("tanh(a)",))
register("sqrt", 1, same, np.sqrt, "smooth for x > 0; derivative unbounded at 0", smooth=False,
         special=(Special("domain_edge", "x = 0", (0.0,)),), examples=("sqrt(p)",))
register("abs", 1, same, np.abs, "kink at 0: subgradients [-1, 1]", smooth=False,
         special=(KINK0,), examples=("abs(a)",))
register("add", 2, broadcast, np.add, "linear", examples=("a + 2 * a",))
register("sub", 2, broadcast, np.subtract, "linear", examples=("a - p",))
register("mul", 2, broadcast, np.multiply, "bilinear", examples=("a * p",))
register("div", 2, broadcast, np.divide, "smooth where the divisor is nonzero",
         special=(Special("pole", "divisor = 0"),), examples=("a / p",))
register("pow", 2, broadcast, np.power,
         "smooth for x > 0; for x <= 0 only integer exponents are defined", smooth=False,
         special=(Special("domain_edge", "base = 0 with a non-integer exponent", (0.0,)),),
         examples=("p ** 1.5", "a ** 3", "2 ** a"))
register("maximum", 2, broadcast, np.maximum, "kink where a == b: subgradients between "
         "the two one-sided slopes", smooth=False,
         special=(Special("tie", "a == b"),), examples=("maximum(a, p)",))
register("minimum", 2, broadcast, np.minimum, "kink where a == b", smooth=False,
         special=(Special("tie", "a == b"),), examples=("minimum(a, 0.5)",))
register("relu", 1, same, lambda x: np.maximum(x, 0.0), "kink at 0: subgradients [0, 1]",
         smooth=False, special=(KINK0,), examples=("relu(a)",))
register("ones_like", 1, same, np.ones_like, "constant: derivative zero",
         examples=("ones_like(a) + zeros_like(a)",))
register("zeros_like", 1, same, np.zeros_like, "constant: derivative zero",
         examples=("zeros_like(a) + a",))

# comparisons: boolean results, not functions to differentiate; they make where's condition
COMPARE = (("less", np.less, "<"), ("less_equal", np.less_equal, "<="),
           ("greater", np.greater, ">"), ("greater_equal", np.greater_equal, ">="),
           ("equal", np.equal, "=="), ("not_equal", np.not_equal, "!="))
for _name, _fn, _sym in COMPARE:
    register(_name, 2, broadcast, _fn, f"a {_sym} b, a boolean array (written a {_sym} b)",
             differentiable=False, out_dtype="bool",
             examples=(f"where(a {_sym} p, a, p)",))
register("where", 3, where_rule, np.where,
         "picks a where cond holds, else b; derivative flows only to the picked side, so an "
         "infinite or NaN derivative of the side not taken must not leak (0 * inf)",
         special=(Special("discontinuity", "where the condition changes"),),
         examples=("where(a > 0, a, 2 * a)", "where(v < 0.5, v ** 2, v)"))
register("stop_gradient", 1, same, lambda x: np.array(x, copy=True),
         "identity in value, derivative zero (torch detach, jax.lax.stop_gradient, "
         "tf.stop_gradient); the oracle holds it at the point's value",
         examples=("stop_gradient(a) * a",))
