"""Numerical gradient checks for numgrad (float64, small shapes).

Every gradient is compared with central finite differences (ng.test.compute_gradient), or with
a value derived by hand / an independent NumPy formula -- never with numgrad's own output.

Most checks are cases of a section (`_case`), each with its own test that asserts on its own
Jacobians (tests/gradient_batch.py computes them).  The cases of a batched section (`_BATCHED`)
are built into one graph and run by one plan, so the section compiles a few kernels instead of
a plan's kernels per case.  The finite differences run y on the NumPy reference backend
(GradientBatch's `reference`): the backend under test compiles only the gradient plans, and
the numerical Jacobians do not depend on it.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import numgrad as ng
from budget import cover, examples
from gradient_batch import GradientBatch, assert_jacobians

F64 = ng.float64
TOL = 1e-6
DELTA = 1e-5


# ------------------------------------------------------------------------------------ helpers
def _rng(seed=0):
    return np.random.default_rng(seed)


def _ph(a, shape=None):
    a = np.asarray(a)
    return ng.placeholder(F64, a.shape if shape is None else shape)


def check_jacobians(inits, build, *, ph_shapes=None, y_shape=None, tol=TOL, delta=DELTA,
                    nonzero=True):
    """Placeholders for `inits`, y = build(*xs); analytic vs numerical Jacobian per x."""
    inits = [np.asarray(a, dtype=np.float64) for a in inits]
    ph_shapes = ph_shapes or [None] * len(inits)
    xs = [_ph(a, s) for a, s in zip(inits, ph_shapes)]
    y = build(*xs)
    if y_shape is None:
        y_shape = y.shape.as_list()
    res = ng.test.compute_gradient(xs, [a.shape for a in inits], y, tuple(y_shape),
                                   x_init_value=inits, delta=delta)
    return assert_jacobians(res, tol=tol, nonzero=nonzero)


_SECTIONS = {}       # section -> {case name: (inits, build, GradientBatch.add's keywords)}
# The sections whose cases share one graph: their loops merge (elementwise ops of a few shapes),
# so one batch compiles much less code than its cases one by one.  The other sections' cases
# bring loop nests of their own (reductions, broadcast gradients, gathers), which cost as much
# batched as alone (CONTRIBUTING.md's test budget): each runs in a graph of its own.
_BATCHED = {"unary", "none_dims", "second"}


_OWN_TEST = set()    # (section, name) of the cases a test of their own checks (more asserts)
# Sections whose every case has a test of its own: the second derivatives' tolerance is
# SECOND_TOL, and most of them also compare with a closed form.
_OWN_TEST_SECTIONS = {"second"}


def _case(section, name, inits, build, own_test=False, **kw):
    """Case `name` of `section`: y = build(*placeholders fed `inits`) (see GradientBatch.add).
    test_case_gradient checks every case at TOL, except those with `own_test` (a test of their
    own asserts more, or at another tolerance) and the sections in _OWN_TEST_SECTIONS."""
    cases = _SECTIONS.setdefault(section, {})
    assert name not in cases, f"case {section}/{name} defined twice"
    cases[name] = ([np.asarray(a, dtype=np.float64) for a in inits], build, kw)
    if own_test:
        _OWN_TEST.add((section, name))
    return name


def _second(f):
    """y = d sum(f(x))/dx, built by gradients: its Jacobian is f's second derivative."""
    def build(x):
        g, = ng.gradients(ng.reduce_sum(f(x)), x)
        assert g is not None, "no first gradient"
        return g
    return build


@pytest.fixture(scope="module")
def jacobians():
    """jacobians(section, name): the case's [(analytic, numerical) per input], or the exception
    it raised; a batched section is built and run once, on first use."""
    done = {}

    def get(section, name):
        key = section if section in _BATCHED else (section, name)
        if key not in done:
            batch = GradientBatch(F64, delta=DELTA, reference="numpy")
            for case, (inits, build, kw) in _SECTIONS[section].items():
                if section in _BATCHED or case == name:
                    batch.add(case, inits, build, **kw)
            done[key] = batch.jacobians()
        return done[key][name]
    return get


@ng.custom_gradient
def _wrong_square(x):
    return x * x, lambda dy: dy * 3.0 * x        # the true gradient is 2x


def test_numpy_reference_catches_a_wrong_gradient():
    """The sections' check (analytic Jacobians from the backend under test, central
    differences from the NumPy reference) fails on a wrong gradient and passes a right one."""
    batch = GradientBatch(F64, delta=DELTA, reference="numpy")
    batch.add("wrong", [np.array([0.5, -1.5])], _wrong_square)
    batch.add("right", [np.array([0.5, -1.5])], ng.square)
    got = batch.jacobians()
    with pytest.raises(AssertionError, match="Jacobian mismatch for input 0"):
        assert_jacobians(got["wrong"], tol=TOL)
    (jt, jn), = assert_jacobians(got["right"], tol=TOL)
    np.testing.assert_allclose(jn, np.diag([1.0, -3.0]), atol=1e-9)


def run(fetches, feeds=None):
    with ng.Session() as s:
        return s.run(fetches, feeds)


def densify_value(v):
    """Independent densification of an IndexedSlicesValue (NumPy)."""
    assert isinstance(v, ng.IndexedSlicesValue)
    out = np.zeros(tuple(int(d) for d in v.dense_shape), v.values.dtype)
    np.add.at(out, np.asarray(v.indices).reshape(-1), v.values)
    return out


# ------------------------------------------------------------------------------ unary math ops
def _sym(shape, lo=0.3, hi=1.5, seed=0):
    r = _rng(seed)
    return r.uniform(lo, hi, shape) * r.choice([-1.0, 1.0], shape)


_UNARY = [
    ("negative", ng.negative, lambda s: _rng(1).uniform(-1, 1, s)),
    ("square", ng.square, lambda s: _rng(2).uniform(-1.5, 1.5, s)),
    ("sqrt", ng.sqrt, lambda s: _rng(3).uniform(0.5, 2.0, s)),
    ("rsqrt", ng.rsqrt, lambda s: _rng(4).uniform(0.5, 2.0, s)),
    ("exp", ng.exp, lambda s: _rng(5).uniform(-1.5, 1.5, s)),
    ("log", ng.log, lambda s: _rng(6).uniform(0.5, 2.0, s)),
    ("log1p", ng.log1p, lambda s: _rng(7).uniform(-0.5, 2.0, s)),
    ("expm1", ng.expm1, lambda s: _rng(8).uniform(-1.5, 1.5, s)),
    ("sin", ng.sin, lambda s: _rng(9).uniform(-2, 2, s)),
    ("cos", ng.cos, lambda s: _rng(10).uniform(-2, 2, s)),
    ("tan", ng.tan, lambda s: _rng(11).uniform(-1, 1, s)),
    ("tanh", ng.tanh, lambda s: _rng(12).uniform(-2, 2, s)),
    ("sigmoid", ng.sigmoid, lambda s: _rng(13).uniform(-3, 3, s)),
    ("nn.sigmoid", ng.nn.sigmoid, lambda s: _rng(14).uniform(-3, 3, s)),
    ("erf", ng.erf, lambda s: _rng(15).uniform(-1.5, 1.5, s)),
    ("abs", ng.abs, lambda s: _sym(s, seed=16)),
    ("reciprocal", ng.reciprocal, lambda s: _sym(s, 0.5, 2.0, seed=17)),
    ("relu", ng.nn.relu, lambda s: _sym(s, seed=18)),
    ("identity", ng.identity, lambda s: _rng(19).uniform(-1, 1, s)),
    ("abs_operator", lambda t: abs(t), lambda s: _sym(s, seed=20)),
    ("neg_operator", lambda t: -t, lambda s: _rng(21).uniform(-1, 1, s)),
]


for _name, _fn, _gen in _UNARY:
    _case("unary", _name, [_gen((2, 3))], _fn)
for _name, _fn, _gen in _UNARY[:8]:
    _case("unary", f"scalar-{_name}", [_gen(())], lambda x, fn=_fn: fn(x) * 3.0)


_UNARY_DERIV = {
    "sqrt": (ng.sqrt, lambda x: 0.5 / np.sqrt(x), 1.7),
    "rsqrt": (ng.rsqrt, lambda x: -0.5 * x ** -1.5, 1.7),
    "log": (ng.log, lambda x: 1 / x, 1.7),
    "log1p": (ng.log1p, lambda x: 1 / (1 + x), 0.3),
    "expm1": (ng.expm1, np.exp, 0.3),
    "tan": (ng.tan, lambda x: 1 / np.cos(x) ** 2, 0.4),
    "erf": (ng.erf, lambda x: 2 / np.sqrt(np.pi) * np.exp(-x * x), 0.4),
    "sigmoid": (ng.sigmoid, lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2, 0.4),
    "reciprocal": (ng.reciprocal, lambda x: -1 / x ** 2, -1.3),
}


