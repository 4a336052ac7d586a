"""ng.train.ExponentialMovingAverage: shadow variables, the update rule (NumPy recurrence),
num_updates, average_name and variables_to_restore."""
import numpy as np
import pytest

import numgrad as ng


def test_shadows_follow_the_variables(sess):
    w = ng.Variable([1.0, 2.0], name="w")
    with ng.variable_scope("s"):
        b = ng.get_variable("b", initializer=ng.constant(3.0, ng.float64))
    t = ng.reduce_sum(w) * 2.0                   # a tensor: its average starts at zero
    ema = ng.train.ExponentialMovingAverage(0.9)
    op = ema.apply([w, b, t])
    assert op.type == "NoOp" and op.name == "ExponentialMovingAverage"
    sw, sb, st = ema.average(w), ema.average(b), ema.average(t)
    assert sw.op.name == "w/ExponentialMovingAverage"
    assert sb.op.name == "s/b/ExponentialMovingAverage"
    assert ema.average_name(b) == "s/b/ExponentialMovingAverage"
    assert not sw.trainable and sw in ng.global_variables() and sb.dtype == ng.float64
    assert ng.get_collection("moving_average_variables") == [w, b]
    assert ema.average(ng.Variable(1.0)) is None
    step = ng.assign_add(w, [1.0, -1.0])
    sess.run(ng.global_variables_initializer())
    want_w, want_t, wv = np.array([1.0, 2.0]), 0.0, np.array([1.0, 2.0])
    for _ in range(3):
        sess.run(step)
        wv = wv + [1.0, -1.0]
        sess.run(op)
        want_w = want_w - 0.1 * (want_w - wv)
        want_t = want_t - 0.1 * (want_t - 2 * wv.sum())
    got_w, got_b, got_t = sess.run([sw, sb, st])
    np.testing.assert_allclose(got_w, want_w, rtol=1e-6)
    np.testing.assert_allclose([got_b, got_t], [3.0, want_t], rtol=1e-6)
    with pytest.raises(ValueError, match="already computed for: w:0"):
        ema.apply([w])
    with pytest.raises(TypeError, match="half, float, or double"):
        ema.apply([ng.Variable(1, name="i")])


def test_num_updates_and_variables_to_restore(sess):
    w = ng.Variable(0.0, name="w")
    other = ng.Variable(5.0, trainable=False, name="other")
    n = ng.placeholder(ng.float32, [])
    ema = ng.train.ExponentialMovingAverage(0.99, num_updates=n, name="avg")
    op = ema.apply()                            # the trainable variables
    sess.run(ng.global_variables_initializer())
    sess.run(ng.assign(w, 10.0))
    sess.run(op, {n: 0.0})                      # decay min(0.99, 1/10) = 0.1
    np.testing.assert_allclose(sess.run(ema.average(w)), 9.0, rtol=1e-6)
    restore = ema.variables_to_restore()
    assert restore == {"w/avg": w, "other": other}   # the shadow's own name is taken
    assert restore["w/avg"] is w


def test_zero_debias_corrects_tensor_averages_only(sess):
    w = ng.Variable([1.0, 2.0], name="w")
    t = ng.reduce_sum(w) * 2.0
    t2 = ng.identity(w * 3.0, name="t2")
    ema = ng.train.ExponentialMovingAverage(0.9, zero_debias=True)
    op = ema.apply([w, t, t2])
    names = [v.op.name for v in ng.global_variables()]
    assert names == ["w", "w/ExponentialMovingAverage", "mul/ExponentialMovingAverage",
                     "t2/ExponentialMovingAverage", "mul/ExponentialMovingAverage/biased",
                     "mul/ExponentialMovingAverage/local_step",
                     "t2/ExponentialMovingAverage/biased",
                     "t2/ExponentialMovingAverage/local_step"]    # as TF 2.21 names them
    step = ng.assign_add(w, [1.0, -1.0])
    sess.run(ng.global_variables_initializer())
    # the recurrence written out: a variable's shadow starts at its value and is not
    # debiased; a tensor's biased average starts at 0 and is divided by 1 - decay**t
    wv, avg_w = np.array([1.0, 2.0]), np.array([1.0, 2.0])
    biased_t, biased_t2 = 0.0, np.zeros(2)
    got = []
    for k in range(1, 4):
        sess.run(step)
        wv = wv + [1.0, -1.0]
        sess.run(op)
        avg_w = avg_w - 0.1 * (avg_w - wv)
        biased_t = biased_t - 0.1 * (biased_t - 2 * wv.sum())
        biased_t2 = biased_t2 - 0.1 * (biased_t2 - 3 * wv)
        got = sess.run([ema.average(w), ema.average(t), ema.average(t2)])
        np.testing.assert_allclose(got[0], avg_w, rtol=1e-6)
        np.testing.assert_allclose(got[1], biased_t / (1 - 0.9 ** k), rtol=1e-6)
        np.testing.assert_allclose(got[2], biased_t2 / (1 - 0.9 ** k), rtol=1e-5)
    # TF 2.21's values after the third update, for the same script
    np.testing.assert_allclose(got[0], [1.5610001, 1.4389999], rtol=1e-6)
    np.testing.assert_allclose(got[1], 5.999999, rtol=1e-6)
    np.testing.assert_allclose(got[2], [9.210331, -0.21033208], rtol=1e-5)
