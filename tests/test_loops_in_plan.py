"""Native loops called from inside a cpu plan's plan function (NUMGRAD_LOOPS_IN_PLAN).

A plan whose steps are fused kernels and While steps with native loops (W7: the forward
loop recording its history, the loss kernel, the backward loop) becomes one compiled plan
function once every loop's native function is loaded (control/native_loop.py plan_call);
until then, and for a loop that cannot run natively, the steps run as before, the While op
called from Python.  Each case checks the plan's own fields (fused_call, the loop's counts)
and the values against the loops called from Python, loops in Python and the numpy backend.
Shapes are test_native_loops.py's.
"""
import numpy as np
import pytest
from loop_cases import decay_graph, gather_sum, matmul_loop
from plan_checks import compiled_plans

import numgrad as ng
from numgrad import config
from numgrad.control.native_loop import loop_status
from numgrad.errors import InvalidArgumentError

pytestmark = pytest.mark.backend_independent

F64 = ng.float64
X0 = np.array([0.3, -1.2, 2.0])
# every plan compiles on its first call and tries its plan function from then on; the loops
# go native on their first iteration; nothing compiles in a worker
AT_ONCE = dict(NUMGRAD_INTERPRET_CALLS=0, NUMGRAD_FUSED_CALL_AFTER=0,
               NUMGRAD_FUNCTION_COMPILE_AFTER=0, NUMGRAD_BACKGROUND_COMPILE=False)


def _main_plan(sess):
    """The session's compiled plan that holds While steps (not a loop body's plan)."""
    plans = [cp for cp in compiled_plans(sess)
             if any(st.kind == "single" and st.node.type == "While" for st in cp.steps)]
    assert len(plans) == 1, plans
    return plans[0]


def _calls(graph, what="calls"):
    """Per While op of `graph`, the calls of its own native loops (0 if none; a While whose
    gradient's recording copy runs for it reports that loop too, not counted here); with
    `what="plan_calls"` those made by plan functions."""
    out = []
    for op in graph.get_operations():
        if op.type == "While":
            facts = [f for kind, f in loop_status(op) if kind == "native"
                     and not f["history_copy"]]
            out.append(sum(f[what] for f in facts))
    return out


def _run(graph, fetches, feed, calls, **switches):
    """The results of `calls` runs in one cpu Session (the last run's), and that session's
    plan holding the loops."""
    with config.override(**{**AT_ONCE, **switches}):
        with ng.Session(graph=graph, backend="cpu") as s:
            for _ in range(calls):
                got = s.run(fetches, feed)
            return got, _main_plan(s)


@pytest.mark.parametrize("trips", [0, 1, 7])
def test_a_loop_gradient_plan_becomes_one_plan_function(trips):
    g, (x0, a, n), fetches = decay_graph(second_order=False)
    feed = {x0: X0, a: 0.9, n: trips}
    # call 1: the loops are not native yet, the steps run (the While ops go native);
    # calls 2 and 3: one plan function calling both native loops
    got, cp = _run(g, fetches, feed, 3)
    assert cp.fused_call, "the plan has no plan function"
    assert cp.fast is not None                  # make_callable's hot path takes it
    # a new session's plan finds the loops native already: every call is its plan function
    before, before_plan = _calls(g), _calls(g, "plan_calls")
    with config.override(**AT_ONCE), ng.Session(graph=g, backend="cpu") as s:
        for _ in range(3):
            s.run(fetches, feed)
        assert _main_plan(s).fused_call
    assert [c - b for c, b in zip(_calls(g), before)] == [0, 3, 3]
    assert [c - b for c, b in zip(_calls(g, "plan_calls"), before_plan)] == [0, 3, 3]
    assert "of them from a plan function" in ng.explain(fetches, feed)
    # the same native loops called from Python: the same bits
    from_python, cp_off = _run(g, fetches, feed, 3, NUMGRAD_LOOPS_IN_PLAN=False)
    assert cp_off.fused_call is False
    for u, v in zip(got, from_python):
        np.testing.assert_array_equal(u, v)
    python, _ = _run(g, fetches, feed, 1, NUMGRAD_NATIVE_LOOPS=False)
    with ng.Session(graph=g, backend="numpy") as ref:
        want = ref.run(fetches, feed)
    for u, v, w in zip(got, python, want):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-12)


def test_the_history_buffers_follow_the_trip_count_inside_the_plan_function():
    g, (x0, a, n), fetches = decay_graph(second_order=False)
    with config.override(**AT_ONCE), ng.Session(graph=g, backend="cpu") as s:
        fn = s.make_callable(fetches, [x0, a, n])
        for trips in (7, 7, 7, 40, 3, 0, 7):     # the buffer sized by the last call, doubled
            got = fn(X0, 0.9, trips)
            with ng.Session(graph=g, backend="numpy") as ref:
                want = ref.run(fetches, {x0: X0, a: 0.9, n: trips})
            for u, w in zip(got, want):
                np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-12)
            hist, = [f for op in g.get_operations() if op.type == "While"
                     for kind, f in loop_status(op)
                     if kind == "native" and f["history"] and not f["history_copy"]]
            assert hist["last_trips"] == trips
        assert _main_plan(s).fused_call


def test_a_loop_that_is_not_native_keeps_the_steps():
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [3, 1], name="x")
        y = matmul_loop(x)
        loss = ng.reduce_sum(y * y)
        dy, = ng.gradients(loss, [x])
    feed = {x: np.array([[0.5], [-2.0], [0.25]])}
    got, cp = _run(g, [loss, dy], feed, 3)
    assert cp.fused_call is False               # a matmul in the body: the loop is in Python
    assert all(kind == "python" for op in g.get_operations() if op.type == "While"
               for kind, _ in loop_status(op))
    with ng.Session(graph=g, backend="numpy") as ref:
        want = ref.run([loss, dy], feed)
    for u, w in zip(got, want):
        np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-12)