_UP = np.array([1.0, -2.0, 0.5])


def _closed_form_input(name):
    x0 = _UNARY_DERIV[name][2]
    return np.array([x0, x0 / 2, x0 * 0.75])


@pytest.fixture(scope="module")
def unary_closed_form_gradients():
    """{name: the gradient of fn(x) with grad_ys _UP}: each op on its own placeholder, all in
    one graph and one plan (their loops fuse into one kernel)."""
    graph = ng.Graph()
    with graph.as_default():
        grads, feed = {}, {}
        for name, (fn, _, _) in _UNARY_DERIV.items():
            x = ng.placeholder(F64, [3])
            grads[name], = ng.gradients(fn(x), x, grad_ys=ng.constant(_UP))
            feed[x] = _closed_form_input(name)
        with ng.Session(graph=graph) as sess:
            return dict(zip(grads, sess.run(list(grads.values()), feed)))


@pytest.mark.parametrize("name", sorted(_UNARY_DERIV))
def test_unary_gradient_closed_form(unary_closed_form_gradients, name):
    deriv = _UNARY_DERIV[name][1]
    np.testing.assert_allclose(unary_closed_form_gradients[name],
                               _UP * deriv(_closed_form_input(name)), rtol=1e-12, atol=1e-14)


# ------------------------------------------------------------------------------ binary math ops
_BCAST_SHAPES = [
    ((2, 3), (2, 3)),
    ((2, 3), (3,)),
    ((3,), (2, 3)),
    ((2, 1), (1, 3)),
    ((2, 3), ()),
    ((), (2, 3)),
    ((4, 1, 3), (2, 1)),
    ((2, 1, 1), (2, 3)),
]

_BINARY = {
    "add": (ng.add, "any", "any"),
    "subtract": (ng.subtract, "any", "any"),
    "multiply": (ng.multiply, "any", "any"),
    "divide": (ng.divide, "any", "nonzero"),
    "truediv": (ng.truediv, "any", "nonzero"),
    "pow": (ng.pow, "pos", "any"),
    "maximum": (ng.maximum, "any", "any"),
    "minimum": (ng.minimum, "any", "any"),
    "squared_difference": (ng.squared_difference, "any", "any"),
    "op_add": (lambda a, b: a + b, "any", "any"),
    "op_sub": (lambda a, b: a - b, "any", "any"),
    "op_mul": (lambda a, b: a * b, "any", "any"),
    "op_div": (lambda a, b: a / b, "any", "nonzero"),
    "op_pow": (lambda a, b: a ** b, "pos", "any"),
}


def _gen(kind, shape, seed):
    r = _rng(seed)
    if kind == "pos":
        return r.uniform(0.5, 2.0, shape)
    if kind == "nonzero":
        return _sym(shape, 0.5, 2.0, seed)
    return r.uniform(-2.0, 2.0, shape)


# Each cell of op x broadcast pattern compiles its own kernels: the default run takes every op
# on two patterns and every pattern on three or four ops, NUMGRAD_SLOW=1 all of them.
_BINARY_CELLS = cover(sorted(_BINARY), _BCAST_SHAPES, per_row=2)


_BINARY_IDS = [f"{n}-{s[0]}x{s[1]}" for n, s in _BINARY_CELLS]
for _cell, (_name, (_sx, _sy)) in zip(_BINARY_IDS, _BINARY_CELLS):
    _fn, _kx, _ky = _BINARY[_name]
    _case("binary", _cell, [_gen(_kx, _sx, 100 + len(_sx)), _gen(_ky, _sy, 200 + len(_sy))], _fn)


_case("binary", "python_scalars", [_rng(3).uniform(0.5, 2, (2, 3))],
      lambda x: 2.0 * x + x / 3.0 - 1.5 ** x + x ** 2.5 - 4.0 / x)
_case("binary", "same_tensor", [_rng(4).uniform(0.5, 2, (3,))],
      lambda x: x * x + x / x + x - x + ng.squared_difference(x, 2 * x))


def _normals(seed, *shapes):
    r = _rng(seed)
    return [r.normal(size=shape) for shape in shapes]


def _where_inputs():
    r = _rng(7)
    return r.uniform(-1, 1, (3, 4)), r.uniform(-1, 1, (3, 4))


_WHERE_COND = np.array([[True, False, True, False], [False, False, True, True],
                        [True, True, False, False]])
for _name, _fn in (("where", ng.where), ("select", ng.select)):
    _case("binary", _name, _where_inputs(),
          lambda x, y, fn=_fn: fn(ng.constant(_WHERE_COND), x, y) * 1.5, own_test=True)
_case("binary", "where_vector_condition", _where_inputs(),
      lambda x, y: ng.where(ng.constant(np.array([True, False, True])), x, y) * x)
_case("binary", "where_v2_broadcast",
      (lambda r: [r.uniform(-1, 1, (3, 1)), r.uniform(-1, 1, (4,))])(_rng(8)),
      lambda x, y: ng.where_v2(ng.constant(np.array([True, False, False, True])), x, y))


@pytest.mark.parametrize("name,fn", [("where", ng.where), ("select", ng.select)],
                         ids=["where", "select"])
def test_where_gradient_same_shape(jacobians, name, fn):
    cond = _WHERE_COND
    a, b = _where_inputs()
    assert_jacobians(jacobians("binary", name), tol=TOL)
    # Also an exact check: the other branch gets zeros (not None).
    x, y = ng.placeholder(F64, [3, 4]), ng.placeholder(F64, [3, 4])
    gx, gy = ng.gradients(ng.reduce_sum(fn(ng.constant(cond), x, y)), [x, y])
    vx, vy = run([gx, gy], {x: a, y: b})
    np.testing.assert_array_equal(vx, cond.astype(float))
    np.testing.assert_array_equal(vy, (~cond).astype(float))


_case("binary", "add_n", _normals(9, (2, 3), (2, 3), (2, 3)),
      lambda x, y, z: ng.add_n([x, y, z, x]) * y)
_case("binary", "add_n_single", [_rng(10).normal(size=(3,))], lambda x: ng.add_n([x]) * 2.0)


# ------------------------------------------------------------------------------------- cast
def test_cast_float64_float32_float64_gradient():
    # Dyadic values and weights: the float32 round trip is exact, so FD must match exactly.
    xv = np.array([[0.5, -1.25, 2.0], [0.125, 3.0, -0.75]])
    w = np.array([[1.0, 2.0, -0.5], [4.0, 0.25, -3.0]])
    x = ng.placeholder(F64, [2, 3])
    y = ng.cast(ng.cast(x, ng.float32) * ng.constant(w.astype(np.float32)), F64)
    jt, jn = ng.test.compute_gradient(x, (2, 3), y, (2, 3), x_init_value=xv, delta=0.25)
    np.testing.assert_allclose(jt, jn, atol=1e-12)
    np.testing.assert_allclose(jt, np.diag(w.reshape(-1)), atol=1e-12)
    g, = ng.gradients(ng.reduce_sum(y), x)
    assert g.dtype == F64


def test_cast_float32_input_gradient():
    xv = np.array([0.5, -1.25, 2.0], dtype=np.float32)
    x = ng.placeholder(ng.float32, [3])
    y = ng.cast(x, F64) ** 2
    g, = ng.gradients(ng.reduce_sum(y), x)
    assert g.dtype == ng.float32
    np.testing.assert_allclose(run(g, {x: xv}), 2 * xv, rtol=1e-6)
    jt, jn = ng.test.compute_gradient(x, (3,), y, (3,), x_init_value=xv, delta=0.25)
    np.testing.assert_allclose(jt, jn, atol=1e-5)


def test_cast_to_int_gives_none():
    x = ng.placeholder(F64, [3])
    y = ng.cast(ng.cast(x, ng.int32), F64) * x
    g, = ng.gradients(ng.reduce_sum(ng.cast(ng.cast(x, ng.int32), F64)), x)
    assert g is None
    g2, = ng.gradients(ng.reduce_sum(y), x)
    xv = np.array([1.5, 2.7, -3.2])
    np.testing.assert_allclose(run(g2, {x: xv}), np.trunc(xv))


