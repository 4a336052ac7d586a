"""How many threads BLAS uses for the matmuls numgrad runs (issue 21).

Why: NumPy's BLAS (OpenBLAS) hands a product above a small size (its own cut-off is
M*N*K >= 262144) to its worker threads and waits for all of them.  When another process keeps
one core busy, the worker on that core waits for the scheduler: a product that takes 50 us on
one thread takes 8-24 ms (one to three scheduler ticks).  Measured on the 2-core development
VM with another process spinning on one core (OpenBLAS 0.3.31, float32, one thread -> two
threads): (1000, 20) @ (20, 20) 15 -> 15 us (under OpenBLAS's cut-off), (128, 128) @
(128, 128) 47 us -> 16 ms, (256, 256) @ (256, 256) 0.33 -> 16 ms, W3's (256, 784) @
(784, 512) 2.1 -> 24 ms; float64 (256, 512) @ (512, 10) 0.12 -> 8 ms.  A PINN with ~142
small matmuls (K=20) ran in 62 ms quiet, 773-813 ms beside a busy core, and 50 ms with
OPENBLAS_NUM_THREADS=1.  On a quiet machine the second thread gains at most ~1.15x for
products under ~2**24 multiply-adds (a few hundred us).

The policy (NUMGRAD_BLAS_THREADS=auto, the default):

* A compiled run that contains a BLAS op (MatMul, BatchMatMulV2) sets BLAS to one thread at
  its start (`begin`) and restores the user's count at its end (`end`, in a finally): the
  user's own NumPy code outside numgrad's calls keeps its setting.  A run without a BLAS op
  calls neither.  Nested or concurrent runs share one saved setting (a counter).
* A product of fewer than SMALL_MACS (2**24) multiply-adds runs on that one thread.
* A larger one may use up to min(ng.get_num_threads(), the user's BLAS count) threads; numgrad's
  own pool is idle while a matmul step runs (steps run one after another), so the two pools
  never run at once.  Whether threads pay is measured per matmul step, as for fused kernels,
  by measured_choice.py: one-thread and threaded runs, in pairs, until TRIALS of each decide,
  two threaded runs slower than twice the one-thread time decide for one thread at once,
  the chosen way's runs drifting well above its trial time (a core became busy) start a new
  trial, and the choice is measured again after 25 runs, then less and less often.  The
  results do not depend on the choice (OpenBLAS splits the output, not the sum, between its
  threads).

NUMGRAD_BLAS_THREADS=<n> (an integer >= 1) instead runs every BLAS call of numgrad's runs with
n threads (1: the old OPENBLAS_NUM_THREADS=1 advice, for numgrad's calls only).

Cost (timeit on the development VM): threadpoolctl finds the BLAS library once, lazily
(~1 ms); afterwards a run with matmuls pays one get and up to two set calls on its controller
(get 0.3-0.6 us, set 0.6-1.2 us; begin + end 3.1 us, 1.6 us when the user's BLAS already has
one thread), and each small matmul 0.7 us for the size check.  threadpoolctl's
`threadpool_limits` context manager costs 330-590 us, too much for every call.  Where threadpoolctl is missing or finds no BLAS, every function
here is a no-op.  threadpoolctl lets one Python thread control OpenBLAS's shared pool: calls
from the other threads change nothing (their matmuls keep the user's setting).
"""
import contextlib
import os
import threading
import time

from . import config, measured_choice, threads

ENV = "NUMGRAD_BLAS_THREADS"
SMALL_MACS = 1 << 24        # fewer multiply-adds: one thread (see the module docstring)
TRIALS = measured_choice.TRIALS
BLAS_OPS = ("MatMul", "BatchMatMulV2")
# Ops whose cpu kernels split their work across numgrad's threads and call BLAS from each: a
# run with one gets BLAS at one thread (begin/end) like a run with a matmul, so the two pools
# do not multiply; they have no MatmulSite of their own.
SELF_THREADED_BLAS_OPS = ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter")


def parse_setting(text):
    """None for 'auto' (or empty), else the forced thread count; ValueError otherwise."""
    return config.SWITCHES[ENV].parse(text)


SETTING = config.get(ENV)        # None (auto) or a thread count

_clock = time.perf_counter
_lock = threading.Lock()
_libs = None                # the BLAS lib controllers, found on first use ([] if none)
_depth = 0                  # runs inside begin/end (all threads)
_saved = None               # the user's thread counts, saved by the outermost begin
_cap = None                 # most threads a large product may use in the current runs


def find_controllers():
    """threadpoolctl's controllers of the loaded BLAS libraries; [] when there are none."""
    try:
        import threadpoolctl
        found = threadpoolctl.ThreadpoolController().select(user_api="blas").lib_controllers
        return [lc for lc in found if isinstance(lc.get_num_threads(), int)]
    except Exception:  # noqa: BLE001  (no threadpoolctl, an unusual BLAS: the policy is off)
        return []


def controllers():
    global _libs
    libs = _libs
    if libs is None:
        with _lock:
            if _libs is None:
                _libs = find_controllers()
            libs = _libs
    return libs


