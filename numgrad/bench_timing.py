"""Interleaved timing shared by the benchmark modules: every column is called once per round,
so noise on a shared machine hits all columns alike."""

import time

__all__ = ["interleaved_seconds", "settle", "SETTLE_ROUNDS"]


def interleaved_seconds(calls, repeats):
    """{name: [seconds of each call]}: `repeats` rounds, each calling every function of the
    dict `calls` once, in its order."""
    times = {k: [] for k in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    return times


SETTLE_ROUNDS = 40          # at most; W6 on an empty cache settles in 3-5


def settle(run_round, wait=None, compiles=None, max_rounds=SETTLE_ROUNDS, quiet=2):
    """Call `run_round()` until `quiet` rounds in a row compiled nothing: no compile worker
    of this process ran (`wait`, default compile_workers.wait_all, waits for those a round
    left and returns how many there were) and Numba compiled nothing in this process
    (`compiles()`, default: Numba's compile events).  Returns the rounds it took, None if
    it did not settle within `max_rounds`.

    Why rounds: a plan's later choices start compile workers of their own after the calls
    that compiled its kernels (native lanes and row blocks, once its steps were timed), so
    one wait after the first calls left W6's timed calls running beside, or before, those
    compiles (one-thread grads 19-21 ms on an empty cache, 10.6 ms on a filled one)."""
    if wait is None:
        from . import compile_workers
        wait = compile_workers.wait_all
    counter = None
    if compiles is None:
        counter = _CompileEvents()
        compiles = counter.count
    quiet_in_a_row = 0
    try:
        for done in range(1, max_rounds + 1):
            before = compiles()
            run_round()
            busy = wait()
            quiet_in_a_row = 0 if busy or compiles() != before else quiet_in_a_row + 1
            if quiet_in_a_row >= quiet:
                return done
        return None
    finally:
        if counter is not None:
            counter.close()


class _CompileEvents:
    """Counts Numba's "numba:compile" events (a compile, not a load from the cache) while
    open."""

    def __init__(self):
        from numba.core import event

        class Listener(event.Listener):
            def on_start(listener, ev):
                self.n += 1

            def on_end(listener, ev):
                pass
        self.n, self._event, self._listener = 0, event, Listener()
        event.register("numba:compile", self._listener)

    def count(self):
        return self.n

    def close(self):
        self._event.unregister("numba:compile", self._listener)
