"""A run on a Dask cluster whose every worker is paused (memory above its pause threshold)
raises ng.scaleout.ClusterPaused after the grace period instead of waiting for ever; its
tasks are cancelled and the session runs again once a worker is back.  The watch's logic is
tested on fake clusters (no Dask needed), the whole on in-process LocalClusters."""
import asyncio
import logging
import pickle
import threading
import time

import numpy as np
import pytest
from lazy_module import LazyModule, installed

import numgrad as ng
from numgrad.scaleout import ClusterPaused
from numgrad.scaleout.watch import PauseWatch, paused_workers, wait_result

needs_dask = pytest.mark.skipif(not installed("dask", "distributed"),
                                reason="needs dask and distributed")
distributed = LazyModule("distributed")
da = LazyModule("dask.array")

MB = 10 ** 6


def _worker(status="paused", limit=400 * MB, memory=637 * MB, executing=0):
    return {"status": status, "memory_limit": limit,
            "metrics": {"memory": memory, "task_counts": {"executing": executing}}}


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


# --- the watch on fake clusters ---------------------------------------------------------------

@pytest.mark.backend_independent
def test_paused_workers_needs_every_worker_paused_and_idle():
    a, b = "tcp://10.0.0.1:1", "tcp://10.0.0.2:1"
    assert paused_workers({}) == {}
    assert paused_workers({a: _worker(), b: _worker()}) == {a: _worker(), b: _worker()}
    assert paused_workers({a: _worker(), b: _worker("running")}) == {}
    # a paused worker still executing a task is making progress
    assert paused_workers({a: _worker(), b: _worker(executing=1)}) == {}
    assert paused_workers({a: {"status": "paused"}}) == {a: {"status": "paused"}}


@pytest.mark.backend_independent
def test_the_watch_warns_once_then_raises_after_the_grace_period(caplog):
    clock, seen = _Clock(), []
    workers = {"inproc://10.0.0.1/7/4": _worker(), "inproc://10.0.0.1/7/6": _worker()}
    watch = PauseWatch(lambda: seen.append(1) or workers, grace=10, clock=clock)
    assert watch.interval == 1.0
    with caplog.at_level(logging.WARNING, logger="numgrad.scaleout"):
        for t in (1, 2, 3, 4, 5, 6, 7, 8, 9, 10):
            clock.now = t
            watch.check()       # paused since t=1: 9 s < 10
        assert len(caplog.records) == 1 and "paused for 3 s" in caplog.records[0].message
        clock.now = 11
        with pytest.raises(ClusterPaused) as err:
            watch.check()
    text = str(err.value)
    assert "paused for 10 s" in text
    assert "inproc://10.0.0.1/7/4: memory limit 400 MB, process memory 637 MB (159% of it)" \
        in text
    assert "in-process workers" in text and "memory_limit" in text
    assert "distributed.worker.memory.pause" in text and "NUMGRAD_DASK_PAUSE_GRACE" in text
    assert set(err.value.workers) == set(workers) and err.value.waited == 10
    assert str(pickle.loads(pickle.dumps(err.value))) == text
    assert len(seen) == 11


@pytest.mark.backend_independent
def test_a_worker_that_resumes_restarts_the_grace_period():
    clock = _Clock()
    states = iter(["paused"] * 8 + ["running"] + ["paused"] * 20)
    watch = PauseWatch(lambda: {"tcp://a:1": _worker(next(states), limit=0)}, grace=10,
                       clock=clock)
    for t in range(1, 20):      # paused t=1..8, running at 9, paused again from 10: 9 s
        clock.now = t
        watch.check()
    clock.now = 20
    with pytest.raises(ClusterPaused, match="tcp://a:1: no memory limit, process memory"):
        watch.check()


@pytest.mark.backend_independent
def test_a_scheduler_that_does_not_answer_is_not_a_paused_cluster():
    def broken():
        raise OSError("connection closed")
    watch = PauseWatch(broken, grace=1, clock=_Clock())
    for _ in range(10):
        watch.check()
    assert watch.since is None


class _FakeFuture:
    """Done `done_after` seconds after it is made (never when None); its result is 42, or
    `error` raised."""

    def __init__(self, done_after=None, error=None):
        self.t0, self.done_after, self.error, self.waits = time.monotonic(), done_after, error, []

    def done(self):
        return self.done_after is not None and time.monotonic() - self.t0 >= self.done_after

    def result(self, timeout=None):
        self.waits.append(timeout)
        left = None if self.done_after is None else self.t0 + self.done_after - time.monotonic()
        if left is not None and left > 0 and (timeout is None or left <= timeout):
            time.sleep(left)
        elif not self.done():
            assert timeout is not None, "would wait for ever"
            time.sleep(timeout)
            raise asyncio.TimeoutError(f"timed out after {timeout} s.")
        if self.error is not None:
            raise self.error
        return 42


class _FakeClient:
    def __init__(self, status):
        self.status, self.asked = status, 0

    def scheduler_info(self, n_workers=5):
        assert n_workers == -1      # every worker, not the first few
        self.asked += 1
        return {"workers": {"tcp://a:1": _worker(self.status)}}


