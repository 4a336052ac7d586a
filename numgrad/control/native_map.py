"""A map_fn loop's native function run over ranges of its elements on numgrad's threads.

map_fn (control/functional.py) marks its While with INDEPENDENT_ROWS = n: its loop vars are
the index i (a 0-d int) and [n, ...] accumulators, and iteration i reads elems[i] and writes
row i only.  So the loop's native function (control/native_loop.py), started at i = b with
maxit = e - b, computes exactly rows b..e-1 of the serial run; it is ``nogil``, so the ranges
of i run at once on the threads of numgrad/threads.py, each on its own copy of the
accumulators (the function copies its loop vars first), and the rows are joined in order:
results bit-identical to one serial call.

The backward loop of a map_fn's gradient (attr INDEPENDENT_ROWS_GRAD) runs on threads too:
its step t counts down, and iteration t reads and zeroes row t - 1 of the accumulators'
gradients and adds to the captured tensors' gradients.  A range of t runs on a copy of the
accumulators' gradients, whose rows of that range are joined in order as above, and on
zeros for the captures' gradients: each range's partial sums, added to the initial ones in
the order of the ranges.  Deterministic, but not bit-identical to one thread (sums in
another order).  The recording copy a gradient runs of a map_fn loop runs on threads where it
records the counter only (its ranges' blocks are joined in order: as serial); one that
records an accumulator (NUMGRAD_LOOP_GRAD_LEAN=0) would record partly filled copies, so it
stays serial, as does a recording copy of a backward loop.  The accumulators' writes are in place (compiler/emit_loop.py
in_place_writes), but each range copies the whole accumulators once (its loop vars) and its
rows are copied into the first range's: a range costs its rows plus the accumulators' size.
"""
import numpy as np

from .. import config, threads
from .functional import INDEPENDENT_ROWS, INDEPENDENT_ROWS_GRAD

__all__ = ["split_rows", "run_rows"]


def split_rows(attrs, loop, left):
    """Bounds [b0, b1, .., bm] of the ranges of i to run on m threads (m >= 2), or None where
    the loop runs serially: not a map_fn loop, too few rows left for two threads, or one
    thread."""
    n = attrs.get(INDEPENDENT_ROWS)
    grad = attrs.get(INDEPENDENT_ROWS_GRAD)
    history = attrs["history"]
    if (n is None and grad is None) or (history is not False and (
            grad is not None or tuple(history) not in ((), (0,)))):
        return None
    per = config.get("NUMGRAD_MAP_FN_THREAD_ROWS")   # rows per thread at least (0: off)
    start = int(np.asarray(loop[0]))
    if grad is not None:        # t counts down from `start`: rows [start - rows, start)
        rows = min(start, left)
        start -= rows
    else:
        rows = min(n - start, left)
    m = min(threads.get_num_threads(), rows // per) if per else 1
    if m < 2:
        return None
    return [start + (k * rows) // m for k in range(m + 1)]


def run_rows(fn, consts, loop, caps, bounds, attrs):
    """(final loop vars, history blocks or None, trip count) of native function `fn` run
    over the ranges `bounds` at once: range k on loop vars (i = bounds[k], the accumulators
    as given), its rows then copied into the first range's accumulators; a recording loop's
    history blocks (the counter's only: split_rows) joined in the order of the ranges.  An
    IndexError in any range propagates (the caller then interprets the loop, which raises
    TF's error).  A backward loop (INDEPENDENT_ROWS_GRAD): _run_reverse_rows."""
    caps = list(caps)
    if attrs.get(INDEPENDENT_ROWS_GRAD) is not None:
        out, t = _run_reverse_rows(fn, consts, loop, caps, bounds,
                                   attrs[INDEPENDENT_ROWS_GRAD][1])
        return out, None, t

    def one(k):
        i = np.array(bounds[k], dtype=np.asarray(loop[0]).dtype)
        return fn(bounds[k + 1] - bounds[k], 1, i, *loop[1:], *caps, *consts)

    parts = _in_ranges(one, len(bounds) - 1)
    n = len(loop)
    out = list(parts[0][:n])
    for k in range(1, len(parts)):
        b, e = bounds[k], bounds[k + 1]
        for j in range(1, n):
            out[j][b:e] = parts[k][j][b:e]
    out[0] = parts[-1][0]
    hist = None
    if attrs["history"] is not False:
        hist = [np.concatenate([p[n + r] for p in parts]) for r in range(len(attrs["history"]))]
    return out, hist, sum(int(p[-1]) for p in parts)


def _in_ranges(one, n):
    """[one(0), ..., one(n - 1)]: ranges 1.. on numgrad's pool, range 0 on this thread (every
    range finishes before this returns, also when one raises)."""
    futures = [threads.pool().submit(one, k) for k in range(1, n)]
    try:
        first = one(0)
    finally:
        rest = [f.result() for f in futures]
    return [first] + rest


def _run_reverse_rows(fn, consts, loop, caps, bounds, m):
    """run_rows of a map_fn's backward loop, whose loop vars are t (counting down), `m`
    accumulators' gradients (range k: rows bounds[k]..bounds[k + 1] - 1, joined as in
    run_rows) and the captures' gradients (range k from zeros; the initial values plus every
    range's sums, in the order of the ranges)."""
    rows = range(1, 1 + m)

    def one(k):
        t = np.array(bounds[k + 1], dtype=np.asarray(loop[0]).dtype)
        sums = [np.zeros_like(v) for v in loop[1 + m:]]
        return fn(bounds[k + 1] - bounds[k], 1, t, *loop[1:1 + m], *sums, *caps, *consts)

    parts = _in_ranges(one, len(bounds) - 1)
    n = len(loop)
    out = [parts[0][0]] + list(parts[0][1:1 + m]) + [np.array(v) for v in loop[1 + m:]]
    for k in range(len(parts)):
        b, e = bounds[k], bounds[k + 1]
        if k:
            for j in rows:
                out[j][b:e] = parts[k][j][b:e]
        for j in range(1 + m, n):
            out[j] = out[j] + parts[k][j]
    return out, sum(int(p[-1]) for p in parts)
