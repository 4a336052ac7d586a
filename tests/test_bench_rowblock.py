"""The row-block prototype of W6 (numgrad/bench_rowblock.py): its loss is checked against an
independent forward-mode NumPy reference, its gradients against finite differences of that
reference and against numgrad's NumPy backend, for one and two threads and blocks that do
and do not split the rows evenly between the threads.

The prototype's Numba functions take ~15 CPU s to compile and they test a benchmark, not the
package: the file runs with NUMGRAD_SLOW=1 (tests/budget.py); the benchmark itself reports its
largest error against numgrad's values on every run."""
import numpy as np
import pytest

import numgrad as ng
import budget
from numgrad import bench_rowblock as rb
from numgrad import bench_train as bt
from numgrad.kernels.cpu import blas_call

pytestmark = [pytest.mark.backend_independent,
              pytest.mark.skipif(not budget.SLOW, reason="a benchmark's prototype: NUMGRAD_SLOW=1"),
              pytest.mark.skipif(not blas_call.available(), reason=blas_call.describe())]

N_F, N_U = 300, 20


@pytest.fixture(scope="module")
def problem():
    weights, data = bt.problem(n_u=N_U, n_f=N_F)
    rng = np.random.default_rng(1)              # non-zero biases: every term of the gradient
    weights = [(w, (0.1 * rng.standard_normal(b.shape)).astype(np.float32))
               for w, b in weights]
    return weights, data


def _loss64(weights, data):
    """The W6 loss in float64 NumPy, u_t, u_x and u_xx by forward-mode derivatives."""
    def net(t, x):
        h = np.concatenate([t, x], 1).astype(np.float64)
        ht = np.zeros_like(h)
        ht[:, 0] = 1.0
        hx = np.zeros_like(h)
        hx[:, 1] = 1.0
        hxx = np.zeros_like(h)
        for w, b in weights[:-1]:
            z, zt, zx, zxx = h @ w + b, ht @ w, hx @ w, hxx @ w
            h = np.tanh(z)
            s = 1.0 - h * h
            ht, hx, hxx = s * zt, s * zx, s * zxx - 2.0 * h * s * zx * zx
        w, b = weights[-1]
        return h @ w + b, ht @ w, hx @ w, hxx @ w
    u_pred = net(data["t_u"], data["x_u"])[0]
    u, u_t, u_x, u_xx = net(data["t_f"], data["x_f"])
    f = u_t + u * u_x - bt.NU * u_xx
    return np.mean((data["u"] - u_pred) ** 2) + np.mean(f ** 2)


def _as64(weights):
    return [(w.astype(np.float64), b.astype(np.float64)) for w, b in weights]


@pytest.mark.parametrize("rows, threads", [(100, 1), (50, 2), (100, 2)])
def test_prototype_matches_the_forward_mode_reference(problem, rows, threads):
    weights, data = problem
    got = rb.RowBlocks(weights, data, rows, threads)()
    assert got[0] == pytest.approx(_loss64(_as64(weights), data), rel=1e-5)
    # finite differences (float64) of a few entries of each parameter
    rng = np.random.default_rng(2)
    for p in range(2 * len(weights)):
        grad = got[1 + p]
        for idx in [tuple(rng.integers(0, s) for s in grad.shape) for _ in range(2)]:
            eps = 1e-5
            vals = []
            for sign in (1, -1):
                w64 = [list(pair) for pair in _as64(weights)]
                w64[p // 2][p % 2] = w64[p // 2][p % 2].copy()
                w64[p // 2][p % 2][idx] += sign * eps
                vals.append(_loss64([tuple(pair) for pair in w64], data))
            fd = (vals[0] - vals[1]) / (2 * eps)
            scale = max(np.abs(grad).max(), 1e-3)
            assert abs(grad[idx] - fd) <= 2e-4 * scale, (p, idx, grad[idx], fd)


def test_prototype_matches_numgrads_numpy_backend(problem):
    weights, data = problem
    graph = ng.Graph()
    with graph.as_default():
        loss, variables, ph = bt.build_numgrad(ng, weights)
        grads = ng.gradients(loss, variables)
        sess = ng.Session(graph=graph, backend="numpy")
        sess.run(ng.global_variables_initializer())
        want = sess.run([loss] + grads, {ph[k]: data[k] for k in ph})
    got = rb.RowBlocks(weights, data, 50, 2)()
    assert rb.check(got, want) < 1e-5


def test_blocks_must_divide_the_rows(problem):
    weights, data = problem
    with pytest.raises(ValueError, match="not a multiple of the block size 70"):
        rb.RowBlocks(weights, data, 70, 2)


def test_the_blocked_products_it_times_are_the_products():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((600, rb.WIDTH)).astype(np.float32)
    y = rng.standard_normal((600, rb.WIDTH)).astype(np.float32)
    w = rng.standard_normal((rb.WIDTH, rb.WIDTH)).astype(np.float32)
    out = np.full((600, rb.WIDTH), np.nan, np.float32)
    rb.xw_in_blocks(x, w, out, 200)
    np.testing.assert_allclose(out, x @ w, rtol=1e-5, atol=1e-5)
    small = np.full((rb.WIDTH, rb.WIDTH), np.nan, np.float32)
    rb.xty_in_blocks(x, y, small, 150)
    np.testing.assert_allclose(small, x.T @ y, rtol=1e-4, atol=1e-4)