def test_first_calls_interpret_then_the_loop_goes_native_then_the_plan_function():
    """The defaults' order, scaled down: the plan interprets its first call, the loop body
    its first 10 iterations (the loop switches to native mid-call), then the plan function
    takes the loops in."""
    g, (x0, a, n), fetches = decay_graph(second_order=False)
    feed = {x0: X0, a: 0.9, n: 7}
    with ng.Session(graph=g, backend="numpy") as ref:
        want = ref.run(fetches, feed)
    with config.override(NUMGRAD_INTERPRET_CALLS=1, NUMGRAD_FUSED_CALL_AFTER=1,
                         NUMGRAD_FUNCTION_COMPILE_AFTER=10, NUMGRAD_BACKGROUND_COMPILE=False):
        with ng.Session(graph=g, backend="cpu") as s:
            seen = []
            for _ in range(5):
                got = s.run(fetches, feed)
                for u, w in zip(got, want):
                    np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-12)
                cp = _main_plan(s)
                seen.append((bool(cp.fused_call), sum(_calls(g)), sum(_calls(g, "plan_calls"))))
    # the first run: interpreted, its recording loop going native in the middle (the body's
    # 10th iteration); then the loops called from the steps, then from the plan function
    assert seen[0] == (False, 1, 0), seen
    assert seen[-1][0] and seen[-1][2] > 0 and seen[-1][1] > seen[-2][1], seen


def test_an_index_out_of_range_in_a_loop_of_the_plan_function_raises_tf_error():
    g = ng.Graph()
    with g.as_default():
        table = ng.placeholder(F64, [3, 2], name="table")
        n = ng.placeholder(ng.int32, [], name="n")
        acc = gather_sum(table, n)
        out = acc * 2.0
    feed = {table: np.arange(6.0).reshape(3, 2)}
    with config.override(**AT_ONCE), ng.Session(graph=g, backend="cpu") as s:
        for _ in range(3):
            np.testing.assert_allclose(s.run(out, {**feed, n: 3}), [12.0, 18.0])
        assert _main_plan(s).fused_call
        with pytest.raises(InvalidArgumentError, match="GatherV2|indices"):
            s.run(out, {**feed, n: 4})
        np.testing.assert_allclose(s.run(out, {**feed, n: 2}), [4.0, 8.0])
        # make_callable's hot path (the plan function called with no Python checks) too
        fn = s.make_callable(out, [table, n])
        three, four = np.array(3, np.int32), np.array(4, np.int32)
        for _ in range(2):
            np.testing.assert_allclose(fn(feed[table], three), [12.0, 18.0])
        with pytest.raises(InvalidArgumentError, match="GatherV2|indices"):
            fn(feed[table], four)
        np.testing.assert_allclose(fn(feed[table], three), [12.0, 18.0])


def test_switch_off_calls_the_loops_from_python():
    g, (x0, a, n), fetches = decay_graph(second_order=False)
    feed = {x0: X0, a: 0.9, n: 7}
    _, cp = _run(g, fetches, feed, 3, NUMGRAD_LOOPS_IN_PLAN=False)
    assert cp.fused_call is False
    assert _calls(g) == [0, 3, 3] and _calls(g, "plan_calls") == [0, 0, 0]


def test_a_map_fn_with_rows_for_threads_stays_a_call_from_python(two_threads):
    """Its ranges run on threads from the While op's own call; with threads off for map_fn
    it joins the plan function."""
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [12, 3], name="x")
        y = ng.map_fn(lambda r: ng.sin(r) * ng.exp(-r * r), x) * 2.0
    xv = np.random.default_rng(0).normal(size=(12, 3))
    want = np.sin(xv) * np.exp(-xv * xv) * 2.0
    loop, = [op for op in g.get_operations() if op.type == "While"]
    threaded, cp = _run(g, y, {x: xv}, 3, NUMGRAD_MAP_FN_THREAD_ROWS=4)
    assert cp.fused_call is False
    assert [f["threads"] for kind, f in loop_status(loop) if kind == "native"] == [2]
    serial, cp = _run(g, y, {x: xv}, 3, NUMGRAD_MAP_FN_THREAD_ROWS=0)
    assert cp.fused_call
    assert np.array_equal(threaded, serial)
    np.testing.assert_allclose(serial, want, rtol=1e-13, atol=1e-15)


def test_maximum_iterations_inside_the_plan_function():
    g = ng.Graph()
    with g.as_default():
        x0 = ng.placeholder(F64, [3], name="x0")
        m = ng.placeholder(ng.int32, [], name="m")
        _, x = ng.while_loop(lambda i, x: i < 7, lambda i, x: (i + 1, x * 0.9 + 0.1 * ng.sin(x)),
                             [ng.constant(0), x0], maximum_iterations=m)
        loss = ng.reduce_sum(x * x)
        gx, = ng.gradients(loss, [x0])
    with config.override(**AT_ONCE), ng.Session(graph=g, backend="cpu") as s:
        for cap in (3, 3, 3, 9, 0):         # the cut-off, then the cond, then none at all
            got = s.run([loss, gx], {x0: X0, m: cap})
            with ng.Session(graph=g, backend="numpy") as ref:
                want = ref.run([loss, gx], {x0: X0, m: cap})
            for u, w in zip(got, want):
                np.testing.assert_allclose(u, w, rtol=1e-12, atol=1e-12)
        assert _main_plan(s).fused_call
