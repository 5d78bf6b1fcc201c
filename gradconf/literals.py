"""A case's literal numbers and declared sizes, checked before anything is allocated.

Everything here reads what a case file wrote (literal arrays, cotangent and tangent specs,
declared shapes, the shapes the function computes) and raises a :class:`CaseError` at the
offending field when it is not a finite number, not the right shape, or larger than the
run's :class:`~gradconf.intake.limits.Limits` allow.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gradconf.arrays import is_float, round_to
from gradconf.expr import Program
from gradconf.intake.limits import Limits
from gradconf.ops import Shape
from gradconf.schema import ArraySpec

Path = tuple[str | int, ...]


class CaseError(ValueError):
    """A problem in one case, at ``path`` (e.g. ``("checks", 2, "cotangent")``)."""

    def __init__(self, message: str, path: Path = (), hint: str = "", sub_line: int = 0,
                 col: int = 0) -> None:
        super().__init__(message)
        self.message, self.path, self.hint, self.sub_line, self.col = (
            message, path, hint, sub_line, col)


def entries(shape: Shape) -> int:
    """How many entries an array of ``shape`` holds."""
    return math.prod(shape)


def shape_of(spec: ArraySpec, path: Path, limits: Limits) -> Shape:
    """The shape of an input or constant, refused when empty, too large, or (for a literal)
    not finite or not fitting its integer dtype."""
    if spec.shape is not None:
        shape = tuple(spec.shape)
        if entries(shape) > limits.entries:
            raise CaseError(f"shape {list(shape)} has {entries(shape)} entries, more than "
                            f"{limits.entries} (limit entries)", (*path, "shape"),
                            "use a smaller shape, or raise the limit with --limit entries=N")
        return shape
    arr = literal_array(spec.value, path)
    if arr.size == 0:
        raise CaseError("value is empty: every axis needs a length of at least 1", path)
    dtype = spec.dtype or "float64"
    if not is_float(dtype) and not np.array_equal(arr, round_to(arr, dtype)):
        raise CaseError(f"value does not fit {dtype}: it needs whole numbers in its range",
                        path)
    return arr.shape


def _label(path: Path) -> str:
    """How a message names the field at ``path``: ``x``, ``cotangent``, ``steps[0]``."""
    if len(path) > 1 and isinstance(path[-1], int):
        return f"{path[-2]}[{path[-1]}]"
    return str(path[-1])


def literal_array(value: Any, path: Path) -> np.ndarray:
    """A literal from a case file as a finite float64 array, or a located CaseError."""
    if isinstance(value, str | dict | bool):
        raise CaseError(f"{_label(path)} is not a number or array of numbers", path)
    try:
        arr = np.asarray(value, dtype=np.float64)
    except OverflowError:
        raise CaseError(f"{_label(path)} holds a number beyond float64's range", path,
                        "a case's numbers are finite float64 values") from None
    except (ValueError, TypeError):
        raise CaseError(f"{_label(path)} is not a rectangular array of numbers", path,
                        "every row of a nested list needs the same length") from None
    if not np.isfinite(arr).all():
        bad = [int(i) for i in np.argwhere(~np.isfinite(arr))[0]] if arr.ndim else []
        raise CaseError(f"{_label(path)} holds {arr[tuple(bad)]} at {bad}: a case's numbers "
                        "are finite", path, "NaN and inf are results to observe, not points")
    return arr


def check_node_sizes(program: Program, node_shapes: list[Shape], limits: Limits) -> None:
    for node, shape in zip(program.nodes, node_shapes, strict=True):
        n = entries(shape)
        if n > limits.entries:
            raise CaseError(f"{node.op} makes an array of shape {list(shape)}: {n} entries, "
                            f"more than {limits.entries} (limit entries)", ("function",),
                            "", node.line, node.col)
        if n == 0:
            raise CaseError(f"{node.op} makes an empty array (shape {list(shape)}): there is "
                            "nothing to differentiate", ("function",), "", node.line, node.col)


def check_vector(spec: Any, shape: Shape, path: Path) -> None:
    """Check a cotangent/tangent spec against ``shape`` without allocating a named one."""
    hint = "use ones, zeros, random, {random: seed} or a literal array"
    if isinstance(spec, str) and spec in ("ones", "zeros", "random"):
        return
    if isinstance(spec, dict) and set(spec) == {"random"}:
        seed = spec["random"]
        if not (isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0):
            raise CaseError(f"{_label(path)} seed {_brief(seed)} must be a whole number >= 0",
                            path, hint)
        return
    if isinstance(spec, str | dict):
        raise CaseError(f"{_label(path)} {_brief(spec)} is not a vector spec", path, hint)
    arr = literal_array(spec, path)
    if arr.shape != tuple(shape):
        raise CaseError(f"{_label(path)} has shape {arr.shape}, but should be {tuple(shape)}",
                        path, hint)


def _brief(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."
