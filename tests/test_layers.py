"""ng.layers: dense, dropout, flatten, batch_normalization (functions and classes), checked
against NumPy references and finite differences."""
import numpy as np
import pytest

import numgrad as ng


def _names(vs):
    return [v.op.name for v in vs]


def test_dense_variables_values_and_reuse(sess, rng):
    x = ng.placeholder(ng.float32, [None, 3])
    h = ng.layers.dense(x, 4, activation=ng.nn.relu)
    out = ng.layers.dense(h, 2, name="out")
    again = ng.layers.dense(h, 2, name="out", reuse=True)
    assert _names(ng.trainable_variables()) == ["dense/kernel", "dense/bias", "out/kernel",
                                                "out/bias"]
    k = ng.trainable_variables()[0]
    assert k.shape.as_list() == [3, 4] and out.shape.as_list() == [None, 2]
    assert h.op.name.startswith("dense/")
    sess.run(ng.global_variables_initializer())
    xv = rng.standard_normal((5, 3)).astype(np.float32)
    kv, bv, ok, ob = sess.run(ng.trainable_variables())
    np.testing.assert_array_equal(bv, np.zeros(4))            # bias: zeros by default
    limit = np.sqrt(6.0 / (3 + 4))                           # glorot_uniform
    assert np.all(np.abs(kv) <= limit) and kv.std() > limit / 4
    want = np.maximum(xv @ kv + bv, 0) @ ok + ob
    got, got2 = sess.run([out, again], {x: xv})
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(got, got2)


def test_dense_reuse_and_scope_errors():
    x = ng.placeholder(ng.float32, [None, 3])
    ng.layers.dense(x, 2, name="d")
    with pytest.raises(ValueError, match="d/kernel already exists"):
        ng.layers.dense(x, 2, name="d")
    with pytest.raises(ValueError, match="e/kernel does not exist"):
        ng.layers.dense(x, 2, name="e", reuse=True)
    with ng.variable_scope("d", reuse=True):
        with pytest.raises(ValueError, match="does not exist"):
            ng.layers.dense(x, 2)                          # d/dense/kernel
    with ng.variable_scope("m"):
        ng.layers.dense(x, 2, name="d")
    with ng.variable_scope("m", reuse=True):
        ng.layers.dense(x, 2, name="d")
    assert _names(ng.global_variables()) == ["d/kernel", "d/bias", "m/d/kernel", "m/d/bias"]


def test_dense_bad_input():
    with pytest.raises(ValueError, match="expected min_ndim=2, found ndim=1"):
        ng.layers.dense(ng.placeholder(ng.float32, [3]), 2)
    with pytest.raises(ValueError, match="last dimension of the inputs to `Dense` should be "
                                         "defined"):
        ng.layers.dense(ng.placeholder(ng.float32, [2, None]), 2)
    with pytest.raises(ValueError, match="units must be a positive integer"):
        ng.layers.dense(ng.placeholder(ng.float32, [2, 3]), 0)


@pytest.mark.parametrize("known_batch", [True, False])
def test_dense_rank3_contracts_the_last_axis(sess, rng, known_batch):
    x = ng.placeholder(ng.float32, [2 if known_batch else None, None, 3])
    k0 = rng.standard_normal((3, 2)).astype(np.float32)
    y = ng.layers.dense(x, 2, kernel_initializer=ng.constant_initializer(k0),
                        bias_initializer=ng.constant_initializer([1.0, -1.0]))
    assert y.shape.as_list() == [2 if known_batch else None, None, 2]
    sess.run(ng.global_variables_initializer())
    xv = rng.standard_normal((2, 4, 3)).astype(np.float32)
    np.testing.assert_allclose(sess.run(y, {x: xv}), xv @ k0 + [1.0, -1.0], rtol=1e-5,
                               atol=1e-6)


def test_dense_gradient_and_regularizers(sess):
    x = ng.placeholder(ng.float64, [2, 3])
    reg = lambda w: 0.5 * ng.reduce_sum(w * w)  # noqa: E731
    layer = ng.layers.Dense(2, activation=ng.tanh, kernel_regularizer=reg,
                            bias_initializer=ng.constant_initializer(0.3), name="r")
    y = layer(x)
    y2 = layer(x * 2.0)                      # the class form shares its variables
    assert layer.variables == [layer.kernel, layer.bias] and layer.name == "r"
    assert y2.shape.as_list() == [2, 2] and len(ng.global_variables()) == 2
    losses = ng.get_collection(ng.GraphKeys.REGULARIZATION_LOSSES)
    assert len(losses) == 1 and layer.losses == losses       # once, at creation
    sess.run(ng.global_variables_initializer())
    k = sess.run(layer.kernel)
    np.testing.assert_allclose(sess.run(losses[0]), 0.5 * np.sum(k * k))
    with sess.as_default():
        err = ng.test.compute_gradient_error(x, [2, 3], y, [2, 2])
    assert err < 1e-6


def test_dropout(sess):
    x = ng.ones([200, 10])
    assert ng.layers.dropout(x, 0.5).op.type in ("Identity",)     # training=False by default
    d = ng.layers.dropout(x, 0.25, training=True)
    training = ng.placeholder(ng.bool, [])
    t = ng.layers.dropout(x, 0.25, training=training)
    v = sess.run(d)
    assert set(np.unique(v)) <= {0.0, np.float32(1 / 0.75)}
    assert 0.2 < np.mean(v == 0) < 0.3
    np.testing.assert_array_equal(sess.run(t, {training: False}), np.ones((200, 10)))
    vt = sess.run(t, {training: True})
    assert set(np.unique(vt)) <= {0.0, np.float32(1 / 0.75)} and (vt == 0).any()
    with pytest.raises(ValueError, match="scalar bool tensor"):
        ng.layers.dropout(x, 0.5, training=ng.placeholder(ng.float32, []))


