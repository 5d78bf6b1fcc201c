"""Neural-network functions: softmax and losses, normalisation, attention, convolution and
pooling.

One ``register`` row per op (see :mod:`gradconf.ops`).
"""

from __future__ import annotations
