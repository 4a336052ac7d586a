"""Kernels equal up to value names and sizes share one module and one compile
(numgrad/compiler/canonical.py)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.compiler.canonical import canonical

from plan_checks import compiled_plans

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def test_canonical_renumbers_names_in_order_of_first_appearance():
    src = "v265 = s0 - l0\nv12 = tanh(v265)\nw0[u0] = v12 + v265\n"
    assert canonical(src) == "v0 = s0 - l0\nv1 = tanh(v0)\nw0[u0] = v1 + v0\n"


def test_canonical_renames_whole_tokens_only_and_keeps_prefixes_apart():
    src = "v7 = vm.exp(v70) + vmc.log_f64(x) + v7x\ni9 = v70\nv7 = i9"
    assert canonical(src) == "v0 = vm.exp(v1) + vmc.log_f64(x) + v7x\ni9 = v1\nv0 = i9"
    assert canonical(src, ("v", "i")) == \
        "v0 = vm.exp(v1) + vmc.log_f64(x) + v7x\ni0 = v1\nv0 = i0"


def test_canonical_keeps_different_code_different():
    head = "v1 = l0\nv2 = l1\n"
    a = canonical(head + "v3 = v1 - v2\nw0[u0] = v3\n")
    b = canonical(head + "v3 = v2 - v1\nw0[u0] = v3\n")
    c = canonical(head + "v3 = v1 - v1\nw0[u0] = v3\n")
    assert len({a, b, c}) == 3
    assert canonical("v8 = l0\nv2 = l1\nv5 = v8 - v2\nw0[u0] = v5\n") == a


def _layer_stack(rng, n_layers, width=5, rows=7):
    x = ng.placeholder(ng.float64, [rows, 2], name="x")
    h = x
    weights = []
    for i in range(n_layers):
        w = ng.constant(rng.standard_normal((h.shape[1], width)) * 0.5, name=f"w{i}")
        b = ng.constant(rng.standard_normal((1, width)) * 0.1, name=f"b{i}")
        weights += [w, b]
        h = ng.tanh(ng.matmul(h, w) + b)
    loss = ng.reduce_sum(h * h)
    return x, loss, ng.gradients(loss, x)[0]


def test_layers_of_a_network_share_their_kernels(rng):
    x, loss, grad = _layer_stack(rng, 4)
    xv = rng.standard_normal((7, 2))
    with ng.Session(backend="cpu") as s:
        got = s.run([loss, grad], {x: xv})
        plan, = compiled_plans(s)
    with ng.Session(backend="numpy") as s:
        want = s.run([loss, grad], {x: xv})
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    kernels = [r for r in plan.runners if hasattr(r, "kernel")]
    sources = {r._source for r in kernels}
    assert len(sources) < len(kernels)          # the hidden layers' loops are one source
    modules = {id(r._kernel) for r in kernels}
    assert len(modules) == len(sources)         # ... one dispatcher each


def test_kernels_over_other_sizes_share_a_module_and_give_their_own_results(rng):
    a8, b8 = (ng.placeholder(ng.float64, [8]) for _ in range(2))
    a12, b12 = (ng.placeholder(ng.float64, [12]) for _ in range(2))
    y8 = ng.tanh(a8 * b8) + 1.0
    y12 = ng.tanh(a12 * b12) + 1.0
    feed = {p: rng.standard_normal(p.shape.as_list()) for p in (a8, b8, a12, b12)}
    with ng.Session(backend="cpu") as s:
        r8, r12 = s.run([y8, y12], feed)
        plan, = compiled_plans(s)
    np.testing.assert_allclose(r8, np.tanh(feed[a8] * feed[b8]) + 1.0, rtol=1e-14)
    np.testing.assert_allclose(r12, np.tanh(feed[a12] * feed[b12]) + 1.0, rtol=1e-14)
    k8, k12 = [r for r in plan.runners if hasattr(r, "kernel")]
    assert k8._source == k12._source and k8._kernel is k12._kernel
