"""Issue 17, math part: elementwise math, reductions, norm, cross, segment ops.

Values against NumPy/SciPy references (special values included) on the backend under test
(NUMGRAD_BACKEND, cpu by default: the fused kernels) and on the numpy backend; gradients
against finite differences and against TF's numbers (written as constants); TF's None
gradients; the batched jacobian against a loop of gradients.  An optional comparison with
TensorFlow itself runs where it is installed.
"""
import numpy as np
import pytest

import numgrad as ng
from gradient_batch import GradientBatch, assert_jacobians
from numgrad.errors import InvalidArgumentError

sps = pytest.importorskip("scipy.special")

INF, NAN = np.inf, np.nan
SPECIAL = np.array([0.0, -0.0, 0.5, -0.5, 1.0, -1.0, 1.5, 2.5, -2.5, 0.3, -0.7, 1e-30, 30.0,
                    -30.0, 100.0, INF, -INF, NAN])


def _c(v):
    return ng.constant(np.asarray(v, np.float64))


def _tol(dtype):
    return dict(rtol=2e-6, atol=0) if np.dtype(dtype) == np.float32 else dict(rtol=1e-13, atol=0)


def run(fetches, feed=None):
    """Values on the backend under test and on the numpy backend (they must agree)."""
    with ng.Session() as s:
        got = s.run(fetches, feed)
    with ng.Session(backend="numpy") as s:
        ref = s.run(fetches, feed)
    return got, ref


def _f64(fn):
    def ref(x):
        with np.errstate(all="ignore"):
            return fn(np.asarray(x, np.float64))
    return ref


def _lgamma_ref(x):
    out = sps.gammaln(x)
    return np.where(x == -INF, INF, out)          # TF (and C's lgamma): +inf at -inf


def _digamma_ref(x):
    out = sps.digamma(x)
    return np.where((x <= 0) & (x == np.floor(x)), NAN, out)   # TF: NaN at the poles, -inf


UNARY = {
    "asin": (ng.asin, np.arcsin),
    "acos": (ng.acos, np.arccos),
    "atan": (ng.atan, np.arctan),
    "sinh": (ng.sinh, np.sinh),
    "cosh": (ng.cosh, np.cosh),
    "asinh": (ng.asinh, np.arcsinh),
    "acosh": (ng.acosh, np.arccosh),
    "atanh": (ng.atanh, np.arctanh),
    "ceil": (ng.ceil, np.ceil),
    "round": (ng.round, np.round),               # NumPy's round is half to even too
    "rint": (ng.rint, np.rint),
    "lgamma": (ng.lgamma, _lgamma_ref),
    "digamma": (ng.digamma, _digamma_ref),
    "erfc": (ng.erfc, sps.erfc),
    "softplus": (ng.math.softplus, lambda x: np.logaddexp(0.0, x)),
    "softsign": (ng.math.softsign, lambda x: x / (1 + np.abs(x))),
    "log_sigmoid": (ng.math.log_sigmoid, lambda x: -np.logaddexp(0.0, -x)),
    "elu": (ng.nn.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "selu": (ng.nn.selu, lambda x: 1.0507009873554805 * np.where(
        x > 0, x, 1.6732632423543772 * np.expm1(x))),
    "relu6": (ng.nn.relu6, lambda x: np.minimum(np.maximum(x, 0.0), 6.0)),
}
PREDICATES = {"is_nan": (ng.is_nan, np.isnan), "is_inf": (ng.is_inf, np.isinf),
              "is_finite": (ng.is_finite, np.isfinite)}


def _assert_values(got, want, dtype, what):
    want = np.asarray(want)
    if want.dtype == bool:
        np.testing.assert_array_equal(got, want, err_msg=what)
        return
    want = want.astype(dtype)
    assert got.dtype == np.dtype(dtype), what
    np.testing.assert_allclose(got, want, equal_nan=True, err_msg=what, **_tol(dtype))
    zeros = (want == 0) & (got == 0)
    np.testing.assert_array_equal(np.signbit(got[zeros]), np.signbit(want[zeros]),
                                  err_msg=f"{what}: sign of zero")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unary_special_values(dtype):
    x = ng.placeholder(dtype, [None])
    names = sorted(UNARY) + sorted(PREDICATES)
    table = {**UNARY, **PREDICATES}
    v = SPECIAL.astype(dtype)
    got, ref = run([table[n][0](x) for n in names], {x: v})
    for n, g, r in zip(names, got, ref):
        want = table[n][1](v.astype(np.float64))
        if want.dtype != bool and dtype == np.float32:
            # float32 subnormal results (softplus(-100) ~ 4e-44): 0 (TF flushes) or tiny
            tiny = np.abs(want) < np.finfo(np.float32).tiny
            want, g, r = (np.where(tiny, 0, a) for a in (want, g, r))
        _assert_values(g, want, dtype, f"{n} (backend under test)")
        _assert_values(r, want, dtype, f"{n} (numpy)")


def test_round_half_to_even_and_integers():
    x = ng.constant(np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994,
                              4503599627370497.0]))
    i = ng.constant([3, -4], dtype=ng.int32)
    got, ref = run([ng.round(x), ng.rint(x), ng.round(i), ng.ceil(x)])
    want = [0.0, 2.0, 2.0, -0.0, -2.0, -2.0, 0.0, 4503599627370497.0]
    for g in (got, ref):
        np.testing.assert_array_equal(g[0], want)
        np.testing.assert_array_equal(np.signbit(g[0]), np.signbit(want))
        np.testing.assert_array_equal(g[1], want)
        assert g[2].dtype == np.int32 and list(g[2]) == [3, -4]
        np.testing.assert_array_equal(g[3], np.ceil(np.array(
            [0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999999999999994, 4503599627370497.0])))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_large_arrays_use_the_vectorised_loop(dtype):
    """Big enough for the kernels' vector path (vecmath calls and the ops' `vecmath_expr`
    expressions where they exist, else the scalar templates)."""
    v = np.linspace(-3, 3, 20000).astype(dtype)
    v[::1000] = [0.0, -0.0, INF, -INF, NAN, 100.0, -100.0, 1e-30, 3.0, 0.5, 1.0, -1.0, 1e20,
                 -1e20, 1.0 - 1e-7, 25.0, -25.0, 80.0, 1e30, -2e13]
    x = ng.placeholder(dtype, [None])
    names = ["atan", "asin", "acos", "asinh", "acosh", "atanh", "sinh", "cosh", "erfc", "digamma",
             "lgamma", "softplus", "elu", "selu", "rint", "log_sigmoid"]
    fetch = [UNARY[n][0](x) for n in names] + [
        ng.math.xlogy(x, ng.abs(x) + 0.5), ng.math.xlog1py(x, x * x), ng.math.xlogy(x * 0.0, x)]
    got, ref = run(fetch, {x: v})
    wide = v.astype(np.float64)
    with np.errstate(all="ignore"):
        wants = [UNARY[n][1](wide) for n in names] + [
            _xlogy_ref(wide, (np.abs(v) + dtype(0.5)).astype(np.float64)),   # y rounded as
            _xlogy_ref(wide, (v * v).astype(np.float64), np.log1p),          # the graph does
            np.where(np.isnan(wide * 0), NAN, 0.0)]
    for what, g, r, want in zip(names + ["xlogy", "xlog1py", "xlogy0"], got, ref, wants):
        if dtype == np.float32:
            tol = dict(rtol=4e-6, atol=1e-37)
        else:   # digamma: Cephes (TF's algorithm) against SciPy's, a few e-13 near its zero;
            # lgamma: reflection for x < 0 leaves ~4e-16 absolute next to its negative zeros
            tol = (dict(rtol=1e-11, atol=1e-14) if what in ("digamma", "lgamma")
                   else dict(rtol=1e-13, atol=0))
        for out in (g, r):
            np.testing.assert_allclose(out, want.astype(dtype), err_msg=what, equal_nan=True,
                                       **tol)


