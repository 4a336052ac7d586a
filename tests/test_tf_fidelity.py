"""Differences from TensorFlow 2.21's tf.compat.v1 (graph mode) found by differential testing.

Each test is a repro with TF's answer written in it.  Inputs are fed through placeholders, so
the cpu backend runs its compiled kernels (constants alone could be folded).
"""
import numpy as np
import pytest

import numgrad as ng


# --- 1. div is Python 2 division; truediv/divide/realdiv/floordiv and the operators -------------
def test_div_of_integers_is_floor_division(sess):
    x = ng.placeholder(ng.float32, [1])
    y = ng.cast(ng.div(ng.cast(x, ng.int32), ng.constant([-4])), ng.float64)
    np.testing.assert_array_equal(sess.run(y, {x: [1.4]}), [-1.0])          # TF: -1


def test_div_of_integers_stays_integer_and_floordivs(sess):
    i = ng.placeholder(ng.int32, [3])
    j = ng.placeholder(ng.int32, [3])
    k = ng.placeholder(ng.int32, [3])
    q = ng.div(i, j)
    assert q.dtype == ng.int32 and q.op.type == "FloorDiv"
    z = q // k
    feeds = {i: [7, -7, 9], j: [2, 2, -4], k: [2, 2, 2]}
    got_q, got_z = sess.run([q, z], feeds)
    np.testing.assert_array_equal(got_q, [3, -4, -3])      # TF: [3, -4, -3]
    np.testing.assert_array_equal(got_z, [1, -2, -2])      # TF: [1, -2, -2]


@pytest.mark.parametrize("dtype", [ng.float16, ng.float32, ng.float64], ids=lambda d: d.name)
def test_div_of_floats_is_realdiv(sess, dtype):
    a = ng.placeholder(dtype, [2])
    b = ng.placeholder(dtype, [2])
    q = ng.div(a, b)
    assert q.dtype == dtype and q.op.type == "RealDiv"
    np.testing.assert_allclose(sess.run(q, {a: [7, -7], b: [2, 2]}), [3.5, -3.5])


@pytest.mark.parametrize("dtype,out", [(ng.int32, ng.float64), (ng.int64, ng.float64),
                                       (ng.float16, ng.float16), (ng.float32, ng.float32),
                                       (ng.float64, ng.float64)], ids=lambda d: d.name)
def test_truediv_divide_and_slash_dtypes(sess, dtype, out):
    """TF's _TRUEDIV_TABLE: int32/int64 -> float64, floats unchanged."""
    a = ng.placeholder(dtype, [2])
    b = ng.placeholder(dtype, [2])
    feeds = {a: [7, -7], b: [2, 2]}
    for t in (ng.truediv(a, b), ng.divide(a, b), a / b):
        assert t.dtype == out
        np.testing.assert_allclose(sess.run(t, feeds), [3.5, -3.5])


@pytest.mark.parametrize("dtype", [ng.int32, ng.int64, ng.float32, ng.float64],
                         ids=lambda d: d.name)
