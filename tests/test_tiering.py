"""Tiered execution in the cpu backend: a small plan's first calls run the NumPy interpreter,
later ones compiled code (NUMGRAD_INTERPRET_CALLS).  The rest of the suite compiles at once
(conftest.py), so this module is where the interpreted first calls are tested."""
import os
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng
from numgrad import config
from numgrad.backends import cpu
from numgrad.compiler.layout import PARALLEL_MIN
from numgrad.errors import InvalidArgumentError

from plan_checks import describe

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _compiled_plans(sess):
    return [cp for p in sess._plans.values() for cp in p._compiled.values()
            if isinstance(cp, cpu.CompiledPlan)]


def _kernels_compiled(cp):
    return any(getattr(r, "compiled", False) for r in cp.runners)


def _small_graph(n=16):
    a = ng.placeholder(ng.float64, [n], name="a")
    b = ng.placeholder(ng.float64, [n], name="b")
    loss = ng.reduce_sum(ng.tanh(a * b + 1.0) ** 2 + ng.exp(-a * a) * ng.sin(b))
    return a, b, loss, ng.gradients(loss, [a, b])


def _finite_difference(f, x, eps=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)
    return g


@pytest.fixture
def tiers(switches):
    """Three interpreted calls, then the plan function (as with the defaults, 100 and 100),
    compiled on the call that needs it (tests/test_background_compile.py has it compiled by
    a worker process meanwhile, as the defaults do)."""
    switches(INTERPRET_CALLS=3, FUSED_CALL_AFTER=3, BACKGROUND_COMPILE=False)


def test_small_plan_interprets_its_first_calls_then_compiles(tiers, rng):
    a, b, loss, grads = _small_graph()
    va, vb = rng.standard_normal(16), rng.standard_normal(16)
    sess = ng.Session(backend="cpu")
    results = []
    for call in range(1, 6):
        results.append(sess.run([loss] + grads, {a: va, b: vb}))
        cp, = _compiled_plans(sess)
        assert cp.interpret_calls == 3
        if call <= 3:
            assert not _kernels_compiled(cp) and not cp.fused_call, call
        else:
            assert cp.fused_call, call          # compiled straight into the plan function
    ref = ng.Session(backend="numpy").run([loss] + grads, {a: va, b: vb})
    for out in results:
        for o, r in zip(out, ref):
            assert np.asarray(o).dtype == np.asarray(r).dtype and np.shape(o) == np.shape(r)
            np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-13)
    # and the gradient is right, not just equal across tiers
    f = ng.Session(backend="numpy")
    fd = _finite_difference(lambda x: f.run(loss, {a: x, b: vb}), va)
    np.testing.assert_allclose(results[0][1], fd, rtol=1e-6, atol=1e-8)


def test_interpreted_then_step_kernels_when_no_plan_function(tiers, rng):
    # A matmul is an opaque step: no one-dispatch plan function, so after the interpreted
    # calls the step kernels compile.
    x = ng.placeholder(ng.float32, [4, 5])
    w = ng.placeholder(ng.float32, [5, 3])
    loss = ng.reduce_sum(ng.tanh(ng.matmul(x, w)))
    gw, = ng.gradients(loss, [w])
    vx = rng.standard_normal((4, 5)).astype(np.float32)
    vw = rng.standard_normal((5, 3)).astype(np.float32)
    sess = ng.Session(backend="cpu")
    outs = [sess.run([loss, gw], {x: vx, w: vw}) for _ in range(5)]
    cp, = _compiled_plans(sess)
    assert cp.calls >= 4 and not cp.fused_call and _kernels_compiled(cp)
    ref = ng.Session(backend="numpy").run([loss, gw], {x: vx, w: vw})
    for out in outs:
        assert out[0].dtype == np.float32 and out[1].dtype == np.float32
        np.testing.assert_allclose(out[0], ref[0], rtol=1e-5)
        np.testing.assert_allclose(out[1], ref[1], rtol=1e-5, atol=1e-6)


def test_big_plan_compiles_on_its_first_call(tiers, rng):
    n = PARALLEL_MIN
    x = ng.placeholder(ng.float64, [n])
    loss = ng.reduce_sum(ng.sin(x) * x)
    g, = ng.gradients(loss, [x])
    v = rng.standard_normal(n)
    sess = ng.Session(backend="cpu")
    out = sess.run([loss, g], {x: v})
    cp, = _compiled_plans(sess)
    assert cp.interpret_calls == 0 and _kernels_compiled(cp)
    np.testing.assert_allclose(out[1], np.cos(v) * v + np.sin(v), rtol=1e-12)


