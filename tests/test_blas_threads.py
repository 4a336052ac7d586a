"""numgrad's BLAS thread policy (numgrad/blas_threads.py): one thread for small products
inside numgrad's runs, the user's setting outside them, a no-op without a BLAS, the
NUMGRAD_BLAS_THREADS switch."""
import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng
from numgrad import blas_threads, config
from numgrad.ops import registry

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

threadpoolctl = pytest.importorskip("threadpoolctl")


def _blas_info():
    return [i for i in threadpoolctl.threadpool_info() if i["user_api"] == "blas"]


needs_blas = pytest.mark.skipif(not _blas_info(), reason="threadpoolctl finds no BLAS")


@pytest.fixture
def user_two_threads():
    """The user's BLAS setting is 2 threads for the test (restored after it)."""
    with threadpoolctl.threadpool_limits(limits=2, user_api="blas"):
        assert {i["num_threads"] for i in _blas_info()} == {2}
        yield


@pytest.fixture
def seen(monkeypatch):
    """MatMul's compute records the BLAS thread count it runs under: that of the BLAS
    libraries loaded when numgrad first looked (NumPy's).  A BLAS loaded later (SciPy's own,
    imported by another test in the same process) is not the one NumPy's products call, and
    its count says nothing about the policy."""
    counts = []
    op_def = registry.get_op_def("MatMul")
    libs = blas_threads.controllers()

    def recording(vals, attrs):
        counts.append(max(lc.get_num_threads() for lc in libs))
        return op_def.compute(vals, attrs)
    monkeypatch.setitem(registry._OPS, "MatMul", dataclasses.replace(op_def, compute=recording))
    return counts


def _small_graph(rng):
    a = ng.placeholder(ng.float64, [200, 20])
    w = ng.placeholder(ng.float64, [20, 20])
    h = ng.tanh(ng.matmul(a, w))
    loss = ng.reduce_sum(ng.matmul(h, w, transpose_b=True) ** 2)
    fetches = [loss] + ng.gradients(loss, [a, w])
    return fetches, [a, w], [rng.standard_normal((200, 20)), rng.standard_normal((20, 20))]


def _run(fetches, feeds, data, calls=3):
    fn = ng.Session(backend="cpu").make_callable(fetches, feeds)
    for _ in range(calls):
        out = fn(*data)
    return out


@needs_blas
def test_small_matmuls_run_single_threaded_and_the_user_setting_comes_back(
        rng, user_two_threads, seen):
    fetches, feeds, data = _small_graph(rng)
    _run(fetches, feeds, data)
    assert seen and set(seen) == {1}
    assert {i["num_threads"] for i in _blas_info()} == {2}
    # the user's own NumPy code is not limited
    assert max(i["num_threads"] for i in _blas_info()) == 2


@needs_blas
def test_interpreted_first_calls_follow_the_policy_too(rng, user_two_threads, seen):
    fetches, feeds, data = _small_graph(rng)
    with config.override(NUMGRAD_INTERPRET_CALLS=100):
        _run(fetches, feeds, data, calls=2)
    assert seen and set(seen) == {1}
    assert {i["num_threads"] for i in _blas_info()} == {2}


@needs_blas
def test_the_user_setting_comes_back_after_a_failing_run(rng, user_two_threads, seen):
    a = ng.placeholder(ng.float64, [4, 3])
    b = ng.placeholder(ng.float64, [3, 4])
    out = ng.check_numerics(ng.matmul(a, b), "bad product")
    fn = ng.Session(backend="cpu").make_callable([out], [a, b])
    fn(np.ones((4, 3)), np.ones((3, 4)))
    with pytest.raises(ng.errors.InvalidArgumentError, match="bad product"):
        fn(np.full((4, 3), np.inf), np.ones((3, 4)))
    assert seen == [1, 1]
    assert {i["num_threads"] for i in _blas_info()} == {2}


