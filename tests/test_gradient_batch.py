"""tests/gradient_batch.py: batched gradient checks agree with ng.test.compute_gradient case by
case, catch a wrong gradient, and give each case its own failure."""
import numpy as np
import pytest

import numgrad as ng
from gradient_batch import GradientBatch, assert_jacobians

# Cases of different sizes and numbers of inputs: the batch feeds seeds and perturbations to
# every case at once, so a case smaller than another sees indices past its own end.
_CASES = {
    "two_inputs": ([np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]), np.array([0.3, -0.2, 1.1])],
                   lambda x, b: ng.sin(x) * b, {}),
    "scalar": ([np.array(0.7)], lambda x: ng.exp(x) * 3.0, {}),
    "reduce": ([np.array([[1.0, -2.0], [0.5, 3.0]])], lambda x: ng.reduce_sum(x * x, axis=1), {}),
    "none_dims": ([np.array([0.2, 0.4, -0.6, 0.9])], lambda x: ng.square(x)[1:],
                  {"ph_shapes": [[None]], "y_shape": (3,)}),
}


@ng.custom_gradient
def _wrong_square(x):
    return x * x, lambda dy: dy * 3.0 * x        # the true gradient is 2x


def _batch(extra=()):
    batch = GradientBatch(ng.float64, delta=1e-5)
    for name, (inits, build, kw) in _CASES.items():
        batch.add(name, inits, build, **kw)
    for name, inits, build in extra:
        batch.add(name, inits, build)
    return batch


def test_batched_jacobians_equal_compute_gradient_per_case():
    got = _batch().jacobians()
    for name, (inits, build, kw) in _CASES.items():
        g = ng.Graph()
        with g.as_default():
            shapes = kw.get("ph_shapes", [a.shape for a in inits])
            xs = [ng.placeholder(ng.float64, s) for s in shapes]
            y = build(*xs)
            y_shape = kw.get("y_shape", tuple(y.shape.as_list()))
            want = ng.test.compute_gradient(xs, [a.shape for a in inits], y, y_shape,
                                            x_init_value=inits, delta=1e-5)
        assert len(got[name]) == len(want), name
        for (jt, jn), (wt, wn) in zip(got[name], want):
            np.testing.assert_allclose(jt, wt, rtol=0, atol=1e-12, err_msg=name)
            np.testing.assert_allclose(jn, wn, rtol=0, atol=1e-9, err_msg=name)
        assert_jacobians(got[name], tol=1e-6)


def test_wrong_gradient_fails_only_its_case():
    got = _batch([("wrong", [np.array([0.5, -1.5])], _wrong_square)]).jacobians()
    with pytest.raises(AssertionError, match="Jacobian mismatch for input 0"):
        assert_jacobians(got["wrong"], tol=1e-6)
    for name in _CASES:
        assert_jacobians(got[name], tol=1e-6)


def test_build_error_goes_to_its_case():
    def bad(x):
        return ng.matmul(x, x)         # a vector: matmul needs rank 2
    batch = _batch([("bad", [np.array([1.0, 2.0])], bad)])
    got = batch.jacobians()
    assert isinstance(got["bad"], ValueError)
    with pytest.raises(ValueError):
        assert_jacobians(got["bad"], tol=1e-6)
    assert_jacobians(got["reduce"], tol=1e-6)
    with pytest.raises(ValueError, match="added twice"):
        batch.add("reduce", [np.ones(2)], ng.square)


def test_degenerate_check_is_caught():
    got = _batch([("flat", [np.array([1.0, 2.0])], lambda x: x * 0.0)]).jacobians()
    with pytest.raises(AssertionError, match="degenerate"):
        assert_jacobians(got["flat"], tol=1e-6)