@contextlib.contextmanager
def one_thread_for_scipy_blas():
    """Run the block with SciPy's own BLAS (the OpenBLAS its wheels bundle, apart from
    NumPy's) on one thread, then restore it.  L-BFGS-B calls it between numgrad's evaluations
    on vectors of the parameters' size, where threads gain nothing, and its idle worker
    threads then spin beside numgrad's kernels: on two busy cores each L-BFGS evaluation of
    the PINN example took 16-23 ms instead of 6-8 ms.  A no-op without threadpoolctl."""
    try:
        import threadpoolctl
        libs = [lc for lc in threadpoolctl.ThreadpoolController().select(
                user_api="blas").lib_controllers if "scipy" in (lc.filepath or "").lower()]
        saved = [(lc, lc.get_num_threads()) for lc in libs]
    except Exception:  # noqa: BLE001  (no threadpoolctl, an unusual BLAS: change nothing)
        saved = []
    for lc, _ in saved:
        lc.set_num_threads(1)
    try:
        yield
    finally:
        for lc, n in saved:
            lc.set_num_threads(n)


def uses_blas(op_types):
    return any(t in BLAS_OPS or t in SELF_THREADED_BLAS_OPS for t in op_types)


def begin():
    """Start of a run with BLAS ops: BLAS gets one thread (or the forced count)."""
    global _depth, _saved, _cap
    libs = _libs if _libs is not None else controllers()
    if not libs:
        return
    with _lock:
        if _depth == 0:
            _saved = [lc.get_num_threads() for lc in libs]
            want = 1 if SETTING is None else SETTING
            for lc, n in zip(libs, _saved):
                if n != want:
                    lc.set_num_threads(want)
            _cap = None         # worked out by the first large product (_large_cap)
        _depth += 1


def end():
    """End of a run begun with begin(): the user's counts again when no run is left."""
    global _depth, _saved
    libs = _libs
    if not libs:
        return
    with _lock:
        if _depth <= 0:         # begun before a fork, ended in the child
            return
        _depth -= 1
        if _depth == 0:
            want = 1 if SETTING is None else SETTING
            for lc, n in zip(libs, _saved):
                if n != want:
                    lc.set_num_threads(n)
            _saved = None


def _large_cap():
    global _cap
    saved = _saved
    n = _cap = min(threads.get_num_threads(), max(saved)) if saved else 1
    return n


def _set_all(n):
    for lc in _libs:
        lc.set_num_threads(n)


def matmul_macs(vals, attrs):
    """Multiply-adds of a (batched) matmul of `vals` (batch broadcasting: at least)."""
    a, b = vals[0], vals[1]
    if a.ndim < 2 or b.ndim < 2:
        return 0
    m = a.shape[-1] if attrs.get("transpose_a") else a.shape[-2]
    n = b.shape[-2] if attrs.get("transpose_b") else b.shape[-1]
    return max(a.size * n, b.size * m)


class MatmulSite:
    """The thread choice for one matmul step of a plan: call it instead of the op's compute.

    choice: its measured_choice.MeasuredChoice (bold: threaded).  seen_threads: the BLAS
    thread count of its last call (None before; tests read it)."""

    __slots__ = ("choice", "seen_threads")

    def __init__(self):
        self.choice = measured_choice.MeasuredChoice()
        self.seen_threads = None

    @property
    def pays(self):
        """None before a verdict, else (threads, whether they were faster)."""
        return self.choice.verdict

    @property
    def last_trial(self):
        """The fastest (one-thread, threaded) seconds of the last trial, None before one."""
        return self.choice.last_trial

    def __call__(self, compute, vals, attrs):
        # (a thread limited to one, such as a lane of a dispatched run, keeps BLAS at one)
        if _depth == 0 or SETTING is not None or matmul_macs(vals, attrs) < SMALL_MACS or \
                (_cap if _cap is not None else _large_cap()) <= 1 or \
                threads.get_num_threads() <= 1:
            if TRACE:
                self.seen_threads = _current_threads()
            return compute(vals, attrs)
        n = _cap
        choice = self.choice
        threaded = choice.pick(n)
        t0 = _clock()
        if threaded:
            res = self._threaded(compute, vals, attrs, n)
        else:
            if TRACE:
                self.seen_threads = _current_threads()
            res = compute(vals, attrs)
        choice.done(threaded, _clock() - t0)
        return res

    def _threaded(self, compute, vals, attrs, n):
        _set_all(n)
        try:
            if TRACE:
                self.seen_threads = _current_threads()
            return compute(vals, attrs)
        finally:
            _set_all(1)


TRACE = False               # tests: MatmulSite records seen_threads


def _current_threads():
    libs = _libs
    return max(lc.get_num_threads() for lc in libs) if libs else None


def _after_fork_in_child():
    # a run in another thread of the parent holds no run in the child
    global _lock, _depth, _saved
    _lock = threading.Lock()
    if _depth and _libs:
        for lc, n in zip(_libs, _saved):
            lc.set_num_threads(n)
    _depth, _saved = 0, None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
