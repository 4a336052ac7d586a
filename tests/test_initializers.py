"""Initializers (numgrad/init_ops.py, ng.initializers, ng.contrib.layers): statistics, TF's fan
computation, orthogonality, get_variable's default, re-initialisation draws new values.
Sessions use NUMGRAD_BACKEND (run under cpu and numpy)."""
import math

import numpy as np
import pytest
from lazy_module import LazyModule

import numgrad as ng
from numgrad import init_ops

stats = LazyModule("scipy.stats")     # imported by the first test that uses it

P_MIN = 1e-3
TRUNC_STD = 0.87962566103423978


def _value(sess, init, shape, dtype=None):
    t = init(shape) if dtype is None else init(shape, dtype=dtype)
    return sess.run(t)


def test_truncation_constant_is_the_std_of_the_truncated_standard_normal():
    assert stats.truncnorm(-2, 2).std() == pytest.approx(TRUNC_STD, rel=1e-12)


def test_random_normal_truncated_normal_uniform(sess):
    v = _value(sess, ng.random_normal_initializer(1.0, 0.5, seed=1), [200, 250])
    assert v.dtype == np.float32 and v.shape == (200, 250)
    assert stats.kstest(v.ravel(), "norm", args=(1.0, 0.5)).pvalue > P_MIN
    t = _value(sess, ng.truncated_normal_initializer(0.0, 0.3, seed=2), [100, 1000],
               ng.float64)
    assert t.dtype == np.float64 and np.abs(t).max() < 0.6
    assert stats.kstest(t.ravel(), stats.truncnorm(-2, 2, scale=0.3).cdf).pvalue > P_MIN
    u = _value(sess, ng.random_uniform_initializer(-2.0, 5.0, seed=3), [100, 1000])
    assert u.min() >= -2 and u.max() < 5
    assert stats.kstest(u.ravel(), "uniform", args=(-2.0, 7.0)).pvalue > P_MIN
    i = _value(sess, ng.random_uniform_initializer(0, 7, seed=4, dtype=ng.int32), [1000])
    assert i.dtype == np.int32 and i.min() >= 0 and i.max() < 7


@pytest.mark.parametrize("shape,fans", [([], (1, 1)), ([7], (7, 7)), ([3, 4], (3, 4)),
                                        ([3, 5, 4, 6], (60, 90)), ([2, 3, 4, 5, 6], (120, 144))])
def test_compute_fans_counts_the_receptive_field(shape, fans):
    assert init_ops._compute_fans(shape) == fans


def test_glorot_uniform_limits_and_uniformity(sess):
    shape = [3, 3, 40, 50]                       # conv kernel: fans 360, 450
    limit = math.sqrt(6.0 / (360 + 450))
    w = _value(sess, ng.glorot_uniform_initializer(seed=5), shape)
    assert w.shape == tuple(shape)
    assert w.min() >= -limit and w.max() < limit and w.max() > 0.99 * limit
    assert stats.kstest(w.ravel(), "uniform", args=(-limit, 2 * limit)).pvalue > P_MIN


def test_glorot_normal_is_a_truncated_normal(sess):
    w = _value(sess, ng.glorot_normal_initializer(seed=6), [300, 200], ng.float64)
    std = math.sqrt(2.0 / 500) / TRUNC_STD
    assert np.abs(w).max() < 2 * std
    assert stats.kstest(w.ravel(), stats.truncnorm(-2, 2, scale=std).cdf).pvalue > P_MIN
    assert w.std() == pytest.approx(math.sqrt(2.0 / 500), rel=0.02)


@pytest.mark.parametrize("mode,n", [("fan_in", 240), ("fan_out", 500), ("fan_avg", 370)])
@pytest.mark.parametrize("distribution", ["truncated_normal", "normal", "untruncated_normal",
                                          "uniform"])
def test_variance_scaling_std(sess, mode, distribution, n):
    shape = [2, 2, 60, 125]                     # receptive 4: fan_in 240, fan_out 500
    init = ng.variance_scaling_initializer(2.0, mode, distribution, seed=7)
    w = _value(sess, init, shape, ng.float64)
    assert w.std() == pytest.approx(math.sqrt(2.0 / n), rel=0.02)
    if distribution == "uniform":
        assert np.abs(w).max() < math.sqrt(6.0 / n)


def test_variance_scaling_errors():
    with pytest.raises(ValueError):
        ng.variance_scaling_initializer(scale=0.0)
    with pytest.raises(ValueError):
        ng.variance_scaling_initializer(mode="fan_sum")
    with pytest.raises(ValueError):
        ng.variance_scaling_initializer(distribution="cauchy")
    with pytest.raises(ValueError):
        ng.glorot_uniform_initializer(dtype=ng.int32)