def test_flatten(sess, rng):
    x = ng.placeholder(ng.float32, [None, 2, 3, 4])
    assert ng.layers.flatten(x).shape.as_list() == [None, 24]
    xv = rng.standard_normal((5, 2, 3, 4)).astype(np.float32)
    f, fc = sess.run([ng.layers.flatten(x),
                      ng.layers.flatten(x, data_format="channels_first")], {x: xv})
    np.testing.assert_array_equal(f, xv.reshape(5, -1))
    np.testing.assert_array_equal(fc, xv.transpose(0, 2, 3, 1).reshape(5, -1))
    u = ng.placeholder(ng.float32, [None, None, 2])
    fu = ng.layers.flatten(u)
    np.testing.assert_array_equal(sess.run(fu, {u: xv[:, :, 0, :2]}),
                                  xv[:, :, 0, :2].reshape(5, -1))
    v = ng.placeholder(ng.float32, [7])
    assert ng.layers.flatten(v).shape.as_list() == [7, 1]


def _bn_reference(x, axes, gamma, beta, eps):
    m, v = x.mean(axis=axes, keepdims=True), x.var(axis=axes, keepdims=True)
    return (x - m) / np.sqrt(v + eps) * gamma + beta


def test_batch_normalization_training_updates_and_inference(sess, rng):
    x = ng.placeholder(ng.float32, [None, 3])
    y = ng.layers.batch_normalization(x, training=True, momentum=0.9)
    assert _names(ng.global_variables()) == [
        "batch_normalization/gamma", "batch_normalization/beta",
        "batch_normalization/moving_mean", "batch_normalization/moving_variance"]
    assert _names(ng.trainable_variables()) == ["batch_normalization/gamma",
                                                "batch_normalization/beta"]
    updates = ng.get_collection(ng.GraphKeys.UPDATE_OPS)
    assert len(updates) == 2
    inf = ng.layers.batch_normalization(x, training=False, momentum=0.9,
                                        name="batch_normalization", reuse=True)
    sess.run(ng.global_variables_initializer())
    xv = (rng.standard_normal((6, 3)) * 3 + 2).astype(np.float32)
    got = sess.run([y] + updates, {x: xv})
    np.testing.assert_allclose(got[0], _bn_reference(xv, 0, 1, 0, 1e-3), rtol=1e-4, atol=1e-5)
    mm = 0.9 * 0 + 0.1 * xv.mean(0)
    mv = 0.9 * 1 + 0.1 * xv.var(0)                    # 2-D: the biased batch variance
    np.testing.assert_allclose(got[1], mm, rtol=1e-5)
    np.testing.assert_allclose(got[2], mv, rtol=1e-5)
    np.testing.assert_allclose(sess.run(inf, {x: xv}), (xv - mm) / np.sqrt(mv + 1e-3),
                               rtol=1e-4, atol=1e-5)


def test_batch_normalization_training_tensor_and_4d(sess, rng):
    x = ng.placeholder(ng.float32, [2, 3, 2, 2])
    training = ng.placeholder(ng.bool, [])
    y = ng.layers.batch_normalization(x, axis=1, training=training,
                                      gamma_initializer=ng.constant_initializer(2.0),
                                      beta_initializer=ng.constant_initializer(0.5))
    layer_vars = ng.global_variables()
    with ng.control_dependencies(ng.get_collection(ng.GraphKeys.UPDATE_OPS)):
        step = ng.no_op()
    sess.run(ng.global_variables_initializer())
    xv = rng.standard_normal((2, 3, 2, 2)).astype(np.float32)
    np.testing.assert_allclose(sess.run(y, {x: xv, training: False}),
                               xv / np.sqrt(1 + 1e-3) * 2 + 0.5, rtol=1e-5)
    sess.run(step, {x: xv, training: False})
    np.testing.assert_array_equal(sess.run(layer_vars[2:]), [np.zeros(3), np.ones(3)])
    got, _ = sess.run([y, step], {x: xv, training: True})
    np.testing.assert_allclose(got, _bn_reference(xv, (0, 2, 3), 2.0, 0.5, 1e-3)
                               .astype(np.float32), rtol=1e-4, atol=1e-5)
    mm, mv = sess.run(layer_vars[2:])
    np.testing.assert_allclose(mm, 0.01 * xv.mean((0, 2, 3)), rtol=1e-5, atol=1e-7)
    n = 8                       # 4-D over axis 1: the unbiased variance, as TF's fused kernel
    np.testing.assert_allclose(mv, 0.99 + 0.01 * xv.var((0, 2, 3)) * n / (n - 1), rtol=1e-5)


def test_batch_normalization_errors_and_gradient(sess):
    with pytest.raises(ValueError, match="should have a defined dimension"):
        ng.layers.batch_normalization(ng.placeholder(ng.float32, [2, None]))
    with pytest.raises(ValueError, match="Invalid axis"):
        ng.layers.batch_normalization(ng.placeholder(ng.float32, [2, 3]), axis=2)
    with pytest.raises(NotImplementedError, match="renorm"):
        ng.layers.batch_normalization(ng.placeholder(ng.float32, [2, 3]), renorm=True)
    x = ng.placeholder(ng.float64, [4, 2])
    y = ng.layers.batch_normalization(x, training=True, name="g")
    sess.run(ng.global_variables_initializer())
    with sess.as_default():
        err = ng.test.compute_gradient_error(x, [4, 2], y * y, [4, 2],
                                             x_init_value=np.arange(8.0).reshape(4, 2) ** 1.5)
    assert err < 1e-5
