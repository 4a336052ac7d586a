"""Gaussian-process regression: fit the RBF kernel's hyperparameters by L-BFGS in numgrad.

200 points of a noisy sine; three log-hyperparameters (lengthscale, signal variance, noise
variance) as ``ng.Variable``s; the negative log marginal likelihood

    K = s² exp(-d²/(2 l²)) + σ² I,  L = cholesky(K),  α = cholesky_solve(L, y),
    nll = ½ yᵀα + Σ log diag(L) + n/2 log 2π

minimised by ``ng.contrib.opt.ScipyOptimizerInterface(nll, method='L-BFGS-B')`` (gradients
through Cholesky and the triangular solves are TF's).  The fit is checked against an
independent scipy.optimize.minimize of a NumPy implementation of the same nll with its
closed-form gradient ½ tr((K⁻¹ - ααᵀ) ∂K/∂θ).  The posterior mean and ±2σ predictive band are plotted
when matplotlib is installed (into $NUMGRAD_EXAMPLE_OUT, default the system temp directory),
else printed as a table.  SciPy is needed for L-BFGS: without it this example says so and
exits 0.

Run:  python examples/gaussian_process.py
"""
import math
import os
import sys
import tempfile

import numpy as np

import numgrad as ng

N = 200
TOL = 1e-3          # |θ_numgrad - θ_scipy| (log-parameters) and relative nll agreement


def data(seed=0):
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-4, 4, N))
    y = np.sin(1.5 * x) + 0.2 * rng.normal(size=N)
    return x, y


def kernel(ng_or_np, theta, xa, xb):
    """s² exp(-(xa - xb)²/(2 l²)) for column xa and row xb."""
    m = ng_or_np
    return m.exp(theta[1]) * m.exp(-0.5 * m.square(xa - xb) * m.exp(-2.0 * theta[0]))


def nll_numpy(theta, x, y):
    """(nll, gradient): the independent NumPy implementation with the closed-form gradient."""
    n = len(x)
    d2 = (x[:, None] - x[None, :]) ** 2
    kf = np.exp(theta[1]) * np.exp(-0.5 * d2 * np.exp(-2 * theta[0]))
    k = kf + np.exp(theta[2]) * np.eye(n)
    chol = np.linalg.cholesky(k)
    k_inv = np.linalg.inv(k)
    alpha = k_inv @ y
    nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * math.log(2 * math.pi)
    w = k_inv - np.outer(alpha, alpha)
    grad = 0.5 * np.array([np.sum(w * kf * d2 * np.exp(-2 * theta[0])), np.sum(w * kf),
                           np.exp(theta[2]) * np.trace(w)])
    return nll, grad


def fit_numgrad(x, y, theta0):
    """L-BFGS over ng.Variables; returns (theta, nll, posterior mean/std at x_test)."""
    theta = ng.Variable(theta0, dtype=ng.float64, name="log_params")
    xc, yc = ng.constant(x[:, None]), ng.constant(y[:, None])
    k = kernel(ng, theta, xc, ng.transpose(xc)) + ng.exp(theta[2]) * ng.eye(N, dtype=ng.float64)
    chol = ng.cholesky(k)
    alpha = ng.cholesky_solve(chol, yc)
    nll = (0.5 * ng.reduce_sum(yc * alpha) + ng.reduce_sum(ng.log(ng.matrix_diag_part(chol)))
           + 0.5 * N * math.log(2 * math.pi))
    x_test = np.linspace(-5, 5, 101)
    ks = kernel(ng, theta, ng.constant(x_test[:, None]), ng.transpose(xc))     # (101, N)
    mean = ng.matmul(ks, alpha)[:, 0]
    v = ng.matrix_triangular_solve(chol, ng.transpose(ks))                      # L⁻¹ Kₛᵀ
    var = ng.exp(theta[1]) - ng.reduce_sum(ng.square(v), 0) + ng.exp(theta[2])
    opt = ng.contrib.opt.ScipyOptimizerInterface(nll, method="L-BFGS-B",
                                                 options={"maxiter": 200, "gtol": 1e-9})
    with ng.Session() as sess:
        sess.run(ng.global_variables_initializer())
        opt.minimize(sess)
        th, nv, mv, sv = sess.run([theta, nll, mean, ng.sqrt(var)])
    return th, nv, x_test, mv, sv


def report(x, y, x_test, mean, std):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed; posterior at a few test points:")
        print("       x      mean    ±2σ")
        for i in range(0, len(x_test), 10):
            print(f"  {x_test[i]:6.2f}  {mean[i]:8.4f}  {2 * std[i]:6.4f}")
        return
    out_dir = ng.config.get("NUMGRAD_EXAMPLE_OUT") or tempfile.gettempdir()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "gaussian_process.png")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.fill_between(x_test, mean - 2 * std, mean + 2 * std, alpha=0.3, label="±2σ")
    ax.plot(x_test, mean, label="posterior mean")
    ax.plot(x, y, ".", ms=3, label="data")
    ax.legend(loc="upper right")
    ax.set_title("GP regression, hyperparameters by L-BFGS")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"posterior plot saved to {path}")


def main():
    try:
        from scipy import optimize
    except ImportError:
        print("SciPy is not installed: this example needs scipy.optimize (pip install scipy)")
        return 0
    x, y = data()
    theta0 = np.array([0.0, 0.0, np.log(0.1)])
    th, nll, x_test, mean, std = fit_numgrad(x, y, theta0)
    ref = optimize.minimize(nll_numpy, theta0, args=(x, y), jac=True, method="L-BFGS-B",
                            options={"maxiter": 200, "gtol": 1e-9})
    names = ("lengthscale", "signal variance", "noise variance")
    print(f"GP on {N} points of a noisy sine: fitted hyperparameters")
    print(f"  {'':16s} {'numgrad':>10s} {'scipy/numpy':>12s}")
    for name, a, b in zip(names, np.exp(th), np.exp(ref.x)):
        print(f"  {name:16s} {a:10.5f} {b:12.5f}")
    print(f"  {'nll':16s} {nll:10.5f} {ref.fun:12.5f}")
    report(x, y, x_test, mean, std)
    dtheta = np.abs(th - ref.x).max()
    ok = dtheta < TOL and abs(nll - ref.fun) <= TOL * abs(ref.fun)
    if not ok:
        print(f"check FAILED: log-parameters differ by {dtheta:.2e} (tol {TOL})")
        return 1
    print(f"check passed: numgrad's L-BFGS fit matches scipy.optimize on the NumPy nll "
          f"(max |Δ log θ| = {dtheta:.1e} < {TOL}, nll {nll:.5f} vs {ref.fun:.5f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
