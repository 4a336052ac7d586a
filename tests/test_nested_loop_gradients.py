"""Gradients of nested loops with the outer backward loop native (control/native_loop.py,
compiler/emit_loop.py recorded_call_lines; issue 18 item 6).

The backward body of an outer loop holds the inner loop's gradient: the inner loop's
recording copy, whose history has as many rows as the inner loop ran (known only at run
time), and the inner backward loop that reads it.  Natively, the outer function keeps one
history buffer per recorded var across its iterations, grown when an inner call runs more
iterations than it holds.  Each case checks values and gradients against the same graph with
native loops off, the numpy backend and finite differences, and asserts through loop_status
that the outer backward loop ran natively.  The inner trip count varies per outer iteration
(0 on some, then more than the buffer's first 16 rows so it grows).  The bodies share a few
small shapes so the file compiles few distinct kernels.
"""
import numpy as np
import pytest

import numgrad as ng
from numgrad import config
from numgrad.control.native_loop import loop_report, loop_status
from loop_cases import PYTHON_LOOP_COMPILE_AFTER

pytestmark = pytest.mark.backend_independent

F64 = ng.float64
X0 = np.array([0.3, -1.2, 2.0])


def _run(graph, fetches, feed, backend="cpu", native=True, calls=1):
    after = 0 if native else PYTHON_LOOP_COMPILE_AFTER      # see tests/loop_cases.py
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=after, NUMGRAD_NATIVE_LOOPS=native):
        with ng.Session(graph=graph, backend=backend) as s:
            for _ in range(calls):
                got = s.run(fetches, feed)
    return got


def _assert_three(graph, fetches, feed, calls=1):
    """Native cpu == cpu with loops in Python == numpy backend (to rounding)."""
    native = _run(graph, fetches, feed, calls=calls)
    for other in (_run(graph, fetches, feed, native=False),
                  _run(graph, fetches, feed, backend="numpy")):
        for a, b in zip(native, other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    return native


def _inner_solve(x, a, k):
    """k fixed-point iterations of y <- x + 0.1 a sin(y) from y = x."""
    return ng.while_loop(lambda j, y: j < k, lambda j, y: (j + 1, x + 0.1 * a * ng.sin(y)),
                         [0, x])[1]


def _nested_graph(second=False):
    """Six outer steps x <- 0.9 solve(x), the inner solve running m * i iterations at outer
    step i (m fed: 0 on the first step, growing past 16 with m = 4); loss sum(x^2), its
    gradients w.r.t. x0 and a (and with `second`, d/da of the x0-gradient's sum)."""
    g = ng.Graph()
    with g.as_default():
        x0 = ng.placeholder(F64, [3], name="x0")
        a = ng.placeholder(F64, [], name="a")
        m = ng.placeholder(ng.int32, [], name="m")
        _, x = ng.while_loop(lambda i, x: i < 6,
                             lambda i, x: (i + 1, 0.9 * _inner_solve(x, a, m * i)), [0, x0])
        loss = ng.reduce_sum(x * x)
        gx, ga = ng.gradients(loss, [x0, a])
        fetches = [loss, gx, ga]
        if second:
            fetches.append(ng.gradients(ng.reduce_sum(gx), [a])[0])
    return g, (x0, a, m), fetches


def _backward(graph):
    """The outer backward While of `graph` (the one whose body holds an inner backward loop)."""
    out = [op for op in graph.get_operations() if op.type == "While"
           and any(o.type == "While" and o.get_attr("history") is not False
                   for o in op.get_attr("body_graph").get_operations())]
    assert len(out) == 1, out
    return out[0]


def _native(op):
    return [facts for kind, facts in loop_status(op) if kind == "native"]


@pytest.mark.parametrize("m", [0, 1, 4])
def test_while_in_while_gradients_with_native_outer_backward(m):
    g, (x0, a, mm), fetches = _nested_graph()
    feed = {x0: X0, a: 0.9, mm: m}
    _assert_three(g, fetches, feed, calls=2)
    facts, = _native(_backward(g))
    assert facts["inner_loops"] == 2        # the inner recording copy and its backward
    assert facts["calls"] == 2
    line, = [ln for ln in loop_report([_backward(g)]) if "while_grad/While'" in ln]
    assert "native loop" in line


def test_buffer_grows_then_serves_smaller_and_larger_calls():
    """One session: m = 4 grows the kept history buffer past its first rows inside one
    outer call; m = 1 and m = 0 then use fewer rows; m = 6 grows it again."""
    g, (x0, a, mm), fetches = _nested_graph()
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s, ng.Session(graph=g, backend="numpy") as r:
            for m in (4, 1, 0, 6):
                feed = {x0: X0, a: 0.9, mm: m}
                for u, v in zip(s.run(fetches, feed), r.run(fetches, feed)):
                    np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)
    assert _native(_backward(g))[0]["calls"] == 4


