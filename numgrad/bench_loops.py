"""W7: gradients through a 1000-step RK4 ``while_loop`` (Lorenz-96), numgrad against its peers.

``python -m numgrad.bench_loops [--steps 1000] [--repeats 5] [--no-peers]``
``python -m numgrad.bench_loops --map [--elements 100 1000 10000] [--repeats 5]``
``python -m numgrad.bench_loops --map-grad [--elements ..] [--repeats ..] [--before-max 3000]``
(loss and gradients through a map_fn: numgrad/bench_map_grad.py)
``python -m numgrad.bench_loops --ab-plan [--repeats 200]``
``python -m numgrad.bench_loops --nested [--steps 200] [--inner 8] [--width 16] [--repeats 25]``
(loss and gradients through a while_loop inside a while_loop: numgrad/bench_nested.py)

``--map`` times instead a ``map_fn`` over n elements (rows of 4 float64) whose body is a few
transcendental ops per element, ``sin(r) * exp(-r * r) + tanh(r) * cos(r)``, as a native loop
on one thread (``numgrad.threads.limited(1)``) and on numgrad's threads (ranges of the
elements at once, control/native_map.py, whatever n: NUMGRAD_MAP_FN_THREAD_ROWS=1),
interleaved, and NumPy's vectorised expression for scale.  Each call's result is checked (threads == one thread, bit for bit; ~ NumPy).

``--ab-plan`` times numgrad's W7 call two ways in one process, interleaved: its plan one
plan function that calls both native loops itself (the default), and the loops called from
Python between the plan's steps (``NUMGRAD_LOOPS_IN_PLAN=0`` while that plan was built).

Lorenz-96 with n = 40 variables, ``dx_i/dt = (x_{i+1} - x_{i-2}) x_{i-1} - x_i + F`` (indices
cyclic), integrated by classical RK4 with dt = 0.005 for 1000 steps in float64, written as one
``while_loop`` whose body is one RK4 step.  The loss is the squared distance of the final
state to a target; every call computes the loss and its gradients w.r.t. the forcing F and
the initial state x0.

Columns (median and minimum ms of one loss-and-gradients call, the calls interleaved so that a
noisy, shared machine slows every column alike; ``first`` is the first call, compilation included):
* ``numpy``: by hand, the forward loop keeping every state and a backward loop through the
  RK4 stages (the discrete adjoint written out; the reference the others are checked against);
* ``numgrad``: ``sess.run([loss] + ng.gradients(loss, [F, x0]))`` with the default backend,
  timed past its first NUMGRAD_INTERPRET_CALLS calls (the graph around the loops is then a
  compiled plan: the two native loops and a fused kernel).  Its ``first`` is measured in a
  fresh process with an empty compile cache;
* ``numgrad-pyloop``: the same with native loops off (``NUMGRAD_NATIVE_LOOPS=0``): the loop in
  Python, one call of the body's compiled plan function per iteration, as numgrad ran loops
  before they ran natively;
* ``numgrad-interp``: the same with the loop bodies interpreted by NumPy on every iteration
  (``NUMGRAD_FUNCTION_COMPILE_AFTER`` out of reach), as numgrad ran loops before they compiled;
* ``tf1``: the same graph in TF's ``tf.compat.v1`` graph mode (``while_loop`` in a Session),
  when TensorFlow is importable;
* ``jax``: ``jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))`` over ``lax.fori_loop``, when
  JAX is importable (float64 enabled);
* ``torch``: PyTorch eager, the loop in Python and ``backward()``, when torch is importable.
Each column's loss and gradients are checked against the NumPy column (rtol 1e-6).  With F = 8
the system is chaotic, so rounding differences grow along the trajectory: over 5 time units
(dt = 0.005) XLA's reordered arithmetic still agrees with NumPy's to ~1e-9 in the gradient, but
over 10 (dt = 0.01) only to ~1e-3.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from .bench_timing import interleaved_seconds

N, STEPS, DT, FORCING = 40, 1000, 0.005, 8.0


def problem(n=N, seed=0):
    """(x0, target): a perturbed fixed point x = F and a random target, float64."""
    rng = np.random.default_rng(seed)
    return FORCING + 0.01 * rng.normal(size=n), rng.normal(size=n)


# --- NumPy by hand: forward and the discrete adjoint ------------------------------------------
def _rhs(x, f):
    return (np.roll(x, -1) - np.roll(x, 2)) * np.roll(x, 1) - x + f


def _rhs_vjp(x, v):
    """(v^T d rhs/dx, v^T d rhs/dF) at x."""
    xm1 = np.roll(x, 1)
    gx = (np.roll(v * xm1, 1) - np.roll(v * xm1, -2)
          + np.roll(v * (np.roll(x, -1) - np.roll(x, 2)), -1) - v)
    return gx, v.sum()


def loss_numpy(f, x0, target, steps=STEPS, dt=DT):
    """(loss, dloss/dF, dloss/dx0) by hand."""
    xs = [x0]
    x = x0
    for _ in range(steps):
        k1 = _rhs(x, f)
        k2 = _rhs(x + 0.5 * dt * k1, f)
        k3 = _rhs(x + 0.5 * dt * k2, f)
        k4 = _rhs(x + dt * k3, f)
        x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        xs.append(x)
    g = 2 * (x - target)
    gf = 0.0
    for x in reversed(xs[:-1]):
        k1 = _rhs(x, f)
        k2 = _rhs(x + 0.5 * dt * k1, f)
        k3 = _rhs(x + 0.5 * dt * k2, f)
        u4, f4 = _rhs_vjp(x + dt * k3, dt / 6 * g)
        u3, f3 = _rhs_vjp(x + 0.5 * dt * k2, dt / 3 * g + dt * u4)
        u2, f2 = _rhs_vjp(x + 0.5 * dt * k1, dt / 3 * g + 0.5 * dt * u3)
        u1, f1 = _rhs_vjp(x, dt / 6 * g + 0.5 * dt * u2)
        gf += f1 + f2 + f3 + f4
        g = g + u1 + u2 + u3 + u4
    return float(np.sum((xs[-1] - target) ** 2)), gf, g


# --- the graph, written once for numgrad and tf.compat.v1 --------------------------------------
def build_graph(tf, n=N, steps=STEPS, dt=DT):
    """(F, x0, target placeholders, loss, [dloss/dF, dloss/dx0]) with `tf` = numgrad or
    tf.compat.v1."""
    f = tf.placeholder(tf.float64, [], name="F")
    x0 = tf.placeholder(tf.float64, [n], name="x0")
    target = tf.placeholder(tf.float64, [n], name="target")

    def rhs(x):
        return (tf.roll(x, -1, 0) - tf.roll(x, 2, 0)) * tf.roll(x, 1, 0) - x + f

    def body(i, x):
        k1 = rhs(x)
        k2 = rhs(x + 0.5 * dt * k1)
        k3 = rhs(x + 0.5 * dt * k2)
        k4 = rhs(x + dt * k3)
        return i + 1, x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)

    _, x_final = tf.while_loop(lambda i, x: i < steps, body, [tf.constant(0), x0])
    loss = tf.reduce_sum(tf.square(x_final - target))
    return f, x0, target, loss, tf.gradients(loss, [f, x0])


def numgrad_call(x0v, tv, steps=STEPS):
    """A loss-and-gradients call of the numgrad graph: () -> (loss, dF, dx0)."""
    import numgrad as ng
    graph = ng.Graph()
    with graph.as_default():
        f, x0, target, loss, grads = build_graph(ng, len(x0v), steps)
    sess = ng.Session(graph=graph)
    fn = sess.make_callable([loss] + grads, [f, x0, target])
    return lambda: fn(FORCING, x0v, tv)


def numgrad_interpreted_call(x0v, tv, steps=STEPS):
    """numgrad_call with the loop bodies always interpreted (the cpu backend's function graphs
    never compile)."""
    from numgrad import config
    call = numgrad_call(x0v, tv, steps)

    def interpreted():
        with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=1 << 62):
            return call()
    return interpreted


def numgrad_python_loop_call(x0v, tv, steps=STEPS):
    """numgrad_call with native loops off: the loop in Python, a plan call per iteration."""
    from numgrad import config
    call = numgrad_call(x0v, tv, steps)

    def python_loop():
        with config.override(NUMGRAD_NATIVE_LOOPS=False):
            return call()
    return python_loop


def tf1_call(x0v, tv, steps=STEPS):
    """The same graph in TF's tf.compat.v1 graph mode (raises ImportError without TF)."""
    import tensorflow as tf
    v1 = tf.compat.v1
    graph = tf.Graph()
    with graph.as_default():
        f, x0, target, loss, grads = build_graph(v1, len(x0v), steps)
    sess = v1.Session(graph=graph)
    fn = sess.make_callable([loss] + grads, [f, x0, target])
    return lambda: fn(FORCING, x0v, tv)


