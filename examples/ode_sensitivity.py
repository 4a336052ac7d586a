"""Fit a damped oscillator's parameters to noisy observations through an RK4 ``while_loop``.

x'' = -w^2 x - 2 z w x',  x(0) = 1, x'(0) = 0.  The observations are the exact solution
(closed form, not RK4) at t = 0.1, 0.2, ..., 6 plus Gaussian noise.  The model integrates the
ODE with classical RK4 (dt = 0.1) inside one ``ng.while_loop`` whose loop variables carry the
step, the state and the running sum of squared residuals, so ``ng.gradients`` differentiates
through all 60 steps (the sensitivities of the trajectory w.r.t. w and z).  Adam fits (w, z)
from a poor start.

Checks, none of which trust numgrad's derivatives:
  * the gradient at the starting point matches central differences of the loss;
  * the fitted (w, z) are within 2% of the generating values;
  * the fitted loss is at least as small as the loss at the generating values.

Run:  python examples/ode_sensitivity.py
"""
import numpy as np

import numgrad as ng

TRUE = np.array([2.0, 0.15])            # (w, z)
START = np.array([1.6, 0.4])
DT, STEPS, NOISE = 0.1, 60, 0.02
ADAM_STEPS, LR = 150, 0.03


def exact(w, z, t):
    """x(t) of the underdamped oscillator with x(0) = 1, x'(0) = 0."""
    wd = w * np.sqrt(1 - z * z)
    return np.exp(-z * w * t) * (np.cos(wd * t) + z * w / wd * np.sin(wd * t))


def build_loss(params, obs):
    """Mean squared residual of the RK4 trajectory against `obs` ([STEPS] observations)."""
    w, z = params[0], params[1]

    def f(x, v):
        return v, -w * w * x - 2.0 * z * w * v

    def body(i, x, v, sse):
        k1x, k1v = f(x, v)
        k2x, k2v = f(x + 0.5 * DT * k1x, v + 0.5 * DT * k1v)
        k3x, k3v = f(x + 0.5 * DT * k2x, v + 0.5 * DT * k2v)
        k4x, k4v = f(x + DT * k3x, v + DT * k3v)
        x = x + DT / 6 * (k1x + 2 * k2x + 2 * k3x + k4x)
        v = v + DT / 6 * (k1v + 2 * k2v + 2 * k3v + k4v)
        r = x - ng.gather(obs, i)
        return i + 1, x, v, sse + r * r

    one, zero = ng.constant(1.0, ng.float64), ng.constant(0.0, ng.float64)
    _, _, _, sse = ng.while_loop(lambda i, *s: i < STEPS, body, [0, one, zero, zero])
    return sse / STEPS


def main():
    rng = np.random.default_rng(0)
    t = DT * np.arange(1, STEPS + 1)
    obs = exact(*TRUE, t) + NOISE * rng.normal(size=STEPS)

    params = ng.Variable(START, name="params")
    loss = build_loss(params, ng.constant(obs))
    grad, = ng.gradients(loss, params)
    train = ng.train.AdamOptimizer(LR).minimize(loss)

    with ng.Session() as sess:
        sess.run(ng.global_variables_initializer())
        l0, g0 = sess.run([loss, grad])

        def loss_at(p):
            params.load(p, sess)
            return sess.run(loss)
        eps = 1e-6
        fd = np.array([(loss_at(START + eps * e) - loss_at(START - eps * e)) / (2 * eps)
                       for e in np.eye(2)])
        params.load(START, sess)
        assert np.allclose(g0, fd, rtol=1e-5, atol=1e-9), (g0, fd)
        print(f"start (w, z) = {START}: loss {l0:.5f}, gradient {g0} "
              f"(central differences {fd})")

        for step in range(ADAM_STEPS):
            _, lv = sess.run([train, loss])
            if step % 50 == 0:
                print(f"  Adam step {step:3d}: loss {lv:.6f}")
        fit, l_fit = sess.run([params, loss])
        l_true = loss_at(TRUE)

    print(f"fitted (w, z) = {fit}, generating {TRUE}; loss {l_fit:.6f} "
          f"(at the generating values {l_true:.6f}, noise variance {NOISE ** 2:.6f})")
    assert np.allclose(fit, TRUE, rtol=0.02), fit
    assert l_fit <= l_true + 1e-12
    print("gradient check passed; parameters recovered")


if __name__ == "__main__":
    main()