# ------------------------------------------------------------------------------------ matmul
_TRANSPOSES = [(ta, tb) for tb in (False, True) for ta in (False, True)]
for _ta, _tb in _TRANSPOSES:
    _case("matmul", f"{_ta}-{_tb}",
          _normals(11, (4, 2) if _ta else (2, 4), (3, 4) if _tb else (4, 3)),
          lambda x, y, ta=_ta, tb=_tb: ng.matmul(x, y, transpose_a=ta, transpose_b=tb))
    _case("matmul", f"batch-{_ta}-{_tb}",
          _normals(12, (2, 4, 3) if _ta else (2, 3, 4), (2, 2, 4) if _tb else (2, 4, 2)),
          lambda x, y, ta=_ta, tb=_tb: ng.matmul(x, y, transpose_a=ta, transpose_b=tb))


_BATCH_BROADCAST = [((2, 1, 2, 3), (3, 3, 2)), ((2, 3, 4), (4, 2)), ((3, 2), (2, 2, 3)),
                    ((1, 2, 3), (2, 3, 2))]
for _sa, _sb in _BATCH_BROADCAST:
    _case("matmul", f"broadcast-{_sa}x{_sb}", _normals(13, _sa, _sb), ng.matmul)
_case("matmul", "operator", _normals(14, (2, 3), (3, 2)), lambda x, y: x @ y)


def test_matmul_gradient_closed_form():
    r = _rng(15)
    a, b, up = r.normal(size=(2, 3)), r.normal(size=(3, 4)), r.normal(size=(2, 4))
    x, y = ng.placeholder(F64, [2, 3]), ng.placeholder(F64, [3, 4])
    ga, gb = ng.gradients(ng.matmul(x, y), [x, y], grad_ys=ng.constant(up))
    va, vb = run([ga, gb], {x: a, y: b})
    np.testing.assert_allclose(va, up @ b.T, rtol=1e-12)
    np.testing.assert_allclose(vb, a.T @ up, rtol=1e-12)


# -------------------------------------------------------------------------------- reductions
_REDUCE = {
    "sum": ng.reduce_sum, "mean": ng.reduce_mean, "max": ng.reduce_max,
    "min": ng.reduce_min, "prod": ng.reduce_prod,
}
_AXES = [None, 0, 1, -1, [0, 2], (1, 2), [0, 1, 2]]


# The default run takes every reduction on every axis, keepdims alternating from one
# reduction to the next (the columns' order); NUMGRAD_SLOW=1 both keepdims for each.
_REDUCE_CELLS = [(name, axis, keepdims) for name, (keepdims, axis) in cover(
    sorted(_REDUCE), [(k, a) for k in (False, True) for a in _AXES], per_row=len(_AXES))]


_REDUCE_IDS = [f"{n}-{a}-{k}" for n, a, k in _REDUCE_CELLS]


def _reduce_input():
    # distinct values (no ties), away from zero (prod)
    r = _rng(16)
    return r.permutation(np.linspace(0.6, 1.6, 24)).reshape(2, 3, 4) * r.choice([-1, 1],
                                                                                (2, 3, 4))


for _cell, (_name, _axis, _keep) in zip(_REDUCE_IDS, _REDUCE_CELLS):
    _case("reduce", _cell, [_reduce_input()],
          lambda x, f=_REDUCE[_name], axis=_axis, keep=_keep: f(x, axis=axis, keepdims=keep))
for _name in sorted(_REDUCE):
    _case("reduce", f"1d-{_name}", [[0.7, -1.3, 1.1, 0.9]],
          lambda x, f=_REDUCE[_name]: f(x) * 2.0)
for _name in ("sum", "prod"):
    # tf.reduce_*(x, axis=[]) reduces nothing: gradient is the identity
    _case("reduce", f"empty-axis-{_name}", [[[0.7, -1.3], [1.1, 0.9]]],
          lambda x, f=_REDUCE[_name]: f(x, axis=[]))
_case("reduce", "reduction_indices", [_rng(17).normal(size=(3, 2))],
      lambda x: ng.reduce_sum(x, reduction_indices=[0]))


def test_mean_is_sum_over_count():
    a = _rng(18).normal(size=(2, 3, 4))
    x = ng.placeholder(F64, [2, 3, 4])
    up = _rng(19).normal(size=(2, 4))
    g, = ng.gradients(ng.reduce_mean(x, axis=1), x, grad_ys=ng.constant(up))
    expected = np.broadcast_to(up[:, None, :] / 3.0, (2, 3, 4))
    np.testing.assert_allclose(run(g, {x: a}), expected, rtol=1e-14)
    g_all, = ng.gradients(ng.reduce_mean(x), x)
    np.testing.assert_allclose(run(g_all, {x: a}), np.full((2, 3, 4), 1 / 24.0), rtol=1e-14)


def test_reduce_max_ties_share_equally():
    xv = np.array([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0], [0.0, 5.0, -1.0]])
    x = ng.placeholder(F64, [3, 3])
    g1, = ng.gradients(ng.reduce_max(x, axis=1), x)
    g0, = ng.gradients(ng.reduce_max(x), x)
    up = np.array([2.0, 3.0, 1.0])
    g2, = ng.gradients(ng.reduce_max(x, axis=1, keepdims=True), x,
                       grad_ys=ng.constant(up.reshape(3, 1)))
    v1, v0, v2 = run([g1, g0, g2], {x: xv})
    np.testing.assert_allclose(v1, [[0, .5, .5], [1 / 3, 1 / 3, 1 / 3], [0, 1, 0]], rtol=1e-14)
    e0 = np.zeros((3, 3))
    e0[2, 1] = 1
    np.testing.assert_allclose(v0, e0)
    np.testing.assert_allclose(v2, [[0, 1, 1], [1, 1, 1], [0, 1, 0]], rtol=1e-14)


def test_reduce_min_ties_share_equally():
    xv = np.array([1.0, -2.0, 4.0, -2.0, -2.0, 0.0])
    x = ng.placeholder(F64, [6])
    g, = ng.gradients(ng.reduce_min(x) * 6.0, x)
    np.testing.assert_allclose(run(g, {x: xv}), [0, 2, 0, 2, 2, 0], rtol=1e-14)


def _prod_grad_np(x, axis):
    """Hand-rolled product-of-others along axis (loops; exact with zeros)."""
    x = np.moveaxis(x, axis, -1)
    out = np.empty_like(x)
    n = x.shape[-1]
    for idx in np.ndindex(x.shape[:-1]):
        row = x[idx]
        for k in range(n):
            out[idx + (k,)] = np.prod(np.delete(row, k))
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("xv,expected", [
    ([2.0, 0.0, 3.0], [0.0, 6.0, 0.0]),
    ([2.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 0.0]),
    ([0.0], [1.0]),
    ([2.0, -4.0, 0.5], [-2.0, 1.0, -8.0]),
])
def test_reduce_prod_with_zeros_1d(xv, expected):
    x = ng.placeholder(F64, [len(xv)])
    g, = ng.gradients(ng.reduce_prod(x), x)
    np.testing.assert_allclose(run(g, {x: np.array(xv)}), expected, rtol=1e-14, atol=0)


def test_reduce_prod_with_zeros_2d_axes():
    xv = np.array([[2.0, 0.0, 3.0, 1.5],
                   [0.0, 4.0, 0.0, 2.0],
                   [1.0, 2.0, 3.0, 4.0]])
    x = ng.placeholder(F64, [3, 4])
    up1 = np.array([1.0, 2.0, -1.0])
    g1, = ng.gradients(ng.reduce_prod(x, axis=1), x, grad_ys=ng.constant(up1))
    g0, = ng.gradients(ng.reduce_prod(x, axis=0, keepdims=True), x)
    gall, = ng.gradients(ng.reduce_prod(x), x)
    v1, v0, vall = run([g1, g0, gall], {x: xv})
    exp1 = np.array([[0.0, 9.0, 0.0, 0.0],     # one zero: only it gets a gradient
                     [0.0, 0.0, 0.0, 0.0],      # two zeros: all zero
                     [24.0, 12.0, 8.0, 6.0]]) * up1[:, None]
    np.testing.assert_allclose(_prod_grad_np(xv, 1) * up1[:, None], exp1)
    np.testing.assert_allclose(v1, exp1, rtol=1e-14)
    np.testing.assert_allclose(v0, _prod_grad_np(xv, 0), rtol=1e-14)
    np.testing.assert_allclose(vall, np.zeros((3, 4)))  # three zeros overall


def test_reduce_prod_one_zero_whole_tensor():
    xv = np.array([[2.0, 0.5], [0.0, -3.0]])
    x = ng.placeholder(F64, [2, 2])
    g, = ng.gradients(ng.reduce_prod(x), x)
    np.testing.assert_allclose(run(g, {x: xv}), [[0, 0], [-3.0, 0]], rtol=1e-14)


# With exactly one zero the product is locally multilinear: FD is exact there too.
_case("reduce", "prod-one-zero", [[[1.5, 0.0, -2.0], [0.5, 0.7, 1.2]]],
      lambda x: ng.reduce_prod(x, axis=1))


