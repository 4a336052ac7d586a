"""ng.jacobian / batch_jacobian / jvp / hvp against central finite differences (float64).

Numerical references are computed here by perturbing each input element and re-running the
forward graph, never from numgrad's own derivatives.  Every numeric check runs on the numpy
(reference) and cpu (compiled) backends.
"""
import contextlib
import warnings

import numpy as np
import pytest

import numgrad as ng
from numgrad import batching
from numgrad.ops.registry import get_op_def, op_types

import batching_cases_math as _math_cases
from batching_rows import assert_rule_matches_rows

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

F64 = ng.float64
BACKENDS = ["numpy", "cpu"]
DELTA = 1e-6
RTOL, ATOL = 1e-6, 1e-7


@pytest.fixture(params=BACKENDS)
def backend(request):
    return request.param


_REFERENCE = {}


def _reference_session(graph):
    sess = _REFERENCE.get(graph)
    if sess is None:
        _REFERENCE.clear()
        sess = _REFERENCE[graph] = ng.Session(graph=graph, backend="numpy")
    return sess


def _session(backend):
    return ng.Session(backend=backend)


def numeric_jacobian(y, xs, values, i, delta=DELTA):
    """d y / d xs[i] by central differences: shape y.shape + xs[i].shape.

    The forward values come from the NumPy reference interpreter whatever the backend under
    test (so the compiled backend only compiles the graph being tested).
    """
    sess = _reference_session(y.graph)
    x0 = np.asarray(values[i], dtype=np.float64)
    yshape = tuple(sess.run(y, dict(zip(xs, values))).shape) if y.shape.rank else ()
    out = np.zeros(yshape + x0.shape)
    for k in np.ndindex(*x0.shape):
        vals = list(values)
        xp, xm = x0.copy(), x0.copy()
        xp[k] += delta
        xm[k] -= delta
        vals[i] = xp
        yp = np.asarray(sess.run(y, dict(zip(xs, vals))))
        vals[i] = xm
        ym = np.asarray(sess.run(y, dict(zip(xs, vals))))
        out[(Ellipsis,) + k] = (yp - ym) / (2 * delta)
    return out


