"""A TF1 training script written against tf.compat.v1 runs unchanged on numgrad.compat.v1:
layers with batch norm and dropout, a tf.losses loss, UPDATE_OPS, an EMA of the weights,
a streaming metric, asserts, summaries written to an event file."""
import glob

import numpy as np

import numgrad.compat.v1 as tf


def _data(rng, n):
    x = rng.normal(size=(n, 4)).astype(np.float32)
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1.0)
    return x, y


def test_training_script(tmp_path):
    tf.disable_v2_behavior()
    tf.random.set_seed(3)
    rng = np.random.default_rng(0)
    x = tf.placeholder(tf.float32, [None, 4], name="x")
    y = tf.placeholder(tf.int64, [None], name="y")
    training = tf.placeholder_with_default(False, [], name="training")
    h = tf.layers.dense(x, 16, activation=tf.nn.relu)
    h = tf.layers.batch_normalization(h, training=training)
    h = tf.layers.dropout(h, 0.1, training=training)
    logits = tf.layers.dense(h, 3, name="logits")
    loss = tf.losses.sparse_softmax_cross_entropy(y, logits)
    check = tf.debugging.assert_non_negative(loss)
    with tf.control_dependencies(tf.get_collection(tf.GraphKeys.UPDATE_OPS) + [check]):
        step = tf.train.AdamOptimizer(0.05).minimize(loss)
    ema = tf.train.ExponentialMovingAverage(0.9)
    with tf.control_dependencies([step]):
        train_op = ema.apply(tf.trainable_variables())
    acc, acc_update = tf.metrics.accuracy(y, tf.argmax(logits, 1))
    tf.summary.scalar("loss", loss)
    tf.summary.histogram("logits", logits)
    merged = tf.summary.merge_all()
    xs, ys = _data(rng, 256)
    with tf.Session() as sess, tf.summary.FileWriter(str(tmp_path), sess.graph) as writer:
        sess.run([tf.global_variables_initializer(), tf.local_variables_initializer()])
        first = sess.run(loss, {x: xs, y: ys})
        for i in range(40):
            _, summary = sess.run([train_op, merged], {x: xs, y: ys, training: True})
            writer.add_summary(summary, i)
        last = sess.run(loss, {x: xs, y: ys})
        xt, yt = _data(rng, 128)
        sess.run(acc_update, {x: xt, y: yt})
        accuracy = sess.run(acc)
        moving_mean = sess.run(tf.get_default_graph().get_tensor_by_name(
            "batch_normalization/moving_mean:0"))
    assert last < 0.5 * first and accuracy > 0.8
    assert np.abs(moving_mean).sum() > 0                   # the UPDATE_OPS ran
    assert len(glob.glob(str(tmp_path / "events.out.tfevents.*"))) == 1
