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


def test_error_and_confusion_metrics_match_tf(sess):
    lab, pred, w = (ng.placeholder(ng.float32, [None]) for _ in range(3))
    ms = [ng.metrics.mean_absolute_error(lab, pred),
          ng.metrics.mean_squared_error(lab, pred, weights=w),
          ng.metrics.root_mean_squared_error(lab, pred),
          ng.metrics.precision(lab, pred), ng.metrics.recall(lab, pred, weights=w),
          ng.metrics.true_negatives(lab, pred)]
    assert [v.op.name for v in ng.local_variables()] == [            # TF's names
        "mean_absolute_error/total", "mean_absolute_error/count", "mean_squared_error/total",
        "mean_squared_error/count", "root_mean_squared_error/total",
        "root_mean_squared_error/count", "precision/true_positives/count",
        "precision/false_positives/count", "recall/true_positives/count",
        "recall/false_negatives/count", "true_negatives/count"]
    sess.run(ng.local_variables_initializer())
    b1 = {lab: [1, 0, 1, 1, 0], pred: [1, 1, 0, 1, 0], w: [1, 2, 3, 0.5, 1]}
    b2 = {lab: [0, 1, 0], pred: [0.0, 2.0, 1.0], w: [1, 1, 2]}
    # TF 2.21's values for these batches
    np.testing.assert_allclose(sess.run([m[1] for m in ms], b1),
                               [0.4, 0.6666667, 0.6324555, 0.6666667, 0.33333334, 1.0],
                               rtol=1e-6)
    want = [0.5, 0.6956522, 0.70710677, 0.6, 0.45454547, 2.0]
    np.testing.assert_allclose(sess.run([m[1] for m in ms], b2), want, rtol=1e-6)
    np.testing.assert_allclose(sess.run([m[0] for m in ms]), want, rtol=1e-6)
