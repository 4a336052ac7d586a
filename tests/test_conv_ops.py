"""Issue 17, convolution and pooling: conv2d, conv1d, conv2d_transpose, the backprop ops,
depthwise_conv2d, max_pool, avg_pool, pool.  Values against direct loops written here (not the
library's window view), TF 2.21's numbers as literals, gradients against finite differences
(second derivatives included), the cpu kernels against the NumPy references, the batching
rules against row-by-row runs, and TF's errors while the graph is built."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import batching
from numgrad.kernels.cpu import OPAQUE as CPU_KERNELS, conv as cpu_conv
from numgrad.ops.registry import get_op_def

from batching_rows import assert_rule_matches_rows

RNG = np.random.default_rng(17)


def run_both(fetches, feed=None):
    """The default backend's values (twice: a plan's first calls may be interpreted) and the
    numpy backend's."""
    with ng.Session() as s:
        s.run(fetches, feed)
        got = s.run(fetches, feed)
    with ng.Session(backend="numpy") as s:
        ref = s.run(fetches, feed)
    return got, ref


def _fed(value):
    """A placeholder for `value`, which the test feeds.  A fed array is writable, a
    constant's is read-only, and Numba compiles a native kernel once more for a read-only
    operand (a type of its own, ~0.3-0.8 CPU s cold each): the float64 values and gradient
    tests feed theirs.  Read-only operands stay covered where tests build on constants (the
    max_pool gradient test, the NCHW, conv1d and vectorised second-derivative tests; fed
    placeholders made the last one compile ~20 CPU s instead of ~2)."""
    return ng.placeholder(ng.float64, value.shape)


# --- independent references: direct loops ---------------------------------------------------------
def _pads(padding, size, k, s, d):
    eff = (k - 1) * d + 1
    if padding == "VALID":
        return 0, 0, (size - eff) // s + 1
    if padding == "SAME":
        out = -(-size // s)
        total = max((out - 1) * s + eff - size, 0)
        return total // 2, total - total // 2, out
    b, a = padding
    return b, a, (size + b + a - eff) // s + 1


def conv_loops(x, f, strides, dil, padding, depthwise=False):
    """NHWC cross-correlation by loops; padding 'SAME', 'VALID' or ((t, b), (l, r))."""
    n, h, w, c = x.shape
    kh, kw = f.shape[:2]
    pr = padding if isinstance(padding, str) else padding[0]
    pc = padding if isinstance(padding, str) else padding[1]
    t, _, oh = _pads(pr, h, kh, strides[0], dil[0])
    l, _, ow = _pads(pc, w, kw, strides[1], dil[1])
    oc = c * f.shape[3] if depthwise else f.shape[3]
    y = np.zeros((n, oh, ow, oc))
    for b in range(n):
        for p in range(oh):
            for q in range(ow):
                for i in range(kh):
                    for j in range(kw):
                        r, z = p * strides[0] + i * dil[0] - t, q * strides[1] + j * dil[1] - l
                        if 0 <= r < h and 0 <= z < w:
                            if depthwise:
                                y[b, p, q] += (x[b, r, z][:, None] * f[i, j]).reshape(-1)
                            else:
                                y[b, p, q] += x[b, r, z] @ f[i, j]
    return y


def pool_loops(x, k, s, padding, kind):
    n, h, w, c = x.shape
    t, _, oh = _pads(padding, h, k[0], s[0], 1)
    l, _, ow = _pads(padding, w, k[1], s[1], 1)
    y = np.zeros((n, oh, ow, c))
    for p in range(oh):
        for q in range(ow):
            r0, z0 = p * s[0] - t, q * s[1] - l
            win = x[:, max(r0, 0):r0 + k[0], max(z0, 0):z0 + k[1], :]
            y[:, p, q] = win.max(axis=(1, 2)) if kind == "MAX" else win.mean(axis=(1, 2))
    return y


CONV_CASES = [  # strides, dilations, padding (the list form: TF's explicit padding)
    ((1, 1), (1, 1), "SAME"),
    ((2, 1), (1, 1), "SAME"),
    ((2, 2), (1, 1), "VALID"),
    ((1, 1), (2, 1), "SAME"),
    ((1, 2), (1, 2), "VALID"),
    ((2, 1), (1, 1), ((1, 2), (0, 1))),
]


def _padding_arg(padding):
    return padding if isinstance(padding, str) else [[0, 0], list(padding[0]),
                                                     list(padding[1]), [0, 0]]


@pytest.mark.parametrize("strides, dil, padding", CONV_CASES)
def test_conv2d_values_and_gradients(strides, dil, padding):
    x, f = RNG.standard_normal((2, 6, 5, 3)), RNG.standard_normal((3, 2, 3, 4))
    xt, ft = _fed(x), _fed(f)
    y = ng.nn.conv2d(xt, ft, list(strides), _padding_arg(padding), dilations=list(dil))
    want = conv_loops(x, f, strides, dil, padding)
    assert y.shape.as_list() == list(want.shape)
    got, ref = run_both(y, {xt: x, ft: f})
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ref, want, rtol=1e-10, atol=1e-12)
    err = ng.test.compute_gradient_error([xt, ft], [x.shape, f.shape], y, want.shape,
                                         x_init_value=[x, f])
    assert err < 1e-8


