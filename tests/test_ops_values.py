"""Forward values, dtypes and static shapes of numgrad ops against independent NumPy
expressions (never numgrad's own references), with TF 1.x semantics as the yardstick."""
import math
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import numgrad as ng

# Deterministic, no example database, no shrinking: bounded run time even when a property fails.
HYP = settings(max_examples=20, deadline=None, derandomize=True, database=None,
               phases=[Phase.explicit, Phase.generate],
               suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- helpers -------------------------------------------------------------------------------------
def _tol(np_dtype):
    return {np.dtype(np.float32): dict(rtol=1e-6, atol=1e-7),
            np.dtype(np.float64): dict(rtol=1e-12, atol=1e-14)}.get(np.dtype(np_dtype),
                                                                    dict(rtol=0, atol=0))


def check(sess, t, expected, dtype, static_shape="exact", feed_dict=None):
    """t has `dtype`, static shape == expected.shape (or `static_shape`), and runs to `expected`."""
    expected = np.asarray(expected)
    assert t.dtype == dtype, f"dtype {t.dtype.name} != {dtype.name}"
    want_static = list(expected.shape) if static_shape == "exact" else static_shape
    if want_static is None:
        assert t.shape.rank is None, f"expected unknown static shape, got {t.shape}"
    else:
        assert t.shape.rank is not None, f"static shape unknown, expected {want_static}"
        assert t.shape.as_list() == list(want_static)
    got = sess.run(t, feed_dict=feed_dict)
    got_arr = np.asarray(got)
    assert got_arr.dtype == dtype.np, f"run() gave {got_arr.dtype}, expected {dtype.np}"
    assert got_arr.shape == expected.shape
    if expected.ndim == 0:
        assert isinstance(got, np.generic), f"0-d fetch should be a numpy scalar, got {type(got)}"
    if dtype.is_floating:
        np.testing.assert_allclose(got_arr, expected.astype(dtype.np), **_tol(dtype.np))
    else:
        np.testing.assert_array_equal(got_arr, expected.astype(dtype.np))
    return got


def _msg(excinfo):
    return re.sub(r"\s", "", str(excinfo.value))


X = np.array([[-1.5, -0.3, 0.2], [0.7, 1.1, 2.0]])
XPOS = np.array([[0.25, 0.5, 1.0], [1.5, 2.0, 4.0]])
XUNIT = np.array([[-0.9, -0.3, 0.2], [0.1, 0.5, 0.8]])
ERF = np.vectorize(math.erf)
FLOATS = [ng.float32, ng.float64]


# --- unary math ----------------------------------------------------------------------------------
UNARY = [
    ("negative", ng.negative, lambda x: -x, X),
    ("square", ng.square, lambda x: x * x, X),
    ("sqrt", ng.sqrt, np.sqrt, XPOS),
    ("rsqrt", ng.rsqrt, lambda x: 1.0 / np.sqrt(x), XPOS),
    ("exp", ng.exp, np.exp, X),
    ("log", ng.log, np.log, XPOS),
    ("log1p", ng.log1p, np.log1p, XPOS),
    ("expm1", ng.expm1, np.expm1, X),
    ("sin", ng.sin, np.sin, X),
    ("cos", ng.cos, np.cos, X),
    ("tan", ng.tan, np.tan, XUNIT),
    ("tanh", ng.tanh, np.tanh, X),
    ("sigmoid", ng.sigmoid, lambda x: 1.0 / (1.0 + np.exp(-x)), X),
    ("nn.sigmoid", ng.nn.sigmoid, lambda x: 1.0 / (1.0 + np.exp(-x)), X),
    ("abs", ng.abs, np.abs, X),
    ("sign", ng.sign, np.sign, X),
    ("erf", ng.erf, ERF, X),
    ("reciprocal", ng.reciprocal, lambda x: 1.0 / x, X),
    ("nn.relu", ng.nn.relu, lambda x: np.where(x > 0, x, 0.0), X),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("name,fn,ref,data", UNARY, ids=[u[0] for u in UNARY])
def test_unary_float(sess, name, fn, ref, data, dtype):
    x = data.astype(dtype.np)
    t = fn(ng.constant(x))
    check(sess, t, ref(x.astype(np.float64)), dtype)


@pytest.mark.parametrize("fn,ref", [
    (ng.negative, lambda x: -x), (ng.square, lambda x: x * x), (ng.abs, np.abs),
    (ng.sign, np.sign), (ng.nn.relu, lambda x: np.where(x > 0, x, 0))],
    ids=["negative", "square", "abs", "sign", "relu"])
def test_unary_int32(sess, fn, ref):
    x = np.array([[-3, 0, 2], [5, -1, 7]], np.int32)
    check(sess, fn(ng.constant(x)), ref(x), ng.int32)


def test_logical_not(sess):
    b = np.array([True, False, True])
    check(sess, ng.logical_not(ng.constant(b)), np.array([False, True, False]), ng.bool)


def test_unary_scalar_input_gives_numpy_scalar(sess):
    got = check(sess, ng.exp(ng.constant(0.5)), np.exp(0.5), ng.float32)
    assert isinstance(got, np.float32)


# --- binary math -----------------------------------------------------------------------------------
A = np.array([[1.5, -2.0, 3.0], [0.5, 4.0, -1.0]])
B = np.array([0.5, 2.5, -2.0])          # broadcasts against A
BINARY = [
    ("add", ng.add, lambda a, b: a + b),
    ("subtract", ng.subtract, lambda a, b: a - b),
    ("multiply", ng.multiply, lambda a, b: a * b),
    ("divide", ng.divide, lambda a, b: a / b),
    ("truediv", ng.truediv, lambda a, b: a / b),
    ("div", ng.div, lambda a, b: a / b),
    ("floordiv", ng.floordiv, lambda a, b: np.floor(a / b)),
    ("maximum", ng.maximum, np.maximum),
    ("minimum", ng.minimum, np.minimum),
    ("squared_difference", ng.squared_difference, lambda a, b: (a - b) ** 2),
    ("truncatemod", ng.truncatemod, lambda a, b: a - b * np.trunc(a / b)),
]


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
@pytest.mark.parametrize("name,fn,ref", BINARY, ids=[b[0] for b in BINARY])
def test_binary_float_broadcast(sess, name, fn, ref, dtype):
    a, b = A.astype(dtype.np), B.astype(dtype.np)
    t = fn(ng.constant(a), ng.constant(b))
    check(sess, t, ref(a.astype(np.float64), b.astype(np.float64)), dtype)


def test_pow_int32(sess):
    a = np.array([[7, -7, 3], [-9, 5, 2]], np.int32)
    b = np.array([2, 2, 3], np.int32)
    check(sess, ng.pow(ng.constant(a), ng.constant(b)), np.array([[49, 49, 27], [81, 25, 8]]),
          ng.int32)


def test_pow_float(sess):
    a = XPOS.astype(np.float32)
    e = np.array([2.0, 0.5, -1.0], np.float32)
    check(sess, ng.pow(ng.constant(a), ng.constant(e)),
          a.astype(np.float64) ** e.astype(np.float64), ng.float32)


IA = np.array([[7, -7, 9], [-9, 5, 0]], np.int32)
IB = np.array([2, 2, -4], np.int32)


@pytest.mark.parametrize("fn,ref", [
    (ng.add, lambda a, b: a + b),
    (ng.subtract, lambda a, b: a - b),
    (ng.multiply, lambda a, b: a * b),
    (ng.floordiv, lambda a, b: np.array([[3, -4, -3], [-5, 2, 0]])),   # rounds toward -inf
    (ng.truncatemod, lambda a, b: np.array([[1, -1, 1], [-1, 1, 0]])),  # sign of the dividend
    (ng.maximum, np.maximum),
    (ng.minimum, np.minimum),
    (ng.squared_difference, lambda a, b: (a - b) ** 2),
], ids=["add", "subtract", "multiply", "floordiv", "truncatemod", "maximum", "minimum",
        "squared_difference"])
def test_binary_int32(sess, fn, ref):
    check(sess, fn(ng.constant(IA), ng.constant(IB)), ref(IA.astype(np.int64), IB), ng.int32)


COMPARE = [
    ("equal", ng.equal, np.equal), ("not_equal", ng.not_equal, np.not_equal),
    ("less", ng.less, np.less), ("less_equal", ng.less_equal, np.less_equal),
    ("greater", ng.greater, np.greater), ("greater_equal", ng.greater_equal, np.greater_equal),
]


@pytest.mark.parametrize("dtype", [ng.float32, ng.int32], ids=lambda d: d.name)
@pytest.mark.parametrize("name,fn,ref", COMPARE, ids=[c[0] for c in COMPARE])
def test_comparisons(sess, name, fn, ref, dtype):
    a = np.array([[1, 2, 3], [3, 2, 1]]).astype(dtype.np)
    b = np.array([2, 2, 2]).astype(dtype.np)
    check(sess, fn(ng.constant(a), ng.constant(b)), ref(a, b), ng.bool)


def test_comparison_with_python_scalar(sess):
    x = ng.constant([0.5, 1.0, 1.5])
    check(sess, ng.equal(x, 1), np.array([False, True, False]), ng.bool)
    check(sess, ng.greater(x, 1), np.array([False, False, True]), ng.bool)


@pytest.mark.parametrize("fn,ref", [(ng.logical_and, np.logical_and),
                                    (ng.logical_or, np.logical_or)], ids=["and", "or"])
def test_logical_binary(sess, fn, ref):
    a = np.array([[True, True], [False, False]])
    b = np.array([True, False])
    check(sess, fn(ng.constant(a), ng.constant(b)), ref(a, b), ng.bool)


def test_logical_and_rejects_non_bool():
    with pytest.raises(TypeError):
        ng.logical_and(ng.constant([1.0]), ng.constant([0.0]))


def test_erf_float64_against_math_erf(sess):
    x = np.linspace(-3, 3, 7)
    check(sess, ng.erf(ng.constant(x)), np.array([math.erf(v) for v in x]), ng.float64)


def test_clip_by_value(sess):
    x = X.astype(np.float32)
    check(sess, ng.clip_by_value(ng.constant(x), -0.5, 1.0), np.clip(x, -0.5, 1.0), ng.float32)
    lo = ng.constant(np.array([-2.0, 0.0, 0.0], np.float32))
    hi = ng.constant(np.array([0.0, 0.5, 1.0], np.float32))
    check(sess, ng.clip_by_value(ng.constant(x), lo, hi),
          np.minimum(np.maximum(x, [-2.0, 0.0, 0.0]), [0.0, 0.5, 1.0]), ng.float32)


def test_add_n(sess):
    vals = [np.arange(6.0).reshape(2, 3) * k for k in (1, 2, 5)]
    t = ng.add_n([ng.constant(v) for v in vals])
    check(sess, t, vals[0] + vals[1] + vals[2], ng.float64)
    single = ng.add_n([ng.constant(vals[2].astype(np.float32))])
    check(sess, single, vals[2], ng.float32)


def test_where_v1_same_shape(sess):
    c = np.array([[True, False, True], [False, False, True]])
    x, y = np.arange(6.0).reshape(2, 3), -np.arange(6.0).reshape(2, 3)
    check(sess, ng.where(ng.constant(c), ng.constant(x), ng.constant(y)),
          np.array([[0.0, -1.0, 2.0], [-3.0, -4.0, 5.0]]), ng.float64)
    check(sess, ng.select(ng.constant(c), ng.constant(x), ng.constant(y)),
          np.array([[0.0, -1.0, 2.0], [-3.0, -4.0, 5.0]]), ng.float64)


def test_where_v1_vector_condition_over_dim0(sess):
    c = np.array([True, False])
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.full((2, 3), 9.0, np.float32)
    check(sess, ng.where(ng.constant(c), ng.constant(x), ng.constant(y)),
          np.array([[0.0, 1.0, 2.0], [9.0, 9.0, 9.0]]), ng.float32)
    c3 = np.array([False, True])
    x3 = np.arange(8, dtype=np.int32).reshape(2, 2, 2)
    check(sess, ng.where(ng.constant(c3), ng.constant(x3), ng.constant(-x3)),
          np.array([[[0, -1], [-2, -3]], [[4, 5], [6, 7]]]), ng.int32)


def test_where_v1_requires_same_shape():
    with pytest.raises(ValueError):
        ng.where(ng.constant([[True, False]]), ng.constant([[1.0, 2.0]]), ng.constant([3.0, 4.0]))


# --- cast --------------------------------------------------------------------------------------------
def test_cast(sess):
    x = ng.constant([-1.7, -0.2, 0.0, 1.7, 2.5])
    check(sess, ng.cast(x, ng.int32), np.array([-1, 0, 0, 1, 2]), ng.int32)
    check(sess, ng.cast(x, ng.float64), np.array([-1.7, -0.2, 0.0, 1.7, 2.5], np.float32),
          ng.float64)
    check(sess, ng.cast(x, ng.bool), np.array([True, True, False, True, True]), ng.bool)
    check(sess, ng.cast(ng.constant([True, False]), ng.float32), np.array([1.0, 0.0]),
          ng.float32)
    check(sess, ng.cast(ng.constant([3, -4]), "int64"), np.array([3, -4]), ng.int64)


# --- matmul ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_transposes(sess, ta, tb):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2, 3)).astype(np.float32)   # logical [2,3]
    b = rng.standard_normal((3, 4)).astype(np.float32)   # logical [3,4]
    a_in = a.T.copy() if ta else a
    b_in = b.T.copy() if tb else b
    t = ng.matmul(ng.constant(a_in), ng.constant(b_in), transpose_a=ta, transpose_b=tb)
    exp = a.astype(np.float64) @ b.astype(np.float64)
    assert t.dtype == ng.float32 and t.shape.as_list() == [2, 4]
    np.testing.assert_allclose(sess.run(t), exp, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
def test_matmul_batched_transposes_float64(sess, ta, tb):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 4))
    b = rng.standard_normal((2, 4, 5))
    a_in = np.swapaxes(a, -1, -2).copy() if ta else a
    b_in = np.swapaxes(b, -1, -2).copy() if tb else b
    t = ng.matmul(ng.constant(a_in), ng.constant(b_in), transpose_a=ta, transpose_b=tb)
    check(sess, t, np.einsum("bij,bjk->bik", a, b), ng.float64)


@pytest.mark.parametrize("sa,sb,out", [
    ((2, 3, 4), (4, 5), (2, 3, 5)),
    ((3, 4), (2, 4, 5), (2, 3, 5)),
    ((1, 3, 4), (2, 4, 5), (2, 3, 5)),
    ((2, 1, 3, 4), (3, 4, 2), (2, 3, 3, 2)),
])
def test_matmul_batch_broadcast(sess, sa, sb, out):
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    t = ng.matmul(ng.constant(a), ng.constant(b))
    expected = np.einsum("...ij,...jk->...ik", np.broadcast_to(a, out[:-2] + sa[-2:]),
                         np.broadcast_to(b, out[:-2] + sb[-2:]))
    assert expected.shape == out
    check(sess, t, expected, ng.float64)


def test_matmul_int32(sess):
    a = np.array([[1, 2], [3, 4]], np.int32)
    b = np.array([[5, -1], [0, 2]], np.int32)
    check(sess, ng.matmul(ng.constant(a), ng.constant(b)), np.array([[5, 3], [15, 5]]), ng.int32)


# --- reductions --------------------------------------------------------------------------------------
R = np.array([[[0.5, -1.0, 2.0, 1.5], [3.0, 0.25, -0.5, 1.0], [-2.0, 1.0, 0.75, 2.5]],
              [[1.0, 2.0, -1.5, 0.5], [0.5, -0.25, 1.25, -1.0], [2.0, -3.0, 0.5, 1.0]]])
REDUCE = [("reduce_sum", ng.reduce_sum, np.sum), ("reduce_mean", ng.reduce_mean, np.mean),
          ("reduce_max", ng.reduce_max, np.max), ("reduce_min", ng.reduce_min, np.min),
          ("reduce_prod", ng.reduce_prod, np.prod)]
AXES = [None, 0, 1, -1, [0, 2], [-1, -3], [2, 0, 1], []]


@pytest.mark.parametrize("axis", AXES, ids=lambda a: repr(a).replace(" ", ""))
@pytest.mark.parametrize("name,fn,ref", REDUCE, ids=[r[0] for r in REDUCE])
def test_reductions(sess, name, fn, ref, axis):
    x = R.astype(np.float32)
    np_axis = None if axis is None else tuple(axis) if isinstance(axis, list) else axis
    for keepdims in (False, True):
        t = fn(ng.constant(x), axis=axis, keepdims=keepdims)
        exp = ref(R, axis=np_axis, keepdims=keepdims)
        check(sess, t, exp, ng.float32)


def test_reduction_v1_argument_names(sess):
    x = ng.constant(R)
    check(sess, ng.reduce_sum(x, reduction_indices=[1], keep_dims=True),
          R.sum(axis=1, keepdims=True), ng.float64)


def test_reductions_int32(sess):
    x = np.array([[1, 2, 4], [-1, -2, -4]], np.int32)
    t = ng.constant(x)
    check(sess, ng.reduce_sum(t, axis=1), np.array([7, -7]), ng.int32)
    check(sess, ng.reduce_mean(t, axis=1), np.array([2, -2]), ng.int32)   # truncating division
    check(sess, ng.reduce_max(t), np.array(4), ng.int32)
    check(sess, ng.reduce_prod(t, axis=0), np.array([-1, -4, -16]), ng.int32)


# --- array ops -------------------------------------------------------------------------------------
M = np.arange(24, dtype=np.float32).reshape(2, 3, 4)


@pytest.mark.parametrize("shape,out", [([-1], (24,)), ([4, -1], (4, 6)), ([2, -1, 3], (2, 4, 3)),
                                       ((6, 4), (6, 4)), ([-1, 1, 2], (12, 1, 2))])
def test_reshape(sess, shape, out):
    check(sess, ng.reshape(ng.constant(M), shape), M.reshape(out), ng.float32)


def test_reshape_to_scalar(sess):
    check(sess, ng.reshape(ng.constant([5.0]), []), np.float32(5.0), ng.float32)


@pytest.mark.parametrize("perm", [None, [0, 2, 1], [2, 0, 1], (1, 0, 2)])
def test_transpose(sess, perm):
    exp = M.transpose() if perm is None else M.transpose(perm)
    t = ng.transpose(ng.constant(M)) if perm is None else ng.transpose(ng.constant(M), perm=perm)
    check(sess, t, exp, ng.float32)


@pytest.mark.parametrize("axis", [0, 1, 3, -1, -4])
def test_expand_dims(sess, axis):
    check(sess, ng.expand_dims(ng.constant(M), axis), np.expand_dims(M, axis), ng.float32)


def test_squeeze(sess):
    x = np.arange(6, dtype=np.float32).reshape(1, 2, 1, 3, 1)
    check(sess, ng.squeeze(ng.constant(x)), x.reshape(2, 3), ng.float32)
    check(sess, ng.squeeze(ng.constant(x), axis=[0, -1]), x.reshape(2, 1, 3), ng.float32)
    check(sess, ng.squeeze(ng.constant(x), 2), x.reshape(1, 2, 3, 1), ng.float32)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_concat(sess, axis):
    parts = [M, M + 100, M * 2]
    check(sess, ng.concat([ng.constant(p) for p in parts], axis),
          np.concatenate(parts, axis=axis), ng.float32)


def test_concat_unequal_axis_sizes(sess):
    a, b = np.ones((2, 1), np.int32), np.arange(6, dtype=np.int32).reshape(2, 3)
    check(sess, ng.concat([ng.constant(a), ng.constant(b)], axis=1),
          np.concatenate([a, b], 1), ng.int32)


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2])
def test_stack(sess, axis):
    parts = [M[0], M[1] + 50, M[0] * 3]
    check(sess, ng.stack([ng.constant(p) for p in parts], axis=axis),
          np.stack(parts, axis=axis), ng.float32)


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_unstack(sess, axis):
    outs = ng.unstack(ng.constant(M), axis=axis)
    exp = [np.take(M, i, axis=axis) for i in range(M.shape[axis])]
    assert isinstance(outs, list) and len(outs) == len(exp)
    for t, e in zip(outs, exp):
        check(sess, t, e, ng.float32)


