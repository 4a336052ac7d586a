"""Memory under a loop's gradient (numgrad/gradients/rules/control.py, issue 18 item 7): the
recording copy of a While records only the loop vars the backward iteration reads (attr
``history``), so a map_fn's or scan's (n, ...) accumulator is not copied at every iteration,
and the backward loop adds a gathered row's gradient into its row of the sum (in place in a
native loop) instead of adding a dense (n, ...) gradient: O(n), not O(n^2).

Each case checks values and gradients against finite differences and the same graph with
native loops off and on the numpy backend, and the recorded vars structurally (the recording
op's attr, ``loop_status``'s bytes per iteration, the emitted in-place writes).  Bodies share
rows of 3 float64 so the cases share kernels.
"""
import numpy as np
import pytest

import budget
from loop_cases import (decay, run_three as _run_three, sin_map_gradients, ta_writes as _writes,
                        tanh_rnn)
import numgrad as ng
from numgrad.control.native_loop import loop_status

pytestmark = pytest.mark.backend_independent

F64 = ng.float64


def _assert_same(results, rtol=1e-12):
    for other in results[1:]:
        for a, b in zip(results[0], other):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-13)


def _recording(graph):
    """The recording While ops of `graph` (attr history not False), by name."""
    return {op.name: op for op in graph.get_operations()
            if op.type == "While" and op.get_attr("history") is not False}


def _native_history(op):
    """loop_status facts of the native recording loops of While `op`."""
    return [f for kind, f in loop_status(op) if kind == "native" and f["history"]]


def _fd(graph, y, x, feed, eps=1e-6):
    """Central differences of scalar `y` w.r.t. fed `x`, on the numpy backend."""
    base = np.array(feed[x], dtype=np.float64)
    out = np.zeros_like(base)
    with ng.Session(graph=graph, backend="numpy") as s:
        for k in np.ndindex(base.shape):
            vals = []
            for d in (eps, -eps):
                v = base.copy()
                v[k] += d
                vals.append(s.run(y, {**feed, x: v}))
            out[k] = (vals[0] - vals[1]) / (2 * eps)
    return out


def _map_graph(n, lean=True):
    """(At n = 12, test_map_fn_threads.py's gradient graph: its loops compile once for both
    files.)"""
    return sin_map_gradients(n, lean)


def _map_feed(x, w, n):
    rng = np.random.default_rng(n)
    return {x: rng.normal(size=(n, 3)), w: rng.normal(size=3)}


# n = 1 repeats n = 12 (finite differences, in-place writes) on a loop of its own:
# NUMGRAD_SLOW=1 only; so does n = 0 (its own loops too): zero trips of a native recording
# loop are test_zero_iterations_record_nothing_and_pass_gradients_through's, a zero-row
# map_fn's native gradient test_tensor_array_in_place.py's n = 0 case
@pytest.mark.parametrize("n", [0, 1, 12] if budget.SLOW else [12])
def test_map_fn_gradient_records_only_its_counter(n):
    g, (x, w), loss, fetches = _map_graph(n)
    feed = _map_feed(x, w, n)
    res = _run_three(g, fetches, feed)
    _assert_same(res)
    rec, = _recording(g).values()
    assert rec.get_attr("history") == (0,)      # the counter; not the (n, 3) accumulator
    assert [t.shape.as_list() for t in rec.outputs[2:]] == [[None], []]
    facts, = _native_history(rec.graph.get_operation_by_name(rec.name))
    assert facts["history_bytes_per_iteration"] == 4 and facts["last_trips"] == n
    assert res[0][1].shape == (n, 3) and res[0][2].shape == (3,)
    if n:
        np.testing.assert_allclose(res[0][1], _fd(g, loss, x, feed), rtol=1e-6, atol=1e-8)
        np.testing.assert_allclose(res[0][2], _fd(g, loss, w, feed), rtol=1e-6, atol=1e-8)
        bwd = g.get_operation_by_name("gradients/map/while/While_grad/while_grad/While")
        # the accumulator's gradient (zeroing its row) and x's row sum: both in place
        assert _writes(bwd) == (2, 0)
    else:
        np.testing.assert_array_equal(res[0][2], np.zeros(3))