def test_floordiv_and_slashslash_keep_the_dtype(sess, dtype):
    a = ng.placeholder(dtype, [3])
    b = ng.placeholder(dtype, [3])
    for t in (ng.floordiv(a, b), a // b):
        assert t.dtype == dtype
        np.testing.assert_array_equal(sess.run(t, {a: [7, -7, 9], b: [2, 2, -4]}), [3, -4, -3])


def test_division_dtype_errors_as_tf():
    i, f = ng.constant([1, 2]), ng.constant([1.0, 2.0])
    for fn in (ng.div, ng.truediv, ng.floordiv, ng.floormod):
        with pytest.raises(TypeError):
            fn(i, f)
    b = ng.constant([True, False])
    for fn in (ng.div, ng.truediv, ng.floordiv, ng.floormod, ng.div_no_nan):
        with pytest.raises(TypeError):       # TF: no bool kernels / _TRUEDIV_TABLE KeyError
            fn(b, b)
    with pytest.raises(TypeError):           # RealDiv has float kernels only
        ng.realdiv(i, i)


# --- 2. mod is floormod, with TF's gradient; % is floormod --------------------------------------
@pytest.mark.parametrize("dtype", [ng.int32, ng.int64], ids=lambda d: d.name)
def test_mod_is_floormod_int(sess, dtype):
    x = ng.placeholder(dtype, [4])
    y = ng.placeholder(dtype, [4])
    feeds = {x: [-1, 5, 7, -8], y: [4, -3, 2, 3]}
    want = [3, -1, 1, 1]                     # TF floormod: sign of the divisor
    for t in (ng.mod(x, y), ng.floormod(x, y), x % y):
        assert t.op.type == "FloorMod" and t.dtype == dtype
        np.testing.assert_array_equal(sess.run(t, feeds), want)
    np.testing.assert_array_equal(sess.run(ng.mod(ng.constant(-1), 4)), 3)   # TF: 3
    np.testing.assert_array_equal(sess.run(7 % x, feeds), [0, 2, 0, -1])
    np.testing.assert_array_equal(sess.run(x % ng.zeros_like(y), feeds), [0, 0, 0, 0])  # as //


@pytest.mark.parametrize("dtype", [ng.float32, ng.float64], ids=lambda d: d.name)
def test_floormod_float_values(sess, dtype):
    x = ng.placeholder(dtype, [5])
    y = ng.placeholder(dtype, [5])
    got = sess.run(x % y, {x: [-1.5, 5.0, 7.25, -4.0, 3.0], y: [4.0, -3.0, 2.0, 2.0, 0.0]})
    np.testing.assert_array_equal(got[:4], [2.5, -1.0, 1.25, 0.0])
    assert np.isnan(got[4])                  # TF: nan (fmod by zero)


def test_floormod_gradient_tf_rule(sess):
    x = ng.placeholder(ng.float64, [4])
    y = ng.placeholder(ng.float64, [4])
    gx, gy = ng.gradients(ng.reduce_sum(ng.mod(x, y) * 2.0), [x, y])
    got = sess.run([gx, gy], {x: [-1.5, 5.0, 7.25, -4.5], y: [4.0, -3.0, 2.0, 2.0]})
    np.testing.assert_array_equal(got[0], [2, 2, 2, 2])           # TF: grad
    np.testing.assert_array_equal(got[1], [2, 4, -6, 6])          # TF: -grad * floor(x / y)


def _check_binary_gradients(sess, fn):
    """Both inputs' gradients of fn(x [2, 3], y [3]) against finite differences."""
    x = ng.placeholder(ng.float64, [2, 3])
    y = ng.placeholder(ng.float64, [3])
    z = fn(x, y)
    xv = np.array([[1.3, -2.6, 5.2], [-0.7, 4.1, -3.3]])
    yv = np.array([2.1, 1.7, -2.3])
    with sess.as_default():
        ex = ng.test.compute_gradient_error(x, [2, 3], z, [2, 3], xv, delta=1e-6,
                                            extra_feed_dict={y: yv})
        ey = ng.test.compute_gradient_error(y, [3], z, [2, 3], yv, delta=1e-6,
                                            extra_feed_dict={x: xv})
    assert ex < 1e-6 and ey < 1e-6


def test_floormod_gradient_matches_finite_differences(sess):
    _check_binary_gradients(sess, ng.floormod)


# --- 3. bool and int row temporaries in fused cpu kernels ---------------------------------------
def test_bool_condition_before_a_row_max_gradient(sess):
    x = ng.placeholder(ng.float32, [2, 3])
    v1 = ng.greater(x, -0.71)
    v2 = ng.where(v1, x, x)
    v3 = ng.reduce_max(v2, axis=[-1], keepdims=True)
    g, = ng.gradients(v3, x)
    xv = np.array([[-0.9, 0.3, 0.1], [0.5, -0.2, 0.4]], np.float32)
    np.testing.assert_array_equal(sess.run(g, {x: xv}), [[0, 1, 0], [1, 0, 0]])   # TF


def _bool_int_graphs(x):
    i = ng.cast(x * 3.0, ng.int32)
    c = ng.greater(x, 0.0)
    e = ng.equal(i, 1)
    return {
        "where_bool_then_max": ng.reduce_max(ng.where(c, x, -x), axis=-1, keepdims=True),
        "select_int_then_max": ng.reduce_max(ng.where(c, i, -i), axis=-1, keepdims=True),
        "cast_bool_then_sum": ng.reduce_sum(ng.cast(c, ng.float32), axis=-1, keepdims=True),
        "equal_int_then_where": ng.reduce_min(ng.where(e, x, x * 2.0), axis=-1),
        "bool_and_int_rows": ng.reduce_max(ng.cast(ng.logical_and(c, e), ng.int32) + i,
                                           axis=-1) + ng.reduce_sum(i, axis=-1),
        "bool_out": ng.logical_or(c, ng.equal(ng.reduce_max(i, -1, keepdims=True), i)),
    }


@pytest.mark.parametrize("name", sorted(_bool_int_graphs(ng.constant([[0.0]]))))
def test_bool_and_int_tensors_in_fused_kernels(sess, name):
    x = ng.placeholder(ng.float32, [3, 4])
    t = _bool_int_graphs(x)[name]
    xv = np.random.default_rng(3).uniform(-1, 1, (3, 4)).astype(np.float32)
    got = sess.run(t, {x: xv})
    with ng.Session(backend="numpy") as ref_sess:
        want = ref_sess.run(t, {x: xv})
    assert got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)


