"""glibc's malloc thresholds for the cpu backend's step-by-step runs.

Why: a plan run step by step allocates each intermediate with NumPy and frees it after its
last reader.  W6's intermediates are 800 KB (10000 x 20 float32).  glibc serves such a block
from the heap once its dynamic mmap threshold has grown past it, but then returns the freed
top of the heap to the OS whenever more than twice that threshold is free (its trim
threshold), and the next allocations fault the pages in again: ~2,000 minor page faults per
W6 call.  With the mmap threshold at its 32 MiB maximum and the trim threshold at 256 MiB,
freed blocks are reused: 1 fault per call, and a W6 loss-and-gradients call took 28.7-29.4 ms
of CPU time instead of 33.4-34.6 ms (median of 60 calls, two processes each way, on the
loaded 2-core development VM).  Setting only one of the two makes it worse: glibc then stops
adjusting the other (the trim threshold alone: 33,000 faults and 100 ms a call).

The cost: up to 256 MiB of freed memory at the top of each malloc arena stays mapped in the
process, and blocks under 32 MiB come from the heap rather than from their own mappings.
`tune_once` sets both the first time a cpu plan runs its steps (not at import: importing
numgrad leaves the process's allocator alone), once per process; NUMGRAD_MALLOC_TUNING=0
leaves glibc's defaults.  On other C libraries it does nothing.  cpu-stable plans (what Dask
workers run, numgrad/scaleout) never set it: a worker's memory manager watches its resident
size, and memory kept mapped after it was freed made a worker with a 400 MB limit pause for
good (examples/dask_logistic_regression.py hung).
"""
import ctypes
import threading

from . import config

M_TRIM_THRESHOLD = -1           # glibc's mallopt parameter numbers (malloc.h)
M_MMAP_THRESHOLD = -3
TRIM_BYTES = 256 << 20
MMAP_BYTES = 32 << 20           # glibc's largest allowed mmap threshold on 64-bit systems

_lock = threading.Lock()
_done = False


def _glibc_mallopt():
    """glibc's mallopt, or None on another C library.  It is looked up among the symbols the
    process has loaded (its C library's among them), not by ctypes.util.find_library, which
    runs ``ldconfig -p`` in a subprocess: 4-12 ms of a warm first call on the loaded
    development VM."""
    try:
        libc = ctypes.CDLL(None)
        if not hasattr(libc, "gnu_get_libc_version"):
            return None
        fn = libc.mallopt
    except (OSError, AttributeError):
        return None
    fn.argtypes, fn.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return fn


def tune_once(mallopt=None):
    """Set the thresholds, once per process (see the module docstring).  Returns whether
    this call set them; `mallopt` replaces glibc's (tests)."""
    global _done
    if _done:
        return False
    with _lock:
        if _done:
            return False
        _done = True
        if not config.get("NUMGRAD_MALLOC_TUNING"):
            return False
        fn = mallopt or _glibc_mallopt()
        if fn is None:
            return False
        return bool(fn(M_MMAP_THRESHOLD, MMAP_BYTES)) and bool(fn(M_TRIM_THRESHOLD, TRIM_BYTES))


def _reset_for_tests():
    global _done
    _done = False
