"""A physics-informed neural network (PINN) for the viscous Burgers equation, TF1 style.

    u_t + u u_x = nu u_xx,   x in [-1, 1], t in [0, 1],
    u(0, x) = -sin(pi x),    u(t, -1) = u(t, 1) = 0.

The network u(t, x) is a tanh MLP [2, 20, 20, 20, 1] whose weights are ``ng.get_variable``s
with ``ng.contrib.layers.xavier_initializer`` (biases zero), seeded by ``ng.set_random_seed``.
The derivatives in the residual f = u_t + u u_x - nu u_xx come from ``ng.gradients``
(u_t, u_x = gradients(u, [t, x]); u_xx = gradients(u_x, x)); the loss is
mean((u - u_data)^2) on the initial and boundary points plus mean(f^2) on random collocation
points.  Training is Raissi et al.'s recipe: ``ng.train.AdamOptimizer`` for a while, then
``ng.contrib.opt.ScipyOptimizerInterface`` (SciPy's L-BFGS-B) to finish.

The check uses an independent reference: the Cole-Hopf closed form of the solution,
    u(t, x) = -int sin(pi (x - e)) F(x - e) G(e) de / int F(x - e) G(e) de,
    F(y) = exp(-cos(pi y) / (2 pi nu)),  G(e) = exp(-e^2 / (4 nu t)),
integrated by Gauss-Hermite quadrature (e = sqrt(4 nu t) z, 150 nodes, checked against 250),
on a 101 x 201 grid of (t, x).

Choices and tolerance.  The classic nu = 0.01/pi problem needs tens of thousands of L-BFGS
iterations to resolve its shock; here nu = 0.05/pi gives a steep but resolvable front at
x = 0 that this small network learns with 500 Adam steps and 1,500 L-BFGS-B iterations on
2,000 collocation points (about 2,100 loss-and-gradient evaluations), so the script runs in
20-50 s on two busy cores (warm compile cache).  float64 throughout, so that L-BFGS-B's line
search keeps making progress to small losses.  With the fixed seed the relative L2 error
reached is 2.3e-3 (max abs error 7e-3, at the front); seeds 1, 2, 3 gave 6.3e-3, 1.9e-3,
2.1e-3.  The asserted bound, TOLERANCE = 2e-2, leaves a factor ~9 for the fixed seed and ~3
for the worst seed tried.  Without SciPy the L-BFGS phase is replaced by 3,000 Adam steps in
all (reached 2.4e-2) and the bound is 1e-1.

Quick mode (``--quick``, what the test suite runs): 200 Adam steps and 200 L-BFGS-B
iterations, a fifth of the training's evaluations, on the same network and points.  The
solution is then rough (relative L2 error 0.11 with the fixed seed) and the check is looser
but still one an untrained or wrongly differentiated network fails: the loss falls by a
factor QUICK_LOSS_DROP = 100 from its initial value (reached: 375), the PDE residual mean(f^2)
on the collocation points is below QUICK_RESIDUAL = 1e-2 (reached: 4.3e-3), the gradients
are finite, and the relative L2 error against Cole-Hopf is below QUICK_TOLERANCE = 0.25
(reached: 0.11).  Stopped after one L-BFGS-B iteration and no Adam step, the network fails
all three bounds: loss down 7.5x, residual 3.3e-2, error 0.86.  Without SciPy the quick mode
runs the 3,000 Adam steps of the full run.

A plot of the prediction, the reference and the error is saved when matplotlib is installed
(into $NUMGRAD_EXAMPLE_OUT, default the system temp directory); a table is printed otherwise.

Run:  python examples/pinn_burgers.py [--quick]
"""
import argparse
import os
import tempfile
import time

import numpy as np

import numgrad as ng

