"""Issue 17, nn part: activations, losses, moments, batch_normalization, bias_add, the sparse
softmax cross-entropy.  Values against NumPy references on the backend under test and on the
numpy backend, gradients against finite differences and TF's numbers (constants), errors as
TF's; an optional comparison with TensorFlow itself."""
import numpy as np
import pytest

import numgrad as ng
from gradient_batch import GradientBatch, assert_jacobians
from numgrad.errors import InvalidArgumentError

sps = pytest.importorskip("scipy.special")
INF, NAN = np.inf, np.nan
SCALE, ALPHA = 1.0507009873554805, 1.6732632423543772


def _c(v):
    return ng.constant(np.asarray(v, np.float64))


def run(fetches, feed=None):
    with ng.Session() as s:
        got = s.run(fetches, feed)
    with ng.Session(backend="numpy") as s:
        ref = s.run(fetches, feed)
    return got, ref


# TF 2.21 rounds gelu's constants 1/sqrt(2) and 0.044715 to float32 (and so does numgrad)
def _gelu(x):
    return 0.5 * x * sps.erfc(-x * np.float64(np.float32(0.7071067811865476)))


def _gelu_tanh(x):
    return 0.5 * x * (1 + np.tanh(0.7978845608028654 * (
        x + np.float64(np.float32(0.044715)) * x ** 3)))


