"""Native while loops on the cpu backend (numgrad/control/native_loop.py, issue 18 item 6).

With NUMGRAD_FUNCTION_COMPILE_AFTER=0 every loop of a cpu Session tries its native form from
its first iteration.  Each case checks values and gradients (first and second order) against
the same graph with native loops off (the loop in Python, one plan call per iteration) and
against the numpy backend, and asserts through loop_status which loops ran natively.  Loop
bodies share a few small shapes so the suite compiles few distinct kernels.
"""
import numpy as np
import pytest

import numgrad as ng
from numgrad import config
from numgrad.control.native_loop import loop_report, loop_status
from loop_cases import decay_graph, matmul_loop, run_three as _run_three

pytestmark = pytest.mark.backend_independent

F64 = ng.float64


def _whiles(graph):
    return [op for op in graph.get_operations() if op.type == "While"]


def _assert_same(results, rtol=1e-12):
    first = results[0]
    for other in results[1:]:
        for a, b in zip(first, other):
            np.testing.assert_allclose(a, b, rtol=rtol, atol=1e-12)


def _native(op):
    return [facts for kind, facts in loop_status(op) if kind == "native"]


@pytest.mark.parametrize("trips", [0, 1, 7])
def test_values_and_gradients_match_python_loop_and_numpy(trips):
    g, (x0, a, n), fetches = decay_graph()
    feed = {x0: np.array([0.3, -1.2, 2.0]), a: 0.9, n: trips}
    res = _run_three(g, fetches, feed)
    _assert_same(res)
    if trips == 0:          # zero iterations pass x0 and its gradient through
        np.testing.assert_allclose(res[0][0], feed[x0])
        np.testing.assert_allclose(res[0][2], 2 * feed[x0])
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s:
            s.run(fetches, feed)
    whiles = _whiles(g)
    assert len(whiles) >= 4         # forward, its history copy, backward, backward's history
    for op in whiles:
        # the second-order loop carries gradients of the recorded history: not static shapes
        if op.get_attr("body_graph").compilable():
            assert _native(op), (op.name, loop_status(op))
        else:
            assert not loop_status(op)
            assert "not static" in loop_report([op])[0]
    assert sum(bool(_native(op)) for op in whiles) >= 4
    hist = [f for op in whiles for f in _native(op) if f["history"]]
    assert hist and all(f["last_trips"] is not None for f in hist)
    fwd_hist = next(f for op in whiles if op.get_attr("history") is not False
                    and "While_history" in op.name for f in _native(op))
    # O(n) per step: x, not the counter (which the backward iteration does not read)
    assert fwd_hist["history_bytes_per_iteration"] == 3 * 8


def test_gradient_matches_finite_differences():
    g, (x0, a, n), fetches = decay_graph()
    with g.as_default(), config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        x0v = np.array([0.3, -1.2, 2.0])
        with ng.Session(graph=g, backend="cpu").as_default():
            err = ng.test.compute_gradient_error(x0, [3], fetches[1], [], x_init_value=x0v,
                                                 extra_feed_dict={a: 0.9, n: 5})
    assert err < 1e-6


def test_backward_loop_compiles_once_for_every_trip_count():
    g, (x0, a, n), fetches = decay_graph()
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s:
            for trips in (2, 3, 6):
                s.run(fetches[2], {x0: np.ones(3), a: 0.5, n: trips})
    bwd = g.get_operation_by_name("gradients/while/While_grad/while_grad/While")
    natives = _native(bwd)
    assert len(natives) == 1 and natives[0]["calls"] == 3    # the history length is not keyed
    # its captures after the 3 loop vars: x's recorded stack first (the counter's is not)
    assert natives[0]["signature"][3][0] == (None, 3)


def test_data_dependent_termination_and_maximum_iterations():
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [], name="x")
        c = ng.constant(1.5, F64)
        i, y = ng.while_loop(lambda i, y: y <= 10.0, lambda i, y: (i + 1, y * c), [0, x])
        j, z = ng.while_loop(lambda i, y: y <= 10.0, lambda i, y: (i + 1, y * c), [0, x],
                             maximum_iterations=3)
        fetches = [i, y, j, z, ng.gradients(y, x)[0], ng.gradients(z, x)[0]]
    for xv in (2.0, 0.5, 20.0):
        res = _run_three(g, fetches, {x: xv})
        _assert_same(res)
        n_free = int(res[0][0])
        assert res[0][1] == pytest.approx(xv * 1.5 ** n_free)
        assert int(res[0][2]) == min(n_free, 3)
    assert all(_native(op) for op in _whiles(g))