def jax_call(x0v, tv, steps=STEPS, dt=DT):
    """jit(value_and_grad) over lax.fori_loop in JAX, float64 (raises ImportError without JAX)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def rhs(x, f):
        return (jnp.roll(x, -1) - jnp.roll(x, 2)) * jnp.roll(x, 1) - x + f

    def step(_, carry):
        x, f = carry
        k1 = rhs(x, f)
        k2 = rhs(x + 0.5 * dt * k1, f)
        k3 = rhs(x + 0.5 * dt * k2, f)
        k4 = rhs(x + dt * k3, f)
        return x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4), f

    def loss(f, x0, target):
        x, _ = jax.lax.fori_loop(0, steps, step, (x0, f))
        return jnp.sum((x - target) ** 2)
    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))
    xj, tj = jnp.asarray(x0v), jnp.asarray(tv)

    def call():
        v, (gf, gx) = vg(jnp.float64(FORCING), xj, tj)
        return float(v), float(gf), np.asarray(gx)
    return call


def torch_call(x0v, tv, steps=STEPS, dt=DT):
    """PyTorch eager: the RK4 loop in Python over float64 tensors, ``backward()`` through the
    recorded graph (raises ImportError without torch)."""
    import torch
    x0 = torch.tensor(x0v, requires_grad=True)
    f = torch.tensor(FORCING, dtype=torch.float64, requires_grad=True)
    target = torch.tensor(tv)

    def rhs(x):
        return (torch.roll(x, -1) - torch.roll(x, 2)) * torch.roll(x, 1) - x + f

    def call():
        x0.grad = f.grad = None
        x = x0
        for _ in range(steps):
            k1 = rhs(x)
            k2 = rhs(x + 0.5 * dt * k1)
            k3 = rhs(x + 0.5 * dt * k2)
            k4 = rhs(x + dt * k3)
            x = x + dt / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        loss = torch.sum((x - target) ** 2)
        loss.backward()
        return loss.item(), f.grad.item(), x0.grad.numpy().copy()
    return call


PEERS = {"tf1": tf1_call, "jax": jax_call, "torch": torch_call}


def numgrad_cold_first_call(steps=STEPS):
    """Seconds of numgrad's first call in a fresh process with an empty compile cache."""
    code = ("import time, numgrad.bench_loops as b; x0, t = b.problem(); "
            f"call = b.numgrad_call(x0, t, {steps}); "
            "t0 = time.perf_counter(); call(); print(time.perf_counter() - t0)")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMGRAD_CACHE_DIR=cache)
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env)
    if out.returncode:
        raise RuntimeError(out.stderr)
    return float(out.stdout.strip().splitlines()[-1])