def test_nested_gradient_matches_finite_differences():
    g, (x0, a, mm), (loss, _, _) = _nested_graph()
    with g.as_default(), config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu"):
            err = ng.test.compute_gradient_error([x0, a], [[3], []], loss, [],
                                                 x_init_value=[X0, np.array(0.9)],
                                                 extra_feed_dict={mm: 4})
    assert err < 1e-6


def test_second_derivative_through_a_nested_loop():
    """d/da of the x0-gradient's sum: through the backward loops' own gradients (their
    recording copies); these may run in Python, their values match all the same."""
    g, (x0, a, mm), fetches = _nested_graph(second=True)
    feed = {x0: X0, a: 0.9, mm: 2}
    got = _assert_three(g, fetches, feed)
    h = 1e-6
    lo = _run(g, fetches[1], {x0: X0, a: 0.9 - h, mm: 2}, backend="numpy")
    hi = _run(g, fetches[1], {x0: X0, a: 0.9 + h, mm: 2}, backend="numpy")
    np.testing.assert_allclose(got[3], (hi.sum() - lo.sum()) / (2 * h), rtol=1e-6)


def test_data_dependent_inner_termination():
    """An implicit Euler step solved to a tolerance: the inner trip count depends on data."""
    g = ng.Graph()
    with g.as_default():
        x0 = ng.placeholder(F64, [3], name="x0")
        a = ng.placeholder(F64, [], name="a")

        def step(i, x):
            def body(j, y):
                return j + 1, x + 0.1 * a * ng.sin(y)

            def cond(j, y):
                r = y - x - 0.1 * a * ng.sin(y)
                return ng.logical_and(j < 50, ng.reduce_max(ng.abs(r)) > 1e-10)
            return i + 1, ng.while_loop(cond, body, [0, x])[1]

        _, x = ng.while_loop(lambda i, x: i < 5, step, [0, x0])
        loss = ng.reduce_sum(x * x)
        gx, ga = ng.gradients(loss, [x0, a])
    _assert_three(g, [loss, gx, ga], {x0: X0, a: 0.9})
    assert _native(_backward(g))


def test_while_in_map_fn_gradients():
    g = ng.Graph()
    with g.as_default():
        xs = ng.placeholder(F64, [4, 3], name="xs")
        a = ng.placeholder(F64, [], name="a")
        ys = ng.map_fn(lambda x: _inner_solve(x, a, 3), xs)
        loss = ng.reduce_sum(ys * ys)
        gxs, ga = ng.gradients(loss, [xs, a])
    xv = np.arange(12.0).reshape(4, 3) / 7 - 0.8
    _assert_three(g, [loss, gxs, ga], {xs: xv, a: 0.9})
    assert _native(_backward(g))
    with g.as_default(), config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu"):
            err = ng.test.compute_gradient_error(xs, [4, 3], loss, [], x_init_value=xv,
                                                 extra_feed_dict={a: 0.9})
    assert err < 1e-6


def test_while_in_scan_gradients():
    g = ng.Graph()
    with g.as_default():
        xs = ng.placeholder(F64, [4, 3], name="xs")
        a = ng.placeholder(F64, [], name="a")
        ys = ng.scan(lambda h, x: _inner_solve(0.5 * h + x, a, 2), xs,
                     initializer=ng.zeros([3], F64))
        loss = ng.reduce_sum(ys * ys)
        gxs, ga = ng.gradients(loss, [xs, a])
    xv = np.arange(12.0).reshape(4, 3) / 7 - 0.8
    _assert_three(g, [loss, gxs, ga], {xs: xv, a: 0.9})
    assert _native(_backward(g))