ACTIVATIONS = {
    "elu": (ng.nn.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    "selu": (ng.nn.selu, lambda x: SCALE * np.where(x > 0, x, ALPHA * np.expm1(x))),
    "relu6": (ng.nn.relu6, lambda x: np.clip(x, 0, 6)),
    "softplus": (ng.nn.softplus, lambda x: np.logaddexp(0, x)),
    "softsign": (ng.nn.softsign, lambda x: x / (1 + np.abs(x))),
    "leaky_relu": (ng.nn.leaky_relu, lambda x: np.where(x > 0, x, np.float64(np.float32(0.2)) * x)),
    "leaky_relu_0.01": (lambda t: ng.nn.leaky_relu(t, alpha=0.01),
                        lambda x: np.where(x > 0, x, np.float64(np.float32(0.01)) * x)),
    "silu": (ng.nn.silu, lambda x: x * sps.expit(x)),
    "swish_beta": (lambda t: ng.nn.swish(t, beta=2.0), lambda x: x * sps.expit(2 * x)),
    "gelu": (ng.nn.gelu, _gelu),
    "gelu_tanh": (lambda t: ng.nn.gelu(t, approximate=True), _gelu_tanh),
}
POINTS = np.array([-30.0, -3.0, -1.0, -0.5, -1e-3, 0.0, 1e-3, 0.7, 2.0, 5.9, 6.5, 30.0])


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_activation_values(dtype):
    x = ng.placeholder(dtype, [None])
    names = sorted(ACTIVATIONS)
    v = np.concatenate([POINTS, [INF, -INF, NAN]]).astype(dtype)
    got, ref = run([ACTIVATIONS[n][0](x) for n in names], {x: v})
    # float32: 1 + tanh(..) cancels in gelu_tanh at x = -3 (TF gives the same kind of error)
    tol = dict(rtol=3e-6, atol=1e-7) if dtype == np.float32 else dict(rtol=1e-13, atol=1e-300)
    for n, g, r in zip(names, got, ref):
        with np.errstate(all="ignore"):
            want = ACTIVATIONS[n][1](v.astype(np.float64))
        if n.startswith("gelu") or n in ("silu", "swish_beta"):
            want, g, r = want[:-3], g[:-3], r[:-3]   # composites: inf * 0 at +-inf, as TF
        for out, which in ((g, "under test"), (r, "numpy")):
            assert out.dtype == dtype
            np.testing.assert_allclose(out, want.astype(dtype), equal_nan=True,
                                       err_msg=f"{n} ({which})", **tol)


def test_relu6_integers_and_leaky_relu_integers():
    i = ng.constant([-3, 0, 4, 9], dtype=ng.int32)
    for got in run([ng.nn.relu6(i), ng.nn.leaky_relu(i)]):
        np.testing.assert_array_equal(got[0], [0, 0, 4, 6])
        assert got[0].dtype == np.int32
        assert got[1].dtype == np.float32      # TF casts integer features to float32
        np.testing.assert_allclose(got[1], [-0.6, 0.0, 4.0, 9.0], rtol=1e-6)


GRAD_CASES = {
    "elu": ng.nn.elu, "selu": ng.nn.selu, "relu6": lambda t: ng.nn.relu6(t * 4.0),
    "softplus": ng.nn.softplus, "softsign": ng.nn.softsign, "leaky_relu": ng.nn.leaky_relu,
    "silu": ng.nn.silu, "gelu": ng.nn.gelu, "gelu_tanh": lambda t: ng.nn.gelu(t, True),
    "l2_loss": ng.nn.l2_loss, "l2_normalize": lambda t: ng.nn.l2_normalize(t, 0),
    "moments": lambda t: ng.add_n(list(ng.nn.moments(ng.reshape(t, [3, 1]) * t, [0]))),
    "batch_normalization": lambda t: ng.nn.batch_normalization(
        t, ng.reduce_mean(t), ng.reduce_sum(t * t), t * 0.5, ng.exp(t), 1e-3),
    "bias_add": lambda t: ng.nn.bias_add(ng.reshape(t, [1, 3]) * _c([[1.0], [2.0]]), t * t),
    "bias_add_nchw": lambda t: ng.nn.bias_add(ng.reshape(t * 2.0, [1, 3, 1, 1]) + ng.zeros([1, 3, 2, 2], ng.float64), t, data_format="NCHW"),
    "sparse_softmax": lambda t: ng.nn.sparse_softmax_cross_entropy_with_logits(
        labels=[2, 0], logits=ng.stack([t, t * t])),
    "sparse_softmax_3d": lambda t: ng.nn.sparse_softmax_cross_entropy_with_logits(
        labels=[[2], [1]], logits=ng.reshape(ng.stack([t, -t]), [2, 1, 3])),
    "weighted_ce": lambda t: ng.nn.weighted_cross_entropy_with_logits(
        labels=ng.sigmoid(t), logits=t * 2.0, pos_weight=3.0),
    "log_poisson": lambda t: ng.nn.log_poisson_loss(ng.exp(t) * 2.0, t, compute_full_loss=True),
    "xw_plus_b": lambda t: ng.nn.xw_plus_b(ng.reshape(t, [1, 3]), ng.reshape(t, [3, 1]) * t, t),
}


# The cases share graphs and pairs of plans (tests/gradient_batch.py) and are checked case by
# case, the gradients of the backend under test against central differences of the numpy
# backend's y.  The elementwise ones: their loops merge; the others bring reductions or
# reshapes of their own (CONTRIBUTING.md's test budget).
ELEMENTWISE_GRADS = ["elu", "selu", "relu6", "softplus", "softsign", "leaky_relu", "silu", "gelu",
                     "gelu_tanh", "weighted_ce", "log_poisson"]
OTHER_GRADS = sorted(set(GRAD_CASES) - set(ELEMENTWISE_GRADS))


def _jacobians(names):
    batch = GradientBatch(ng.float64, delta=1e-6, reference="numpy")
    for name in names:
        batch.add(name, [[0.4, -1.3, 0.9]], GRAD_CASES[name])
    return batch.jacobians()


@pytest.fixture(scope="module")
def elementwise_jacobians():
    return _jacobians(ELEMENTWISE_GRADS)


@pytest.fixture(scope="module")
def other_jacobians():
    return _jacobians(OTHER_GRADS)


@pytest.mark.parametrize("name", ELEMENTWISE_GRADS)
def test_elementwise_gradient_matches_finite_differences(elementwise_jacobians, name):
    assert_jacobians(elementwise_jacobians[name], tol=1e-6)


@pytest.mark.parametrize("name", OTHER_GRADS)
def test_gradient_matches_finite_differences(other_jacobians, name):
    assert_jacobians(other_jacobians[name], tol=1e-6)


# TF 2.21's gradients (tf.GradientTape, float64), written down
TF_GRADS = [
    (ng.nn.elu, [-1.0, 0.0, 2.0], [0.36787944117144233, 1.0, 1.0]),
    (ng.nn.selu, [-1.0, 0.0, 2.0], [0.6467686030348141, 1.0507009873554805, 1.0507009873554805]),
    (ng.nn.relu6, [-1.0, 0.0, 3.0, 6.0, 7.0], [0.0, 0.0, 1.0, 0.0, 0.0]),
    (ng.nn.softplus, [-1.0, 0.0, 2.0], [0.2689414213699951, 0.5, 0.8807970779778824]),
    (ng.nn.softsign, [-1.0, 0.0, 2.0], [0.25, 1.0, 0.1111111111111111]),
    (lambda t: ng.nn.leaky_relu(t, 0.1), [-1.0, 0.0, 2.0],
     [0.10000000149011612, 0.10000000149011612, 1.0]),
    (ng.nn.gelu, [-1.0, 0.0, 2.0], [-0.08331546644653365, 0.5, 1.085231804774261]),
    (lambda t: ng.nn.gelu(t, True), [-1.0, 0.0, 2.0],
     [-0.08296408293443804, 0.5, 1.08609925692201]),
    (ng.nn.silu, [-1.0, 0.0, 2.0], [0.07232948812851325, 0.5, 1.0907842487848955]),
    (lambda t: ng.nn.moments(t, [0])[1], [1.0, 2.0, 4.0],
     [-0.888888888888889, -0.22222222222222232, 1.111111111111111]),
    (lambda t: ng.nn.sparse_softmax_cross_entropy_with_logits(
        labels=[1, 0], logits=ng.reshape(t, [2, 3])) * _c([1.0, 2.0]),
     [0.5, -1.0, 2.0, 0.0, 0.3, 0.1],
     [0.1752903921400367, -0.9608874267293126, 0.7855970345892759, -1.4211337792114707,
      0.7813876665396314, 0.6397461126718395]),
]


@pytest.mark.parametrize("case", range(len(TF_GRADS)))
def test_gradient_matches_tf_numbers(case):
    fn, point, want = TF_GRADS[case]
    x = ng.placeholder(ng.float64, [len(point)])
    g, = ng.gradients(fn(x), [x])
    for got in run([g], {x: np.array(point)}):
        np.testing.assert_allclose(got[0], want, rtol=1e-12, atol=1e-15)


def test_l2_loss_moments_batch_norm_values():
    v = np.array([[1.0, -2.0, 3.5], [0.5, 4.0, -1.0]])
    x = ng.constant(v)
    mean, var = ng.nn.moments(x, [0])
    mk, vk = ng.nn.moments(x, axes=[0, 1], keepdims=True)
    bn = ng.nn.batch_normalization(x, mean, var, _c([0.1, 0.2, 0.3]), _c([1.0, 2.0, 3.0]), 1e-3)
    bn2 = ng.nn.batch_normalization(x, mean, var, None, None, 1e-3)
    h = ng.nn.moments(ng.constant(v.astype(np.float16)), [1])
    fetch = [ng.nn.l2_loss(x), mean, var, mk, vk, bn, bn2, h[0], h[1]]
    for got in run(fetch):
        np.testing.assert_allclose(got[0], np.sum(v ** 2) / 2, rtol=1e-14)
        np.testing.assert_allclose(got[1], v.mean(0), rtol=1e-14)
        np.testing.assert_allclose(got[2], v.var(0), rtol=1e-14)
        assert got[3].shape == (1, 1) and got[4].shape == (1, 1)
        np.testing.assert_allclose(got[4], [[v.var()]], rtol=1e-14)
        want = (v - v.mean(0)) / np.sqrt(v.var(0) + 1e-3) * [1.0, 2.0, 3.0] + [0.1, 0.2, 0.3]
        np.testing.assert_allclose(got[5], want, rtol=1e-13)
        np.testing.assert_allclose(got[6], (v - v.mean(0)) / np.sqrt(v.var(0) + 1e-3), rtol=1e-13)
        assert got[7].dtype == np.float16
        np.testing.assert_allclose(got[8], v.var(1), rtol=1e-3)


def test_bias_add():
    v = np.arange(24.0).reshape(2, 3, 2, 2)
    x = ng.constant(v)
    b = _c([1.0, -2.0])
    c = _c([1.0, -2.0, 0.5])
    fetch = [ng.nn.bias_add(x, b), ng.nn.bias_add(x, c, data_format="NCHW"),
             ng.nn.bias_add(x, b, data_format="NHWC"), ng.nn.xw_plus_b(x[0, 0], _c(np.eye(2)), b)]
    for got in run(fetch):
        np.testing.assert_array_equal(got[0], v + [1.0, -2.0])
        np.testing.assert_array_equal(got[1], v + np.reshape([1.0, -2.0, 0.5], [3, 1, 1]))
        np.testing.assert_array_equal(got[2], v + [1.0, -2.0])
        np.testing.assert_array_equal(got[3], v[0, 0] + [1.0, -2.0])
    with pytest.raises(ValueError, match="rank 1"):
        ng.nn.bias_add(x, _c([[1.0, 2.0]]))
    with pytest.raises(ValueError, match="at least rank 2"):
        ng.nn.bias_add(_c([1.0, 2.0]), b)
    with pytest.raises(ValueError, match="Dimensions must be equal"):
        ng.nn.bias_add(x, c)
    with pytest.raises(ValueError, match="data_format"):
        ng.nn.bias_add(x, b, data_format="HWCN")


def test_sparse_softmax_cross_entropy():
    logits = np.array([[0.5, -1.0, 2.0], [0.0, 0.3, 0.1], [1000.0, 0.0, -1000.0]])
    labels = np.array([1, 0, 2])
    lt = ng.constant(logits)
    loss = ng.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=lt)
    loss3 = ng.nn.sparse_softmax_cross_entropy_with_logits(
        labels=ng.constant(labels.reshape(3, 1), dtype=ng.int64),
        logits=ng.reshape(lt, [3, 1, 3]))
    assert loss.shape.as_list() == [3] and loss3.shape.as_list() == [3, 1]
    want = -(logits - sps.logsumexp(logits, 1, keepdims=True))[np.arange(3), labels]
    for got in run([loss, loss3]):
        np.testing.assert_allclose(got[0], want, rtol=1e-14)
        np.testing.assert_allclose(got[1], want[:, None], rtol=1e-14)


