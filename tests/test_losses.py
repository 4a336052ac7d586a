"""ng.losses: values and reductions against TF 2.21's tf.compat.v1.losses (the literals below
were computed with it on these inputs), the LOSSES collection, and TF's errors."""
import numpy as np
import pytest

import numgrad as ng

R = ng.losses.Reduction
Y = np.array([[0., 1., 1.], [1., 0., 0.]], np.float32)
P = np.array([[0.2, 0.7, 0.4], [0.9, 0.1, 0.6]], np.float32)
Z = np.array([[1.5, -0.5, 2.0], [-1.0, 0.3, 0.8]], np.float32)
W = np.array([[1.0], [0.0]], np.float32)
W2 = np.array([[2.0, 0.0, 1.0], [0.5, 0.0, 3.0]], np.float32)
YN = Y / np.linalg.norm(Y, axis=1, keepdims=True)
PN = P / np.linalg.norm(P, axis=1, keepdims=True)

# loss: (default, weights=W, weights=W2, weights=W2 MEAN, SUM, weights=W SUM_OVER_BATCH_SIZE,
#        NONE)  (cosine: weights=W instead of W2, and MEAN unweighted)
TF = {
    "abs": [0.31666669, 0.36666667, 0.71249998, 0.43846151, 1.90000010, 0.18333334,
            [[0.2, 0.3, 0.6], [0.1, 0.1, 0.6]]],
    "mse": [0.14499999, 0.16333334, 0.38125002, 0.23461540, 0.87000000, 0.08166667,
            [[0.04, 0.09, 0.36], [0.01, 0.01, 0.36]]],
    "huber": [0.47000003, 0.54166669, 0.72187501, 0.44423077, 2.82000017, 0.27083334,
              [[0.625, 0.625, 0.375], [0.875, 0.045, 0.275]]],
    "log": [0.43718669, 0.49870291, 1.04103231, 0.64063525, 2.62312007, 0.24935146,
            [[0.22314338, 0.35667479, 0.91629052], [0.10536041, 0.10536041, 0.91629058]]],
    "hinge": [1.51666677, 1.33333337, 2.84999990, 1.75384605, 9.10000038, 0.66666669,
              [[2.5, 1.5, 0.0], [2.0, 1.3, 1.8]]],
    "sig": [0.98852259, 0.93413943, 1.82742190, 1.12456727, 5.93113565, 0.46706972,
            [[1.55141330, 0.92407703, 0.32692793], [1.21326172, 0.82435524, 1.09110069]]],
    "cos": [0.11755034, 0.06361783, 0.06361783, 0.11755034, 0.23510069, 0.03180891,
            [[0.06361783], [0.17148286]]],
}

LOSSES = {
    "abs": lambda **k: ng.losses.absolute_difference(Y, P, **k),
    "mse": lambda **k: ng.losses.mean_squared_error(Y, P, **k),
    "huber": lambda **k: ng.losses.huber_loss(Y, Z, delta=0.5, **k),
    "log": lambda **k: ng.losses.log_loss(Y, P, **k),
    "hinge": lambda **k: ng.losses.hinge_loss(Y, Z, **k),
    "sig": lambda **k: ng.losses.sigmoid_cross_entropy(Y, Z, label_smoothing=0.2, **k),
    "cos": lambda **k: ng.losses.cosine_distance(YN, PN, axis=1, **k),
}


def test_losses_and_reductions_match_tf(sess):
    built = {}
    for name, f in LOSSES.items():
        w2 = W if name == "cos" else W2
        mean = f(reduction=R.MEAN) if name == "cos" else f(weights=W2, reduction=R.MEAN)
        built[name] = [f(), f(weights=W), f(weights=w2), mean, f(reduction=R.SUM),
                       f(weights=W, reduction=R.SUM_OVER_BATCH_SIZE), f(reduction=R.NONE)]
    assert len(ng.get_collection(ng.GraphKeys.LOSSES)) == 7 * len(LOSSES)
    assert ng.losses.get_losses() == ng.get_collection(ng.GraphKeys.LOSSES)
    got = sess.run(built)
    for name, want in TF.items():
        for i, (g, w) in enumerate(zip(got[name], want)):
            np.testing.assert_allclose(g, np.asarray(w, np.float32), rtol=2e-6, atol=1e-7,
                                       err_msg=f"{name}[{i}]")