@pytest.mark.parametrize("strides, dil, padding", CONV_CASES[:3])
def test_depthwise_values_and_gradients(strides, dil, padding):
    x, f = RNG.standard_normal((2, 5, 5, 3)), RNG.standard_normal((2, 3, 3, 2))
    xt, ft = _fed(x), _fed(f)
    y = ng.nn.depthwise_conv2d_native(xt, ft, [1, *strides, 1], padding,
                                      dilations=[1, *dil, 1])
    want = conv_loops(x, f, strides, dil, padding, depthwise=True)
    got, ref = run_both(y, {xt: x, ft: f})
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ref, want, rtol=1e-10, atol=1e-12)
    err = ng.test.compute_gradient_error([xt, ft], [x.shape, f.shape], y, want.shape,
                                         x_init_value=[x, f])
    assert err < 1e-8


def _backprop_graphs(kind):
    """(build(a, b) -> output, shapes of a and b) for the four backprop ops."""
    x_shape, f_shape, strides, padding = (2, 5, 4, 3), (3, 2, 3, 2), [1, 2, 1, 1], "SAME"
    y_shape = (2, 3, 4, 2)
    if kind.startswith("depthwise"):
        f_shape, y_shape = (2, 2, 3, 2), (2, 3, 4, 6)
    fn = {"input": ng.nn.conv2d_backprop_input,
          "filter": ng.nn.conv2d_backprop_filter,
          "depthwise_input": ng.nn.depthwise_conv2d_native_backprop_input,
          "depthwise_filter": ng.nn.depthwise_conv2d_native_backprop_filter}[kind]
    if kind.endswith("input"):
        return (lambda f, dy: fn(list(x_shape), f, dy, strides, padding)), f_shape, y_shape
    return (lambda x, dy: fn(x, list(f_shape), dy, strides, padding)), x_shape, y_shape


@pytest.mark.parametrize("kind", ["input", "filter", "depthwise_input", "depthwise_filter"])
def test_backprop_ops_gradients_and_adjointness(kind):
    build, a_shape, y_shape = _backprop_graphs(kind)
    a, dy = RNG.standard_normal(a_shape), RNG.standard_normal(y_shape)
    at, dyt = _fed(a), _fed(dy)
    out = build(at, dyt)
    err = ng.test.compute_gradient_error([at, dyt], [a_shape, y_shape], out,
                                         out.shape.as_list(), x_init_value=[a, dy])
    assert err < 1e-8
    # the op is the adjoint of the forward conv: <conv(x, f), dy> = <x, dx> = <f, df>
    other = RNG.standard_normal(out.shape.as_list())
    forward = ng.nn.conv2d if not kind.startswith("depthwise") else (
        lambda x, f, s, p: ng.nn.depthwise_conv2d_native(x, f, s, p))
    x, f = (other, a) if kind.endswith("input") else (a, other)
    xt, ft = _fed(x), _fed(f)
    y = forward(xt, ft, [1, 2, 1, 1], "SAME")
    feed = {at: a, dyt: dy, xt: x, ft: f}
    got, ref = run_both([ng.reduce_sum(y * dyt), ng.reduce_sum(out * other), out], feed)
    np.testing.assert_allclose(got[0], got[1], rtol=1e-10)
    np.testing.assert_allclose(got[2], ref[2], rtol=1e-10, atol=1e-12)