def test_sparse_softmax_cross_entropy_errors():
    logits = ng.constant(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="Rank mismatch"):
        ng.nn.sparse_softmax_cross_entropy_with_logits(labels=[[0, 1]], logits=logits)
    with pytest.raises(ValueError, match="Shape mismatch"):
        ng.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 1, 2], logits=logits)
    with pytest.raises(ValueError, match="named arguments"):
        ng.nn.sparse_softmax_cross_entropy_with_logits([0, 1], logits)
    with pytest.raises(TypeError, match="int"):
        ng.nn.sparse_softmax_cross_entropy_with_logits(labels=[0.0, 1.0], logits=logits)
    out = ng.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 3], logits=logits)
    with ng.Session() as s, pytest.raises(InvalidArgumentError, match="valid range"):
        s.run(out)


def test_sparse_softmax_cross_entropy_has_no_second_derivative():
    """As TF (prevent_gradient): the first derivative works, the second raises LookupError."""
    x = ng.placeholder(ng.float64, [2, 3])
    loss = ng.reduce_sum(ng.nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 2], logits=x))
    g, = ng.gradients(loss, [x])
    with pytest.raises(LookupError, match="second derivative"):
        ng.gradients(ng.reduce_sum(g * g), [x])


def test_weighted_ce_and_log_poisson_values():
    z = np.array([0.0, 0.3, 1.0, 0.7])
    xv = np.array([-2.0, 0.5, 3.0, -40.0])
    lv = np.array([0.5, -1.0, 2.0, 0.0])
    t = np.array([0.0, 0.5, 3.0, 1.0])
    fetch = [ng.nn.weighted_cross_entropy_with_logits(labels=_c(z), logits=_c(xv), pos_weight=2.5),
             ng.nn.log_poisson_loss(_c(t), _c(lv)),
             ng.nn.log_poisson_loss(_c(t), _c(lv), compute_full_loss=True)]
    q = 2.5
    want_w = -(q * z * np.log(sps.expit(xv)) + (1 - z) * np.log(sps.expit(-xv)))
    base = np.exp(lv) - lv * t
    with np.errstate(all="ignore"):
        stirling = np.where(t > 1, t * np.log(t) - t + 0.5 * np.log(2 * np.pi * t), 0.0)
    for got in run(fetch):
        np.testing.assert_allclose(got[0], want_w, rtol=1e-13)
        np.testing.assert_allclose(got[1], base, rtol=1e-14)
        np.testing.assert_allclose(got[2], base + stirling, rtol=1e-14)


