"""Runs on a Dask LocalCluster (2 worker processes): values equal the local session's, results
are bit-identical for any number of workers, a killed worker changes nothing."""
import os

import numpy as np
import pytest
from lazy_module import LazyModule, installed

import numgrad as ng

pytestmark = pytest.mark.skipif(not installed("dask", "distributed"),
                                reason="needs dask and distributed")
distributed = LazyModule("distributed")     # imported by the first test that runs
da = LazyModule("dask.array")


@pytest.fixture(scope="module")
def cluster():
    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=None, silence_logs=40)
    yield c
    c.close()


@pytest.fixture(scope="module")
def client(cluster):
    cl = distributed.Client(cluster)
    yield cl
    cl.close()


@pytest.fixture(autouse=True)
def fresh_graph():
    with ng.Graph().as_default() as g:
        yield g


def _data(n=600, d=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    y = (rng.random(n) < 1 / (1 + np.exp(-X @ np.arange(1, d + 1) / d))).astype(np.float64)
    return X, y


def _logistic(d=4):
    X = ng.placeholder(ng.float64, [None, d], name="X")
    y = ng.placeholder(ng.float64, [None], name="y")
    w = ng.Variable(np.linspace(-1, 1, d), name="w")
    b = ng.Variable(np.float64(0.1), name="b")
    z = ng.linalg.matvec(X, w) + b
    loss = ng.reduce_mean(ng.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z))
    return X, y, w, b, z, loss


def _local(fetches, feeds, init=True):
    s = ng.Session()
    if init:
        s.run(ng.global_variables_initializer())
    return s.run(fetches, feeds)


def test_loss_gradients_and_batched_fetch_match_the_local_session(client):
    X, y, w, b, z, loss = _logistic()
    grads = ng.gradients(loss, [w, b])
    Xn, yn = _data()
    ref = _local([loss, grads, z], {X: Xn, y: yn})
    with ng.Session(target=client) as s:
        s.run(ng.global_variables_initializer())
        out = s.run([loss, grads, z], {X: da.from_array(Xn, chunks=(100, 4)),
                                       y: da.from_array(yn, chunks=100)})
    assert isinstance(out[0], np.floating) and out[0] == pytest.approx(ref[0], rel=1e-13)
    np.testing.assert_allclose(out[1][0], ref[1][0], rtol=1e-12)
    np.testing.assert_allclose(out[1][1], ref[1][1], rtol=1e-12)
    # a batched fetch comes back as a dask array chunked like the feed
    assert isinstance(out[2], da.Array) and out[2].chunks == ((100,) * 6,)
    np.testing.assert_allclose(out[2].compute(), ref[2], rtol=1e-13)


def test_two_phases_numpy_feeds_and_uneven_chunks(client):
    X = ng.placeholder(ng.float64, [None, 3], name="X")
    scale = ng.placeholder(ng.float64, [3], name="scale")
    mu = ng.reduce_mean(X, axis=0)
    centred = (X - mu) * scale
    var = ng.reduce_mean(ng.square(centred), axis=0)
    hi = ng.reduce_max(centred, axis=0)
    Xn = np.random.default_rng(1).standard_normal((250, 3)) + 5
    sc = np.array([1.0, 2.0, 0.5])
    ref = _local([mu, var, hi], {X: Xn, scale: sc}, init=False)
    s = ng.Session(target=client)
    Xd = da.from_array(Xn, chunks=((100, 100, 50), (3,)))
    out = s.run([mu, var, hi], {X: Xd, scale: sc})
    for a, r in zip(out, ref):
        np.testing.assert_allclose(a, r, rtol=1e-12)
    # a NumPy feed is shipped once per distinct value, not once per run
    s.run([mu, var, hi], {X: Xd, scale: sc})
    assert len(s._dask._scattered) == 1
    s.run([mu, var, hi], {X: Xd, scale: sc * 2})
    assert len(s._dask._scattered) == 2
    s.close()


def test_results_are_bit_identical_for_one_and_two_workers(client):
    X, y, w, b, z, loss = _logistic()
    grads = ng.gradients(loss, [w, b])
    Xn, yn = _data(900)
    feeds = {X: da.from_array(Xn, chunks=(70, 4)), y: da.from_array(yn, chunks=70)}
    outs = []
    with distributed.LocalCluster(n_workers=1, threads_per_worker=1, processes=False,
                                  dashboard_address=":0", silence_logs=40) as one, \
            distributed.Client(one) as c1:
        for cl in (client, c1):
            with ng.Session(target=cl) as s:
                s.run(ng.global_variables_initializer())
                outs.append(s.run([loss] + grads, feeds))
    for a, b_ in zip(*outs):
        assert np.array_equal(a, b_)


def test_an_optimizer_step_over_a_distributed_loss(client):
    X, y, w, b, z, loss = _logistic()
    step = ng.train.GradientDescentOptimizer(0.5).minimize(loss)
    Xn, yn = _data()
    # the independent reference: the gradient step written out in NumPy
    w0, b0 = np.linspace(-1, 1, 4), 0.1
    zz = Xn @ w0 + b0
    r = (1 / (1 + np.exp(-zz)) - yn) / len(yn)
    w1, b1 = w0 - 0.5 * (Xn.T @ r), b0 - 0.5 * r.sum()
    with ng.Session(target=client) as s:
        s.run(ng.global_variables_initializer())
        _, l0 = s.run([step, loss], {X: da.from_array(Xn, chunks=150),
                                     y: da.from_array(yn, chunks=150)})
        np.testing.assert_allclose(s.run(w), w1, rtol=1e-12)
        assert s.run(b) == pytest.approx(b1, rel=1e-12)
        # make_callable takes dask arrays too
        call = s.make_callable(loss, [X, y])
        l1 = call(da.from_array(Xn, chunks=150), da.from_array(yn, chunks=150))
        assert l1 < l0
        assert call(Xn, yn) == pytest.approx(l1, rel=1e-12)     # NumPy feeds: local


