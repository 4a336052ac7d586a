"""W8: Gaussian-process negative log marginal likelihood and its gradient, numgrad vs peers.

``python -m numgrad.bench_gp [--n 2000] [--repeats 7]``

RBF kernel on n 1-D points, float64, three hyperparameters θ = (log lengthscale, log signal
variance, log noise variance):
K = s² exp(-d²/(2 l²)) + σ² I;  L = cholesky(K);  α = cholesky_solve(L, y);
nll = ½ yᵀα + Σ log diag(L) + n/2 log 2π.

Columns (median ms of one nll-and-gradient evaluation; the calls are interleaved so that a
noisy, shared machine slows every column alike):
* ``numpy``: by hand, with the closed-form gradient ½ tr((K⁻¹ - ααᵀ) ∂K/∂θ) (K⁻¹ from the
  Cholesky factor, SciPy's triangular solves when SciPy is installed);
* ``numgrad``: ``sess.run([nll, ng.gradients(nll, θ)])`` with the default backend;
* ``jax``: ``jax.jit(jax.value_and_grad(nll))`` when JAX is importable (float64 enabled).
Each column's nll and gradient are checked against the NumPy column.
"""
import argparse
import math

import numpy as np

from .bench_timing import interleaved_seconds

try:
    from scipy.linalg import solve_triangular as _solve_tri
except ImportError:     # pragma: no cover - SciPy is optional
    _solve_tri = None


def problem(n=2000, seed=0):
    """(x, y, theta0): n sorted points of a noisy sine, and starting log-hyperparameters."""
    rng = np.random.default_rng(seed)
    x = np.sort(rng.uniform(-5, 5, n))
    y = np.sin(x) + 0.1 * rng.normal(size=n)
    return x, y, np.array([np.log(1.0), np.log(1.0), np.log(0.1)])


def nll_numpy(theta, x, y):
    """(nll, gradient w.r.t. theta) with NumPy by hand (closed-form gradient)."""
    log_l, log_s2, log_n = theta
    n = len(x)
    d2 = (x[:, None] - x[None, :]) ** 2
    kf = np.exp(log_s2) * np.exp(-0.5 * d2 * np.exp(-2 * log_l))
    k = kf + np.exp(log_n) * np.eye(n)
    chol = np.linalg.cholesky(k)
    if _solve_tri is not None:
        inv_l = _solve_tri(chol, np.eye(n), lower=True, check_finite=False)
        alpha = _solve_tri(chol, _solve_tri(chol, y, lower=True, check_finite=False),
                           lower=True, trans=1, check_finite=False)
    else:                                       # pragma: no cover
        inv_l = np.linalg.inv(chol)
        alpha = inv_l.T @ (inv_l @ y)
    k_inv = inv_l.T @ inv_l
    nll = 0.5 * y @ alpha + np.log(np.diag(chol)).sum() + 0.5 * n * math.log(2 * math.pi)
    w = k_inv - np.outer(alpha, alpha)
    grad = 0.5 * np.array([np.sum(w * kf * d2 * np.exp(-2 * log_l)),   # ∂K/∂log l
                           np.sum(w * kf),                              # ∂K/∂log s²
                           np.exp(log_n) * np.trace(w)])                # ∂K/∂log σ²
    return nll, grad


def build_numgrad(ng, x, y):
    """(theta placeholder, nll, gradient) of the same model as a numgrad graph."""
    n = len(x)
    theta = ng.placeholder(ng.float64, [3], name="theta")
    xc = ng.constant(x.reshape(n, 1))
    yc = ng.constant(y.reshape(n, 1))
    d2 = ng.square(xc - ng.transpose(xc))
    k = (ng.exp(theta[1]) * ng.exp(-0.5 * d2 * ng.exp(-2.0 * theta[0]))
         + ng.exp(theta[2]) * ng.eye(n, dtype=ng.float64))
    chol = ng.cholesky(k)
    alpha = ng.cholesky_solve(chol, yc)
    nll = (0.5 * ng.reduce_sum(yc * alpha) + ng.reduce_sum(ng.log(ng.matrix_diag_part(chol)))
           + 0.5 * n * math.log(2 * math.pi))
    grad, = ng.gradients(nll, theta)
    return theta, nll, grad


def build_jax(x, y):
    """jit(value_and_grad(nll)) in JAX (float64), or None when JAX is not importable."""
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        import jax.scipy.linalg as jsl
    except Exception:                                           # noqa: BLE001
        return None
    xj, yj = jnp.asarray(x), jnp.asarray(y)
    n = len(x)

    def nll(theta):
        d2 = (xj[:, None] - xj[None, :]) ** 2
        k = (jnp.exp(theta[1]) * jnp.exp(-0.5 * d2 * jnp.exp(-2 * theta[0]))
             + jnp.exp(theta[2]) * jnp.eye(n))
        chol = jnp.linalg.cholesky(k)
        alpha = jsl.cho_solve((chol, True), yj)
        return (0.5 * yj @ alpha + jnp.sum(jnp.log(jnp.diag(chol)))
                + 0.5 * n * math.log(2 * math.pi))
    f = jax.jit(jax.value_and_grad(nll))

    def call(theta):
        v, g = f(jnp.asarray(theta))
        return float(v), np.asarray(g)
    return call


def run(n=2000, repeats=7, peers=True, out=print):
    """Measure every column; return {column: median seconds}."""
    import numgrad as ng
    x, y, theta0 = problem(n)
    want_v, want_g = nll_numpy(theta0, x, y)
    graph = ng.Graph()
    with graph.as_default():
        theta, nll, grad = build_numgrad(ng, x, y)
    sess = ng.Session(graph=graph)
    calls = {"numpy": lambda: nll_numpy(theta0, x, y),
             "numgrad": lambda: tuple(sess.run([nll, grad], {theta: theta0}))}
    jax_call = build_jax(x, y) if peers else None
    if jax_call is not None:
        calls["jax"] = lambda: jax_call(theta0)
    from numgrad import compile_workers
    for name, call in calls.items():            # warm up (compile) and check
        v, g = call()
        compile_workers.wait_all()              # numgrad's kernels compiling in the background
        v, g = call()
        if not (np.isclose(v, want_v, rtol=1e-8) and np.allclose(g, want_g, rtol=1e-6)):
            raise AssertionError(f"{name}: nll {v} grad {g} != numpy's {want_v} {want_g}")
    times = interleaved_seconds(calls, repeats)
    sess.close()
    med = {k: float(np.median(v)) for k, v in times.items()}
    out(f"W8 GP nll + gradient, n={n}, float64, median of {repeats} (interleaved)")
    out(f"  nll = {want_v:.6f}, grad = {np.array2string(want_g, precision=6)}")
    for k, v in med.items():
        out(f"  {k:8s} {v * 1e3:9.1f} ms   x{v / med['numpy']:.2f} of numpy")
    return med


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=2000)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--no-peers", action="store_true")
    a = p.parse_args(argv)
    run(a.n, a.repeats, not a.no_peers)


if __name__ == "__main__":
    main()
