"""W10: logistic-regression loss and gradient over row chunks on Dask, numgrad vs peers.

``python -m numgrad.bench_dask [--rows 20000000] [--chunk 1000000] [--workers 2] [--repeats 3]``

X: rows x 16 float64 (standard normal), y: 0/1 labels drawn from a known logistic model;
loss = mean(sigmoid_cross_entropy(y, X w + b)) and its gradient w.r.t. (w, b).

Columns (ms per loss-and-gradient evaluation, min of the repeats):
* ``numgrad local``: ``ng.Session()`` (cpu) on the whole data as in-memory NumPy arrays;
* ``numgrad dask``: ``ng.Session(target=client)`` fed the same data as dask arrays persisted
  on a ``LocalCluster(n_workers, threads_per_worker=1)`` (one phase: every chunk returns the
  loss and gradient partials, 144 bytes);
* ``dask.array by hand``: the loss and the hand-written gradient r = (sigmoid(z) - y) / N,
  gw = Xᵀr, gb = Σr as dask.array expressions, one ``dask.compute``;
* ``phase overhead``: the numgrad dask run on as many 1-row chunks: what a phase costs in
  scheduling, shipping and combining alone.
Every column's loss and gradient are checked against the local numgrad run.
"""
import argparse
import time

import numpy as np

D = 16


def build(ng):
    X = ng.placeholder(ng.float64, [None, D], name="X")
    y = ng.placeholder(ng.float64, [None], name="y")
    w = ng.Variable(np.linspace(-0.5, 0.5, D), name="w")
    b = ng.Variable(np.float64(0.1), name="b")
    z = ng.linalg.matvec(X, w) + b
    loss = ng.reduce_mean(ng.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z))
    return X, y, w, b, loss, ng.gradients(loss, [w, b])


def data(da, rows, chunk, seed=0):
    """(X, y) as dask arrays generated chunk by chunk (never whole in one process)."""
    rng = da.random.default_rng(seed)
    X = rng.standard_normal((rows, D), chunks=(chunk, D))
    true_w = np.linspace(1.0, -1.0, D)
    p = 1 / (1 + np.exp(-(X @ true_w + 0.5)))
    y = (rng.random(rows, chunks=chunk) < p).astype(np.float64)
    return X, y


def hand_dask(da, X, y, w, b):
    z = X @ w + b
    loss = (da.maximum(z, 0) - z * y + da.log1p(da.exp(-abs(z)))).mean()
    r = (1 / (1 + da.exp(-z)) - y) / X.shape[0]
    return loss, X.T @ r, r.sum()


def _best(fn, repeats):
    out, best = None, float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return best * 1e3, out


def run(rows=20_000_000, chunk=1_000_000, workers=2, repeats=3, out=print):
    import dask
    import dask.array as da
    from distributed import Client, LocalCluster

    import numgrad as ng
    results = {}
    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, silence_logs=40) as cluster, \
            Client(cluster) as client, ng.Graph().as_default():
        X, y, w, b, loss, grads = build(ng)
        Xd, yd = data(da, rows, chunk)
        Xd, yd = client.persist([Xd, yd])
        from distributed import wait
        wait([Xd, yd])                  # the data exist on the workers before any timing
        fetch = [loss] + grads
        with ng.Session(target=client) as sess:
            sess.run(ng.global_variables_initializer())
            w0, b0 = sess.run([w, b])
            t_first = time.perf_counter()
            sess.run(fetch, {X: Xd, y: yd})
            t_first = (time.perf_counter() - t_first) * 1e3
            results["numgrad dask"] = _best(lambda: sess.run(fetch, {X: Xd, y: yd}), repeats)
            n_chunks = len(Xd.chunks[0])
            Xt = da.zeros((n_chunks, D), chunks=(1, D))
            yt = da.zeros((n_chunks,), chunks=1)
            sess.run(fetch, {X: Xt, y: yt})
            results["phase overhead"] = _best(lambda: sess.run(fetch, {X: Xt, y: yt}),
                                              repeats)
        results["dask.array by hand"] = _best(
            lambda: dask.compute(*hand_dask(da, Xd, yd, w0, b0)), repeats)
        # the same data in this process, as ordinary (aligned, owned) NumPy arrays
        Xn, yn = (np.require(a, requirements="CA") for a in client.compute([Xd, yd], sync=True))
        with ng.Session() as local:
            local.run(ng.global_variables_initializer())
            local.run(fetch, {X: Xn, y: yn})
            results["numgrad local"] = _best(lambda: local.run(fetch, {X: Xn, y: yn}),
                                             repeats)
        del Xn, yn
    ref = results["numgrad local"][1]
    for name in ("numgrad dask", "dask.array by hand"):
        got = results[name][1]
        assert abs(float(got[0]) - float(ref[0])) <= 1e-9 * abs(float(ref[0])), name
        np.testing.assert_allclose(np.ravel(got[1]), np.ravel(ref[1]), rtol=1e-7, atol=1e-12)
        np.testing.assert_allclose(got[2], ref[2], rtol=1e-7, atol=1e-12)
    local_ms = results["numgrad local"][0]
    out(f"W10 logistic regression, {rows} x {D} float64 in {n_chunks} chunks of {chunk} rows, "
        f"{workers} workers x 1 thread (min of {repeats}; ms per loss + gradient)")
    out(f"{'column':<22}{'ms':>10}{'vs local':>10}")
    for name in ("numgrad local", "numgrad dask", "dask.array by hand", "phase overhead"):
        ms = results[name][0]
        out(f"{name:<22}{ms:>10.1f}{ms / local_ms:>10.2f}")
    per_chunk_rows_s = rows / (results["numgrad dask"][0] - results["phase overhead"][0]) \
        * 1e3 / workers
    out(f"first dask run (compiles on each worker): {t_first:.0f} ms; throughput "
        f"{per_chunk_rows_s / 1e6:.1f} M rows/s per worker")
    return {k: v[0] for k, v in results.items()}


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000_000)
    p.add_argument("--chunk", type=int, default=1_000_000)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args(argv)
    run(a.rows, a.chunk, a.workers, a.repeats)


if __name__ == "__main__":
    main()
