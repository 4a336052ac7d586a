"""The matmul_outer rewrite (numgrad/compiler/rewrites.py): a MatMul or BatchMatMulV2 whose
inner dimension is 1 becomes a broadcast multiply that the consumers' loops fuse.  Checked
against the NumPy backend (exactly: a sum of one product is the product), with the rule on and
off, in plans (no MatMul left, no extra kernel), and in the first and second derivatives of a
small network with a scalar output, where TF's gradients make such products."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.compiler import rewrites

from ab_switch import assert_close
from plan_checks import check_plan

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

M, N = 6, 5


def _operands(dtype, ta, tb, rng, batch=()):
    a = rng.integers(-4, 5, batch + ((1, M) if ta else (M, 1)))
    b = rng.integers(-4, 5, (1, N) if not tb else (N, 1))
    if np.dtype(dtype).kind == "f":
        a = a * rng.uniform(0.5, 1.5, a.shape)
        b = b * rng.uniform(0.5, 1.5, b.shape)
    return a.astype(dtype), b.astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32])
@pytest.mark.parametrize("ta, tb", [(False, False), (True, False), (False, True),
                                    (True, True)])
def test_outer_product_is_a_fused_multiply(dtype, ta, tb, rng):
    a, b = _operands(dtype, ta, tb, rng)
    x = ng.placeholder(dtype, a.shape)
    y = ng.placeholder(dtype, b.shape)
    out = ng.matmul(x, y, transpose_a=ta, transpose_b=tb) * ng.constant(3, dtype)
    feed = {x: a, y: b}
    ref = ng.Session(backend="numpy").run(out, feed)
    # one kernel multiplies and scales; the transposed operands are reshapes (views)
    plan = check_plan(out, feed, kernels=1, opaque=[])
    assert plan.kernel().ops == ["Mul", "Mul"]
    with rewrites.disabled_rules("matmul_outer"):
        check_plan(out, feed, kernels=1, opaque=["MatMul"])
        off = ng.Session(backend="cpu").run(out, feed)
    on = ng.Session(backend="cpu").run(out, feed)
    for got in (on, off):
        assert got.dtype == ref.dtype and got.shape == ref.shape == (M, N)
        np.testing.assert_array_equal(got, ref)


@pytest.mark.parametrize("ta", [False, True])
def test_batched_outer_product_broadcasts_its_batch(ta, rng):
    a, b = _operands(np.float64, ta, False, rng, batch=(2, 3))
    x = ng.placeholder(ng.float64, a.shape)
    y = ng.placeholder(ng.float64, b.shape)
    out = ng.matmul(x, y, transpose_a=ta)
    feed = {x: a, y: b}
    ref = ng.Session(backend="numpy").run(out, feed)
    check_plan(out, feed, opaque=[])
    got = ng.Session(backend="cpu").run(out, feed)
    assert got.shape == ref.shape == (2, 3, M, N)
    np.testing.assert_array_equal(got, ref)


def test_wider_inner_dimensions_stay_matmuls(rng):
    x = ng.placeholder(ng.float64, [M, 2])
    out = ng.matmul(x, ng.constant(rng.uniform(size=(2, N))))
    check_plan(out, {x: rng.uniform(size=(M, 2))}, opaque=["MatMul"])


def _network(dtype, rng, hidden=8):
    """u(x) = tanh(x w1 + b1) w2 for x of shape (n, 1): u_x, u_xx by ng.gradients, and the
    weight gradients of mean(u^2 + u_xx^2)."""
    x = ng.placeholder(dtype, [None, 1])
    w1 = ng.constant(rng.normal(size=(1, hidden)).astype(dtype))
    b1 = ng.constant(rng.normal(size=(1, hidden)).astype(dtype))
    w2 = ng.constant(rng.normal(size=(hidden, 1)).astype(dtype))
    u = ng.matmul(ng.tanh(ng.matmul(x, w1) + b1), w2)
    u_x = ng.gradients(u, x)[0]
    u_xx = ng.gradients(u_x, x)[0]
    loss = ng.reduce_mean(ng.square(u) + ng.square(u_xx))
    return x, [u, u_x, u_xx, loss] + ng.gradients(loss, [w1, b1, w2])


def _matmuls(plan):
    return sum(t in ("MatMul", "BatchMatMulV2") for t in plan.opaque)


@pytest.mark.parametrize("dtype, rtol", [(np.float32, 2e-5), (np.float64, 1e-12)])
def test_network_derivatives_match_the_reference(dtype, rtol, rng):
    x, fetches = _network(dtype, rng)
    feed = {x: rng.uniform(-1, 1, (64, 1)).astype(dtype)}
    ref = ng.Session(backend="numpy").run(fetches, feed)
    with rewrites.disabled_rules("matmul_outer"):
        off_plan = check_plan(fetches, feed)
        off = ng.Session(backend="cpu").run(fetches, feed)
    on_plan = check_plan(fetches, feed)
    on = ng.Session(backend="cpu").run(fetches, feed)
    # x w1 and the gradients' products with the (hidden, 1) w2 have an inner dimension of 1
    assert _matmuls(on_plan) < _matmuls(off_plan)
    assert len(on_plan.kernels) <= len(off_plan.kernels)
    assert_close(ref, on, rtol)
    assert_close(ref, off, rtol)


def test_gradients_against_finite_differences(rng):
    a = ng.placeholder(ng.float64, [M, 1])
    b = ng.placeholder(ng.float64, [N, 1])
    y = ng.sin(ng.matmul(a, b, transpose_b=True))
    va, vb = rng.uniform(-1, 1, (M, 1)), rng.uniform(-1, 1, (N, 1))
    with ng.Session(backend="cpu"):
        err = ng.test.compute_gradient_error([a, b], [(M, 1), (N, 1)], y, (M, N),
                                             x_init_value=[va, vb])
    assert err < 1e-6       # central differences with delta 1e-3: O(1e-7)
