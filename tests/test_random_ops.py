"""Random ops (numgrad/random_ops.py): Philox known answers, TF's seed rules, statefulness
(each run draws new numbers, each Session starts from the same stream), determinism across
processes and backends, distributions (KS / chi-square at p > 1e-3), dropout, multinomial,
shuffle and errors.  Sessions use NUMGRAD_BACKEND (run under cpu and numpy)."""
import os
import subprocess
import sys

import numpy as np
import pytest
from lazy_module import LazyModule

import numgrad as ng
from numgrad import random_ops
from numgrad.errors import InvalidArgumentError

stats = LazyModule("scipy.stats")     # imported by the first test that uses it

N = 100_000
P_MIN = 1e-3


# --- Philox4x32-10 ----------------------------------------------------------------------------
# Random123's kat_vectors for philox4x32 10 (counter, key, output)
KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8)),
    ((0xffffffff,) * 4, (0xffffffff,) * 2, (0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd)),
    ((0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344), (0xa4093822, 0x299f31d0),
     (0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1)),
]


@pytest.mark.parametrize("counter,key,expected", KAT)
def test_philox_known_answers(counter, key, expected):
    out = random_ops.philox4x32(counter, key)
    assert tuple(int(w) for w in out) == expected
    assert all(w.dtype == np.uint32 for w in out)


def test_philox_vectorised_equals_elementwise():
    c0 = np.array([0, 1, 0xffffffff, 12345], dtype=np.int64)
    out = np.stack(random_ops.philox4x32((c0, 7, 3, 0), (11, 13)), axis=-1)
    for i, c in enumerate(c0):
        assert tuple(out[i]) == tuple(int(w) for w in random_ops.philox4x32((c, 7, 3, 0),
                                                                             (11, 13)))


# --- helpers -------------------------------------------------------------------------------
def _all_ops(seed=1):
    """One op of each kind, seeded; their fetches."""
    ng.set_random_seed(seed)
    return [ng.random_normal([3, 5]), ng.random_normal([7], dtype=ng.float64),
            ng.random_uniform([9]), ng.random_uniform([4], -2.0, 3.0, dtype=ng.float64),
            ng.random_uniform([2, 3], dtype=ng.float16),
            ng.random_uniform([8], 3, 17, dtype=ng.int32),
            ng.random_uniform([8], -2**40, 2**40, dtype=ng.int64),
            ng.truncated_normal([50]), ng.truncated_normal([50], dtype=ng.float64),
            ng.random_shuffle(np.arange(12).reshape(6, 2)),
            ng.multinomial([[0.0, 1.0, -1.0], [2.0, 0.0, 0.0]], 6),
            ng.nn.dropout(np.ones([10], np.float32), rate=0.3)]


def _session_runs(fetches, backend=None, runs=2):
    with ng.Session(backend=backend) as s:
        return [s.run(fetches) for _ in range(runs)]


def _bits(values):
    return [np.asarray(v).tobytes().hex() for v in values]


# --- determinism ------------------------------------------------------------------------------
def test_numpy_and_cpu_backends_agree_bit_for_bit():
    fetches = _all_ops()
    a = _session_runs(fetches, "numpy")
    b = _session_runs(fetches, "cpu")
    for ra, rb in zip(a, b):
        for x, y in zip(ra, rb):
            assert x.dtype == y.dtype and x.shape == y.shape
            assert x.tobytes() == y.tobytes()


_SCRIPT = """
import numpy as np, numgrad as ng
ng.set_random_seed(1)
{ops}
with ng.Session(backend="numpy") as s:
    for _ in range(2):
        print(" ".join(np.asarray(v).tobytes().hex() for v in s.run(fetches)))
"""


