"""The C allocator's settings for a long-running worker that grows large arrays.

The detector state lives in numpy arrays that double as series arrive; each
growth frees the arrays it replaces. glibc raises its mmap threshold to the
size of every mmapped block it frees (up to 32 MiB), so the next arrays of
that size come from the heap, and freed heap memory in the middle of it is
not given back: the resident set keeps what growth left behind. A fixed
threshold keeps large blocks mmapped, returned to the system when freed.
"""

from __future__ import annotations

import ctypes
import ctypes.util

import structlog

log = structlog.get_logger(__name__)

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Blocks from this size on are mmapped (glibc's default start value, kept fixed).
MMAP_THRESHOLD = 128 * 1024


def keep_large_blocks_mmapped() -> bool:
    """Fix glibc's mmap and trim thresholds; False (and nothing changed) on another C library.

    >>> keep_large_blocks_mmapped() in (True, False)
    True
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    ok = bool(mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(_M_TRIM_THRESHOLD, MMAP_THRESHOLD))
    if not ok:
        log.info("allocator.unchanged", why="mallopt refused the thresholds")
    return ok


def release_free_memory() -> bool:
    """Give the heap's free pages back to the system (glibc ``malloc_trim``); False on another C library.

    A restore reads every state record of its partitions (hundreds of MB for
    100k series) as small blocks of the heap; once they are applied and freed
    the heap keeps those pages, pinned between the objects of the series
    restored meanwhile, unless told to let them go.

    >>> release_free_memory() in (True, False)
    True
    """
    name = ctypes.util.find_library("c")
    if not name:
        return False
    try:
        trim = ctypes.CDLL(name).malloc_trim
    except (OSError, AttributeError):
        return False
    trim(0)
    return True