def test_second_derivative_of_conv_matches_tf_and_finite_differences():
    x = np.linspace(-1, 1, 2 * 4 * 4 * 2).reshape(2, 4, 4, 2)
    w = np.linspace(-1, 1, 3 * 3 * 2 * 3).reshape(3, 3, 2, 3)
    xt, wt = ng.constant(x), ng.constant(w)
    y = ng.nn.conv2d(xt, wt, [1, 2, 1, 1], "SAME")
    gx = ng.gradients(ng.reduce_sum(y ** 2), xt)[0]
    types = {op.type for op in ng.get_default_graph().get_operations()}
    assert {"Conv2DBackpropInput", "Conv2DBackpropFilter"} <= types
    second = ng.reduce_sum(ng.gradients(ng.reduce_sum(gx ** 2), wt)[0] ** 2)
    got, ref = run_both(second)
    np.testing.assert_allclose(got, 541838359.5981784, rtol=1e-10)     # TF 2.21
    np.testing.assert_allclose(ref, 541838359.5981784, rtol=1e-10)
    err = ng.test.compute_gradient_error(wt, w.shape, gx, x.shape, x_init_value=w)
    assert err < 1e-6


# --- values from TF 2.21 -------------------------------------------------------------------------
def _f32(shape, start=0):
    return np.arange(start, start + np.prod(shape), dtype=np.float32).reshape(shape)


TF_VALUES = {
    "conv2d SAME stride 2 (padding 0 before, 1 after)": (
        lambda: ng.nn.conv2d(_f32((1, 4, 4, 1)), _f32((3, 3, 1, 1), 1), 2, "SAME"),
        [303.0, 225.0, 253.0, 163.0]),
    "conv2d VALID dilation 2": (
        lambda: ng.nn.conv2d(_f32((1, 5, 5, 1)), _f32((3, 3, 1, 1), 1)[:2, :2], 1, "VALID",
                             dilations=2),
        [104.0, 116.0, 128.0, 164.0, 176.0, 188.0, 224.0, 236.0, 248.0]),
    "depthwise channel order c * M + m": (
        lambda: ng.nn.depthwise_conv2d(_f32((1, 2, 2, 2)), _f32((1, 1, 2, 2), 1),
                                       [1, 1, 1, 1], "VALID"),
        [0.0, 0.0, 3.0, 4.0, 2.0, 4.0, 9.0, 12.0, 4.0, 8.0, 15.0, 20.0, 6.0, 12.0, 21.0, 28.0]),
    "conv2d_transpose": (
        lambda: ng.nn.conv2d_transpose(np.ones((1, 2, 2, 1), np.float32), _f32((3, 3, 1, 1), 1),
                                       [1, 4, 4, 1], 2, "SAME"),
        [1.0, 2.0, 4.0, 2.0, 4.0, 5.0, 10.0, 5.0, 8.0, 10.0, 20.0, 10.0, 4.0, 5.0, 10.0, 5.0]),
    "conv1d": (
        lambda: ng.nn.conv1d(_f32((1, 5, 1)), np.array([1, 2, 3], np.float32).reshape(3, 1, 1),
                             2, "SAME"),
        [3.0, 14.0, 11.0]),
    "avg_pool SAME counts only the input": (
        lambda: ng.nn.avg_pool(_f32((1, 3, 3, 1)), 2, 2, "SAME"), [2.0, 3.5, 6.5, 8.0]),
}


@pytest.mark.parametrize("case", sorted(TF_VALUES))
def test_values_from_tf(case):
    build, want = TF_VALUES[case]
    got, ref = run_both(build())
    np.testing.assert_allclose(got.ravel(), want, rtol=1e-6)
    np.testing.assert_allclose(ref.ravel(), want, rtol=1e-6)


def test_max_pool_gradient_goes_to_the_first_maximum_and_second_order_as_tf():
    x = ng.constant(np.array([[1, 3, 0], [3, 2, 5], [4, 4, 1]], np.float32).reshape(1, 3, 3, 1))
    y = ng.nn.max_pool(x, 2, 1, "VALID")
    gy = ng.placeholder(ng.float32, [1, 2, 2, 1])
    g = ng.gradients(y, x, grad_ys=gy)[0]
    c = ng.constant(_f32((1, 3, 3, 1)))
    h = ng.gradients(ng.reduce_sum(g * c), gy)[0]
    assert g.op.type == "MaxPoolGrad" and "MaxPoolGradGrad" in {
        op.type for op in ng.get_default_graph().get_operations()}
    feed = {gy: _f32((1, 2, 2, 1), 1)}
    got, ref = run_both([g, h], feed)
    for r in (got, ref):
        np.testing.assert_array_equal(r[0].ravel(), [0, 1, 0, 0, 0, 6, 3, 0, 0])   # TF 2.21
        np.testing.assert_array_equal(r[1].ravel(), [1, 5, 6, 5])