NU = 0.05 / np.pi
LAYERS = [2, 20, 20, 20, 1]
N_INITIAL = 200             # points on t = 0
N_BOUNDARY = 100            # points on x = +-1
N_COLLOCATION = 2000        # residual points in the interior
ADAM_STEPS = 500
ADAM_STEPS_WITHOUT_SCIPY = 3000
ADAM_LEARNING_RATE = 3e-3
LBFGS_MAXITER = 1500
LBFGS_MAXCOR = 20
PRINT_EVERY = 500
TOLERANCE = 2e-2            # relative L2 error bound with L-BFGS (reached: 2.3e-3)
ADAM_ONLY_TOLERANCE = 1e-1  # the bound when SciPy is missing (reached: 2.4e-2)
QUICK_ADAM_STEPS = 200      # --quick: the test suite's shorter training
QUICK_LBFGS_MAXITER = 200
QUICK_LOSS_DROP = 100       # --quick: the loss falls by this factor at least (reached: 375)
QUICK_RESIDUAL = 1e-2       # --quick: mean(f^2) on the collocation points (reached: 4.3e-3)
QUICK_TOLERANCE = 0.25      # --quick: relative L2 error bound (reached: 0.11)
DTYPE = ng.float64
SEED = 1234


# --- the independent reference: Cole-Hopf + Gauss-Hermite --------------------------------

def burgers_reference(t, x, nu=NU, nodes=150):
    """u(t, x) on the grid t (T,) x x (X,) -> (T, X), by the Cole-Hopf formula."""
    z, w = np.polynomial.hermite.hermgauss(nodes)         # int exp(-z^2) f(z) dz ~ sum w f(z)
    out = np.empty((len(t), len(x)))
    for i, ti in enumerate(t):
        if ti == 0:
            out[i] = -np.sin(np.pi * x)
            continue
        eta = np.sqrt(4 * nu * ti) * z                     # (nodes,)
        y = x[:, None] - eta[None, :]                      # (X, nodes)
        # F(y) up to a constant factor (which cancels): exp(-(cos(pi y) + 1) / (2 pi nu)) <= 1
        f = w * np.exp(-(np.cos(np.pi * y) + 1) / (2 * np.pi * nu))
        out[i] = -np.sum(np.sin(np.pi * y) * f, axis=1) / np.sum(f, axis=1)
    return out


# --- the PINN, as a TF1 user writes it ----------------------------------------------------

def neural_net(inputs):
    """tanh MLP on inputs scaled to [-1, 1]; variables created once in scope 'net'."""
    h = inputs
    with ng.variable_scope("net", reuse=ng.AUTO_REUSE):
        for i, (n_in, n_out) in enumerate(zip(LAYERS[:-1], LAYERS[1:])):
            w = ng.get_variable(f"W{i}", [n_in, n_out], dtype=DTYPE,
                                initializer=ng.contrib.layers.xavier_initializer(dtype=DTYPE))
            b = ng.get_variable(f"b{i}", [1, n_out], dtype=DTYPE,
                                initializer=ng.zeros_initializer())
            h = ng.matmul(h, w) + b
            if i < len(LAYERS) - 2:
                h = ng.tanh(h)
    return h


def u_net(t, x):
    return neural_net(ng.concat([2.0 * t - 1.0, x], 1))   # t in [0, 1] -> [-1, 1]


def build_graph():
    ph = {k: ng.placeholder(DTYPE, [None, 1], name=k) for k in ("t_u", "x_u", "u", "t_f", "x_f")}
    u_pred = u_net(ph["t_u"], ph["x_u"])
    u = u_net(ph["t_f"], ph["x_f"])
    u_t, u_x = ng.gradients(u, [ph["t_f"], ph["x_f"]])
    u_xx, = ng.gradients(u_x, ph["x_f"])
    f = u_t + u * u_x - NU * u_xx
    loss_u = ng.reduce_mean(ng.square(ph["u"] - u_pred))
    loss_f = ng.reduce_mean(ng.square(f))
    return ph, u_pred, loss_u, loss_f


