"""A 2-32-3 MLP classifier on three interleaved spirals, trained with minibatch Adam.

Written as a TF1 script: the parameters are variables made by ``ng.get_variable`` with
initializers (random normal weights, zero biases) under ``ng.set_random_seed``, training is
``ng.train.AdamOptimizer(...).minimize(loss)`` and each minibatch is one
``sess.run([train_op, loss], feed)``.  Loss: mean softmax cross-entropy
(``ng.nn.softmax_cross_entropy_with_logits_v2``).  Every minibatch has the same shape, so one
compiled plan serves the whole run.

Checks: the first few Adam steps are replayed by an independent NumPy implementation (the
MLP's forward and backward pass by hand, plus the textbook Adam update) from the same initial
values and minibatches, and must agree to rounding; then the trained network's loss must
drop below a quarter of the first epoch's and its training accuracy exceed 0.9.  The loss
curve is saved as a PNG when matplotlib is installed (into $NUMGRAD_EXAMPLE_OUT, default the
system temp directory), and printed as a table otherwise.

Run:  python examples/mlp_classifier.py
"""
import os
import tempfile

import numpy as np

import numgrad as ng

N_PER_CLASS = 200
N_CLASSES = 3
HIDDEN = 32
BATCH = 60                  # divides the 600 points: every minibatch has one shape
EPOCHS = 150
LEARNING_RATE = 0.01
REPLAY_STEPS = 5            # Adam steps compared against the NumPy replay


def make_spirals(rng):
    """Three interleaved 2-D spiral arms with a little noise; labels one-hot."""
    xs, ys = [], []
    for k in range(N_CLASSES):
        r = np.linspace(0.05, 1.0, N_PER_CLASS)
        t = np.linspace(0, 4.0, N_PER_CLASS) + k * 2 * np.pi / N_CLASSES
        t = t + rng.normal(0, 0.1, N_PER_CLASS)
        xs.append(np.stack([r * np.sin(t), r * np.cos(t)], axis=1))
        ys.append(np.full(N_PER_CLASS, k))
    x = np.concatenate(xs)
    labels = np.concatenate(ys)
    return x, np.eye(N_CLASSES)[labels], labels


def build_model():
    """Placeholders for the data, variables for the parameters; logits and loss."""
    x = ng.placeholder(ng.float64, [None, 2], name="x")
    y = ng.placeholder(ng.float64, [None, N_CLASSES], name="y")
    with ng.variable_scope("mlp", dtype=ng.float64):
        W1 = ng.get_variable("W1", [2, HIDDEN],
                             initializer=ng.random_normal_initializer(stddev=1.0))
        b1 = ng.get_variable("b1", [HIDDEN], initializer=ng.zeros_initializer())
        W2 = ng.get_variable("W2", [HIDDEN, N_CLASSES],
                             initializer=ng.random_normal_initializer(stddev=HIDDEN ** -0.5))
        b2 = ng.get_variable("b2", [N_CLASSES], initializer=ng.zeros_initializer())
    hidden = ng.tanh(ng.matmul(x, W1) + b1)
    logits = ng.matmul(hidden, W2) + b2
    loss = ng.reduce_mean(ng.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    return x, y, [W1, b1, W2, b2], logits, loss


# --- the independent NumPy replay --------------------------------------------------------

def numpy_loss_and_grads(params, x, y):
    """Mean softmax cross-entropy of the MLP and its parameter gradients, by hand."""
    W1, b1, W2, b2 = params
    h = np.tanh(x @ W1 + b1)
    z = h @ W2 + b2
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    loss = -np.mean(np.sum(y * np.log(p), axis=1))
    dz = (p - y) / len(x)
    dh = (dz @ W2.T) * (1 - h * h)
    return loss, [x.T @ dh, dh.sum(axis=0), h.T @ dz, dz.sum(axis=0)]


class NumpyAdam:
    """Adam on a list of NumPy arrays, in TF1's form: lr_t = lr sqrt(1 - beta2^t) / (1 - beta1^t),
    var -= lr_t m / (sqrt(v) + eps).  As in TF1, the hyperparameters are float32 tensors cast
    to the variables' dtype, and beta1^t, beta2^t are float32 accumulators: with float64
    variables, the rounding of 0.9 or 0.01 to float32 shows at the 1e-9 level, so the replay
    reproduces it to agree to rounding."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        f32 = np.float32
        self.lr, self.beta1, self.beta2, self.eps = (float(f32(h))
                                                     for h in (lr, beta1, beta2, eps))
        self.beta1_power, self.beta2_power = f32(beta1), f32(beta2)
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]

    def step(self, params, grads):
        b1p, b2p = float(self.beta1_power), float(self.beta2_power)
        scale = self.lr * np.sqrt(1 - b2p) / (1 - b1p)
        out = []
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            out.append(p - scale * m / (np.sqrt(v) + self.eps))
        self.beta1_power *= np.float32(self.beta1)
        self.beta2_power *= np.float32(self.beta2)
        return out


def save_or_print_curve(curve):
    """Write the loss curve as a PNG when matplotlib is available; print it otherwise."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed; loss per 25 epochs:")
        for epoch in range(0, len(curve), 25):
            print(f"  epoch {epoch:4d}  loss {curve[epoch]:.4f}")
        return
    out_dir = ng.config.get("NUMGRAD_EXAMPLE_OUT") or tempfile.gettempdir()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "mlp_classifier_loss.png")
    fig, ax = plt.subplots(figsize=(5, 3.5))
    ax.semilogy(curve)
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean training loss")
    ax.set_title("2-32-3 MLP on spirals")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"loss curve saved to {path}")


