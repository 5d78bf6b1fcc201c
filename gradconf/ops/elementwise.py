"""Elementwise ops: unary math, arithmetic, comparisons, selection and activations.

One ``register`` row per op: name, arity, shape rule, float64 NumPy/SciPy reference,
the neutral meaning, special points and examples (see :mod:`gradconf.ops`).
"""

from __future__ import annotations

import numpy as np
import scipy.special

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
register("abs", 1, same, np.abs, "kink at 0: subgradients [-1, 1]; of a complex z, the "
         "real |z|", smooth=False, special=(KINK0,), examples=("abs(a)",), out_dtype="real")
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

# ---------------------------------------------------------------- unary math and special
# functions: one neutral meaning each (the textbook real function), float64 NumPy/SciPy
# references; each lowering calls the framework's own op.


def _rsqrt(x: np.ndarray) -> np.ndarray:
    return 1.0 / np.sqrt(x)


NONPOS_INT = (0.0, -1.0, -2.0, -3.0)
UNIT_EDGES = (-1.0, 1.0)

register("expm1", 1, same, np.expm1, "exp(x) - 1, accurate for tiny x (no cancellation); "
         "derivative exp(x)",
         special=(Special("overflow", "x > 709 (float64), x > 88 (float32)"),),
         examples=("expm1(a)", "expm1(1e-3 * v)"))
register("log1p", 1, same, np.log1p, "log(1 + x), accurate for tiny x; defined for x > -1, "
         "derivative 1 / (1 + x) unbounded at -1", smooth=False,
         special=(Special("domain_edge", "x = -1 (log1p = -inf)", (-1.0,)),),
         examples=("log1p(p)", "log1p(u)"))
register("log2", 1, same, np.log2, "base-2 logarithm, x > 0; derivative 1 / (x ln 2)",
         smooth=False, special=(Special("domain_edge", "x = 0 (log2 = -inf)", (0.0,)),),
         examples=("log2(p)",))
register("log10", 1, same, np.log10, "base-10 logarithm, x > 0; derivative 1 / (x ln 10)",
         smooth=False, special=(Special("domain_edge", "x = 0 (log10 = -inf)", (0.0,)),),
         examples=("log10(p)",))
register("rsqrt", 1, same, _rsqrt, "1 / sqrt(x) for x > 0; derivative -x^(-3/2) / 2, "
         "unbounded as x -> 0+ (rsqrt(0) = +inf)", smooth=False,
         special=(Special("pole", "x = 0", (0.0,)),), examples=("rsqrt(p)",))
register("square", 1, same, np.square, "x * x; derivative 2x", examples=("square(a)",))
register("reciprocal", 1, same, np.reciprocal, "1 / x; derivative -1 / x^2, a pole at 0",
         smooth=False, special=(Special("pole", "x = 0", (0.0,)),),
         examples=("reciprocal(a)",))
register("tan", 1, same, np.tan, "tangent (radians); derivative 1 + tan(x)^2, poles at "
         "pi/2 + k pi (never exactly representable: near them tan is large but finite)",
         smooth=False, special=(Special("pole", "x = pi/2 + k pi"),), examples=("tan(u)",))
register("asin", 1, same, np.arcsin, "principal arcsine on [-1, 1]; derivative "
         "1 / sqrt(1 - x^2), unbounded at the domain edges +-1", smooth=False,
         special=(Special("domain_edge", "x = -1 and x = 1", UNIT_EDGES),),
         examples=("asin(u)",))
register("acos", 1, same, np.arccos, "principal arccosine on [-1, 1] (values in [0, pi]); "
         "derivative -1 / sqrt(1 - x^2), unbounded at the domain edges +-1", smooth=False,
         special=(Special("domain_edge", "x = -1 and x = 1", UNIT_EDGES),),
         examples=("acos(u)",))
register("atan", 1, same, np.arctan, "principal arctangent (values in (-pi/2, pi/2)); "
         "derivative 1 / (1 + x^2), 0 at +-inf", examples=("atan(a)",))
register("sinh", 1, same, np.sinh, "hyperbolic sine; derivative cosh(x)",
         special=(Special("overflow", "|x| > 710 (float64), |x| > 89 (float32)"),),
         examples=("sinh(a)",))
register("cosh", 1, same, np.cosh, "hyperbolic cosine; derivative sinh(x)",
         special=(Special("overflow", "|x| > 710 (float64), |x| > 89 (float32)"),),
         examples=("cosh(a)",))
register("asinh", 1, same, np.arcsinh, "inverse hyperbolic sine; derivative "
         "1 / sqrt(1 + x^2)", examples=("asinh(a)",))
register("acosh", 1, same, np.arccosh, "inverse hyperbolic cosine on [1, inf) (values >= 0); "
         "derivative 1 / sqrt(x^2 - 1), unbounded at the domain edge 1", smooth=False,
         special=(Special("domain_edge", "x = 1", (1.0,)),), examples=("acosh(p + 1)",))
register("atanh", 1, same, np.arctanh, "inverse hyperbolic tangent on (-1, 1); derivative "
         "1 / (1 - x^2); atanh(+-1) = +-inf at the domain edges", smooth=False,
         special=(Special("domain_edge", "x = -1 and x = 1 (atanh = -inf, +inf)",
                          UNIT_EDGES),), examples=("atanh(u)",))
register("erf", 1, same, scipy.special.erf, "error function 2/sqrt(pi) int_0^x exp(-t^2) dt; "
         "derivative 2/sqrt(pi) exp(-x^2), 0 at +-inf", examples=("erf(a)",))
register("erfc", 1, same, scipy.special.erfc, "complementary error function 1 - erf(x), "
         "accurate for large x; derivative -2/sqrt(pi) exp(-x^2)", examples=("erfc(a)",))
register("erfinv", 1, same, scipy.special.erfinv, "inverse of erf on (-1, 1); derivative "
         "sqrt(pi)/2 exp(erfinv(x)^2); erfinv(+-1) = +-inf at the domain edges",
         smooth=False, special=(Special("domain_edge", "x = -1 and x = 1 (erfinv = -inf, "
                                        "+inf)", UNIT_EDGES),), examples=("erfinv(u)",))
register("lgamma", 1, same, scipy.special.gammaln, "log |Gamma(x)| (scipy.special.gammaln; "
         "the log of the absolute value for negative x); derivative digamma(x); poles at "
         "0, -1, -2, ... (lgamma = +inf)", smooth=False,
         special=(Special("pole", "x = 0, -1, -2, ...", NONPOS_INT),),
         examples=("lgamma(p)", "lgamma(v + 3)"))
register("digamma", 1, same, scipy.special.digamma, "psi(x) = Gamma'(x) / Gamma(x); "
         "derivative trigamma(x) = polygamma(1, x); poles at 0, -1, -2, ...", smooth=False,
         special=(Special("pole", "x = 0, -1, -2, ...", NONPOS_INT),),
         examples=("digamma(p)", "digamma(v + 3)"))
register("sign", 1, same, np.sign, "-1, 0 or 1 with sign(0) = 0; piecewise constant: "
         "derivative 0 away from 0, none at 0 (a jump)", smooth=False,
         special=(Special("flat", "x != 0"), Special("discontinuity", "x = 0", (0.0,))),
         examples=("sign(a) * a",))
