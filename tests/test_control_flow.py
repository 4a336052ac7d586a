"""Control flow with gradients (issue 18): ng.cond, ng.case, ng.while_loop, map_fn/scan/fold.

Values and gradients are checked against unrolled Python loops of the same ops, against
finite differences (second derivatives: finite differences of the gradient), and, where
TensorFlow is installed, against tf.compat.v1.  Run plain (cpu backend) and with
NUMGRAD_BACKEND=numpy.
"""
import os

import numpy as np
import pytest

import numgrad as ng

from plan_checks import check_plan

F64 = ng.float64


def _run(fetches, feed=None, backend=None):
    with ng.Session(backend=backend) as s:
        return s.run(fetches, feed)


def _fd(y, x, feed, eps=1e-6):
    """Central finite differences of scalar-summed y w.r.t. placeholder x at feed[x], from the
    NumPy reference backend (whatever the backend under test: it compiles only what a test
    checks)."""
    x0 = np.array(feed[x], dtype=np.float64)
    out = np.zeros_like(x0)
    with ng.Session(backend="numpy") as s:
        for idx in np.ndindex(*x0.shape):
            vals = []
            for sgn in (1, -1):
                xv = x0.copy()
                xv[idx] += sgn * eps
                vals.append(np.sum(s.run(y, {**feed, x: xv})))
            out[idx] = (vals[0] - vals[1]) / (2 * eps)
    return out


# --- cond ----------------------------------------------------------------------------------
def _xyz():
    return (ng.placeholder(F64, [], name="x"), ng.placeholder(F64, [], name="y"),
            ng.placeholder(F64, [], name="z"))


def test_cond_values_and_tf1_gradients():
    x, y, z = _xyz()
    xi = ng.placeholder(ng.int32, [])
    c = ng.cond(x > 0, lambda: x * y, lambda: ng.sin(z))
    gs = ng.gradients(c, [x, y, z, xi])
    assert gs[3] is None                       # used by neither branch
    assert ng.gradients(c, xi, unconnected_gradients="zero")[0] is not None
    v = _run([c] + gs[:3], {x: 2., y: 3., z: 1.})
    np.testing.assert_allclose(v, [6., 3., 2., 0.])       # z: only the untaken branch: zeros
    v = _run([c] + gs[:3], {x: -2., y: 3., z: 1.})
    np.testing.assert_allclose(v, [np.sin(1.), 0., 0., np.cos(1.)])
    # the predicate gets no gradient
    p = ng.placeholder(ng.bool_, [])
    assert ng.gradients(ng.cond(p, lambda: x, lambda: y), [p])[0] is None


def test_cond_second_derivatives_match_finite_differences():
    x, y, z = _xyz()
    c = ng.cond(x > 0, lambda: x * y * y + ng.exp(x * y), lambda: ng.sin(z * y))
    gy, = ng.gradients(c, y)
    g2 = ng.gradients(gy, [x, y, z])
    for feed in ({x: 0.7, y: 0.3, z: 1.1}, {x: -0.7, y: 0.3, z: 1.1}):
        got = _run(g2, feed)
        for t, g in zip((x, y, z), got):
            np.testing.assert_allclose(g, _fd(gy, t, feed), rtol=1e-5, atol=1e-7)


def test_cond_nested_structures_and_singletons():
    x, y, _ = _xyz()
    d = ng.cond(x > 0, lambda: {"a": x, "b": (x, 2 * x)}, lambda: {"a": y, "b": (y, 3 * y)})
    assert set(d) == {"a", "b"} and isinstance(d["b"], tuple)
    np.testing.assert_allclose(_run([d["a"], d["b"][1]], {x: -1., y: 2.}), [2., 6.])
    one = ng.cond(x > 0, lambda: [x], lambda: [y])           # TF 1: unpacked
    assert isinstance(one, ng.Tensor)
    strict = ng.cond(x > 0, lambda: [x], lambda: [y], strict=True)
    assert isinstance(strict, list) and len(strict) == 1
    # outer tensors returned as they are, Python values, differing shapes
    c = ng.cond(x > 0, lambda: x, lambda: 5.0 * ng.ones([], F64))
    assert _run(c, {x: -1.}) == 5.0
    v = ng.cond(x > 0, lambda: ng.zeros([2], F64), lambda: ng.ones([3], F64))
    assert v.shape.as_list() == [None]
    assert _run(v, {x: -1.}).shape == (3,)
    k = ng.cond(x > 0, lambda: 1.0, lambda: 2.0, fn1=None)
    assert k.dtype == ng.float32 and _run(k, {x: 1.}) == 1.0