@contextlib.contextmanager
def _no_fallback():
    """Turn the pfor fallback warning into an error: these graphs must vectorise."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        yield


def _mlp(x, w1, b1, w2, b2):
    h = ng.nn.relu(ng.matmul(x, w1) + b1)
    return ng.tanh(ng.matmul(h, w2) + b2)


def _rand(rng, *shape, low=-1.0, high=1.0):
    return rng.uniform(low, high, size=shape)


def _simplex(rng, *shape):
    p = rng.uniform(0.1, 1.0, size=shape)
    return p / p.sum(-1, keepdims=True)


def _away_from_zero(rng, *shape):
    return rng.uniform(0.3, 1.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# name -> (inits(rng) -> list of arrays, build(*xs) -> y)
CASES = {
    "elementwise": (lambda r: [_rand(r, 2, 3)],
                    lambda x: ng.sin(x) * ng.exp(x) / (1.0 + x * x) - ng.tanh(x) ** 2.0),
    "unary_positive": (lambda r: [_rand(r, 4, low=0.5, high=2.0)],
                       lambda x: ng.sqrt(x) + ng.log(x) * ng.rsqrt(x) + ng.log1p(x)
                       + ng.reciprocal(x) + ng.sigmoid(x) + ng.erf(x) + ng.expm1(x) * ng.cos(x)),
    "broadcasting": (lambda r: [_rand(r, 2, 3), _rand(r, 3), _rand(r, 2, 1)],
                     lambda a, b, c: a * b + b - c / (2.0 + b) + ng.squared_difference(a, c)),
    "matmul": (lambda r: [_rand(r, 2, 3), _rand(r, 3, 2)],
               lambda a, b: ng.matmul(a, b) + ng.matmul(a, b, transpose_a=False,
                                                        transpose_b=False) ** 2.0),
    "matmul_transposed": (lambda r: [_rand(r, 3, 2), _rand(r, 2, 3)],
                          lambda a, b: ng.matmul(a, b, transpose_a=True, transpose_b=True)),
    "batch_matmul": (lambda r: [_rand(r, 2, 2, 3), _rand(r, 3, 2)],
                     lambda a, b: ng.matmul(a, b)),
    "reductions": (lambda r: [_rand(r, 3, 4, low=0.5, high=1.5)],
                   lambda x: ng.concat([ng.reduce_sum(x * x, 0), ng.reduce_mean(ng.exp(x), 1),
                                        ng.reduce_prod(x, 1), ng.reduce_max(x, 0),
                                        ng.reshape(ng.reduce_min(x), [1])], 0)),
    "reductions_keepdims": (lambda r: [_rand(r, 2, 3)],
                            lambda x: x * ng.reduce_sum(x, 1, keepdims=True)
                            + ng.reduce_mean(x * x, keepdims=True)),
    "scans": (lambda r: [_rand(r, 2, 3, low=0.5, high=1.5)],
              lambda x: ng.cumsum(x * x, axis=1) + ng.cumprod(x, axis=0, reverse=True)
              + ng.cumsum(x, axis=1, exclusive=True)),
    "reshape_transpose": (lambda r: [_rand(r, 2, 3)],
                          lambda x: ng.transpose(ng.reshape(x * ng.reduce_sum(x), [3, 1, 2]),
                                                 [2, 0, 1])),
    "expand_squeeze": (lambda r: [_rand(r, 3, 1)],
                       lambda x: ng.expand_dims(ng.squeeze(ng.sin(x)), -1)
                       * ng.squeeze(x * x, axis=1)),
    "slicing_concat_stack_tile": (lambda r: [_rand(r, 3, 4)],
                                  lambda x: ng.concat([x[:, 1:3] * x[1:2, ::2],
                                                       ng.tile(x[0:1, -2:], [3, 1])], 1)
                                  + ng.stack(ng.unstack(x ** 3.0, axis=1), axis=1)),
    "slice_op": (lambda r: [_rand(r, 3, 4)],
                 lambda x: ng.slice(ng.exp(x), [1, 0], [2, -1])),
    "gather": (lambda r: [_rand(r, 4, 3)],
               lambda x: ng.gather(x * x, [0, 2, 2]) + ng.gather(ng.sin(x), [1, 1, 3])),
    "gather_axis1": (lambda r: [_rand(r, 2, 4)],
                     lambda x: ng.gather(ng.exp(x), [3, 0, 3], axis=1)),
    "segment_sum": (lambda r: [_rand(r, 4, 2)],
                    lambda x: ng.unsorted_segment_sum(x * x, [0, 2, 0, -1], 3)),
    "select_where_max": (lambda r: [_away_from_zero(r, 2, 3), _rand(r, 2, 3)],
                         lambda x, z: ng.where(x > 0.0, x * z, -x) + ng.maximum(x, z)
                         + ng.minimum(x, 0.1) + ng.abs(x) * ng.where_v2(z > 0.0, z, 1.0)),
    "clip_relu_pow": (lambda r: [_away_from_zero(r, 5), _rand(r, 5, low=0.5, high=1.5)],
                      lambda x, p: ng.clip_by_value(x, -0.5, 0.5) + ng.nn.relu(x) * x
                      + ng.pow(p, x) + ng.pow(ng.abs(x), p)),
    "softmax": (lambda r: [_rand(r, 2, 3)],
                lambda x: ng.nn.softmax(x) + ng.nn.log_softmax(x, axis=0)),
    # Labels are distributions (rows sum to 1), as the op's gradient assumes (as in TF).
    "softmax_cross_entropy": (lambda r: [_rand(r, 2, 3), _simplex(r, 2, 3)],
                              lambda lg, lb: ng.nn.softmax_cross_entropy_with_logits_v2(
                                  labels=lb, logits=lg)),
    "softmax_cross_entropy_3d": (lambda r: [_rand(r, 2, 2, 3)],
                                 lambda lg: ng.nn.softmax_cross_entropy_with_logits_v2(
                                     labels=ng.constant(np.full((2, 2, 3), 1 / 3)), logits=lg)),
    "sigmoid_cross_entropy": (lambda r: [_rand(r, 4), _rand(r, 4, low=0.0, high=1.0)],
                              lambda lg, lb: ng.nn.sigmoid_cross_entropy_with_logits(
                                  labels=lb, logits=lg)),
    "mlp_weights": (lambda r: [_rand(r, 3, 4), _rand(r, 4), _rand(r, 4, 2), _rand(r, 2)],
                    lambda w1, b1, w2, b2: _mlp(ng.constant(np.linspace(-1, 1, 6).reshape(2, 3)),
                                                w1, b1, w2, b2)),
    "y_is_x": (lambda r: [_rand(r, 2, 2)], lambda x: x),
    "scalar_y_scalar_x": (lambda r: [np.array(0.7), _rand(r, 3)],
                          lambda s, v: ng.reduce_sum(ng.exp(s * v)) * s),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_jacobian_matches_finite_differences(case, backend):
    make_inits, build = CASES[case]
    inits = make_inits(np.random.default_rng(7))
    xs = [ng.placeholder(F64, np.shape(v)) for v in inits]
    y = build(*xs)
    with _no_fallback():
        jac = ng.jacobian(y, xs)
    with _session(backend) as sess:
        got = sess.run(jac, dict(zip(xs, inits)))
        for i, (x, g) in enumerate(zip(xs, got)):
            assert g.shape == tuple(y.shape.as_list()) + np.shape(inits[i]), (case, i)
            want = numeric_jacobian(y, xs, inits, i)
            np.testing.assert_allclose(g, want, rtol=RTOL, atol=ATOL, err_msg=f"{case} x{i}")


# Second-order graphs are slow to compile: the compiled backend runs one of them.
@pytest.mark.parametrize("case,backend", [("mlp_weights", "numpy"), ("mlp_weights", "cpu"),
                                          ("softmax_cross_entropy", "numpy"),
                                          ("gather", "numpy"), ("scans", "numpy")])
def test_jacobian_of_gradient_matches_hessians(case, backend):
    """Vectorising a backward-of-backward graph: jacobian(grad f, x) == hessians(f, x)."""
    make_inits, build = CASES[case]
    inits = make_inits(np.random.default_rng(3))
    xs = [ng.placeholder(F64, np.shape(v)) for v in inits]
    f = ng.reduce_sum(build(*xs) ** 2.0)
    x = xs[0]
    g, = ng.gradients(f, x)
    g = ng.convert_to_tensor(g)
    with _no_fallback():
        jac = ng.jacobian(g, x)
    hess, = ng.hessians(f, x)
    with _session(backend) as sess:
        got = sess.run(jac, dict(zip(xs, inits)))
    want = _reference_session(f.graph).run(hess, dict(zip(xs, inits)))
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12)


def test_vectorised_graph_does_not_grow_with_y_size():
    """The op count of jacobian() is the same for y of size 3 and 30, and it is correct."""
    def added_ops(n):
        g = ng.Graph()
        with g.as_default():
            x = ng.placeholder(F64, [n])
            w = ng.constant(np.linspace(0.1, 1.0, n))
            y = ng.tanh(x * w) * ng.reduce_sum(x * x)
            before = len(g.get_operations())
            with _no_fallback():
                jac = ng.jacobian(y, x)
            ops = g.get_operations()[before:]
            with ng.Session(graph=g, backend="numpy") as sess:
                xv = np.linspace(-1, 1, n)
                np.testing.assert_allclose(sess.run(jac, {x: xv}),
                                           numeric_jacobian(y, [x], [xv], 0),
                                           rtol=RTOL, atol=ATOL)
        return sorted(op.type for op in ops)
    small, large = added_ops(3), added_ops(30)
    assert small == large
    # The seed placeholder and its unvectorised backward graph are removed afterwards.
    assert "Placeholder" not in small
    loop = ng.Graph()
    with loop.as_default():
        x = ng.placeholder(F64, [30])
        y = ng.tanh(x) * 2.0
        before = len(loop.get_operations())
        ng.jacobian(y, x, experimental_use_pfor=False)
        assert len(loop.get_operations()) - before > 10 * len(small)


def test_loop_mode_agrees_with_vectorised(backend):
    rng = np.random.default_rng(0)
    inits = [_rand(rng, 3, 4), _rand(rng, 4), _rand(rng, 4, 2), _rand(rng, 2)]
    xs = [ng.placeholder(F64, v.shape) for v in inits]
    y = _mlp(ng.constant(rng.normal(size=(2, 3))), *xs)
    vec = ng.jacobian(y, xs)
    loop = ng.jacobian(y, xs, experimental_use_pfor=False)
    want = _reference_session(y.graph).run(loop, dict(zip(xs, inits)))
    with _session(backend) as sess:
        for a, b in zip(sess.run(vec, dict(zip(xs, inits))), want):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_missing_batching_rule_falls_back_with_a_warning(monkeypatch, backend):
    """An op type without a rule: a warning naming it, and a (looped) correct result."""
    monkeypatch.delitem(batching.BATCH_RULES, "AddN")
    x = ng.placeholder(F64, [3])
    y = ng.sin(x) * x                  # the gradients of both factors meet in an AddN
    with pytest.warns(RuntimeWarning, match="op type AddN"):
        jac = ng.jacobian(y, x)
    xv = np.array([0.1, -0.4, 0.9])
    with _session(backend) as sess:
        np.testing.assert_allclose(sess.run(jac, {x: xv}),
                                   np.diag(np.cos(xv) * xv + np.sin(xv)), rtol=1e-12)


def test_every_op_type_has_a_batching_rule_or_cannot_be_batched():
    """New op types must get a batching rule (numgrad/batching.py) or a reason not to have one
    (NOT_BATCHABLE, or register_op's not_batchable)."""
    # Only numgrad's own op types: other test modules register throwaway ones (SpecTest*).
    ours = [t for t in op_types() if get_op_def(t).compute.__module__.startswith("numgrad.")]
    rules = set(batching.BATCH_RULES)
    exempt = {t for t in ours if batching.not_batchable_reason(t) is not None}
    assert not rules & exempt
    assert len(ours) > 50
    missing = [t for t in ours if t not in rules | exempt]
    assert not missing, f"op types with neither a batching rule nor a reason: {missing}"


def test_dynamic_x_shape(backend):
    """x with an unknown batch dim: y's shape is static, the result's x part is dynamic."""
    x = ng.placeholder(F64, [None, 3])
    y = (ng.reduce_sum(ng.sin(x) * x, 0) + ng.reduce_mean(x, 0) * ng.reduce_sum(x)
         + ng.reduce_max(x * ng.reduce_mean(x, 0), 0)       # broadcasting: a dynamic SumToShape
         + ng.reduce_sum(ng.transpose(ng.nn.softmax(x, axis=0)) ** 2.0, 1))
    with _no_fallback():
        jac = ng.jacobian(y, x)
    assert jac.shape.as_list() == [3, None, 3]
    xv = np.random.default_rng(1).normal(size=(2, 3))
    with _session(backend) as sess:
        np.testing.assert_allclose(sess.run(jac, {x: xv}),
                                   numeric_jacobian(y, [x], [xv], 0), rtol=RTOL, atol=ATOL)


def test_batch_jacobian(backend):
    rng = np.random.default_rng(5)
    xv, wv = _rand(rng, 3, 2), _rand(rng, 2, 4)
    x = ng.placeholder(F64, [3, 2])
    w = ng.constant(wv)
    y = ng.nn.softmax(ng.matmul(ng.sin(x), w))          # row b depends only on x[b]
    with _no_fallback():
        bj = ng.batch_jacobian(y, x)
    assert bj.shape.as_list() == [3, 4, 2]
    with _session(backend) as sess:
        got = sess.run(bj, {x: xv})
        full = numeric_jacobian(y, [x], [xv], 0)   # (3, 4, 3, 2)
    want = np.stack([full[b, :, b, :] for b in range(3)])
    np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
    # x with an unknown batch dim, and the loop mode, agree.
    xd = ng.placeholder(F64, [None, 2])
    dyn = ng.batch_jacobian(ng.reshape(ng.nn.softmax(ng.matmul(ng.sin(xd), w)), [3, 4]), xd)
    loop = ng.batch_jacobian(y, x, experimental_use_pfor=False)
    assert dyn.shape.as_list() == [3, 4, 2]
    for other in _reference_session(y.graph).run([dyn, loop], {x: xv, xd: xv}):
        np.testing.assert_allclose(other, got, rtol=1e-12, atol=1e-14)


def test_jvp_matches_jacobian_times_vector(backend):
    rng = np.random.default_rng(11)
    inits = [_rand(rng, 2, 3), _rand(rng, 3)]
    tangents = [_rand(rng, 2, 3), _rand(rng, 3)]
    a, b = xs = [ng.placeholder(F64, v.shape) for v in inits]
    y1 = ng.tanh(a * b) + ng.reduce_sum(a) + ng.gather(a, [1, 0])
    y2 = ng.reduce_sum(ng.exp(b) * b)
    vs = [ng.constant(t) for t in tangents]
    out = ng.jvp([y1, y2], xs, vs)
    single = ng.jvp(y2, b, vs[1])
    assert isinstance(out, list) and isinstance(single, ng.Tensor)
    with _session(backend) as sess:
        feed = dict(zip(xs, inits))
        got1, got2, got_single = sess.run(out + [single], feed)
        for y, got in ((y1, got1), (y2, got2)):
            want = sum(np.tensordot(numeric_jacobian(y, xs, inits, i), t, axes=t.ndim)
                       for i, t in enumerate(tangents))
            np.testing.assert_allclose(got, want, rtol=RTOL, atol=ATOL)
        want = np.tensordot(numeric_jacobian(y2, xs, inits, 1), tangents[1], axes=1)
        np.testing.assert_allclose(got_single, want, rtol=RTOL, atol=ATOL)


def test_jvp_through_mlp_matches_jacobian(backend):
    rng = np.random.default_rng(2)
    inits = [_rand(rng, 3, 4), _rand(rng, 4), _rand(rng, 4, 2), _rand(rng, 2)]
    tangents = [_rand(rng, *v.shape) for v in inits]
    xs = [ng.placeholder(F64, v.shape) for v in inits]
    y = _mlp(ng.constant(rng.normal(size=(2, 3))), *xs)
    out = ng.jvp(y, xs, [ng.constant(t) for t in tangents])
    jacs = ng.jacobian(y, xs)
    js = _reference_session(y.graph).run(jacs, dict(zip(xs, inits)))
    with _session(backend) as sess:
        got = sess.run(out, dict(zip(xs, inits)))
    want = sum(np.tensordot(j, t, axes=t.ndim) for j, t in zip(js, tangents))
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_hvp_matches_hessians_and_finite_differences(backend):
    rng = np.random.default_rng(4)
    inits = [_rand(rng, 3), _rand(rng, 2, 3)]
    vecs = [_rand(rng, 3), _rand(rng, 2, 3)]
    a, b = xs = [ng.placeholder(F64, v.shape) for v in inits]
    f = ng.reduce_sum(ng.sin(a * b) * ng.exp(a)) + ng.reduce_sum(b ** 3.0)
    out = ng.hvp(f, xs, [ng.constant(v) for v in vecs])
    assert isinstance(out, list) and len(out) == 2
    hess = ng.hessians(f, xs)
    grads = ng.gradients(f, xs)
    with _session(backend) as sess:
        feed = dict(zip(xs, inits))
        got = sess.run(out, feed)
        haa, hbb = _reference_session(f.graph).run(hess, feed)
        # Diagonal blocks against ng.hessians.
        np.testing.assert_allclose(got[0] - _cross(grads[0], xs, inits, 1, vecs[1]),
                                   haa @ vecs[0], rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(got[1] - _cross(grads[1], xs, inits, 0, vecs[0]),
                                   np.tensordot(hbb, vecs[1], axes=2), rtol=1e-8, atol=1e-10)
        # The full product against finite differences of the gradient.
        for j in range(2):
            want = sum(np.tensordot(numeric_jacobian(grads[j], xs, inits, i), v,
                                    axes=v.ndim) for i, v in enumerate(vecs))
            np.testing.assert_allclose(got[j], want, rtol=RTOL, atol=ATOL)


def _cross(g, xs, inits, i, v):
    """Off-diagonal Hessian block times v, by finite differences of the gradient g."""
    return np.tensordot(numeric_jacobian(g, xs, inits, i), v, axes=v.ndim)


def test_unconnected(backend):
    x = ng.placeholder(F64, [2])
    z = ng.placeholder(F64, [3])
    y = ng.exp(x)
    assert ng.jacobian(y, [x, z])[1] is None
    assert ng.jvp(ng.sin(z), x, [1.0, 2.0]) is None          # a list is the one x's tangent
    assert ng.hvp(ng.reduce_sum(y * y), [x, z], [np.ones(2), np.ones(3)])[1] is None
    zero = ng.UnconnectedGradients.ZERO
    jz = ng.jacobian(y, z, unconnected_gradients=zero)
    vz = ng.jvp(ng.sin(z), x, np.array([1.0, 2.0]), unconnected_gradients="zero")
    hz = ng.hvp(ng.reduce_sum(y * y), [x, z], [np.ones(2), np.ones(3)],
                unconnected_gradients=zero)[1]
    with _session(backend) as sess:
        a, b, c = sess.run([jz, vz, hz], {x: [0.1, 0.2], z: [1.0, 2.0, 3.0]})
    np.testing.assert_array_equal(a, np.zeros((2, 3)))
    np.testing.assert_array_equal(b, np.zeros(3))
    np.testing.assert_array_equal(c, np.zeros(3))


def test_connected_but_zero_derivatives_are_zeros_not_none(backend):
    """jvp through sign, hvp of a linear function: connected, so zeros rather than None."""
    x = ng.placeholder(F64, [3])
    w = ng.constant([1.0, -2.0, 0.5], dtype=F64)
    jv = ng.jvp(ng.sign(x) * 2.0, x, [1.0, 1.0, 1.0])
    hv, = ng.hvp(ng.reduce_sum(w * x), x, [1.0, 2.0, 3.0])
    jac = ng.jacobian(ng.sign(x), x)
    with _session(backend) as sess:
        for got, shape in zip(sess.run([jv, hv, jac], {x: [0.5, -1.0, 2.0]}), [3, 3, (3, 3)]):
            np.testing.assert_array_equal(got, np.zeros(shape))


def _failing_rule(ctx, op, inputs, batched):
    raise ValueError("rule failed on purpose")


@pytest.mark.parametrize("call", [
    lambda y, x, other: ng.jacobian(y, [x, other]),                  # x of another graph
    lambda y, x, other: ng.batch_jacobian(y, other),
    lambda y, x, other: ng.jvp(y, x, np.ones([5])),                  # tangent of wrong shape
    lambda y, x, other: ng.hvp(y, x, np.ones([4])),
    lambda y, x, other: ng.jacobian(y, x),                           # fails mid-vectorisation
])
def test_failed_call_leaves_graph_unchanged(call, monkeypatch):
    x = ng.placeholder(F64, [3])
    y = ng.sin(x) * 2.0
    g = ng.get_default_graph()
    other_graph = ng.Graph()
    with other_graph.as_default():
        other = ng.placeholder(F64, [3])
    ops, names = g.get_operations(), dict(g._names_in_use)
    consumers = {t: t.consumers() for op in ops for t in op.outputs}
    with monkeypatch.context() as mp:
        mp.setitem(batching.BATCH_RULES, "Mul", _failing_rule)
        with pytest.raises((ValueError, TypeError)):
            call(y, x, other)
    assert g.get_operations() == ops
    assert g._names_in_use == names
    assert {t: t.consumers() for op in ops for t in op.outputs} == consumers
    # The graph still works afterwards.
    j = ng.jacobian(y, x)
    with ng.Session(backend="numpy") as sess:
        np.testing.assert_allclose(sess.run(j, {x: [0.1, 0.2, 0.3]}),
                                   np.diag(2 * np.cos([0.1, 0.2, 0.3])), rtol=1e-12)


def test_unknown_y_shape_error_names_y():
    x = ng.placeholder(F64, [None])
    y = ng.sin(x, name="my_y")
    with pytest.raises(ValueError, match="my_y"):
        ng.jacobian(y, x)


# --- batching rules, one op at a time -----------------------------------------------------------
# Each builder maps a seed s of shape (2, 3) to a graph through the op type named; the batched
# twin on 4 stacked seeds must equal the graph run on each seed separately.  Unbatched operands
# of higher rank (c3) check the rank alignment.
_C2 = np.linspace(-0.9, 0.8, 6).reshape(2, 3)
_C3 = np.linspace(-0.7, 0.9, 12).reshape(2, 2, 3)


def _c(v):
    return ng.constant(np.asarray(v, np.float64))


def _f(t):
    return ng.cast(t, F64)


def _unary_builder(public):
    fn = getattr(ng.ops.math, public)
    return lambda s: fn(ng.abs(s) + 0.5) + fn(s * 0.3)


def _binary_builder(public):
    fn = getattr(ng.ops.math, public)
    if public in ("logical_and", "logical_or"):
        return lambda s: _f(fn(s > 0.0, _c(_C3) > 0.0))
    if public in ("equal", "not_equal", "less", "less_equal", "greater", "greater_equal"):
        return lambda s: _f(fn(s, _c(_C3))) + _f(fn(_c(0.1), s))
    if public == "pow":
        return lambda s: fn(ng.abs(s) + 0.5, _c(_C3)) + fn(_c(1.5), s)
    if public in ("_realdiv", "floordiv", "truncatemod", "floormod"):
        return lambda s: fn(s, _c(np.abs(_C3) + 0.5)) + fn(_c(_C3), ng.abs(s) + 0.5)
    return lambda s: fn(s, _c(_C3)) + fn(_c(_C2[0]), s) + fn(s, s * 2.0)


def _sum_outputs(outs):
    """(n,) and (n, c) outputs summed as (n, c)."""
    total = None
    for o in outs:
        o = ng.expand_dims(o, -1) if o.shape.rank == 1 else o
        total = o if total is None else total + o
    return total


RULE_CASES = {t: _unary_builder(n) for t, n, *_ in ng.ops.math.UNARY if t != "LogicalNot"}
RULE_CASES.update({t: _binary_builder(n) for t, n, *_ in ng.ops.math.BINARY})
RULE_CASES.update({
    "LogicalNot": lambda s: _f(ng.logical_not(s > 0.0)),
    "Cast": lambda s: _f(ng.cast(s, ng.float32)),
    "ReluGrad": lambda s: ng.nn.relu_grad(s, _c(_C3)) + ng.nn.relu_grad(_c(_C3), s),
    "Select": lambda s: ng.where(ng.constant([True, False]), s, _c(_C2))
    + ng.where(s > 0.0, _c(_C2), s),
    "SelectV2": lambda s: ng.where_v2(_c(_C3) > 0.0, s, 1.0) + ng.where_v2(s > 0.0, _c(_C3), s),
    "Identity": lambda s: ng.identity(s),
    "StopGradient": lambda s: ng.stop_gradient(s),
    "AddN": lambda s: ng.add_n([s, _c(_C2), s * 2.0, _c(_C2)]) + ng.add_n([s, s]),
    "Shape": lambda s: s + _f(ng.reshape(ng.shape(s), [2, 1])),
    "Size": lambda s: s * _f(ng.size(s)),
    "Rank": lambda s: s * _f(ng.rank(s)),
    "ZerosLike": lambda s: s + ng.zeros_like(s),
    "OnesLike": lambda s: s + ng.ones_like(s * 2.0),
    "Fill": lambda s: ng.fill([2, 2], ng.reduce_sum(s)),
    "BroadcastTo": lambda s: ng.broadcast_to(s[:, :1], [2, 2, 3]) + ng.broadcast_to(s, [2, 3]),
    "SumToShape": lambda s: ng.ops.array.sum_to_shape(ng.expand_dims(s, 0) * _c(_C3),
                                                      ng.constant([1, 3], dtype=ng.int32)),
    "Reshape": lambda s: ng.reshape(ng.reshape(s, [3, 2]), [-1]),
    "ExpandDims": lambda s: ng.expand_dims(s, 0) + ng.expand_dims(s, -2),
    "Squeeze": lambda s: ng.squeeze(s[:, :1]) + ng.squeeze(ng.expand_dims(s, -1), axis=[-1])[:, 0],
    "Transpose": lambda s: ng.transpose(s) + ng.transpose(ng.expand_dims(s, 0), [2, 0, 1])[:, 0],
    "ConcatV2": lambda s: ng.concat([s, _c(_C2), s], 0) + ng.concat([s, s, s], -2),
    "Pack": lambda s: ng.stack([s, _c(_C2)], 1) + ng.stack([s, s], -3),
    "Unpack": lambda s: ng.unstack(s, axis=1)[2] + ng.unstack(s)[0][:2],
    "SplitV": lambda s: ng.ops.array.split_v(s, [1, 2], 1)[1],
    "Tile": lambda s: ng.tile(s, [2, 1]),
    "StridedSlice": lambda s: s[::-1, 1:] + s[..., None, 0][:, :, None],
    "StridedSliceGrad": lambda s: ng.ops.array.strided_slice_grad(
        ng.constant([3, 4], dtype=ng.int32), s, (slice(1, 3), slice(1, None))),
    "GatherV2": lambda s: ng.gather(s, [1, 0, 1])[:2, :2]
    + ng.gather(s, [[2, 0], [1, 1]], axis=1)[:, 0],
    "UnsortedSegmentSum": lambda s: ng.unsorted_segment_sum(s, [1, -1], 3)
    + ng.unsorted_segment_sum(s, [[0, 1, 0], [2, 2, -1]], 3)[:, None],
    "Sum": lambda s: ng.reduce_sum(s) + ng.reduce_sum(s, 1, keepdims=True),
    "Mean": lambda s: ng.reduce_mean(s) + ng.reduce_mean(s, 0),
    "Max": lambda s: ng.reduce_max(s) + ng.reduce_max(s, 1, keepdims=True),
    "Min": lambda s: ng.reduce_min(s, [0, 1]) + ng.reduce_min(s, 0),
    "Prod": lambda s: ng.reduce_prod(s) + ng.reduce_prod(s, 1),
    "Cumsum": lambda s: ng.cumsum(s, 1, exclusive=True, reverse=True) + ng.cumsum(s, 0),
    "Cumprod": lambda s: ng.cumprod(s, 1, reverse=True) + ng.cumprod(s, -2, exclusive=True),
    "MatMul": lambda s: ng.matmul(s, _c(_C2), transpose_b=True)
    + ng.matmul(_c(_C2[:, :2]), s[:, :2], transpose_a=True) + ng.matmul(s, s, transpose_b=True),
    "BatchMatMulV2": lambda s: ng.matmul(ng.reshape(s, [1, 2, 3]), _c(_C3), transpose_b=True)
    + ng.matmul(_c(_C3[:, :, :2]), ng.reshape(s, [1, 3, 2])[:, :2]),
    "Softmax": lambda s: ng.nn.softmax(s, axis=0) + ng.nn.softmax(s),
    "LogSoftmax": lambda s: ng.nn.log_softmax(s, axis=0),
    "SoftmaxCrossEntropyWithLogits": lambda s: _sum_outputs(
        ng.ops.core.make_op("SoftmaxCrossEntropyWithLogits", [s, _c(_C2)]).outputs
        + ng.ops.core.make_op("SoftmaxCrossEntropyWithLogits", [_c(_C2), s]).outputs),
    "CheckNumerics": lambda s: ng.check_numerics(s * 2.0, "batched"),
})
RULE_CASES.update(_math_cases.CASES)    # issue 17's non-table ops (tests/batching_cases_math.py)


@pytest.mark.parametrize("op_type", sorted(RULE_CASES))
def test_batching_rule_matches_rows(op_type):
    if op_type not in op_types():
        pytest.skip(f"op type {op_type} is not registered")
    assert_rule_matches_rows(op_type, RULE_CASES[op_type])


def _row_cases_of_all_test_modules():
    """RULE_CASES plus the ROW_CASES (same format, with their own row tests) that test modules
    of other op families define beside their ops' tests."""
    import importlib
    import pathlib
    cases = dict(RULE_CASES)
    for path in sorted(pathlib.Path(__file__).parent.glob("test_*.py")):
        if path.stem != "test_jacobians" and "\nROW_CASES = " in path.read_text():
            cases.update(importlib.import_module(path.stem).ROW_CASES)
    return cases


def test_every_batching_rule_has_a_row_test():
    assert sorted(set(batching.BATCH_RULES) - set(_row_cases_of_all_test_modules())) == []