def main():
    ng.set_random_seed(0)                      # the initializers' draws
    rng = np.random.default_rng(0)             # the data and the minibatch order
    features, onehot, labels = make_spirals(rng)
    x, y, params, logits, loss = build_model()
    train_op = ng.train.AdamOptimizer(LEARNING_RATE).minimize(loss)

    sess = ng.Session()
    sess.run(ng.global_variables_initializer())
    replay = sess.run(params)                  # the initial values, for the NumPy replay
    adam = NumpyAdam(replay, LEARNING_RATE)
    replay_gap = None

    n = len(labels)
    print(f"training a 2-{HIDDEN}-{N_CLASSES} MLP on {n} spiral points: "
          f"{EPOCHS} epochs of minibatch Adam, batch {BATCH}, backend {sess.backend}")
    curve = []
    step = 0
    for epoch in range(EPOCHS):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, BATCH):
            idx = order[start:start + BATCH]
            _, loss_value = sess.run([train_op, loss], {x: features[idx], y: onehot[idx]})
            total += loss_value
            step += 1
            if step <= REPLAY_STEPS:
                ref_loss, ref_grads = numpy_loss_and_grads(replay, features[idx], onehot[idx])
                replay = adam.step(replay, ref_grads)
                assert abs(ref_loss - loss_value) < 1e-12 * abs(ref_loss), (ref_loss, loss_value)
            if step == REPLAY_STEPS:
                replay_gap = max(float(np.abs(a - b).max())
                                 for a, b in zip(sess.run(params), replay))
                print(f"  after {step} Adam steps: max |numgrad - NumPy replay| = "
                      f"{replay_gap:.1e}")
                assert replay_gap < 1e-10, f"Adam trajectory differs by {replay_gap:.1e}"
        curve.append(total / (n // BATCH))
        if epoch % 50 == 0 or epoch == EPOCHS - 1:
            print(f"  epoch {epoch:4d}  mean loss {curve[-1]:.4f}")
    save_or_print_curve(curve)

    accuracy = np.mean(np.argmax(sess.run(logits, {x: features}), axis=1) == labels)
    print(f"training accuracy {accuracy:.3f}")
    assert curve[-1] < 0.25 * curve[0], \
        f"loss did not drop enough: {curve[0]:.3f} -> {curve[-1]:.3f}"
    assert accuracy > 0.9, f"training accuracy {accuracy:.3f} is too low"
    print(f"check passed: first {REPLAY_STEPS} Adam steps match a NumPy replay "
          f"({replay_gap:.0e}), loss {curve[0]:.3f} -> {curve[-1]:.3f} (< 25% of the first "
          f"epoch's), accuracy {accuracy:.3f} > 0.9")


if __name__ == "__main__":
    main()
