"""Logistic regression trained by full-batch gradient descent on two Gaussian blobs.

Written as a TF1 script: the weights and bias are ``ng.Variable``s, training is
``ng.train.GradientDescentOptimizer(...).minimize(loss)`` and every step is one
``sess.run([train_op, loss], feed)`` (the update runs inside the compiled plan; the
variables stay in the Session).  Before training, the gradient with respect to the weight
variable is checked against central finite differences (``ng.test.compute_gradient_error``);
after training, the weights are compared with the same number of gradient-descent steps
written independently in NumPy (hand-derived gradient of the cross-entropy).

Run:  python examples/logistic_regression.py
"""
import numpy as np

import numgrad as ng

N_PER_CLASS = 200
N_FEATURES = 2
LEARNING_RATE = 0.5
STEPS = 300
PRINT_EVERY = 50


def make_blobs(rng):
    """Two Gaussian blobs (unit variance) centred at -1.5 and +1.5 on every axis."""
    centres = np.array([-1.5, 1.5])
    x = np.concatenate([rng.normal(c, 1.0, size=(N_PER_CLASS, N_FEATURES)) for c in centres])
    y = np.repeat([0.0, 1.0], N_PER_CLASS)
    return x, y


def numpy_gradient_descent(x, y, steps, lr):
    """The same full-batch gradient descent, independent of numgrad."""
    w, b = np.zeros(x.shape[1]), 0.0
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-(x @ w + b)))          # d(mean BCE)/d logits = (p - y) / n
        w = w - lr * x.T @ (p - y) / len(y)
        b = b - lr * np.mean(p - y)
    return w, b


def main():
    rng = np.random.default_rng(0)
    features, labels = make_blobs(rng)

    # Graph: mean binary cross-entropy of a linear model, and a gradient-descent step.
    x = ng.placeholder(ng.float64, shape=[None, N_FEATURES], name="x")
    y = ng.placeholder(ng.float64, shape=[None], name="y")
    w = ng.Variable(ng.zeros([N_FEATURES], ng.float64), name="w")
    b = ng.Variable(0.0, dtype=ng.float64, name="b")
    logits = ng.reduce_sum(x * w, axis=1) + b
    loss = ng.reduce_mean(ng.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=logits))
    train_op = ng.train.GradientDescentOptimizer(LEARNING_RATE).minimize(loss)

    sess = ng.Session()
    sess.run(ng.global_variables_initializer())
    feed = {x: features, y: labels}

    # Gradient check once, at a random point (TF's compute_gradient_error: max |J_sym - J_fd|);
    # the weight variable's value is fed, so its stored value is untouched.
    with sess.as_default():
        err = ng.test.compute_gradient_error(
            w, [N_FEATURES], loss, [], x_init_value=rng.normal(size=N_FEATURES),
            delta=1e-5, extra_feed_dict={x: features, y: labels, b: np.array(0.3)})
    print(f"gradient check: max |symbolic - finite difference| = {err:.2e}")
    assert err < 1e-7, f"gradient check failed: error {err:.2e}"

    print(f"training {STEPS} steps of full-batch gradient descent on {len(labels)} points "
          f"(sess.run([train_op, loss]))")
    for i in range(STEPS):
        _, loss_value = sess.run([train_op, loss], feed)   # loss before this step's update
        if i % PRINT_EVERY == 0:
            print(f"  step {i:4d}  loss {loss_value:.5f}")
    loss_value = sess.run(loss, feed)
    print(f"  step {STEPS:4d}  loss {loss_value:.5f}")
    weights, bias = sess.run([w, b])

    ref_w, ref_b = numpy_gradient_descent(features, labels, STEPS, LEARNING_RATE)
    diff = max(np.abs(weights - ref_w).max(), abs(float(bias) - ref_b))
    print(f"max |numgrad - NumPy gradient descent| after {STEPS} steps: {diff:.1e}")
    assert diff < 1e-10, f"trained parameters differ from NumPy gradient descent by {diff:.1e}"

    predicted = (features @ weights + bias) > 0
    accuracy = np.mean(predicted == (labels > 0.5))
    print(f"weights {np.round(weights, 3)}, bias {float(bias):.3f}, accuracy {accuracy:.3f}")
    # The blobs are 3*sqrt(2) standard deviations apart: the Bayes accuracy is about 98%.
    assert accuracy > 0.95, f"accuracy {accuracy:.3f} is too low"
    assert loss_value < 0.1, f"final loss {loss_value:.4f} is too high"
    print(f"check passed: gradient error {err:.1e} < 1e-7, matches NumPy gradient descent to "
          f"{diff:.0e}, accuracy {accuracy:.3f} > 0.95")


if __name__ == "__main__":
    main()