# --- 5. gradient rules read what TF's read (cumprod recomputes; div_no_nan) ----------------------
def test_cumprod_gradient_recomputes_the_cumprod(sess):
    """TF's _CumprodGrad recomputes cumprod(x) instead of reading the op's output, so
    stop_gradients=[cumprod output] does not cut the second derivative."""
    x = ng.placeholder(ng.float64, [1, 3, 1])
    v1 = ng.cumprod(x)
    g = ng.gradients(ng.reduce_sum(v1), x)[0]
    h, = ng.gradients(g, x, stop_gradients=[v1], unconnected_gradients="zero")
    got = sess.run(h, {x: np.array([1.0, -2.0, 1.0]).reshape(1, 3, 1)})
    np.testing.assert_array_equal(got.reshape(-1), [0.0, 0.0, 0.0])    # TF: [0, 0, 0]


def test_cumprod_gradient_is_finite_at_a_zero(sess):
    x = ng.placeholder(ng.float64, [3])
    g, = ng.gradients(ng.reduce_sum(ng.cumprod(x)), x)
    np.testing.assert_array_equal(sess.run(g, {x: [2.0, 0.0, 3.0]}), [1.0, 0.0, 0.0])   # TF


@pytest.mark.parametrize("exclusive,reverse", [(False, False), (True, False), (False, True),
                                               (True, True)])
def test_cumprod_gradient_matches_finite_differences(sess, exclusive, reverse):
    x = ng.placeholder(ng.float64, [2, 3])
    y = ng.cumprod(x, axis=1, exclusive=exclusive, reverse=reverse)
    xv = np.array([[0.7, -1.3, 2.1], [1.6, 0.9, -0.4]])
    with sess.as_default():
        err = ng.test.compute_gradient_error(x, [2, 3], y, [2, 3], xv, delta=1e-6)
    assert err < 1e-6


def test_div_no_nan_values_and_gradient(sess):
    x = ng.placeholder(ng.float64, [4])
    y = ng.placeholder(ng.float64, [4])
    q = ng.div_no_nan(x, y)
    assert ng.divide_no_nan is ng.div_no_nan and q.op.type == "DivNoNan"
    feeds = {x: [1.0, np.inf, np.nan, 3.0], y: [0.0, 0.0, 0.0, 2.0]}
    gx, gy = ng.gradients(ng.reduce_sum(q), [x, y])
    got_q, got_gx, got_gy = sess.run([q, gx, gy], feeds)
    np.testing.assert_array_equal(got_q, [0.0, 0.0, 0.0, 1.5])          # TF
    np.testing.assert_array_equal(got_gx, [0.0, 0.0, 0.0, 0.5])         # TF: div_no_nan(g, y)
    np.testing.assert_array_equal(got_gy, [0.0, 0.0, 0.0, -0.75])       # TF
    i = ng.div_no_nan(ng.constant([3, 4]), ng.constant([0, 2]))
    assert i.dtype == ng.float64                                        # TF: truediv's casts
    np.testing.assert_array_equal(sess.run(i), [0.0, 2.0])


def test_div_no_nan_gradient_matches_finite_differences(sess):
    _check_binary_gradients(sess, ng.div_no_nan)


def test_unsorted_segment_sum_gradient_selects_zeros_for_dropped_ids(sess):
    """TF's _GatherDropNegatives selects zeros for negative ids: an inf in the row the clamped
    id gathers does not become NaN."""
    d = ng.placeholder(ng.float64, [3])
    s = ng.unsorted_segment_sum(d, ng.constant([0, -1, 1]), 2)
    g, = ng.gradients(s, d, grad_ys=[ng.constant([np.inf, 1.0], ng.float64)])
    np.testing.assert_array_equal(sess.run(g, {d: [1.0, 2.0, 3.0]}), [np.inf, 0.0, 1.0])


