"""A 2-32-3 MLP classifier on three interleaved spirals, trained with minibatch Adam.

Loss: mean softmax cross-entropy (``ng.nn.softmax_cross_entropy_with_logits_v2``).  The graph
(loss and the gradients of all four parameter arrays) is built once; every minibatch has the
same shape, so one compiled plan serves the whole run.  The loss curve is saved as a PNG when
matplotlib is installed (into $NUMGRAD_EXAMPLE_OUT, default the system temp directory), and
printed as a table otherwise.

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
    """Placeholders for data and parameters; logits, loss and parameter gradients."""
    x = ng.placeholder(ng.float64, [None, 2], name="x")
    y = ng.placeholder(ng.float64, [None, N_CLASSES], name="y")
    params = [ng.placeholder(ng.float64, [2, HIDDEN], name="W1"),
              ng.placeholder(ng.float64, [HIDDEN], name="b1"),
              ng.placeholder(ng.float64, [HIDDEN, N_CLASSES], name="W2"),
              ng.placeholder(ng.float64, [N_CLASSES], name="b2")]
    W1, b1, W2, b2 = params
    hidden = ng.tanh(ng.matmul(x, W1) + b1)
    logits = ng.matmul(hidden, W2) + b2
    loss = ng.reduce_mean(ng.nn.softmax_cross_entropy_with_logits_v2(labels=y, logits=logits))
    return x, y, params, logits, loss, ng.gradients(loss, params)


class Adam:
    """Adam on a list of NumPy arrays (the usual defaults)."""

    def __init__(self, params, lr, beta1=0.9, beta2=0.999, eps=1e-8):
        self.lr, self.beta1, self.beta2, self.eps = lr, beta1, beta2, eps
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, params, grads):
        self.t += 1
        scale = self.lr * np.sqrt(1 - self.beta2 ** self.t) / (1 - self.beta1 ** self.t)
        out = []
        for p, g, m, v in zip(params, grads, self.m, self.v):
            m *= self.beta1
            m += (1 - self.beta1) * g
            v *= self.beta2
            v += (1 - self.beta2) * g * g
            out.append(p - scale * m / (np.sqrt(v) + self.eps))
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
    rng = np.random.default_rng(0)
    features, onehot, labels = make_spirals(rng)
    x, y, params, logits, loss, grads = build_model()

    sess = ng.Session()
    train_step = sess.make_callable([loss] + grads, [x, y] + params)
    predict = sess.make_callable(logits, [x] + params)

    values = [rng.normal(0, 1.0, (2, HIDDEN)), np.zeros(HIDDEN),
              rng.normal(0, 1.0 / np.sqrt(HIDDEN), (HIDDEN, N_CLASSES)), np.zeros(N_CLASSES)]
    adam = Adam(values, LEARNING_RATE)
    n = len(labels)
    print(f"training a 2-{HIDDEN}-{N_CLASSES} MLP on {n} spiral points: "
          f"{EPOCHS} epochs of minibatch Adam, batch {BATCH}, backend {sess.backend}")
    curve = []
    for epoch in range(EPOCHS):
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, BATCH):
            idx = order[start:start + BATCH]
            loss_value, *g = train_step(features[idx], onehot[idx], *values)
            values = adam.step(values, g)
            total += loss_value
        curve.append(total / (n // BATCH))
        if epoch % 50 == 0 or epoch == EPOCHS - 1:
            print(f"  epoch {epoch:4d}  mean loss {curve[-1]:.4f}")
    save_or_print_curve(curve)

    accuracy = np.mean(np.argmax(predict(features, *values), axis=1) == labels)
    print(f"training accuracy {accuracy:.3f}")
    assert curve[-1] < 0.25 * curve[0], \
        f"loss did not drop enough: {curve[0]:.3f} -> {curve[-1]:.3f}"
    assert accuracy > 0.9, f"training accuracy {accuracy:.3f} is too low"
    print(f"check passed: loss {curve[0]:.3f} -> {curve[-1]:.3f} (< 25% of the first epoch's), "
          f"accuracy {accuracy:.3f} > 0.9")


if __name__ == "__main__":
    main()
