"""Segment sums, means and products of complex values (issue 17), as TF: values against
NumPy, the sum's and mean's gradients against finite differences (they are linear), and the
products' gradients as TF 2.21 computes them (grad times the product of the other elements,
not conjugated: TF's rule leaves the convention of docs/complex.md, as cumprod's does).
segment max/min stay real-only (TF's TypeError)."""
import numpy as np
import pytest

import numgrad as ng

D = np.array([1 + 2j, -0.5 + 1j, 2 - 1j, 0.25 + 0.5j, 3j])
IDS = [0, 0, 1, 1, 3]
GY = np.array([1 + 1j, 2, 0.5j, 1])


def test_values_match_numpy():
    x = ng.placeholder(ng.complex128, [5])
    outs = [ng.math.segment_sum(x, IDS), ng.math.segment_mean(x, IDS),
            ng.math.segment_prod(x, IDS), ng.math.unsorted_segment_prod(x, IDS, 4),
            ng.math.unsorted_segment_sum(x, IDS, 4)]
    with ng.Session() as sess:
        s, m, p, up, us = sess.run(outs, {x: D})
    want_s = np.array([D[0] + D[1], D[2] + D[3], 0, D[4]])
    want_p = np.array([D[0] * D[1], D[2] * D[3], 1, D[4]])
    assert np.allclose(s, want_s) and np.allclose(us, want_s)
    assert np.allclose(m, [want_s[0] / 2, want_s[1] / 2, 0, D[4]])
    assert np.allclose(p, want_p) and np.allclose(up, want_p)
    assert s.dtype == np.complex128


def test_complex64_mean_keeps_its_dtype():
    x = ng.placeholder(ng.complex64, [5])
    with ng.Session() as sess:
        m = sess.run(ng.math.segment_mean(x, IDS), {x: D})
    assert m.dtype == np.complex64 and np.allclose(m[1], (D[2] + D[3]) / 2)


@pytest.mark.parametrize("op", ["segment_sum", "segment_mean"])
def test_linear_segment_gradients_match_finite_differences(op):
    x = ng.placeholder(ng.complex128, [5])
    y = getattr(ng.math, op)(x, IDS)
    assert ng.test.compute_gradient_error(x, [5], y, [4], x_init_value=D) < 1e-9


@pytest.mark.parametrize("op", ["segment_prod", "unsorted_segment_prod"])
def test_product_gradients_are_tfs(op):
    x = ng.placeholder(ng.complex128, [5])
    y = (ng.math.segment_prod(x, IDS) if op == "segment_prod"
         else ng.math.unsorted_segment_prod(x, IDS, 4))
    g, = ng.gradients(y, x, grad_ys=ng.constant(GY))
    with ng.Session() as sess:
        got = sess.run(g, {x: D})
    tf_value = np.array([-1.5 + 0.5j, -1 + 3j, 0.5 + 1j, 4 - 2j, 1 + 0j])   # TF 2.21's
    assert np.allclose(got, tf_value)
    others = np.array([D[1], D[0], D[3], D[2], 1])      # the other element of its segment
    assert np.allclose(got, GY[IDS] * others)


def test_max_and_min_still_reject_complex():
    x = ng.placeholder(ng.complex64, [5])
    g = ng.get_default_graph()
    n = len(g.get_operations())
    for build in (lambda: ng.math.segment_max(x, IDS), lambda: ng.math.segment_min(x, IDS),
                  lambda: ng.math.unsorted_segment_max(x, IDS, 4)):
        with pytest.raises(TypeError, match="complex64"):
            build()
    assert len(g.get_operations()) == n