# --- 4 and 8. grad_ys: shape checked only for connected ys; dtype must match y's -----------------
def test_grad_ys_shape_of_an_unconnected_y_is_not_checked(sess):
    x = ng.placeholder(ng.float32, [2])
    y = ng.constant(3.0)
    g, = ng.gradients(y, x, grad_ys=[ng.constant([1.0, 2.0])], unconnected_gradients="zero")
    np.testing.assert_array_equal(sess.run(g, {x: [5.0, 6.0]}), [0.0, 0.0])    # TF: zeros
    assert ng.gradients(y, x, grad_ys=[ng.constant([1.0, 2.0])]) == [None]


def test_grad_ys_shape_of_a_connected_y_is_still_checked():
    x = ng.placeholder(ng.float32, [2])
    with pytest.raises(ValueError, match="grad_ys\\[0\\]"):
        ng.gradients(ng.reduce_sum(x), x, grad_ys=[ng.constant([1.0, 2.0])])


def test_grad_ys_of_another_dtype_raises_type_error():
    x = ng.placeholder(ng.float64, [3])
    c = ng.constant([True, False, True])
    y = ng.reduce_mean(ng.where(c, x, x))
    n = len(ng.get_default_graph().get_operations())
    with pytest.raises(TypeError, match="grad_ys\\[0\\].*float32.*float64"):   # TF: TypeError
        ng.gradients(y, x, grad_ys=[ng.constant(1.0, ng.float32)])
    assert len(ng.get_default_graph().get_operations()) == n + 1   # only the grad_ys constant
    with pytest.raises(TypeError):
        ng.gradients(ng.identity(x), x, grad_ys=[ng.constant([1.0, 2.0, 3.0], ng.float32)])


# --- 7. softmax / log_softmax over a non-last axis: transpose, op on the last axis, back ----------
@pytest.mark.parametrize("fn", [ng.nn.softmax, ng.nn.log_softmax], ids=["softmax", "log_softmax"])
def test_softmax_non_last_axis_has_tf_structure(sess, fn):
    v = ng.placeholder(ng.float64, [2, 3, 4])
    y = fn(v, axis=1)
    assert y.op.type == "Transpose" and y.op.inputs[0].op.inputs[0].op.type == "Transpose"
    inner = y.op.inputs[0]
    assert inner.op.get_attr("axis") == 2
    g = ng.gradients(ng.reduce_sum(y), v)[0]
    assert ng.gradients(g, y) == [None]          # TF: None (the rule reads the inner output)
    vv = np.random.default_rng(0).normal(size=(2, 3, 4))
    m = vv.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(vv - m).sum(axis=1, keepdims=True))
    want = vv - lse if fn is ng.nn.log_softmax else np.exp(vv - lse)
    np.testing.assert_allclose(sess.run(y, {v: vv}), want, rtol=1e-12, atol=1e-15)
    with sess.as_default():
        err = ng.test.compute_gradient_error(v, [2, 3, 4], y, [2, 3, 4], vv, delta=1e-6)
    assert err < 1e-6


def test_softmax_last_axis_is_one_op():
    v = ng.placeholder(ng.float32, [2, 3])
    for axis in (-1, 1, None):
        assert ng.nn.softmax(v, axis=axis).op.type == "Softmax"
        assert ng.nn.log_softmax(v, axis=axis).op.type == "LogSoftmax"


# --- 9. error types ------------------------------------------------------------------------------------
def test_softmax_axis_out_of_range_is_invalid_argument_error():
    x = ng.placeholder(ng.float64, [3, 2], name="x")
    for fn in (ng.nn.softmax, ng.nn.log_softmax):
        with pytest.raises(ng.errors.InvalidArgumentError, match="'x:0'.*dim=2"):   # TF
            fn(x, axis=2)
        with pytest.raises(ValueError):
            fn(x, axis=-3)


def test_none_as_an_op_input_is_value_error():
    x = ng.placeholder(ng.float32, [2])
    for f in (lambda: ng.add(x, None), lambda: x + None, lambda: ng.multiply(None, x),
              lambda: ng.reshape(None, [2]), lambda: ng.constant(None),
              lambda: ng.matmul(ng.constant([[1.0]]), None)):
        with pytest.raises(ValueError, match="None"):                              # TF
            f()
    with pytest.raises(TypeError):      # not copied from TF (AttributeError there): a None y
        ng.gradients([None], x)


