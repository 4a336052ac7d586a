"""W9: a small 2-D CNN's loss and all its gradients, numgrad vs peers.

``python -m numgrad.bench_cnn [--batch 64] [--repeats 7] [--threads N] [--no-peers]``

float32, batch 64 of 28x28x1 images: conv 3x3x32 (SAME) + bias + relu, conv 3x3x64 (SAME) +
bias + relu, 2x2 max pool (stride 2), flatten, dense to 10, softmax cross-entropy (mean over
the batch).  One call returns the loss and the gradients of the six parameters.

Columns (ms per call, the minimum over `repeats` interleaved calls, so that a noisy shared
machine slows every column alike; also the least CPU time of the process during one call, all
threads together, which other processes' load changes less):
* ``numgrad``: ``sess.run([loss] + ng.gradients(loss, params), feed)`` (default backend);
* ``tf1``: the same graph built by the same function with TF's ``tf.compat.v1`` in a Session,
  when TensorFlow is importable;
* ``jax``: ``jax.jit(jax.value_and_grad(loss))`` when JAX is importable;
* ``torch``: PyTorch eager (forward and ``backward()``) when torch is importable.
Each peer's loss and gradients are checked against numgrad's.
"""
import argparse
import time

import numpy as np

SHAPES = {"w1": (3, 3, 1, 32), "b1": (32,), "w2": (3, 3, 32, 64), "b2": (64,),
          "wd": (14 * 14 * 64, 10), "bd": (10,)}
ORDER = list(SHAPES)


def problem(batch=64, size=28, seed=0):
    """(params, images, one-hot labels): He-scaled float32 weights and random data."""
    rng = np.random.default_rng(seed)
    shapes = dict(SHAPES, wd=((size // 2) ** 2 * 64, 10))
    params = {}
    for k, s in shapes.items():
        fan_in = int(np.prod(s[:-1])) if len(s) > 1 else 1
        scale = np.sqrt(2.0 / fan_in) if len(s) > 1 else 0.01
        params[k] = (scale * rng.standard_normal(s)).astype(np.float32)
    x = rng.standard_normal((batch, size, size, 1)).astype(np.float32)
    labels = np.eye(10, dtype=np.float32)[rng.integers(0, 10, batch)]
    return params, x, labels


def build(tf, params, batch, size):
    """(x, labels, loss, [gradients in ORDER]) with `tf` numgrad or tf.compat.v1."""
    x = tf.placeholder(tf.float32, [batch, size, size, 1], name="x")
    labels = tf.placeholder(tf.float32, [batch, 10], name="labels")
    p = {k: tf.Variable(v, name=k) for k, v in params.items()}
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(x, p["w1"], 1, "SAME"), p["b1"]))
    h = tf.nn.relu(tf.nn.bias_add(tf.nn.conv2d(h, p["w2"], 1, "SAME"), p["b2"]))
    h = tf.nn.max_pool(h, 2, 2, "VALID")
    logits = tf.matmul(tf.reshape(h, [batch, -1]), p["wd"]) + p["bd"]
    loss = tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits_v2(labels=labels,
                                                                      logits=logits))
    return x, labels, loss, tf.gradients(loss, [p[k] for k in ORDER]), p


def _session_call(m, graph, params, x, labels):
    """A call of the loss and gradients through a TF1-style module `m` (numgrad or
    tf.compat.v1) on a fresh `graph`: make_callable, as a training loop would."""
    with graph.as_default():
        xp, lp, loss, grads, _ = build(m, params, *x.shape[:2])
        sess = m.Session(graph=graph)
        sess.run(m.global_variables_initializer())
    fn = sess.make_callable([loss] + grads, [xp, lp])
    return lambda: fn(x, labels)


def numgrad_call(params, x, labels):
    import numgrad as ng
    return _session_call(ng, ng.Graph(), params, x, labels)


def tf1_call(params, x, labels):
    import tensorflow as tf
    return _session_call(tf.compat.v1, tf.Graph(), params, x, labels)