# ------------------------------------------------------------------------------- array ops
def _a(shape, seed=20):
    return _rng(seed).normal(size=shape)


_ARRAY_CASES = [
    ("reshape", (2, 3, 2), lambda x: ng.reshape(x, [3, 4])),
    ("reshape_minus1", (2, 3, 2), lambda x: ng.reshape(x, [-1, 2]) * ng.reshape(x, [6, 2])),
    ("transpose_default", (2, 3, 4), lambda x: ng.transpose(x)),
    ("transpose_perm", (2, 3, 4), lambda x: ng.transpose(x, [1, 2, 0])),
    ("expand_dims_0", (2, 3), lambda x: ng.expand_dims(x, 0)),
    ("expand_dims_neg", (2, 3), lambda x: ng.expand_dims(x, -1) * ng.expand_dims(x, 1)),
    ("squeeze_all", (1, 3, 1), lambda x: ng.squeeze(x)),
    ("squeeze_axis", (1, 3, 1), lambda x: ng.squeeze(x, axis=[2])),
    ("concat_0", (2, 3), lambda x: ng.concat([x, x * x, ng.sin(x)], 0)),
    ("concat_1", (2, 3), lambda x: ng.concat([x, 2 * x[:, :2]], 1)),
    ("concat_neg", (2, 3), lambda x: ng.concat([x[:1], ng.exp(x)], -2)),
    ("stack_0", (2, 3), lambda x: ng.stack([x, x * x])),
    ("stack_1", (2, 3), lambda x: ng.stack([x, 3 * x, ng.cos(x)], axis=1)),
    ("stack_neg", (2, 3), lambda x: ng.stack([x, ng.square(x)], axis=-1)),
    ("unstack_all", (3, 2), lambda x: ng.stack(list(reversed(ng.unstack(x))))
     * ng.unstack(x)[0]),
    ("unstack_axis1", (2, 3), lambda x: ng.unstack(x, axis=1)[2] * 2.0
     + ng.unstack(x, axis=1)[0] ** 2),
    ("tile_2d", (2, 3), lambda x: ng.tile(x, [2, 3])),
    ("tile_3d", (2, 1, 3), lambda x: ng.tile(x, [1, 2, 2]) * ng.tile(x, [1, 2, 2])),
    ("slice", (3, 4, 2), lambda x: ng.slice(x, [1, 0, 1], [2, -1, 1])),
    ("slice_full", (3, 4), lambda x: ng.slice(x, [0, 1], [3, 2])),
    ("gather_axis0", (4, 3), lambda x: ng.gather(x, [2, 0, 2, 3])),
    ("gather_axis0_2d_idx", (4, 3), lambda x: ng.gather(x, [[1, 1], [3, 0]]) ** 2),
    ("gather_axis1", (3, 4), lambda x: ng.gather(x, [3, 1, 3], axis=1)),
    ("gather_axis1_2d_idx", (2, 4, 2), lambda x: ng.gather(x, [[0, 3], [3, 3]], axis=1)),
    ("gather_axis_neg", (2, 3), lambda x: ng.gather(x, [2, 2, 0], axis=-1)),
    ("gather_int64_idx", (4, 2), lambda x: ng.gather(x, ng.constant(np.array([3, 1, 3],
                                                                              np.int64)))),
    ("broadcast_to_vec", (3,), lambda x: ng.broadcast_to(x, [2, 3])),
    ("broadcast_to_col", (2, 1), lambda x: ng.broadcast_to(x, [2, 4])),
    ("broadcast_to_scalar", (), lambda x: ng.broadcast_to(x, [2, 2])),
    ("broadcast_to_3d", (1, 3), lambda x: ng.broadcast_to(x, [2, 2, 3])),
    ("getitem_basic", (4, 5, 3), lambda x: x[1:3, ::2]),
    ("getitem_neg_step", (4, 5, 3), lambda x: x[::-1, 1, -2:]),
    ("getitem_ellipsis", (4, 5, 3), lambda x: x[..., ::-2]),
    ("getitem_newaxis", (4, 5, 3), lambda x: x[:, None, 1:4:2, ...]),
    ("getitem_int", (4, 5, 3), lambda x: x[-1]),
    ("getitem_ellipsis_newaxis_int", (4, 5, 3), lambda x: x[..., None, 0]),
    ("getitem_neg_bounds", (4, 5, 3), lambda x: x[3:0:-2, -1:-4:-1]),
    ("getitem_scalar", (4, 5, 3), lambda x: x[2, -1, 1] * x[0, 0, 0]),
    ("getitem_overlap", (4,), lambda x: x[1:] * x[:-1] + x[::2][1]),
    ("identity", (2, 2), lambda x: ng.identity(x) * x),
]


for _name, _shape, _fn in _ARRAY_CASES:
    _case("array", _name, [_a(_shape)], _fn)


def test_unstack_unused_outputs_get_zeros():
    xv = _a((3, 2))
    x = ng.placeholder(F64, [3, 2])
    g, = ng.gradients(ng.unstack(x)[1] * 5.0, x)
    np.testing.assert_array_equal(run(g, {x: xv}), [[0, 0], [5, 5], [0, 0]])


_case("array", "concat_two_inputs", _normals(21, (2, 3), (2, 1)),
      lambda x, y: ng.concat([x, y * y, x[:, :1]], axis=1))
_case("array", "stack_two_inputs", _normals(22, (3,), (3,)),
      lambda x, y: ng.stack([x * y, y, x], axis=1))
# sparse (gather) + dense contributions
_case("array", "gather_and_dense", [_a((4, 3))], lambda x: ng.gather(x, [1, 1, 0]) + x[:3] * 2.0)


def test_tile_gradient_closed_form():
    xv = np.arange(6.0).reshape(2, 3)
    x = ng.placeholder(F64, [2, 3])
    up = np.arange(36.0).reshape(4, 9)
    g, = ng.gradients(ng.tile(x, [2, 3]), x, grad_ys=ng.constant(up))
    expected = up.reshape(2, 2, 3, 3).sum(axis=(0, 2))
    np.testing.assert_allclose(run(g, {x: xv}), expected)


def test_getitem_gradient_closed_form():
    x = ng.placeholder(F64, [5, 4])
    up = _rng(23).normal(size=(2, 2))
    g, = ng.gradients(x[4:0:-2, 1::2], x, grad_ys=ng.constant(up))
    expected = np.zeros((5, 4))
    expected[4:0:-2, 1::2] = up
    np.testing.assert_allclose(run(g, {x: np.zeros((5, 4))}), expected)


# ------------------------------------------------------------------------------------- nn ops
_case("nn", "relu", [_sym((3, 4), seed=24)], lambda x: ng.nn.relu(x) * x)
for _axis in (None, -1, 0, 1):
    _case("nn", f"softmax-{_axis}", [_rng(25).normal(size=(2, 3, 4))],
          lambda x, axis=_axis: ng.nn.softmax(x, axis=axis) if axis is not None
          else ng.nn.softmax(x))
for _axis in (None, -1, 0):
    _case("nn", f"log_softmax-{_axis}", [_rng(26).normal(size=(3, 4))],
          lambda x, axis=_axis: ng.nn.log_softmax(x, axis=axis) if axis is not None
          else ng.nn.log_softmax(x))
_SIGMOID_CE = (_sym((3, 4), 0.2, 3.0, seed=28), _rng(27).uniform(0, 1, (3, 4)))
_case("nn", "sigmoid_ce", _SIGMOID_CE, lambda lg, lb: ng.nn.sigmoid_cross_entropy_with_logits(
    labels=lb, logits=lg), own_test=True)


def test_sigmoid_cross_entropy_both_inputs(jacobians):
    logits, labels = _SIGMOID_CE
    assert_jacobians(jacobians("nn", "sigmoid_ce"), tol=TOL)
    # closed form: d/dlogits = sigmoid(x) - z ; d/dlabels = -x
    x, z = ng.placeholder(F64, [3, 4]), ng.placeholder(F64, [3, 4])
    gx, gz = ng.gradients(ng.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=x), [x, z])
    vx, vz = run([gx, gz], {x: logits, z: labels})
    np.testing.assert_allclose(vx, 1 / (1 + np.exp(-logits)) - labels, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vz, -logits, rtol=1e-14)


def _log_softmax_np(a, axis=-1):
    m = a.max(axis=axis, keepdims=True)
    return a - m - np.log(np.exp(a - m).sum(axis=axis, keepdims=True))


_SOFTMAX_CE = (lambda r: (r.normal(size=(3, 4)), r.dirichlet(np.ones(4), size=3)))(_rng(29))
_case("nn", "softmax_ce_v2", _SOFTMAX_CE,
      lambda lg, lb: ng.nn.softmax_cross_entropy_with_logits_v2(labels=lb, logits=lg),
      own_test=True)