# --- 6. sparse vs dense gradients as TF: gather axis as given; concat keeps IndexedSlices ---------
def test_gather_gradient_dense_unless_axis_is_literally_zero(sess):
    x = ng.placeholder(ng.float64, [3])
    g_neg, = ng.gradients(ng.gather(x, [0, 2, 2], axis=-1), x)
    g_zero, = ng.gradients(ng.gather(x, [0, 2, 2], axis=0), x)
    g_none, = ng.gradients(ng.gather(x, [0, 2, 2]), x)
    assert isinstance(g_neg, ng.Tensor)                  # TF: dense (axis_static == -1)
    assert isinstance(g_zero, ng.IndexedSlices) and isinstance(g_none, ng.IndexedSlices)
    np.testing.assert_array_equal(sess.run(g_neg, {x: [1.0, 2.0, 3.0]}), [1.0, 0.0, 2.0])
    m = ng.placeholder(ng.float64, [2, 3])
    g_m, = ng.gradients(ng.gather(m, [1], axis=-2), m)
    assert isinstance(g_m, ng.Tensor)
    np.testing.assert_array_equal(sess.run(g_m, {m: np.zeros((2, 3))}), [[0, 0, 0], [1, 1, 1]])


def test_concat_axis0_keeps_indexed_slices(sess):
    x = ng.placeholder(ng.float64, [3])
    c = ng.constant([5.0, 6.0, 7.0], ng.float64)
    y = ng.gather(ng.concat([x, c, x], 0), [0, 4, 6, 6])
    g, = ng.gradients(y, x, grad_ys=[ng.constant([1.0, 2.0, 3.0, 4.0], ng.float64)])
    assert isinstance(g, ng.IndexedSlices)               # TF: IndexedSlices
    v = sess.run(g, {x: [1.0, 2.0, 3.0]})
    dense = np.zeros(3)
    np.add.at(dense, v.indices, v.values)
    np.testing.assert_array_equal(dense, [8.0, 0.0, 0.0])
    np.testing.assert_array_equal(v.dense_shape, [3])


def test_concat_other_axis_keeps_indexed_slices(sess):
    m = ng.placeholder(ng.float64, [2, 3])
    mc = ng.constant(np.ones((2, 2)))
    y = ng.gather(ng.concat([m, mc, m], 1), [1, 1, 0])
    up = np.arange(24.0).reshape(3, 8)
    g, = ng.gradients(y, m, grad_ys=[ng.constant(up)])
    assert isinstance(g, ng.IndexedSlices)               # TF: IndexedSlices (values sliced)
    v = sess.run(g, {m: np.zeros((2, 3))})
    dense = np.zeros((2, 3))
    np.add.at(dense, v.indices, v.values)
    want = np.zeros((2, 3))
    for row, i in zip(up, [1, 1, 0]):
        want[i] += row[:3] + row[5:]
    np.testing.assert_array_equal(dense, want)


def test_concat_sparse_gradient_matches_finite_differences(sess):
    x = ng.placeholder(ng.float64, [3, 2])
    y = ng.gather(ng.concat([ng.tanh(x), x * 2.0], 0), [5, 0, 3, 3])
    xv = np.array([[0.3, -0.2], [1.1, 0.4], [-0.6, 0.9]])
    with sess.as_default():
        err = ng.test.compute_gradient_error(x, [3, 2], y, [4, 2], xv, delta=1e-6)
    assert err < 1e-6


@pytest.mark.parametrize("build, sign", [(lambda x, c: x + c, 1.0), (lambda x, c: x - c, 1.0),
                                         (lambda x, c: c - x, -1.0)],
                         ids=["x+c", "x-c", "c-x"])
def test_add_sub_gradient_of_indexed_slices(sess, build, sign):
    """TF 2.21's _AddGrad/_SubGrad (_ReduceGradientArgs): an IndexedSlices grad passes through
    sparse to an input that was not broadcast (TF: IndexedSlices for x + c, x - c, c - x with
    static equal shapes), and is summed, dense, where the input was broadcast or its shape is
    unknown (TF: a Tensor for x of shape [1] or [None])."""
    c = ng.constant([5.0, 6.0, 7.0], ng.float64)
    x = ng.placeholder(ng.float64, [3])
    g, = ng.gradients(ng.gather(build(x, c), [0, 2, 2]), x)
    assert isinstance(g, ng.IndexedSlices)
    np.testing.assert_array_equal(sess.run(ng.convert_to_tensor(g), {x: [1.0, 2.0, 3.0]}),
                                  np.array([1.0, 0.0, 2.0]) * sign)
    for shape in ([1], [None]):
        xb = ng.placeholder(ng.float64, shape)
        gb, = ng.gradients(ng.gather(build(xb, c), [0, 2, 2]), xb)
        assert isinstance(gb, ng.Tensor)
        np.testing.assert_array_equal(sess.run(gb, {xb: [1.0]}), [3.0 * sign])