def _check(name, got, want):
    v, gf, gx = got
    wv, wgf, wgx = want
    scale = max(1.0, float(np.max(np.abs(wgx))))
    if not (np.isclose(v, wv, rtol=1e-8) and np.isclose(gf, wgf, rtol=1e-6)
            and np.allclose(gx, wgx, rtol=1e-6, atol=1e-9 * scale)):
        raise AssertionError(f"{name}: loss {v}, dF {gf} differ from numpy's {wv}, {wgf} "
                             f"(or dx0 does, max |diff| {np.max(np.abs(gx - wgx)):.3g})")


def run(steps=STEPS, repeats=5, peers=tuple(PEERS), cold=True, out=print):
    """Measure every column; return {column: {"ms": median ms, "first_s": first call s}}."""
    x0v, tv = problem()
    want = loss_numpy(FORCING, x0v, tv, steps)
    calls, first = {"numpy": lambda: loss_numpy(FORCING, x0v, tv, steps)}, {}
    makers = {"numgrad": numgrad_call, "numgrad-pyloop": numgrad_python_loop_call,
              "numgrad-interp": numgrad_interpreted_call,
              **{k: PEERS[k] for k in peers}}
    for name, make in makers.items():
        try:
            call = make(x0v, tv, steps)
        except ImportError:
            continue
        t0 = time.perf_counter()
        got = call()
        first[name] = time.perf_counter() - t0
        _check(name, got, want)
        calls[name] = call
    if cold:
        first["numgrad"] = numgrad_cold_first_call(steps)
    from numgrad import compile_workers, config
    compile_workers.wait_all()                  # numgrad's kernels compiling in the background
    for call in calls.values():                 # warm up (the first hot calls)
        call()
    if "numgrad" in calls:      # past the first calls a small plan interprets: steady state
        for _ in range(config.get("NUMGRAD_INTERPRET_CALLS") + 1):
            calls["numgrad"]()
    times = interleaved_seconds(calls, repeats)
    res = {k: {"ms": 1e3 * float(np.median(v)), "min_ms": 1e3 * float(np.min(v)),
               "first_s": first.get(k)} for k, v in times.items()}
    out(f"W7 Lorenz-96 n={len(x0v)}, RK4 {steps} steps, loss + gradients (F, x0), float64, "
        f"median and min of {repeats} (interleaved)")
    out(f"  loss = {want[0]:.6g}, dloss/dF = {want[1]:.6g}")
    base = res["numpy"]["ms"]
    for k, r in res.items():
        fc = "" if r["first_s"] is None else f"   first call {r['first_s']:.2f} s"
        out(f"  {k:14s} {r['ms']:9.2f} ms (min {r['min_ms']:8.2f})   "
            f"x{r['ms'] / base:.3f} of numpy{fc}")
    return res


