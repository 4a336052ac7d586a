"""bench_loops --nested (numgrad/bench_nested.py): the NumPy adjoint written by hand is the
reference of every column, so it is checked against finite differences; both numgrad columns
must agree with it, the default one with its outer backward loop native."""
import numpy as np
from loop_cases import central_differences as _fd

from numgrad import bench_nested as bn, config
from numgrad.backends import default_backend_name

N, STEPS, INNER = 5, 4, 3


def test_numpy_adjoint_is_the_gradient():
    x0, t = bn.problem(N)

    def loss(a, b, x):
        return bn.loss_numpy(a, b, x, t, STEPS, INNER)[0]
    value, ga, gb, gx = bn.loss_numpy(bn.A, bn.B, x0, t, STEPS, INNER)
    x = x0
    for _ in range(STEPS):                      # implicit Euler by fixed point, from its definition
        y = x
        for _ in range(INNER):
            y = x + bn.DT * (-bn.A * y + bn.B * np.sin(np.roll(y, 1)))
        x = y
    assert np.isclose(value, np.sum((x - t) ** 2))
    np.testing.assert_allclose(ga, _fd(lambda a: loss(a[()], bn.B, x0), bn.A), rtol=1e-6)
    np.testing.assert_allclose(gb, _fd(lambda b: loss(bn.A, b[()], x0), bn.B), rtol=1e-6)
    np.testing.assert_allclose(gx, _fd(lambda x: loss(bn.A, bn.B, x), x0), rtol=1e-6)


def test_run_checks_numgrad_against_numpy():
    # raises where a numgrad column differs from numpy's
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        res = bn.run(STEPS, INNER, N, repeats=1, jax=False, out=lambda s: None)
    assert set(res) == {"numpy", "numgrad", "numgrad-outer-py"}
    if default_backend_name() == "cpu":
        assert res["numgrad"]["outer_backward"] == "native"
        assert res["numgrad-outer-py"]["outer_backward"].startswith("python")
