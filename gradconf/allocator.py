"""Keep freed memory in the process for the next array instead of handing it back.

glibc's malloc returns the top of its heap to the kernel once more than its trim threshold
is free, and serves a block above its mmap threshold (adjusted upward as blocks are freed)
from fresh pages. A check on a large input allocates and frees arrays of the same few sizes
over and over: each perturbed point, each intermediate of each evaluation. Handed back, every
such array is faulted in and zeroed by the kernel again on its next allocation (about 50,000
page faults per fast-mode check at 10⁶ entries, a third of its time). Raising both thresholds
keeps up to ``HELD_MB`` of freed memory for reuse; blocks larger than ``MMAP_MB`` still come
from (and go back to) the kernel directly. Nothing changes a computed value: only where the
allocator finds memory. A C library other than glibc is left alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_TRIM_THRESHOLD = -1   # mallopt(3) parameters
M_MMAP_THRESHOLD = -3
HELD_MB = 256           # freed memory kept at the heap's top before trimming
MMAP_MB = 32            # blocks from this size up are mapped (glibc's largest dynamic value)


def hold_freed_memory() -> bool:
    """Set the thresholds above in this process; True if the C library took them."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_MB << 20)) and \
        bool(mallopt(M_TRIM_THRESHOLD, HELD_MB << 20))