def run_ab_plan(steps=STEPS, repeats=200, out=print):
    """W7 with the loops called from the plan function and from Python, interleaved:
    {column: {"ms", "min_ms"}}.  The loops give the same bits; the loss may differ in its
    last bits (the plan function's loss kernel is emitted `hot`, as every plan function's)."""
    from . import compile_workers, config
    x0v, tv = problem()
    calls = {}
    for name, inside in (("loops in plan", True), ("loops from Python", False)):
        with config.override(NUMGRAD_LOOPS_IN_PLAN=inside):
            call = numgrad_call(x0v, tv, steps)
            for _ in range(config.get("NUMGRAD_INTERPRET_CALLS") + 3):
                call()
            compile_workers.wait_all()      # a plan function compiling in a worker
            for _ in range(3):
                call()
        calls[name] = call
    a, b = (c() for c in calls.values())
    if not (np.allclose(a[0], b[0], rtol=1e-13, atol=0)
            and all(np.array_equal(u, v) for u, v in zip(a[1:], b[1:]))):
        raise AssertionError("loops in plan and from Python differ")
    _check("numgrad", a, loss_numpy(FORCING, x0v, tv, steps))
    times = interleaved_seconds(calls, repeats)
    res = {k: {"ms": 1e3 * float(np.median(v)), "min_ms": 1e3 * float(np.min(v))}
           for k, v in times.items()}
    out(f"W7 ({steps} steps), loss + gradients; median and min ms of {repeats} (interleaved)")
    for k, r in res.items():
        out(f"  {k:18s} {r['ms']:8.3f} ms (min {r['min_ms']:8.3f})")
    return res


# --- map_fn on threads ------------------------------------------------------------------------
MAP_WIDTH = 4


def map_numpy(xv):
    return np.sin(xv) * np.exp(-xv * xv) + np.tanh(xv) * np.cos(xv)


