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
    switches(FUNCTION_COMPILE_AFTER=3)
    steps = 12
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
