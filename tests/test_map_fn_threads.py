"""map_fn's native loop on numgrad's threads (control/native_map.py, issue 18 item 6).

map_fn marks its While (functional.INDEPENDENT_ROWS); on the cpu backend its native loop runs
ranges of the elements at once when each thread gets NUMGRAD_MAP_FN_THREAD_ROWS elements or
more (here 4, so that small arrays thread).  Results must be bit-identical to one thread, and
agree with the numpy backend.  The graphs share one row width so they share kernels.
"""
import numpy as np
import pytest

from loop_cases import sin_map_gradients

import numgrad as ng
from numgrad import config, threads
from numgrad.control.functional import INDEPENDENT_ROWS, INDEPENDENT_ROWS_GRAD
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


@pytest.mark.parametrize("n, per", [(12, 7), (0, ROWS)])
def test_few_or_no_elements_stay_on_one_thread(two_threads, n, per):
    """Fewer rows than two threads of `per` each (12 < 2 x 7), or none, run on one thread;
    the 12 rows are the other tests' graph, so its native loop is compiled once."""
    g, x, y = _graph(n)
    feed = _feed(x, n)
    got = _run(g, y, feed, NUMGRAD_MAP_FN_THREAD_ROWS=per)
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


def _grad_graph(n):
    g, (x, w), _, fetches = sin_map_gradients(n)
    rng = np.random.default_rng(3)
    feed = {x: rng.normal(size=(n, 3)), w: rng.normal(size=3)}
    return g, feed, fetches


def _grad_numpy(xv, wv):
    s = np.sin(xv * wv)
    dy = 2 * s * np.cos(xv * wv)
    return np.sum(s * s), dy * wv, np.sum(dy * xv, axis=0)


@pytest.mark.parametrize("after", [0, 3])
def test_gradient_backward_loop_runs_on_threads(two_threads, after):
    """Fetching the gradient runs the forward loop's recording copy (its history the counter
    only, joined from the ranges) and the backward loop (functional.INDEPENDENT_ROWS_GRAD),
    both on threads, the backward's ranges each summing the captured w's gradient from
    zeros; the partial sums are added in the order of the ranges: deterministic, equal to
    one thread up to rounding.  With after=3
    the backward loop goes native after 3 interpreted iterations (rows 11, 10, 9): the
    ranges cover rows 0..8."""
    n = 12
    g, feed, fetches = _grad_graph(n)
    got = _run(g, fetches, feed, after=after)
    bwd = g.get_operation_by_name("gradients/map/while/While_grad/while_grad/While")
    assert bwd.get_attr(INDEPENDENT_ROWS_GRAD) == (n, 1)
    assert _threads(bwd) == [2]
    # the recording copy records the counter only: its ranges' records are joined in order
    hop = g.get_operation_by_name("gradients/map/while/While_grad/While_history")
    assert hop.get_attr("history") == (0,) and _threads(hop) == [2]
    # (later calls run natively from their first iteration: the same ranges every call)
    again, third = _run(g, fetches, feed, after=after), _run(g, fetches, feed, after=after)
    with threads.limited(1):
        one = _run(g, fetches, feed, after=after)
    assert _threads(bwd) == [1]
    for u, v, v3, w in zip(got, again, third, one):
        assert np.array_equal(v, v3)                  # deterministic
        np.testing.assert_allclose(u, w, rtol=1e-14, atol=1e-15)
        np.testing.assert_allclose(v, w, rtol=1e-14, atol=1e-15)
    ref = _run(g, fetches, feed, backend="numpy")
    for u, v, w in zip(got, ref, _grad_numpy(feed[g.get_tensor_by_name("x:0")],
                                             feed[g.get_tensor_by_name("w:0")])):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-14)


def test_second_derivatives_with_a_threaded_backward_loop(two_threads):
    """d/dw of sum(d loss/dx), through the backward loop: differentiated, it runs as its
    gradient's recording copy (one loop, not two: while_loop._while_lower), which records
    and so stays serial.  Against the numpy backend."""
    n = 12
    g, feed, (loss, gx, gw) = _grad_graph(n)
    with g.as_default():
        w = g.get_tensor_by_name("w:0")
        gxw, = ng.gradients(ng.reduce_sum(gx), [w])
    bwd = g.get_operation_by_name("gradients/map/while/While_grad/while_grad/While")
    got = _run(g, [gx, gxw], feed)
    ref = _run(g, [gx, gxw], feed, backend="numpy")
    for u, v in zip(got, ref):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-14)
    # the recording copy's native loop serves the backward loop's later calls too (one
    # function compiles, not two: native_loop.Candidate), so gx alone is serial here as well
    alone = _run(g, gx, feed)
    assert _threads(bwd) == [1]
    np.testing.assert_allclose(alone, ref[0], rtol=1e-12, atol=1e-14)


def test_map_fn_with_random_ops_stays_in_python(two_threads):
    g, x, y = _graph(12, fn=lambda r: r + ng.random_uniform([3], dtype=F64))
    got = _run(g, y, _feed(x, 12))
    assert got.shape == (12, 3)
    assert _threads(y.op) == []
    with g.as_default():
        assert "in Python" in "\n".join(loop_report([y.op]))
