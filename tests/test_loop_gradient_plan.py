"""The cpu plan of a graph holding a loop gradient (compiler/lower.py's run-time-sized values).

A gradient's recording copy of a loop outputs every iteration's loop vars: as many rows as
the loop ran, known only when it runs.  The cpu backend compiles the graph around it anyway
(the history is a single step's output that only loop ops read), and the forward loop and
its recording copy are one step of that plan (while_loop._while_lower).  Each case checks the
plan's structure (plan_checks, not explain text) and its values against the numpy backend,
native loops on and off, and finite differences.  Shapes are test_native_loops.py's.
"""
import numpy as np
import pytest
from loop_cases import decay, decay_inputs
from plan_checks import compiled_plans, plan_of

import numgrad as ng
from numgrad import config
from numgrad.backends.cpu import CompiledPlan
from numgrad.compiler.ir import RUNTIME
from numgrad.compiler.lower import Unsupported, lower_ops
from numgrad.backends.numpy import prune
from numgrad.control.native_loop import loop_status

pytestmark = pytest.mark.backend_independent

F64 = ng.float64
FEED_X0 = np.array([0.3, -1.2, 2.0])


def _decay(graph):
    """x <- x * a + 0.1 sin(x), n times (n fed: every trip count shares one compiled loop, and
    tests/test_loops_in_plan.py's), from x0; (x0, a, n, x, loss, [dloss/dx0, dloss/da])."""
    with graph.as_default():
        x0, a, n = decay_inputs()
        x = decay(x0, a, n)
        loss = ng.reduce_sum(x * x)
        return x0, a, n, x, loss, ng.gradients(loss, [x0, a])


def _history_op(graph):
    op, = [op for op in graph.get_operations()
           if op.type == "While" and op.get_attr("history") is not False]
    return op


@pytest.mark.parametrize("native", [True, False])
def test_the_graph_around_a_loop_gradient_is_one_compiled_plan(native):
    g = ng.Graph()
    x0, a, n, x, loss, grads = _decay(g)
    feed = {x0: FEED_X0, a: 0.9, n: 7}
    fetches = [x, loss] + grads
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0, NUMGRAD_NATIVE_LOOPS=native):
        with ng.Session(graph=g, backend="cpu") as s:
            plan = plan_of(fetches, feed, session=s)
            got = s.run(fetches, feed)
    # the forward loop is its recording copy's step: two loops run, not three
    assert plan.opaque == ["While", "While"], plan
    hist = plan.steps[0]
    # the recorded stack of x (the counter, which the backward iteration does not read, is
    # not recorded): rows known at run time, the loop var's shape after them
    assert hist.node.attrs["history"] == (1,)
    n = hist.node.attrs["n_vars"]
    assert hist.output_shapes[n:n + 2] == [(RUNTIME, 3), ()]
    assert len(plan.kernels) >= 1          # the loss and the gradient seed: a fused kernel
    with ng.Session(graph=g, backend="numpy") as ref:
        want = ref.run(fetches, feed)
    for u, v in zip(got, want):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_loop_gradient_plan_matches_finite_differences():
    g = ng.Graph()
    x0, a, n, x, loss, grads = _decay(g)
    with g.as_default(), config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu"):
            err = ng.test.compute_gradient_error(x0, [3], loss, [], x_init_value=FEED_X0,
                                                 extra_feed_dict={a: 0.9, n: 7})
    assert err < 1e-6


def test_zero_iterations_give_an_empty_history_and_pass_gradients_through():
    g = ng.Graph()
    x0, a, n, x, loss, grads = _decay(g)
    feed = {x0: FEED_X0, a: 0.9, n: 0}
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s:
            plan = plan_of([loss] + grads, feed, session=s)
            got = s.run([loss] + grads, feed)
    assert plan.opaque == ["While", "While"]
    np.testing.assert_allclose(got[1], 2 * FEED_X0, rtol=1e-15)
    assert got[2] == 0.0


def test_a_history_read_by_another_op_runs_the_interpreter():
    """Only loop ops may read a run-time-sized value: reduce_sum of the recorded stack is
    interpreted with NumPy for that signature, with the same values."""
    g = ng.Graph()
    x0, a, n, x, loss, grads = _decay(g)
    hop = _history_op(g)
    with g.as_default():
        total = ng.reduce_sum(hop.outputs[hop.get_attr("n_vars")])    # x's recorded stack
    feed = {x0: FEED_X0, a: 0.9, n: 5}
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s:
            got = s.run([total] + grads, feed)
            assert not any(isinstance(cp, CompiledPlan) for cp in compiled_plans(s))
    with ng.Session(graph=g, backend="numpy") as ref:
        want = ref.run([total] + grads, feed)
    for u, v in zip(got, want):
        np.testing.assert_allclose(u, v, rtol=1e-12)


def test_lowering_gives_run_time_dims_only_where_the_backend_asks():
    g = ng.Graph()
    x0, a, n, x, loss, grads = _decay(g)
    feeds = [x0, a, n]
    sig = [((3,), np.dtype(np.float64)), ((), np.dtype(np.float64)), ((), np.dtype(np.int32))]
    ops = prune(grads, [], feeds)
    with pytest.raises(Unsupported, match="data-dependent shape"):
        lower_ops(ops, grads, feeds, sig)
    L, fetch_values, _ = lower_ops(ops, grads, feeds, sig, runtime_sized=True)
    runtime = [v for v in L.values if v.runtime_sized]
    assert runtime and all(v.node.type == "While" and v.size == 0 for v in runtime)
    assert not any(v.runtime_sized for v in fetch_values)


def test_native_history_of_a_matrix_loop_var():
    """The native loop records a 2-D loop var element by element (emit_loop._record_lines)."""
    g = ng.Graph()
    with g.as_default():
        x0 = ng.placeholder(F64, [3, 1], name="x0")
        a = ng.placeholder(F64, [], name="a")
        _, x = ng.while_loop(lambda i, x: i < 6, lambda i, x: (i + 1, x * a + 0.1 * ng.sin(x)),
                             [ng.constant(0), x0])
        loss = ng.reduce_sum(x * x)
        grads = ng.gradients(loss, [x0, a])
    feed = {x0: FEED_X0.reshape(3, 1), a: 0.9}
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s:
            got = s.run([loss] + grads, feed)
    hist, = [f for kind, f in loop_status(_history_op(g)) if kind == "native"]
    assert hist["history"] and hist["last_trips"] == 6
    with ng.Session(graph=g, backend="numpy") as ref:
        want = ref.run([loss] + grads, feed)
    for u, v in zip(got, want):
        np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12)


def test_a_loop_with_state_and_its_recording_copy_stay_two_steps():
    """A body that draws random numbers runs in both loops, as the interpreter runs it (the
    recording copy redraws the forward loop's numbers): no merged step."""
    g = ng.Graph()
    with g.as_default():
        ng.set_random_seed(2)
        x0 = ng.placeholder(F64, [3], name="x0")
        y = ng.while_loop(lambda i, s: i < 3,
                          lambda i, s: (i + 1, s + ng.nn.dropout(x0, rate=0.5)),
                          [0, ng.zeros([3], F64)])[1]
        gx, = ng.gradients(ng.reduce_sum(y), x0)
    feed = {x0: FEED_X0}
    with ng.Session(graph=g, backend="cpu") as s:
        plan = plan_of([y, gx], feed, session=s)
        yv, gv = s.run([y, gx], feed)
    assert plan.opaque == ["While"] * 3, plan
    np.testing.assert_allclose(yv, FEED_X0 * gv, rtol=1e-12)     # y is linear in x0