def test_ties_all_equal_window():
    x = ng.constant(np.ones((1, 2, 2, 1), np.float32))
    got, ref = run_both(ng.gradients(ng.nn.max_pool(x, 2, 2, "VALID"), x)[0])
    np.testing.assert_array_equal(got.ravel(), [1, 0, 0, 0])
    np.testing.assert_array_equal(ref.ravel(), [1, 0, 0, 0])


POOL_CASES = [((2, 2), (2, 2), "VALID"), ((3, 2), (2, 1), "SAME"), ((2, 3), (1, 2), "SAME")]


@pytest.mark.parametrize("kind", ["MAX", "AVG"])
@pytest.mark.parametrize("k, s, padding", POOL_CASES)
def test_pool_values_and_gradients(kind, k, s, padding):
    x = RNG.permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) * 0.1    # no near ties
    xt = _fed(x)
    fn = ng.nn.max_pool2d if kind == "MAX" else ng.nn.avg_pool2d
    y = fn(xt, list(k), list(s), padding)
    want = pool_loops(x, k, s, padding, kind)
    got, ref = run_both(y, {xt: x})
    np.testing.assert_allclose(got, want, rtol=1e-12)
    np.testing.assert_allclose(ref, want, rtol=1e-12)
    assert ng.test.compute_gradient_error(xt, x.shape, y, want.shape, x_init_value=x) < 1e-8
    # the gradient op's own gradient (MaxPoolGradGrad / AvgPool) against finite differences
    dy = ng.constant(RNG.standard_normal(want.shape))
    g = ng.gradients(y, xt, grad_ys=dy)[0]
    err = ng.test.compute_gradient_error(dy, want.shape, g, x.shape,
                                         x_init_value=RNG.standard_normal(want.shape),
                                         extra_feed_dict={xt: x})
    assert err < 1e-8


def test_nchw_is_nhwc_transposed():
    x, f = RNG.standard_normal((2, 5, 6, 3)), RNG.standard_normal((3, 3, 3, 2))
    to_nchw = (0, 3, 1, 2)
    xt = ng.constant(x)
    xc = ng.constant(x.transpose(to_nchw))
    pairs = [
        (ng.nn.conv2d(xt, f, [1, 2, 1, 1], "SAME"),
         ng.nn.conv2d(xc, f, [1, 1, 2, 1], "SAME", data_format="NCHW")),
        (ng.nn.conv2d(xt, f, 1, [[0, 0], [1, 0], [2, 1], [0, 0]]),
         ng.nn.conv2d(xc, f, 1, [[0, 0], [0, 0], [1, 0], [2, 1]], data_format="NCHW")),
        (ng.nn.max_pool(xt, 2, [2, 1], "SAME"),
         ng.nn.max_pool(xc, 2, [2, 1], "SAME", data_format="NCHW")),
        (ng.nn.avg_pool(xt, [3, 2], 2, "VALID"),
         ng.nn.avg_pool(xc, [3, 2], 2, "VALID", data_format="NCHW")),
    ]
    grads = [ng.gradients(ng.reduce_sum(a * a), xt)[0] for a, _ in pairs]
    grads_c = [ng.gradients(ng.reduce_sum(b * b), xc)[0] for _, b in pairs]
    got, _ = run_both([[a for a, _ in pairs], [b for _, b in pairs], grads, grads_c])
    for a, b in zip(got[0], got[1]):
        np.testing.assert_allclose(a.transpose(to_nchw), b, rtol=1e-12)
    for a, b in zip(got[2], got[3]):
        np.testing.assert_allclose(a.transpose(to_nchw), b, rtol=1e-12, atol=1e-12)


