"""Give large freed blocks back to the system, so that big bodies do not swell the process.

glibc's malloc serves large blocks with mmap, and returns them when they are freed, only
until the first such block is freed: then it raises its threshold to that block's size, up
to 32 MB, and later blocks come from the heap, which it rarely gives back. A proxy that
handles megabyte bodies would keep every peak forever (1,200 requests of 1 MB each held
~985 MB with the store bounded at 256 MB; with the threshold fixed, ~330 MB). Fixing the
threshold at 256 kB keeps blocks that large on mmap. Elsewhere (musl, macOS) this does
nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging

log = logging.getLogger("engine.server")

M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter
THRESHOLD_BYTES = 256 * 1024


def return_large_blocks_to_the_system() -> bool:
    """Fix glibc's mmap threshold; whether it could be."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    done = bool(mallopt(M_MMAP_THRESHOLD, THRESHOLD_BYTES))
    if not done:
        log.debug("malloc's mmap threshold could not be set")
    return done