def test_softmax_losses_match_tf(sess):
    soft = [ng.losses.softmax_cross_entropy(Y / Y.sum(1, keepdims=True), Z),
            ng.losses.softmax_cross_entropy(Y / Y.sum(1, keepdims=True), Z, weights=[3.0, 0.0],
                                            label_smoothing=0.3)]
    sparse = [ng.losses.sparse_softmax_cross_entropy([2, 0], Z),
              ng.losses.sparse_softmax_cross_entropy([[2], [0]], Z, weights=[[0.5], [2.0]])]
    np.testing.assert_allclose(sess.run(soft + sparse),
                               [2.07296085, 5.09672737, 1.44796085, 2.50298977], rtol=2e-6)


def test_gradient_of_a_mean_loss(sess):
    p = ng.placeholder(ng.float32, [2, 3])
    logits = ng.placeholder(ng.float32, [2, 3])
    g_mse, = ng.gradients(ng.losses.mean_squared_error(Y, p), [p])
    g_sparse, = ng.gradients(ng.losses.sparse_softmax_cross_entropy([2, 0], logits), [logits])
    a, b = sess.run([g_mse, g_sparse], {p: P, logits: Z})
    np.testing.assert_allclose(a, 2 * (P - Y) / 6, rtol=1e-6)
    e = np.exp(Z - Z.max(1, keepdims=True))
    np.testing.assert_allclose(b, (e / e.sum(1, keepdims=True) - np.eye(3)[[2, 0]]) / 2,
                               rtol=1e-5, atol=1e-7)


def test_dtype_and_zero_weights(sess):
    loss64 = ng.losses.mean_squared_error(Y.astype(np.float64), ng.constant(P, ng.float64),
                                          weights=0.0)
    assert loss64.dtype == ng.float32                  # TF casts labels/predictions first
    assert sess.run(loss64) == 0.0                     # 0 / 0 is 0, as TF's div_no_nan
    xent64 = ng.losses.sigmoid_cross_entropy(Y, Z.astype(np.float64))
    assert xent64.dtype == ng.float64                  # computed in float32, cast back
    np.testing.assert_allclose(sess.run(xent64), 1.02352273, rtol=1e-6)


def test_collections_and_totals(sess):
    with pytest.raises(ValueError, match="no losses to add"):
        ng.losses.get_total_loss()
    assert sess.run(ng.losses.get_regularization_loss()) == 0.0
    a = ng.losses.mean_squared_error(Y, P)
    b = ng.losses.absolute_difference(Y, P, loss_collection=None)
    assert ng.losses.get_losses() == [a] and b not in ng.losses.get_losses()
    ng.add_to_collection(ng.GraphKeys.REGULARIZATION_LOSSES, ng.constant(0.5))
    np.testing.assert_allclose(sess.run([ng.losses.get_total_loss(),
                                         ng.losses.get_total_loss(False),
                                         ng.losses.get_regularization_loss()]),
                               [0.645, 0.145, 0.5], rtol=1e-6)


def test_errors_leave_the_graph_unchanged():
    n = len(ng.get_default_graph().get_operations())
    with pytest.raises(ValueError, match=r"weights can not be broadcast to values. "
                                         r"values.rank=2. weights.rank=1."):
        ng.losses.mean_squared_error(Y, P, weights=np.ones(3, np.float32))
    with pytest.raises(ValueError, match="Mismatch at dim 1"):
        ng.losses.mean_squared_error(Y, P, weights=np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="Invalid Reduction Key"):
        ng.losses.mean_squared_error(Y, P, reduction="mean")
    with pytest.raises(ValueError, match="must specify argument `axis`"):
        ng.losses.cosine_distance(Y, P)
    with pytest.raises(ValueError, match="incompatible"):
        ng.losses.mean_squared_error(Y, P[:, :2])
    with pytest.raises(ValueError, match="`labels` must not be None"):
        ng.losses.log_loss(None, P)
    assert ng.get_collection(ng.GraphKeys.LOSSES) == []
    assert len(ng.get_default_graph().get_operations()) == n