def test_conv1d_and_pool_are_the_2d_ops_on_a_unit_row():
    x, f = RNG.standard_normal((2, 7, 3)), RNG.standard_normal((3, 3, 4))
    y = ng.nn.conv1d(x, f, 2, "VALID")
    p = ng.nn.pool(ng.constant(x), [2], "MAX", "SAME", strides=[2])
    p2 = ng.nn.pool(ng.constant(x[:, None]), [1, 2], "AVG", "VALID")
    got, ref = run_both([y, p, p2])
    np.testing.assert_allclose(got[0], conv_loops(x[:, None], f[None], (1, 2), (1, 1),
                                                  "VALID")[:, 0], rtol=1e-12)
    np.testing.assert_allclose(got[1], pool_loops(x[:, None], (1, 2), (1, 2), "SAME",
                                                  "MAX")[:, 0], rtol=1e-12)
    np.testing.assert_allclose(got[2], pool_loops(x[:, None], (1, 2), (1, 1), "VALID",
                                                  "AVG"), rtol=1e-12)
    for a, b in zip(got, ref):
        np.testing.assert_allclose(a, b, rtol=1e-12)


# --- cpu kernels against the NumPy references -----------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("strides, dil, padding", CONV_CASES[:2] + CONV_CASES[-1:])
def test_cpu_kernels_match_references(dtype, strides, dil, padding):
    from numgrad.ops.conv import conv_attrs
    from numgrad.ops.pool import pool_attrs
    x = RNG.standard_normal((3, 6, 5, 2)).astype(dtype)
    f = RNG.standard_normal((3, 2, 2, 4)).astype(dtype)
    attrs = conv_attrs("Conv2D", list(strides), _padding_arg(padding), "NHWC", list(dil))
    y = get_op_def("Conv2D").compute([x, f], attrs)[0]
    dy = RNG.standard_normal(y.shape).astype(dtype)
    sizes = [np.array(x.shape, np.int32), np.array(f.shape, np.int32)]
    cases = [("Conv2D", [x, f], attrs),
             ("Conv2DBackpropInput", [sizes[0], f, dy], attrs),
             ("Conv2DBackpropFilter", [x, sizes[1], dy], attrs)]
    pa = pool_attrs("MaxPool", [3, 2], list(strides), _padding_arg(padding), "NHWC")
    py = get_op_def("MaxPool").compute([x], pa)[0]
    cases += [("MaxPool", [x], pa), ("MaxPoolGrad", [x, py, np.ones_like(py)], pa)]
    tol = 1e-5 if dtype == np.float32 else 1e-12
    for op_type, vals, a in cases:
        got = CPU_KERNELS[op_type](vals, a)
        want = get_op_def(op_type).compute(vals, a)
        assert got is not None and got[0].dtype == want[0].dtype == dtype, op_type
        np.testing.assert_allclose(got[0], want[0], rtol=tol, atol=tol, err_msg=op_type)


def test_cpu_kernels_give_the_same_bits_serial_and_threaded():
    """A kernel's first two runs at a shape are its thread trial: one serial, one threaded."""
    from numgrad.ops.conv import conv_attrs
    x = RNG.standard_normal((5, 7, 6, 3)).astype(np.float32)
    dy = RNG.standard_normal((5, 7, 6, 4)).astype(np.float32)
    attrs = conv_attrs("Conv2D", 1, "SAME", "NHWC", 1)
    old = ng.get_num_threads()
    ng.set_num_threads(2)
    try:
        for fn, vals in [(cpu_conv.conv2d_backprop_filter, [x, np.array([3, 3, 3, 4]), dy]),
                         (cpu_conv.conv2d, [x, RNG.standard_normal((3, 3, 3, 4)).astype(
                             np.float32)])]:
            cpu_conv.CHUNK_ELEMENTS, saved = 64, cpu_conv.CHUNK_ELEMENTS   # many chunks
            try:
                runs = [fn(vals, attrs)[0] for _ in range(2)]
            finally:
                cpu_conv.CHUNK_ELEMENTS = saved
            np.testing.assert_array_equal(runs[0], runs[1])
    finally:
        ng.set_num_threads(old)


def test_cpu_kernels_leave_other_cases_to_the_reference():
    from numgrad.ops.conv import conv_attrs
    attrs = conv_attrs("Conv2D", 1, "SAME", "NCHW", 1)
    x = np.ones((1, 2, 3, 3))
    assert cpu_conv.conv2d([x, np.ones((1, 1, 2, 2))], attrs) is None
    attrs = conv_attrs("Conv2D", 1, "SAME", "NHWC", 1)
    assert cpu_conv.conv2d([x.astype(np.float16), np.ones((1, 1, 3, 2), np.float16)],
                           attrs) is None


# --- batching rules ------------------------------------------------------------------------------
_F = np.linspace(-1, 1, 2 * 2 * 1 * 2).reshape(2, 2, 1, 2)