@pytest.mark.parametrize("multiples", [[1, 1, 1], [2, 1, 3], [1, 0, 2]])
def test_tile(sess, multiples):
    check(sess, ng.tile(ng.constant(M), multiples), np.tile(M, multiples), ng.float32)


def test_slice(sess):
    check(sess, ng.slice(ng.constant(M), [1, 0, 1], [1, 2, 3]), M[1:2, 0:2, 1:4], ng.float32)
    check(sess, ng.slice(ng.constant(M), [0, 1, 2], [-1, -1, 1]), M[0:, 1:, 2:3], ng.float32)


def test_gather(sess):
    params = np.arange(12, dtype=np.float32).reshape(3, 4)
    p = ng.constant(params)
    check(sess, ng.gather(p, [2, 0, 2]), params[[2, 0, 2]], ng.float32)
    check(sess, ng.gather(p, 1), params[1], ng.float32)
    idx = np.array([[3, 0], [1, 1]], np.int32)
    check(sess, ng.gather(p, ng.constant(idx), axis=1), np.take(params, idx, axis=1), ng.float32)
    idx0 = np.array([[0, 2], [1, 0]], np.int32)
    check(sess, ng.gather(p, ng.constant(idx0)), params[idx0], ng.float32)


def test_shape_size_rank(sess):
    x = ng.constant(M)
    check(sess, ng.shape(x), np.array([2, 3, 4]), ng.int32)
    check(sess, ng.size(x), np.array(24), ng.int32)
    check(sess, ng.rank(x), np.array(3), ng.int32)
    check(sess, ng.shape(x, out_type=ng.int64), np.array([2, 3, 4]), ng.int64)
    check(sess, ng.shape(ng.constant(1.0)), np.zeros([0], np.int32), ng.int32)


