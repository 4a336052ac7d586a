"""numgrad's worker threads for parallel kernels.

Kernels are serial Numba functions compiled with ``nogil=True``; a parallel launch hands
ranges of chunks to these threads.  Unlike Numba's own thread pools this is safe to call from
many Python threads at once and after ``fork`` (the child builds a fresh pool), and idle
workers sleep instead of spinning beside the BLAS threads of a matmul.
"""
import os
import threading
from concurrent.futures import ThreadPoolExecutor

_LOCK = threading.Lock()
_STATE = {"pool": None, "n": None}
_LOCAL = threading.local()      # per thread: a cap set by `limited` (Dask tasks: 1)


def _default_threads():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:      # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def get_num_threads():
    """Threads a parallel kernel uses (default: the CPUs this process may run on), or the
    cap of the calling thread's `limited` block."""
    cap = getattr(_LOCAL, "cap", None)
    if cap is not None:
        return cap
    n = _STATE["n"]
    return _default_threads() if n is None else n


class limited:
    """Context manager: kernels launched by this thread inside the block use at most `n`
    threads (other threads are unaffected).  A Dask worker runs each task on one of its
    threads, one task per core, so numgrad's chunk runs there use one thread each."""

    def __init__(self, n):
        self.n = max(1, int(n))

    def __enter__(self):
        self.saved = getattr(_LOCAL, "cap", None)
        _LOCAL.cap = self.n if self.saved is None else min(self.saved, self.n)
        return self

    def __exit__(self, *exc):
        _LOCAL.cap = self.saved
        return False


def set_num_threads(n):
    """Use `n` threads for parallel kernels (1 runs every kernel on the calling thread)."""
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: n must be >= 1, got {n}")
    with _LOCK:
        _STATE["n"] = n
        old, _STATE["pool"] = _STATE["pool"], None
    if old is not None:
        old.shutdown(wait=False)


def pool():
    p = _STATE["pool"]
    if p is None:
        with _LOCK:
            p = _STATE["pool"]
            if p is None:
                p = _STATE["pool"] = ThreadPoolExecutor(
                    max_workers=max(1, get_num_threads() - 1), thread_name_prefix="numgrad")
    return p


def run_chunks(kernel, n_chunks, args):
    """kernel(2, c0, c1, *args) over chunk ranges split across the threads; the caller runs
    the first range itself."""
    n = min(get_num_threads(), n_chunks)
    if n <= 1:
        kernel(2, 0, n_chunks, *args)
        return
    bounds = [(i * n_chunks) // n for i in range(n + 1)]
    futures = [pool().submit(kernel, 2, bounds[i], bounds[i + 1], *args) for i in range(1, n)]
    try:
        kernel(2, bounds[0], bounds[1], *args)
    finally:
        for f in futures:
            f.result()


def _after_fork_in_child():
    _STATE["pool"] = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
