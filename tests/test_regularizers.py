"""Regularizers (ng.contrib.layers.l1/l2/l1_l2/sum_regularizer, apply_regularization) and
get_variable's `regularizer` (its own or the variable scope's): losses against NumPy, made
once per variable, in REGULARIZATION_LOSSES."""
import numpy as np
import pytest

import numgrad as ng

L = ng.contrib.layers
W = np.array([[1.0, -2.0], [0.5, 3.0]])


def test_values(sess):
    w = ng.constant(W)
    got = sess.run([L.l1_regularizer(0.1)(w), L.l2_regularizer(0.1)(w),
                    L.l1_l2_regularizer(0.1, 0.2)(w),
                    L.sum_regularizer([L.l1_regularizer(1.0), None])(w)])
    l1, l2 = np.abs(W).sum(), (W ** 2).sum() / 2
    np.testing.assert_allclose(got, [0.1 * l1, 0.1 * l2, 0.1 * l1 + 0.2 * l2, l1], rtol=1e-12)
    assert L.l2_regularizer(0.0)(w) is None
    with pytest.raises(ValueError, match="scale cannot be an integer"):
        L.l2_regularizer(1)
    with pytest.raises(ValueError, match="less than 0"):
        L.l1_regularizer(-0.5)


def test_get_variable_regularizer_once_and_scope_regularizer(sess):
    reg = L.l2_regularizer(0.5)
    v = ng.get_variable("v", initializer=ng.constant(W), regularizer=reg)
    with ng.variable_scope("", reuse=True):
        assert ng.get_variable("v", regularizer=reg) is v
    with ng.variable_scope("s", regularizer=L.l1_regularizer(1.0)):
        u = ng.get_variable("u", initializer=ng.constant(W))
        d = ng.layers.dense(ng.constant(W), 3, kernel_regularizer=reg, use_bias=False)
    losses = ng.losses.get_regularization_losses()
    assert len(losses) == 4             # v; u; dense: the scope's and the layer's own
    assert losses[0].op.name.startswith("v/Regularizer/")
    sess.run(ng.global_variables_initializer())
    k = sess.run(ng.get_collection(ng.GraphKeys.TRAINABLE_VARIABLES, "s/dense")[0])
    vals = sess.run(losses)
    np.testing.assert_allclose(vals[:2], [0.25 * (W ** 2).sum(), np.abs(W).sum()])
    np.testing.assert_allclose(sorted(vals[2:]), sorted([np.abs(k).sum(),
                                                         0.25 * (k ** 2).sum()]), rtol=1e-6)
    total = ng.losses.get_regularization_loss()
    np.testing.assert_allclose(sess.run(total), sum(vals), rtol=1e-6)
    assert d.shape.as_list() == [2, 3] and u.shape.as_list() == [2, 2]


def test_apply_regularization(sess):
    a, b = ng.constant(W), ng.constant(2 * W)
    total = L.apply_regularization(L.l1_regularizer(1.0), [a, b])
    assert ng.losses.get_regularization_losses() == [total]
    np.testing.assert_allclose(sess.run(total), 3 * np.abs(W).sum())
    with pytest.raises(ValueError, match="No weights"):
        L.apply_regularization(L.l1_regularizer(1.0))