def jax_call(params, x, labels):
    import jax
    import jax.numpy as jnp

    def loss_fn(p, x, labels):
        dn = ("NHWC", "HWIO", "NHWC")
        h = jax.lax.conv_general_dilated(x, p["w1"], (1, 1), "SAME", dimension_numbers=dn)
        h = jax.nn.relu(h + p["b1"])
        h = jax.lax.conv_general_dilated(h, p["w2"], (1, 1), "SAME", dimension_numbers=dn)
        h = jax.nn.relu(h + p["b2"])
        h = jax.lax.reduce_window(h, -jnp.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1),
                                  "VALID")
        logits = h.reshape(h.shape[0], -1) @ p["wd"] + p["bd"]
        return -jnp.mean(jnp.sum(labels * jax.nn.log_softmax(logits), axis=-1))
    f = jax.jit(jax.value_and_grad(loss_fn))
    pj = {k: jnp.asarray(v) for k, v in params.items()}
    xj, lj = jnp.asarray(x), jnp.asarray(labels)

    def call():
        v, g = f(pj, xj, lj)
        v.block_until_ready()
        return [np.asarray(v)] + [np.asarray(g[k]) for k in ORDER]
    return call


def torch_call(params, x, labels):
    import torch
    import torch.nn.functional as F
    tp = {k: torch.tensor(v.transpose(3, 2, 0, 1) if v.ndim == 4 else v, requires_grad=True)
          for k, v in params.items()}
    xt = torch.tensor(x.transpose(0, 3, 1, 2).copy())
    lt = torch.tensor(labels)

    def call():
        for t in tp.values():
            t.grad = None
        h = F.relu(F.conv2d(xt, tp["w1"], tp["b1"], padding=1))
        h = F.relu(F.conv2d(h, tp["w2"], tp["b2"], padding=1))
        h = F.max_pool2d(h, 2, 2).permute(0, 2, 3, 1).reshape(xt.shape[0], -1)
        loss = -(lt * F.log_softmax(h @ tp["wd"] + tp["bd"], dim=-1)).sum(-1).mean()
        loss.backward()
        grads = [tp[k].grad.numpy() for k in ORDER]
        grads = [g.transpose(2, 3, 1, 0) if g.ndim == 4 else g for g in grads]
        return [loss.detach().numpy()] + grads
    return call


PEERS = {"tf1": tf1_call, "jax": jax_call, "torch": torch_call}


def calls(params, x, labels, peers=tuple(PEERS)):
    """{column: call}: numgrad and each peer in `peers` that imports."""
    out = {"numgrad": numgrad_call(params, x, labels)}
    for name in peers:
        try:
            out[name] = PEERS[name](params, x, labels)
        except ImportError:
            pass
    return out


def check(results, rtol=2e-3, atol=2e-5):
    """Every column's loss and gradients against numgrad's."""
    want = results["numgrad"]
    for name, got in results.items():
        for k, (a, b) in enumerate(zip(got, want)):
            scale = float(np.max(np.abs(b))) or 1.0
            if not np.allclose(a, b, rtol=rtol, atol=atol * scale):
                raise AssertionError(f"{name}: output {k} differs from numgrad's (max diff "
                                     f"{np.max(np.abs(np.asarray(a) - b)):.3g})")


def run(batch=64, size=28, repeats=7, peers=tuple(PEERS), out=print):
    """Measure every column; return {column: min ms per call}."""
    params, x, labels = problem(batch, size)
    fns = calls(params, x, labels, peers)
    results = {}
    from numgrad import compile_workers
    for name, fn in fns.items():            # warm up (compile) and check
        fn()
        compile_workers.wait_all()          # numgrad's kernels compiling in the background
        results[name] = fn()
    check(results)
    times = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(time.process_time() - c0)
    best = {k: 1e3 * min(v) for k, v in times.items()}
    out(f"W9 CNN loss + 6 gradients, batch {batch}, {size}x{size}x1 float32, "
        f"min of {repeats} (interleaved); cpu: the process's CPU seconds of that call")
    for k, v in best.items():
        out(f"  {k:8s} {v:9.2f} ms   cpu {1e3 * min(cpu[k]):9.2f} ms   "
            f"numgrad / {k}: {best['numgrad'] / v:.2f}")
    return best


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--threads", type=int, default=None,
                   help="numgrad's kernel threads (ng.set_num_threads); default: all CPUs")
    a = p.parse_args(argv)
    if a.threads is not None:
        import numgrad as ng
        ng.set_num_threads(a.threads)
    run(a.batch, repeats=a.repeats, peers=() if a.no_peers else tuple(PEERS))


if __name__ == "__main__":
    main()