@needs_blas
def test_forced_count(rng, user_two_threads, seen, monkeypatch):
    monkeypatch.setattr(blas_threads, "SETTING", 1)
    fetches, feeds, data = _small_graph(rng)
    _run(fetches, feeds, data)
    assert set(seen) == {1}
    assert {i["num_threads"] for i in _blas_info()} == {2}
    seen.clear()
    with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
        monkeypatch.setattr(blas_threads, "SETTING", 2)
        ng.reset_default_graph()
        fetches, feeds, data = _small_graph(rng)
        _run(fetches, feeds, data)
        assert set(seen) == {2}
        assert {i["num_threads"] for i in _blas_info()} == {1}


@needs_blas
def test_results_identical_with_the_policy_on_and_off(rng, monkeypatch):
    x = rng.standard_normal((300, 300)).astype(np.float32)     # above SMALL_MACS
    w = rng.standard_normal((300, 300)).astype(np.float32)
    a, b = ng.placeholder(ng.float32, x.shape), ng.placeholder(ng.float32, w.shape)
    loss = ng.reduce_sum(ng.tanh(ng.matmul(a, b)) * ng.matmul(a, b, transpose_a=True))
    fetches = [loss] + ng.gradients(loss, [a, b])
    outs = {}
    for setting in (None, 1, 2):
        monkeypatch.setattr(blas_threads, "SETTING", setting)
        outs[setting] = _run(fetches, [a, b], [x, w], calls=2 * blas_threads.TRIALS + 2)
    for setting in (1, 2):
        for o, r in zip(outs[setting], outs[None]):
            np.testing.assert_array_equal(o, r)


@needs_blas
def test_no_blas_controller_is_a_no_op(rng, user_two_threads, seen, monkeypatch):
    monkeypatch.setattr(blas_threads, "_libs", [])
    fetches, feeds, data = _small_graph(rng)
    out = _run(fetches, feeds, data)
    assert set(seen) == {2}                 # untouched: the user's setting
    monkeypatch.setattr(blas_threads, "SETTING", None)
    ref = ng.Session(backend="numpy").run(fetches, dict(zip(feeds, data)))
    for o, r in zip(out, ref):
        np.testing.assert_allclose(o, r, rtol=1e-9)


def test_no_threadpoolctl_finds_no_controllers(monkeypatch):
    monkeypatch.setitem(sys.modules, "threadpoolctl", None)     # import fails
    assert blas_threads.find_controllers() == []


class FakeLib:
    def __init__(self, n):
        self.n, self.sets = n, []

    def get_num_threads(self):
        return self.n

    def set_num_threads(self, n):
        self.sets.append(n)
        self.n = n


@pytest.fixture
def fake(monkeypatch):
    lib = FakeLib(4)
    monkeypatch.setattr(blas_threads, "_libs", [lib])
    monkeypatch.setattr(blas_threads, "SETTING", None)
    monkeypatch.setattr(blas_threads.threads, "get_num_threads", lambda: 3)
    return lib


def test_begin_end_nest_and_restore(fake):
    blas_threads.begin()
    assert fake.n == 1
    blas_threads.begin()
    blas_threads.end()
    assert fake.n == 1
    blas_threads.end()
    assert fake.n == 4 and fake.sets == [1, 4]
    # a user already at one thread pays no set at all
    fake.n, fake.sets = 1, []
    blas_threads.begin()
    blas_threads.end()
    assert fake.sets == []


def _site_calls(fake, monkeypatch, serial_s, threaded_s, calls):
    """Call a MatmulSite `calls` times on a large product whose compute 'takes' serial_s on
    one thread and threaded_s(i) on more; the thread counts each call ran with."""
    now = [0.0]
    monkeypatch.setattr(blas_threads, "_clock", lambda: now[0])
    seen = []

    def compute(vals, attrs):
        seen.append(fake.n)
        now[0] += serial_s if fake.n == 1 else threaded_s(len(seen))
        return ["r"]
    big = np.empty((512, 512), np.float32)
    site = blas_threads.MatmulSite()
    blas_threads.begin()
    try:
        for _ in range(calls):
            assert site(compute, [big, big], {}) == ["r"]
    finally:
        blas_threads.end()
    return site, seen


