"""bfloat16 (numgrad/bf16.py, ng.bfloat16): the dtype without and with the optional ml_dtypes
package, and values as TF 2.21 gives them on cpu -- an op computes in float32 and rounds its
result to bfloat16 (to nearest even), reductions and matmul accumulate in float32, scans
round after every step.  The literals below are TF 2.21's outputs for the same inputs."""
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng

ml_dtypes = pytest.importorskip("ml_dtypes")
BF16 = np.dtype(ml_dtypes.bfloat16)
V777 = np.linspace(0.1, 3, 777).astype(np.float32)


def _f32(a):
    return np.asarray(a).astype(np.float32)


def test_dtype_facts():
    assert ng.dtypes.bfloat16 is ng.bfloat16 is ng.as_dtype("bfloat16")
    assert ng.as_dtype(ml_dtypes.bfloat16) is ng.bfloat16 and ng.as_dtype(BF16) is ng.bfloat16
    assert ng.bfloat16 == "bfloat16" and ng.bfloat16 != ng.float16 and ng.bfloat16 != np.float32
    assert ng.bfloat16.is_floating and ng.bfloat16.is_differentiable and ng.bfloat16.size == 2
    assert not (ng.bfloat16.is_integer or ng.bfloat16.is_complex or ng.bfloat16.is_bool)
    assert ng.bfloat16.as_numpy_dtype is ml_dtypes.bfloat16 and ng.bfloat16.np == BF16
    assert ng.bfloat16.real_dtype is ng.bfloat16 and repr(ng.bfloat16) == "ng.bfloat16"