def test_softmax_cross_entropy_v2_both_inputs(jacobians):
    logits, labels = _SOFTMAX_CE
    assert_jacobians(jacobians("nn", "softmax_ce_v2"), tol=TOL)
    x, z = ng.placeholder(F64, [3, 4]), ng.placeholder(F64, [3, 4])
    up = np.array([1.0, -2.0, 0.5])
    loss = ng.nn.softmax_cross_entropy_with_logits_v2(labels=z, logits=x)
    gx, gz = ng.gradients(loss, [x, z], grad_ys=ng.constant(up))
    vx, vz = run([gx, gz], {x: logits, z: labels})
    sm = np.exp(_log_softmax_np(logits))
    np.testing.assert_allclose(vx, up[:, None] * (sm * labels.sum(1, keepdims=True) - labels),
                               rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(vz, -up[:, None] * _log_softmax_np(logits), rtol=1e-12)


def _dist(shape, axis=-1, seed=0):
    """Random probability vectors along `axis` (TF's kernel assumes normalised labels)."""
    a = _rng(seed).uniform(0.1, 1.0, shape)
    return a / a.sum(axis=axis, keepdims=True)


_case("nn", "softmax_ce_v1", [_rng(30).normal(size=(2, 3))],
      lambda lg: ng.nn.softmax_cross_entropy_with_logits(labels=_dist((2, 3), seed=30),
                                                         logits=lg), own_test=True)


def test_softmax_cross_entropy_alias_v1_name(jacobians):
    """The v1 function differentiates in the logits only: TF wraps its labels in stop_gradient
    (the labels' gradient is None; test_tf_fidelity.py has TF's numbers)."""
    r = _rng(30)
    assert_jacobians(jacobians("nn", "softmax_ce_v1"), tol=TOL)
    lb = ng.placeholder(ng.float64, [2, 3])
    loss = ng.nn.softmax_cross_entropy_with_logits(labels=lb, logits=r.normal(size=(2, 3)))
    assert ng.gradients(loss, lb)[0] is None


_CE_RANKS = [((2, 2, 3), -1), ((3, 2), 0), ((2, 3, 2), 1)]
for _shape, _axis in _CE_RANKS:
    _case("nn", f"softmax_ce_v2-{_shape}-{_axis}",
          [_rng(31).normal(size=_shape), _dist(_shape, _axis, seed=31)],
          lambda lg, lb, axis=_axis: ng.nn.softmax_cross_entropy_with_logits_v2(
              labels=lb, logits=lg, axis=axis))


def _clip_input():
    a = _rng(32).uniform(-0.9, 0.9, (3, 4))
    a[0, 0], a[1, 1] = -1.7, 1.6  # clipped points (zero gradient, also FD-zero)
    return a


_case("nn", "clip", [_clip_input()], lambda x: ng.clip_by_value(x, -1.0, 1.0) * 2.0)
_CLIP_BOUNDS = (lambda r: [r.uniform(-0.5, 0.5, (2, 3)), r.uniform(-2, -1, (2, 3)),
                           r.uniform(1, 2, (2, 3))])(_rng(33))
_case("nn", "clip_tensor_bounds", _CLIP_BOUNDS[:1],
      lambda x: ng.clip_by_value(x, ng.constant(_CLIP_BOUNDS[1]), ng.constant(_CLIP_BOUNDS[2])))


# ------------------------------------------------------------------ placeholders with None dims
_case("none_dims", "add_mul", _normals(34, (2, 3), (3,)), lambda x, b: (x + b) * b,
      ph_shapes=[[None, 3], [3]], y_shape=(2, 3))
_case("none_dims", "both_unknown", _normals(35, (2, 1), (1, 3)),
      lambda x, y: x * y + ng.maximum(x, y), ph_shapes=[[None, None], [None, None]],
      y_shape=(2, 3))
_UNKNOWN_RANK = _normals(36, (2, 3), (3,), (2, 3))
_case("none_dims", "unknown_rank", _UNKNOWN_RANK[:2], lambda x, b: ng.reduce_sum(x * b, axis=0),
      ph_shapes=[ng.TensorShape(None), [None]], y_shape=(3,))
_case("none_dims", "unknown_rank_scalar_out", _UNKNOWN_RANK[2:],
      lambda x: ng.reduce_mean(ng.square(x)), ph_shapes=[ng.TensorShape(None)], y_shape=())


# With None dims, each reduction on one of the three axis lists, rotating (every reduction
# and every axis list; test_reduction_gradient takes each reduction on every axis list with
# static shapes); NUMGRAD_SLOW=1 every cell.
_NONE_DIMS_CELLS = cover(sorted(_REDUCE), [None, 1, [0, 2]])


_NONE_DIMS_IDS = [f"{a}-{n}" for n, a in _NONE_DIMS_CELLS]
_NONE_DIMS_INPUT = _rng(37).permutation(np.linspace(0.6, 1.6, 12)).reshape(2, 3, 2)
for _cell, (_name, _axis) in zip(_NONE_DIMS_IDS, _NONE_DIMS_CELLS):
    _case("none_dims", _cell, [_NONE_DIMS_INPUT],
          lambda x, f=_REDUCE[_name], axis=_axis: f(x, axis=axis), ph_shapes=[[None, 3, None]],
          y_shape=np.asarray(np.sum(_NONE_DIMS_INPUT, axis=tuple(_axis) if isinstance(
              _axis, list) else _axis)).shape)


def _none_dims_array_ops(x):
    t = ng.tile(x, [2, 1])
    c = ng.concat([t, x], 0)
    g = ng.gather(c, [0, 4, 8, 4])
    e = ng.squeeze(ng.expand_dims(g, 0), [0])
    rsh = ng.reshape(ng.transpose(e), [-1])
    return rsh * ng.reshape(x[1:3], [-1])[:1] + ng.reduce_sum(x[::-1, 1])


_case("none_dims", "matmul_softmax", _normals(38, (2, 3), (3, 4)),
      lambda x, w: ng.nn.softmax(ng.matmul(x, w)), ph_shapes=[[None, 3], [3, None]],
      y_shape=(2, 4))
_case("none_dims", "batch_matmul", _normals(39, (2, 2, 3), (3, 2)), ng.matmul,
      ph_shapes=[[None, 2, 3], [3, 2]], y_shape=(2, 2, 2))
_case("none_dims", "array_ops", [_a((3, 2), seed=40)], _none_dims_array_ops,
      ph_shapes=[[None, 2]], y_shape=(8,))
_case("none_dims", "gather_axis1_and_slices", [_a((2, 4), seed=41)],
      lambda x: ng.gather(x, [3, 0, 3], axis=1) * x[:, 1:2], ph_shapes=[[None, None]],
      y_shape=(2, 3))
_case("none_dims", "cross_entropy", [_rng(42).normal(size=(3, 4)), _dist((3, 4), seed=42)],
      lambda lg, lb: ng.nn.softmax_cross_entropy_with_logits_v2(labels=lb, logits=lg)
      + ng.reduce_sum(ng.nn.sigmoid_cross_entropy_with_logits(labels=lb, logits=lg), axis=1),
      ph_shapes=[[None, 4], [None, 4]], y_shape=(3,))


# ------------------------------------------------------------- the cases defined above, at TOL
_PLAIN_CASES = [(section, name) for section, cases in _SECTIONS.items()
                if section not in _OWN_TEST_SECTIONS
                for name in cases if (section, name) not in _OWN_TEST]


@pytest.mark.parametrize("section,name", _PLAIN_CASES, ids=[f"{s}-{n}" for s, n in _PLAIN_CASES])
def test_case_gradient(jacobians, section, name):
    """Each case's analytic Jacobians against central finite differences."""
    assert_jacobians(jacobians(section, name), tol=TOL)


# --------------------------------------------------------------------- exact rule values (spec)
def test_abs_gradient_at_zero_is_zero():
    x = ng.placeholder(F64, [4])
    g, = ng.gradients(ng.abs(x), x)
    np.testing.assert_array_equal(run(g, {x: np.array([-2.0, 0.0, 3.0, -0.0])}),
                                  [-1.0, 0.0, 1.0, 0.0])


def test_relu_gradient_at_zero_is_zero():
    x = ng.placeholder(F64, [4])
    g, = ng.gradients(ng.nn.relu(x), x, grad_ys=ng.constant(np.array([5.0, 5.0, 5.0, 5.0])))
    np.testing.assert_array_equal(run(g, {x: np.array([-1.0, 0.0, 2.0, 1e-300])}),
                                  [0.0, 0.0, 5.0, 5.0])


@pytest.mark.parametrize("fn", [ng.maximum, ng.minimum], ids=["maximum", "minimum"])
def test_max_min_ties_go_to_first_operand(fn):
    xv = np.array([1.0, 2.0, 3.0, -1.0])
    yv = np.array([1.0, 0.0, 3.0, 4.0])
    x, y = ng.placeholder(F64, [4]), ng.placeholder(F64, [4])
    up = np.array([1.0, 2.0, 3.0, 4.0])
    gx, gy = ng.gradients(fn(x, y), [x, y], grad_ys=ng.constant(up))
    vx, vy = run([gx, gy], {x: xv, y: yv})
    if fn is ng.maximum:
        ex = np.array([1.0, 2.0, 3.0, 0.0])
    else:
        ex = np.array([1.0, 0.0, 3.0, 4.0])
    np.testing.assert_array_equal(vx, ex)
    np.testing.assert_array_equal(vy, up - ex)
    # swapped: now y is the first operand and takes the ties
    gy2, gx2 = ng.gradients(fn(y, x), [y, x], grad_ys=ng.constant(up))
    vy2, vx2 = run([gy2, gx2], {x: xv, y: yv})
    ties = xv == yv
    np.testing.assert_array_equal(vy2[ties], up[ties])
    np.testing.assert_array_equal(vx2[ties], 0.0)


def test_maximum_tie_with_broadcast_scalar():
    x = ng.placeholder(F64, [2, 3])
    c = ng.placeholder(F64, [])
    xv = np.array([[0.0, 1.0, -1.0], [0.0, 2.0, 0.0]])
    gx, gc = ng.gradients(ng.maximum(x, c), [x, c])
    vx, vc = run([gx, gc], {x: xv, c: 0.0})
    np.testing.assert_array_equal(vx, (xv >= 0).astype(float))
    assert vc == 1.0  # only the -1 entry, where c strictly wins
    gc2, gx2 = ng.gradients(ng.minimum(c, x), [c, x])
    vc2, vx2 = run([gc2, gx2], {x: xv, c: 0.0})
    assert vc2 == 5.0  # c <= x at the three ties and at 1, 2
    np.testing.assert_array_equal(vx2, (xv < 0).astype(float))


def test_pow_gradients_at_nonpositive_base():
    x, y = ng.placeholder(F64, [4]), ng.placeholder(F64, [4])
    xv = np.array([-2.0, 0.0, 3.0, 0.0])
    yv = np.array([2.0, 2.0, 2.0, 0.0])
    gx, gy = ng.gradients(ng.pow(x, y), [x, y])
    vx, vy = run([gx, gy], {x: xv, y: yv})
    np.testing.assert_allclose(vx[:3], [-4.0, 0.0, 6.0], rtol=1e-14)
    assert np.isnan(vx[3]), "pow(0, 0): gradient w.r.t. x should be NaN"
    np.testing.assert_allclose(vy, [0.0, 0.0, 9.0 * math.log(3.0), 0.0], rtol=1e-14)
    assert np.all(np.isfinite(vy))


def test_pow_gradient_wrt_exponent_broadcast_nonpositive():
    x = ng.placeholder(F64, [3])
    y = ng.placeholder(F64, [])
    xv = np.array([-1.0, 0.0, 2.0])
    gy, = ng.gradients(ng.pow(x, y), y)
    np.testing.assert_allclose(run(gy, {x: xv, y: 3.0}), 8.0 * math.log(2.0), rtol=1e-14)


def test_clip_by_value_gradient_one_on_boundaries():
    x = ng.placeholder(F64, [6])
    xv = np.array([-1.0, 0.0, 0.5, 1.0, 2.0, 1.0])
    g, = ng.gradients(ng.clip_by_value(x, 0.0, 1.0), x)
    np.testing.assert_array_equal(run(g, {x: xv}), [0.0, 1.0, 1.0, 1.0, 0.0, 1.0])


def test_clip_by_value_degenerate_interval():
    x = ng.placeholder(F64, [3])
    g, = ng.gradients(ng.clip_by_value(x, 0.5, 0.5), x)
    np.testing.assert_array_equal(run(g, {x: np.array([0.0, 0.5, 1.0])}), [0.0, 1.0, 0.0])


def test_sign_gradient_is_zeros_not_none():
    x = ng.placeholder(F64, [3])
    g, = ng.gradients(ng.sign(x), x)
    assert g is not None
    v = run(g, {x: np.array([-1.0, 0.0, 2.0])})
    np.testing.assert_array_equal(v, np.zeros(3))
    assert v.shape == (3,)


# ----------------------------------------------------------------------------- sparse gradients
def test_gather_axis0_gradient_is_indexed_slices(sess):
    p = ng.placeholder(F64, [4, 3])
    idx = np.array([[0, 2], [2, 1]])
    up = np.arange(12.0).reshape(2, 2, 3)
    g, = ng.gradients(ng.gather(p, idx), p, grad_ys=ng.constant(up))
    assert isinstance(g, ng.IndexedSlices)
    v = sess.run(g, {p: np.zeros((4, 3))})
    assert isinstance(v, ng.IndexedSlicesValue)
    np.testing.assert_array_equal(v.values, up.reshape(4, 3))
    np.testing.assert_array_equal(v.indices, [0, 2, 2, 1])
    np.testing.assert_array_equal(v.dense_shape, [4, 3])
    expected = np.zeros((4, 3))
    np.add.at(expected, idx.reshape(-1), up.reshape(4, 3))
    np.testing.assert_array_equal(densify_value(v), expected)


def test_gather_axis0_repeated_indices_densified(sess):
    p = ng.placeholder(F64, [4, 2])
    w = np.array([[1.0, 2.0], [10.0, 20.0], [100.0, 200.0]])
    g, = ng.gradients(ng.reduce_sum(ng.gather(p, [1, 3, 1]) * w), p)
    assert isinstance(g, ng.IndexedSlices)
    d1 = ng.convert_to_tensor(g)
    d2 = g + ng.zeros([4, 2], F64)
    d3 = ng.add(ng.ones([4, 2], F64), g)
    v1, v2, v3 = sess.run([d1, d2, d3], {p: np.zeros((4, 2))})
    expected = np.array([[0, 0], [101.0, 202.0], [0, 0], [10.0, 20.0]])
    np.testing.assert_array_equal(v1, expected)
    np.testing.assert_array_equal(v2, expected)
    np.testing.assert_array_equal(v3, expected + 1)


def test_gather_axis0_1d_params_and_scalar_index(sess):
    p = ng.placeholder(F64, [5])
    g, = ng.gradients(ng.gather(p, 3) * 2.0 + ng.gather(p, [3, 3, 0]), p)
    # sparse + sparse -> IndexedSlices ; values from two sources
    v = sess.run(ng.convert_to_tensor(g), {p: np.zeros(5)})
    # y has 3 elements; the scalar gather is broadcast over them: 3 * 2 + 2 at index 3
    np.testing.assert_array_equal(v, [1.0, 0, 0, 8.0, 0])


def test_two_gathers_aggregate_into_indexed_slices(sess):
    p = ng.placeholder(F64, [4, 2])
    w1 = np.array([[1.0, 2.0], [3.0, 4.0]])
    w2 = np.array([[10.0, 20.0], [30.0, 40.0]])
    y = ng.reduce_sum(ng.gather(p, [0, 1]) * w1) + ng.reduce_sum(ng.gather(p, [1, 3]) * w2)
    g, = ng.gradients(y, p)
    assert isinstance(g, ng.IndexedSlices)
    v = sess.run(g, {p: np.zeros((4, 2))})
    assert isinstance(v, ng.IndexedSlicesValue)
    assert sorted(np.asarray(v.indices).tolist()) == [0, 1, 1, 3]
    assert v.values.shape == (4, 2)
    # each (index, row) pair comes from one of the gathers, in some order
    pairs = sorted((int(i), tuple(r)) for i, r in zip(v.indices, v.values))
    assert pairs == sorted([(0, (1.0, 2.0)), (1, (3.0, 4.0)), (1, (10.0, 20.0)),
                            (3, (30.0, 40.0))])
    np.testing.assert_array_equal(v.dense_shape, [4, 2])
    np.testing.assert_array_equal(densify_value(v),
                                  [[1, 2], [13, 24], [0, 0], [30, 40]])


@pytest.mark.parametrize("method", [None, ng.AggregationMethod.ADD_N,
                                    ng.AggregationMethod.EXPERIMENTAL_TREE,
                                    ng.AggregationMethod.EXPERIMENTAL_ACCUMULATE_N])
def test_gather_plus_dense_use_aggregates_dense(sess, method):
    p = ng.placeholder(F64, [3, 2])
    pv = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = ng.reduce_sum(ng.gather(p, [2, 2, 0])) + ng.reduce_sum(p * p)
    g, = ng.gradients(y, p, aggregation_method=method)
    assert isinstance(g, ng.Tensor)
    expected = 2 * pv + np.array([[1, 1], [0, 0], [2, 2]])
    np.testing.assert_allclose(sess.run(g, {p: pv}), expected)


def test_gather_indexed_slices_through_identity_cast_neg(sess):
    p = ng.placeholder(F64, [4, 2])
    y = ng.reduce_sum(ng.gather(ng.identity(p), [1, 1]))
    y += ng.reduce_sum(ng.gather(-p, [2]))
    y += ng.reduce_sum(ng.cast(ng.gather(ng.cast(p, ng.float32), [0]), F64))
    g, = ng.gradients(y, p)
    assert isinstance(g, ng.IndexedSlices)
    v = sess.run(g, {p: np.zeros((4, 2))})
    np.testing.assert_allclose(densify_value(v), [[1, 1], [2, 2], [-1, -1], [0, 0]])


def test_gather_gradient_fd_via_compute_gradient():
    # compute_gradient densifies the IndexedSlicesValue; FD is independent (this check runs
    # ng.test.compute_gradient itself: the sections' batches densify on their own)
    check_jacobians([_a((5, 2), seed=43)],
                    lambda x: ng.gather(x, [[4, 0, 4], [1, 4, 4]]) * ng.gather(x, [0, 0, 1]))


# ------------------------------------------------------------------------- second derivatives
_SECOND = [
    ("tanh", ng.tanh, lambda s: _rng(50).uniform(-1.5, 1.5, s),
     lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2)),
    ("sigmoid", ng.sigmoid, lambda s: _rng(51).uniform(-2, 2, s),
     lambda x: (lambda s_: s_ * (1 - s_) * (1 - 2 * s_))(1 / (1 + np.exp(-x)))),
    ("sqrt", ng.sqrt, lambda s: _rng(52).uniform(0.5, 2, s), lambda x: -0.25 * x ** -1.5),
    ("exp", ng.exp, lambda s: _rng(53).uniform(-1, 1, s), np.exp),
    ("sin", ng.sin, lambda s: _rng(54).uniform(-2, 2, s), lambda x: -np.sin(x)),
    ("cube", lambda x: x ** 3, lambda s: _rng(55).uniform(0.3, 1.5, s), lambda x: 6 * x),
    ("cube_mul", lambda x: x * x * x, lambda s: _rng(56).uniform(-1.5, 1.5, s),
     lambda x: 6 * x),
    ("rsqrt", ng.rsqrt, lambda s: _rng(57).uniform(0.5, 2, s), lambda x: 0.75 * x ** -2.5),
    ("log", ng.log, lambda s: _rng(58).uniform(0.5, 2, s), lambda x: -1 / x ** 2),
    ("reciprocal", ng.reciprocal, lambda s: _rng(59).uniform(0.5, 2, s),
     lambda x: 2 / x ** 3),
    ("square", ng.square, lambda s: _rng(60).uniform(-2, 2, s), lambda x: 2 + 0 * x),
    ("cos", ng.cos, lambda s: _rng(61).uniform(-2, 2, s), lambda x: -np.cos(x)),
    ("erf", ng.erf, lambda s: _rng(62).uniform(-1, 1, s),
     lambda x: -4 * x / np.sqrt(np.pi) * np.exp(-x * x)),
]