def _xlogy_ref(x, y, log=np.log):
    with np.errstate(all="ignore"):
        return np.where(x == 0, 0.0, x * log(y))


BINARY = {
    "atan2": (ng.atan2, np.arctan2),
    "xlogy": (ng.math.xlogy, _xlogy_ref),
    "xlog1py": (ng.math.xlog1py, lambda x, y: _xlogy_ref(x, y, np.log1p)),
    "xdivy": (ng.math.xdivy, lambda x, y: np.where(x == 0, 0.0, x / y)),
    "multiply_no_nan": (ng.math.multiply_no_nan, lambda x, y: np.where(y == 0, 0.0, x * y)),
    "nextafter": (ng.math.nextafter, np.nextafter),
}


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_binary_special_values(dtype):
    a, b = np.meshgrid(np.array([0.0, -0.0, 1.0, -2.5, 0.5, INF, -INF, NAN], dtype),
                       np.array([0.0, -0.0, 2.0, -1.0, 0.5, INF, -INF, NAN], dtype))
    x = ng.placeholder(dtype, [None, None])
    y = ng.placeholder(dtype, [None, None])
    names = sorted(BINARY)
    got, ref = run([BINARY[n][0](x, y) for n in names], {x: a, y: b})
    for n, g, r in zip(names, got, ref):
        with np.errstate(all="ignore"):
            want = BINARY[n][1](a, b) if n == "nextafter" else BINARY[n][1](
                a.astype(np.float64), b.astype(np.float64))
        _assert_values(g, want, dtype, f"{n} (backend under test)")
        _assert_values(r, want, dtype, f"{n} (numpy)")


def test_polygamma_and_zeta():
    n = _c([0.0, 1.0, 2.0, 3.0, 1.5, -1.0])
    x = _c([2.5, 0.7, -1.5, 4.0, 2.0, 2.0])
    s = _c([2.0, 3.0, 1.0, 0.5, 4.0, 2.0])
    q = _c([0.5, 2.0, 1.0, 1.0, 1e9, -2.0])
    for out in run([ng.polygamma(n, x), ng.zeta(s, q)]):
        np.testing.assert_allclose(out[0][:4], sps.polygamma([0, 1, 2, 3], [2.5, 0.7, -1.5, 4.0]),
                                   rtol=1e-12)
        assert np.isnan(out[0][4:]).all()                 # non-integer or negative order
        np.testing.assert_allclose(out[1][[0, 1, 4]], sps.zeta([2.0, 3.0, 4.0], [0.5, 2.0, 1e9]),
                                   rtol=1e-12)
        assert out[1][2] == INF and np.isnan(out[1][3]) and out[1][5] == INF


