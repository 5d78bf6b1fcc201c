"""Linear algebra: products, decompositions, solves and matrix functions.

One ``register`` row per op (see :mod:`gradconf.ops`). Decompositions whose factors are
defined only up to sign or order name the normalisation every lowering applies.
"""

from __future__ import annotations

import numpy as np

from gradconf.ops import register
from gradconf.ops.rules import dot, matmul, mm

register("matmul", 2, matmul, np.matmul, "bilinear; NumPy matmul rules (1-D operands allowed)",
         examples=("a @ b", "v @ v", "a @ v", "v @ b", "t @ v", "t @ b"))
register("mm", 2, mm, np.matmul, "bilinear; matrices only", examples=("mm(a, b)",))
register("dot", 2, dot, np.dot, "bilinear; vectors only", examples=("dot(v, v)",))