def test_cond_errors_have_tf_messages():
    x, y, _ = _xyz()
    xi = ng.placeholder(ng.int32, [])
    n_ops = len(ng.get_default_graph().get_operations())
    with pytest.raises(ValueError, match=r"Outputs of 'true_fn' and 'false_fn' must have the "
                       r"same type\(s\). Received float64 from 'true_fn' and int32 from 'false_fn'"):
        ng.cond(x > 0, lambda: x, lambda: xi)
    with pytest.raises(ValueError, match="The two structures don't have the same nested structure"):
        ng.cond(x > 0, lambda: (x, x), lambda: x)
    with pytest.raises(ValueError, match="The two structures don't have the same nested structure"):
        ng.cond(x > 0, lambda: (x, x), lambda: (x, x, x))
    with pytest.raises(TypeError, match="has type float64 that does not match expected type of bool"):
        ng.cond(x, lambda: x, lambda: y)
    pb = ng.placeholder(ng.bool_, [2])
    with pytest.raises(ValueError, match="Shape must be rank 0 but is rank 1"):
        ng.cond(pb, lambda: x, lambda: y)
    with pytest.raises(TypeError, match="pred must not be a Python bool"):
        ng.cond(True, lambda: x, lambda: y)
    with pytest.raises(TypeError, match=r"cond\(\): 'true_fn' argument required"):
        ng.cond(x > 0, None, lambda: x)
    with pytest.raises(TypeError, match="'true_fn' must be callable."):
        ng.cond(x > 0, 3, lambda: x)
    with pytest.raises(TypeError, match="'false_fn' must be callable."):
        ng.cond(x > 0, lambda: x, 3)
    with pytest.raises(TypeError, match="'true_fn' and 'fn1' may not be set simultaneously"):
        ng.cond(x > 0, lambda: x, lambda: x, fn1=lambda: x)
    with pytest.raises(ValueError, match="'true_fn' must have a return value."):
        ng.cond(x > 0, lambda: None, lambda: None)
    # failed conds leave no ops behind (besides the comparisons made outside)
    assert all(op.type in ("Greater", "Const", "Placeholder") for op in
               ng.get_default_graph().get_operations()[n_ops:])
    # an unknown-rank pred fed a vector fails at run time
    pu = ng.placeholder(ng.bool_, None)
    c = ng.cond(pu, lambda: x, lambda: y)
    with pytest.raises(ng.errors.InvalidArgumentError, match="must be a scalar|must be rank 0"):
        _run(c, {pu: [True, False], x: 1., y: 2.})


def test_nested_cond_and_case():
    x, y, z = _xyz()
    c = ng.cond(x > 0, lambda: ng.cond(y > 0, lambda: x * y, lambda: x - y),
                lambda: z * z)
    gs = ng.gradients(c, [x, y, z])
    for feed, want in (({x: 2., y: 3., z: 4.}, [3., 2., 0.]), ({x: 2., y: -3., z: 4.}, [1., -1., 0.]),
                       ({x: -2., y: 3., z: 4.}, [0., 0., 8.])):
        np.testing.assert_allclose(_run(gs, feed), want)
    r = ng.case([(x > 1, lambda: x), (x > 0, lambda: 2 * x)], default=lambda: 3 * x)
    assert [float(_run(r, {x: v})) for v in (2., 0.5, -1.)] == [2., 1., -3.]
    g, = ng.gradients(r, x)
    assert [float(_run(g, {x: v})) for v in (2., 0.5, -1.)] == [1., 2., 3.]
    r = ng.case({x > 0: lambda: x}, default=lambda: -x)
    assert float(_run(r, {x: -4.})) == 4.
    with pytest.raises(TypeError, match=r"fn for pred .* must be callable."):
        ng.case([(x > 0, 3)], default=lambda: x)
    with pytest.raises(TypeError, match="Each entry in 'pred_fn_pairs' must be a 2-tuple"):
        ng.case([x > 0], default=lambda: x)
    with pytest.raises(TypeError, match="pred must be Tensor of type bool"):
        ng.case([(x, lambda: x)], default=lambda: x)