def _img(s):
    return ng.reshape(s, [1, 2, 3, 1])


# Row tests of this family's batching rules (tests/test_jacobians.py's format: s is a float64
# placeholder of shape [2, 3]); each input a rule folds (batch, channels) has a case.
ROW_CASES = {
    "Conv2D": lambda s: ng.nn.conv2d(_img(s), _F, 1, "SAME"),
    "DepthwiseConv2dNative": lambda s: ng.nn.depthwise_conv2d(_img(s), _F, [1, 1, 1, 1],
                                                              "SAME"),
    "Conv2DBackpropInput": lambda s: ng.nn.conv2d_backprop_input(
        [1, 2, 3, 1], _F, ng.concat([_img(s), _img(s) * 2.0], 3), 1, "SAME"),
    "DepthwiseConv2dNativeBackpropInput":
        lambda s: ng.nn.depthwise_conv2d_native_backprop_input(
            [1, 2, 3, 1], _F, ng.concat([_img(s), -_img(s)], 3), [1, 1, 1, 1], "SAME"),
    "Conv2DBackpropFilter": lambda s: ng.nn.conv2d_backprop_filter(
        _img(s), [2, 2, 1, 2], ng.constant(np.ones((1, 2, 3, 2))), 1, "SAME"),
    "DepthwiseConv2dNativeBackpropFilter":
        lambda s: ng.nn.depthwise_conv2d_native_backprop_filter(
            _img(s), [2, 2, 1, 2], ng.constant(np.ones((1, 2, 3, 2))), [1, 1, 1, 1], "SAME"),
    "MaxPool": lambda s: ng.nn.max_pool(_img(s), 2, 1, "SAME"),
    "AvgPool": lambda s: ng.nn.avg_pool(_img(s), 2, 1, "SAME"),
    "MaxPoolGrad": lambda s: ng.gradients(ng.nn.max_pool(_img(s), 2, 1, "SAME"), s)[0],
    "AvgPoolGrad": lambda s: ng.gradients(ng.nn.avg_pool(_img(s), 2, 1, "SAME"), s,
                                          grad_ys=_img(s) * 3.0)[0],
    "MaxPoolGradGrad": lambda s: ng.gradients(
        ng.gradients(ng.nn.max_pool(_img(s) * 1.0, 2, 1, "SAME"), s, grad_ys=_img(s))[0], s,
        grad_ys=ng.constant(np.ones((2, 3))))[0],
}


@pytest.mark.parametrize("op_type", sorted(ROW_CASES))
def test_batching_rule_matches_rows(op_type):
    assert op_type in batching.BATCH_RULES
    assert_rule_matches_rows(op_type, ROW_CASES[op_type], rtol=1e-10, atol=1e-12)


def _filter_batched_cases():
    img = ng.constant(RNG.standard_normal((1, 3, 3, 2)))
    ones = ng.constant(np.ones((1, 2, 2, 3)))
    dy = ng.constant(RNG.standard_normal((1, 3, 3, 6)))
    dy_c = ng.constant(RNG.standard_normal((1, 6, 3, 2)))

    def spread(s, shape):       # a seed-dependent tensor of `shape` (6 * k elements)
        k = int(np.prod(shape)) // 6
        return ng.reshape(ng.tile(ng.reshape(s, [-1]), [k]), shape)
    return {
        "Conv2D filter": lambda s: ng.nn.conv2d(img, ng.reshape(s, [1, 1, 2, 3]), 1, "SAME"),
        "Conv2D filter, NCHW": lambda s: ng.nn.conv2d(img, ng.reshape(s, [1, 1, 3, 2]), 1,
                                                      "SAME", data_format="NCHW"),
        "Conv2DBackpropInput filter": lambda s: ng.nn.conv2d_backprop_input(
            [1, 2, 2, 2], ng.reshape(s, [1, 1, 2, 3]), ones, 1, "SAME"),
        "Conv2DBackpropFilter input": lambda s: ng.nn.conv2d_backprop_filter(
            spread(s, [1, 3, 3, 2]), [2, 2, 2, 3], ng.constant(np.ones((1, 3, 3, 3))), 1,
            "SAME"),
        "Depthwise filter": lambda s: ng.nn.depthwise_conv2d_native(
            img, ng.reshape(s, [1, 1, 2, 3]), [1, 1, 1, 1], "SAME"),
        "Depthwise filter, NCHW": lambda s: ng.nn.depthwise_conv2d_native(
            img, ng.reshape(s, [1, 1, 3, 2]), [1, 1, 1, 1], "SAME", data_format="NCHW"),
        "DepthwiseBackpropInput filter": lambda s: ng.nn.depthwise_conv2d_native_backprop_input(
            [1, 3, 3, 2], ng.reshape(s, [1, 1, 2, 3]), dy, [1, 1, 1, 1], "SAME"),
        "DepthwiseBackpropFilter input": lambda s: ng.nn.depthwise_conv2d_native_backprop_filter(
            spread(s, [1, 3, 3, 2]), [2, 2, 2, 3], dy, [1, 1, 1, 1], "SAME"),
        "DepthwiseBackpropFilter dy, NCHW":
            lambda s: ng.nn.depthwise_conv2d_native_backprop_filter(
                ng.constant(RNG.standard_normal((1, 2, 3, 2))), [2, 2, 2, 3],
                spread(s, [1, 6, 3, 2]), [1, 1, 1, 1], "SAME", data_format="NCHW"),
        "DepthwiseBackpropInput dy, NCHW":
            lambda s: ng.nn.depthwise_conv2d_native_backprop_input(
                [1, 2, 3, 2], ng.constant(RNG.standard_normal((2, 2, 2, 3))), dy_c + spread(
                    s, [1, 6, 3, 2]), [1, 1, 1, 1], "SAME", data_format="NCHW"),
    }


