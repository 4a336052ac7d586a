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
    with pytest.raises(NotImplementedError, match="zero_debias"):
        ng.train.ExponentialMovingAverage(0.9, zero_debias=True)
