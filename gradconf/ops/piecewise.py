"""Piecewise and binary elementwise ops: activations with kinks, rounding, clipping and
two-argument functions (atan2, hypot, xlogy, copysign, fmod, remainder).

One ``register`` row per op (see :mod:`gradconf.ops`). Where frameworks define an op
differently by default (softplus's threshold, gelu's approximation, round's halves, the
sign of a modulus), the row's notes name the one neutral meaning every lowering implements.
"""

from __future__ import annotations

import numpy as np
import scipy.special as sc

from gradconf.ops import Special, register
from gradconf.ops.rules import broadcast, same

KINK0 = Special("kink", "x = 0", (0.0,))
BIG = Special("overflow", "|x| large: exp(|x|) overflows past 88.7 (float32), 709.8 (float64); "
              "a naive formula returns inf or NaN there")


def same_kw(x: tuple[int, ...], **_: object) -> tuple[int, ...]:
    """An elementwise op with keywords (negative_slope, alpha, lo, hi): the shape is kept."""
    return x


INTEGERS = (Special("flat", "everywhere off the jumps: derivative 0"),
            Special("discontinuity", "x an integer"))


def _elu(x: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    return np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def _gelu(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + sc.erf(x / np.sqrt(2.0)))


def _gelu_tanh(x: np.ndarray) -> np.ndarray:
    return 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3)))


# ---- smooth activations (exact forms; overflow-safe where the exponential runs out)
register("sigmoid", 1, same, sc.expit, "1 / (1 + exp(-x)), smooth; finite and in [0, 1] for "
         "every x (no overflow to NaN at large |x|)", special=(BIG,),
         examples=("sigmoid(a)",))
register("log_sigmoid", 1, same, sc.log_expit, "log(sigmoid(x)) = -log1p(exp(-x)) exactly, "
         "smooth; -x for very negative x and 0 (derivative exp(-x) -> 0) for large x, with no "
         "overflow", special=(BIG,), examples=("log_sigmoid(a)",))
register("softplus", 1, same, lambda x: np.logaddexp(0.0, x),
         "log1p(exp(x)) exactly, beta = 1, with no threshold: its derivative is sigmoid(x) for "
         "every x. PyTorch returns x (derivative 1) for x > threshold = 20 and TensorFlow for "
         "x > -log(eps) + 2 (about 17.9 in float32, 38 in float64); JAX and autograd use the "
         "exact logaddexp(x, 0)", special=(BIG,), examples=("softplus(a)", "softplus(-3 * a)"))
register("silu", 1, same, lambda x: x * sc.expit(x), "x * sigmoid(x) (swish with beta 1), "
         "smooth", special=(BIG,), examples=("silu(a)",))
register("gelu", 1, same, _gelu, "exact gelu x * Phi(x) = x (1 + erf(x / sqrt 2)) / 2 "
         "(no tanh approximation: torch approximate='none', jax approximate=False, tf "
         "approximate=False), smooth. tf.nn.gelu casts its constant 1/sqrt(2) through float32, "
         "so TensorFlow's float64 gelu is off by about 1e-8 relative", examples=("gelu(a)",))
register("gelu_tanh", 1, same, _gelu_tanh, "tanh approximation of gelu: x (1 + tanh(sqrt(2/pi) "
         "(x + 0.044715 x^3))) / 2 (torch approximate='tanh', jax approximate=True, tf "
         "approximate=True), smooth", examples=("gelu_tanh(a)",))

# ---- activations with kinks
register("relu6", 1, same, lambda x: np.clip(x, 0.0, 6.0), "min(max(x, 0), 6): kinks at 0 "
         "and 6, subgradients [0, 1] at each", smooth=False,
         special=(KINK0, Special("kink", "x = 6", (6.0,))), examples=("relu6(4 * a)",))
register("leaky_relu", 1, same_kw, lambda x, negative_slope=0.01: np.where(
    x >= 0, x, negative_slope * x), "x for x >= 0, negative_slope * x below (default 0.01): "
    "kink at 0, subgradients [negative_slope, 1]. tf.nn.leaky_relu keeps the slope as a float32 "
    "op attribute, so its float64 results use 0.01 rounded to float32 (the example uses 0.25, "
    "exact in float32; the cases show the difference)", smooth=False, special=(KINK0,),
    examples=("leaky_relu(a, negative_slope=0.25)",), negative_slope=0.01)
register("elu", 1, same_kw, _elu, "x for x > 0, alpha (exp(x) - 1) for x <= 0 (default alpha "
         "1): C1 at 0 when alpha = 1, a kink with subgradients between alpha and 1 otherwise",
         smooth=False, special=(Special("kink", "x = 0 when alpha != 1", (0.0,)),),
         examples=("elu(a)", "elu(a, alpha=0.5)"), alpha=1.0)