def test_variables_inside_cond():
    x, _, _ = _xyz()
    v = ng.Variable(1.0, dtype=F64)
    a = ng.cond(x > 0, lambda: ng.assign(v, x), lambda: x)   # tests/test_control_state.py
    c = ng.cond(x > 0, lambda: v * x, lambda: x)
    g, = ng.gradients(c, v)
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        assert s.run([c, g], {x: 3.}) == [3., 3.]
        assert s.run(a, {x: 2.}) == 2. and s.run(v) == 2.


# --- while_loop ---------------------------------------------------------------------------
def _step(v, a):
    return ng.sin(v) * a + v


@pytest.mark.parametrize("n", [0, 1, 5])
def test_while_values_and_gradients_match_unrolled_loop(n):
    v0 = ng.placeholder(F64, [3])
    a = ng.placeholder(F64, [3])
    trips = ng.placeholder(ng.int32, [])    # fed: the three cases' loops compile alike
    i, v = ng.while_loop(lambda i, v: i < trips, lambda i, v: (i + 1, _step(v, a)), [0, v0])
    u = v0
    for _ in range(n):
        u = _step(u, a)
    loss = ng.reduce_sum(v * v)
    uloss = ng.reduce_sum(u * u)
    g = ng.gradients(loss, [v0, a])
    ug = ng.gradients(uloss, [v0, a])
    if n == 0:
        assert ug[1] is None
        ug[1] = ng.zeros([3], F64)
    feed = {v0: [0.3, -1.2, 2.0], a: [0.5, 1.5, -0.7], trips: n}
    got, want = _run([i, v] + g, feed), [n] + _run([u] + ug, feed)
    for p, q in zip(got, want):
        np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-14)
    for t, gv in zip((v0, a), got[2:]):
        np.testing.assert_allclose(gv, _fd(loss, t, feed), rtol=1e-6, atol=1e-8)


def test_while_second_derivatives_match_finite_differences():
    x, y, _ = _xyz()
    _, r = ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * y + ng.sin(v)), [0, x])
    gy, = ng.gradients(r, y)
    g2 = ng.gradients(gy, [x, y])
    feed = {x: 0.4, y: 1.3}
    for t, g in zip((x, y), _run(g2, feed)):
        np.testing.assert_allclose(g, _fd(gy, t, feed), rtol=1e-6)
    # the hessian through the loop
    h = ng.hessians(r, [x])[0]
    gx, = ng.gradients(r, x)
    np.testing.assert_allclose(_run(h, feed), _fd(gx, x, feed), rtol=1e-6)


def test_while_matches_tf_simple_powers():
    x, y, z = _xyz()
    _, r = ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * y), [0, x])
    g = ng.gradients(r, [x, y, z])
    assert g[2] is None
    gy = ng.gradients(r, y)[0]
    feed = {x: 2., y: 3.}
    np.testing.assert_allclose(_run([r, g[0], g[1]] + ng.gradients(gy, [x, y]), feed),
                               [54., 27., 54., 27., 36.])
    _, r0 = ng.while_loop(lambda i, v: i < 0, lambda i, v: (i + 1, v * y), [0, x])
    g0 = ng.gradients(r0, [x, y])
    np.testing.assert_allclose(_run(g0, feed), [1., 0.])     # zero iterations: passes through
    np.testing.assert_allclose(_run(r0, feed), 2.)
    _, rb = ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * y), [0, x],
                          back_prop=False)
    assert ng.gradients(rb, [x, y]) == [None, None]


