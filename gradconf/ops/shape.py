"""Shape and indexing ops: linear maps that move, pick or repeat entries.

One ``register`` row per op (see :mod:`gradconf.ops`).
"""

from __future__ import annotations

import numpy as np

from gradconf.ops import register
from gradconf.ops.rules import concat, getitem, reshape, transpose


def _np_concat(*xs: np.ndarray, axis: int = 0) -> np.ndarray:
    return np.concatenate(xs, axis=axis)


register("concat", None, concat, _np_concat, "linear", axis=0,
         examples=("concat([a, p], axis=0)", "cat([a, p], axis=1)"))
register("transpose", 1, transpose, np.transpose,
         "linear; no axes reverses them, so a 1-D array is unchanged", axes=None,
         examples=("transpose(a)", "transpose(a, axes=(1, 0))", "transpose(t)", "a.T", "v.T"))
register("reshape", 1, reshape, lambda x, shape: np.reshape(x, shape), "linear", shape=None,
         examples=("reshape(a, (3, 2))", "reshape(a, (-1,))", "reshape(a, 6)"))
register("getitem", 1, getitem, lambda x, index: np.asarray(x)[index],
         "linear; basic integer and slice indexing", index=(),
         examples=("a[:, 0:1]", "a[1, 1]", "a[..., 2]", "a[:, None, 1]", "a[::2, 1:]",
                   "t[1, ..., 0:2]"))