def test_the_switch_off_records_every_loop_var_and_gives_the_same_values():
    n = 12
    g, (x, w), _, fetches = _map_graph(n, lean=False)
    feed = _map_feed(x, w, n)
    res = _run_three(g, fetches, feed)
    _assert_same(res)
    lean_g, (lx, lw), _, lean_fetches = _map_graph(n)
    lean = _run_three(lean_g, lean_fetches, {lx: feed[x], lw: feed[w]})
    _assert_same([res[0], lean[0]])
    rec, = _recording(g).values()
    assert rec.get_attr("history") == (0, 1)
    facts, = _native_history(rec)
    assert facts["history_bytes_per_iteration"] == 4 + n * 3 * 8
    lines = ng.explain(fetches, feed).splitlines()
    assert any("history: 4 bytes per iteration (1 of its 2 loop vars" in ln
               for ln in ng.explain(lean_fetches, {lx: feed[x], lw: feed[w]}).splitlines())
    assert any(f"history: {4 + n * 24} bytes per iteration (2 of its 2" in ln for ln in lines)


def test_scan_records_its_state_not_its_accumulator():
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [5, 3], name="x")
        w = ng.placeholder(F64, [3], name="w")
        ys = ng.scan(lambda a, r: ng.sin(a * w) + r, x, initializer=ng.zeros([3], F64))
        loss = ng.reduce_sum(ys * ys)
        gx, gw = ng.gradients(loss, [x, w])
    feed = {x: np.random.default_rng(3).normal(size=(5, 3)), w: np.array([0.7, -1.1, 0.4])}
    res = _run_three(g, [loss, gx, gw], feed)
    _assert_same(res)
    rec, = _recording(g).values()
    assert rec.get_attr("n_vars") == 3 and rec.get_attr("history") == (0, 1)
    facts, = _native_history(rec)
    assert facts["history_bytes_per_iteration"] == 4 + 3 * 8
    # the backward loop runs natively too (test_native_loops.py's map_fn and scan case, cut:
    # here and in test_map_fn_gradient_records_only_its_counter both loops are native)
    bwd = g.get_operation_by_name("gradients/scan/while/While_grad/while_grad/While")
    assert [kind for kind, _ in loop_status(bwd)] == ["native"]
    np.testing.assert_allclose(res[0][1], _fd(g, loss, x, feed), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res[0][2], _fd(g, loss, w, feed), rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("linear", [True, False])
def test_foldl_records_its_state_only_where_the_gradient_reads_it(linear):
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [5, 3], name="x")
        w = ng.placeholder(F64, [3], name="w")
        fn = (lambda a, r: a + r * w) if linear else (lambda a, r: a * ng.sin(r * w) + r)
        s = ng.foldl(fn, x, initializer=ng.ones([3], F64))
        loss = ng.reduce_sum(s * s)
        gx, gw = ng.gradients(loss, [x, w])
    feed = {x: np.random.default_rng(4).normal(size=(5, 3)), w: np.array([0.7, -1.1, 0.4])}
    res = _run_three(g, [loss, gx, gw], feed)
    _assert_same(res)
    rec, = _recording(g).values()
    # a + r w: the gradient w.r.t. a is the incoming one, so a is not recorded
    assert rec.get_attr("history") == ((0,) if linear else (0, 1))
    np.testing.assert_allclose(res[0][1], _fd(g, loss, x, feed), rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(res[0][2], _fd(g, loss, w, feed), rtol=1e-6, atol=1e-8)


def test_tensor_array_accumulator_and_unread_counter_of_a_while_loop():
    """h_t = tanh(w h_{t-1} + x_t), every h_t written to a TensorArray; the counter t is read
    by the backward iteration (its reads and writes index by it), the array is not."""
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [4, 3], name="x")
        w = ng.placeholder(F64, [3], name="w")
        loss = ng.reduce_sum(tanh_rnn(x, w) ** 2)
        gx, gw = ng.gradients(loss, [x, w])
        # a loop whose counter only its cond reads: x <- x a + 0.1 sin x (k fed: the loop
        # of test_zero_iterations_record_nothing_and_pass_gradients_through, compiled once)
        z0 = ng.placeholder(F64, [3], name="z0")
        a = ng.placeholder(F64, [], name="a")
        k = ng.placeholder(ng.int32, [], name="k")
        z = decay(z0, a, k)
        zl = ng.reduce_sum(z * z)
        gz, ga = ng.gradients(zl, [z0, a])
    feed = {x: np.random.default_rng(5).normal(size=(4, 3)), w: np.array([0.5, -0.3, 0.9]),
            z0: np.array([0.3, -1.2, 2.0]), a: 0.9, k: 5}
    res = _run_three(g, [loss, gx, gw, zl, gz, ga], feed)
    _assert_same(res)
    recs = sorted(op.get_attr("history") for op in _recording(g).values())
    assert recs == [(0, 1), (1,)]               # (t, h) of the first; z only of the second
    for got, y, t in ((res[0][1], loss, x), (res[0][2], loss, w), (res[0][4], zl, z0),
                      (res[0][5], zl, a)):
        np.testing.assert_allclose(got, _fd(g, y, t, feed), rtol=1e-6, atol=1e-8)
    bytes_ = sorted(f["history_bytes_per_iteration"] for op in _recording(g).values()
                    for f in _native_history(op))
    assert bytes_ == [3 * 8, 4 + 3 * 8]