def test_while_maximum_iterations_and_structures():
    x, y, _ = _xyz()
    i, r = ng.while_loop(lambda i, v: i < 10, lambda i, v: (i + 1, v * y), [0, x],
                         maximum_iterations=2)
    g = ng.gradients(r, [x, y])
    np.testing.assert_allclose(_run([i, r] + g, {x: 2., y: 3.}), [2, 18., 9., 12.])
    _, r1 = ng.while_loop(lambda i, v: i < 10, lambda i, v: (i + 1, v * y), [0, x],
                          maximum_iterations=ng.constant(1))
    np.testing.assert_allclose(_run([r1] + ng.gradients(r1, [x, y]), {x: 2., y: 3.}), [6., 3., 2.])
    loop = {"n": ng.constant(0), "acc": (x, ng.zeros([2], F64))}
    out = ng.while_loop(lambda s: s["n"] < 3,
                        lambda s: {"n": s["n"] + 1,
                                   "acc": (s["acc"][0] * y, s["acc"][1] + s["acc"][0])},
                        [loop])
    assert isinstance(out, dict) and isinstance(out["acc"], tuple)
    np.testing.assert_allclose(_run(out["acc"][1], {x: 1., y: 2.}), [7., 7.])
    g, = ng.gradients(out["acc"][1], y)
    np.testing.assert_allclose(_run(g, {x: 1., y: 2.}), 2 * (1 + 2 * 2))
    single = ng.while_loop(lambda i: i < 3, lambda i: i + 1, [0])
    assert isinstance(single, ng.Tensor) and _run(single) == 3
    same = ng.while_loop(lambda i: i < 3, lambda i: [i + 1], [0], return_same_structure=True)
    assert isinstance(same, list) and _run(same) == [3]


def test_while_shape_invariants():
    v = ng.zeros([1], F64)
    i, w = ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, ng.concat([v, v + 1], 0)),
                         [0, v], shape_invariants=[ng.TensorShape([]), ng.TensorShape([None])])
    assert w.shape.as_list() == [None]
    np.testing.assert_allclose(_run(w), [0, 1, 1, 2, 1, 2, 2, 3])


def test_while_errors_have_tf_messages():
    x, _, _ = _xyz()
    v = ng.zeros([1], F64, name="zeros")
    with pytest.raises(ValueError, match=r"Input tensor 'zeros:0' enters the loop with shape "
                       r"\(1,\), but has shape \(2,\) after one iteration. To allow the shape to "
                       r"vary across iterations, use the `shape_invariants` argument"):
        ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, ng.concat([v, v], 0)), [0, v])
    with pytest.raises(TypeError, match=r"Loop var zeros:0 enters the loop with type "
                       r".*float64.* but has type .*int32.* after 1 iteration. zeros:0 type "
                       "should remain constant."):
        ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, ng.cast(v, ng.int32)), [0, v])
    with pytest.raises(ValueError, match="The two structures don't have the same nested structure"):
        ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1,), [0, v])
    with pytest.raises(TypeError, match="'cond' must be callable."):
        ng.while_loop(3, lambda i: i + 1, [0])
    with pytest.raises(TypeError, match="'body' must be callable."):
        ng.while_loop(lambda i: i < 3, 3, [0])
    with pytest.raises(TypeError, match="'parallel_iterations' must be a positive integer."):
        ng.while_loop(lambda i: i < 3, lambda i: i + 1, [0], parallel_iterations=0)
    with pytest.raises(ValueError, match="is not compatible with the initial shape"):
        ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v), [0, v],
                      shape_invariants=[ng.TensorShape([]), ng.TensorShape([2])])


def test_cond_inside_while_and_while_inside_cond():
    x, y, _ = _xyz()
    _, r = ng.while_loop(
        lambda i, v: i < 4,
        lambda i, v: (i + 1, ng.cond(v > 1.0, lambda: v * 0.5 * y, lambda: v * y + 1.0)),
        [0, x])
    g = ng.gradients(r, [x, y])
    feed = {x: 0.7, y: 1.6}
    got = _run(g, feed)
    for t, gv in zip((x, y), got):
        np.testing.assert_allclose(gv, _fd(r, t, feed), rtol=1e-6)
    c = ng.cond(x > 0,
                lambda: ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * y), [0, x])[1],
                lambda: y)
    g = ng.gradients(c, [x, y])
    np.testing.assert_allclose(_run(g, {x: 2., y: 3.}), [27., 54.])
    np.testing.assert_allclose(_run(g, {x: -2., y: 3.}), [0., 1.])
    gy = ng.gradients(c, y)[0]
    np.testing.assert_allclose(_run(ng.gradients(gy, y)[0], {x: 2., y: 3.}), 6 * 2 * 3)


