"""Concurrency and kernel-cache faults (cpu backend).

* one Session shared by 8 threads running different fetches for ~0.5 s (2 s with
  NUMGRAD_SLOW=1), checked against NumPy;
* a forked child using the parent's session while the parent's threads are running it;
* two processes compiling the same new graph into one fresh cache directory at once, then a
  third loading from it;
* on-disk cache faults: numgrad's entry truncated / garbage / unreadable, Numba's index or data
  file truncated / garbage / from another Numba version, a read-only directory, a full disk.
  Each recompiles (or runs uncached) with a warning where the user should know, and gives the
  right numbers; a follow-up load works.

test_compiler.py already covers: 8 threads on one session (one fetch set), a fork after a
single-threaded run, a second process loading from the cache, a truncated entry rebuilt by a
new process, and a cache directory that cannot be created.
"""
import errno
import glob
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import threading
import time
import warnings

import numpy as np
import pytest

import numgrad as ng
from numgrad import cache

import budget

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


# --- 8 threads, one session ----------------------------------------------------------------------
def _fetch_sets():
    """(name, fetches, feed placeholders, NumPy reference of the feed values) per thread."""
    x = ng.placeholder(ng.float64, [None, 4], name="x")
    w = ng.placeholder(ng.float64, [4], name="w")
    m = ng.placeholder(ng.float64, [4, 3], name="m")
    loss = ng.reduce_sum(ng.tanh(x * w) ** 2)
    gx, gw = ng.gradients(loss, [x, w])

    def dtanh2(xv, wv):
        t = np.tanh(xv * wv)
        g = 2 * t * (1 - t * t)
        return g * wv, (g * xv).sum(axis=0)

    def softmax(xv):
        e = np.exp(xv - xv.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    return [
        ("rowsum", [ng.reduce_sum(ng.tanh(x * w), axis=1)], (x, w),
         lambda xv, wv: [np.tanh(xv * wv).sum(axis=1)]),
        ("grads", [loss, gx, gw], (x, w),
         lambda xv, wv: [(np.tanh(xv * wv) ** 2).sum(), *dtanh2(xv, wv)]),
        ("softmax", [ng.nn.softmax(x)], (x,), lambda xv: [softmax(xv)]),
        ("matmul", [ng.matmul(x, m) + 1.5], (x, m), lambda xv, mv: [xv @ mv + 1.5]),
        ("reduce", [ng.reduce_max(x), ng.reduce_mean(x * x, axis=0)], (x,),
         lambda xv: [xv.max(), (xv * xv).mean(axis=0)]),
        ("cumsum", [ng.cumsum(x, axis=1), ng.exp(-x)], (x,),
         lambda xv: [np.cumsum(xv, axis=1), np.exp(-xv)]),
        ("concat", [ng.concat([x[:, 1:] * 2.0, x[:, :1]], 1)], (x,),
         lambda xv: [np.concatenate([xv[:, 1:] * 2.0, xv[:, :1]], 1)]),
        ("callable-grads", None, (x, w), lambda xv, wv: list(dtanh2(xv, wv))),
    ], (gx, gw)


# How long the eight threads of the soak test keep running (and at least 3 calls each).
SOAK_SECONDS = budget.examples(0.5, 2.0)


def test_eight_threads_different_fetches_at_once():
    sets, grads = _fetch_sets()
    sess = ng.Session(backend="cpu")
    callable_grads = sess.make_callable(list(grads), [sets[-1][2][0], sets[-1][2][1]])
    shapes = {"x": [(5, 4), (33, 4)], "w": [(4,)], "m": [(4, 3)]}

    def feeds(r, phs, k):
        return [r.standard_normal(shapes[p.op.name][k % len(shapes[p.op.name])]) for p in phs]

    def run_one(name, fetches, phs, vals):
        if fetches is None:
            return callable_grads(*vals)
        return sess.run(fetches, dict(zip(phs, vals)))

    r = np.random.default_rng(0)
    for name, fetches, phs, ref in sets:          # compile every plan once, single-threaded
        run_one(name, fetches, phs, feeds(r, phs, 0))
    errors, counts = [], [0] * len(sets)
    deadline = time.monotonic() + SOAK_SECONDS

    def worker(k):
        name, fetches, phs, ref = sets[k]
        rk = np.random.default_rng(k + 1)
        try:
            # Run for SOAK_SECONDS, and at least 3 times (both shapes) however loaded the
            # machine is.
            while time.monotonic() < deadline or counts[k] < 3:
                vals = feeds(rk, phs, counts[k])  # alternating shapes: a second plan appears
                out = run_one(name, fetches, phs, vals)
                for o, e in zip(out, ref(*vals)):
                    np.testing.assert_allclose(o, e, rtol=1e-10, atol=1e-12, err_msg=name)
                counts[k] += 1
        except Exception as e:   # noqa: BLE001  (reported below)
            errors.append((name, e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(len(sets))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[0]
    assert all(c >= 3 for c in counts), counts      # every thread really ran, more than once


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_hot_callable_from_four_threads_with_mixed_shapes_and_types(switches):
    # make_callable's unchecked first try (the plan function checks its own types and
    # shapes) under threads: each thread alternates shapes, and one also feeds float32 and
    # lists, which switch that try off for everybody; results must stay right throughout.
    switches(FUSED_CALL_AFTER=2)
    x = ng.placeholder(ng.float64, [None])
    w = ng.placeholder(ng.float64, [None])
    loss = ng.reduce_sum(ng.tanh(x * w) * x)
    f = ng.Session(backend="cpu").make_callable([loss] + ng.gradients(loss, [x, w]), [x, w])

    def reference(xv, wv):
        t = np.tanh(xv * wv)
        g = 1 - t * t
        return [np.sum(t * xv), t + xv * wv * g, xv * xv * g]

    errors = []

    def worker(k):
        r = np.random.default_rng(k)
        try:
            for i in range(60):
                n = (3, 8)[(i + k) % 2]
                xv, wv = r.standard_normal(n), r.standard_normal(n)
                feed = xv
                if k == 3 and i % 20 == 19:
                    feed = xv.astype(np.float32) if i % 40 == 19 else list(xv)
                    xv = np.asarray(feed, np.float64)
                for o, e in zip(f(feed, wv), reference(xv, wv)):
                    np.testing.assert_allclose(o, e, rtol=1e-12, atol=1e-14)
        except Exception as e:   # noqa: BLE001  (reported below)
            errors.append((k, e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not errors, errors[0]


def test_fork_while_parent_threads_run_the_session():
    """Locks held by running threads at fork time must not hang or break the child."""
    from numgrad.compiler.layout import PARALLEL_MIN
    x = ng.placeholder(ng.float64, [None], name="x")
    y = ng.reduce_sum(ng.exp(x) * 0.5)
    z = ng.tanh(x) * 3.0
    sess = ng.Session(backend="cpu")
    big = np.linspace(0, 1, PARALLEL_MIN + 7)         # a parallel kernel: numgrad's pool
    small = np.linspace(-1, 1, 9)
    ref_y, ref_z = np.exp(big).sum() * 0.5, np.tanh(small) * 3.0
    sess.run([y, z], {x: big})
    sess.run(z, {x: small})
    stop = threading.Event()

    def busy():
        while not stop.is_set():
            sess.run(y, {x: big})
            sess.run(z, {x: small})
    threads = [threading.Thread(target=busy) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        time.sleep(0.2)
        with warnings.catch_warnings():   # Python warns that fork with threads may deadlock
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:                      # child: old plans, a new fetch, a new graph
            code = 1
            try:
                signal.alarm(60)          # a deadlock ends as a failure, not a hung suite
                a = sess.run(y, {x: big})
                b = sess.run(z, {x: small})
                c = sess.run(ng.sin(x) + 1.0, {x: small})
                ok = (abs(a - ref_y) <= 1e-9 * abs(ref_y) and np.allclose(b, ref_z, rtol=1e-12)
                      and np.allclose(c, np.sin(small) + 1.0, rtol=1e-12))
                code = 0 if ok else 1
            except BaseException:   # noqa: BLE001
                code = 2
            finally:
                os._exit(code)
    finally:
        stop.set()
        for t in threads:
            t.join()
    for _ in range(900):                   # up to 90 s
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung")
    assert os.WIFEXITED(status), f"child died: status {status}"
    assert os.WEXITSTATUS(status) == 0, "child got wrong numbers (1) or an error (2)"
    np.testing.assert_allclose(sess.run(y, {x: big}), ref_y, rtol=1e-12)   # parent unharmed


# --- two processes, one fresh cache directory ------------------------------------------------------
_PROCESS_SCRIPT = """
    import sys, time, numpy as np, numgrad as ng
    x = ng.placeholder(ng.float64, [None, 3])
    y = ng.reduce_sum(ng.tanh(x * 0.8125) * ng.exp(-x), axis=1)
    g, = ng.gradients(ng.reduce_sum(y * y), x)
    feed = {x: np.arange(12.0).reshape(4, 3) / 7}
    s = ng.Session(backend="cpu")
    while time.time() < float(sys.argv[1]):   # start together
        time.sleep(0.005)
    out = s.run([y, g], feed)
    print(repr(out[0].tolist()) + "|" + repr(out[1].tolist()))
    sys.path.insert(0, sys.argv[2])           # tests/, for plan_checks
    import json
    from plan_checks import plan_of
    print(json.dumps([[k.cache_hits, k.cache_misses] for k in plan_of([y, g], feed, s).kernels]))
"""


def _reference_process_values():
    xv = np.arange(12.0).reshape(4, 3) / 7
    t, e = np.tanh(xv * 0.8125), np.exp(-xv)
    y = (t * e).sum(axis=1)
    dy = 2 * y[:, None] * (0.8125 * (1 - t * t) * e - t * e)
    return y, dy


def _spawn(cache_dir, start_at):
    env = dict(os.environ, NUMGRAD_CACHE_DIR=str(cache_dir), NUMGRAD_BACKEND="cpu")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(_PROCESS_SCRIPT), str(start_at),
                             os.path.dirname(os.path.abspath(__file__))],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def _finish(p):
    out, err = p.communicate(timeout=300)
    assert p.returncode == 0, err
    values, kernels = out.split("\n", 1)
    y, g = (np.array(eval(v)) for v in values.split("|"))   # noqa: S307  (our own repr)
    return y, g, json.loads(kernels), err


def test_two_processes_compile_into_one_cache_then_a_third_loads(tmp_path):
    d = tmp_path / "cache"
    start = time.time() + 3.0                 # both have imported numba by then
    procs = [_spawn(d, start), _spawn(d, start)]
    results = [_finish(p) for p in procs]
    ry, rg = _reference_process_values()
    for y, g, kernels, err in results:
        np.testing.assert_allclose(y, ry, rtol=1e-12)
        np.testing.assert_allclose(g, rg, rtol=1e-12)
        assert "Traceback" not in err and "unreadable" not in err, err
    np.testing.assert_array_equal(results[0][0], results[1][0])
    np.testing.assert_array_equal(results[0][1], results[1][1])
    # kernel modules Numba compiles, or object code of translated kernels (llvm/)
    entries = sorted(p.name for p in d.glob("numgrad_k_*.py"))
    objects = sorted(p.name for p in d.glob("llvm/*.ngo"))
    assert entries or objects, "no entry"
    assert not list(d.glob(".tmp-*")) and not list(d.glob("llvm/.tmp*")), "a temporary file left"
    for p in d.glob("numgrad_k_*.py"):
        compile(p.read_text(), str(p), "exec")    # every entry is whole, valid Python
    y, g, kernels, err = _finish(_spawn(d, 0))    # a third process: everything from the cache
    np.testing.assert_array_equal(y, results[0][0])
    np.testing.assert_array_equal(g, results[0][1])
    # (cache hits, misses) of each kernel the third process loaded: hits only
    loaded = [(hits, misses) for hits, misses in kernels if hits is not None]
    assert loaded and all(misses == 0 and hits > 0 for hits, misses in loaded), kernels
    assert sorted(p.name for p in d.glob("numgrad_k_*.py")) == entries
    assert sorted(p.name for p in d.glob("llvm/*.ngo")) == objects


# --- cache faults, in process on a tiny kernel ------------------------------------------------------
_counter = [0]


def _source():
    """A kernel source no other test uses (so neither in-memory cache knows it)."""
    _counter[0] += 1
    c = 1.0 + _counter[0] / 1024 + os.getpid() % 997 / 2 ** 20
    return (f"from numba import njit\n\n\n@njit(cache=True, nogil=True)\ndef kernel(a):\n"
            f"    return a * {c!r} + 0.5\n"), c


def _load_fresh(source):
    """cache.load as a new process would do it: the in-memory caches forgotten.
    Returns (result, cache hits, cache misses)."""
    key = cache.source_key(source)
    cache._LOADED.pop(key, None)
    sys.modules.pop(f"numgrad_k_{key}", None)
    kernel = cache.load(source, "kernel")
    out = kernel(np.arange(4.0))
    return out, sum(kernel.stats.cache_hits.values()), sum(kernel.stats.cache_misses.values())


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    d = tmp_path / "kcache"
    monkeypatch.setenv("NUMGRAD_CACHE_DIR", str(d))
    return d


def _entry(d, source):
    return d / f"numgrad_k_{cache.source_key(source)}.py"


def _numba_files(d, suffix):
    return glob.glob(str(d / "__pycache__" / f"numgrad_k_*{suffix}"))


def _expect(out, c):
    np.testing.assert_array_equal(out, np.arange(4.0) * c + 0.5)


def test_cache_roundtrip_baseline(cache_dir):
    src, c = _source()
    out, hits, misses = _load_fresh(src)
    _expect(out, c)
    assert (hits, misses) == (0, 1)
    out, hits, misses = _load_fresh(src)
    _expect(out, c)
    assert (hits, misses) == (1, 0)


@pytest.mark.parametrize("damage", ["truncated", "garbage", "empty"])
def test_numgrad_entry_damaged_is_rewritten(cache_dir, damage, caplog):
    src, c = _source()
    _load_fresh(src)
    p = _entry(cache_dir, src)
    p.write_bytes({"truncated": src.encode()[:30], "garbage": b"\xff\xfe\x00garbage\x80" * 10,
                   "empty": b""}[damage])
    with caplog.at_level("WARNING", logger="numgrad.cache"):
        out, hits, misses = _load_fresh(src)
    _expect(out, c)
    assert p.read_text() == src                     # rebuilt in place
    assert "corrupt" in caplog.text
    out, hits, misses = _load_fresh(src)            # then a plain hit
    _expect(out, c)
    assert (hits, misses) == (1, 0)


def test_numgrad_entry_unreadable_is_rewritten(cache_dir, monkeypatch):
    src, c = _source()
    _load_fresh(src)
    p = _entry(cache_dir, src)
    real_open = open

    def no_read(path, mode="r", *a, **k):
        if str(path) == str(p) and "r" in mode:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, mode, *a, **k)
    with monkeypatch.context() as m:
        if os.geteuid() != 0:
            p.chmod(0)
        else:                               # root reads anything: refuse the read ourselves
            m.setattr(cache, "open", no_read, raising=False)
        out, hits, misses = _load_fresh(src)
        _expect(out, c)
    assert p.read_text() == src and os.access(p, os.R_OK)
    out, hits, misses = _load_fresh(src)
    _expect(out, c)
    assert hits == 1


@pytest.mark.parametrize("suffix", [".nbi", ".nbc"])
@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_numba_cache_file_damaged_recompiles_with_warning(cache_dir, suffix, damage):
    src, c = _source()
    _load_fresh(src)
    files = _numba_files(cache_dir, suffix)
    assert files, os.listdir(cache_dir / "__pycache__")
    for f in files:
        data = open(f, "rb").read()
        open(f, "wb").write(data[: len(data) // 3] if damage == "truncated" else b"\x00junk\xff" * 50)
    with pytest.warns(RuntimeWarning, match="unreadable.*recompiling"):
        out, hits, misses = _load_fresh(src)
    _expect(out, c)
    assert misses == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error")           # the recompiled kernel was saved over the bad one
        out, hits, misses = _load_fresh(src)
    _expect(out, c)
    assert (hits, misses) == (1, 0)


def test_numba_index_from_another_numba_version_misses_silently(cache_dir):
    src, c = _source()
    _load_fresh(src)
    for f in _numba_files(cache_dir, ".nbi"):
        with open(f, "rb") as fh:
            pickle.load(fh)                       # Numba's own version stamp comes first
            rest = fh.read()
        with open(f, "wb") as fh:
            pickle.dump("0.0.1-another-numba", fh, protocol=-1)
            fh.write(rest)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out, hits, misses = _load_fresh(src)
        _expect(out, c)
        assert (hits, misses) == (0, 1)
        out, hits, misses = _load_fresh(src)
        _expect(out, c)
        assert (hits, misses) == (1, 0)


def test_numgrad_key_includes_the_numba_version(cache_dir, monkeypatch):
    """A kernel cached by another Numba version is a different entry: a miss, never a load."""
    import numba
    src, c = _source()
    _load_fresh(src)
    key = cache.source_key(src)
    monkeypatch.setattr(numba, "__version__", numba.__version__ + ".other")
    monkeypatch.setattr(cache, "_SALT", None)
    assert cache.source_key(src) != key
    out, hits, misses = _load_fresh(src)
    _expect(out, c)
    assert (hits, misses) == (0, 1)
    assert len(list(cache_dir.glob("numgrad_k_*.py"))) == 2


def _deny_writes(monkeypatch, cache_dir, err):
    """Make writing into `cache_dir` fail with `err` (chmod is no obstacle to root)."""
    real_mkstemp = cache.tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):
        if dir is not None and os.path.abspath(dir).startswith(str(cache_dir)):
            raise OSError(err, os.strerror(err), dir)
        return real_mkstemp(*a, dir=dir, **k)
    monkeypatch.setattr(cache.tempfile, "mkstemp", mkstemp)


def test_read_only_cache_dir_runs_uncached_with_warning(cache_dir, monkeypatch):
    src, c = _source()
    cache_dir.mkdir()
    if os.geteuid() != 0:
        cache_dir.chmod(0o555)
    else:
        _deny_writes(monkeypatch, cache_dir, errno.EACCES)
    try:
        with pytest.warns(RuntimeWarning, match="unusable.*(Permission|denied)"):
            out, hits, misses = _load_fresh(src)
        _expect(out, c)
        assert not list(cache_dir.iterdir())
    finally:
        cache_dir.chmod(0o755)
    monkeypatch.undo()
    monkeypatch.setenv("NUMGRAD_CACHE_DIR", str(cache_dir))
    out, hits, misses = _load_fresh(src)            # writable again: cached as usual
    _expect(out, c)
    assert _entry(cache_dir, src).read_text() == src


def test_full_disk_writing_entry_runs_uncached_with_warning(cache_dir, monkeypatch):
    src, c = _source()
    cache_dir.mkdir()
    real_fdopen = os.fdopen

    class FullFile:
        def __init__(self, f):
            self.f = f

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.f.close()

        def write(self, data):
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache.os, "fdopen", lambda fd, *a, **k: FullFile(real_fdopen(fd, *a, **k)))
    with pytest.warns(RuntimeWarning, match="unusable.*No space left"):
        out, hits, misses = _load_fresh(src)
    _expect(out, c)
    monkeypatch.undo()
    assert not list(cache_dir.iterdir()), "a partial or temporary file was left behind"


def test_full_disk_saving_numba_cache_warns_and_runs(cache_dir, monkeypatch):
    from numba.core import caching
    src, c = _source()

    def full(self, *a, **k):
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(caching.IndexDataCacheFile, "_save_data", full)
    with pytest.warns(RuntimeWarning, match="cannot save.*No space left"):
        out, hits, misses = _load_fresh(src)
    _expect(out, c)
    monkeypatch.undo()
    monkeypatch.setenv("NUMGRAD_CACHE_DIR", str(cache_dir))
    out, hits, misses = _load_fresh(src)            # nothing was saved: compiled again, fine
    _expect(out, c)
    assert misses == 1
    out, hits, misses = _load_fresh(src)
    assert (hits, misses) == (1, 0)


def test_session_runs_right_with_a_full_disk(cache_dir, monkeypatch):
    """The whole path: a new graph's kernels cannot be cached; run() still gives the right
    numbers, and runs again."""
    cache_dir.mkdir()
    _deny_writes(monkeypatch, cache_dir, errno.ENOSPC)
    k = 1.0 + os.getpid() % 991 / 4096                # a graph (hence kernel) of our own
    x = ng.placeholder(ng.float64, [None])
    y = ng.reduce_sum(ng.sin(x) * k + x * x)
    sess = ng.Session(backend="cpu")
    v = np.linspace(-1, 1, 11)
    with pytest.warns(RuntimeWarning, match="unusable.*No space left"):
        out = sess.run(y, {x: v})
    np.testing.assert_allclose(out, (np.sin(v) * k + v * v).sum(), rtol=1e-12)
    np.testing.assert_allclose(sess.run(y, {x: v * 2}), (np.sin(2 * v) * k + 4 * v * v).sum(),
                               rtol=1e-12)
