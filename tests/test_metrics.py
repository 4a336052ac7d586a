"""ng.metrics.mean / accuracy: streaming values over runs against NumPy, local variables,
collections."""
import numpy as np
import pytest

import numgrad as ng


def test_mean_streams_over_runs(sess):
    v = ng.placeholder(ng.float32, [None])
    m, up = ng.metrics.mean(v, metrics_collections=["m"], updates_collections=["u"])
    wv = ng.placeholder(ng.float32, [None])
    wm, wup = ng.metrics.mean(v, weights=wv)
    assert [x.op.name for x in ng.local_variables()] == ["mean/total", "mean/count",
                                                          "mean_1/total", "mean_1/count"]
    assert ng.get_collection("m") == [m] and ng.get_collection("u") == [up]
    assert ng.trainable_variables() == [] and ng.global_variables() == []
    sess.run(ng.local_variables_initializer())
    assert sess.run(m) == 0.0                           # 0 / 0 is 0
    batches = [([1.0, 2.0, 6.0], [1.0, 0.0, 2.0]), ([4.0], [3.0])]
    seen, weights = [], []
    for vals, ws in batches:
        seen += vals
        weights += ws
        got = sess.run(up, {v: vals})
        np.testing.assert_allclose(got, np.mean(seen), rtol=1e-6)
        np.testing.assert_allclose(sess.run(wup, {v: vals, wv: ws}),
                                   np.average(seen, weights=weights), rtol=1e-6)
    np.testing.assert_allclose(sess.run([m, wm]), [np.mean(seen),
                                                   np.average(seen, weights=weights)],
                               rtol=1e-6)
    sess.run(ng.local_variables_initializer())           # a reset
    assert sess.run(m) == 0.0


def test_accuracy(sess):
    labels = ng.placeholder(ng.int64, [None])
    logits = ng.placeholder(ng.float32, [None, 3])
    acc, up = ng.metrics.accuracy(labels, ng.argmax(logits, 1))
    assert acc.op.name == "accuracy/value" and up.op.name == "accuracy/update_op"
    sess.run(ng.local_variables_initializer())
    lg = np.array([[0.1, 0.8, 0.1], [0.9, 0.0, 0.1], [0.2, 0.3, 0.5]], np.float32)
    np.testing.assert_allclose(sess.run(up, {labels: [1, 1, 2], logits: lg}), 2 / 3)
    np.testing.assert_allclose(sess.run(up, {labels: [0], logits: lg[1:2]}), 3 / 4)
    np.testing.assert_allclose(sess.run(acc), 0.75)
    a2, up2 = ng.metrics.accuracy([[1], [2]], ng.constant([1, 0]), weights=[[2.0], [1.0]])
    sess.run(ng.local_variables_initializer())
    np.testing.assert_allclose(sess.run(up2), 2 / 3)
    with pytest.raises(ValueError, match="incompatible"):
        ng.metrics.accuracy([1, 2], ng.constant([1, 2, 3]))
