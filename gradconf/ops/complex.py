"""Complex parts: the ops that take a complex array apart (real, imag, conj, angle).

Complex inputs run at the complex64/complex128 run dtypes; the oracle differentiates the
real and imaginary parts separately (see :mod:`gradconf.oracle`). On a real array these
ops are what NumPy makes of them (imag gives zeros, angle 0 or pi).
One ``register`` row per op (see :mod:`gradconf.ops`).
"""

from __future__ import annotations

import numpy as np

from gradconf.ops import Special, register
from gradconf.ops.rules import same

register("real", 1, same, np.real, "the real part x of z = x + iy (linear in x, y)",
         out_dtype="real", examples=("real(a) + a",))
register("imag", 1, same, np.imag, "the imaginary part y of z = x + iy (linear in x, y)",
         out_dtype="real", examples=("imag(a) + a",))
register("conj", 1, same, np.conj, "the conjugate x - iy (linear in x, y)",
         examples=("conj(a) * 2",))
register("angle", 1, same, np.angle,
         "the argument atan2(y, x) of z = x + iy in (-pi, pi]; of a real x, 0 or pi",
         smooth=False, out_dtype="real",
         special=(Special("discontinuity", "the negative real axis (the branch cut)"),
                  Special("pole", "z = 0")),
         examples=("angle(a + 0.0) * a",))