# --- gradients ------------------------------------------------------------------------------------
GRAD_POINTS = {   # op -> (builder, point where it is smooth)
    "asin": (ng.asin, [0.3, -0.6]), "acos": (ng.acos, [0.3, -0.6]), "atan": (ng.atan, [0.3, -2.0]),
    "sinh": (ng.sinh, [0.3, -1.2]), "cosh": (ng.cosh, [0.3, -1.2]),
    "asinh": (ng.asinh, [0.3, -1.2]), "acosh": (ng.acosh, [1.3, 2.5]),
    "atanh": (ng.atanh, [0.3, -0.6]), "lgamma": (ng.lgamma, [2.3, -1.5]),
    "digamma": (ng.digamma, [2.3, 0.7]), "erfc": (ng.erfc, [0.3, -1.2]),
    "log_sigmoid": (ng.math.log_sigmoid, [0.3, -4.0]),
    "polyval": (lambda t: ng.math.polyval([2.0, -1.0, 0.5], t), [0.3, -1.2]),
    "atan2": (lambda t: ng.atan2(t, t[::-1] * 2.0), [0.3, -1.2]),
    "xlogy": (lambda t: ng.math.xlogy(t, t * t + 0.5), [0.3, -1.2]),
    "xlog1py": (lambda t: ng.math.xlog1py(t, t * t), [0.3, -1.2]),
    "xdivy": (lambda t: ng.math.xdivy(t, t[::-1] + 3.0), [0.3, -1.2]),
    "multiply_no_nan": (lambda t: ng.math.multiply_no_nan(t, t[::-1]), [0.3, -1.2]),
    "polygamma": (lambda t: ng.polygamma(_c([1.0, 2.0]), t), [0.7, 2.5]),
    "zeta": (lambda t: ng.zeta(_c([2.0, 3.5]), t), [0.7, 2.5]),
    "logsumexp": (lambda t: ng.reduce_logsumexp(ng.reshape(t, [1, 2]) * _c([[1.0], [2.0]]), 1), [0.3, -1.2]),
    "reduce_std": (lambda t: ng.math.reduce_std(ng.stack([t, t * t, t - 1.0])), [0.3, -1.2]),
    "reduce_variance": (lambda t: ng.math.reduce_variance(ng.stack([t, t * t]), 0), [0.3, -1.2]),
    "euclidean_norm": (lambda t: ng.math.reduce_euclidean_norm(t), [0.3, -1.2]),
    "norm_p3": (lambda t: ng.norm(t, ord=3), [0.3, -1.2]),
    "l2_normalize": (lambda t: ng.math.l2_normalize(t), [0.3, -1.2]),
    "cross": (lambda t: ng.cross(ng.concat([t, t * t], 0)[:3], _c([1.0, -2.0, 0.5])), [0.3, -1.2]),
    "segment_mean": (lambda t: ng.math.segment_mean(ng.concat([t, t * 3.0], 0), [0, 0, 1, 1]), [0.3, -1.2]),
    "segment_prod": (lambda t: ng.math.segment_prod(ng.concat([t, t * 3.0], 0), [0, 0, 0, 1]), [0.3, -1.2]),
    "unsorted_segment_prod": (lambda t: ng.math.unsorted_segment_prod(ng.concat([t, t], 0), [1, 0, 1, -1], 2), [0.3, -1.2]),
    "unsorted_segment_mean": (lambda t: ng.math.unsorted_segment_mean(ng.concat([t, t], 0), [1, 0, 1, -1], 3), [0.3, -1.2]),
}


# The cases share graphs and pairs of plans (tests/gradient_batch.py) and are checked case by
# case, the gradients of the backend under test against central differences of the numpy
# backend's y.  The elementwise ones: their loops merge.  The reductions and segment ops bring
# loop nests of their own; a Segment* op's output shape depends on its ids, so a plan holding
# one is interpreted: those two get a batch of their own, the others stay in compiled plans.
ELEMENTWISE_GRADS = ["asin", "acos", "atan", "sinh", "cosh", "asinh", "acosh", "atanh", "lgamma",
                     "digamma", "erfc", "log_sigmoid", "polyval", "atan2", "xlogy", "xlog1py",
                     "xdivy", "multiply_no_nan", "polygamma", "zeta"]
SORTED_SEGMENT_GRADS = {"segment_mean": [2], "segment_prod": [2]}     # name -> y's shape
OTHER_GRADS = sorted(set(GRAD_POINTS) - set(ELEMENTWISE_GRADS) - set(SORTED_SEGMENT_GRADS))


def _jacobians(names, y_shapes=None):
    batch = GradientBatch(ng.float64, delta=1e-6, reference="numpy")
    for name in names:
        fn, point = GRAD_POINTS[name]
        batch.add(name, [point], fn, y_shape=(y_shapes or {}).get(name))
    return batch.jacobians()


@pytest.fixture(scope="module")
def elementwise_jacobians():
    return _jacobians(ELEMENTWISE_GRADS)


@pytest.fixture(scope="module")
def other_jacobians():
    return {**_jacobians(OTHER_GRADS),
            **_jacobians(SORTED_SEGMENT_GRADS, SORTED_SEGMENT_GRADS)}