def test_identity_and_stop_gradient(sess):
    check(sess, ng.identity(ng.constant(M)), M, ng.float32)
    check(sess, ng.stop_gradient(ng.constant(M)), M, ng.float32)


def test_fill_ones_zeros(sess):
    check(sess, ng.fill([2, 3], 5.0), np.full((2, 3), 5.0), ng.float32)
    check(sess, ng.fill([3], 7), np.full((3,), 7), ng.int32)
    check(sess, ng.ones([2, 3]), np.ones((2, 3)), ng.float32)
    check(sess, ng.zeros([3, 1], dtype=ng.int32), np.zeros((3, 1)), ng.int32)
    check(sess, ng.ones((2,), ng.float64), np.ones(2), ng.float64)
    check(sess, ng.zeros([]), np.float32(0), ng.float32)


def test_ones_like_zeros_like(sess):
    xi = ng.constant(np.arange(6, dtype=np.int32).reshape(2, 3))
    check(sess, ng.ones_like(xi), np.ones((2, 3)), ng.int32)
    check(sess, ng.zeros_like(xi), np.zeros((2, 3)), ng.int32)
    check(sess, ng.zeros_like(ng.constant(M)), np.zeros_like(M), ng.float32)
    check(sess, ng.ones_like(xi, dtype=ng.float32), np.ones((2, 3)), ng.float32)