def test_hessians_through_map_fn_and_while_loop_match_finite_differences():
    n = 12          # the first-order loops are test_map_fn_gradient_records_only_its_counter's
    g, (x, w), loss, _ = _map_graph(n)
    with g.as_default():
        gw, = ng.gradients(loss, [w])
        hw, = ng.hessians(loss, [w])
        gsum = ng.reduce_sum(gw * ng.constant([1.0, -2.0, 0.5], F64))
        gxw, = ng.gradients(gsum, [x])      # mixed second derivatives, through the stacks
        # the decay loop of test_tensor_array_accumulator_and_unread_counter_of_a_while_loop
        # (its first-order loops compile once for both tests)
        z0 = ng.placeholder(F64, [3], name="z0")
        a = ng.placeholder(F64, [], name="a")
        k = ng.placeholder(ng.int32, [], name="k")
        z = decay(z0, a, k)
        zl = ng.reduce_sum(z * z)
        gz, _ = ng.gradients(zl, [z0, a])
        hz, = ng.hessians(zl, [z0])
    feed = {**_map_feed(x, w, n), z0: np.array([0.2, -0.4, 0.6]), a: 0.9, k: 3}
    res = _run_three(g, [hw, gxw, hz], feed)
    _assert_same(res, rtol=1e-10)
    for col in range(3):
        with g.as_default():
            pick = ng.reduce_sum(gw * ng.one_hot(col, 3, dtype=F64))
            pick_z = ng.reduce_sum(gz * ng.one_hot(col, 3, dtype=F64))
        np.testing.assert_allclose(res[0][0][col], _fd(g, pick, w, feed), rtol=1e-5, atol=1e-7)
        np.testing.assert_allclose(res[0][2][col], _fd(g, pick_z, z0, feed), rtol=1e-5,
                                   atol=1e-7)
    np.testing.assert_allclose(res[0][1], _fd(g, gsum, x, feed), rtol=1e-5, atol=1e-7)


def test_zero_iterations_record_nothing_and_pass_gradients_through():
    g = ng.Graph()
    with g.as_default():
        z0 = ng.placeholder(F64, [3], name="z0")
        a = ng.placeholder(F64, [], name="a")
        k = ng.placeholder(ng.int32, [], name="k")
        z = decay(z0, a, k)
        gz, ga = ng.gradients(ng.reduce_sum(z * z), [z0, a])
    zv = np.array([0.3, -1.2, 2.0])
    res = _run_three(g, [z, gz, ga], {z0: zv, a: 0.9, k: 0})
    _assert_same(res)
    np.testing.assert_array_equal(res[0][0], zv)
    np.testing.assert_array_equal(res[0][1], 2 * zv)
    assert res[0][2] == 0.0
    rec, = _recording(g).values()
    assert rec.get_attr("history") == (1,)
    facts, = _native_history(rec)
    assert facts["last_trips"] == 0