@pytest.mark.parametrize("name", ELEMENTWISE_GRADS)
def test_elementwise_gradient_matches_finite_differences(elementwise_jacobians, name):
    assert_jacobians(elementwise_jacobians[name], tol=1e-6)


@pytest.mark.parametrize("name", OTHER_GRADS + sorted(SORTED_SEGMENT_GRADS))
def test_gradient_matches_finite_differences(other_jacobians, name):
    assert_jacobians(other_jacobians[name], tol=1e-6)


def _grad(y, x, feed=None):
    g, = ng.gradients(y, [x])
    return run([g], feed)


# TF 2.21's gradients at these points (tf.GradientTape, float64), written down
TF_GRADS = [
    (ng.digamma, [2.3, -1.5, 0.7], [0.5425374586652585, 9.379246644989124, 2.8340491566946113]),
    (ng.lgamma, [2.3, -1.5, 0.7], [0.6000398803639693, 0.7031566406452434, -1.220023553697935]),
    (ng.acosh, [1.5, 3.0], [0.8944271909999159, 0.3535533905932738]),
    (ng.atanh, [0.3, -0.9], [1.0989010989010988, 5.263157894736843]),
    (ng.erfc, [0.3, -1.2], [-1.031260909618963, -0.26734434700353915]),
    (lambda t: ng.reduce_logsumexp(ng.reshape(t, [2, 2])), [1.0, -INF, 2.0, 3.0],
     [0.09003057317038046, 0.0, 0.2447284710547976, 0.6652409557748219]),
    (lambda t: ng.reduce_logsumexp(ng.reshape(t, [2, 2]), 1), [INF, 1.0, -INF, -INF],
     [NAN, 0.0, NAN, NAN]),
    (lambda t: ng.math.segment_max(t, [0, 0, 1]) * _c([1.0, 3.0]), [2.0, 2.0, 1.0],
     [0.5, 0.5, 3.0]),
    (lambda t: ng.math.unsorted_segment_max(t, [0, 2, 0, -1], 3) * _c([1.0, 3.0, 5.0]),
     [2.0, 2.0, 2.0, 7.0], [0.5, 5.0, 0.5, 0.0]),
    (lambda t: ng.math.segment_prod(t, [0, 0, 0, 1, 1]), [2.0, 0.0, 3.0, 0.0, 0.0],
     [0.0, 6.0, 0.0, 0.0, 0.0]),
    (lambda t: ng.norm(ng.reshape(t, [2, 2]), ord=1, axis=[0, 1]), [1.0, -2.0, 3.0, 0.5],
     [1.0, -0.0, 1.0, 0.0]),
    (lambda t: ng.norm(ng.reshape(t, [2, 2]), ord=np.inf, axis=[0, 1]), [1.0, -2.0, 3.0, 0.5],
     [0.0, -0.0, 1.0, 1.0]),
    (lambda t: ng.math.reduce_std(t), [1.0, 2.0, 4.0],
     [-0.3563483225498992, -0.0890870806374748, 0.445435403187374]),
    (lambda t: ng.math.l2_normalize(t) * _c([1.0, 2.0]), [3.0, 4.0],
     [-0.06400000000000006, 0.04799999999999993]),
    (lambda t: ng.math.reduce_euclidean_norm(t), [0.0, 0.0], [NAN, NAN]),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", range(len(TF_GRADS)))
def test_gradient_matches_tf_numbers(case):
    fn, point, want = TF_GRADS[case]
    x = ng.placeholder(ng.float64, [len(point)])
    for got in _grad(fn(x), x, {x: np.array(point)}):
        np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-15, equal_nan=True)


TF_BINARY_GRADS = [   # (op, x, y, TF's dx, TF's dy)
    (ng.atan2, [0.5, -1.0, 0.0], [2.0, 0.3, -1.0], [0.47058823529411764, 0.2752293577981651, -1.0],
     [-0.11764705882352941, 0.9174311926605504, -0.0]),
    (ng.math.xlogy, [0.0, 2.0, 0.0], [3.0, 0.5, 0.0], [0.0, -0.6931471805599453, 0.0],
     [0.0, 4.0, 0.0]),
    (ng.math.xdivy, [0.0, 2.0, 0.0], [3.0, 0.5, 0.0], [0.0, 2.0, 0.0], [0.0, -8.0, 0.0]),
    (ng.math.xlog1py, [0.0, 2.0], [3.0, 0.5], [0.0, 0.4054651081081644], [0.0, 1.3333333333333333]),
    (ng.math.multiply_no_nan, [INF, 2.0, 3.0], [0.0, 0.5, -1.0], [0.0, 0.5, -1.0], [INF, 2.0, 3.0]),
    (ng.math.nextafter, [1.0, 2.0], [0.0, 3.0], [1.0, 1.0], [0.0, 0.0]),
    (ng.polygamma, [1.0, 2.0], [0.7, 2.5], None, [-6.434992874190923, 0.2239058488172521]),
    (ng.zeta, [2.0, 3.5], [0.7, 2.5], None, [-6.434992874190923, -0.0766460551986273]),
]


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("case", range(len(TF_BINARY_GRADS)))
def test_binary_gradient_matches_tf_numbers(case):
    fn, a, b, want_a, want_b = TF_BINARY_GRADS[case]
    x, y = _c(a), _c(b)
    ga, gb = ng.gradients(fn(x, y), [x, y])
    assert (ga is None) == (want_a is None)
    fetch = [g for g in (ga, gb) if g is not None]
    for got in run(fetch):
        for g, w in zip(got, [w for w in (want_a, want_b) if w is not None]):
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("fn", [ng.ceil, ng.round, ng.rint,
                                lambda t: ng.cast(ng.is_nan(t), ng.float64),
                                lambda t: ng.cast(ng.is_finite(t), ng.float64),
                                lambda t: ng.math.count_nonzero(t)])