# --- __getitem__ -------------------------------------------------------------------------------------
GETITEM_KEYS = [
    (1,), (-1,), (0, 2), (-1, -2, -3),
    (slice(None, None, 2),), (slice(None, None, -1),), (slice(1, None),),
    (slice(None), slice(None, None, -2)), (slice(None), slice(2, 0, -1)),
    (Ellipsis, 1), (Ellipsis, slice(None, None, -3)), (1, Ellipsis), (0, Ellipsis, 2),
    (None,), (Ellipsis, None), (slice(None), None, 1), (None, 1, None, slice(1, 3)),
    (slice(0, 10),), (slice(-10, 10), slice(5, 1)), (slice(None), -1, slice(-1, None, -2)),
]


@pytest.mark.parametrize("key", GETITEM_KEYS, ids=lambda k: repr(k).replace(" ", ""))
def test_getitem(sess, key):
    k = key[0] if len(key) == 1 else key
    check(sess, ng.constant(M)[k], M[k], ng.float32)


def test_getitem_on_none_dims(sess):
    p = ng.placeholder(ng.float32, [None, 4])
    t = p[::-1, 1:3]
    assert t.shape.as_list() == [None, 2]
    x = np.arange(12, dtype=np.float32).reshape(3, 4)
    np.testing.assert_array_equal(sess.run(t, {p: x}), x[::-1, 1:3])
    t2 = p[:, None, -1]
    assert t2.shape.as_list() == [None, 1]
    np.testing.assert_array_equal(sess.run(t2, {p: x[:2]}), x[:2, None, -1])