def _rk4_loss(steps=8):
    k = ng.placeholder(F64, [2], name="k")
    s0 = ng.placeholder(F64, [2], name="s0")
    h = 0.1

    def f(s):       # a damped nonlinear oscillator with parameters k
        return ng.stack([s[1], -k[0] * ng.sin(s[0]) - k[1] * s[1]])

    def body(i, s):
        a = f(s)
        b = f(s + 0.5 * h * a)
        c = f(s + 0.5 * h * b)
        d = f(s + h * c)
        return i + 1, s + h / 6.0 * (a + 2 * b + 2 * c + d)

    _, s = ng.while_loop(lambda i, s: i < steps, body, [0, s0])
    return k, s0, ng.reduce_sum(s * s), s


def test_rk4_ode_gradients_match_finite_differences():
    k, s0, loss, s = _rk4_loss()
    gk, gs0 = ng.gradients(loss, [k, s0])
    feed = {k: np.array([2.0, 0.3]), s0: np.array([1.0, -0.5])}
    got_k, got_s0 = _run([gk, gs0], feed)
    np.testing.assert_allclose(got_k, _fd(loss, k, feed), rtol=1e-6)
    np.testing.assert_allclose(got_s0, _fd(loss, s0, feed), rtol=1e-6)
    # the same integration unrolled in Python: the same state
    u = s0
    kk = k
    for _ in range(8):
        def f(st):
            return ng.stack([st[1], -kk[0] * ng.sin(st[0]) - kk[1] * st[1]])
        a = f(u)
        b = f(u + 0.05 * a)
        c = f(u + 0.05 * b)
        d = f(u + 0.1 * c)
        u = u + 0.1 / 6.0 * (a + 2 * b + 2 * c + d)
    np.testing.assert_allclose(*_run([s, u], feed), rtol=1e-13)


# --- map_fn, scan, foldl, foldr -------------------------------------------------------------
def test_map_fn_scan_fold_values_and_gradients():
    e = ng.placeholder(F64, [4, 2])
    w = ng.placeholder(F64, [2])
    ev = np.array([[1., 2.], [0.5, -1.], [3., 0.1], [-2., 1.]])
    wv = np.array([0.3, -0.7])
    feed = {e: ev, w: wv}
    m = ng.map_fn(lambda r: ng.sin(r) * w, e)
    np.testing.assert_allclose(_run(m, feed), np.sin(ev) * wv)
    sc = ng.scan(lambda a, r: a * w + r, e)
    want = [ev[0]]
    for r in ev[1:]:
        want.append(want[-1] * wv + r)
    np.testing.assert_allclose(_run(sc, feed), np.array(want))
    sci = ng.scan(lambda a, r: a + r, e, initializer=ng.zeros([2], F64), reverse=True)
    np.testing.assert_allclose(_run(sci, feed), np.cumsum(ev[::-1], 0)[::-1])
    fl = ng.foldl(lambda a, r: a * 0.5 + r, e, initializer=ng.zeros([2], F64))
    fr = ng.foldr(lambda a, r: a * 0.5 + r, e, initializer=ng.zeros([2], F64))
    a = np.zeros(2)
    for r in ev:
        a = a * 0.5 + r
    b = np.zeros(2)
    for r in ev[::-1]:
        b = b * 0.5 + r
    np.testing.assert_allclose(_run([fl, fr], feed), [a, b])
    pair = ng.map_fn(lambda t: (t[0] * 2, t[1] + 1), (e, e))
    np.testing.assert_allclose(_run(pair[1], feed), ev + 1)
    for y in (m, sc, sci, fl, fr):
        loss = ng.reduce_sum(y * y)
        for x, xv in ((e, ev), (w, wv)):
            g, = ng.gradients(loss, x)
            if g is None:
                continue
            np.testing.assert_allclose(_run(g, feed), _fd(loss, x, feed), rtol=1e-6, atol=1e-8)


# --- other machinery ------------------------------------------------------------------------
def test_jacobian_falls_back_to_gradient_loop():
    x = ng.placeholder(F64, [3])
    _, y = ng.while_loop(lambda i, v: i < 2, lambda i, v: (i + 1, ng.sin(v) * v), [0, x])
    y = ng.cond(ng.reduce_sum(x) > 0, lambda: y * 2.0, lambda: y)
    with pytest.warns(RuntimeWarning, match="falling back"):
        jac = ng.jacobian(y, x)
    xv = np.array([0.2, -0.5, 0.9])
    got = _run(jac, {x: xv})
    want = np.stack([_fd(y[i], x, {x: xv}) for i in range(3)])
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9)


