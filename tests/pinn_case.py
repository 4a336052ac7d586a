"""A small W6 (numgrad/bench_train.py's Burgers PINN) for the native-lane and row-block tests:
one builder, so that both files compile the same kernels."""
import numpy as np

import numgrad as ng


def small_pinn(n, layers=(2, 5, 1), dtype=np.float32, seed=0):
    """u(t, x) by an MLP over n rows, u_t, u_x and u_xx by ng.gradients, the residual f's mean
    square; (fetches, feed, params).  fetches: the loss and its gradients w.r.t. the params."""
    rng = np.random.default_rng(seed)
    t = ng.placeholder(dtype, [n, 1])
    x = ng.placeholder(dtype, [n, 1])
    params = [(ng.Variable((rng.normal(size=(a, b)) / np.sqrt(a)).astype(dtype)),
               ng.Variable((0.1 * rng.normal(size=(1, b))).astype(dtype)))
              for a, b in zip(layers[:-1], layers[1:])]
    h = ng.concat([t, x], 1)
    for w, b in params[:-1]:
        h = ng.tanh(ng.matmul(h, w) + b)
    u = ng.matmul(h, params[-1][0]) + params[-1][1]
    u_t, u_x = ng.gradients(u, [t, x])
    u_xx = ng.gradients(u_x, x)[0]
    f = u_t + u * u_x - 0.01 * u_xx
    loss = ng.reduce_mean(ng.square(f))
    flat = [p for pair in params for p in pair]
    fetches = [loss] + ng.gradients(loss, flat)
    feed = {t: rng.uniform(0, 1, (n, 1)).astype(dtype),
            x: rng.uniform(-1, 1, (n, 1)).astype(dtype)}
    return fetches, feed, flat


def matmul_plan(sess):
    """The session's one compiled cpu plan with matmul steps (not the initializer's)."""
    plan, = [cp for p in sess._plans.values() for cp in p._compiled.values()
             if any(st.kind == "single" and st.node.type == "MatMul"
                    for st in getattr(cp, "steps", ()))]
    return plan
