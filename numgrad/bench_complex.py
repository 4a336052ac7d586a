"""A complex-valued loss and its gradient: fused complex loops against one NumPy step per op.

``python -m numgrad.bench_complex [--n 200000] [--repeats 15] [--no-peers]``

Real parameters a, b (float64, n each) make z = a + ib (complex128); then
u = exp(c z) conj(z) + z / (z^2 + 2), y = tanh(u) sqrt(z + 3) and loss = sum |y|^2, with
gradients d loss / da and d loss / db (forward and backward are ~40 elementwise complex ops).

Columns (ms of one loss-and-gradient evaluation, min and median; the calls are interleaved so
that a noisy, shared machine slows every column alike):
* ``fused``: the cpu backend (complex elementwise ops in fused loops);
* ``unfused``: the cpu backend with NUMGRAD_FUSE_COMPLEX=0, every complex op its own NumPy step
  (what the cpu backend did before complex ops were fused);
* ``tf1``, ``jax``: TF's graph-mode Session and ``jax.jit(jax.value_and_grad)``, when installed.
Every column's loss and gradients are checked against the unfused column.
"""
import argparse

import numpy as np

from .bench_timing import interleaved_seconds

C = 0.3 + 0.7j


def problem(n=200_000, seed=0):
    """(a, b): the real and imaginary parts of the parameters."""
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, n), rng.uniform(-1, 1, n)


def loss_of(lib, z, c=C):
    """The loss in the elementwise functions of `lib` (numgrad, tf, jax.numpy): `lib` needs
    exp, conj, tanh, sqrt, square, abs and a sum."""
    conj = getattr(lib, "conj", None) or lib.math.conj
    u = lib.exp(c * z) * conj(z) + z / (z * z + 2.0)
    y = lib.tanh(u) * lib.sqrt(z + 3.0)
    total = getattr(lib, "reduce_sum", None) or lib.sum
    return total(lib.square(lib.abs(y)))


def build_numgrad(ng, n):
    """(a, b, loss, [d loss/da, d loss/db]) as a numgrad graph."""
    a = ng.placeholder(ng.float64, [n], name="a")
    b = ng.placeholder(ng.float64, [n], name="b")
    loss = loss_of(ng, ng.complex(a, b))
    return a, b, loss, ng.gradients(loss, [a, b])


def _numgrad_call(ng, config, n, a0, b0, fuse):
    """A compiled loss-and-gradient call with NUMGRAD_FUSE_COMPLEX=fuse (planned now)."""
    graph = ng.Graph()
    with graph.as_default():
        a, b, loss, grads = build_numgrad(ng, n)
    sess = ng.Session(graph=graph, backend="cpu")
    call = sess.make_callable([loss] + grads, [a, b])
    with config.override(NUMGRAD_FUSE_COMPLEX=fuse, NUMGRAD_INTERPRET_CALLS=0):
        call(a0, b0)
    return lambda: call(a0, b0), sess


def _tf1_call(n, a0, b0):
    try:
        import tensorflow.compat.v1 as tf
    except Exception:                                           # noqa: BLE001
        return None
    tf.disable_eager_execution()
    graph = tf.Graph()
    with graph.as_default():
        a = tf.placeholder(tf.float64, [n])
        b = tf.placeholder(tf.float64, [n])
        loss = loss_of(tf, tf.complex(a, b))
        fetches = [loss] + tf.gradients(loss, [a, b])
    sess = tf.Session(graph=graph)
    return lambda: sess.run(fetches, {a: a0, b: b0})


def _jax_call(a0, b0):
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
    except Exception:                                           # noqa: BLE001
        return None
    f = jax.jit(jax.value_and_grad(lambda a, b: loss_of(jnp, a + 1j * b), argnums=(0, 1)))
    aj, bj = jnp.asarray(a0), jnp.asarray(b0)

    def call():
        v, (ga, gb) = f(aj, bj)
        return [float(v), np.asarray(ga), np.asarray(gb)]
    return call


def run(n=200_000, repeats=15, peers=True, out=print):
    """Measure every column; return {column: (min seconds, median seconds)}."""
    import numgrad as ng
    from numgrad import config
    a0, b0 = problem(n)
    fused, s1 = _numgrad_call(ng, config, n, a0, b0, True)
    unfused, s2 = _numgrad_call(ng, config, n, a0, b0, False)
    calls = {"fused": fused, "unfused": unfused}
    if peers:
        for name, call in (("tf1", _tf1_call(n, a0, b0)), ("jax", _jax_call(a0, b0))):
            if call is not None:
                calls[name] = call
    want = unfused()
    for name, call in calls.items():                # warm up (compile) and check
        got = call()
        for g, w in zip(got, want):
            if not np.allclose(g, w, rtol=1e-9, atol=1e-12):
                raise AssertionError(f"{name}: {g} differs from the unfused column's {w}")
    times = interleaved_seconds(calls, repeats)
    s1.close()
    s2.close()
    stats = {k: (min(v), float(np.median(v))) for k, v in times.items()}
    out(f"complex loss + gradient, n={n}, complex128, {repeats} interleaved repeats")
    out(f"  {'column':8s} {'min ms':>9s} {'median ms':>10s}")
    for k, (lo, med) in stats.items():
        out(f"  {k:8s} {lo * 1e3:9.2f} {med * 1e3:10.2f}")
    return stats


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--repeats", type=int, default=15)
    p.add_argument("--no-peers", action="store_true")
    a = p.parse_args(argv)
    run(a.n, a.repeats, not a.no_peers)


if __name__ == "__main__":
    main()