SECOND_TOL = 1e-5      # the second derivatives' finite differences of computed gradients

for _name, _fn, _gen, _ in _SECOND:
    _case("second", _name, [_gen((2, 3))], _second(_fn))


def _second_checked(jacobians, name):
    """The case's analytic second derivative, checked against finite differences of its
    first (each of its entries must also be finite, and some numerical one not ~0)."""
    (jt, _), = assert_jacobians(jacobians("second", name), tol=SECOND_TOL)
    return jt


@pytest.mark.parametrize("name,fn,gen,d2", _SECOND, ids=[c[0] for c in _SECOND])
def test_second_derivative_elementwise(jacobians, name, fn, gen, d2):
    xv = gen((2, 3))
    jt = _second_checked(jacobians, name)
    np.testing.assert_allclose(jt, np.diag(d2(xv).reshape(-1)), rtol=1e-10, atol=1e-12)


_case("second", "composite", [_rng(63).uniform(0.5, 1.5, (3,))],
      _second(lambda x: ng.sigmoid(ng.tanh(x) * ng.sqrt(x)) * ng.exp(-x)
              + ng.reduce_prod(x) + ng.reduce_sum(ng.nn.softmax(x * x) * x)))
_QUADRATIC = _normals(64, (3, 3), (3, 1))          # A, x
_case("second", "quadratic_form", _QUADRATIC[1:], _second(
    lambda x: 0.5 * ng.matmul(ng.matmul(x, ng.constant(_QUADRATIC[0]), transpose_a=True), x)))
