"""TensorArray writes in place inside a native loop (compiler/emit_loop.py in_place_writes,
issue 18): a write whose buffer is a loop var that nothing reads afterwards replaces the element
in the loop var's own array instead of copying the whole buffer, so a map_fn or scan over n
elements costs O(n).  Each case compares the native loop with the loop in Python
(NUMGRAD_NATIVE_LOOPS=0) and the numpy backend bit for bit, and checks from the emitted source
which writes ran in place.  The cases share a row width of 3 so they share kernels.
"""
import numpy as np
import pytest

import budget
from loop_cases import run_three as _run_three, ta_writes
import numgrad as ng
from numgrad.control import native_loop

pytestmark = pytest.mark.backend_independent

F64 = ng.float64


def _assert_identical(results):
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_array_equal(a, b)


def _writes(op):
    """ta_writes of While `op`, which must have run natively."""
    assert any(hasattr(lp, "source")
               for lp in native_loop._LOOPS[op.get_attr("body_graph")].values()), \
        f"{op.name} did not run natively"
    return ta_writes(op)


def _whiles(g):
    return [op for op in g.get_operations() if op.type == "While"]


def _rows(n, seed=0):
    return np.random.default_rng(seed).normal(size=(n, 3))


# n = 1 repeats n = 9 (in place, by value) on a loop of its own: NUMGRAD_SLOW=1 only
@pytest.mark.parametrize("n", [0, 1, 9] if budget.SLOW else [0, 9])
def test_map_fn_of_a_nested_structure_writes_in_place(n):
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [n, 3], name="x")
        y, z = ng.map_fn(lambda r: (ng.sin(r) * r, {"c": ng.cos(r)}), x,
                         dtype=(F64, {"c": F64}))
        z = z["c"]
        grads = ng.gradients(ng.reduce_sum(y) + ng.reduce_sum(z * z), [x])
    xv = _rows(n)
    res = _run_three(g, [y, z] + grads, {x: xv})
    _assert_identical(res)
    np.testing.assert_allclose(res[0][0], np.sin(xv) * xv, rtol=1e-14)
    np.testing.assert_allclose(res[0][1], np.cos(xv), rtol=1e-14)
    # the backward loop reads its gradient buffers' old elements after writing them:
    # checked by value, whichever of its writes ran in place (n = 0: an empty recorded
    # history, whose run-time-sized rows the compiled plan keeps as the loop made them)
    np.testing.assert_allclose(res[0][2], np.cos(xv) * xv + np.sin(xv)
                               - 2.0 * np.cos(xv) * np.sin(xv), rtol=1e-12, atol=1e-14)
    assert res[0][2].shape == (n, 3)
    if n:
        assert _writes(_whiles(g)[0]) == (2, 0)


def test_scan_with_a_tuple_accumulator_writes_in_place():
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [7, 3], name="x")
        a, b = ng.scan(lambda acc, r: (acc[0] * 0.5 + r, acc[1] + acc[0] * r), x,
                       initializer=(ng.zeros([3], F64), ng.ones([3], F64)))
    xv = _rows(7, 1)
    res = _run_three(g, [a, b], {x: xv})
    _assert_identical(res)
    p, q, want_a, want_b = np.zeros(3), np.ones(3), [], []
    for r in xv:
        p, q = p * 0.5 + r, q + p * r
        want_a.append(p)
        want_b.append(q)
    np.testing.assert_allclose(res[0][0], want_a, rtol=1e-13)
    np.testing.assert_allclose(res[0][1], want_b, rtol=1e-13)
    assert _writes(_whiles(g)[0]) == (2, 0)


def _ta_loop(body, n=5, init=None):
    """A while_loop over i < n on (i, a TensorArray of n rows of 3), the array unstacked from
    the fed x (or `init(x)`); its stacked result."""
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [n, 3], name="x")
        ta = ng.TensorArray(F64, size=n).unstack(x if init is None else init(x))
        _, out = ng.while_loop(lambda i, ta: i < n, body, [0, ta])
        out = out.stack()
    return g, x, out


def test_a_write_into_the_fed_buffer_leaves_the_feed_unchanged():
    """The loop var's first value is the caller's array: the loop writes into its own copy."""
    g, x, out = _ta_loop(lambda i, ta: (i + 1, ta.write(i, ta.read(i) * 2.0 + 1.0)))
    xv = _rows(5, 2)
    before = xv.copy()
    res = _run_three(g, [out], {x: xv})
    _assert_identical(res)
    np.testing.assert_array_equal(xv, before)
    np.testing.assert_allclose(res[0][0], before * 2.0 + 1.0, rtol=1e-15)
    assert _writes(_whiles(g)[0]) == (1, 0)


def test_a_row_moved_within_the_buffer_and_a_read_after_the_write():
    """ta.write(i + 1, ta.read(i)) reads the old buffer in the write itself (in place); the
    new buffer's element read back in the same iteration sees the write."""
    def body(i, ta):
        ta = ta.write(i + 1, ta.read(i) * 0.5)
        return i + 1, ta.write(i, ta.read(i + 1) + ta.read(i))
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [6, 3], name="x")
        t = ng.TensorArray(F64, size=6).unstack(x)
        _, moved = ng.while_loop(lambda i, ta: i < 5, body, [0, t])
        moved = moved.stack()
    xv = _rows(6, 3)
    res = _run_three(g, [moved], {x: xv})
    _assert_identical(res)
    want = xv.copy()
    for i in range(5):
        want[i + 1] = want[i] * 0.5
        want[i] = want[i + 1] + want[i]
    np.testing.assert_allclose(res[0][0], want, rtol=1e-15)
    assert _writes(_whiles(g)[0])[0] >= 1


def test_the_old_buffer_read_after_the_write_keeps_the_copy():
    """An element of the old buffer read after a write (the old buffer is returned as another
    loop var) must not see the write: that write copies."""
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [4, 3], name="x")
        ta = ng.TensorArray(F64, size=4).unstack(x)

        def body(i, ta, old):
            return i + 1, ta.write(i, ta.read(i) + 1.0), ta.stack()
        _, new, old = ng.while_loop(lambda i, ta, old: i < 4, body, [0, ta, x])
        new = new.stack()
    xv = _rows(4, 4)
    res = _run_three(g, [new, old], {x: xv})
    _assert_identical(res)
    np.testing.assert_allclose(res[0][0], xv + 1.0, rtol=1e-15)
    want_old = xv.copy()
    want_old[:3] += 1.0
    np.testing.assert_allclose(res[0][1], want_old, rtol=1e-15)
    assert _writes(_whiles(g)[0]) == (0, 1)


def test_an_element_written_twice_in_one_iteration():
    """Numgrad overwrites (the later write wins); the second write's buffer is the first's
    output, not a loop var, so it copies; the first writes in place."""
    g, x, out = _ta_loop(lambda i, ta: (i + 1, ta.write(i, ta.read(i) + 1.0)
                                        .write(i, ta.read(i) * 3.0)))
    xv = _rows(5, 5)
    res = _run_three(g, [out], {x: xv})
    _assert_identical(res)
    np.testing.assert_allclose(res[0][0], xv * 3.0, rtol=1e-15)