def test_same_seeds_same_numbers_in_a_fresh_process(sess):
    ops = ("fetches = [ng.random_normal([3, 5]), ng.random_uniform([9], seed=4), "
           "ng.truncated_normal([6], dtype=ng.float64), "
           "ng.random_uniform([5], 0, 100, dtype=ng.int64)]")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([os.path.dirname(os.path.dirname(ng.__file__)),
                                         env.get("PYTHONPATH", "")])
    out = subprocess.run([sys.executable, "-c", _SCRIPT.format(ops=ops)], env=env,
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.split("\n")[:2]
    ng.set_random_seed(1)
    loc = {"ng": ng}
    exec(ops, loc)
    here = [" ".join(_bits(sess.run(loc["fetches"]))) for _ in range(2)]
    assert lines == here


def test_each_run_draws_new_numbers_and_each_session_starts_over():
    fetches = _all_ops()
    r1 = _session_runs(fetches, runs=3)
    r2 = _session_runs(fetches, runs=3)
    for a, b in zip(r1, r2):                     # a second Session: the same stream
        assert _bits(a) == _bits(b)
    for i in (0, 1, 2, 3, 7, 8, 11):             # continuous draws differ from run to run
        assert not np.array_equal(r1[0][i], r1[1][i]) and not np.array_equal(r1[1][i], r1[2][i])


def test_a_run_that_skips_an_op_does_not_advance_it(sess):
    ng.set_random_seed(2)
    a, b = ng.random_uniform([4]), ng.random_uniform([4])
    a0 = sess.run(a)
    sess.run(b)
    a1 = sess.run(a)
    with ng.Session() as s2:
        assert np.array_equal(s2.run(a), a0) and np.array_equal(s2.run(a), a1)


def test_two_ops_in_one_run_are_independent_and_one_op_is_read_once(sess):
    ng.set_random_seed(3)
    a = ng.random_normal([5])
    b = ng.random_normal([5])
    va, vb, va2 = sess.run([a, b, a + 0.0])
    assert not np.array_equal(va, vb)
    assert np.array_equal(va, va2)


# --- seed rules -----------------------------------------------------------------------------
def test_get_seed_rules():
    assert ng.get_seed(None) == (None, None)
    assert ng.get_seed(5) == (random_ops.DEFAULT_GRAPH_SEED, 5)
    assert ng.get_seed(0) == (random_ops.DEFAULT_GRAPH_SEED, 0)
    ng.set_random_seed(0)
    assert ng.get_seed(0) == (0, 2**31 - 1)            # TF avoids (0, 0)
    ng.random.set_random_seed(7)
    assert ng.get_default_graph().seed == 7
    # op seeds from the graph's count of seedless requests: 0, 1, 2, ...
    assert ng.get_seed(None) == (7, 0)                 # calls with an op seed do not count
    assert ng.get_seed(None) == (7, 1)
    assert ng.get_seed(3) == (7, 3)
    assert ng.get_seed(None) == (7, 2)
    ng.set_random_seed(2**31 + 5)
    assert ng.get_seed(2**31) == (6, 1)                # truncated modulo 2**31 - 1


def test_op_seeds_follow_get_seed():
    ng.set_random_seed(42)
    a = ng.random_normal([2])
    b = ng.random_uniform([2], seed=9)
    ops = {op.type: op for op in ng.get_default_graph().get_operations()}
    assert (ops["RandomStandardNormal"].attrs["seed"], ops["RandomStandardNormal"].attrs["seed2"]) \
        == (42, 0)
    assert (ops["RandomUniform"].attrs["seed"], ops["RandomUniform"].attrs["seed2"]) == (42, 9)
    assert a.shape.as_list() == [2] and b.shape.as_list() == [2]


def test_graph_seed_makes_graphs_repeatable_and_op_seed_alone_uses_the_default():
    def build(graph_seed, op_seed):
        g = ng.Graph()
        with g.as_default():
            if graph_seed is not None:
                ng.set_random_seed(graph_seed)
            t = [ng.random_normal([4], seed=op_seed), ng.random_uniform([4], seed=op_seed)]
            with ng.Session(graph=g) as s:
                return _bits(s.run(t))
    assert build(10, None) == build(10, None)
    assert build(10, None) != build(11, None)
    assert build(None, 3) == build(None, 3) == build(random_ops.DEFAULT_GRAPH_SEED, 3)
    assert build(None, None) != build(None, None)          # no seeds: nondeterministic


def test_same_op_seed_gives_the_same_stream(sess):
    a = ng.random_normal([6], seed=5)
    b = ng.random_normal([6], seed=5)
    va, vb = sess.run([a, b])
    assert np.array_equal(va, vb)


# --- distributions ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [ng.float32, ng.float64])
def test_normal_and_uniform_ks(sess, dtype):
    z = ng.random_normal([N], seed=1, dtype=dtype)
    u = ng.random_uniform([N], seed=2, dtype=dtype)
    zv, uv = sess.run([z, u])
    assert zv.dtype == dtype.np and uv.dtype == dtype.np
    assert stats.kstest(zv, "norm").pvalue > P_MIN
    assert stats.kstest(uv, "uniform").pvalue > P_MIN
    assert uv.min() >= 0 and uv.max() < 1


def test_mean_stddev_minval_maxval_are_applied(sess):
    z = ng.random_normal([N], mean=3.0, stddev=0.5, seed=3)
    u = ng.random_uniform([N], minval=-4.0, maxval=-1.0, seed=4)
    zv, uv = sess.run([z, u])
    assert stats.kstest(zv, "norm", args=(3.0, 0.5)).pvalue > P_MIN
    assert stats.kstest(uv, "uniform", args=(-4.0, 3.0)).pvalue > P_MIN
    assert uv.min() >= -4.0 and uv.max() < -1.0


def test_mean_and_stddev_may_be_tensors_with_gradients(sess):
    mean = ng.placeholder(ng.float64, [])
    std = ng.placeholder(ng.float64, [])
    z = ng.random_normal([100], mean=mean, stddev=std, dtype=ng.float64, seed=7)
    std_normal = (z - mean) / std
    gm, gs = ng.gradients(ng.reduce_sum(z), [mean, std])
    zv, sn, gmv, gsv = sess.run([z, std_normal, gm, gs], {mean: 1.5, std: 2.0})
    assert gmv == pytest.approx(100.0)
    assert gsv == pytest.approx(sn.sum())
    assert np.allclose(zv, 1.5 + 2.0 * sn)


@pytest.mark.parametrize("dtype", [ng.float32, ng.float64])
def test_truncated_normal_ks_and_bounds(sess, dtype):
    t = ng.truncated_normal([N], seed=5, dtype=dtype)
    tv = sess.run(t)
    assert tv.dtype == dtype.np
    assert np.abs(tv).max() < 2.0
    assert stats.kstest(tv, stats.truncnorm(-2.0, 2.0).cdf).pvalue > P_MIN
    s = sess.run(ng.truncated_normal([1000], mean=10.0, stddev=0.1, seed=6))
    assert np.all((s > 9.8) & (s < 10.2))


def test_truncated_normal_float16_bounds(sess):
    tv = sess.run(ng.truncated_normal([20000], seed=8, dtype=ng.float16))
    assert tv.dtype == np.float16 and np.abs(tv).max() < 2.0


def test_float16_uniform_stays_below_one(sess):
    uv = sess.run(ng.random_uniform([20000], seed=9, dtype=ng.float16))
    assert uv.dtype == np.float16 and uv.min() >= 0 and uv.max() < 1


@pytest.mark.parametrize("dtype", [ng.int32, ng.int64])
def test_integer_uniform_chi_square(sess, dtype):
    lo, hi = -3, 14
    iv = sess.run(ng.random_uniform([N], lo, hi, dtype=dtype, seed=10))
    assert iv.dtype == dtype.np and iv.min() >= lo and iv.max() < hi
    counts = np.bincount(iv - lo, minlength=hi - lo)
    assert stats.chisquare(counts).pvalue > P_MIN


def test_integer_uniform_extreme_ranges(sess):
    v = sess.run(ng.random_uniform([1000], -2**31, 2**31 - 1, dtype=ng.int32, seed=1))
    assert v.min() < -2**29 and v.max() > 2**29
    w = sess.run(ng.random_uniform([1000], -2**62, 2**62, dtype=ng.int64, seed=1))
    assert w.min() >= -2**62 and w.max() < 2**62 and w.min() < -2**60


# --- shapes and errors ------------------------------------------------------------------------
def test_shapes_lists_and_tensors(sess):
    assert ng.random_normal([2, 3]).shape.as_list() == [2, 3]
    assert ng.random_normal(ng.constant([4, 1])).shape.as_list() == [4, 1]
    assert ng.random_uniform([]).shape.as_list() == []
    dims = ng.placeholder(ng.int32, [2])
    z = ng.random_normal(dims)
    assert z.shape.as_list() == [None, None]
    assert sess.run(z, {dims: [3, 2]}).shape == (3, 2)
    x = ng.placeholder(ng.float32, [None, 3])
    assert sess.run(ng.random_uniform(ng.shape(x)), {x: np.zeros([5, 3])}).shape == (5, 3)
    assert sess.run(ng.random_normal([0, 3])).shape == (0, 3)


def test_errors(sess):
    with pytest.raises(ValueError, match="dtype"):
        ng.random_normal([2], dtype=ng.int32)
    with pytest.raises(ValueError, match="dtype"):
        ng.truncated_normal([2], dtype=ng.bool)
    with pytest.raises(ValueError, match="maxval"):
        ng.random_uniform([2], dtype=ng.int32)
    with pytest.raises(ValueError, match="dtype"):
        ng.random_uniform([2], dtype=ng.bool)
    with pytest.raises(TypeError):
        ng.random_normal([2.5])
    with pytest.raises(ValueError, match="negative"):
        ng.random_normal([-1, 2])
    vector = ng.constant([1, 2])
    before = len(ng.get_default_graph().get_operations())
    with pytest.raises(ValueError):
        ng.random_uniform([2], 0, vector, dtype=ng.int32)
    assert len(ng.get_default_graph().get_operations()) == before     # nothing left behind
    bad = ng.random_uniform([2], 5, 5, dtype=ng.int32)
    with pytest.raises(InvalidArgumentError, match="minval < maxval"):
        sess.run(bad)


def test_eager_mode_is_refused():
    ng.enable_eager_execution()
    with pytest.raises(RuntimeError, match="graph mode"):
        ng.random_normal([2])


def test_random_ops_are_not_differentiable():
    x = ng.placeholder(ng.float32, [3])
    s = ng.random_shuffle(x)
    assert ng.gradients(ng.reduce_sum(s), x) == [None]


# --- shuffle, multinomial ------------------------------------------------------------------------
def test_shuffle_is_a_permutation_of_rows(sess):
    v = np.arange(40).reshape(20, 2)
    s = ng.random_shuffle(v, seed=3)
    seen = []
    for _ in range(3):
        r = sess.run(s)
        assert np.array_equal(np.sort(r[:, 0]), v[:, 0]) and np.array_equal(r[:, 1], r[:, 0] + 1)
        seen.append(r[:, 0].tolist())
    assert seen[0] != seen[1] != seen[2]
    assert s.shape.as_list() == [20, 2]
    with pytest.raises(ValueError):
        ng.random_shuffle(3.0)


def test_multinomial_frequencies(sess):
    with np.errstate(divide="ignore"):
        logits = np.log(np.array([[0.1, 0.2, 0.3, 0.4], [0.7, 0.0, 0.2, 0.1]]))
    m = ng.multinomial(logits.astype(np.float32), N // 2, seed=4)
    assert m.shape.as_list() == [2, N // 2] and m.dtype == ng.int64
    mv = sess.run(m)
    for row, p in zip(mv, np.exp(logits)):
        counts = np.bincount(row, minlength=4)
        if p[1] == 0:
            assert counts[1] == 0
            counts, p = counts[[0, 2, 3]], p[[0, 2, 3]]
        assert stats.chisquare(counts, p * row.size).pvalue > P_MIN


def test_categorical(sess):
    c = ng.random.categorical([[0.0, 0.0, -np.inf]], 50, dtype=ng.int32, seed=2)
    assert c.dtype == ng.int32
    cv = sess.run(c)
    assert set(cv.ravel()) <= {0, 1} and cv.shape == (1, 50)
    n = ng.placeholder(ng.int32, [])
    d = ng.multinomial(np.zeros([3, 5], np.float32), n)
    assert d.shape.as_list() == [3, None]
    assert sess.run(d, {n: 4}).shape == (3, 4)


def test_random_namespace():
    for name in ("normal", "uniform", "truncated_normal", "shuffle", "categorical",
                 "multinomial", "set_random_seed", "get_seed"):
        assert callable(getattr(ng.random, name)), name
    assert ng.random.normal is ng.random_normal


# --- dropout ---------------------------------------------------------------------------------
def test_dropout_scaling_fraction_and_gradient(sess):
    x = ng.placeholder(ng.float32, [N])
    d = ng.nn.dropout(x, keep_prob=0.8, seed=1)
    g = ng.gradients(ng.reduce_sum(d * 3.0), x)[0]
    xv = np.random.default_rng(0).uniform(1, 2, N).astype(np.float32)
    dv, gv = sess.run([d, g], {x: xv})
    kept = dv != 0
    np.testing.assert_allclose(dv[kept], xv[kept] / 0.8, rtol=1e-6)
    frac = kept.mean()
    assert abs(frac - 0.8) < 5 * np.sqrt(0.8 * 0.2 / N)
    np.testing.assert_allclose(gv, 3.0 * kept / 0.8, rtol=1e-6)    # the mask, scaled
    dv2 = sess.run(d, {x: xv})
    assert not np.array_equal(dv2 != 0, kept)                      # a new mask each run


def test_dropout_rate_tensor_keep_prob_and_noise_shape(sess):
    x = ng.ones([200, 4])
    rate = ng.placeholder(ng.float32, [])
    d = ng.nn.dropout(x, rate=rate, noise_shape=[200, 1], seed=2)
    dv = sess.run(d, {rate: 0.75})
    assert set(np.unique(dv)) <= {0.0, 4.0}
    assert np.all(dv == dv[:, :1])                                 # one draw per row
    kp = ng.placeholder(ng.float32, [])
    e = sess.run(ng.nn.dropout(x, keep_prob=kp), {kp: 1.0})
    assert np.all(e == 1.0)
    assert np.all(sess.run(ng.nn.dropout(x, rate=0.0)) == 1.0)
    y = ng.placeholder(ng.float64, [None, 3])
    assert sess.run(ng.nn.dropout(y, 0.5), {y: np.ones([4, 3])}).shape == (4, 3)


@pytest.mark.parametrize("kwargs", [dict(), dict(keep_prob=0.5, rate=0.5), dict(keep_prob=0.0),
                                    dict(keep_prob=1.5), dict(rate=1.0), dict(rate=-0.1),
                                    dict(rate=0.5, noise_shape=[3, 5])])
def test_dropout_errors(kwargs):
    with pytest.raises(ValueError):
        ng.nn.dropout(ng.ones([4, 2]), **kwargs)


def test_dropout_needs_floats():
    with pytest.raises(ValueError, match="floating"):
        ng.nn.dropout(ng.constant([1, 2]), rate=0.5)


def test_unseeded_ops_draw_a_different_stream_in_each_session():
    x = ng.random_uniform([64])           # no graph seed, no op seed
    with ng.Session() as s1, ng.Session() as s2:
        a1, a2 = s1.run(x), s1.run(x)
        b1 = s2.run(x)
    assert not np.array_equal(a1, a2) and not np.array_equal(a1, b1)
    ng.set_random_seed(5)
    y = ng.random_uniform([64])           # seeded: every Session starts the same stream
    with ng.Session() as s1, ng.Session() as s2:
        assert np.array_equal(s1.run(y), s2.run(y))


def test_overlapping_runs_of_one_session_draw_different_numbers():
    import threading
    ng.set_random_seed(11)
    x = ng.random_normal([256])
    with ng.Session() as s:
        out = []
        threads = [threading.Thread(target=lambda: out.append(s.run(x))) for _ in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert len({a.tobytes() for a in out}) == 6