def training_data(rng):
    """Initial and boundary points with their values; collocation points."""
    x0 = rng.uniform(-1, 1, (N_INITIAL, 1))
    tb = rng.uniform(0, 1, (N_BOUNDARY, 1))
    xb = np.where(rng.random((N_BOUNDARY, 1)) < 0.5, -1.0, 1.0)
    t_u = np.concatenate([np.zeros_like(x0), tb])
    x_u = np.concatenate([x0, xb])
    u = np.concatenate([-np.sin(np.pi * x0), np.zeros_like(tb)])
    t_f = rng.uniform(0, 1, (N_COLLOCATION, 1))
    x_f = rng.uniform(-1, 1, (N_COLLOCATION, 1))
    return {"t_u": t_u, "x_u": x_u, "u": u, "t_f": t_f, "x_f": x_f}


def save_or_print(t, x, pred, ref):
    """Plot prediction, reference and error when matplotlib is available; else a table."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed; u at a few points (PINN / Cole-Hopf):")
        cols = [np.argmin(np.abs(x - v)) for v in (-0.5, -0.1, 0.0, 0.1, 0.5)]
        print("      t " + "".join(f"       x = {x[j]:+.1f}     " for j in cols))
        for i in [np.argmin(np.abs(t - v)) for v in (0.0, 0.25, 0.5, 0.75, 1.0)]:
            print(f"   {t[i]:.2f} " + "".join(f"  {pred[i, j]:+.4f} / {ref[i, j]:+.4f}"
                                         for j in cols))
        return
    out_dir = ng.config.get("NUMGRAD_EXAMPLE_OUT") or tempfile.gettempdir()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "pinn_burgers.png")
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.6))
    extent = [t[0], t[-1], x[0], x[-1]]
    for ax, data, title in ((axes[0], pred, "PINN u(t, x)"), (axes[1], ref, "Cole-Hopf u(t, x)"),
                            (axes[2], np.abs(pred - ref), "|PINN - Cole-Hopf|")):
        im = ax.imshow(data.T, origin="lower", aspect="auto", extent=extent, cmap="viridis"
                       if ax is axes[2] else "RdBu_r")
        ax.set_xlabel("t")
        ax.set_ylabel("x")
        ax.set_title(title)
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"plot saved to {path}")


def main(quick=False):
    start = time.perf_counter()
    ng.set_random_seed(SEED)                   # the Xavier draws
    rng = np.random.default_rng(SEED)          # the training points
    data = training_data(rng)
    ph, u_pred, loss_u, loss_f = build_graph()
    loss = loss_u + loss_f
    train_op = ng.train.AdamOptimizer(ADAM_LEARNING_RATE).minimize(loss)
    maxiter = QUICK_LBFGS_MAXITER if quick else LBFGS_MAXITER
    try:
        lbfgs = ng.contrib.opt.ScipyOptimizerInterface(
            loss, method="L-BFGS-B",
            options={"maxiter": maxiter, "maxfun": 2 * maxiter,
                     "maxcor": LBFGS_MAXCOR, "maxls": 50, "ftol": np.finfo(float).eps,
                     "gtol": 1e-12})
        adam_steps = QUICK_ADAM_STEPS if quick else ADAM_STEPS
    except ImportError as e:
        lbfgs = None
        adam_steps = ADAM_STEPS_WITHOUT_SCIPY
        print(f"SciPy is not installed: no L-BFGS phase, {adam_steps} Adam steps instead and "
              f"the looser bound {ADAM_ONLY_TOLERANCE:.0e} ({e})")
    feed = {ph[k]: v for k, v in data.items()}

    sess = ng.Session()
    sess.run(ng.global_variables_initializer())
    initial_loss = sess.run(loss, feed)
    print(f"Burgers PINN: nu = {NU:.5f}, net {LAYERS}, {N_INITIAL + N_BOUNDARY} initial/boundary"
          f" points, {N_COLLOCATION} collocation points, {DTYPE.name}")
    for i in range(adam_steps):
        _, loss_value = sess.run([train_op, loss], feed)
        if i % PRINT_EVERY == 0:
            print(f"  Adam step {i:5d}  loss {loss_value:.3e}")
    print(f"  Adam done: loss {sess.run(loss, feed):.3e} ({time.perf_counter() - start:.1f} s)")

    if lbfgs is not None:
        calls = [0]

        def report(loss_value, lu, lf):
            calls[0] += 1
            if calls[0] % PRINT_EVERY == 0:
                print(f"  L-BFGS evaluation {calls[0]:5d}  loss {loss_value:.3e} "
                      f"(data {lu:.2e}, residual {lf:.2e})")
        lbfgs.minimize(sess, feed_dict=feed, fetches=[loss, loss_u, loss_f],
                       loss_callback=report)
        print(f"  L-BFGS done after {calls[0]} evaluations: loss {sess.run(loss, feed):.3e} "
              f"({time.perf_counter() - start:.1f} s)")

    t = np.linspace(0, 1, 101)
    x = np.linspace(-1, 1, 201)
    tt, xx = np.meshgrid(t, x, indexing="ij")
    pred = sess.run(u_pred, {ph["t_u"]: tt.reshape(-1, 1),
                             ph["x_u"]: xx.reshape(-1, 1)}).reshape(tt.shape)
    ref = burgers_reference(t, x)
    quad_gap = np.abs(burgers_reference(t, x, nodes=250) - ref).max()
    print(f"Cole-Hopf reference: 150 vs 250 Gauss-Hermite nodes differ by {quad_gap:.1e}")
    assert quad_gap < 1e-8, f"the quadrature reference is not converged ({quad_gap:.1e})"
    save_or_print(t, x, pred, ref)

    rel_l2 = np.linalg.norm(pred - ref) / np.linalg.norm(ref)
    bound = TOLERANCE if lbfgs is not None else ADAM_ONLY_TOLERANCE
    if quick:
        check_quick(sess, feed, loss, loss_f, initial_loss)
        bound = max(bound, QUICK_TOLERANCE)
    print(f"relative L2 error against Cole-Hopf on a {len(t)} x {len(x)} grid: {rel_l2:.2e}, "
          f"max abs error {np.abs(pred - ref).max():.2e} ({time.perf_counter() - start:.1f} s)")
    assert rel_l2 < bound, f"relative L2 error {rel_l2:.2e} is not below {bound:.2g}"
    print(f"check passed: relative L2 error {rel_l2:.2e} < {bound:.2g} against the Cole-Hopf "
          f"solution (nu = {NU:.4f})" + ("" if lbfgs is not None else ", Adam only (no SciPy)")
          + (", quick mode" if quick else ""))


def check_quick(sess, feed, loss, loss_f, initial_loss):
    """The quick mode's checks on the training: the loss's drop, the residual, the gradients."""
    grads = ng.gradients(loss, ng.trainable_variables())
    final_loss, residual, *grad_values = sess.run([loss, loss_f] + grads, feed)
    drop = initial_loss / final_loss
    grad_norm = np.sqrt(sum(float(np.sum(np.square(g))) for g in grad_values))
    print(f"quick mode: loss {initial_loss:.3e} -> {final_loss:.3e} (down {drop:.0f}x), "
          f"residual mean(f^2) {residual:.2e}, gradient norm {grad_norm:.2e}")
    assert drop >= QUICK_LOSS_DROP, f"the loss fell by {drop:.1f}x, not {QUICK_LOSS_DROP}x"
    assert residual < QUICK_RESIDUAL, f"residual {residual:.2e} is not below {QUICK_RESIDUAL:.0e}"
    assert np.isfinite(grad_norm), f"gradients not finite (norm {grad_norm})"


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help=f"{QUICK_ADAM_STEPS} Adam steps and {QUICK_LBFGS_MAXITER} L-BFGS-B "
                             "iterations, checked by the looser quick-mode bounds")
    main(parser.parse_args().quick)