def test_switch_to_native_in_the_middle_of_a_loop():
    """The first iterations run interpreted; the rest of that call natively, its history
    appended to the recorded one."""
    g, (x0, a, n), fetches = decay_graph()
    feed = {x0: np.array([0.3, -1.2, 2.0]), a: 0.9, n: 12}
    want = _run_three(g, fetches, feed)[2]
    g2, (x0, a, n), fetches = decay_graph()
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=5):
        with ng.Session(graph=g2, backend="cpu") as s:
            got = s.run(fetches, {x0: feed[list(feed)[0]], a: 0.9, n: 12})
    _assert_same([got, want])
    assert any(_native(op) for op in _whiles(g2))


class _FakeJob:
    """A compile job that reports itself running for its first `polls` checks."""

    def __init__(self, polls):
        self.polls, self.seconds, self.procs = polls, None, []

    def running(self):
        self.polls -= 1
        return self.polls > 0

    def wait(self, timeout=None):
        self.polls = 0
        return True


def test_loop_compiling_in_a_worker_runs_in_python_then_switches(monkeypatch):
    """While a worker compiles a loop's native function (here a fake job, done after a few
    checks), the loop runs in Python and switches to native in the middle of the call once
    it is done; one job per loop, none for the plan functions of its cond and body; the
    forward While runs its gradient's history copy's native loop (no function of its own)."""
    from numgrad import cache, compile_workers
    started = []

    def start(items, cache_dir, workers=None):
        started.append(items)
        return _FakeJob(4)
    xv = np.array([0.3, -1.2, 2.0])
    g, (x0, a, n), fetches = decay_graph()
    want = _run_three(g, fetches, {x0: xv, a: 0.9, n: 12})[2]
    g2, (x0, a, n), fetches = decay_graph()
    monkeypatch.setattr(compile_workers, "start", start)
    monkeypatch.setattr(cache, "compiled", lambda sources: set())
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=3, NUMGRAD_INTERPRET_CALLS=1,
                         NUMGRAD_BACKGROUND_COMPILE=True):
        with ng.Session(graph=g2, backend="cpu") as s:
            got = s.run(fetches, {x0: xv, a: 0.9, n: 12})
    _assert_same([got, want])
    assert started and all("def loop(" in items[-1][0] or "def loop_into(" in items[-1][0]
                           for items in started)
    hist = g2.get_operation_by_name("gradients/while/While_grad/While_history")
    facts, = _native(hist)
    # its switch in the middle of the loop, then the forward While's whole run
    assert facts["calls"] == 2 and hist.get_attr("body_graph").calls < 12
    fwd, = [op for op in _whiles(g2) if op.name == "while/While"]
    assert [f["history_copy"] for f in _native(fwd)] == [True]


def test_loop_vars_the_body_permutes_keep_their_values():
    """x, y, z <- y, z, roll(x): a loop var holds the roll of two iterations back, the array
    the iteration about to run writes its roll into (results are double-buffered), unless
    a permuted loop var is copied."""
    g = ng.Graph()
    with g.as_default():
        x0 = ng.placeholder(F64, [3], name="x0")
        a = ng.placeholder(F64, [], name="a")
        _, x, y, z = ng.while_loop(lambda i, x, y, z: i < 7,
                                   lambda i, x, y, z: (i + 1, y, z * a, ng.roll(x, 1, 0)),
                                   [0, x0, 2.0 * x0, 3.0 * x0])
        loss = ng.reduce_sum(x * y + z)
        gx, ga = ng.gradients(loss, [x0, a])
    xv = np.array([0.3, -1.2, 2.0])
    res = _run_three(g, [x, y, z, gx, ga], {x0: xv, a: 0.9})
    _assert_same(res)
    want = [xv, 2.0 * xv, 3.0 * xv]
    for _ in range(7):
        want = [want[1], want[2] * 0.9, np.roll(want[0], 1, 0)]
    for got, w in zip(res[0][:3], want):
        np.testing.assert_allclose(got, w, rtol=1e-12)
    assert all(_native(op) for op in _whiles(g) if op.get_attr("body_graph").compilable())


def test_cond_in_the_body_runs_natively_taking_one_branch():
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [3], name="x")
        w = ng.placeholder(F64, [], name="w")

        def body(i, v):
            v = ng.cond(ng.reduce_sum(v) > 0.0, lambda: v * w - 0.5,
                        lambda: ng.sin(v) + w * w)
            return i + 1, v

        _, y = ng.while_loop(lambda i, v: i < 6, body, [0, x])
        loss = ng.reduce_sum(y * y)
        gx, gw = ng.gradients(loss, [x, w])
        ggw, = ng.gradients(gw, [w])
    for xv in ([0.5, -2.0, 0.25], [2.0, 1.0, 0.5]):
        res = _run_three(g, [y, gx, gw, ggw], {x: np.array(xv), w: 0.8})
        _assert_same(res)
    fwd = g.get_operation_by_name("while/While")
    natives = _native(fwd)
    assert natives and natives[0]["branches"] == 2
    bwd = g.get_operation_by_name("gradients/while/While_grad/while_grad/While")
    assert _native(bwd)             # the backward body holds the cond's gradient, an If