def map_calls(n, width=MAP_WIDTH):
    """(xv, {"numgrad-1thread": call, "numgrad-threads": call}, the map_fn's While op)."""
    import numgrad as ng
    from numgrad import compile_workers, config, threads
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float64, [n, width])
        y = ng.map_fn(lambda r: ng.sin(r) * ng.exp(-r * r) + ng.tanh(r) * ng.cos(r), x)
    xv = np.random.default_rng(n).normal(size=(n, width))
    sess = ng.Session(graph=g)
    feed = {x: xv}

    def serial():
        with threads.limited(1):
            return sess.run(y, feed)

    for _ in range(3):                          # interpreted first, then native
        sess.run(y, feed)
        compile_workers.wait_all()
    def threaded():             # threads whatever n (the default threshold aside)
        with config.override(NUMGRAD_MAP_FN_THREAD_ROWS=1):
            return sess.run(y, feed)

    return xv, {"numgrad-1thread": serial, "numgrad-threads": threaded}, y.op


def run_map(sizes=(100, 1000, 10000), repeats=5, out=print):
    """Per n: {column: {"ms", "min_ms"}} and the threads the threaded call ran on."""
    from .control.native_loop import loop_status
    res = {}
    out(f"map_fn over n rows of {MAP_WIDTH} float64, sin*exp+tanh*cos per element; median and "
        f"min ms of {repeats} (interleaved)")
    for n in sizes:
        xv, calls, op = map_calls(n)
        one, many = calls["numgrad-1thread"](), calls["numgrad-threads"]()
        if not np.array_equal(one, many):
            raise AssertionError(f"map_fn n={n}: threads and one thread differ")
        np.testing.assert_allclose(many, map_numpy(xv), rtol=1e-13, atol=1e-15)
        status = loop_status(op)
        used = max((f["threads"] for kind, f in status if kind == "native"), default=0)
        calls["numpy"] = lambda: map_numpy(xv)
        times = interleaved_seconds(calls, repeats)
        res[n] = {k: {"ms": 1e3 * float(np.median(v)), "min_ms": 1e3 * float(np.min(v))}
                  for k, v in times.items()}
        res[n]["threads"] = used
        line = "  ".join(f"{k} {r['ms']:8.3f} (min {r['min_ms']:8.3f})"
                         for k, r in res[n].items() if k != "threads")
        out(f"  n={n:6d}  {line}  [native loop on {used or 'no native'} thread(s)]")
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--no-peers", action="store_true")
    p.add_argument("--no-cold", action="store_true", help="skip the fresh-process first call")
    p.add_argument("--map", action="store_true", help="time map_fn on threads instead")
    p.add_argument("--map-grad", action="store_true",
                   help="time loss and gradients through map_fn (numgrad/bench_map_grad.py)")
    p.add_argument("--before-max", type=int, default=3000,
                   help="--map-grad: the largest n also run with NUMGRAD_LOOP_GRAD_LEAN=0")
    p.add_argument("--elements", type=int, nargs="+", default=None)
    p.add_argument("--ab-plan", action="store_true",
                   help="numgrad alone: loops called from its plan function vs from Python")
    p.add_argument("--nested", action="store_true",
                   help="time loss and gradients through nested loops (numgrad/bench_nested.py)")
    p.add_argument("--inner", type=int, default=8, help="--nested: fixed-point iterations")
    p.add_argument("--width", type=int, default=16, help="--nested: the state's size")
    a = p.parse_args(argv)
    if a.nested:
        from .bench_nested import run as run_nested
        steps = 200 if a.steps == STEPS else a.steps
        run_nested(steps, a.inner, a.width, a.repeats, not a.no_peers)
        return
    if a.ab_plan:
        run_ab_plan(a.steps, a.repeats)
        return
    if a.map_grad:
        from .bench_map_grad import run as run_map_grad
        run_map_grad(a.elements or [1000, 3000, 10000, 30000], a.repeats, a.before_max)
        return
    if a.map:
        run_map(a.elements or [100, 1000, 10000], a.repeats)
        return
    run(a.steps, a.repeats, () if a.no_peers else tuple(PEERS), not a.no_cold)


if __name__ == "__main__":
    main(sys.argv[1:])
