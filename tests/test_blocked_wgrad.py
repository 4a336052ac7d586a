"""Weight gradients X^T @ dY as sums over blocks of the inner dimension
(kernels/cpu/blas_call.py block_for, matmul_blocks_into): the rule, the values against a
float64 reference, and the step runner and native lanes giving the same bits."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import blas_threads, config, threads
from numgrad.kernels.cpu import blas_call

from pinn_case import matmul_plan

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

needs_blas = pytest.mark.skipif(not blas_call.available(), reason=blas_call.describe())

F32, F64 = np.float32, np.float64


def _reference(a, b, ta, tb):
    a64, b64 = a.astype(F64), b.astype(F64)
    return (a64.T if ta else a64) @ (b64.T if tb else b64)


def _close(got, a, b, ta, tb):
    """got within the rounding of a float sum of K products (relative to the sum of the
    products' magnitudes)."""
    want = _reference(a, b, ta, tb)
    scale = _reference(np.abs(a), np.abs(b), ta, tb)
    k = a.shape[0] if ta else a.shape[1]
    eps = np.finfo(got.dtype).eps
    assert np.all(np.abs(got - want) <= 4 * np.sqrt(max(k, 1)) * eps * scale + 1e-30), \
        np.max(np.abs(got - want) / np.maximum(scale, 1e-30))


@needs_blas
@pytest.mark.parametrize("dtype", [F32, F64])
@pytest.mark.parametrize("ta, tb", [(True, False), (False, False), (True, True),
                                    (False, True)])
@pytest.mark.parametrize("k, block", [(1000, 250), (1000, 300), (1000, 128), (100, 128),
                                      (1, 128)])
def test_blocks_sum_to_the_product(dtype, ta, tb, k, block):
    # blocks that divide K, that do not (a short last block), one block bigger than K
    rng = np.random.default_rng(k + block)
    m, n = 6, 5
    a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
    got = np.full((m, n), np.nan, dtype)
    # read-only operands, as every caller hands them (one signature: blas_call's docstring)
    blas_call.matmul_blocks_into(blas_call.operand(a), blas_call.operand(b), got, ta, tb,
                                 block, 0, k)
    _close(got, a, b, ta, tb)


@needs_blas
@pytest.mark.parametrize("dtype", [F32, F64])
def test_blocks_over_part_of_the_inner_dimension(dtype):
    rng = np.random.default_rng(1)
    a = rng.standard_normal((700, 4)).astype(dtype)
    b = rng.standard_normal((700, 3)).astype(dtype)
    got = np.full((4, 3), np.nan, dtype)
    ra, rb = blas_call.operand(a), blas_call.operand(b)
    blas_call.matmul_blocks_into(ra, rb, got, True, False, 128, 100, 650)
    _close(got, a[100:650], b[100:650], True, False)
    blas_call.matmul_blocks_into(ra, rb, got, True, False, 128, 300, 300)   # K = 0: zeros
    assert np.array_equal(got, np.zeros((4, 3), dtype))


def test_block_for_takes_long_weight_gradients_only():
    if not blas_call.available():
        assert blas_call.block_for((10000, 20), (10000, 20), F32, True, False) == 0
        return
    # W6's weight gradient: (20, 10000) @ (10000, 20), 4e6 multiply-adds, blocks of 2048
    block = blas_call.block_for((10000, 20), (10000, 20), F32, True, False)
    assert block == 2048 and 20 * 20 * block <= blas_call.SMALL_KERNEL_MACS
    assert blas_call.block_for((10000, 20), (10000, 20), F64, True, False) == 2048
    assert blas_call.block_for((2000, 20), (2000, 20), F32, True, False) == 0    # small kernel
    assert blas_call.block_for((256, 512), (256, 10), F32, True, False) == 128   # W3's dW2
    assert blas_call.block_for((50000, 2), (50000, 20), F64, True, False) == 2048  # MAX_BLOCK
    assert blas_call.block_for((10000, 20), (20, 10000), F32, True, True) == 0   # not X^T @ Y
    assert blas_call.block_for((20, 10000), (10000, 20), F32, False, False) == 0
    assert blas_call.block_for((10000, 20), (10000, 1), F32, True, False) == 0   # gemv
    assert blas_call.block_for((10000, 128), (10000, 128), F32, True, False) == 0  # big M*N
    assert blas_call.block_for((0, 20), (0, 20), F32, True, False) == 0          # K = 0
    assert blas_call.block_for((10000, 20), (10000, 20), np.int32, True, False) == 0
    k_big = blas_threads.SMALL_MACS // 400 + 1          # BLAS threads may take it
    assert blas_call.block_for((k_big, 20), (k_big, 20), F32, True, False) == 0
    with config.override(NUMGRAD_BLOCKED_WGRAD=False):
        assert blas_call.block_for((10000, 20), (10000, 20), F32, True, False) == 0


# (rows, width): M*N*K = 64 * rows, over 10**6: blocks of 2048 rows (MAX_BLOCK); 20000 rows
# do not divide into them, 16384 rows do
ROWS = [20000, 16384]
WIDTH = 8


def _net(rows, dtype, seed=0):
    """tanh(x @ W1) @ W2 and the gradients of its mean square: W1's and W2's gradients are
    (8, rows) @ (rows, 8) products (fetches, feed_dict)."""
    rng = np.random.default_rng(seed)
    x = ng.placeholder(dtype, [rows, WIDTH])
    w1 = ng.Variable(rng.standard_normal((WIDTH, WIDTH)).astype(dtype) / 3)
    w2 = ng.Variable(rng.standard_normal((WIDTH, WIDTH)).astype(dtype) / 3)
    y = ng.matmul(ng.tanh(ng.matmul(x, w1)), w2)
    loss = ng.reduce_mean(ng.square(y))
    fetches = [loss] + ng.gradients(loss, [w1, w2])
    return fetches, {x: rng.standard_normal((rows, WIDTH)).astype(dtype)}


def _session(rows, dtype):
    graph = ng.Graph()
    with graph.as_default():
        fetches, feed = _net(rows, dtype)
        sess = ng.Session(backend="cpu", graph=graph)
        sess.run(ng.global_variables_initializer())
    return graph, sess, fetches, feed



@needs_blas
@pytest.mark.parametrize("rows", ROWS)
def test_step_runner_and_native_lanes_give_the_same_bits(rows):
    graph, sess, fetches, feed = _session(rows, F32)
    with config.override(NUMGRAD_NATIVE_PLAN="off", NUMGRAD_INTERPRET_CALLS=0):
        stepped = sess.run(fetches, feed)
    plan = matmul_plan(sess)
    blocked = [run.block for run in plan.runners if hasattr(run, "block")]
    assert blocked == [2048, 2048]          # the two weight gradients, nothing else
    old = threads.get_num_threads()
    for n in (1, 2):
        threads.set_num_threads(n)
        try:
            with config.override(NUMGRAD_NATIVE_PLAN="on", NUMGRAD_INTERPRET_CALLS=0):
                native = sess.run(fetches, feed)
        finally:
            threads.set_num_threads(old)
        lanes = matmul_plan(sess)._native.native
        assert lanes is not None and len(lanes.lanes) == n
        assert sum(src.count("matmul_blocks_into(") for src in lanes.sources.values()) == 2
        for a, b in zip(stepped, native):
            assert a.dtype == b.dtype and np.array_equal(a, b)
    # against the NumPy backend (one gemm a product) within rounding
    with ng.Session(backend="numpy", graph=graph) as ref:
        ref.run(ng.global_variables_initializer())
        want = ref.run(fetches, feed)
    for a, b in zip(stepped, want):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)