# --- nn -----------------------------------------------------------------------------------------------
def _np_log_softmax(z, axis):
    m = z.max(axis=axis, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=axis, keepdims=True))


LOGITS = np.array([[1.0, 2.0, 3.0, -1.0], [0.5, 0.5, -2.0, 4.0]])
LOGITS3 = np.array([[[1.0, -2.0, 0.5], [2.0, 0.0, 1.0]],
                    [[0.1, 0.2, 0.3], [-1.0, 3.0, 2.0]]])   # (2, 2, 3)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_softmax_log_softmax(sess, dtype):
    z = LOGITS.astype(dtype.np)
    zz = z.astype(np.float64)
    check(sess, ng.nn.softmax(ng.constant(z)), np.exp(zz) / np.exp(zz).sum(1, keepdims=True),
          dtype)
    check(sess, ng.nn.log_softmax(ng.constant(z)), _np_log_softmax(zz, 1), dtype)
    check(sess, ng.nn.softmax(ng.constant(z), axis=0),
          np.exp(zz) / np.exp(zz).sum(0, keepdims=True), dtype)
    z3 = LOGITS3.astype(dtype.np)
    check(sess, ng.nn.log_softmax(ng.constant(z3), axis=1),
          _np_log_softmax(z3.astype(np.float64), 1), dtype)


def test_softmax_large_logits_stable(sess):
    z = np.array([1000.0, 1001.0, 999.0], np.float32)
    e = np.exp(np.array([-1.0, 0.0, -2.0]))
    check(sess, ng.nn.softmax(ng.constant(z)), e / e.sum(), ng.float32)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_sigmoid_cross_entropy_with_logits(sess, dtype):
    x = np.array([[-3.0, -0.5, 0.0], [0.5, 2.0, 4.0]])
    z = np.array([[0.0, 1.0, 0.3], [1.0, 0.0, 0.7]])
    s = 1 / (1 + np.exp(-x))
    exp = -(z * np.log(s) + (1 - z) * np.log(1 - s))
    t = ng.nn.sigmoid_cross_entropy_with_logits(labels=ng.constant(z.astype(dtype.np)),
                                                logits=ng.constant(x.astype(dtype.np)))
    check(sess, t, exp, dtype)


def test_sigmoid_cross_entropy_large_logits(sess):
    x = np.array([100.0, -100.0], np.float32)
    z = np.array([0.0, 1.0], np.float32)
    t = ng.nn.sigmoid_cross_entropy_with_logits(labels=z, logits=ng.constant(x))
    check(sess, t, np.array([100.0, 100.0]), ng.float32)


def _np_softmax_xent(labels, logits, axis):
    return -(labels * _np_log_softmax(logits, axis)).sum(axis=axis)


@pytest.mark.parametrize("dtype", FLOATS, ids=lambda d: d.name)
def test_softmax_cross_entropy_rank2(sess, dtype):
    lab = np.array([[0.0, 0.0, 1.0, 0.0], [0.25, 0.25, 0.0, 0.5]])
    t = ng.nn.softmax_cross_entropy_with_logits_v2(labels=ng.constant(lab.astype(dtype.np)),
                                                   logits=ng.constant(LOGITS.astype(dtype.np)))
    check(sess, t, _np_softmax_xent(lab, LOGITS, -1), dtype)
    t0 = ng.nn.softmax_cross_entropy_with_logits_v2(labels=ng.constant(lab.astype(dtype.np)),
                                                    logits=ng.constant(LOGITS.astype(dtype.np)),
                                                    axis=0)
    check(sess, t0, _np_softmax_xent(lab, LOGITS, 0), dtype)


@pytest.mark.parametrize("axis", [-1, 2, 0, 1])
def test_softmax_cross_entropy_rank3(sess, axis):
    rng = np.random.default_rng(3)
    lab = rng.random(LOGITS3.shape)
    lab /= lab.sum(axis=axis, keepdims=True)
    lab32, log32 = lab.astype(np.float32), LOGITS3.astype(np.float32)
    t = ng.nn.softmax_cross_entropy_with_logits_v2(labels=ng.constant(lab32),
                                                   logits=ng.constant(log32), axis=axis)
    exp = _np_softmax_xent(lab32.astype(np.float64), log32.astype(np.float64), axis)
    check(sess, t, exp, ng.float32)