def test_none_gradients(fn):
    x = ng.placeholder(ng.float64, [3])
    assert ng.gradients(fn(x), [x]) == [None]


def test_atan2_broadcast_gradient():
    y = _c([[0.5], [-1.0]])
    x = _c([2.0, 0.3, -1.0])
    gy, gx = ng.gradients(ng.atan2(y, x), [y, x])
    assert gy.shape.as_list() == [2, 1] and gx.shape.as_list() == [3]
    yv, xv = np.array([[0.5], [-1.0]]), np.array([2.0, 0.3, -1.0])
    for a, b in run([gy, gx]):
        d = yv ** 2 + xv ** 2
        np.testing.assert_allclose(a, np.sum(xv / d, 1, keepdims=True), rtol=1e-13)
        np.testing.assert_allclose(b, np.sum(-yv / d, 0), rtol=1e-13)


def test_second_derivatives_flow():
    x = ng.placeholder(ng.float64, [3])
    y = ng.reduce_sum(ng.asinh(x) * ng.lgamma(x + 3.0) + ng.nn.elu(x) + ng.math.softplus(x))
    h = ng.hessians(y, x)[0]
    v = np.array([0.3, -0.4, 1.1])
    for got in run([h], {x: v}):
        num = np.zeros((3, 3))
        g, = ng.gradients(y, [x])
        with ng.Session(backend="numpy") as s:
            for i in range(3):
                e = np.zeros(3)
                e[i] = 1e-5
                num[:, i] = (s.run(g, {x: v + e}) - s.run(g, {x: v - e})) / 2e-5
        np.testing.assert_allclose(got[0], num, rtol=1e-6, atol=1e-8)


# --- reductions ---------------------------------------------------------------------------------
def test_reduce_logsumexp_values():
    v = np.array([[1.0, 2.0, 3.0], [-INF, -INF, -INF], [INF, 0.0, 1.0], [1000.0, 1000.0, -5.0]])
    x = ng.placeholder(ng.float64, [4, 3])
    fetch = [ng.reduce_logsumexp(x, 1), ng.reduce_logsumexp(x, -1, keepdims=True),
             ng.reduce_logsumexp(x[:1]), ng.reduce_logsumexp(x[:1], axis=[0, 1], keepdims=True)]
    with np.errstate(all="ignore"):
        want = sps.logsumexp(v, 1)
    for got in run(fetch, {x: v}):
        np.testing.assert_allclose(got[0], want, rtol=1e-14)
        assert got[1].shape == (4, 1)
        np.testing.assert_allclose(got[2], sps.logsumexp(v[:1]), rtol=1e-14)
        assert got[3].shape == (1, 1)


def test_any_all_count_nonzero():
    v = np.array([[True, False, False], [False, False, False]])
    x = ng.placeholder(ng.bool, [2, 3])
    n = _c([[0.0, 1.5, -0.0], [NAN, 2.0, 0.0]])
    fetch = [ng.reduce_any(x), ng.reduce_any(x, 1), ng.reduce_all(x, 0, keepdims=True),
             ng.reduce_all(ng.logical_not(x), reduction_indices=[1]), ng.count_nonzero(n),
             ng.count_nonzero(n, 1, dtype=ng.int32), ng.count_nonzero(x, [0, 1], keepdims=True)]
    for got in run(fetch, {x: v}):
        assert got[0] is np.True_ or got[0] == np.True_
        np.testing.assert_array_equal(got[1], [True, False])
        np.testing.assert_array_equal(got[2], [[False, False, False]])
        np.testing.assert_array_equal(got[3], [False, True])
        assert got[4] == 3 and got[4].dtype == np.int64
        np.testing.assert_array_equal(got[5], [1, 2])
        assert got[5].dtype == np.int32
        np.testing.assert_array_equal(got[6], [[1]])
    with pytest.raises(TypeError, match="bool"):
        ng.reduce_any(n)


def test_std_variance_euclidean_norm():
    v = np.array([[1.0, -2.0, 3.5], [0.5, 4.0, -1.0]])
    x = ng.constant(v)
    fetch = [ng.math.reduce_std(x), ng.math.reduce_std(x, 0), ng.math.reduce_variance(x, 1, True),
             ng.math.reduce_euclidean_norm(x, 1), ng.math.reduce_euclidean_norm(x),
             ng.math.reduce_euclidean_norm(ng.constant([[3, 4], [5, 12]]), 1)]
    for got in run(fetch):
        np.testing.assert_allclose(got[0], np.std(v), rtol=1e-14)
        np.testing.assert_allclose(got[1], np.std(v, 0), rtol=1e-14)
        np.testing.assert_allclose(got[2], np.var(v, 1, keepdims=True), rtol=1e-14)
        np.testing.assert_allclose(got[3], np.linalg.norm(v, axis=1), rtol=1e-14)
        np.testing.assert_allclose(got[4], np.linalg.norm(v), rtol=1e-14)
        np.testing.assert_array_equal(got[5], [5, 13])


