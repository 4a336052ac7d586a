"""On the cpu backend, control-flow function graphs (loop bodies and conds, cond branches) run
with the NumPy interpreter for their first NUMGRAD_FUNCTION_COMPILE_AFTER calls and then as
compiled cpu plans (numgrad/control/func_graph.py, backends/cpu.py FunctionPlan).  The compiled
loop must give the interpreted loop's values and gradients."""
import numpy as np
import pytest

import numgrad as ng


def _while_ops(graph):
    return [op for op in graph.get_operations() if op.type == "While"]


def _oscillator(steps):
    """A damped oscillator by RK4 reading one observation per step; loss and d loss / d w."""
    w = ng.placeholder(ng.float64, [])
    obs = ng.placeholder(ng.float64, [steps])

    def f(x, v):
        return v, -w * w * x - 0.3 * w * v

    def body(i, x, v, sse):
        k1x, k1v = f(x, v)
        k2x, k2v = f(x + 0.05 * k1x, v + 0.05 * k1v)
        x = x + 0.1 * k2x
        v = v + 0.1 * k2v
        r = x - ng.gather(obs, i)
        return i + 1, x, v, sse + r * r
    one, zero = ng.constant(1.0, ng.float64), ng.constant(0.0, ng.float64)
    sse = ng.while_loop(lambda i, *s: i < steps, body, [0, one, zero, zero])[3]
    return w, obs, sse, ng.gradients(sse, w)[0]


def _reference(steps, wv, ov):
    x, v, sse = 1.0, 0.0, 0.0
    for i in range(steps):          # the same midpoint step in NumPy
        k1x, k1v = v, -wv * wv * x - 0.3 * wv * v
        x2, v2 = x + 0.05 * k1x, v + 0.05 * k1v
        x, v = x + 0.1 * v2, v + 0.1 * (-wv * wv * x2 - 0.3 * wv * v2)
        sse += (x - ov[i]) ** 2
    return sse


@pytest.mark.skipif(ng.backends.default_backend_name() != "cpu", reason="cpu backend only")
def test_loop_bodies_compile_after_their_first_calls(switches):
    # the loops in Python (native loops, tests/test_native_loops.py, would take them whole)
    switches(FUNCTION_COMPILE_AFTER=3, NATIVE_LOOPS=False)
    steps = 4           # the make_callable test's loops: compiled once for both
    w, obs, sse, gw = _oscillator(steps)
    ov = np.sin(np.arange(steps) * 0.3)
    with ng.Session() as sess:
        v1, g1 = sess.run([sse, gw], {w: 1.7, obs: ov})
        v2, g2 = sess.run([sse, gw], {w: 1.7, obs: ov})
        e = 1e-6
        fd = (sess.run(sse, {w: 1.7 + e, obs: ov}) - sess.run(sse, {w: 1.7 - e, obs: ov})) / (2 * e)
    np.testing.assert_allclose([v1, v2], _reference(steps, 1.7, ov), rtol=1e-12)
    np.testing.assert_allclose([g1, g2], fd, rtol=1e-6)
    loops = _while_ops(ng.get_default_graph())
    assert len(loops) == 3                  # the loop, its recording copy, the backward loop
    for op in loops:                        # every body ran past 3 calls: compiled
        body = op.get_attr("body_graph")
        assert body._cpu_plan is not None and body._cpu_plan._compiled, op.name


def test_numpy_backend_interprets_function_graphs(switches):
    switches(FUNCTION_COMPILE_AFTER=0)
    w, obs, sse, _ = _oscillator(5)
    with ng.Session(backend="numpy") as sess:
        sess.run(sse, {w: 1.0, obs: np.zeros(5)})
    body = _while_ops(ng.get_default_graph())[0].get_attr("body_graph")
    assert body._cpu_plan is None and body._plan is not None


@pytest.mark.skipif(ng.backends.default_backend_name() != "cpu", reason="cpu backend only")
def test_bodies_with_varying_shapes_stay_interpreted(switches):
    switches(FUNCTION_COMPILE_AFTER=0)
    x = ng.placeholder(ng.float64, [None])
    _, y = ng.while_loop(lambda i, y: i < 3, lambda i, y: (i + 1, ng.concat([y, y[:1]], 0)),
                         [0, x], shape_invariants=[ng.TensorShape([]), ng.TensorShape([None])])
    with ng.Session() as sess:
        np.testing.assert_array_equal(sess.run(y, {x: [1.0, 2.0]}), [1, 2, 1, 1, 1])
    body = _while_ops(ng.get_default_graph())[0].get_attr("body_graph")
    assert body._cpu_plan is None


def _fused(op, key="body_graph"):
    plan = op.get_attr(key)._cpu_plan
    return [bool(p.fused_call) for p in plan._compiled.values()]


