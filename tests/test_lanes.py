"""Lane expansion (numgrad/compiler/lanes.py): groups over (..., L) with a tiny last dim run as
L lanes over lane-major copies of their small inputs.  Checked against the NumPy backend, with
the expansion on and off, and on where it must not apply."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import config
from numgrad.backends import cpu_runners

from ab_switch import assert_close, run_with_switch
from budget import SLOW
from plan_checks import plan_of

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _lane_runners(sess):
    return [r for p in sess._plans.values() for cp in p._compiled.values()
            for r in cp.runners if isinstance(r, cpu_runners.LaneRunner)]


def _run_both(fetches, feed_dict, off=True):
    """(NumPy's results, {True: (cpu results, lane runners)} and, with `off`, the same with
    NUMGRAD_LANES off under False).  A parametrised test turns the switch off in one of its
    cases (in every case with NUMGRAD_SLOW=1): off, every kernel is a plain one (its own
    compile, checked against NumPy throughout the suite), and one case per test shows that
    the switch turns the lanes off and changes no value."""
    if off or SLOW:
        return run_with_switch(fetches, feed_dict, "NUMGRAD_LANES",
                               lambda sess: len(_lane_runners(sess)))
    ref = ng.Session(backend="numpy").run(fetches, feed_dict)
    with config.override(NUMGRAD_LANES=True):
        sess = ng.Session(backend="cpu")
        return ref, {True: (sess.run(fetches, feed_dict), len(_lane_runners(sess)))}


@pytest.mark.parametrize("dtype, lanes_n, reduce", [
    (np.float64, 3, "last"), (np.float32, 3, "last"), (np.float64, 2, "last_keepdims"),
    (np.float64, 4, "rows"), (np.float32, 3, "all"), (np.int32, 3, "last"),
])
def test_pairwise_squared_distances_run_as_lanes(dtype, lanes_n, reduce, rng):
    n = 130                                            # 130 * 130 * lanes >= PARALLEL_MIN
    p = ng.placeholder(dtype, [n, lanes_n])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    sq = d * d
    if reduce == "last":
        r2 = ng.reduce_sum(sq, axis=2)
    elif reduce == "last_keepdims":
        r2 = ng.reduce_sum(sq, axis=-1, keepdims=True)
    elif reduce == "rows":
        r2 = ng.reduce_sum(sq, axis=[1, 2])
    else:
        r2 = ng.reduce_sum(sq)
    fetches = [r2]
    if dtype != np.int32:
        loss = ng.reduce_sum(1.0 / (1.0 + ng.cast(r2, ng.float64)))
        fetches += [loss, ng.gradients(loss, p)[0]]
        v = rng.standard_normal((n, lanes_n)).astype(dtype)
    else:
        v = rng.integers(-50, 50, (n, lanes_n)).astype(dtype)
    # the switch off in the first case only (see _run_both)
    ref, outs = _run_both(fetches, {p: v}, off=(dtype, lanes_n, reduce) == (np.float64, 3, "last"))
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for enabled, (out, n_lane) in outs.items():
        assert_close(ref, out, rtol)
        assert (n_lane >= 1) == enabled


def test_lanes_with_a_constant_a_row_input_and_a_broadcast_lane_input(rng):
    # sum_k w[k] * (x[i, k] - y[j, k])^2 * m[i, j] over k: lane-major copies of x, y and w, the
    # (n, n) mask read as it is, a splat scale.
    n = 128
    x = ng.placeholder(ng.float64, [n, 3])
    y = ng.placeholder(ng.float64, [n, 3])
    m = ng.placeholder(ng.float64, [n, n])
    w = ng.constant(np.array([0.5, 2.0, 3.0]))
    diff = ng.expand_dims(x, 1) - ng.expand_dims(y, 0)
    val = ng.reduce_sum(w * diff * diff * ng.expand_dims(m, 2) * 1.5, axis=2)
    feeds = {x: rng.standard_normal((n, 3)), y: rng.standard_normal((n, 3)),
             m: rng.random((n, n))}
    ref, outs = _run_both([val], feeds)
    for enabled, (out, n_lane) in outs.items():
        assert_close(ref, out, 1e-12)
        assert (n_lane >= 1) == enabled


def test_groups_that_lanes_do_not_fit_keep_their_form(rng):
    n = 110
    p = ng.placeholder(ng.float64, [n, 3])
    big = ng.placeholder(ng.float64, [n, n, 3])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    cases = [
        [d * 2.0],                                      # an output with the lane dim
        [ng.reduce_max(d * d, axis=2)],                 # not a Sum over the lanes
        [ng.reduce_sum(big * d, axis=2)],               # a lane input as big as the loop
    ]
    feeds = {p: rng.standard_normal((n, 3)), big: rng.standard_normal((n, n, 3))}
    for fetches in cases:
        ref, outs = _run_both(fetches, feeds)
        for enabled, (out, n_lane) in outs.items():
            assert_close(ref, out, 1e-12)
            assert n_lane == 0


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_sums_that_keep_the_lanes_are_stacked_back(dtype, rng):
    # Sums over i, over j, over both and a max over j, each keeping the lane dim (with and
    # without keepdims): one reduction per lane in the kernel, stacked back along the last dim.
    n = 130
    p = ng.placeholder(dtype, [n, 3])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    w = ng.exp(-ng.reduce_sum(d * d, axis=2, keepdims=True))
    fetches = [ng.reduce_sum(w * d, axis=1), ng.reduce_sum(w * d, axis=0, keepdims=True),
               ng.reduce_sum(d * d * 2.0, axis=[0, 1]), ng.reduce_max(w * d, axis=1),
               ng.reduce_mean(d * d, axis=0)]
    ref, outs = _run_both(fetches, {p: rng.standard_normal((n, 3)).astype(dtype)},
                          off=dtype == np.float64)
    for enabled, (out, n_lane) in outs.items():
        assert_close(ref, out, 1e-5 if dtype == np.float32 else 1e-12)
        assert (n_lane >= 1) == enabled


def test_lane_kernel_under_threads_and_in_make_callable(rng):
    n = 150
    p = ng.placeholder(ng.float64, [n, 3])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    r2 = ng.reduce_sum(d * d, axis=2) + np.eye(n)
    energy = ng.reduce_sum(1.0 / r2)
    fetches = [energy, ng.gradients(energy, p)[0]]
    sess = ng.Session(backend="cpu")
    f = sess.make_callable(fetches, [p])
    ref = ng.Session(backend="numpy").make_callable(fetches, [p])
    old = ng.get_num_threads() if hasattr(ng, "get_num_threads") else None
    try:
        for threads in (1, 2):
            ng.set_num_threads(threads)
            for _ in range(3):
                v = rng.standard_normal((n, 3)) * 3
                assert_close(ref(v), f(v), 1e-12)
    finally:
        if old is not None:
            ng.set_num_threads(old)
    assert len(_lane_runners(sess)) == 2        # |d|^2, and the force sums


def test_plan_summary_marks_lane_kernels(rng):
    n = 130
    p = ng.placeholder(ng.float64, [n, 3])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    r2 = ng.reduce_sum(d * d, axis=2)
    sess = ng.Session(backend="cpu")
    feed = {p: rng.standard_normal((n, 3))}
    plan = plan_of(r2, feed, sess)
    assert plan.kernel(space=(130, 130, 3)).lanes == 3, plan
    # and the summary (this test's subject) marks that kernel's line
    line = next(ln for ln in sess.plan_summary(r2, feed).splitlines()
                if "kernel space=(130, 130, 3)" in ln)
    assert "lanes=3" in line