_LEAST_SQUARES = _normals(65, (4, 3), (3, 2))      # X, w
_case("second", "least_squares", _LEAST_SQUARES[1:],
      _second(lambda w: ng.square(ng.matmul(ng.constant(_LEAST_SQUARES[0]), w) - 1.0)))


def test_second_derivative_composite(jacobians):
    _second_checked(jacobians, "composite")


def test_second_derivative_quadratic_form_matmul(jacobians):
    A = _QUADRATIC[0]
    jt = _second_checked(jacobians, "quadratic_form")
    np.testing.assert_allclose(jt, 0.5 * (A + A.T), rtol=1e-10, atol=1e-12)


def test_second_derivative_least_squares_matmul(jacobians):
    X = _LEAST_SQUARES[0]
    jt = _second_checked(jacobians, "least_squares")
    # d^2/dW^2 sum (XW - 1)^2 = 2 X^T X (x) I_2
    expected = np.kron(2 * X.T @ X, np.eye(2))
    np.testing.assert_allclose(jt, expected, rtol=1e-10, atol=1e-10)


def _mixed_second(x, w):
    gw, = ng.gradients(ng.reduce_sum(ng.tanh(ng.matmul(x, w))), w)
    return gw


_case("second", "mixed_matmul", _normals(66, (2, 3), (3, 2)), _mixed_second)


def test_mixed_second_derivative_matmul(jacobians):
    for jt, jn in assert_jacobians(jacobians("second", "mixed_matmul"), tol=1e-6,
                                   nonzero=False):
        assert np.abs(jn).max() > 1e-3


_SECOND_CE = (lambda r: (r.dirichlet(np.ones(4), size=2), r.normal(size=(2, 4))))(_rng(67))
_SECOND_CE_W = np.array([1.0, -0.5])
_case("second", "softmax_ce_logits", _SECOND_CE[1:], _second(
    lambda lg: ng.nn.softmax_cross_entropy_with_logits_v2(labels=ng.constant(_SECOND_CE[0]),
                                                          logits=lg) * _SECOND_CE_W))


def test_second_derivative_softmax_cross_entropy_logits(jacobians):
    labels, lv = _SECOND_CE
    w = _SECOND_CE_W
    jt = _second_checked(jacobians, "softmax_ce_logits")
    # analytic: for each row, w_i * (diag(s) - s s^T)
    expected = np.zeros((8, 8))
    for i in range(2):
        s = np.exp(_log_softmax_np(lv[i]))
        expected[4 * i:4 * i + 4, 4 * i:4 * i + 4] = w[i] * (np.diag(s) - np.outer(s, s))
    np.testing.assert_allclose(jt, expected, atol=1e-12)


_CE_3D = (lambda r: (r.dirichlet(np.ones(3), size=(2, 2)), r.normal(size=(2, 2, 3))))(_rng(68))
_case("second", "softmax_ce_3d", _CE_3D[1:], _second(
    lambda lg: ng.nn.softmax_cross_entropy_with_logits_v2(labels=ng.constant(_CE_3D[0]),
                                                          logits=lg) ** 2))
_LOG_SOFTMAX_LABELS = _rng(69).uniform(0, 1, (2, 3))
_case("second", "log_softmax_and_sigmoid_ce", [_sym((2, 3), 0.2, 2.0, seed=70)], _second(
    lambda lg: ng.nn.log_softmax(lg) * ng.constant(_LOG_SOFTMAX_LABELS)
    + ng.nn.sigmoid_cross_entropy_with_logits(labels=ng.constant(_LOG_SOFTMAX_LABELS),
                                              logits=lg)))


def test_second_derivative_softmax_cross_entropy_3d(jacobians):
    _second_checked(jacobians, "softmax_ce_3d")


def test_second_derivative_log_softmax_and_sigmoid_ce(jacobians):
    _second_checked(jacobians, "log_softmax_and_sigmoid_ce")