# --- 10. `*` with a bool Tensor is TF's cast-to-int32, multiply, cast-to-bool (issue 22 fuzz) -------
def test_bool_tensor_times_operator_is_tf_cast_multiply_cast(sess):
    """TF's Tensor.__mul__ (tensor_math_operator_overrides._mul_dispatch_factory): when either
    side is a bool Tensor, cast(cast(x, int32) * cast(y, int32), bool)."""
    x = ng.placeholder(ng.float64, [3])
    c = ng.not_equal(x, 0.71)
    f = ng.constant([0.5, 2.0, -3.7])
    i = ng.constant([0, 2, -3])
    outs = [c * 3.0, c * 0.5, c * c, c * f, f * c, c * i, i * c, c * True]
    for t in outs:
        assert t.dtype == ng.bool_
    got = sess.run(outs, {x: [1.0, 0.71, 2.0]})
    want = [[True, False, True], [False, False, False], [True, False, True],      # TF's answers
            [False, False, True], [False, False, True], [False, False, True],
            [False, False, True], [True, False, True]]
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)
    y = ng.cast(c * 3.0, ng.int32)                       # the fuzz repro: TF builds and runs it
    np.testing.assert_array_equal(sess.run(y, {x: [1.0, 0.71, 2.0]}), [1, 0, 1])


def test_python_number_times_bool_tensor_is_type_error():
    c = ng.constant([True, False])
    with pytest.raises(TypeError):                       # TF: Expected bool, but got 3.0
        3.0 * c
    with pytest.raises(TypeError):                       # TF: Mul has no bool kernel
        ng.multiply(c, c)
    np.testing.assert_array_equal(ng.Session(backend="numpy").run(True * c), [True, False])


# --- 11. reduce_prod over no axes (rank-0 input, axis=[]) keeps TF's connected gradient ----------
def test_prod_gradient_of_a_scalar_stays_connected_for_second_derivatives(sess):
    """The fuzz repro: TF's _ProdGrad has no identity shortcut, so the second derivative through
    reduce_prod(reduce_max(x)) is a zero Tensor in TF, not None."""
    x0 = ng.placeholder(ng.float64, [None, 4, 2])
    t9 = ng.reduce_prod(ng.reduce_max(x0), keepdims=True)
    g, = ng.gradients(t9, [x0])
    g2, = ng.gradients(ng.reduce_sum(g * g), [x0])
    assert g2 is not None                                              # TF: a Tensor
    xv = np.arange(1.0, 9.0).reshape(1, 4, 2)
    np.testing.assert_array_equal(sess.run(g2, {x0: xv}), np.zeros((1, 4, 2)))   # TF: zeros
    y = ng.reduce_prod(x0 * x0, axis=[], keepdims=True)
    g, = ng.gradients(y, [x0])
    g2, = ng.gradients(ng.reduce_sum(g * g), [x0])
    got_g, got_g2 = sess.run([g, g2], {x0: xv})
    np.testing.assert_array_equal(got_g, 2 * xv)                      # TF: [2, 4, 6, 8, ...]
    np.testing.assert_array_equal(got_g2, 8 * xv)                     # TF: [8, 16, 24, 32, ...]


# --- 12. ReluGrad is TF's product gradients * (features > 0), not a select -----------------------
def test_relu_gradient_propagates_nan_and_inf_as_tf(sess):
    """TF's ReluGradOp: gradients * (features > 0).cast<T>(), so a NaN or inf gradient where
    features <= 0 gives NaN (NaN * 0, inf * 0), where a select gave 0."""
    x = ng.placeholder(ng.float32, [5])
    gy = ng.placeholder(ng.float32, [5])
    g, = ng.gradients(ng.nn.relu(x), x, grad_ys=gy)
    got = sess.run(g, {x: [-np.inf, np.inf, np.nan, 0.0, 2.0],
                       gy: [np.nan, np.nan, 1.0, np.inf, 3.0]})
    np.testing.assert_array_equal(got, [np.nan, np.nan, 0.0, np.nan, 3.0])   # TF's answer