@pytest.mark.parametrize("shape", [[6, 6], [10, 4], [4, 10], [3, 2, 5]])
@pytest.mark.parametrize("gain", [1.0, 2.5])
def test_orthogonal(sess, shape, gain):
    w = _value(sess, ng.orthogonal_initializer(gain=gain, seed=8), shape, ng.float64)
    assert w.shape == tuple(shape)
    m = w.reshape(-1, shape[-1])
    rows, cols = m.shape
    gram = m.T @ m if rows >= cols else m @ m.T
    np.testing.assert_allclose(gram, gain**2 * np.eye(min(rows, cols)), atol=1e-12)


def test_orthogonal_float32_and_errors(sess):
    w = _value(sess, ng.orthogonal_initializer(seed=9), [8, 8])
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.T @ w, np.eye(8), atol=1e-5)
    with pytest.raises(ValueError, match="two-dimensional"):
        ng.orthogonal_initializer()([5])


def test_orthogonal_is_not_the_same_matrix_each_time(sess):
    init = ng.orthogonal_initializer(seed=10)
    a = init([5, 5])
    assert not np.allclose(sess.run(a), sess.run(a))


def test_get_variable_default_initializer_is_glorot_uniform(sess):
    v = ng.get_variable("w", [30, 70])
    i = ng.get_variable("i", [5], dtype=ng.int32)
    sess.run(ng.global_variables_initializer())
    w = sess.run(v)
    limit = math.sqrt(6.0 / 100)
    assert w.dtype == np.float32 and np.abs(w).max() < limit and np.abs(w).max() > 0.9 * limit
    assert np.all(sess.run(i) == 0)
    ops = [op.type for op in ng.get_default_graph().get_operations()]
    assert "RandomUniform" in ops


def test_reinitialising_draws_new_values_and_seeded_graphs_repeat():
    def build_and_run():
        g = ng.Graph()
        with g.as_default():
            ng.set_random_seed(11)
            v = ng.get_variable("v", [4, 3], initializer=ng.random_normal_initializer())
            u = ng.get_variable("u", [4, 3])
            init = ng.global_variables_initializer()
            with ng.Session(graph=g) as s:
                s.run(init)
                first = s.run([v, u])
                s.run(init)
                second = s.run([v, u])
        return first, second
    (a1, b1), (a2, b2) = build_and_run()
    assert not np.array_equal(a1, a2) and not np.array_equal(b1, b2)
    (c1, d1), (c2, d2) = build_and_run()
    assert np.array_equal(a1, c1) and np.array_equal(b2, d2)


def test_initializer_seed_fixes_the_stream(sess):
    a = ng.truncated_normal_initializer(seed=12)([3, 3])
    b = ng.truncated_normal_initializer(seed=12)([3, 3])
    va, vb = sess.run([a, b])
    assert np.array_equal(va, vb)


def test_contrib_xavier(sess):
    init = ng.contrib.layers.xavier_initializer(seed=13)
    w = sess.run(init([3, 3, 20, 30]))            # fans 180, 270
    limit = math.sqrt(6.0 / 450)
    assert np.abs(w).max() < limit and np.abs(w).max() > 0.95 * limit
    n = sess.run(ng.contrib.layers.xavier_initializer(uniform=False, seed=14,
                                                      dtype=ng.float64)([200, 300]))
    std = math.sqrt(1.3 * 2 / 500)
    assert n.dtype == np.float64 and np.abs(n).max() < 2 * std
    assert n.std() == pytest.approx(std * TRUNC_STD, rel=0.02)
    v = ng.get_variable("x", [10, 10], initializer=ng.contrib.layers.xavier_initializer())
    sess.run(v.initializer)
    assert np.abs(sess.run(v)).max() < math.sqrt(6.0 / 20)
    with pytest.raises(TypeError):
        ng.contrib.layers.xavier_initializer(dtype=ng.int32)
    with pytest.raises(AttributeError):
        ng.contrib.no_such_module                   # noqa: B018


def test_initializers_namespace_and_config(sess):
    for name in ("constant", "zeros", "ones", "random_normal", "random_uniform",
                 "truncated_normal", "variance_scaling", "glorot_uniform", "glorot_normal",
                 "orthogonal", "identity", "he_normal", "he_uniform", "lecun_normal",
                 "lecun_uniform"):
        assert callable(getattr(ng.initializers, name)), name
    assert ng.initializers.glorot_uniform is ng.glorot_uniform_initializer
    np.testing.assert_array_equal(sess.run(ng.initializers.identity(2.0)([2, 3])),
                                  2.0 * np.eye(2, 3))
    assert ng.variance_scaling_initializer(2.0, "fan_out").get_config() == {
        "scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal", "seed": None,
        "dtype": "float32"}
    he = ng.initializers.he_uniform(seed=1)
    w = sess.run(he([400, 10]))
    assert np.abs(w).max() < math.sqrt(6.0 / 400)
