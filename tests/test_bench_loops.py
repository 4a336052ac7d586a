"""W7 (numgrad/bench_loops.py): the NumPy adjoint written by hand is the reference of every
column, so it is checked against finite differences; numgrad and the peers (when installed)
must agree with it."""
import numpy as np
from loop_cases import central_differences as _fd
import pytest

from numgrad import bench_loops as bl

N, STEPS = 6, 12


def test_numpy_adjoint_is_the_gradient():
    x0, t = bl.problem(N)
    x0 = x0 + np.linspace(-1, 1, N)           # away from the fixed point: every term matters
    loss, gf, gx = bl.loss_numpy(bl.FORCING, x0, t, STEPS)
    assert np.isclose(loss, np.sum((_final(bl.FORCING, x0) - t) ** 2))
    np.testing.assert_allclose(gf, _fd(lambda f: bl.loss_numpy(f[()], x0, t, STEPS)[0],
                                       bl.FORCING), rtol=1e-6)
    np.testing.assert_allclose(gx, _fd(lambda x: bl.loss_numpy(bl.FORCING, x, t, STEPS)[0], x0),
                               rtol=1e-6)


def _final(f, x):
    for _ in range(STEPS):                     # RK4 from its definition
        k1 = bl._rhs(x, f)
        k2 = bl._rhs(x + bl.DT / 2 * k1, f)
        k3 = bl._rhs(x + bl.DT / 2 * k2, f)
        k4 = bl._rhs(x + bl.DT * k3, f)
        x = x + bl.DT / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return x


def test_rhs_is_lorenz96():
    x = np.arange(5.0)
    want = [(x[(i + 1) % 5] - x[i - 2]) * x[i - 1] - x[i] + 3.0 for i in range(5)]
    np.testing.assert_allclose(bl._rhs(x, 3.0), want)


def test_run_checks_numgrad_against_numpy():
    res = bl.run(steps=STEPS, repeats=1, peers=(), cold=False, out=lambda s: None)
    assert set(res) == {"numpy", "numgrad", "numgrad-pyloop", "numgrad-interp"}
    assert res["numgrad"]["ms"] > 0 and res["numgrad"]["first_s"] > 0


def test_ab_plan_checks_both_ways_against_numpy():
    # raises where the two ways differ (beyond the loss's last bits) or differ from numpy
    res = bl.run_ab_plan(steps=STEPS, repeats=1, out=lambda s: None)
    assert set(res) == {"loops in plan", "loops from Python"}
    assert all(r["ms"] > 0 for r in res.values())


@pytest.mark.parametrize("peer", ["tf1", "jax", "torch"])
def test_peers_agree_with_numpy(peer):
    pytest.importorskip({"tf1": "tensorflow", "jax": "jax", "torch": "torch"}[peer])
    x0, t = bl.problem(N)
    bl._check(peer, bl.PEERS[peer](x0, t, STEPS)(), bl.loss_numpy(bl.FORCING, x0, t, STEPS))


def test_map_benchmark_checks_threads_against_one_thread():
    """bench_loops --map: its threaded column runs on numgrad's threads, and run_map checks
    it bit for bit against one thread and against NumPy (it raises otherwise)."""
    import numgrad as ng
    from numgrad import config, threads
    if ng.backends.default_backend_name() != "cpu":
        pytest.skip("native loops run on the cpu backend")
    old = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0, NUMGRAD_BACKGROUND_COMPILE=False):
            res = bl.run_map([12], repeats=1, out=lambda line: None)
    finally:
        threads.set_num_threads(old)
    assert res[12]["threads"] == 2
    assert set(res[12]) == {"numgrad-1thread", "numgrad-threads", "numpy", "threads"}


def test_map_grad_benchmark_numpy_column_is_the_gradient():
    """bench_loops --map-grad: the hand-written NumPy gradient (the reference run() checks
    numgrad's columns against) agrees with finite differences."""
    from numgrad import bench_map_grad as bm
    xv, wv = bm._inputs(5)
    _, gx, gw = bm.numpy_call(xv, wv)
    np.testing.assert_allclose(gx, _fd(lambda x: bm.numpy_call(x, wv)[0], xv), rtol=1e-6)
    np.testing.assert_allclose(gw, _fd(lambda w: bm.numpy_call(xv, w)[0], wv), rtol=1e-6)


def test_map_grad_benchmark_runs_both_gradients_and_reports_their_history():
    import numgrad as ng
    from numgrad import bench_map_grad as bm
    from numgrad import config
    if ng.backends.default_backend_name() != "cpu":
        pytest.skip("native loops run on the cpu backend")
    with config.override(NUMGRAD_BACKGROUND_COMPILE=False):
        res = bm.run([6], repeats=1, before_max=6, out=lambda line: None)
    assert set(res[6]) == {"lean", "lean-1thread", "before", "numpy"}
    assert res[6]["lean"]["history_bytes"] == 6 * 4                     # the counter
    assert res[6]["before"]["history_bytes"] == 6 * (4 + 6 * bm.WIDTH * 8)