@pytest.mark.parametrize("case", sorted(_filter_batched_cases()))
def test_channel_folding_rules_match_rows(case):
    """The channel folds: a batched filter, a batched input of a filter-gradient op, NCHW."""
    s = ng.placeholder(ng.float64, [2, 3])
    y = _filter_batched_cases()[case](s)
    rows = RNG.uniform(-1, 1, size=(3, 2, 3))
    got, = batching.vectorize(s, ng.constant(rows), [y])
    with ng.Session(backend="numpy") as sess:
        np.testing.assert_allclose(sess.run(got), [sess.run(y, {s: r}) for r in rows],
                                   rtol=1e-10, atol=1e-12)


def test_every_rule_of_the_family_has_a_row_test():
    from numgrad.ops import conv_batching
    ours = [t for t, rule in batching.BATCH_RULES.items()
            if rule.__module__ == conv_batching.__name__]
    assert sorted(ours) == sorted(ROW_CASES)


def test_jacobian_of_a_small_cnn_is_vectorised_and_right():
    x = ng.constant(RNG.standard_normal((2, 4, 4, 1)))
    w = ng.constant(RNG.standard_normal((2, 2, 1, 3)))
    y = ng.nn.max_pool(ng.nn.relu(ng.nn.conv2d(x, w, 1, "SAME")), 2, 2, "VALID")
    fast = ng.jacobian(ng.reshape(y, [-1]), [x, w])
    slow = ng.jacobian(ng.reshape(y, [-1]), [x, w], experimental_use_pfor=False)
    got, _ = run_both([fast, slow])
    for a, b in zip(got[0], got[1]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_vectorised_second_derivatives_through_every_op_match_the_loop():
    """ng.jacobian of a gradient: the seed meets the backprop and pool-gradient ops and their
    own gradients (a batched filter, MaxPoolGradGrad, AvgPool of a gradient); no fallback."""
    import warnings
    x = ng.constant(RNG.standard_normal((2, 4, 4, 2)))
    w = ng.constant(RNG.standard_normal((2, 2, 2, 3)))
    y = ng.nn.avg_pool(ng.nn.max_pool(ng.tanh(ng.nn.conv2d(x, w, 1, "SAME")), 2, 1, "SAME"),
                       2, 2, "VALID")
    d = ng.nn.depthwise_conv2d(y, RNG.standard_normal((1, 1, 3, 2)), [1, 1, 1, 1], "VALID")
    grads = ng.gradients(ng.reduce_sum(d ** 2), [x, w])
    with warnings.catch_warnings():
        warnings.simplefilter("error")          # a fallback to the loop warns
        fast = [ng.jacobian(g, v) for g, v in zip(grads, [x, w])]
    slow = [ng.jacobian(g, v, experimental_use_pfor=False) for g, v in zip(grads, [x, w])]
    got, _ = run_both([fast, slow])
    for a, b in zip(got[0], got[1]):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


# --- bad input: TF's errors while the graph is built, graph unchanged -----------------------------
X = np.zeros((2, 5, 5, 3), np.float32)
W = np.zeros((3, 3, 3, 4), np.float32)
BAD = [
    (lambda: ng.nn.conv2d(X, np.zeros((3, 3, 2, 4), np.float32), 1, "SAME"), ValueError,
     "Depth of input (3) is not a multiple of input depth of filter (2)"),
    (lambda: ng.nn.conv2d(X, W, 1, "FOO"), ValueError, "passed string 'FOO' not in"),
    (lambda: ng.nn.conv2d(X, W, 1, "EXPLICIT"), ValueError, "must be a list"),
    (lambda: ng.nn.conv2d(X, W, [2, 1, 1, 1], "SAME"), ValueError,
     "strides in the batch and depth dimensions"),
    (lambda: ng.nn.conv2d(X, W, [1, 1, 1], "SAME"), ValueError,
     "strides should be of length 1, 2 or 4"),
    (lambda: ng.nn.conv2d(X, np.zeros((6, 6, 3, 4), np.float32), 1, "VALID"), ValueError,
     "Negative dimension size caused by subtracting 6 from 5"),
    (lambda: ng.nn.conv2d(X, W, 1, [[0, 0], [1, 1], [2, 2], [1, 0]]), ValueError,
     "Nonzero explicit padding in the batch or depth dimensions"),
    (lambda: ng.nn.conv2d(X, W[0], 1, "SAME"), ValueError, "rank 4 but is rank 3"),
    (lambda: ng.nn.conv2d(X.astype(np.int32), W.astype(np.int32), 1, "SAME"), TypeError,
     "int32"),
    (lambda: ng.nn.conv2d(X, W, 1, "SAME", data_format="NCDHW"), ValueError, "data_format"),
    (lambda: ng.nn.conv2d_backprop_input([2, 5, 5, 3], W, np.zeros((2, 4, 5, 4), np.float32),
                                         1, "SAME"), ValueError,
     "size of out_backprop doesn't match computed"),
    (lambda: ng.nn.conv2d_backprop_filter(X, [3, 3, 3, 5], np.zeros((2, 5, 5, 4), np.float32),
                                          1, "SAME"), ValueError,
     "size of out_backprop doesn't match computed"),
    (lambda: ng.nn.conv2d_transpose(np.zeros((1, 2, 2, 5), np.float32), W, [1, 4, 4, 3], 2),
     ValueError, "channel count must be compatible"),
    (lambda: ng.nn.max_pool(X, 7, 2, "VALID"), ValueError,
     "Negative dimension size caused by subtracting 7 from 5"),
    (lambda: ng.nn.max_pool(X, [1, 2, 2, 2], 2, "VALID"), ValueError,
     "pooling in the batch and depth dimensions"),
    (lambda: ng.nn.avg_pool(X, 0, 2, "VALID"), ValueError, "`ksize` cannot be zero"),
    (lambda: ng.nn.pool(X, [2, 2], "MIN", "SAME"), ValueError, "pooling_type"),
    (lambda: ng.nn.conv2d(X, W, 1, "SAME", filters=W), ValueError, "both"),
    (lambda: ng.nn.depthwise_conv2d(X, W, [1, 2, 2, 1], "SAME", rate=[2, 1]), ValueError,
     "all values of strides must be 1"),
]


@pytest.mark.parametrize("case", range(len(BAD)))
def test_bad_input_raises_while_building_and_leaves_the_graph(case):
    build, exc, text = BAD[case]
    g = ng.get_default_graph()
    before = len(g.get_operations())
    with pytest.raises(exc, match=None) as info:
        build()
    assert text in str(info.value), str(info.value)
    assert len(g.get_operations()) == before


def test_dtype_mismatch_is_a_type_error():
    w64 = ng.constant(W.astype(np.float64))
    with pytest.raises(TypeError, match="float64"):
        ng.nn.conv2d(X, w64, 1, "SAME")
    assert [op.type for op in ng.get_default_graph().get_operations()] == ["Const"]


def test_run_time_size_mismatch_names_the_op():
    sizes = ng.placeholder(ng.int32, [4])
    dx = ng.nn.conv2d_backprop_input(sizes, W, np.zeros((2, 5, 5, 4), np.float32), 1, "SAME")
    for backend in ("numpy", None):
        with ng.Session(backend=backend) as s:
            with pytest.raises(ng.errors.InvalidArgumentError, match="out_backprop"):
                s.run(dx, {sizes: [2, 9, 9, 3]})