def test_without_ml_dtypes_the_error_says_how_to_install():
    code = """
import sys
sys.modules['ml_dtypes'] = None      # as if it were not installed
import numgrad as ng
assert 'ml_dtypes' not in sys.modules or sys.modules['ml_dtypes'] is None
assert ng.bfloat16.is_floating and ng.as_dtype('bfloat16') is ng.bfloat16
g = ng.get_default_graph()
x = ng.constant([1.0])
for build in (lambda: ng.placeholder(ng.bfloat16, [2]), lambda: ng.cast(x, ng.bfloat16),
              lambda: ng.constant([1.0], dtype=ng.bfloat16), lambda: ng.to_bfloat16(x)):
    try:
        build()
    except ImportError as e:
        assert "pip install 'numgrad[bfloat16]'" in str(e), e
    else:
        raise AssertionError('no ImportError')
assert len(g.get_operations()) == 1     # nothing was added
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_import_numgrad_does_not_import_ml_dtypes():
    code = "import sys, numgrad; assert 'ml_dtypes' not in sys.modules"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_values_as_tf():
    ng.reset_default_graph()
    x = ng.placeholder(ng.bfloat16, [5])
    v = ng.placeholder(ng.bfloat16, [777])
    a = ng.placeholder(ng.bfloat16, [4, 300])
    b = ng.placeholder(ng.bfloat16, [300, 3])
    wide = ng.constant([1.00390625, 1.01171875, 1.0e39, -2.5e-41], ng.float64)
    fetches = {"chain": ng.exp(x) * 2.0 + x, "sum": ng.reduce_sum(v), "mean": ng.reduce_mean(v),
               "cumsum": ng.cumsum(v[:300])[-1], "max": ng.reduce_max(v),
               "ones": ng.reduce_sum(ng.ones([1000], ng.bfloat16)), "matmul": ng.matmul(a, b),
               "cast": ng.cast(wide, ng.bfloat16), "back": ng.cast(x, ng.float32),
               "const": ng.constant([1.5, 3.0], dtype=ng.bfloat16)}
    rng = np.random.RandomState
    feed = {x: np.linspace(0.1, 1, 5), v: V777, a: rng(0).randn(4, 300).astype(np.float32),
            b: rng(1).randn(300, 3).astype(np.float32)}
    with ng.Session() as sess:
        o = sess.run(fetches, feed)
    for k in ("chain", "sum", "mean", "cumsum", "matmul", "cast", "const"):
        assert o[k].dtype == BF16, k
    assert o["back"].dtype == np.float32
    assert _f32(o["chain"]).tolist() == [2.296875, 3.09375, 4.03125, 5.125, 6.4375]
    # float32 accumulation: a bfloat16 one would stop at 256 for the ones
    assert float(o["sum"]) == 1208.0 and float(o["mean"]) == 1.546875 and float(o["ones"]) == 1000
    assert float(o["cumsum"]) == 196.0 and float(o["max"]) == 3.0      # the scan rounds each step
    assert _f32(o["matmul"]).ravel().tolist() == [
        27.75, -13.0625, 19.375, -25.25, 11.8125, -9.75, 16.25, -29.875, -0.93359375, 20.625,
        -6.375, 21.25]
    c = _f32(o["cast"])
    assert c[:3].tolist() == [1.0, 1.015625, np.inf] and c[3] == 0 and np.signbit(c[3])
    assert _f32(o["back"]).tolist() == _f32(np.linspace(0.1, 1, 5).astype(BF16)).tolist()


def test_gradients_as_tf_and_checked_numerically():
    ng.reset_default_graph()
    x = ng.placeholder(ng.bfloat16, [5])
    loss = ng.reduce_sum(ng.tanh(x) * x)
    g, = ng.gradients(loss, x)
    assert g.dtype == ng.bfloat16
    with ng.Session() as sess:
        gv = sess.run(g, {x: np.linspace(0.1, 1, 5)})
    assert _f32(gv).tolist() == [0.19921875, 0.60546875, 0.9140625, 1.09375, 1.1796875]
    # TF's gradient tests in bfloat16: a coarse delta, a loose tolerance
    xv = np.array([0.5, -1.0, 2.0, 0.25, -0.75])
    err = ng.test.compute_gradient_error(x, [5], ng.tanh(x) * x, [5], x_init_value=xv,
                                         delta=0.125)
    assert err < 0.1
    w = ng.placeholder(ng.bfloat16, [5, 2])
    y = ng.matmul(ng.reshape(ng.sigmoid(x), [1, 5]), w)
    wv = np.linspace(-1, 1, 10).reshape(5, 2)
    assert ng.test.compute_gradient_error(w, [5, 2], y, [1, 2], x_init_value=wv,
                                          delta=0.125, extra_feed_dict={x: xv}) < 0.1


def _ops(x, z, w, ids):
    """One op each (a chain of ops would round after each): (name, output); `x` [2, 4, 4, 3]
    positive, `z` [8, 12] of both signs, `w` [3, 3, 3, 2], `ids` [4] ints."""
    return [("softmax", ng.nn.softmax(z)), ("relu", ng.nn.relu(z)), ("sigmoid", ng.sigmoid(z)),
            ("log", ng.log(x)), ("max", ng.reduce_max(z, 1)), ("prod", ng.reduce_prod(z, 1)),
            ("concat", ng.concat([z, ng.reshape(x[0], [4, 12])], 0)), ("gather", ng.gather(z, ids)),
            ("segment", ng.math.segment_sum(z[:4], ids)), ("top_k", ng.nn.top_k(z, 3)[0]),
            ("conv", ng.nn.conv2d(x, w, [1, 1, 1, 1], "SAME")),
            ("pool", ng.nn.max_pool(x, 2, 2, "VALID")), ("transpose", ng.transpose(z)),
            ("where", ng.where(ng.greater(z, 0.0), z, ng.zeros_like(z)))]


def test_every_kind_of_op_computes_in_float32_and_rounds():
    """Each op on bfloat16 values gives the float32 op on the same values, rounded once to
    bfloat16 (at most one bfloat16 step apart, where the float32 kernels' last bits differ)."""
    rng = np.random.RandomState(3)
    xv = rng.rand(2, 4, 4, 3).astype(BF16)
    zv = (rng.rand(8, 12) * 2 - 1).astype(BF16)
    wv = (rng.rand(3, 3, 3, 2) - 0.5).astype(BF16)
    outs = {}
    for dt in (ng.bfloat16, ng.float32):
        ng.reset_default_graph()
        x, z = ng.placeholder(dt, [2, 4, 4, 3]), ng.placeholder(dt, [8, 12])
        w = ng.placeholder(dt, [3, 3, 3, 2])
        built = _ops(x, z, w, ng.constant([0, 0, 1, 3]))
        with ng.Session() as sess:
            vals = sess.run([t for _, t in built], {x: _f32(xv), z: _f32(zv), w: _f32(wv)})
        outs[dt] = dict(zip([n for n, _ in built], vals))
    for name, got in outs[ng.bfloat16].items():
        want = outs[ng.float32][name].astype(BF16)
        assert got.dtype == BF16, name
        assert np.allclose(_f32(got), _f32(want), rtol=2.0**-7, atol=0), name