def test_relu_gradient_of_a_division_fuzz_repro(sess):
    """The fuzz repro: d(t0 / relu(t0))/dt0 at t0 = 0 is 1/0 + (-0/0) * 0 = inf + NaN."""
    x0 = ng.placeholder(ng.float32, [])
    t0 = x0 - x0
    t8 = t0 / ng.nn.relu(t0)
    g, = ng.gradients(t8, [t0])
    assert np.isnan(sess.run(g, {x0: -0.87}))                                  # TF: nan


# --- 13. softmax cross-entropy: an empty class axis; a zero loss is +0.0 -------------------------
def test_softmax_cross_entropy_over_no_classes_is_zero(sess):
    """The fuzz repro: logits of shape [0] (or [2, 3, 0]) built and gave 'Cannot reshape a tensor
    with 0 elements ... to shape []'; TF flattens to [prod(outer), classes] and the loss is 0."""
    x0 = ng.placeholder(ng.float64, [3])
    t0 = x0[4:2]
    t11 = ng.nn.softmax_cross_entropy_with_logits(
        labels=ng.stop_gradient(ng.nn.softmax(t0, axis=-1)), logits=t0)
    x3 = ng.placeholder(ng.float32, [2, 3, 0])
    t10 = ng.nn.softmax_cross_entropy_with_logits_v2(labels=x3, logits=x3 * 2.0)
    g0, g3 = ng.gradients([t11, t10], [x0, x3])
    got = sess.run([t11, t10, g0, g3], {x0: np.ones(3), x3: np.ones((2, 3, 0))})
    assert got[0].shape == () and got[0] == 0.0 and not np.signbit(got[0])        # TF: 0.0
    np.testing.assert_array_equal(got[1], np.zeros((2, 3)))                         # TF: zeros
    assert not np.signbit(got[1]).any()
    np.testing.assert_array_equal(got[2], [0.0, 0.0, 0.0])                          # TF: zeros
    assert got[3].shape == (2, 3, 0)


def test_softmax_cross_entropy_zero_loss_sign_and_floordiv_by_it(sess):
    """The fuzz repro: one class, so the loss is 0; TF's kernel sums labels * (lse - shifted),
    +0.0, so -1.97 // loss is -inf in TF (it was +inf from -0.0)."""
    x0 = ng.placeholder(ng.float32, [1, 4])
    t9 = ng.gather(x0, [2], axis=1)
    t10 = ng.nn.softmax_cross_entropy_with_logits_v2(
        labels=ng.nn.softmax(t9, axis=-1), logits=ng.reduce_prod(x0, keepdims=True))
    t13 = ng.constant([-1.97], ng.float32) // t10
    got = sess.run(t13, {x0: [[0.3, -1.2, 0.8, 2.0]]})
    np.testing.assert_array_equal(got, [-np.inf])                                  # TF: [-inf]


def test_softmax_cross_entropy_of_unknown_rank_logits(sess):
    """The fuzz repro: squeeze of a [2, None] placeholder has unknown rank; TF flattens to
    [-1, classes] at run time, numgrad raised 'needs logits of known rank'."""
    x1 = ng.placeholder(ng.float32, [2, None])
    lab = ng.placeholder(ng.float32, None)
    t11 = ng.squeeze(x1)
    assert t11.shape.rank is None
    t15 = ng.nn.softmax_cross_entropy_with_logits_v2(labels=lab, logits=t11 * t11)
    g, = ng.gradients(t15, [x1])
    xv = np.arange(6.0, dtype=np.float32).reshape(2, 3) / 3
    lv = np.array([[0.2, 0.3, 0.5], [1, 0, 0]], np.float32)
    got_loss, got_g = sess.run([t15, g], {x1: xv, lab: lv})
    np.testing.assert_allclose(got_loss, [1.0465806, 2.2075405], rtol=1e-5)       # TF's answer
    np.testing.assert_allclose(got_g, [[0.0, 0.00260639, -0.10114658],              # TF's answer
                                       [-1.7800584, 0.6383087, 2.168878]], rtol=1e-5, atol=1e-7)