@pytest.mark.backend_independent
def test_wait_result_asks_the_scheduler_only_while_it_waits(switches):
    client = _FakeClient("paused")
    assert wait_result(client, _FakeFuture(done_after=0.5)) == 42
    assert client.asked == 0        # the result came within the first second
    switches(DASK_PAUSE_GRACE=1)        # looks every 0.25 s
    t0 = time.monotonic()
    assert wait_result(client, _FakeFuture(done_after=0.4)) == 42
    assert client.asked == 1 and time.monotonic() - t0 < 1.0
    client = _FakeClient("paused")
    t0 = time.monotonic()
    with pytest.raises(ClusterPaused):
        wait_result(client, _FakeFuture())
    assert 1.0 <= time.monotonic() - t0 < 2.0 and client.asked == 5


@pytest.mark.backend_independent
def test_a_tasks_own_timeout_error_is_not_taken_for_a_wait_that_timed_out():
    client, fut = _FakeClient("running"), _FakeFuture(done_after=0.3, error=TimeoutError("t"))
    with pytest.raises(TimeoutError, match="^t$"):
        wait_result(client, fut)
    assert client.asked == 0


@pytest.mark.backend_independent
def test_a_grace_of_zero_waits_as_dask_does(switches):
    switches(DASK_PAUSE_GRACE=0)
    client, fut = _FakeClient("paused"), _FakeFuture(done_after=0.3)
    assert wait_result(client, fut) == 42
    assert client.asked == 0 and fut.waits == [None]


# --- in-process Dask clusters -----------------------------------------------------------------

def _status(client, status, timeout=5.0):
    """Wait until the scheduler sees every worker in `status`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        workers = client.scheduler_info(n_workers=-1)["workers"]
        if workers and all(w["status"] == status for w in workers.values()):
            return list(workers)
        time.sleep(0.05)
    raise AssertionError(f"the workers did not become {status}")


def _set_status(cluster, status):
    from distributed.core import Status
    for w in cluster.workers.values():
        w.loop.add_callback(setattr, w, "status", getattr(Status, status))


def _remember_compute(client, monkeypatch):
    seen, compute = [], client.compute

    def compute_and_remember(*args, **kwargs):
        seen.append(compute(*args, **kwargs))
        return seen[-1]
    monkeypatch.setattr(client, "compute", compute_and_remember)
    return seen


@needs_dask
@pytest.mark.backend_independent
def test_workers_paused_by_memory_make_the_run_raise(switches, monkeypatch, caplog):
    switches(BACKEND="numpy", DASK_PAUSE_GRACE=1)
    # 10 MB: any Python process is above its pause threshold, so the in-process worker
    # (which measures the test process) pauses at its first memory check
    local_cluster = distributed.LocalCluster    # distributed's config defaults first
    dask_config = LazyModule("dask").config.set({"distributed.worker.memory.pause": 0.8})
    with dask_config, local_cluster(n_workers=1, threads_per_worker=1,
                                               processes=False, memory_limit="10MB",
                                               dashboard_address=":0",
                                               silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        addr, = _status(client, "paused")
        seen = _remember_compute(client, monkeypatch)
        X = ng.placeholder(ng.float64, [None, 2], name="X")
        with ng.Session(target=client) as s:
            t0 = time.monotonic()
            with caplog.at_level(logging.WARNING, logger="numgrad.scaleout"), \
                    pytest.raises(ClusterPaused) as err:
                s.run(ng.reduce_sum(X), {X: da.ones((6, 2), chunks=3)})
            waited = time.monotonic() - t0
            assert len(seen) == 1 and seen[0].cancelled()
    assert 1.0 <= waited < 2.5
    text = str(err.value)
    assert f"{addr}: memory limit 10 MB, process memory" in text
    assert "in-process workers" in text
    assert [r.levelname for r in caplog.records if r.name == "numgrad.scaleout"] == ["WARNING"]


@needs_dask
@pytest.mark.backend_independent
def test_after_the_error_the_session_runs_again_and_a_short_pause_is_waited_out(switches):
    switches(BACKEND="numpy", DASK_PAUSE_GRACE=1)
    # no memory limit: no memory monitor, the test sets the workers' status itself.
    # dashboard_address=":0": None means port 8787, which another test's cluster may hold
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=False,
                                  memory_limit=0, dashboard_address=":0",
                                  silence_logs=50) as cluster, \
            distributed.Client(cluster) as client:
        X = ng.placeholder(ng.float64, [None, 2], name="X")
        total = ng.reduce_sum(X)
        feed = {X: da.from_array(np.arange(12.0).reshape(6, 2), chunks=2)}
        with ng.Session(target=client) as s:
            assert s.run(total, feed) == 66.0       # a running cluster: no error
            _set_status(cluster, "paused")
            _status(client, "paused")
            with pytest.raises(ClusterPaused, match="no memory limit"):
                s.run(total, feed)
            _set_status(cluster, "running")
            _status(client, "running")
            assert s.run(total, feed) == 66.0
            # paused for less than the grace period: the run just finishes later
            _set_status(cluster, "paused")
            _status(client, "paused")
            threading.Timer(0.6, _set_status, [cluster, "running"]).start()
            assert s.run(2 * total, feed) == 132.0