def test_make_callable_across_tiers(tiers, rng):
    a, b, loss, grads = _small_graph()
    sess = ng.Session(backend="cpu")
    fn = sess.make_callable([loss] + grads, [a, b])
    va, vb = rng.standard_normal(16), rng.standard_normal(16)
    ref = ng.Session(backend="numpy").run([loss] + grads, {a: va, b: vb})
    for call in range(8):
        out = fn(va, vb)
        assert type(out[0]) is np.float64
        for o, r in zip(out, ref):
            np.testing.assert_allclose(o, r, rtol=1e-12, atol=1e-13)
        out[1][:] = 0.0         # the caller owns its results, in every tier
    # a new feed shape is a new plan, with its own interpreted calls
    vc = rng.standard_normal(16)
    np.testing.assert_allclose(fn(vc, vb)[1], ng.Session(backend="numpy").run(
        grads[0], {a: vc, b: vb}), rtol=1e-12, atol=1e-13)


def test_errors_are_the_same_in_both_tiers(tiers):
    x = ng.placeholder(ng.float64, [3])
    y = ng.check_numerics(ng.log(x), "log of x")
    sess = ng.Session(backend="cpu")
    for call in range(5):
        np.testing.assert_allclose(sess.run(y, {x: np.ones(3)}), 0.0)
    cp, = _compiled_plans(sess)
    assert cp.calls > cp.interpret_calls
    ng.reset_default_graph()
    x = ng.placeholder(ng.float64, [3])
    y = ng.check_numerics(ng.log(x), "log of x")
    sess = ng.Session(backend="cpu")
    messages = []
    for call in range(5):                   # calls 1-3 interpreted, 4-5 compiled
        with pytest.raises(InvalidArgumentError, match="log of x") as e:
            sess.run(y, {x: np.array([1.0, -1.0, 2.0])})
        messages.append(str(e.value))
    cp, = _compiled_plans(sess)
    assert cp.calls > cp.interpret_calls and _kernels_compiled(cp)
    assert len(set(messages)) == 1 and "NaN" in messages[0]


def test_plan_summary_says_which_tier(tiers):
    a, b, loss, grads = _small_graph()
    sess = ng.Session(backend="cpu")
    sess.run(loss, {a: np.ones(16), b: np.ones(16)})
    cp, = _compiled_plans(sess)
    plan = describe(cp)
    assert plan.interpret_calls == 3 and plan.calls == 1, plan     # the first of 3 interpreted
    # no kernel compiled, nor even loaded
    assert plan.kernels and all(not k.compiled and k.cache_hits is None
                                for k in plan.kernels), plan
    # and the summary (this test's subject) says so
    text = cp.summary()
    assert "first 3 calls run the NumPy interpreter (1 so far)" in text
    assert "not compiled yet" in text


def test_default_interprets_and_env_turns_it_off(tmp_path, capsys):
    code = ("import numpy as np, numgrad as ng\n"
            "from numgrad.backends import cpu\n"
            "a = ng.placeholder(ng.float64, [8])\n"
            "loss = ng.reduce_sum(ng.exp(a))\n"
            "s = ng.Session(backend='cpu')\n"
            "s.run([loss, ng.gradients(loss, a)[0]], {a: np.zeros(8)})\n"
            "cp, = [c for p in s._plans.values() for c in p._compiled.values()]\n"
            "print(cpu.INTERPRET_CALLS, cp.interpret_calls,"
            " any(getattr(r, 'compiled', False) for r in cp.runners))\n")
    env = {k: v for k, v in os.environ.items() if k != "NUMGRAD_INTERPRET_CALLS"}
    env["NUMGRAD_CACHE_DIR"] = config.get("NUMGRAD_CACHE_DIR") or str(tmp_path)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["100", "100", "False"]
    # The environment turns it off: this process is one where it did, as the suite sets
    # NUMGRAD_INTERPRET_CALLS (to 0, unless it was set already) before numgrad is imported
    # (tests/conftest.py), so the same code runs here instead of in a second process.
    calls = config.get("NUMGRAD_INTERPRET_CALLS")
    capsys.readouterr()
    exec(code, {})
    assert capsys.readouterr().out.split() == [str(calls), str(calls), str(calls == 0)]