def _kill_once(block, marker):
    """Chunk generator that kills the worker process computing it, the first time only."""
    if block[0, 0] > 1000 and not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(1)
    out = block.copy()
    out[:, 0] -= 10000 * (block[:, 0] > 1000)
    return out


def test_a_worker_killed_mid_run_does_not_change_the_answer(client, tmp_path):
    X, y, w, b, z, loss = _logistic()
    grads = ng.gradients(loss, [w, b])
    Xn, yn = _data(400)
    ref = _local([loss] + grads, {X: Xn, y: yn})
    Xm = Xn.copy()
    Xm[300:, 0] += 10000            # the last chunk is "poisoned": it kills its worker once
    marker = str(tmp_path / "killed")
    Xd = da.from_array(Xm, chunks=(100, 4)).map_blocks(_kill_once, marker, dtype=np.float64)
    with ng.Session(target=client) as s:
        s.run(ng.global_variables_initializer())
        out = s.run([loss] + grads, {X: Xd, y: da.from_array(yn, chunks=100)})
    assert os.path.exists(marker)   # a worker did die
    for a, r in zip(out, ref):
        np.testing.assert_allclose(a, r, rtol=1e-12)


def test_bad_targets_and_feeds(client):
    with pytest.raises(ValueError, match="not supported"):
        ng.Session(target="grpc://localhost:2222")
    X = ng.placeholder(ng.float64, [10, 2], name="fixed")
    with ng.Session(target=client) as s:
        with pytest.raises(ValueError, match="unknown leading"):
            s.run(ng.reduce_sum(X), {X: da.zeros((10, 2), chunks=5)})
        Y = ng.placeholder(ng.float64, [None, 2], name="Y")
        with pytest.raises(ng.scaleout.Unsplittable, match="Cumsum"):
            s.run(ng.reduce_sum(ng.cumsum(Y, axis=0)), {Y: da.zeros((10, 2), chunks=5)})


def test_a_scheduler_address_is_a_target(cluster):
    X = ng.placeholder(ng.float64, [None, 2], name="X")
    with ng.Session(target=cluster.scheduler_address) as s:
        assert s.run(ng.reduce_sum(X), {X: da.ones((10, 2), chunks=3)}) == 20.0


def test_explain_shows_phases_and_what_they_ship(client):
    X, y, w, b, z, loss = _logistic()
    grads = ng.gradients(loss, [w, b])
    Xn, yn = _data()
    with ng.Session(target=client) as s:
        s.run(ng.global_variables_initializer())
        text = ng.explain([loss] + grads, {X: da.from_array(Xn, chunks=150),
                                           y: da.from_array(yn, chunks=150)}, session=s)
    assert "1 phase(s)" in text and "phase 0:" in text
    assert "Mean:0 [mean]" in text and "per-chunk plan" in text


def test_an_interrupted_run_cancels_its_futures(client, monkeypatch):
    X = ng.placeholder(ng.float64, [None, 2], name="X")
    s = ng.Session(target=client)
    seen = []
    compute = client.compute

    def compute_and_remember(*args, **kwargs):
        fut = compute(*args, **kwargs)
        seen.append(fut)
        return fut

    def interrupted(self, *args, **kwargs):      # Ctrl-C while waiting for the result
        raise KeyboardInterrupt
    monkeypatch.setattr(client, "compute", compute_and_remember)
    monkeypatch.setattr(distributed.Future, "result", interrupted)
    slow = da.ones((8, 2), chunks=(1, 2)).map_blocks(_slow_block, dtype=np.float64)
    with pytest.raises(KeyboardInterrupt):
        s.run(ng.reduce_sum(X), {X: slow})
    monkeypatch.undo()
    assert len(seen) == 1 and seen[0].cancelled()
    s.close()


def _slow_block(block):
    import time
    time.sleep(0.5)
    return block


def test_a_small_cnn_loss_and_filter_gradients_over_image_chunks(client):
    rng = np.random.default_rng(3)
    imgs = rng.standard_normal((24, 6, 6, 2))
    labels = np.eye(3)[rng.integers(0, 3, 24)]
    x = ng.placeholder(ng.float64, [None, 6, 6, 2], name="images")
    y = ng.placeholder(ng.float64, [None, 3], name="labels")
    f = ng.Variable(rng.standard_normal((3, 3, 2, 4)) * 0.3, name="filter")
    w = ng.Variable(rng.standard_normal((36, 3)) * 0.3, name="dense")
    h = ng.nn.max_pool(ng.nn.relu(ng.nn.conv2d(x, f, [1, 1, 1, 1], "SAME")), 2, 2, "VALID")
    h = ng.nn.avg_pool(h, 1, 1, "VALID")
    logits = ng.matmul(ng.reshape(h, [-1, 36]), w)
    loss = ng.reduce_mean(ng.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    grads = ng.gradients(loss, [f, w])
    ref = _local([loss] + grads, {x: imgs, y: labels})
    with ng.Session(target=client) as s:
        s.run(ng.global_variables_initializer())
        out = s.run([loss] + grads, {x: da.from_array(imgs, chunks=(8, 6, 6, 2)),
                                     y: da.from_array(labels, chunks=(8, 3))})
    for a, r in zip(out, ref):
        np.testing.assert_allclose(a, r, rtol=1e-11, atol=1e-14)