def test_nested_loop_and_cond_in_the_body_run_natively():
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [3], name="x")

        def inner(v):
            return ng.while_loop(lambda k, v: k < 2, lambda k, v: (k + 1, v * 0.5 + 1.0),
                                 [0, v])[1]

        def body(i, v):
            v = ng.cond(ng.reduce_sum(v) > 0.0, lambda: v * 0.9, lambda: v + 0.1)
            return i + 1, inner(v)

        _, y = ng.while_loop(lambda i, v: i < 3, body, [0, x])
        dy, = ng.gradients(ng.reduce_sum(y * y), [x])
    res = _run_three(g, [y, dy], {x: np.array([0.5, -2.0, 0.25])})
    _assert_same(res)
    outer = g.get_operation_by_name("while/While")
    (kind, facts), = loop_status(outer)
    assert kind == "native" and facts["inner_loops"] == 1 and facts["branches"] == 2
    inner_op, = _whiles(outer.get_attr("body_graph"))
    assert _native(inner_op)
    # the backward body runs the inner loop's gradient (its recording copy, whose history
    # has a length known only at run time, and its backward loop): native too
    # (tests/test_nested_loop_gradients.py)
    bwd = g.get_operation_by_name("gradients/while/While_grad/while_grad/While")
    (kind, facts), = loop_status(bwd)
    assert kind == "native" and facts["inner_loops"] == 2, facts


def test_an_opaque_op_in_the_body_falls_back_and_says_why():
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [3, 1], name="x")
        y = matmul_loop(x)
        dy, = ng.gradients(ng.reduce_sum(y), [x])
    res = _run_three(g, [y, dy], {x: np.array([[0.5], [-2.0], [0.25]])})
    _assert_same(res)
    (kind, why), = loop_status(g.get_operation_by_name("while/While"))
    assert kind == "python" and "MatMul" in why


def test_switch_off_keeps_loops_in_python():
    # the forward loop alone runs (its cond and body compile into plan functions, which would
    # take it native with the switch on); the gradients' loops would only add plan functions
    g, (x0, a, n), fetches = decay_graph()
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0, NUMGRAD_NATIVE_LOOPS=False):
        with ng.Session(graph=g, backend="cpu") as s:
            s.run(fetches[0], {x0: np.ones(3), a: 0.5, n: 4})
        fwd = g.get_operation_by_name("while/While")
        assert fwd.get_attr("body_graph")._cpu_plan is not None     # it ran compiled bodies
        assert all(not loop_status(op) for op in _whiles(g))
        assert all("NUMGRAD_NATIVE_LOOPS=0" in ln for ln in loop_report(_whiles(g)))


def test_forward_loop_runs_once_per_run_with_its_gradient():
    """The While and the history copy its gradient made run one native loop per Session run:
    the second takes the first's results (inputs compared bitwise), and a new input runs it
    again."""
    g, (x0, a, n), fetches = decay_graph()
    whiles = {op.name: op for op in _whiles(g)}
    plain, hist = whiles["while/While"], whiles["gradients/while/While_grad/While_history"]
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s:
            for av in (0.5, 0.5, 0.7, 0.5):
                got = s.run(fetches[:4], {x0: np.ones(3), a: av, n: 6})
                with ng.Session(graph=g, backend="numpy") as ref:
                    _assert_same([got, ref.run(fetches[:4], {x0: np.ones(3), a: av, n: 6})])
    (kind, facts), = loop_status(hist)
    assert kind == "native" and facts["calls"] <= 5            # 4 runs (+1 for the first)
    own = [f for k, f in loop_status(plain) if k == "native" and not f["history_copy"]]
    assert sum(f["calls"] for f in own) <= 1
    assert [f["history_copy"] for k, f in loop_status(plain) if k == "native"].count(True) == 1


def test_explain_reports_the_loops():
    g, (x0, a, n), fetches = decay_graph()
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s:
            text = ng.explain(fetches[1:3], {x0: np.ones(3), a: 0.5, n: 3}, session=s)
            lines = loop_report([op for op in _whiles(g)
                                 if op.name in ("while/While",
                                                "gradients/while/While_grad/While_history",
                                                "gradients/while/While_grad/while_grad/While")])
    assert len(lines) == 3 and all(ln in text for ln in lines)