# --- 14. Sqrt/Rsqrt/Reciprocal gradients are TF's *Grad kernels: 0 where the seed is 0 --------
@pytest.mark.parametrize("fn", ["sqrt", "rsqrt", "reciprocal"])
def test_sqrt_rsqrt_reciprocal_gradient_is_zero_where_the_seed_is_zero(sess, fn):
    """TF 2.21: gradients(f(x), x, grad_ys=0) at x = [0, 4] is [0, 0] for sqrt, rsqrt and
    reciprocal (its SqrtGrad/RsqrtGrad/ReciprocalGrad kernels return 0 for a 0 seed); the
    plain formula gives NaN at x = 0."""
    f = getattr(ng, fn)
    x = ng.placeholder(ng.float64, [2])
    g, = ng.gradients(f(x), x, grad_ys=ng.constant([0.0, 0.0], ng.float64))
    np.testing.assert_array_equal(sess.run(g, {x: [0.0, 4.0]}), [0.0, 0.0])


@pytest.mark.parametrize("fn", ["sqrt", "rsqrt", "reciprocal"])
def test_sqrt_rsqrt_reciprocal_second_derivatives_and_jvp(sess, fn):
    """Their *Grad ops have TF's own gradients (_SqrtGradGrad, ...): second derivatives and the
    double-backward jvp (whose seed is zeros) match finite differences."""
    f = getattr(ng, fn)
    x = ng.placeholder(ng.float64, [3])
    xv = np.array([0.7, 1.3, 2.9])
    g, = ng.gradients(ng.reduce_sum(f(x)), x)
    with sess.as_default():
        assert ng.test.compute_gradient_error(x, [3], g, [3], xv, delta=1e-6) < 1e-6
    v = np.array([1.0, -2.0, 0.5])
    jv = sess.run(ng.jvp(f(x), x, v), {x: xv})
    h = 1e-6
    fd = (sess.run(f(x), {x: xv + h * v}) - sess.run(f(x), {x: xv - h * v})) / (2 * h)
    np.testing.assert_allclose(jv, fd, rtol=1e-7)


# --- 15. tf.compat.v1.nn.softmax_cross_entropy_with_logits stops the labels' gradient --------
def test_v1_softmax_cross_entropy_gives_labels_no_gradient(sess):
    """TF 2.21: the v1 function wraps labels in stop_gradient (g[1] is None); _v2 does not."""
    logits = ng.placeholder(ng.float64, [2, 3])
    labels = ng.placeholder(ng.float64, [2, 3])
    loss = ng.nn.softmax_cross_entropy_with_logits(labels=labels, logits=logits)
    g = ng.gradients(loss, [logits, labels])
    assert g[1] is None
    feed = {logits: [[1, 2, 3], [0, 0, 1]], labels: [[.2, .3, .5], [1, 0, 0]]}
    np.testing.assert_allclose(sess.run(g[0], feed), [[-0.10997, -0.05527, 0.16524],
                                                      [-0.78806, 0.21194, 0.57612]], atol=1e-5)
    loss2 = ng.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    assert ng.gradients(loss2, [labels])[0] is not None


# --- 16. operators name their ops as TF's operator wrappers do ----------------------------
def test_operator_op_names_match_tf():
    """`a * 2.0` is an op named `mul` with a constant `mul/y` (TF 2.21 graph mode); a
    function call keeps the op type's name (`Mul_2`: names are unique case-insensitively)."""
    a = ng.placeholder(ng.float32, [2], name="a")
    b = ng.placeholder(ng.bool, [2], name="b")
    ts = [a * 2.0, 2.0 * a, a + 1.0, 1.0 + a, a - a, a / 2.0, a // 2.0, a % 2.0, a ** 2.0,
          3.0 - a, b & b, b | b, ng.multiply(a, a), b * 3.0]
    with ng.name_scope("s"):
        ts.append(a * a)
    # TF 2.21's names for the same lines
    assert [t.op.name for t in ts] == [
        "mul", "mul_1", "add", "add_1", "sub", "truediv", "floordiv", "mod", "pow", "sub_1",
        "and", "or", "Mul_2", "mul_3/Cast_2", "s/mul"]
    assert ts[0].op.inputs[1].op.name == "mul/y" and ts[1].op.inputs[0].op.name == "mul_1/x"
    assert ts[0].op.inputs[1].dtype == ng.float32
    names = {o.name for o in ng.get_default_graph().get_operations()}
    assert {"add/y", "add_1/x", "pow/y", "truediv/y", "sub_1/x"} <= names
