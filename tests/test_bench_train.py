"""W6-train (numgrad/bench_train.py): the PINN's Adam step is the Adam formula applied to the
gradients of the same graph; the peers (when installed) start from the same loss."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import bench_train as bt

SMALL = dict(n_u=8, n_f=32, layers=(2, 6, 6, 1))


@pytest.fixture(autouse=True)
def short_timings(monkeypatch):
    """--quick's timings without its minimum seconds (3 calls each, 12 for an A/B): the tests
    check the columns, not the times."""
    monkeypatch.setattr(bt, "QUICK", (3, 0.0))


def test_one_train_step_is_adam_on_the_gradients():
    weights, data = bt.problem(**SMALL)
    loss, variables, ph = bt.build_numgrad(ng, weights)
    grads = ng.gradients(loss, variables)
    train = ng.train.AdamOptimizer(bt.LR, bt.BETA1, bt.BETA2, bt.EPS).minimize(loss)
    feed = {ph[k]: data[k] for k in ph}
    with ng.Session() as sess:
        sess.run(ng.global_variables_initializer())
        before = sess.run(variables)
        g = sess.run(grads, feed)
        l0 = sess.run([train, loss], feed)[1]
        after = sess.run(variables)
        l1 = sess.run(loss, feed)
    lr_t = bt.LR * np.sqrt(1 - bt.BETA2) / (1 - bt.BETA1)
    for w0, gi, w1 in zip(before, g, after):
        m = (1 - bt.BETA1) * gi
        v = (1 - bt.BETA2) * gi * gi
        np.testing.assert_allclose(w1, w0 - lr_t * m / (np.sqrt(v) + bt.EPS), rtol=1e-5,
                                   atol=1e-6)
    assert l1 < l0


def test_numgrad_calls_and_run_table():
    # The small network of the test above: its kernels are compiled once for both tests (the
    # full 10-layer network compiles ~135 more kernels, ~35 s cold, for the same row check).
    row = bt.run(quick=True, peers=(), n_f=SMALL["n_f"], layers=SMALL["layers"])
    assert row["grads_ms"] > 0 and row["train_ms"] > 0
    assert row["train_over_grads"] == pytest.approx(row["train_ms"] / row["grads_ms"])


@pytest.mark.parametrize("peer", ["tf1", "jax"])
def test_peers_start_from_numgrads_loss_and_gradients(peer):
    pytest.importorskip({"tf1": "tensorflow", "jax": "jax"}[peer])
    from numgrad import bench_w6
    weights, data = bt.problem(**SMALL)
    grads, _ = bt.numgrad_callables(weights, data)
    ref = [np.asarray(o) for o in grads()]
    bench_w6.check_first(peer, bt.peer_calls(peer, weights, data), ref)   # raises if they differ


def test_interop_ab_columns():
    row = bt.run(quick=True, peers=(), n_f=SMALL["n_f"], layers=SMALL["layers"],
                 ab_interop=True)
    for name in ("grads_off", "grads_auto", "train_off", "train_auto"):
        assert 0 < row[f"{name}_min"] <= row[f"{name}_med"]


def test_rows_ab_alternates_the_row_lanes_switch():
    # the calls themselves are stand-ins: what --ab-rows adds is the switch's alternation
    from numgrad.backends import cpu_rowblock
    seen = []

    def call():
        seen.append(cpu_rowblock.MODE)
    row = bt.rows_ab(call, call, repeat=3, min_time=0.0)
    for name in ("grads_off", "grads_on", "train_off", "train_on"):
        assert 0 < row[f"{name}_min"] <= row[f"{name}_med"]
    # 12 warm-up calls of each in "on", then rounds of grads off, grads on, train off,
    # train on
    assert seen[:24] == ["on"] * 24
    assert seen[24:] == ["off", "on"] * ((len(seen) - 24) // 2) and len(seen) >= 36