@pytest.mark.parametrize("fn", [ng.abs, ng.nn.relu], ids=["abs", "relu"])
def test_second_derivative_abs_relu_is_zeros(fn):
    x = ng.placeholder(F64, [4])
    g, = ng.gradients(ng.reduce_sum(fn(x) * 3.0), x)
    gg, = ng.gradients(ng.reduce_sum(g), x)
    assert gg is not None
    v = run(gg, {x: np.array([-1.0, 0.0, 2.0, 0.5])})
    np.testing.assert_array_equal(v, np.zeros(4))


@pytest.mark.parametrize("kind", ["maximum", "minimum", "clip"])
def test_second_derivative_max_min_clip_is_none(kind):
    x = ng.placeholder(F64, [4])
    f = {"maximum": lambda t: ng.maximum(t, 0.5),
         "minimum": lambda t: ng.minimum(t, 0.5),
         "clip": lambda t: ng.clip_by_value(t, -1.0, 1.0)}[kind]
    g, = ng.gradients(ng.reduce_sum(f(x)), x)
    assert g is not None
    gg, = ng.gradients(ng.reduce_sum(g), x)
    assert gg is None


# ------------------------------------------------------------------------------------ hessians
def test_hessians_quadratic_form_analytic():
    r = _rng(80)
    A = r.normal(size=(4, 4))
    x = ng.placeholder(F64, [4])
    y = 0.5 * ng.reduce_sum(x * ng.reshape(ng.matmul(ng.constant(A), ng.reshape(x, [4, 1])),
                                           [4]))
    h, = ng.hessians(y, x)
    assert h.shape.as_list() == [4, 4]
    np.testing.assert_allclose(run(h, {x: r.normal(size=4)}), 0.5 * (A + A.T),
                               rtol=1e-12, atol=1e-12)


def _fd_hessian(x, g, xv, delta=1e-5):
    """FD of the first gradient (evaluated by the NumPy reference backend): shape x.shape +
    x.shape."""
    n = xv.size
    rows = []
    with ng.Session(backend="numpy") as s:
        for j in range(n):
            e = np.zeros(n)
            e[j] = delta
            gp = s.run(g, {x: xv + e.reshape(xv.shape)})
            gm = s.run(g, {x: xv - e.reshape(xv.shape)})
            rows.append(((gp - gm) / (2 * delta)).reshape(-1))
    return np.array(rows).T.reshape(xv.shape + xv.shape)


def test_hessians_2d_x_shape_and_fd():
    xv = _rng(81).uniform(0.5, 1.5, (2, 3))
    x = ng.placeholder(F64, [2, 3])
    y = ng.reduce_sum(ng.sin(x) * ng.square(x)) + ng.reduce_prod(x) \
        + ng.reduce_sum(ng.nn.softmax(x) * x)
    h, = ng.hessians(y, x)
    g, = ng.gradients(y, x)
    assert h.shape.as_list() == [2, 3, 2, 3]
    hv = run(h, {x: xv})
    assert hv.shape == (2, 3, 2, 3)
    np.testing.assert_allclose(hv, _fd_hessian(x, g, xv), atol=1e-6)
    flat = hv.reshape(6, 6)
    np.testing.assert_allclose(flat, flat.T, atol=1e-12)


def test_hessians_multiple_xs_diagonal_blocks():
    r = _rng(82)
    av, bv = r.normal(size=(2,)), r.normal(size=(3,))
    a, b = ng.placeholder(F64, [2]), ng.placeholder(F64, [3])
    y = ng.reduce_sum(a ** 2) * ng.reduce_sum(b ** 3) + ng.reduce_sum(ng.exp(a))
    ha, hb = ng.hessians(y, [a, b])
    va, vb = run([ha, hb], {a: av, b: bv})
    sb3 = np.sum(bv ** 3)
    np.testing.assert_allclose(va, 2 * sb3 * np.eye(2) + np.diag(np.exp(av)), rtol=1e-12)
    np.testing.assert_allclose(vb, np.sum(av ** 2) * np.diag(6 * bv), rtol=1e-12)


def test_hessians_matches_fd_of_gradients_matmul():
    r = _rng(83)
    W = r.normal(size=(3, 3))
    xv = r.normal(size=(3, 1))
    x = ng.placeholder(F64, [3, 1])
    y = ng.reduce_sum(ng.tanh(ng.matmul(ng.constant(W), x)))
    h, = ng.hessians(y, x)
    g, = ng.gradients(y, x)
    hv = run(h, {x: xv})
    assert hv.shape == (3, 1, 3, 1)
    np.testing.assert_allclose(hv, _fd_hessian(x, g, xv), atol=1e-6)
    t = np.tanh(W @ xv).reshape(-1)
    expected = W.T @ np.diag(-2 * t * (1 - t ** 2)) @ W
    np.testing.assert_allclose(hv.reshape(3, 3), expected, atol=1e-12)


def test_hessians_unconnected_raises():
    x = ng.placeholder(F64, [3])
    z = ng.placeholder(F64, [3])
    with pytest.raises(ValueError):
        ng.hessians(ng.reduce_sum(z * z), x)


def test_hessians_linear_raises():
    x = ng.placeholder(F64, [3])
    with pytest.raises(ValueError):
        ng.hessians(ng.reduce_sum(x * 2.0), x)


# ------------------------------------------------------------------------- property tests
@st.composite
def _broadcast_pair(draw):
    rank = draw(st.integers(1, 3))
    full = draw(st.lists(st.integers(1, 3), min_size=rank, max_size=rank))

    def operand():
        lead = draw(st.integers(0, rank))
        dims = full[lead:]
        return tuple(d if not draw(st.booleans()) else 1 for d in dims)

    return operand(), operand(), draw(st.integers(0, 2 ** 16))


_PROP_OPS = {"mul": ng.multiply, "add": ng.add, "maximum": ng.maximum,
             "sub": ng.subtract, "squared_difference": ng.squared_difference}


def _one_case(inits, build):
    """One case's [(analytic, numerical)] (a batch of one: the finite differences run on the
    NumPy reference backend, as the sections' do)."""
    batch = GradientBatch(F64, delta=DELTA, reference="numpy")
    batch.add("case", inits, build)
    return batch.jacobians()["case"]


@settings(max_examples=examples(8, 20), deadline=None)
@given(_broadcast_pair(), st.sampled_from(sorted(_PROP_OPS)))
def test_property_broadcast_binary_gradients(pair, opname):
    sx, sy, seed = pair
    r = np.random.default_rng(seed)
    a = r.uniform(-2, 2, sx)
    b = r.uniform(-2, 2, sy)

    def build(x, y):
        out = _PROP_OPS[opname](x, y) * 1.5
        assert tuple(out.shape.as_list()) == np.broadcast_shapes(sx, sy)
        return out
    assert_jacobians(_one_case([a, b], build), tol=TOL, nonzero=False)


@settings(max_examples=examples(6, 15), deadline=None)
@given(st.lists(st.integers(1, 3), min_size=1, max_size=3), st.integers(0, 2 ** 16),
       st.sampled_from(sorted(_REDUCE)), st.booleans(), st.data())
def test_property_reductions(shape, seed, name, keepdims, data):
    rank = len(shape)
    axes = data.draw(st.lists(st.integers(-rank, rank - 1), unique_by=lambda a: a % rank,
                              min_size=1, max_size=rank) | st.none())
    r = np.random.default_rng(seed)
    n = int(np.prod(shape))
    a = (r.permutation(np.linspace(0.6, 1.6, n)) * r.choice([-1, 1], n)).reshape(shape)
    npaxis = None if axes is None else tuple(ax % rank for ax in axes)
    exp_shape = np.sum(a, axis=npaxis, keepdims=keepdims).shape

    def build(x):
        y = _REDUCE[name](x, axis=axes, keepdims=keepdims)
        assert tuple(y.shape.as_list()) == exp_shape
        return y
    assert_jacobians(_one_case([a], build), tol=TOL, nonzero=False)


@settings(max_examples=examples(6, 15), deadline=None)
@given(st.integers(1, 3), st.integers(1, 3), st.integers(1, 3), st.integers(0, 2),
       st.booleans(), st.booleans(), st.integers(0, 2 ** 16))
def test_property_matmul(m, k, n, batch, ta, tb, seed):
    r = np.random.default_rng(seed)
    bshape = (2,) * batch
    sa = bshape + ((k, m) if ta else (m, k))
    sb = ((n, k) if tb else (k, n))
    a, b = r.normal(size=sa), r.normal(size=sb)
    assert_jacobians(_one_case([a, b], lambda x, y: ng.matmul(x, y, transpose_a=ta,
                                                            transpose_b=tb)),
                     tol=TOL, nonzero=False)