def test_activation_second_derivatives():
    x = ng.placeholder(ng.float64, [3])
    y = ng.reduce_sum(ng.nn.selu(x) * ng.nn.softsign(x) + ng.nn.gelu(x) + ng.nn.leaky_relu(x) * x)
    h, = ng.hessians(y, x)
    v = np.array([0.3, -0.4, 1.1])
    g, = ng.gradients(y, [x])
    with ng.Session(backend="numpy") as s:
        num = np.stack([(s.run(g, {x: v + e}) - s.run(g, {x: v - e})) / 2e-5
                        for e in np.eye(3) * 1e-5], 1)
    for got in run([h], {x: v}):
        np.testing.assert_allclose(got[0], num, rtol=1e-6, atol=1e-8)


def test_batched_jacobian_matches_loop():
    x = ng.placeholder(ng.float64, [3])
    logits = ng.stack([x, ng.nn.elu(x) * 2.0])
    y = (ng.nn.sparse_softmax_cross_entropy_with_logits(labels=[2, 0], logits=logits)
         + ng.nn.relu6(x[:2] * 3.0) + ng.nn.softplus(x[1:]))
    jac = ng.jacobian(y, x)
    rows = [ng.gradients(y[i], [x])[0] for i in range(2)]
    v = np.array([0.3, -0.7, 1.2])
    with ng.Session() as s:
        got, loop = s.run([jac, rows], {x: v})
    np.testing.assert_allclose(got, np.stack(loop), rtol=1e-12, atol=1e-14)