@needs_blas
def test_switch_off_keeps_numpys_matmul():
    with config.override(NUMGRAD_BLOCKED_WGRAD=False):
        graph, sess, fetches, feed = _session(ROWS[0], F32)
        with config.override(NUMGRAD_NATIVE_PLAN="off", NUMGRAD_INTERPRET_CALLS=0):
            sess.run(fetches, feed)
        assert not any(hasattr(run, "block") for run in matmul_plan(sess).runners)


@needs_blas
def test_blocked_gradients_match_finite_differences():
    graph = ng.Graph()
    with graph.as_default():
        rng = np.random.default_rng(2)
        x = ng.constant(rng.standard_normal((ROWS[0], WIDTH)))
        w = ng.Variable(rng.standard_normal((WIDTH, WIDTH)) / 3)
        loss = ng.reduce_mean(ng.square(ng.tanh(ng.matmul(x, w))))
        with ng.Session(backend="cpu", graph=graph) as sess:
            sess.run(ng.global_variables_initializer())
            with config.override(NUMGRAD_INTERPRET_CALLS=0):
                err = ng.test.compute_gradient_error(w, (WIDTH, WIDTH), loss, [])
            runners = [run for p in sess._plans.values() for cp in p._compiled.values()
                       for run in getattr(cp, "runners", ())]
    assert any(getattr(run, "block", 0) == 2048 for run in runners)      # blocked: checked
    assert err < 1e-6


@needs_blas
def test_a_fed_array_that_is_not_contiguous():
    graph, sess, fetches, feed = _session(ROWS[0], F32)
    (x, xv), = feed.items()
    strided = np.asfortranarray(xv)
    with config.override(NUMGRAD_NATIVE_PLAN="off", NUMGRAD_INTERPRET_CALLS=0):
        want = sess.run(fetches, feed)
        got = sess.run(fetches, {x: strided})
    for a, b in zip(want, got):
        assert np.array_equal(a, b)
    assert any(hasattr(run, "block") for run in matmul_plan(sess).runners)


@needs_blas
def test_bench_products_times_the_rules_blocks_against_one_gemm():
    from numgrad import bench_wgrad
    table = bench_wgrad.products(repeats=2, out=lambda line: None)
    w6 = bench_wgrad.PRODUCTS[0][0]
    assert {(w6, "whole"), (w6, "rule:2048"), (w6, "128")} <= set(table)
    assert all(0 < lo <= med for lo, med in table.values())