def test_large_products_use_threads_where_they_pay(fake, monkeypatch):
    site, seen = _site_calls(fake, monkeypatch, 1.0, lambda i: 0.6, 10)
    # capped by ng.get_num_threads() (3) under the user's 4
    assert seen[:2 * blas_threads.TRIALS].count(3) == blas_threads.TRIALS
    assert seen[2 * blas_threads.TRIALS:] == [3] * (10 - 2 * blas_threads.TRIALS)
    assert site.pays == (3, True) and fake.n == 4


def test_a_busy_core_decides_for_one_thread_at_once(fake, monkeypatch):
    # two threaded runs over twice the one-thread time end the trial (one could be noise)
    site, seen = _site_calls(fake, monkeypatch, 1.0, lambda i: 20.0, 10)
    assert seen == [1, 3, 3] + [1] * 7 and site.pays == (3, False)     # (trial order: ORDER)


def test_a_core_getting_busy_later_starts_a_new_trial(fake, monkeypatch):
    # two threaded runs in a row over twice the one-thread time (not one): measured again,
    # and one thread chosen (measured_choice.py; slower drifts: tests/test_measured_choice.py)
    k = 2 * blas_threads.TRIALS
    site, seen = _site_calls(fake, monkeypatch, 1.0,
                             lambda i: 0.6 if i <= k or i == k + 2 else 20.0, k + 10)
    assert seen[k:k + 4] == [3] * 4             # slow, fast, slow, slow
    assert seen[k + 4:] == [1, 3, 3, 1, 1, 1] and site.pays == (3, False)


def test_small_products_never_use_threads(fake):
    small = np.empty((1000, 20))
    seen = []
    site = blas_threads.MatmulSite()
    blas_threads.begin()
    try:
        for _ in range(10):
            site(lambda v, a: seen.append(fake.n), [small, np.empty((20, 20))], {})
    finally:
        blas_threads.end()
    assert seen == [1] * 10


def test_a_thread_limited_to_one_keeps_large_products_on_one_thread(fake, monkeypatch):
    # A lane of a dispatched run (backends/cpu_schedule.py) runs inside threads.limited(1),
    # while a run on another thread may have found that large products get 3 threads.
    big = np.empty((512, 512), np.float32)
    seen = []
    site = blas_threads.MatmulSite()
    blas_threads.begin()
    try:
        monkeypatch.setattr(blas_threads, "_cap", 3)
        monkeypatch.setattr(blas_threads.threads, "get_num_threads", lambda: 1)
        for _ in range(4):
            site(lambda v, a: seen.append(fake.n), [big, big], {})
    finally:
        blas_threads.end()
    assert seen == [1] * 4


def test_setting_parsing():
    assert blas_threads.parse_setting("auto") is None
    assert blas_threads.parse_setting(" AUTO ") is None
    assert blas_threads.parse_setting("") is None
    assert blas_threads.parse_setting("3") == 3
    for bad in ("0", "-2", "two", "1.5"):
        with pytest.raises(ValueError, match="NUMGRAD_BLAS_THREADS must be 'auto' or an "
                                             "integer >= 1"):
            blas_threads.parse_setting(bad)


def test_bad_environment_value_fails_clearly_at_import():
    env = dict(os.environ, NUMGRAD_BLAS_THREADS="lots")
    out = subprocess.run([sys.executable, "-c", "import numgrad"], env=env,
                         capture_output=True, text=True)
    assert out.returncode != 0
    assert "NUMGRAD_BLAS_THREADS must be 'auto' or an integer >= 1, got 'lots'" in out.stderr