@pytest.mark.filterwarnings("ignore")
def test_against_tensorflow():
    tf = pytest.importorskip("tensorflow")
    v = np.array([[0.3, -0.7, 1.5], [2.0, -2.5, 0.1]])

    def cases(m, c):
        nn = m.nn
        return [lambda X: nn.elu(X), lambda X: nn.selu(X), lambda X: nn.relu6(X * 3),
                lambda X: nn.softplus(X), lambda X: nn.softsign(X), lambda X: nn.leaky_relu(X),
                lambda X: nn.gelu(X), lambda X: nn.gelu(X, True), lambda X: nn.silu(X),
                lambda X: nn.l2_loss(X), lambda X: nn.moments(X, [0])[1],
                lambda X: nn.l2_normalize(X, 1), lambda X: nn.bias_add(X, c([1.0, 2.0, 3.0])),
                lambda X: nn.batch_normalization(X, c(0.2), c(1.5), c(0.1), c(2.0), 1e-3),
                lambda X: nn.sparse_softmax_cross_entropy_with_logits(labels=[0, 2], logits=X),
                lambda X: nn.weighted_cross_entropy_with_logits(labels=X * 0 + 0.3, logits=X,
                                                                pos_weight=2.0),
                lambda X: nn.log_poisson_loss(X * 0 + 2.0, X, True)]

    x = ng.placeholder(ng.float64, [2, 3])
    ys = [f(x) for f in cases(ng, _c)]
    gs = [ng.gradients(ng.reduce_sum(y * y), x)[0] for y in ys]
    got, ref = run(ys + gs, {x: v})
    xt = tf.constant(v)
    for i, f in enumerate(cases(tf, lambda a: tf.constant(np.asarray(a, np.float64)))):
        with tf.GradientTape() as tape:
            tape.watch(xt)
            yt = f(xt)
            lt = tf.reduce_sum(yt * yt)
        gt = tape.gradient(lt, xt).numpy()
        for out in (got, ref):
            np.testing.assert_allclose(out[i], yt.numpy(), rtol=1e-12, err_msg=str(i))
            np.testing.assert_allclose(out[len(ys) + i], gt, rtol=1e-10, atol=1e-14,
                                       err_msg=str(i))
