"""Keep freed tensor memory in the process instead of returning it to the OS at every step.

glibc serves allocations above its mmap threshold with fresh mmaps and unmaps them on free, so
every training step page-faults its large temporaries anew. Raising the mmap and trim thresholds
lets the heap reuse that memory (what it saves is measured in the README, "Speed"). The price is
that a process keeps its peak heap until it exits, which suits training processes.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # mallopt parameter numbers (malloc.h)
MMAP_THRESHOLD = 1 << 30  # bytes: allocations below this come from the reusable heap
TRIM_THRESHOLD = (1 << 31) - 1  # bytes of free heap top kept before returning it to the OS
DISABLE_VARIABLE = "INR_NO_MALLOC_TUNING"

_tuned: bool | None = None


def tune_allocator() -> bool:
    """Raise glibc's mmap and trim thresholds once per process; True when they were set.

    A no-op (False) off Linux/glibc, or when the environment sets INR_NO_MALLOC_TUNING=1.
    """
    global _tuned
    if _tuned is None:
        _tuned = False
        if sys.platform.startswith("linux") and os.environ.get(DISABLE_VARIABLE) != "1":
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                _tuned = bool(libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
                              and libc.mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
            except (OSError, AttributeError):  # not glibc (e.g. musl): leave it alone
                _tuned = False
    return _tuned
