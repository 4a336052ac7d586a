"""Chains of cheap nodes recomputed in later fused loops (compiler/fuse.py, NUMGRAD_FUSE_CHAINS).

A tanh layer's derivative 1 - h*h is made in the loop that computes h = tanh(z); h is stored
anyway (a product reads it).  A later loop that reads both h and 1 - h*h recomputes the
two-node chain from h instead of reading a stored 1 - h*h, so the first loop does not store
it.  The results are the same bits either way (the same float operations in the same order).
"""
import numpy as np
import pytest

import numgrad as ng
from numgrad import config

N, C = 64, 5


def _graph(dtype):
    """h = tanh(x @ w) (stored: a product reads it), d = 1 - h*h made in h's loop, and a
    later loop (after the product) reading both d and h; `y`, the values to fetch and the
    feed."""
    rng = np.random.default_rng(3)
    x = ng.placeholder(dtype, [N, C], name="x")
    w = ng.placeholder(dtype, [C, C], name="w")
    v = ng.placeholder(dtype, [C, C], name="v")
    h = ng.tanh(ng.matmul(x, w))
    d = ng.subtract(1.0, h * h, name="one_minus_h2")
    g = ng.matmul(h, v)
    y = ng.reduce_sum(g * d + h * g)            # a later loop reads d and h
    feed = {x: rng.standard_normal((N, C)).astype(dtype),
            w: rng.standard_normal((C, C)).astype(dtype) * 0.5,
            v: rng.standard_normal((C, C)).astype(dtype) * 0.5}
    return y, [y] + ng.gradients(y, [x, w, v]), feed


def _plan_and_results(chains, dtype=np.float64):
    with config.override(NUMGRAD_FUSE_CHAINS=chains):
        graph = ng.Graph()
        with graph.as_default():
            y, fetches, feed = _graph(dtype)
            sess = ng.Session(graph=graph, backend="cpu")
            out = sess.run(fetches, feed)
            plan = sess._compiled_plan(fetches, feed)
    return plan, out


def _stored_and_loaded(plan, name):
    """How many fused loops store, and how many read, values whose name starts with `name`."""
    groups = [s for s in plan.steps if s.kind == "group"]
    stored = sum(any((v.name or "").startswith(name) for v in g.outputs) for g in groups)
    loaded = sum(any((v.name or "").startswith(name) for v in g.loads) for g in groups)
    return stored, loaded


def test_a_later_loop_recomputes_the_chain_instead_of_reading_it():
    plan_on, _ = _plan_and_results(True)
    plan_off, _ = _plan_and_results(False)
    assert _stored_and_loaded(plan_off, "one_minus_h2") == (1, 1)
    assert _stored_and_loaded(plan_on, "one_minus_h2") == (0, 0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_same_bits_with_and_without_chains_and_numpy_agrees(dtype):
    _, on = _plan_and_results(True, dtype)
    _, off = _plan_and_results(False, dtype)
    for a, b in zip(on, off):
        np.testing.assert_array_equal(a, b)
    graph = ng.Graph()
    with graph.as_default():
        _, fetches, feed = _graph(dtype)
        want = ng.Session(graph=graph, backend="numpy").run(fetches, feed)
    tol = 2e-5 if dtype == np.float32 else 1e-12
    for a, w in zip(on, want):
        np.testing.assert_allclose(a, w, rtol=tol, atol=tol * np.max(np.abs(w)))


def _loads_graph(dtype=np.float64):
    """c = -(a * b) of two products' outputs, made in a loop that stores it (a product
    reads c * e, so that loop runs first) and read by a later loop (after that product)
    that reads a and b too."""
    rng = np.random.default_rng(4)
    x = ng.placeholder(dtype, [N, C], name="x")
    w = ng.constant(rng.standard_normal((C, C)).astype(dtype) * 0.5)
    a = ng.matmul(x, w)
    b = ng.matmul(x * x, w)
    c = ng.negative(a * b, name="neg_ab")
    k = ng.matmul(c * ng.exp(a), w)
    y = ng.reduce_sum(k * c + a * ng.sin(b))
    return [y, k], {x: rng.standard_normal((N, C)).astype(dtype)}


def test_a_loop_recomputes_a_stored_chain_from_values_it_reads_anyway():
    results, plans = {}, {}
    for chains in (True, False):
        with config.override(NUMGRAD_FUSE_CHAINS=chains):
            graph = ng.Graph()
            with graph.as_default():
                fetches, feed = _loads_graph()
                sess = ng.Session(graph=graph, backend="cpu")
                results[chains] = sess.run(fetches, feed)
                plans[chains] = sess._compiled_plan(fetches, feed)
                want = ng.Session(graph=graph, backend="numpy").run(fetches, feed)
    assert _stored_and_loaded(plans[False], "neg_ab") == (1, 1)
    assert _stored_and_loaded(plans[True], "neg_ab") == (0, 0)
    for a, b, w in zip(results[True], results[False], want):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_allclose(a, w, rtol=1e-12, atol=1e-12 * np.max(np.abs(w)))


def test_gradient_through_recomputed_chain_matches_finite_differences():
    with config.override(NUMGRAD_FUSE_CHAINS=True):
        graph = ng.Graph()
        with graph.as_default():
            rng = np.random.default_rng(5)
            x = ng.placeholder(ng.float64, [N, C], name="x")
            w = ng.constant(rng.standard_normal((C, C)) * 0.5)
            v = ng.constant(rng.standard_normal((C, C)) * 0.5)
            h = ng.tanh(ng.matmul(x, w))
            d = 1.0 - h * h
            y = ng.matmul(h, v) * d + h
            with ng.Session(graph=graph, backend="cpu"):
                err = ng.test.compute_gradient_error(
                    x, [N, C], y, [N, C], x_init_value=rng.standard_normal((N, C)) * 0.7)
    assert err < 1e-6
