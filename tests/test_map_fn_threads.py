"""map_fn's native loop on numgrad's threads (control/native_map.py, issue 18 item 6).

map_fn marks its While (functional.INDEPENDENT_ROWS); on the cpu backend its native loop runs
ranges of the elements at once when each thread gets NUMGRAD_MAP_FN_THREAD_ROWS elements or
more (here 4, so that small arrays thread).  Results must be bit-identical to one thread, and
agree with the numpy backend.  The graphs share one row width so they share kernels.
"""
import numpy as np
import pytest

import numgrad as ng
from numgrad import config, threads
from numgrad.control.functional import INDEPENDENT_ROWS
from numgrad.control.native_loop import loop_report, loop_status

pytestmark = pytest.mark.backend_independent

F64 = ng.float64
ROWS = 4                        # NUMGRAD_MAP_FN_THREAD_ROWS in these tests




def _body(r):
    return ng.sin(r) * ng.exp(-r * r) + ng.tanh(r)


def _graph(n, fn=_body):
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [n, 3], name="x")
        y = ng.map_fn(fn, x)
    return g, x, y


def _feed(x, n, seed=0):
    return {x: np.random.default_rng(seed).normal(size=(n, 3))}


def _run(g, fetches, feed, backend="cpu", after=0, **switches):
    switches = {"NUMGRAD_MAP_FN_THREAD_ROWS": ROWS, **switches}
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=after, NUMGRAD_BACKGROUND_COMPILE=False,
                         **switches):
        with ng.Session(graph=g, backend=backend) as s:
            return s.run(fetches, feed)


def _threads(op):
    """The threads of the last call of each native signature of While `op`."""
    return [f["threads"] for kind, f in loop_status(op) if kind == "native"]


def _numpy(xv):
    return np.sin(xv) * np.exp(-xv * xv) + np.tanh(xv)


def test_map_fn_marks_its_while_and_scan_does_not():
    g, x, y = _graph(12)
    assert y.op.type == "While" and y.op.get_attr(INDEPENDENT_ROWS) == 12
    with g.as_default():
        s = ng.scan(lambda a, r: a + r, x)
    assert s.op.type == "While" and INDEPENDENT_ROWS not in s.op.attrs


def test_threaded_map_fn_is_bit_identical_to_one_thread(two_threads):
    g, x, y = _graph(12)
    feed = _feed(x, 12)
    many = _run(g, y, feed)
    assert _threads(y.op) == [2]
    with g.as_default():
        text = "\n".join(loop_report([y.op]))
    assert "its last call on 2 threads" in text
    with threads.limited(1):
        one = _run(g, y, feed)
    assert _threads(y.op) == [1]
    off = _run(g, y, feed, NUMGRAD_MAP_FN_THREAD_ROWS=0)
    assert _threads(y.op) == [1]
    assert np.array_equal(many, one) and np.array_equal(many, off)
    ref = _run(g, y, feed, backend="numpy")
    np.testing.assert_allclose(many, ref, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(many, _numpy(feed[x]), rtol=1e-13, atol=1e-15)


def test_threads_start_where_the_interpreted_iterations_stopped(two_threads):
    """The loop goes native after 3 interpreted iterations: the ranges cover rows 3..11."""
    g, x, y = _graph(12)
    feed = _feed(x, 12, seed=1)
    got = _run(g, y, feed, after=3)
    assert _threads(y.op) == [2]
    np.testing.assert_allclose(got, _numpy(feed[x]), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("n", [6, 0])
def test_few_or_no_elements_stay_on_one_thread(two_threads, n):
    g, x, y = _graph(n)
    feed = _feed(x, n)
    got = _run(g, y, feed)
    assert got.shape == (n, 3)
    assert _threads(y.op) == [1]
    np.testing.assert_allclose(got, _numpy(feed[x]), rtol=1e-13, atol=1e-15)


def test_nested_structures(two_threads):
    n = 12
    g = ng.Graph()
    with g.as_default():
        a = ng.placeholder(F64, [n, 3], name="a")
        b = ng.placeholder(F64, [n], name="b")
        out = ng.map_fn(lambda e: {"s": ng.sin(e[0]) * e[1]["b"], "t": (e[1]["b"] * 2.0,
                                                                         e[0] + 1.0)},
                        (a, {"b": b}), dtype={"s": F64, "t": (F64, F64)})
    rng = np.random.default_rng(2)
    feed = {a: rng.normal(size=(n, 3)), b: rng.normal(size=n)}
    fetch = [out["s"], out["t"][0], out["t"][1]]
    many = _run(g, fetch, feed)
    assert _threads(out["s"].op) == [2]
    with threads.limited(1):
        one = _run(g, fetch, feed)
    for u, v in zip(many, one):
        assert np.array_equal(u, v)
    want = [np.sin(feed[a]) * feed[b][:, None], feed[b] * 2.0, feed[a] + 1.0]
    for u, v in zip(many, want):
        np.testing.assert_allclose(u, v, rtol=1e-13, atol=1e-15)


def test_gradient_loops_stay_serial(two_threads):
    """Fetching the gradient runs the forward loop's recording copy (history) and a backward
    loop summing into the captured parameter: neither runs on threads."""
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [12, 3], name="x")
        w = ng.placeholder(F64, [3], name="w")
        y = ng.map_fn(lambda r: ng.sin(r * w), x)
        loss = ng.reduce_sum(y * y)
        gx, gw = ng.gradients(loss, [x, w])
    rng = np.random.default_rng(3)
    feed = {x: rng.normal(size=(12, 3)), w: rng.normal(size=3)}
    got = _run(g, [loss, gx, gw], feed)
    whiles = [op for op in g.get_operations() if op.type == "While"]
    assert all(f["threads"] == 1 for op in whiles for kind, f in loop_status(op)
               if kind == "native")
    xv, wv = feed[x], feed[w]
    s = np.sin(xv * wv)
    dy = 2 * s * np.cos(xv * wv)
    np.testing.assert_allclose(got[0], np.sum(s * s), rtol=1e-12)
    np.testing.assert_allclose(got[1], dy * wv, rtol=1e-12)
    np.testing.assert_allclose(got[2], np.sum(dy * xv, axis=0), rtol=1e-12)


def test_map_fn_with_random_ops_stays_in_python(two_threads):
    g, x, y = _graph(12, fn=lambda r: r + ng.random_uniform([3], dtype=F64))
    got = _run(g, y, _feed(x, 12))
    assert got.shape == (12, 3)
    assert _threads(y.op) == []
    with g.as_default():
        assert "in Python" in "\n".join(loop_report([y.op]))