def test_cpu_and_numpy_backends_agree():
    x = ng.placeholder(F64, [5])
    p = ng.placeholder(F64, [])
    h = ng.tanh(x) * 2.0 + ng.exp(-x * x)                     # fused elementwise before
    _, s = ng.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, ng.sin(v) * p + v), [0, h])
    c = ng.cond(p > 0, lambda: s * s, lambda: s + 1.0)
    out = ng.reduce_sum(ng.sqrt(ng.abs(c) + 1.0) * x)           # and after
    g = ng.gradients(out, [x, p])
    feed = {x: np.linspace(-1, 1, 5), p: 0.7}
    a = _run([out] + g, feed, backend="cpu")
    b = _run([out] + g, feed, backend="numpy")
    for u, v in zip(a, b):
        np.testing.assert_allclose(u, v, rtol=1e-12)
    # the forward graph compiles: fused kernels around the opaque While and If
    plan = check_plan(out, feed, opaque=["While", "If"])
    where = {s.type: s.index for s in plan.steps if not hasattr(s, "ops")}
    assert any(k.index < where["While"] for k in plan.kernels), plan
    assert any(k.index > where["If"] for k in plan.kernels), plan


def test_eager_mode():
    ng.enable_eager_execution()
    x = ng.constant(2.0)
    assert float(ng.cond(x > 1, lambda: x * 3, lambda: x).numpy()) == 6.0
    i, v = ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 2), [0, x])
    assert float(v.numpy()) == 16.0


def test_against_tensorflow():
    tf = pytest.importorskip("tensorflow")
    tf1 = tf.compat.v1
    rng = np.random.default_rng(0)
    xv, yv = rng.normal(size=3), 0.9
    with tf1.Graph().as_default():
        x = tf1.placeholder(tf.float64, [3])
        y = tf1.placeholder(tf.float64, [])
        _, r = tf1.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, tf.sin(v) * y + v), [0, x])
        c = tf1.cond(tf.reduce_sum(x) > 0, lambda: r * y, lambda: r - y)
        loss = tf.reduce_sum(c * c)
        gy = tf1.gradients(loss, y)[0]
        fetch = [loss] + tf1.gradients(loss, [x, y]) + tf1.gradients(gy, [x, y])
        with tf1.Session() as s:
            want = s.run(fetch, {x: xv, y: yv})
    x = ng.placeholder(F64, [3])
    y = ng.placeholder(F64, [])
    _, r = ng.while_loop(lambda i, v: i < 4, lambda i, v: (i + 1, ng.sin(v) * y + v), [0, x])
    c = ng.cond(ng.reduce_sum(x) > 0, lambda: r * y, lambda: r - y)
    loss = ng.reduce_sum(c * c)
    gy = ng.gradients(loss, y)[0]
    got = _run([loss] + ng.gradients(loss, [x, y]) + ng.gradients(gy, [x, y]), {x: xv, y: yv})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-10)


@pytest.mark.skipif(os.environ.get("NUMBA_ENABLE_CUDASIM") != "1",
                    reason="the cuda backend is tested on Numba's simulator (NUMBA_ENABLE_CUDASIM=1)")
def test_cuda_simulator_runs_cond_and_while_on_the_host():
    x = ng.placeholder(ng.float32, [4])
    _, v = ng.while_loop(lambda i, v: i < 3, lambda i, v: (i + 1, v * 1.5 + 1.0), [0, x * 2.0])
    c = ng.cond(ng.reduce_sum(v) > 0, lambda: v + 1.0, lambda: v - 1.0)
    g, = ng.gradients(ng.reduce_sum(c * c), x)
    xv = np.arange(4, dtype=np.float32)
    a = _run([c, g], {x: xv}, backend="cuda")
    b = _run([c, g], {x: xv}, backend="numpy")
    for u, w in zip(a, b):
        np.testing.assert_allclose(u, w, rtol=1e-5)
