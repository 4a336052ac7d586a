"""Gradients through nested loops: an implicit-Euler ODE whose every step solves its implicit
equation by fixed-point iteration (a ``while_loop`` inside a ``while_loop``).

``python -m numgrad.bench_loops --nested [--steps 200] [--inner 8] [--width 16] [--repeats 25]``

The ODE ``dx/dt = -a x + b sin(roll(x, 1))`` over n float64 values, integrated by implicit
Euler with dt = 0.05 for S outer steps; each step solves ``y = x + dt f(y)`` by K fixed-point
iterations from y = x (a contraction: dt (a + b) < 1).  The loss is the squared distance of
the final state to a target; every call computes it and its gradients w.r.t. a, b and x0.
Columns (median and minimum ms of one loss-and-gradients call, interleaved):

* ``numpy``: by hand, the forward keeping every inner iterate and the adjoint of the
  unrolled iterations (the reference the others are checked against);
* ``numgrad``: the default: every loop native, the outer backward loop included (its body
  calls the inner loop's recording copy and inner backward loop, the history in buffers the
  outer function keeps);
* ``numgrad-outer-py``: the same graph with ``NUMGRAD_NATIVE_NESTED_GRAD=0``: the outer
  backward loop in Python, one plan call per outer step (the inner loops native), as before;
* ``jax``: ``jax.jit(jax.value_and_grad)`` over ``lax.fori_loop`` outer and inner, when JAX is
  importable.  JAX cannot reverse-differentiate ``lax.while_loop``, so its inner loop has
  the fixed K trips (``fori_loop`` with static bounds, which it lowers to a scan); numgrad's
  inner loop is a ``while_loop`` on a counter, the same arithmetic.
"""
import numpy as np

from .bench_timing import interleaved_seconds

STEPS, INNER, WIDTH, DT, A, B = 200, 8, 16, 0.05, 1.0, 0.5


def problem(n=WIDTH, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=n), 0.1 * rng.normal(size=n)


def _f(y, a, b):
    return -a * y + b * np.sin(np.roll(y, 1))


def loss_numpy(a, b, x0, target, steps=STEPS, inner=INNER, dt=DT):
    """(loss, d/da, d/db, d/dx0) by hand."""
    iterates = []                       # per outer step: (x, [y_0 .. y_{K-1}])
    x = x0
    for _ in range(steps):
        ys, y = [], x
        for _ in range(inner):
            ys.append(y)
            y = x + dt * _f(y, a, b)
        iterates.append((x, ys))
        x = y
    loss = float(np.sum((x - target) ** 2))
    g = 2 * (x - target)
    ga = gb = 0.0
    for x, ys in reversed(iterates):
        gx = np.zeros_like(x)
        for y in reversed(ys):              # y_{j+1} = x + dt f(y_j)
            s = np.roll(y, 1)
            gx += g
            ga -= dt * np.sum(g * y)
            gb += dt * np.sum(g * np.sin(s))
            g = dt * (-a * g + np.roll(b * np.cos(s) * g, -1))
        g = gx + g                          # y_0 = x
    return loss, ga, gb, g


def build_graph(tf, n=WIDTH, steps=STEPS, inner=INNER, dt=DT):
    """(a, b, x0, target placeholders, loss, [d/da, d/db, d/dx0])."""
    a = tf.placeholder(tf.float64, [], name="a")
    b = tf.placeholder(tf.float64, [], name="b")
    x0 = tf.placeholder(tf.float64, [n], name="x0")
    target = tf.placeholder(tf.float64, [n], name="target")

    def step(i, x):
        def solve(j, y):
            return j + 1, x + dt * (-a * y + b * tf.sin(tf.roll(y, 1, 0)))
        _, y = tf.while_loop(lambda j, y: j < inner, solve, [tf.constant(0), x])
        return i + 1, y

    _, xs = tf.while_loop(lambda i, x: i < steps, step, [tf.constant(0), x0])
    loss = tf.reduce_sum(tf.square(xs - target))
    return (a, b, x0, target), loss, tf.gradients(loss, [a, b, x0])


