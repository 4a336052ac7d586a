"""ng.contrib.opt.ScipyOptimizerInterface against SciPy run directly on NumPy functions."""
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng

optimize = pytest.importorskip("scipy.optimize")


def test_rosenbrock_matches_scipy_on_numpy():
    x = ng.Variable(np.full(4, -1.0), name="x")
    loss = ng.reduce_sum(100.0 * (x[1:] - x[:-1] ** 2) ** 2 + (1.0 - x[:-1]) ** 2)
    steps, losses = [], []
    opt = ng.contrib.opt.ScipyOptimizerInterface(loss, options={"maxiter": 200})
    with ng.Session() as s:
        s.run(x.initializer)
        opt.minimize(s, fetches=[loss], step_callback=steps.append,
                     loss_callback=losses.append)
        got = s.run(x)
    ref = optimize.minimize(lambda z: (optimize.rosen(z), optimize.rosen_der(z)),
                            np.full(4, -1.0), jac=True, method="L-BFGS-B",
                            options={"maxiter": 200})
    np.testing.assert_allclose(got, ref.x, rtol=1e-6, atol=1e-8)
    assert len(steps) == ref.nit and len(losses) == ref.nfev
    assert steps[0].shape == (4,)


def test_float32_least_squares_with_feeds_and_two_variables():
    rng = np.random.default_rng(0)
    A = rng.normal(size=(20, 3)).astype(np.float32)
    y = (A @ np.array([1.0, -2.0, 0.5]) + 0.3).astype(np.float32)
    a = ng.placeholder(ng.float32, [None, 3])
    t = ng.placeholder(ng.float32, [None])
    w = ng.Variable(np.zeros(3, np.float32))
    b = ng.Variable(0.0)
    loss = ng.reduce_mean((ng.reshape(ng.matmul(a, ng.expand_dims(w, 1)), [-1]) + b - t) ** 2)
    opt = ng.contrib.opt.ScipyOptimizerInterface(loss, var_list=[w, b])
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        opt.minimize(s, feed_dict={a: A, t: y})
        wv, bv = s.run([w, b])
    coef, *_ = np.linalg.lstsq(np.c_[A, np.ones(20)].astype(np.float64), y, rcond=None)
    np.testing.assert_allclose(np.r_[wv, bv], coef, atol=2e-4)
    assert wv.dtype == np.float32


def test_bounds_and_equality_constraints():
    x = ng.Variable([2.0, 2.0])
    loss = ng.reduce_sum(x * x)
    with ng.Session() as s:
        s.run(x.initializer)
        ng.contrib.opt.ScipyOptimizerInterface(
            loss, var_to_bounds={x: ([0.5, -np.inf], np.inf)}).minimize(s)
        np.testing.assert_allclose(s.run(x), [0.5, 0.0], atol=1e-7)
        s.run(x.initializer)
        ng.contrib.opt.ScipyOptimizerInterface(
            loss, equalities=[x[0] + x[1] - 1.0], method="SLSQP").minimize(s)
        np.testing.assert_allclose(s.run(x), [0.5, 0.5], atol=1e-6)


def test_errors():
    with pytest.raises(ValueError, match="No variables to optimize"):
        ng.contrib.opt.ScipyOptimizerInterface(ng.constant(1.0))


def test_without_scipy_the_error_says_how_to_install():
    code = ("import sys; sys.modules['scipy'] = None; sys.modules['scipy.optimize'] = None\n"
            "import numgrad as ng\n"
            "x = ng.Variable(1.0)\n"
            "try:\n"
            "    ng.contrib.opt.ScipyOptimizerInterface(x * x)\n"
            "except ImportError as e:\n"
            "    print('IMPORT', e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "IMPORT" in out.stdout and "numgrad[scipy]" in out.stdout, out.stderr
