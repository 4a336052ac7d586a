"""ng.layers conv1d/conv2d and the pooling layers against NumPy references (TF's SAME
padding rule), variables and errors."""
import numpy as np
import pytest

import numgrad as ng


def _pad_same(n, k, s):
    total = max((-(-n // s) - 1) * s + k - n, 0)
    return total // 2, total - total // 2


def _conv2d_ref(x, k, stride, padding):
    """NHWC cross-correlation, dilation 1."""
    kh, kw = k.shape[:2]
    if padding == "same":
        (t, b), (l, r) = _pad_same(x.shape[1], kh, stride), _pad_same(x.shape[2], kw, stride)
        x = np.pad(x, [(0, 0), (t, b), (l, r), (0, 0)])
    oh, ow = (x.shape[1] - kh) // stride + 1, (x.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], oh, ow, k.shape[3]))
    for i in range(oh):
        for j in range(ow):
            patch = x[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.tensordot(patch, k, axes=([1, 2, 3], [0, 1, 2]))
    return out


@pytest.mark.parametrize("padding, stride", [("same", 1), ("valid", 2), ("SAME", 2)])
def test_conv2d_values(sess, rng, padding, stride):
    x = ng.placeholder(ng.float64, [None, 5, 6, 2])
    k0 = rng.standard_normal((3, 2, 2, 4))
    b0 = rng.standard_normal(4)
    y = ng.layers.conv2d(x, 4, (3, 2), strides=stride, padding=padding, activation=ng.tanh,
                         kernel_initializer=ng.constant_initializer(k0),
                         bias_initializer=ng.constant_initializer(b0))
    sess.run(ng.global_variables_initializer())
    xv = rng.standard_normal((2, 5, 6, 2))
    np.testing.assert_allclose(sess.run(y, {x: xv}),
                               np.tanh(_conv2d_ref(xv, k0, stride, padding.lower()) + b0),
                               rtol=1e-10, atol=1e-12)


def test_conv2d_channels_first_default_init_and_gradient(sess, rng):
    x = ng.placeholder(ng.float64, [2, 3, 5, 5])
    y = ng.layers.conv2d(x, 4, 3, data_format="channels_first", name="c")
    assert y.shape.as_list() == [2, 4, 3, 3]
    assert [v.op.name for v in ng.trainable_variables()] == ["c/kernel", "c/bias"]
    sess.run(ng.global_variables_initializer())
    k = sess.run(ng.trainable_variables()[0])
    limit = np.sqrt(6.0 / (9 * 3 + 9 * 4))                # glorot fans count the window
    assert k.shape == (3, 3, 3, 4) and np.abs(k).max() <= limit and k.std() > limit / 4
    xv = rng.standard_normal((2, 3, 5, 5))
    want = _conv2d_ref(xv.transpose(0, 2, 3, 1), k, 1, "valid").transpose(0, 3, 1, 2)
    np.testing.assert_allclose(sess.run(y, {x: xv}), want, rtol=1e-10, atol=1e-12)
    with sess.as_default():
        err = ng.test.compute_gradient_error(x, [2, 3, 5, 5], y, [2, 4, 3, 3], x_init_value=xv)
    assert err < 1e-6


def test_conv1d_dilated_and_pooling(sess, rng):
    x = ng.placeholder(ng.float32, [None, 9, 2])
    k0 = rng.standard_normal((3, 2, 3)).astype(np.float32)
    y = ng.layers.conv1d(x, 3, 3, dilation_rate=2, use_bias=False,
                         kernel_initializer=ng.constant_initializer(k0))
    p = ng.layers.average_pooling1d(y, 2, 2)
    m = ng.layers.max_pooling1d(y, 3, 1, padding="same")
    assert y.shape.as_list() == [None, 5, 3] and p.shape.as_list() == [None, 2, 3]
    sess.run(ng.global_variables_initializer())
    xv = rng.standard_normal((2, 9, 2)).astype(np.float32)
    want = sum(np.einsum("nwc,cf->nwf", xv[:, 2 * t:2 * t + 5], k0[t]) for t in range(3))
    got_y, got_p, got_m = sess.run([y, p, m], {x: xv})
    np.testing.assert_allclose(got_y, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got_p, got_y[:, :4].reshape(2, 2, 2, 3).mean(2), rtol=1e-6)
    padded = np.pad(got_y, [(0, 0), (1, 1), (0, 0)], constant_values=-np.inf)
    np.testing.assert_array_equal(got_m, np.max([padded[:, i:i + 5] for i in range(3)], 0))


def test_pooling2d(sess, rng):
    x = ng.placeholder(ng.float32, [None, 4, 6, 2])
    xv = rng.standard_normal((3, 4, 6, 2)).astype(np.float32)
    mx = ng.layers.max_pooling2d(x, 2, 2)
    av = ng.layers.average_pooling2d(x, (2, 3), (2, 3))
    mc = ng.layers.MaxPooling2D(2, 2, data_format="channels_first")(
        ng.transpose(x, [0, 3, 1, 2]))
    a, b, c = sess.run([mx, av, mc], {x: xv})
    blocks = xv.reshape(3, 2, 2, 3, 2, 2)
    np.testing.assert_array_equal(a, blocks.max((2, 4)))
    np.testing.assert_allclose(b, xv.reshape(3, 2, 2, 2, 3, 2).mean((2, 4)), rtol=1e-6)
    np.testing.assert_array_equal(c, a.transpose(0, 3, 1, 2))


def test_conv_errors_and_reuse():
    x = ng.placeholder(ng.float32, [None, 5, 5, 2])
    ng.layers.conv2d(x, 2, 3, name="c")
    assert ng.layers.conv2d(x, 2, 3, name="c", reuse=True).shape.as_list() == [None, 3, 3, 2]
    assert len(ng.global_variables()) == 2
    with pytest.raises(ValueError, match="padding"):
        ng.layers.conv2d(x, 2, 3, padding="full")
    with pytest.raises(ValueError, match="expected ndim=4, found ndim=3"):
        ng.layers.conv2d(ng.placeholder(ng.float32, [2, 5, 5]), 2, 3)
    with pytest.raises(ValueError, match="channel dimension of the inputs should be defined"):
        ng.layers.conv2d(ng.placeholder(ng.float32, [2, 5, 5, None]), 2, 3)
    with pytest.raises(ValueError, match="kernel_size"):
        ng.layers.conv2d(x, 2, (3, 3, 3))
