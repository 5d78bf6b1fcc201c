"""Piecewise and binary elementwise ops: activations with kinks, rounding, clipping and
two-argument functions (atan2, hypot, xlogy, copysign, fmod, remainder).

One ``register`` row per op (see :mod:`gradconf.ops`).
"""

from __future__ import annotations