# --- operators -----------------------------------------------------------------------------------------
def test_operators_float(sess):
    a, b = A.astype(np.float32), B.astype(np.float32)
    x, y = ng.constant(a), ng.constant(b)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    check(sess, x + y, a64 + b64, ng.float32)
    check(sess, x - y, a64 - b64, ng.float32)
    check(sess, x * y, a64 * b64, ng.float32)
    check(sess, x / y, a64 / b64, ng.float32)
    check(sess, x // y, np.floor(a64 / b64), ng.float32)
    check(sess, -x, -a64, ng.float32)
    check(sess, abs(x), np.abs(a64), ng.float32)
    check(sess, ng.abs(x) ** y, np.abs(a64) ** b64, ng.float32)
    check(sess, x ** 2, a64 ** 2, ng.float32)


def test_operators_reflected(sess):
    a = A.astype(np.float32)
    x = ng.constant(a)
    a64 = a.astype(np.float64)
    check(sess, 2 - x, 2 - a64, ng.float32)
    check(sess, 2.5 + x, 2.5 + a64, ng.float32)
    check(sess, 3 * x, 3 * a64, ng.float32)
    check(sess, 1 / x, 1 / a64, ng.float32)
    check(sess, 7 // x, np.floor(7 / a64), ng.float32)
    check(sess, 2 ** x, 2.0 ** a64, ng.float32)
    arr = np.array([1.0, 2.0, 3.0], np.float32)
    check(sess, arr - x, arr.astype(np.float64) - a64, ng.float32)
    check(sess, [1.0, 2.0, 3.0] * x, np.array([1.0, 2.0, 3.0]) * a64, ng.float32)


def test_operator_matmul(sess):
    a = np.arange(6.0).reshape(2, 3)
    b = np.arange(12.0).reshape(3, 4) - 5
    check(sess, ng.constant(a) @ ng.constant(b), a @ b, ng.float64)
    check(sess, a @ ng.constant(b), a @ b, ng.float64)


def test_operator_comparisons(sess):
    x = ng.constant([1.0, 2.0, 3.0])
    check(sess, x < 2, np.array([True, False, False]), ng.bool)
    check(sess, x <= 2, np.array([True, True, False]), ng.bool)
    check(sess, x > 2, np.array([False, False, True]), ng.bool)
    check(sess, x >= 2, np.array([False, True, True]), ng.bool)
    check(sess, 2 < x, np.array([False, False, True]), ng.bool)
    check(sess, (x > 1) & (x < 3), np.array([False, True, False]), ng.bool)
    check(sess, (x < 2) | (x > 2), np.array([True, False, True]), ng.bool)
    check(sess, ~(x < 2), np.array([False, True, True]), ng.bool)


def test_operators_int(sess):
    i, j = ng.constant(IA), ng.constant(IB)
    check(sess, i + j, IA + IB, ng.int32)
    check(sess, i * 2, IA * 2, ng.int32)
    check(sess, 10 - i, 10 - IA, ng.int32)
    check(sess, i // j, np.floor_divide(IA, IB), ng.int32)
    check(sess, -i, -IA, ng.int32)


# --- dtype rules ---------------------------------------------------------------------------------------
def test_python_constant_dtypes():
    assert ng.constant(1.5).dtype == ng.float32
    assert ng.constant([1.0, 2]).dtype == ng.float32
    assert ng.constant(3).dtype == ng.int32
    assert ng.constant([1, 2, 3]).dtype == ng.int32
    assert ng.constant(True).dtype == ng.bool
    assert ng.constant(np.array([1.0, 2.0])).dtype == ng.float64
    assert ng.constant(np.float64(1.0)).dtype == ng.float64
    assert ng.constant(np.array([1.0], np.float32)).dtype == ng.float32
    assert ng.constant(np.array([1, 2], np.int64)).dtype == ng.int64
    assert ng.constant(2 ** 40).dtype == ng.int64
    assert ng.constant(1, dtype=ng.float64).dtype == ng.float64


@pytest.mark.parametrize("dtype", [ng.float32, ng.float64, ng.int32, ng.int64],
                         ids=lambda d: d.name)
def test_scalar_operand_takes_tensor_dtype(sess, dtype):
    x = ng.constant(np.array([1, 2, 3], dtype.np))
    check(sess, x * 2, np.array([2, 4, 6]), dtype)
    check(sess, 2 + x, np.array([3, 4, 5]), dtype)
    if dtype.is_floating:
        check(sess, x * 2.5, np.array([2.5, 5.0, 7.5]), dtype)


@pytest.mark.parametrize("dtype", [ng.int32, ng.int64], ids=lambda d: d.name)
def test_int_truediv_gives_float64(sess, dtype):
    a = ng.constant(np.array([1, 7, -3], dtype.np))
    b = ng.constant(np.array([2, 2, 2], dtype.np))
    check(sess, a / b, np.array([0.5, 3.5, -1.5]), ng.float64)
    check(sess, ng.truediv(a, b), np.array([0.5, 3.5, -1.5]), ng.float64)
    check(sess, ng.divide(a, 4), np.array([0.25, 1.75, -0.75]), ng.float64)
    check(sess, a // b, np.array([0, 3, -2]), dtype)


def test_python_int_division(sess):
    t = ng.constant(7) / 2
    check(sess, t, np.float64(3.5), ng.float64)


def test_mixing_float32_float64_raises():
    x32 = ng.constant(np.array([1.0], np.float32))
    x64 = ng.constant(np.array([1.0], np.float64))
    for f in (ng.add, ng.subtract, ng.multiply, ng.maximum, ng.truediv, ng.equal):
        with pytest.raises(TypeError):
            f(x32, x64)
    with pytest.raises(TypeError):
        x32 + x64
    with pytest.raises(TypeError):
        ng.matmul(ng.constant(np.ones((2, 2), np.float32)), ng.constant(np.ones((2, 2))))
    with pytest.raises(TypeError):
        ng.add(ng.constant([1, 2]), ng.constant([1.0, 2.0]))


def test_run_zero_d_returns_numpy_scalar(sess):
    v = sess.run(ng.reduce_sum(ng.constant([1.0, 2.0])))
    assert isinstance(v, np.float32) and not isinstance(v, np.ndarray) and v == 3.0
    vi = sess.run(ng.constant(4) * 2)
    assert isinstance(vi, np.int32) and vi == 8
    vb = sess.run(ng.constant(1.0) < 2.0)
    assert isinstance(vb, np.bool_) and bool(vb) is True
    both = sess.run([ng.constant(1.5), ng.constant([1.5])])
    assert isinstance(both, list) and isinstance(both[0], np.float32)
    assert isinstance(both[1], np.ndarray) and both[1].shape == (1,)


# --- placeholders ----------------------------------------------------------------------------------------
def test_placeholder_none_dims(sess):
    p = ng.placeholder(ng.float32, [None, 3])
    w = ng.constant(np.array([[1.0], [2.0], [-1.0]], np.float32))
    y = ng.matmul(p * 2.0 + 1.0, w)
    s = ng.reduce_sum(p, axis=0)
    assert y.shape.as_list() == [None, 1]
    assert s.shape.as_list() == [3]
    for n in (1, 4, 2):
        x = np.arange(3 * n, dtype=np.float32).reshape(n, 3)
        check(sess, y, (x * 2 + 1).astype(np.float64) @ np.array([[1.0], [2.0], [-1.0]]),
              ng.float32, static_shape=[None, 1], feed_dict={p: x})
        check(sess, s, x.astype(np.float64).sum(0), ng.float32, feed_dict={p: x})
        np.testing.assert_array_equal(sess.run(ng.shape(p), {p: x}), [n, 3])


def test_placeholder_none_dims_broadcast_static_shape():
    p = ng.placeholder(ng.float32, [None, None])
    assert (p + ng.constant(np.ones((2, 3), np.float32))).shape.as_list() == [2, 3]
    assert (p + ng.constant(np.ones((1, 3), np.float32))).shape.as_list() == [None, 3]
    assert (p + 1.0).shape.as_list() == [None, None]
    q = ng.placeholder(ng.float32, [None, 3])
    assert ng.reshape(q, [-1, 1, 3]).shape.as_list() == [None, 1, 3]
    assert ng.shape(q).shape.as_list() == [2]
    assert ng.expand_dims(q, 1).shape.as_list() == [None, 1, 3]
    assert ng.concat([q, q], 0).shape.as_list() == [None, 3]
    assert ng.concat([q, q], 1).shape.as_list() == [None, 6]


def test_placeholder_unknown_rank(sess):
    p = ng.placeholder(ng.float32, shape=None)
    y = p * p + 1.0
    r, sh, sz = ng.rank(p), ng.shape(p), ng.size(p)
    assert y.shape.rank is None
    assert sh.shape.as_list() == [None]
    assert r.shape.as_list() == [] and sz.shape.as_list() == []
    for x in (np.array([1.0, -2.0], np.float32), np.arange(6, dtype=np.float32).reshape(2, 3),
              np.float32(3.0), np.ones((1, 2, 2), np.float32)):
        xx = np.asarray(x)
        check(sess, y, xx.astype(np.float64) ** 2 + 1, ng.float32, static_shape=None,
              feed_dict={p: x})
        yv, rv, shv, szv = sess.run([y, r, sh, sz], {p: x})
        assert rv == xx.ndim and szv == xx.size
        np.testing.assert_array_equal(shv, np.array(xx.shape, np.int32))


def test_placeholder_unknown_rank_reduce_all_is_scalar(sess):
    # TF's reduce_* (axis=None, keepdims=False) sets the static shape to () even when the input
    # rank is unknown (math_ops._may_reduce_to_scalar).
    p = ng.placeholder(ng.float32, shape=None)
    for fn in (ng.reduce_sum, ng.reduce_mean, ng.reduce_max):
        t = fn(p)
        assert t.shape.rank == 0, f"{fn.__name__}: static shape {t.shape}, TF gives ()"
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    assert sess.run(ng.reduce_sum(p), {p: x}) == 15.0
    kept = ng.reduce_sum(p, keepdims=True)
    assert kept.shape.rank is None
    np.testing.assert_array_equal(sess.run(kept, {p: x}), [[15.0]])


def test_placeholder_unknown_rank_default_transpose(sess):
    # tf.transpose(a) with perm=None works on unknown rank (perm = rank-1 - range(rank)).
    p = ng.placeholder(ng.float32, shape=None)
    t = ng.transpose(p)
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    np.testing.assert_array_equal(sess.run(t, {p: x}), x.T)
    x3 = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    np.testing.assert_array_equal(sess.run(t, {p: x3}), x3.transpose())


def test_placeholder_feed_shape_mismatch_raises(sess):
    p = ng.placeholder(ng.float32, [None, 3])
    with pytest.raises(ValueError):
        sess.run(p * 2.0, {p: np.ones((2, 4), np.float32)})


# --- construction-time errors ---------------------------------------------------------------------------
def test_binary_shape_mismatch_message():
    x = ng.constant(np.ones((2, 3), np.float32))
    y = ng.constant(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError) as e:
        ng.add(x, y, name="my_add")
    m = _msg(e)
    assert "my_add" in m or "Add" in m
    assert "2,3" in m and "4,3" in m, str(e.value)
    with pytest.raises(ValueError) as e:
        ng.multiply(x, ng.constant(np.ones((3, 2), np.float32)))
    m = _msg(e)
    assert "Mul" in m and "2,3" in m and "3,2" in m, str(e.value)
    with pytest.raises(ValueError):
        x - ng.constant(np.ones((2,), np.float32))


def test_matmul_inner_dim_mismatch():
    with pytest.raises(ValueError) as e:
        ng.matmul(ng.constant(np.ones((2, 3))), ng.constant(np.ones((4, 5))))
    m = _msg(e)
    assert "2,3" in m and "4,5" in m
    with pytest.raises(ValueError):
        ng.matmul(ng.constant(np.ones((2, 3))), ng.constant(np.ones((2, 3))))
    with pytest.raises(ValueError):
        ng.matmul(ng.constant(np.ones((2, 3))), ng.constant(np.ones((2, 3))), transpose_a=True,
                  transpose_b=True)
    with pytest.raises(ValueError):
        ng.matmul(ng.constant(np.ones((2, 2, 3))), ng.constant(np.ones((3, 3, 4))))
    with pytest.raises(ValueError):
        ng.matmul(ng.constant(np.ones(3)), ng.constant(np.ones((3, 4))))


def test_reshape_incompatible_size():
    with pytest.raises(ValueError):
        ng.reshape(ng.constant(M), [5, 5])
    with pytest.raises(ValueError):
        ng.reshape(ng.constant(M), [5, -1])
    with pytest.raises(ValueError):
        ng.reshape(ng.constant(M), [-1, -1])


def test_concat_mismatched_dims():
    with pytest.raises(ValueError):
        ng.concat([ng.constant(np.ones((2, 3))), ng.constant(np.ones((3, 4)))], axis=0)
    with pytest.raises(ValueError):
        ng.concat([ng.constant(np.ones((2, 3))), ng.constant(np.ones((2, 3, 1)))], axis=0)


def test_bad_transpose_perm():
    for perm in ([0, 0, 1], [0, 1], [0, 1, 3]):
        with pytest.raises(ValueError):
            ng.transpose(ng.constant(M), perm)


def test_squeeze_non_one_dim():
    with pytest.raises(ValueError):
        ng.squeeze(ng.constant(np.ones((1, 2, 1))), axis=1)


def test_float_only_ops_reject_int():
    with pytest.raises(TypeError):
        ng.tanh(ng.constant([1, 2], ng.int32))
    with pytest.raises(TypeError):
        ng.exp(ng.constant([1, 2]))
    with pytest.raises(TypeError):
        ng.nn.softmax(ng.constant([1, 2]))


def test_failed_construction_leaves_graph_usable(sess):
    x = ng.constant(np.ones((2, 3), np.float32))
    with pytest.raises(ValueError):
        ng.add(x, ng.constant(np.ones((4, 3), np.float32)))
    check(sess, x + 1.0, np.full((2, 3), 2.0), ng.float32)


# --- property tests (hypothesis) ---------------------------------------------------------------------------
HYP_BINARY = [(ng.add, np.add), (ng.subtract, np.subtract), (ng.multiply, np.multiply),
              (ng.maximum, np.maximum), (ng.minimum, np.minimum),
              (ng.squared_difference, lambda a, b: (a - b) ** 2)]


@HYP
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3,
                                                max_side=3),
       op=st.sampled_from(range(len(HYP_BINARY))),
       use64=st.booleans(), seed=st.integers(0, 2 ** 16))
def test_property_binary_broadcast(shapes, op, use64, seed):
    fn, ref = HYP_BINARY[op]
    dt = np.float64 if use64 else np.float32
    rng = np.random.default_rng(seed)
    (sa, sb), out = shapes.input_shapes, shapes.result_shape
    a = rng.uniform(-3, 3, sa).astype(dt)
    b = rng.uniform(-3, 3, sb).astype(dt)
    ng.reset_default_graph()
    with ng.Session() as s:
        t = fn(ng.constant(a), ng.constant(b))
        assert t.shape.as_list() == list(out)
        got = np.asarray(s.run(t))
    assert got.dtype == dt and got.shape == tuple(out)
    np.testing.assert_allclose(got, ref(a.astype(np.float64), b.astype(np.float64)),
                               **_tol(dt))


@st.composite
def _reduction_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=3))
    r = len(shape)
    axes = draw(st.lists(st.integers(0, r - 1), unique=True, max_size=r))
    axes = [a - r if draw(st.booleans()) else a for a in axes]
    form = draw(st.sampled_from(["list", "int", "none"]))
    if form == "int" and axes:
        axes = axes[0]
    elif form == "none":
        axes = None
    return shape, axes, draw(st.booleans())


