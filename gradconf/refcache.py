"""Oracle references computed once, shared by every framework's session.

The oracle knows nothing of frameworks, yet each framework's run used to recompute every
reference. With ``GRADCONF_REFERENCE_CACHE`` naming a directory (the nox sessions set it
to ``.nox/_references``), a reference is stored there the first time any session computes
it and read back by the others.

The cache is content-addressed: an entry's key is the SHA-256 of everything the reference
depends on (the function's text, the run dtype of every source and its value at the point,
the inputs differentiated, the check's kind and order, the cotangent or tangent arrays)
and of the oracle's own version, the hash of the source of every module that computes a
reference (oracle, Richardson tables, expression language, op table, case model). Editing a
case, a point or the oracle therefore misses the old entries; nothing is invalidated by
hand. Entries are NumPy ``.npz`` files (no pickle), written to a temporary name and moved
into place, so concurrent workers never read half an entry; a file that cannot be read is
a miss.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from gradconf.case import Case, Check
from gradconf.oracle import Estimate

ENV = "GRADCONF_REFERENCE_CACHE"
_PKG = Path(__file__).parent
_SOURCES = ("oracle.py", "richardson.py", "batch.py", "expr.py", "arrays.py", "case.py",
            "literals.py", "refcache.py")


def _version() -> str:
    h = hashlib.sha256()
    for path in [*(_PKG / n for n in _SOURCES), *sorted((_PKG / "ops").glob("*.py"))]:
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


VERSION = _version()


def _feed(h: Any, value: Any) -> None:
    """Hash a nested value: arrays by dtype, shape and bytes; the rest as JSON."""
    if isinstance(value, np.ndarray | np.generic):
        arr = np.ascontiguousarray(value)
        h.update(f"{arr.dtype.str}{arr.shape}".encode())
        h.update(arr.tobytes())
    elif isinstance(value, Mapping):
        for k in sorted(value):
            h.update(f"<{k}>".encode())
            _feed(h, value[k])
    elif isinstance(value, list | tuple):
        h.update(f"[{len(value)}".encode())
        for item in value:
            _feed(h, item)
    else:
        h.update(json.dumps(value, sort_keys=True, default=str).encode())


def key(case: Case, check: Check, dtype: str, vectors: Mapping[str, Any]) -> str:
    """The content address of one reference."""
    h = hashlib.sha256(VERSION.encode())
    _feed(h, {"function": case.program.text, "point": case.point(dtype),
              "dtypes": {n: case.dtype_of(n, dtype) for n in case.sources},
              "wrt": list(check.wrt), "kind": check.kind,
              "order": getattr(check, "order", None), "vectors": dict(vectors)})
    return h.hexdigest()


def directory() -> Path | None:
    value = os.environ.get(ENV, "").strip()
    return Path(value) if value else None


def load(k: str) -> dict[str, Estimate] | None:
    """The stored reference, or None (no cache, no entry, or an unreadable one)."""
    root = directory()
    path = root / k[:2] / f"{k}.npz" if root else None
    if path is None or not path.is_file():
        return None
    try:
        with open(path, "rb") as fh, np.load(fh, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            out = {}
            for i, (name, classification, evaluations, bounds) in enumerate(meta):
                out[name] = Estimate(data[f"v{i}"], data[f"e{i}"], classification, evaluations,
                                     data[f"l{i}"] if bounds else None,
                                     data[f"h{i}"] if bounds else None)
            return out
    except Exception:  # a torn or foreign file is a miss, never an error
        return None


def store(k: str, ref: Mapping[str, Estimate]) -> None:
    """Keep a reference under its key (atomically; a failure to write is ignored)."""
    root = directory()
    if root is None:
        return
    arrays: dict[str, Any] = {}
    meta = []
    for i, (name, est) in enumerate(ref.items()):
        bounds = est.lo is not None and est.hi is not None
        meta.append([name, est.classification, int(est.evaluations), bounds])
        arrays[f"v{i}"], arrays[f"e{i}"] = est.value, est.err
        if bounds:
            arrays[f"l{i}"], arrays[f"h{i}"] = est.lo, est.hi
    arrays["meta"] = np.asarray(json.dumps(meta))
    try:
        folder = root / k[:2]
        folder.mkdir(parents=True, exist_ok=True)
        tmp = folder / f".{k}.{os.getpid()}.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, folder / f"{k}.npz")
    except OSError:
        return