NORMS = [  # (ord, axis, numpy's norm arguments)
    ("euclidean", None, dict()), ("euclidean", 1, dict(axis=1)), (2, 0, dict(axis=0)),
    (1, -1, dict(ord=1, axis=-1)), (np.inf, 1, dict(ord=np.inf, axis=1)),
    (3, 0, dict(ord=3, axis=0)), (0.5, 1, dict(ord=0.5, axis=1)),
    ("fro", (0, 1), dict(ord="fro", axis=(0, 1))), ("euclidean", (1, 0), dict(axis=(1, 0))),
    (1, (0, 1), dict(ord=1, axis=(0, 1))), (1, (1, 0), dict(ord=1, axis=(1, 0))),
    (np.inf, (0, 1), dict(ord=np.inf, axis=(0, 1))), (np.inf, (-1, -2), dict(ord=np.inf, axis=(-1, -2))),
    (2, (0, 1), dict(ord=2, axis=(0, 1))), (2, (1, 0), dict(ord=2, axis=(1, 0))),
]


@pytest.mark.parametrize("ord_,axis,np_kw", NORMS, ids=[f"{o}-{a}" for o, a, _ in NORMS])
@pytest.mark.parametrize("keepdims", [False, True])
def test_norm(ord_, axis, np_kw, keepdims):
    v = np.array([[1.0, -2.0, 3.5], [0.5, 4.0, -1.0]])
    x = ng.constant(v)
    out = ng.norm(x, ord=ord_, axis=axis, keepdims=keepdims)
    want = np.linalg.norm(v.reshape(-1) if axis is None else v, keepdims=keepdims, **np_kw)
    if axis is None and keepdims:
        want = np.reshape(want, (1, 1))
    assert out.shape.as_list() == list(np.shape(want))
    for got in run([out]):
        np.testing.assert_allclose(got[0], want, rtol=1e-14)


def test_norm_errors():
    x = ng.constant(np.ones((2, 3)))
    with pytest.raises(ValueError, match="ord"):
        ng.norm(x, ord="fro", axis=1)
    with pytest.raises(ValueError, match="ord"):
        ng.norm(x, ord=-1)
    with pytest.raises(ValueError, match="axis"):
        ng.norm(x, axis=(0, 0))
    with pytest.raises(ValueError, match="axis"):
        ng.norm(x, axis=[0, 1, 2])


def test_matrix_2_norm_batched_and_its_gradient():
    # the largest singular value, over any pair of axes of a batch; TF's gradient (through
    # svd without u, v) is u₁ v₁ᵀ: checked against finite differences
    a = np.random.default_rng(0).standard_normal((2, 3, 4))
    got, = run([ng.norm(ng.constant(a), ord=2, axis=[0, 2])])[0]
    np.testing.assert_allclose(got, np.linalg.norm(np.moveaxis(a, 1, 0), ord=2, axis=(1, 2)),
                               rtol=1e-13)
    x = ng.placeholder(ng.float64, [3, 4])
    err = ng.test.compute_gradient_error(x, [3, 4], ng.norm(x, ord=2, axis=[0, 1]), [],
                                         x_init_value=a[0])
    assert err < 1e-6


def test_cross_and_polyval_and_logical_xor():
    a = np.array([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]])
    b = np.array([[0.5, -1.0, 4.0], [2.0, 2.0, -3.0]])
    p = ng.constant([True, True, False, False])
    q = ng.constant([True, False, True, False])
    xs = np.array([0.5, -2.0])
    fetch = [ng.cross(ng.constant(a), ng.constant(b)), ng.logical_xor(p, q),
             ng.math.polyval([1.0, -2.0, 3.0], ng.constant(xs)), ng.math.polyval([], ng.constant(xs))]
    for got in run(fetch):
        np.testing.assert_allclose(got[0], np.cross(a, b), rtol=1e-14)
        np.testing.assert_array_equal(got[1], [False, True, True, False])
        np.testing.assert_allclose(got[2], np.polyval([1.0, -2.0, 3.0], xs), rtol=1e-14)
        np.testing.assert_array_equal(got[3], [0.0, 0.0])
    with pytest.raises(ValueError, match="3"):
        ng.cross(ng.constant(np.ones((2, 2))), ng.constant(np.ones((2, 2))))


# --- segment ops --------------------------------------------------------------------------------
def _segment_ref(kind, data, ids, num, empty):
    out = np.full((num,) + data.shape[ids.ndim:], empty, dtype=data.dtype)
    fn = {"sum": np.sum, "mean": np.mean, "max": np.max, "min": np.min, "prod": np.prod}[kind]
    flat = data.reshape((-1,) + data.shape[ids.ndim:])
    for s in range(num):
        rows = flat[ids.reshape(-1) == s]
        if len(rows):
            out[s] = fn(rows, axis=0)
    return out


@pytest.mark.parametrize("kind,empty", [("sum", 0), ("mean", 0), ("max", 0), ("min", 0),
                                        ("prod", 1)])