def numgrad_call(x0v, tv, steps=STEPS, inner=INNER, nested=True):
    """(call, graph) of numgrad's loss and gradients; `nested`: NUMGRAD_NATIVE_NESTED_GRAD
    during every call (off: the outer backward loop in Python)."""
    import numgrad as ng
    from numgrad import config
    graph = ng.Graph()
    with graph.as_default():
        feeds, loss, grads = build_graph(ng, len(x0v), steps, inner)
    fn = ng.Session(graph=graph).make_callable([loss] + grads, list(feeds))

    def call():
        with config.override(NUMGRAD_NATIVE_NESTED_GRAD=nested):
            return fn(A, B, x0v, tv)
    return call, graph


def jax_call(x0v, tv, steps=STEPS, inner=INNER, dt=DT):
    """jit(value_and_grad) over lax.fori_loop (outer) of lax.fori_loop (inner, fixed trips)."""
    import jax
    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    def loss(a, b, x0, target):
        def step(_, x):
            return jax.lax.fori_loop(
                0, inner, lambda _, y: x + dt * (-a * y + b * jnp.sin(jnp.roll(y, 1))), x)
        return jnp.sum((jax.lax.fori_loop(0, steps, step, x0) - target) ** 2)
    vg = jax.jit(jax.value_and_grad(loss, argnums=(0, 1, 2)))
    xj, tj = jnp.asarray(x0v), jnp.asarray(tv)

    def call():
        v, (ga, gb, gx) = vg(jnp.float64(A), jnp.float64(B), xj, tj)
        return float(v), float(ga), float(gb), np.asarray(gx)
    return call


def _check(name, got, want):
    for u, v in zip(got, want):
        if not np.allclose(u, v, rtol=1e-9, atol=1e-12):
            raise AssertionError(f"{name}: {got} differs from numpy's {want}")


def outer_backward_status(graph):
    """How the outer backward While of `graph` ran: "native" or "python: <why>"."""
    from .control.native_loop import loop_status
    for op in graph.get_operations():
        body = op.get_attr("body_graph") if op.type == "While" else None
        if body is not None and any(o.type == "While" and o.get_attr("history") is not False
                                    for o in body.get_operations()):
            status = loop_status(op)
            kinds = [k if k == "native" else f"{k}: {v}" for k, v in status]
            return ", ".join(kinds) or "not run natively yet"
    return "no nested backward loop"


def run(steps=STEPS, inner=INNER, width=WIDTH, repeats=25, jax=True, out=print):
    """{column: {"ms", "min_ms"}} and the outer backward loops' status."""
    from . import compile_workers, config
    x0v, tv = problem(width)
    want = loss_numpy(A, B, x0v, tv, steps, inner)
    calls, graphs = {"numpy": lambda: loss_numpy(A, B, x0v, tv, steps, inner)}, {}
    for name, nested in (("numgrad", True), ("numgrad-outer-py", False)):
        call, graphs[name] = numgrad_call(x0v, tv, steps, inner, nested)
        for _ in range(config.get("NUMGRAD_INTERPRET_CALLS") + 3):
            call()
        compile_workers.wait_all()
        for _ in range(3):
            call()
        _check(name, call(), want)
        calls[name] = call
    if jax:
        try:
            calls["jax"] = jax_call(x0v, tv, steps, inner)
            _check("jax", calls["jax"](), want)
        except ImportError:
            pass
    times = interleaved_seconds(calls, repeats)
    res = {k: {"ms": 1e3 * float(np.median(v)), "min_ms": 1e3 * float(np.min(v))}
           for k, v in times.items()}
    out(f"nested loops: implicit Euler, {steps} steps x {inner} fixed-point iterations, "
        f"n={width}, float64, loss + gradients (a, b, x0); median and min ms of {repeats} "
        "(interleaved)")
    for k, r in res.items():
        out(f"  {k:17s} {r['ms']:9.3f} ms (min {r['min_ms']:9.3f})")
    for k, g in graphs.items():
        res[k]["outer_backward"] = outer_backward_status(g)
        out(f"  {k}: outer backward loop {res[k]['outer_backward']}")
    return res
