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
_STATE = {"pool": None, "n": None, "homes": 0}
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
                _STATE["homes"] = 0
                p = _STATE["pool"] = ThreadPoolExecutor(
                    max_workers=max(1, get_num_threads() - 1), thread_name_prefix="numgrad")
    return p


def homes(n_chunks, n):
    """Per thread of `n` (the caller first), its home pieces [(c0, c1), ...]: thread t's home
    is the t-th of n equal ranges of the chunks (as a fixed split), cut into pieces that
    halve (at least 1/(4n) of all chunks each), so that the owner takes few kernel calls and
    another thread can take over the small last pieces."""
    key = (n_chunks, n)
    got = _HOMES.get(key)
    if got is None:
        least = max(1, n_chunks // (4 * n))
        got = []
        for t in range(n):
            c, hi = (t * n_chunks) // n, ((t + 1) * n_chunks) // n
            own = []
            while c < hi:
                size = min(hi - c, max(least, (hi - c + 1) // 2))
                own.append((c, c + size))
                c += size
            got.append(tuple(own))
        got = _HOMES[key] = tuple(got)
    return got


_HOMES = {}


class _Launch:
    """One `run_chunks` launch.  Each thread runs the pieces of its home range in order, then
    takes the last piece of the range with the most pieces left; so with every thread
    running, each runs its home range (the chunks it ran the call before: their lines are
    in its core's cache), and one that starts late or shares a core leaves its pieces to
    the others.  The thread finishing the last piece releases `done`."""

    __slots__ = ("kernel", "args", "left", "lock", "todo", "done", "error")

    def __init__(self, kernel, args, homes):
        self.kernel, self.args = kernel, args
        self.left = [list(h) for h in homes]
        self.lock = threading.Lock()
        self.todo = sum(len(h) for h in homes)
        self.done = threading.Lock()
        self.done.acquire()
        self.error = None

    def _take(self, home):
        with self.lock:
            own = self.left[home]
            if own:
                return own.pop(0)
            other = max(self.left, key=len)
            return other.pop() if other else None

    def work(self, home):
        while True:
            piece = self._take(home)
            if piece is None:
                return
            try:
                self.kernel(2, piece[0], piece[1], *self.args)
            except BaseException as e:  # noqa: BLE001  (the caller raises it)
                self.error = e
            with self.lock:
                self.todo -= 1
                last = self.todo == 0
            if last:
                self.done.release()


def _worker_home(launch):
    """A pool thread's home range: the same one on every launch (1, 2, ...)."""
    home = getattr(_LOCAL, "home", None)
    if home is None:
        with _LOCK:
            home = _LOCAL.home = _STATE["homes"] = _STATE["homes"] + 1
    launch.work(1 + (home - 1) % (len(launch.left) - 1))


def run_chunks(kernel, n_chunks, args):
    """kernel(2, c0, c1, *args) over pieces that cover chunks 0..n_chunks once, run by the
    caller and up to get_num_threads() - 1 pool threads (`_Launch`).  The caller returns
    when every piece has run, not waiting for a pool thread that has not started: on a VM
    whose other vCPU is busy, a woken worker may wait a time slice for it or share the
    caller's vCPU, and with a fixed half each the caller waited for that half (W5's fused
    kernels: threaded runs of 1.5-5 ms where one thread took 0.6 ms).  The chunks write
    disjoint outputs, so which thread runs which piece changes no bit."""
    n = min(get_num_threads(), n_chunks)
    if n <= 1:
        kernel(2, 0, n_chunks, *args)
        return
    launch = _Launch(kernel, args, homes(n_chunks, n))
    p = pool()
    for _ in range(n - 1):
        p.submit(_worker_home, launch)
    launch.work(0)
    launch.done.acquire()
    if launch.error is not None:
        raise launch.error


def _after_fork_in_child():
    _STATE["pool"], _STATE["homes"] = None, 0


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