@pytest.mark.parametrize("dtype", [np.float64, np.int32])
def test_sorted_segment_ops(kind, empty, dtype):
    data = np.array([[1, -2], [3, 4], [5, 6], [-7, 8], [9, 1]], dtype)
    ids = np.array([0, 0, 2, 2, 3])
    out = getattr(ng.math, f"segment_{kind}")(ng.constant(data), ng.constant(ids))
    assert out.shape.as_list() == [None, 2]
    want = _segment_ref(kind, data, ids, 4, empty)
    if kind == "mean" and dtype == np.int32:
        want = _segment_ref("sum", data, ids, 4, 0) // np.maximum(np.bincount(ids, minlength=4), 1)[:, None]
    for got in run([out]):
        np.testing.assert_allclose(got[0], want, rtol=1e-14)
        assert got[0].dtype == dtype


@pytest.mark.parametrize("kind", ["max", "min", "prod", "mean"])
def test_unsorted_segment_ops(kind):
    data = np.array([[1.0, -2.0, 0.5], [3.0, 4.0, 2.0]])
    ids = np.array([[2, 0, 2], [-1, 0, 4]])
    out = getattr(ng.math, f"unsorted_segment_{kind}")(ng.constant(data), ng.constant(ids), 5)
    info = np.finfo(np.float64)
    empty = {"max": info.min, "min": info.max, "prod": 1.0, "mean": 0.0}[kind]
    want = _segment_ref(kind, data, ids, 5, empty)
    for got in run([out]):
        np.testing.assert_allclose(got[0], want, rtol=1e-14)


def test_segment_errors():
    data = ng.constant(np.ones((3, 2)))
    with pytest.raises(ValueError, match="rank 1"):
        ng.math.segment_sum(data, [[0], [1], [2]])
    with pytest.raises(ValueError, match="first"):
        ng.math.segment_sum(data, [0, 1])
    with pytest.raises(TypeError, match="int"):
        ng.math.segment_sum(data, [0.0, 1.0, 2.0])
    for bad, pattern in (([0, 2, 1], "increasing"), ([-1, 0, 0], ">= 0")):
        out = ng.math.segment_max(data, bad)
        with ng.Session() as s, pytest.raises(InvalidArgumentError, match=pattern):
            s.run(out)
    out = ng.math.unsorted_segment_max(data, [0, 3, 1], 3)
    with ng.Session() as s, pytest.raises(InvalidArgumentError, match="out of range"):
        s.run(out)


def test_segment_min_max_ties_share_the_gradient():
    x = ng.placeholder(ng.float64, [4, 2])
    v = np.array([[2.0, 1.0], [2.0, 3.0], [5.0, 3.0], [5.0, 0.0]])
    y = ng.math.segment_min(x, [0, 0, 1, 1]) * _c([[1.0, 2.0], [3.0, 4.0]])
    for got in _grad(y, x, {x: v}):
        np.testing.assert_allclose(got[0], [[0.5, 2.0], [0.5, 0.0], [1.5, 0.0], [1.5, 4.0]])


# --- batching: the batched jacobian equals a loop of gradients ------------------------------------
@pytest.mark.parametrize("build", [
    lambda t: ng.atan2(ng.asinh(t), ng.cosh(t)) + ng.digamma(t * t + 1.0),
    lambda t: ng.reduce_logsumexp(ng.reshape(t, [2, 2]), 1),
    lambda t: ng.math.unsorted_segment_max(t, [1, 0, 1, -1], 2) * ng.math.segment_prod(t, [0, 0, 1, 1]),
    lambda t: ng.cross(t[:3], t[1:]) + ng.norm(ng.reshape(t, [2, 2]), ord=1, axis=[0, 1]),
], ids=["elementwise", "logsumexp", "segments", "cross-norm"])
def test_batched_jacobian_matches_loop(build):
    x = ng.placeholder(ng.float64, [4])
    y = build(x)
    jac = ng.jacobian(y, x)
    n = y.shape.num_elements()
    flat = ng.reshape(y, [-1])
    rows = [ng.gradients(flat[i], [x])[0] for i in range(n)]
    v = np.array([0.3, -0.7, 1.2, 0.9])
    with ng.Session() as s:
        got, loop = s.run([jac, rows], {x: v})
    np.testing.assert_allclose(np.reshape(got, (n, 4)), np.stack(loop), rtol=1e-12, atol=1e-14)


# --- atomic builders, dtype errors ----------------------------------------------------------------
def test_bad_input_leaves_no_ops():
    x = ng.constant([1, 2], dtype=ng.int32)
    f1, f2 = _c([1.0]), _c([1.0, 2.0])
    g = ng.get_default_graph()
    before = g.get_operations()
    for call in (lambda: ng.asin(x), lambda: ng.math.xlogy(x, 2), lambda: ng.is_nan(x),
                 lambda: ng.atan2(f1, x), lambda: ng.math.segment_sum(f2, [0.5, 1.0]),
                 lambda: ng.cross([1.0, 2.0], [3.0, 4.0]), lambda: ng.norm([1.0], ord=-2)):
        with pytest.raises((TypeError, ValueError)):
            call()
        assert g.get_operations() == before


