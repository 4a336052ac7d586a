"""numgrad/bench_complex.py: the workload's gradient is right (central differences of its NumPy
forward), and the bench runs and checks its columns against each other."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import bench_complex as bc

pytestmark = pytest.mark.backend_independent    # the bench names its backends


def test_workload_gradient_matches_central_differences():
    n = 6
    a0, b0 = bc.problem(n, seed=3)
    a, b, loss, grads = bc.build_numgrad(ng, n)
    with ng.Session(backend="cpu") as s:
        got = s.run([loss] + grads, {a: a0, b: b0})

    def f(av, bv):
        return bc.loss_of(np, av + 1j * bv)
    assert np.isclose(got[0], f(a0, b0), rtol=1e-13)
    eps = 1e-6
    for k, g in ((0, got[1]), (1, got[2])):
        fd = np.zeros(n)
        for i in range(n):
            d = np.zeros(n)
            d[i] = eps
            up = f(a0 + d, b0) if k == 0 else f(a0, b0 + d)
            dn = f(a0 - d, b0) if k == 0 else f(a0, b0 - d)
            fd[i] = (up - dn) / (2 * eps)
        np.testing.assert_allclose(g, fd, rtol=1e-6, atol=1e-8)


def test_bench_runs_and_its_columns_agree():
    lines = []
    stats = bc.run(n=64, repeats=1, peers=False, out=lines.append)
    assert set(stats) == {"fused", "unfused"}
    assert all(lo <= med for lo, med in stats.values())
    assert lines[0].startswith("complex loss + gradient, n=64")
