"""Loss and gradients through ``map_fn``: what a gradient's recording loop and backward loop cost.

``python -m numgrad.bench_loops --map-grad [--elements 1000 3000 10000 30000] [--repeats 7]
[--before-max 3000]``

A ``map_fn`` over n rows of 4 float64, ``y_i = sin(x_i * w) * exp(-x_i^2) + tanh(x_i) cos(x_i)``
with a captured parameter w (4 values), loss ``sum(y^2)``, gradients w.r.t. the elements x and
w.  Columns (median and minimum ms of one loss-and-gradients call, interleaved):

* ``lean``: the default gradient (NUMGRAD_LOOP_GRAD_LEAN=1): the recording loop records only
  the loop vars the backward iteration reads (the counter, not the (n, 4) accumulator), and
  each backward iteration adds x's gathered row's gradient into its row of the sum; its
  backward loop runs ranges of the rows on numgrad's threads where each gets at least
  NUMGRAD_MAP_FN_THREAD_ROWS (control/native_map.py);
* ``lean-1thread``: the same call under ``numgrad.threads.limited(1)``;
* ``before``: the same graph with the gradient built under NUMGRAD_LOOP_GRAD_LEAN=0: every
  loop var recorded at every iteration (n copies of the accumulator: 32 n^2 bytes) and x's
  gradient densified and added whole each backward iteration, the code before; only for
  n <= ``--before-max`` (at 30,000 its history alone would be 28.8 GB);
* ``numpy``: the forward and the gradient written out by hand, vectorised.

Also per column the bytes the recording loop's history holds (``ng.explain``'s "history bytes
per iteration" times the trip count).  Each call's loss and gradients are checked against
the NumPy column.
"""
import numpy as np

from .bench_timing import interleaved_seconds

WIDTH = 4


def numpy_call(xv, wv):
    """(loss, d loss/dx, d loss/dw) by hand."""
    e = np.exp(-xv * xv)
    s, c = np.sin(xv * wv), np.cos(xv * wv)
    th = np.tanh(xv)
    y = s * e + th * np.cos(xv)
    dy_dx = wv * c * e - 2.0 * xv * s * e + (1.0 - th * th) * np.cos(xv) - th * np.sin(xv)
    g = 2.0 * y
    return np.sum(y * y), g * dy_dx, np.sum(g * xv * c * e, axis=0)


def graph_call(n, lean):
    """(call, the recording While op) of a session running loss and gradients, the gradient
    built with NUMGRAD_LOOP_GRAD_LEAN=`lean`; the call is warmed up (native loops compiled)."""
    import numgrad as ng
    from numgrad import compile_workers, config
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float64, [n, WIDTH])
        w = ng.placeholder(ng.float64, [WIDTH])
        y = ng.map_fn(lambda r: ng.sin(r * w) * ng.exp(-r * r) + ng.tanh(r) * ng.cos(r), x)
        loss = ng.reduce_sum(y * y)
        with config.override(NUMGRAD_LOOP_GRAD_LEAN=lean):
            grads = ng.gradients(loss, [x, w])
    rec = [op for op in g.get_operations()
           if op.type == "While" and op.get_attr("history") is not False]
    xv, wv = _inputs(n)
    sess = ng.Session(graph=g)
    feed = {x: xv, w: wv}
    fetches = [loss] + grads
    for _ in range(3):                  # interpreted first, then native
        sess.run(fetches, feed)
        compile_workers.wait_all()
    return (lambda: sess.run(fetches, feed)), rec[0]


def _one_thread(call):
    from . import threads

    def one():
        with threads.limited(1):
            return call()
    return one


def _inputs(n):
    rng = np.random.default_rng(n)
    return rng.normal(size=(n, WIDTH)), rng.normal(size=WIDTH)


def history_bytes(op):
    """Bytes of the recorded history of While `op`'s last native call (0 if none ran)."""
    from .control.native_loop import loop_status
    for kind, f in loop_status(op):
        if kind == "native" and f["history"]:
            return f["history_bytes_per_iteration"] * (f["last_trips"] or 0)
    return 0


def run(sizes=(1000, 3000, 10000, 30000), repeats=7, before_max=3000, out=print):
    """Per n: {column: {"ms", "min_ms", "history_bytes"}}."""
    from .config import override
    res = {}
    out(f"map_fn over n rows of {WIDTH} float64 with a captured w; loss and gradients w.r.t. x "
        f"and w; median and min ms of {repeats} (interleaved)")
    for n in sizes:
        xv, wv = _inputs(n)
        want = numpy_call(xv, wv)
        calls, ops = {}, {}
        cols = ("lean", "before") if n <= before_max else ("lean",)
        with override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
            for col in cols:
                calls[col], ops[col] = graph_call(n, col == "lean")
        calls = {"lean": calls["lean"], "lean-1thread": _one_thread(calls["lean"]),
                 **{k: v for k, v in calls.items() if k != "lean"}}
        ops["lean-1thread"] = ops["lean"]
        for col, call in calls.items():
            for got, ref in zip(call(), want):
                np.testing.assert_allclose(got, ref, rtol=1e-10, atol=1e-12)
        calls["numpy"] = lambda: numpy_call(xv, wv)
        times = interleaved_seconds(calls, repeats)
        res[n] = {k: {"ms": 1e3 * float(np.median(v)), "min_ms": 1e3 * float(np.min(v)),
                      "history_bytes": history_bytes(ops[k]) if k in ops else 0}
                  for k, v in times.items()}
        line = "  ".join(f"{k} {r['ms']:9.3f} (min {r['min_ms']:9.3f})"
                         + (f" [history {r['history_bytes'] / 2 ** 20:.3f} MiB]" if k in ops
                            else "")
                         for k, r in res[n].items())
        out(f"  n={n:6d}  {line}")
    return res