HYP_REDUCE = [(ng.reduce_sum, np.sum), (ng.reduce_mean, np.mean), (ng.reduce_max, np.max),
              (ng.reduce_min, np.min), (ng.reduce_prod, np.prod)]


@HYP
@given(case=_reduction_case(), op=st.sampled_from(range(len(HYP_REDUCE))),
       seed=st.integers(0, 2 ** 16))
def test_property_reductions(case, op, seed):
    shape, axes, keepdims = case
    fn, ref = HYP_REDUCE[op]
    x = np.random.default_rng(seed).uniform(0.5, 1.5, shape)
    np_axis = tuple(axes) if isinstance(axes, list) else axes
    exp = np.asarray(ref(x, axis=np_axis, keepdims=keepdims))
    ng.reset_default_graph()
    with ng.Session() as s:
        t = fn(ng.constant(x), axis=axes, keepdims=keepdims)
        assert t.dtype == ng.float64
        assert t.shape.as_list() == list(exp.shape)
        got = np.asarray(s.run(t))
    assert got.shape == exp.shape
    np.testing.assert_allclose(got, exp, rtol=1e-12)


@st.composite
def _index_case(draw):
    shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    key = []
    for d in shape:
        kind = draw(st.sampled_from(["int", "slice", "slice"]))
        if kind == "int":
            key.append(draw(st.integers(-d, d - 1)))
        else:
            start = draw(st.one_of(st.none(), st.integers(-d - 2, d + 2)))
            stop = draw(st.one_of(st.none(), st.integers(-d - 2, d + 2)))
            step = draw(st.one_of(st.none(), st.sampled_from([-3, -2, -1, 1, 2, 3])))
            key.append(slice(start, stop, step))
    if draw(st.booleans()):
        key.insert(draw(st.integers(0, len(key))), None)
    if draw(st.booleans()) and len(key) > 1:
        # replace a leading or trailing run of full slices by an ellipsis
        i = draw(st.integers(1, len(key) - 1))
        key = [Ellipsis] + key[i:] if draw(st.booleans()) else key[:i] + [Ellipsis]
    return shape, tuple(key)


