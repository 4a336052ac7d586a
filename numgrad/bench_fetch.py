"""What a fetch structure costs per call: W4 (numgrad/bench.py: ~30 ops on length-16
vectors, a ~2 us call) fetched as TF1 scripts write it, ``sess.run([loss, grads], feed)``,
against the flat ``sess.run([loss] + grads, feed)``, through ``Session.run`` and through
``make_callable``; and ``Session.run`` with ``NUMGRAD_RUN_GUARDS`` off (each call builds its
key, numgrad/run_keys.py) beside it, so one process compares both.

``python -m numgrad.bench_fetch [--repeats 40] [--number 2000]`` prints min and median
microseconds per call of each column, every column timed in each round (batches of `number`
calls) so that a loaded machine slows all of them alike, and the nested/flat ratios (the
target: within 1.10).
"""
import argparse
import statistics
import timeit

import numpy as np

__all__ = ["calls", "flat_leaves", "main", "ratios", "run"]

_WARM_CALLS = 200           # past NUMGRAD_FUSED_CALL_AFTER: the one-dispatch plan function


def calls(backend=None):
    """({column: function of no arguments}, {column: its result}) on W4, every column warm,
    with Sessions of `backend` (None: the default)."""
    import numgrad as ng
    from numgrad import bench, config
    graph = ng.Graph()
    with graph.as_default():
        fetches, feeds, data = bench.WORKLOADS["W4"][0](ng)
    loss, grads = fetches[0], fetches[1:]
    feed = dict(zip(feeds, data))
    sess = ng.Session(graph=graph, backend=backend)
    with config.switches(RUN_GUARDS=False):     # its calls are remembered without a check
        keyed = ng.Session(graph=graph, backend=backend)
        keyed.run([loss] + grads, feed)
        keyed.run([loss, grads], feed)
    flat_fn = sess.make_callable([loss] + grads, feeds)
    nested_fn = sess.make_callable([loss, grads], feeds)
    columns = {
        "run flat": lambda: sess.run([loss] + grads, feed),
        "run nested": lambda: sess.run([loss, grads], feed),
        "run flat, keyed": lambda: keyed.run([loss] + grads, feed),
        "run nested, keyed": lambda: keyed.run([loss, grads], feed),
        "callable flat": lambda: flat_fn(*data),
        "callable nested": lambda: nested_fn(*data),
    }
    results = {}
    for name, call in columns.items():
        for _ in range(_WARM_CALLS):
            call()
        results[name] = call()
    return columns, results


def run(repeats=40, number=2000, backend=None):
    """{column: (min, median) microseconds per call}, the columns interleaved."""
    columns, _ = calls(backend)
    times = {name: [] for name in columns}
    for _ in range(repeats):
        for name, call in columns.items():
            times[name].append(timeit.Timer(call).timeit(number) / number * 1e6)
    return {name: (min(t), statistics.median(t)) for name, t in times.items()}


def ratios(table):
    """{comparison: (ratio of mins, ratio of medians)} of nested against flat calls."""
    out = {}
    for nested, flat in [("run nested", "run flat"), ("run nested, keyed", "run flat, keyed"),
                         ("callable nested", "callable flat"), ("run nested", "run flat, keyed")]:
        (n_min, n_med), (f_min, f_med) = table[nested], table[flat]
        out[f"{nested} / {flat}"] = (n_min / f_min, n_med / f_med)
    return out


def flat_leaves(result):
    """A nested result's arrays in order (what the flat fetch returns)."""
    if isinstance(result, list):
        return [x for r in result for x in flat_leaves(r)]
    return [np.asarray(result)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=40)
    p.add_argument("--number", type=int, default=2000, help="calls per timed batch")
    args = p.parse_args(argv)
    table = run(args.repeats, args.number)
    print(f"{'W4, us per call':24s} {'min':>7s} {'median':>7s}")
    for name, (lo, med) in table.items():
        print(f"{name:24s} {lo:7.2f} {med:7.2f}")
    print()
    for name, (lo, med) in ratios(table).items():
        print(f"{name:40s} min {lo:.3f}  median {med:.3f}")


if __name__ == "__main__":
    main()