# --- TensorFlow itself (optional) ----------------------------------------------------------------
def _tf_cases(m, tfm, c):
    mt = m.math
    return [
        lambda X: mt.reduce_logsumexp(X, 1), lambda X: mt.reduce_std(X, 0),
        lambda X: m.norm(X), lambda X: m.norm(X, ord=np.inf, axis=1),
        lambda X: m.norm(X, ord=3, axis=0, keepdims=True),
        lambda X: mt.segment_max(X, [0, 0]), lambda X: mt.unsorted_segment_prod(X, [1, -1], 3),
        lambda X: mt.unsorted_segment_mean(X, [1, 1], 3), lambda X: mt.segment_mean(X, [0, 1]),
        lambda X: mt.reduce_variance(X, [0, 1]), lambda X: mt.log_sigmoid(X),
        lambda X: mt.asin(X * 0.4), lambda X: mt.acos(X * 0.4), lambda X: mt.atan(X),
        lambda X: mt.sinh(X), lambda X: mt.cosh(X), lambda X: mt.asinh(X),
        lambda X: mt.acosh(X * X + 1.5), lambda X: mt.atanh(X * 0.3), lambda X: mt.lgamma(X),
        lambda X: mt.digamma(X), lambda X: mt.erfc(X), lambda X: mt.atan2(X, X[::-1]),
        lambda X: mt.xlogy(X, X * X + 0.5), lambda X: mt.xdivy(X, X[::-1]),
        lambda X: mt.xlog1py(X, X * X), lambda X: mt.multiply_no_nan(X, X[::-1]),
        lambda X: mt.polygamma(c(2.0), X * X + 0.3), lambda X: mt.zeta(c(3.0), X * X + 0.3),
        lambda X: mt.round(X * 2), lambda X: mt.nextafter(X, c(0.0)),
        lambda X: (tfm.linalg.cross if tfm else m.cross)(X, X[::-1]),
    ]


@pytest.mark.filterwarnings("ignore")
def test_against_tensorflow():
    tf = pytest.importorskip("tensorflow")
    v = np.array([[0.3, -0.7, 1.5], [2.0, -2.5, 0.1]])
    x = ng.placeholder(ng.float64, [2, 3])
    ng_cases = _tf_cases(ng, None, lambda a: ng.constant(np.float64(a)))
    tf_cases = _tf_cases(tf, tf, lambda a: tf.constant(np.float64(a)))
    ys = [f(x) for f in ng_cases]
    gs = [ng.gradients(ng.reduce_sum(y * y), x)[0] for y in ys]
    fetch = ys + [g if g is not None else ng.zeros_like(x) for g in gs]
    got, ref = run(fetch, {x: v})
    xt = tf.constant(v)
    for i, f in enumerate(tf_cases):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            yt = f(xt)
            lt = tf.reduce_sum(yt * yt)
        gt = tape.gradient(lt, xt)
        assert (gs[i] is None) == (gt is None), i
        gt = np.zeros_like(v) if gt is None else gt.numpy()
        for out in (got, ref):
            np.testing.assert_allclose(out[i], yt.numpy(), rtol=1e-12, equal_nan=True,
                                       err_msg=str(i))
            np.testing.assert_allclose(out[len(ys) + i], gt, rtol=1e-10, atol=1e-14,
                                       err_msg=str(i))


# --- the cuda backend's device functions (NUMBA_ENABLE_CUDASIM=1 or a GPU) -------------------------
def _cuda_usable():
    import os
    if os.environ.get("NUMBA_ENABLE_CUDASIM", "") not in ("", "0"):
        return True
    try:
        from numba import cuda
        return bool(cuda.is_available())
    except Exception:  # noqa: BLE001  (no numba.cuda, no driver)
        return False


@pytest.mark.skipif(not _cuda_usable(), reason="needs NUMBA_ENABLE_CUDASIM=1 or a CUDA GPU")
@pytest.mark.filterwarnings("ignore:.*encountered in:RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cuda_templates(dtype):
    """Every new elementwise template on the cuda backend equals the numpy backend."""
    x = ng.placeholder(dtype, [None])
    y = ng.placeholder(dtype, [None])
    v = np.array([0.0, -0.0, 0.5, -0.5, 2.5, -2.5, 0.3, 7.0, INF, -INF, NAN], dtype)
    w = np.array([1.0, 0.0, -0.0, 2.0, 0.5, -1.0, 3.0, 0.2, -INF, INF, 1.0], dtype)
    fetch = ([UNARY[n][0](x) for n in sorted(UNARY)] + [PREDICATES[n][0](x) for n in sorted(PREDICATES)]
             + [BINARY[n][0](x, y) for n in sorted(BINARY)]
             + [ng.polygamma(ng.ones_like(x), ng.abs(x) + 0.1), ng.zeta(ng.abs(y) + 1.5, ng.abs(x) + 0.1),
                ng.round(x * 3.0), ng.nn.relu6(x * 3.0)])
    feed = {x: v, y: w}
    with ng.Session(backend="numpy") as s:
        ref = s.run(fetch, feed)
    with ng.Session(backend="cuda") as s:
        got = s.run(fetch, feed)
    tol = dict(rtol=2e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-300)
    for i, (g, r) in enumerate(zip(got, ref)):
        assert g.dtype == r.dtype, i
        np.testing.assert_allclose(g, r, equal_nan=True, err_msg=f"{i} ({fetch[i].op.type})", **tol)