# ---- rounding: piecewise constant
register("floor", 1, same, np.floor, "largest integer <= x; derivative 0 off the integers, "
         "none at them (a jump)", smooth=False, special=INTEGERS, examples=("floor(a) * a",))
register("ceil", 1, same, np.ceil, "smallest integer >= x; derivative 0 off the integers, none "
         "at them", smooth=False, special=INTEGERS, examples=("ceil(a) * a",))
register("round", 1, same, np.round, "nearest integer, halves to even (round(0.5) = 0, "
         "round(1.5) = 2, round(-0.5) = -0); derivative 0 off the half-integers, none at them",
         smooth=False, special=(Special("flat", "everywhere off the jumps: derivative 0"),
                                Special("discontinuity", "x a half-integer (k + 1/2)"),
                                Special("tie", "x a half-integer: the even neighbour wins")),
         examples=("round(a) * a", "round(2 * a)"))
register("trunc", 1, same, np.trunc, "integer part, rounding toward zero; derivative 0 off the "
         "integers, none at them (0 is not a jump: trunc is 0 on (-1, 1))", smooth=False,
         special=INTEGERS, examples=("trunc(a) * a",))
register("clip", 1, same_kw, lambda x, lo=0.0, hi=1.0: np.clip(x, lo, hi),
         "min(max(x, lo), hi) with lo <= hi (defaults 0, 1): slope 1 strictly inside, 0 "
         "outside; at x = lo or x = hi a kink with subgradients [0, 1]; with lo == hi the "
         "function is constant and its derivative 0 everywhere, also at x = lo",
         smooth=False, special=(Special("kink", "x = lo or x = hi"),
                                Special("flat", "lo == hi: constant")),
         examples=("clip(a, lo=-1, hi=1)", "clip(a, 0.25, 2.0)"), lo=0.0, hi=1.0)

# ---- two-argument functions
register("atan2", 2, broadcast, np.arctan2, "angle of (x, y) in [-pi, pi], arguments (y, x) "
         "as C atan2; smooth off the origin and the negative x axis; on the negative x axis "
         "y = +0 gives pi and y = -0 gives -pi (a jump in y: no derivative there); no "
         "derivative at (0, 0)", smooth=False,
         special=(Special("discontinuity", "y = 0 with x < 0 (branch cut; sign of zero)"),
                  Special("discontinuity", "(y, x) = (0, 0)")),
         examples=("atan2(a, p)", "atan2(v, -1.5)"))
register("hypot", 2, broadcast, np.hypot, "sqrt(x^2 + y^2) without overflow; smooth off (0, 0); "
         "at (0, 0) a cone: along each axis one-sided slopes -1 and 1", smooth=False,
         special=(Special("kink", "x = y = 0", (0.0, 0.0)),
                  Special("overflow", "x^2 overflows although hypot does not (|x| > 1.8e19 "
                          "in float32)")),
         examples=("hypot(a, p)",))
register("xlogy", 2, broadcast, sc.xlogy, "x * log(y), and 0 where x = 0 for every y (also y = "
         "0); d/dx = log(y) also at x = 0 (log 2 at (0, 2)); d/dy = x / y, 0 at x = 0, y > 0; at "
         "(0, 0) d/dx has no finite value", smooth=False,
         special=(Special("domain_edge", "y = 0 (x != 0), y < 0 gives NaN"),
                  Special("pole", "x = 0, y = 0: d/dx = log 0")),
         examples=("xlogy(a, p)", "xlogy(0 * a, p)"))
register("copysign", 2, broadcast, np.copysign, "|x| with the sign bit of y (so y = -0 gives "
         "-|x|); d/dx = sign(x) sign(y), a kink at x = 0; d/dy = 0 except a jump at y = 0 "
         "(x != 0)", smooth=False,
         special=(Special("kink", "x = 0"),
                  Special("discontinuity", "y = 0 (either sign) with x != 0")),
         examples=("copysign(a, p)", "copysign(p, a)"))
register("fmod", 2, broadcast, np.fmod, "C fmod: x - trunc(x / y) y, sign of the dividend x; "
         "d/dx = 1, d/dy = -trunc(x / y); a jump where x / y is a nonzero integer (x = 0 is "
         "smooth)", smooth=False,
         special=(Special("discontinuity", "x a nonzero multiple of y"),
                  Special("pole", "y = 0 (NaN)")),
         examples=("fmod(a, p)", "fmod(3 * a, -0.7)"))
register("remainder", 2, broadcast, np.remainder, "Python %: x - floor(x / y) y, sign of the "
         "divisor y; d/dx = 1, d/dy = -floor(x / y); a jump where x / y is an integer, x = 0 "
         "included", smooth=False,
         special=(Special("discontinuity", "x a multiple of y, 0 included"),
                  Special("pole", "y = 0 (NaN)")),
         examples=("remainder(a, p)", "remainder(3 * a, -0.7)"))