@pytest.mark.skipif(ng.backends.default_backend_name() != "cpu", reason="cpu backend only")
def test_rolls_and_row_gathers_run_inside_the_plan_function(switches):
    """A body with axis-0 rolls (a periodic stencil) and a one-row gather compiles into one
    plan function (the rolls and the gather are not fused kernels); its values and gradient
    are the interpreter's; so does the backward body (the gather's gradient is a one-row
    segment sum).  (The loop in Python: native loops would not call the body's plan.)"""
    switches(FUNCTION_COMPILE_AFTER=2, NATIVE_LOOPS=False)
    x0 = ng.placeholder(ng.float64, [5, 2])
    forcing = ng.placeholder(ng.float64, [6, 2])

    def body(i, x):
        lap = ng.roll(x, 1, 0) + ng.roll(x, -2, 0) - 2.0 * x
        return i + 1, x + 0.1 * ng.tanh(lap) + 0.01 * ng.gather(forcing, i)
    _, x = ng.while_loop(lambda i, x: i < 6, body, [0, x0])
    loss = ng.reduce_sum(x * x)
    g, = ng.gradients(loss, [x0])
    rng = np.random.default_rng(4)
    xv, fv = rng.normal(size=(5, 2)), rng.normal(size=(6, 2))
    want = xv
    for i in range(6):
        lap = np.roll(want, 1, 0) + np.roll(want, -2, 0) - 2.0 * want
        want = want + 0.1 * np.tanh(lap) + 0.01 * fv[i]
    with ng.Session() as sess:
        got, gv = sess.run([x, g], {x0: xv, forcing: fv})
        np.testing.assert_allclose(got, want, rtol=1e-12)
        with ng.Session(backend="numpy") as ref:
            np.testing.assert_allclose(gv, ref.run(g, {x0: xv, forcing: fv}), rtol=1e-10)
    forward, history, backward = _while_ops(ng.get_default_graph())
    assert _fused(forward) == _fused(history) == _fused(backward) == [True]


@pytest.mark.skipif(ng.backends.default_backend_name() != "cpu", reason="cpu backend only")
def test_gather_out_of_range_in_a_compiled_body_raises_tfs_error(switches):
    # the loop in Python: the body's plan function raises (a native loop's gather raises in
    # test_loop_compile_cost.py and test_loops_in_plan.py)
    switches(FUNCTION_COMPILE_AFTER=0, NATIVE_LOOPS=False)
    table = ng.placeholder(ng.float64, [3])
    _, s = ng.while_loop(lambda i, s: i < 5, lambda i, s: (i + 1, s + ng.gather(table, i)),
                         [0, ng.constant(0.0, ng.float64)])
    with ng.Session() as sess:
        with pytest.raises(ng.errors.InvalidArgumentError, match="indices contain 3"):
            sess.run(s, {table: np.ones(3)})
    assert _fused(_while_ops(ng.get_default_graph())[0]) == [True]


@pytest.mark.skipif(ng.backends.default_backend_name() != "cpu", reason="cpu backend only")
def test_make_callable_hot_path_compiles_bodies_too(switches):
    """make_callable calls the plan for known feed shapes directly (not through CpuPlan): the
    While op itself must have its bodies run with cpu plans.  Each body is called 4 or 8 times
    per call: only the calls after the first (the hot path) take it past 10."""
    switches(FUNCTION_COMPILE_AFTER=10, NATIVE_LOOPS=False)      # see the first test
    w, obs, sse, gw = _oscillator(4)
    wv, ov = np.array(1.3), np.linspace(0, 1, 4)
    with ng.Session() as sess:
        fn = sess.make_callable([sse, gw], [w, obs])
        got = [fn(wv, ov) for _ in range(4)]
    for g in got[1:]:
        np.testing.assert_allclose(g, got[0], rtol=1e-12)
    np.testing.assert_allclose(got[0][0], _reference(4, 1.3, ov), rtol=1e-12)
    for op in _while_ops(ng.get_default_graph()):
        assert op.get_attr("body_graph")._cpu_plan is not None, op.name


@pytest.mark.skipif(ng.backends.default_backend_name() != "cpu", reason="cpu backend only")
def test_tensor_array_loops_and_map_fn_run_in_the_plan_function(switches):
    """TensorArray reads and fixed-size writes run in the plan function: a recurrence written
    into an array, and map_fn (whose accumulators are such writes), forward and backward.
    (The loops in Python; tests/test_native_loops.py runs such loops natively.)"""
    switches(FUNCTION_COMPILE_AFTER=1, NATIVE_LOOPS=False)
    xs = ng.placeholder(ng.float64, [5, 3])
    inputs = ng.TensorArray(ng.float64, size=5).unstack(xs)

    def body(t, h, out):
        h = ng.tanh(0.5 * h + inputs.read(t))
        return t + 1, h, out.write(t, h)
    _, _, out = ng.while_loop(lambda t, h, out: t < 5, body,
                              [0, ng.zeros([3], ng.float64), ng.TensorArray(ng.float64, size=5)])
    mapped = ng.map_fn(lambda r: ng.sin(r) * r, xs)
    loss = ng.reduce_sum(out.stack() * mapped)
    g, = ng.gradients(loss, [xs])
    xv = np.random.default_rng(6).normal(size=(5, 3))
    with ng.Session() as sess:
        got = sess.run([loss, g], {xs: xv})
    with ng.Session(backend="numpy") as ref:
        want = ref.run([loss, g], {xs: xv})
    np.testing.assert_allclose(got[0], want[0], rtol=1e-12)
    np.testing.assert_allclose(got[1], want[1], rtol=1e-10)
    assert all(_fused(op) == [True] for op in _while_ops(ng.get_default_graph()))


@pytest.mark.skipif(ng.backends.default_backend_name() != "cpu", reason="cpu backend only")
def test_tensor_array_write_out_of_range_in_a_compiled_body(switches):
    switches(FUNCTION_COMPILE_AFTER=0)
    x = ng.placeholder(ng.float64, [])
    ta = ng.TensorArray(ng.float64, size=3, element_shape=[])
    _, ta = ng.while_loop(lambda i, ta: i < 4,
                          lambda i, ta: (i + 1, ta.write(i, x * ng.cast(i, ng.float64))),
                          [0, ta])
    with ng.Session() as sess:
        with pytest.raises(ng.errors.InvalidArgumentError,
                           match="Trying to modify element 3 in a list with 3 elements."):
            sess.run(ta.stack(), {x: 2.0})
    assert _fused(_while_ops(ng.get_default_graph())[0]) == [True]
