"""threads.run_chunks: every chunk runs once, each thread runs its home range when all run,
and the caller does not wait for a worker that has not started."""
import threading

import numpy as np
import pytest
from numba import njit

from numgrad import threads

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


@pytest.fixture
def n_threads():
    """Set the thread count for a test; the default (the CPUs) afterwards."""
    saved = threads._STATE["n"]

    def set_to(n):
        threads.set_num_threads(n)
    yield set_to
    with threads._LOCK:
        threads._STATE["n"], old, threads._STATE["pool"] = saved, threads._STATE["pool"], None
    if old is not None:
        old.shutdown(wait=True)


@pytest.mark.parametrize("n", [2, 3, 4, 8])
@pytest.mark.parametrize("n_chunks", [2, 3, 7, 64, 256, 1000])
def test_homes_are_the_fixed_split_cut_in_pieces(n, n_chunks):
    if n > n_chunks:
        return
    homes = threads.homes(n_chunks, n)
    assert len(homes) == n
    for t, home in enumerate(homes):
        # thread t's home is the t-th of n equal ranges, as the fixed split that came before
        assert home[0][0] == (t * n_chunks) // n and home[-1][1] == ((t + 1) * n_chunks) // n
        assert all(a[1] == b[0] and a[0] < a[1] for a, b in zip(home, home[1:] + ((home[-1][1],
                                                                                     None),)))
        sizes = [c1 - c0 for c0, c1 in home]
        assert sizes == sorted(sizes, reverse=True)     # large first, small last
        assert len(home) <= 4 + 1
    assert threads.homes(64, 2) == (((0, 16), (16, 24), (24, 32)), ((32, 48), (48, 56), (56, 64)))


@njit(nogil=True)
def _rows(mode, c0, c1, n0, C, x, out, part):
    for c in range(c0, c1):
        s = 0.0
        for i in range((c * n0) // C, ((c + 1) * n0) // C):
            out[i] = np.sin(x[i]) * x[i]
            s += out[i]
        part[c] = s


@pytest.mark.parametrize("n", [2, 3])
def test_every_chunk_runs_once_and_the_bits_do_not_change(n, n_threads):
    n_threads(n)
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_003)
    C = 64
    want_out, want_part = np.empty_like(x), np.full(C, np.nan)
    _rows(2, 0, C, x.size, C, x, want_out, want_part)
    for _ in range(50):
        out, part = np.full_like(x, np.nan), np.full(C, np.nan)
        threads.run_chunks(_rows, C, (x.size, C, x, out, part))
        np.testing.assert_array_equal(out, want_out)
        np.testing.assert_array_equal(part, want_part)


def test_the_caller_does_not_wait_for_a_worker_that_has_not_started(n_threads):
    n_threads(2)
    release = threading.Event()
    busy = threads.pool().submit(release.wait, 30)      # the only worker: busy elsewhere
    ran = []

    def kernel(mode, c0, c1):
        ran.append((c0, c1, threading.current_thread().name))
    try:
        done = threading.Event()
        caller = threading.Thread(target=lambda: (threads.run_chunks(kernel, 64, ()),
                                                  done.set()))
        caller.start()
        assert done.wait(10), "run_chunks waited for a worker that was busy"
        chunks = sorted(c for r in ran for c in range(r[0], r[1]))
        assert chunks == list(range(64))
        assert {name for *_, name in ran} == {caller.name}
        assert [r[:2] for r in ran[:3]] == list(threads.homes(64, 2)[0])   # its own home first
    finally:
        release.set()
        busy.result()


def test_each_thread_runs_its_home_first(n_threads):
    n_threads(2)
    threads.pool().submit(lambda: None).result()    # the worker thread exists
    started = threading.Event()
    ran = []
    caller_home, worker_home = threads.homes(64, 2)

    def kernel(mode, c0, c1):
        me = threading.current_thread().name
        ran.append((c0, c1, me))
        if (c0, c1) == caller_home[0]:
            assert started.wait(10)             # both threads at work
        elif (c0, c1) == worker_home[0]:
            started.set()
    for _ in range(5):
        del ran[:]
        started.clear()
        threads.run_chunks(kernel, 64, ())
        first = {}
        for c0, c1, name in ran:
            first.setdefault(name, (c0, c1))
        main = threading.current_thread().name
        assert first[main] == caller_home[0]
        assert [v for k, v in first.items() if k != main] == [worker_home[0]]
        assert sorted(c for r in ran for c in range(r[0], r[1])) == list(range(64))


def test_a_worker_error_reaches_the_caller(n_threads):
    n_threads(2)
    threads.pool().submit(lambda: None).result()
    started = threading.Event()
    caller_home, worker_home = threads.homes(8, 2)

    def kernel(mode, c0, c1):
        if (c0, c1) == caller_home[0]:
            assert started.wait(10)
        elif (c0, c1) == worker_home[0]:
            started.set()
            raise ValueError("bad piece")
    with pytest.raises(ValueError, match="bad piece"):
        threads.run_chunks(kernel, 8, ())


def test_pool_threads_keep_their_homes(n_threads):
    n_threads(3)
    homes = threads.homes(3, 3)
    seen = {}
    barrier = threading.Barrier(3, timeout=10)

    def kernel(mode, c0, c1):
        if (c0, c1) in (h[0] for h in homes):
            barrier.wait()                      # all three threads at work at once
        seen.setdefault(threading.current_thread().name, set()).add(c0)
    for _ in range(5):
        barrier.reset()
        threads.run_chunks(kernel, 3, ())
    # each thread ran one chunk, the same one every launch
    assert sorted(len(v) for v in seen.values()) == [1, 1, 1]
    assert sorted(c for v in seen.values() for c in v) == [0, 1, 2]
