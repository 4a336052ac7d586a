"""Logistic regression by L-BFGS over a dataset larger than any Dask worker's memory.

The data (8 features, 4 million rows, 256 MiB of float64 features) is generated chunk by chunk
on the workers of a LocalCluster whose workers may hold 400 MB each (the limit counts the
Python process too); it is never gathered.  Each L-BFGS evaluation is one phase: every chunk
computes its partial loss and gradient, and Dask combines them.  The fitted coefficients are
checked against the ones that generated the labels.

    python examples/dask_logistic_regression.py [--rows 4000000] [--workers 2]
"""
import argparse

import numpy as np

import numgrad as ng

D = 8


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--rows", type=int, default=4_000_000)
    p.add_argument("--chunk", type=int, default=250_000)
    p.add_argument("--workers", type=int, default=2)
    a = p.parse_args()

    import dask.array as da
    from distributed import Client, LocalCluster

    true_w = np.linspace(1.5, -1.5, D)
    true_b = -0.5

    cluster = LocalCluster(n_workers=a.workers, threads_per_worker=1, memory_limit="400MB",
                           dashboard_address=None, silence_logs=40)
    client = Client(cluster)
    rng = da.random.default_rng(42)
    X = rng.standard_normal((a.rows, D), chunks=(a.chunk, D))
    y = (rng.random(a.rows, chunks=a.chunk) < 1 / (1 + np.exp(-(X @ true_w + true_b))))
    y = y.astype(np.float64)
    print(f"data: {a.rows} rows x {D} features, {X.nbytes / 2**20:.0f} MiB, "
          f"{X.numblocks[0]} chunks; worker memory limit 400 MB")

    Xp = ng.placeholder(ng.float64, [None, D], name="X")
    yp = ng.placeholder(ng.float64, [None], name="y")
    w = ng.Variable(np.zeros(D), name="w")
    b = ng.Variable(np.float64(0.0), name="b")
    logits = ng.linalg.matvec(Xp, w) + b
    loss = ng.reduce_mean(ng.nn.sigmoid_cross_entropy_with_logits(labels=yp, logits=logits))
    opt = ng.contrib.opt.ScipyOptimizerInterface(loss, options={"maxiter": 50})

    evaluations = []
    with ng.Session(target=client) as sess:
        sess.run(ng.global_variables_initializer())
        feed = {Xp: X, yp: y}
        with ng.scaleout.progress(sess):
            print(f"initial loss {sess.run(loss, feed):.6f}")
        opt.minimize(sess, feed_dict=feed, fetches=[loss],
                     loss_callback=lambda l: evaluations.append(l))
        w_fit, b_fit = sess.run([w, b])
        final = sess.run(loss, feed)
    client.close()
    cluster.close()

    print(f"L-BFGS: {len(evaluations)} loss-and-gradient evaluations, final loss {final:.6f}")
    print("fitted w:", np.round(w_fit, 3), " b:", round(float(b_fit), 3))
    print("true   w:", true_w, " b:", true_b)
    # the maximum-likelihood estimate from 4e6 rows is within a few 1e-3 of the truth
    err = max(np.max(np.abs(w_fit - true_w)), abs(b_fit - true_b))
    assert err < 0.02, err
    print(f"coefficients recovered (max error {err:.4f})")


if __name__ == "__main__":
    main()
