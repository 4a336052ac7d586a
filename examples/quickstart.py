"""numgrad quick start: a tiny logistic-regression model, its loss and gradients, and a check of
those gradients against central finite differences.

Run:  python examples/quickstart.py
"""
import numpy as np

import numgrad as ng


def main():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(32, 3))
    labels = (features @ np.array([1.5, -2.0, 0.5]) > 0).astype(np.float64)

    # Build the graph once: placeholders for data and parameters, a loss, its gradients.
    x = ng.placeholder(ng.float64, shape=[None, 3], name="x")
    y = ng.placeholder(ng.float64, shape=[None], name="y")
    w = ng.placeholder(ng.float64, shape=[3], name="w")
    b = ng.placeholder(ng.float64, shape=[], name="b")
    logits = ng.reduce_sum(x * w, axis=1) + b
    loss = ng.reduce_mean(ng.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
    grad_w, grad_b = ng.gradients(loss, [w, b])

    w0, b0 = np.array([0.1, 0.2, -0.3]), np.array(0.05)
    with ng.Session() as sess:
        feed = {x: features, y: labels, w: w0, b: b0}
        loss_value, gw, gb = sess.run([loss, grad_w, grad_b], feed_dict=feed)
        print(f"backend: {sess.backend}")
        print(f"loss = {loss_value:.6f}")
        print(f"dloss/dw = {np.round(gw, 6)}")
        print(f"dloss/db = {gb:.6f}")

        # Central finite differences of the same loss, one parameter at a time.
        eps = 1e-6
        fd = []
        params = np.append(w0, b0)
        for i in range(params.size):
            step = np.zeros_like(params)
            step[i] = eps
            up = sess.run(loss, {x: features, y: labels, w: (params + step)[:3], b: (params + step)[3]})
            dn = sess.run(loss, {x: features, y: labels, w: (params - step)[:3], b: (params - step)[3]})
            fd.append((up - dn) / (2 * eps))
    err = np.max(np.abs(np.append(gw, gb) - np.array(fd)))
    print(f"max |symbolic - finite difference| = {err:.2e}")
    if err > 1e-6:
        raise SystemExit("gradient check FAILED")
    print("gradient check passed")


if __name__ == "__main__":
    main()