@HYP
@given(case=_index_case())
def test_property_getitem(case):
    shape, key = case
    x = np.arange(int(np.prod(shape)), dtype=np.float32).reshape(shape)
    exp = x[key]
    ng.reset_default_graph()
    with ng.Session() as s:
        t = ng.constant(x)[key]
        assert t.shape.as_list() == list(exp.shape)
        got = np.asarray(s.run(t))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, exp)


@HYP
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2,
                                                max_side=3),
       m=st.integers(1, 3), k=st.integers(1, 3), n=st.integers(1, 3),
       ta=st.booleans(), tb=st.booleans())
def test_property_matmul_batch_broadcast(shapes, m, k, n, ta, tb):
    (ba, bb), bout = shapes.input_shapes, shapes.result_shape
    rng = np.random.default_rng(m * 100 + k * 10 + n)
    a = rng.standard_normal(ba + (m, k))
    b = rng.standard_normal(bb + (k, n))
    exp = np.einsum("...ij,...jk->...ik", np.broadcast_to(a, bout + (m, k)),
                    np.broadcast_to(b, bout + (k, n)))
    a_in = np.swapaxes(a, -1, -2) if ta else a
    b_in = np.swapaxes(b, -1, -2) if tb else b
    ng.reset_default_graph()
    with ng.Session() as s:
        t = ng.matmul(ng.constant(a_in), ng.constant(b_in), transpose_a=ta, transpose_b=tb)
        assert t.shape.as_list() == list(exp.shape)
        got = np.asarray(s.run(t))
    np.testing.assert_allclose(got, exp, rtol=1e-12, atol=1e-12)
