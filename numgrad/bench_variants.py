"""Formulation variants of W1-W5: the same loss written as users plausibly write it.

``python -m numgrad.bench --variants [--only W1,W5]`` prints, per workload, the median ms of
each formulation (loss and all gradients in one call) and its ratio to the workload's fastest
formulation.  The target is every formulation within 1.2x of the best: speed must not depend
on how a formula is written.  Each variant computes the workload's loss and gradients (checked
against the workload's NumPy reference), from the workload's own data.  The formulations of a
workload are timed in one process, call by call in rotating order (`interleaved`), after a
warm-up that lets each plan make its measured choices (formulations whose parallel kernels
have the same iteration spaces share one threads choice, measured_choice.shared: a later
formulation starts from the earlier ones' verdict); ``--why`` also prints each one's spread
of call times and its plan's choices (threads per kernel, BLAS threads, inter-op, lanes)
with the times of the trial behind each (backends/cpu_summary.measured_choices).

Variants differ in association, ``**`` against products, ``x / y`` against ``x * (1 / y)``,
``reduce_mean`` against ``reduce_sum / n``, ``square(x)`` against ``x * x``, ``where`` masks
against multiplication by a 0/1 mask, ``expand_dims`` against ``x[:, None]``, fused library
ops against their expansion.
"""
import time

import numpy as np

from . import bench as B

__all__ = ["VARIANTS", "run", "print_table"]


# --- W1: reduce_sum(tanh(x w + b)^2 + exp(-x^2) sin(w)) --------------------------------------
def _w1_b(ng, x, w, b):          # square(), other association, exp(-square(x))
    return ng.reduce_sum(ng.sin(w) * ng.exp(-ng.square(x)) + ng.square(ng.tanh(b + w * x)))


def _w1_c(ng, x, w, b):          # a product for the square, two reductions, x ** 2
    t = ng.tanh(x * w + b)
    return ng.reduce_sum(t * t) + ng.reduce_sum(ng.exp(-(x ** 2)) * ng.sin(w))


def _w1(loss_fn):
    return lambda ng: B.w1(ng, 10 ** 6, np.float64, loss_fn)


# --- W2: reduce_sum(log(1 + exp(X v - mean(X, 1)))) -----------------------------------------
def _w2(loss_fn):
    return lambda ng: B.w2(ng, loss_fn)


def _w2_b(ng, X, v):             # sum / n, [:, None], log1p
    m = ng.reduce_sum(X, axis=1) / 1024.0
    return ng.reduce_sum(ng.log1p(ng.exp(X * v - m[:, None])))


def _w2_c(ng, X, v):             # softplus, expand_dims
    return ng.reduce_sum(ng.nn.softplus(X * v - ng.expand_dims(ng.reduce_mean(X, 1), 1)))


# --- W3: a 784-512-10 tanh MLP with softmax cross-entropy --------------------------------------
def _w3(loss_fn):
    return lambda ng: B.w3(ng, loss_fn)


def _w3_b(ng, x, y, W1, b1, W2, b2):     # xw_plus_b / bias_add, log_softmax by hand, sum / n
    h = ng.tanh(ng.nn.xw_plus_b(x, W1, b1))
    logits = ng.nn.bias_add(ng.matmul(h, W2), b2)
    return ng.reduce_sum(-ng.reduce_sum(y * ng.nn.log_softmax(logits), axis=1)) / 256.0


def _w3_c(ng, x, y, W1, b1, W2, b2):     # the cross-entropy written out with logsumexp
    h = ng.tanh(ng.matmul(x, W1) + b1[None, :])
    logits = ng.matmul(h, W2) + b2
    lse = ng.reduce_logsumexp(logits, axis=1)
    return ng.reduce_mean(lse - ng.reduce_sum(y * logits, axis=1))


# --- W4: a small chain of tanh and sigmoid (16 elements: dispatch-bound) ----------------------
def _w4(step, tail):
    return lambda ng: B.w4(ng, step, tail)


def _w4_step_b(ng, a, b, t, i):           # sigmoid written out, division
    return ng.tanh(b * t + 0.1 * i) + 0.5 / (1.0 + ng.exp(t - a))


def _w4_step_c(ng, a, b, t, i):           # 0.5 sigmoid(u) = 0.25 (1 + tanh(u / 2))
    return ng.tanh(t * b + 0.1 * i) + 0.25 * (1.0 + ng.tanh(0.5 * (a - t)))


def _w4_tail_b(ng, b, t):                 # square, sum / n
    return ng.reduce_sum(ng.square(t)) + ng.reduce_sum(ng.exp(-ng.square(b))) / 16.0


def _w4_tail_c(ng, b, t):                 # ** 2
    return ng.reduce_sum(t ** 2) + ng.reduce_mean(ng.exp(-b ** 2))


# --- W5: Lennard-Jones energy and forces of 1000 atoms ---------------------------------------
def _w5(inv6_fn, energy_fn):
    return lambda ng: B.w5(ng, 1000, inv6_fn, energy_fn)


def _w5_inv6_b(ng, r2):                   # (1 / r2) ** 3
    return (1.0 / r2) ** 3


def _w5_inv6_c(ng, r2):                   # a reciprocal, then products
    ir2 = ng.reciprocal(r2)
    return ir2 * ir2 * ir2


def _w5_energy_b(ng, inv6, eye):          # a where mask instead of a 0/1 product
    e = inv6 * inv6 - inv6
    return 2.0 * ng.reduce_sum(ng.where(eye > 0, ng.zeros_like(e), e))


VARIANTS = {   # workload -> [(variant name, build(ng)), ...]; the first is bench.py's
    "W1 f64 1e6": [("as in bench", _w1(B.w1_loss)), ("square, reassociated", _w1(_w1_b)),
                   ("t*t, two sums, x**2", _w1(_w1_c))],
    "W2": [("as in bench", _w2(B.w2_loss)), ("sum/n, [:, None], log1p", _w2(_w2_b)),
           ("softplus, expand_dims", _w2(_w2_c))],
    "W3": [("as in bench", B.w3), ("xw_plus_b, log_softmax, sum/n", _w3(_w3_b)),
           ("logsumexp by hand", _w3(_w3_c))],
    "W4": [("as in bench", B.w4),
           ("sigmoid by hand, square, sum/n", _w4(_w4_step_b, _w4_tail_b)),
           ("sigmoid as tanh, ** 2", _w4(_w4_step_c, _w4_tail_c))],
    "W5": [("as in bench", B.w5),
           ("(1/r2)**3", _w5(_w5_inv6_b, B.w5_energy)),
           ("reciprocal products, where mask", _w5(_w5_inv6_c, _w5_energy_b))],
}


def _reference(name, data):
    np_fn = B.WORKLOADS[name][1]
    return np_fn(*data)


def run(names=None, quick=False, why=False):
    """Per workload and variant: median ms and ratio to the workload's best variant.  With
    `why`, each row also holds its calls' ms, their 10th, 25th and 90th percentile and the
    plan's measured choices after the
    warm-up and after the timings (cpu_summary.measured_choices)."""
    import numgrad as ng
    rows = []
    for name in names or list(VARIANTS):
        timed = []
        for label, build in VARIANTS[name]:
            ng.reset_default_graph()
            fetches, feeds, data = build(ng)
            sess = ng.Session()
            fn = sess.make_callable(fetches, feeds)
            got = fn(*data)
            B.check(got, _reference(name, data),
                    1e-3 if name in ("W2", "W3") else 1e-8)
            B.warm_up(fn, data)
            plan = _plan(sess, fetches, feeds, data) if why else None
            timed.append((label, fn, data, plan, _choices(plan)))
        seconds = interleaved([(fn, data) for _, fn, data, *_ in timed],
                              0.1 if quick else ROUND_SECONDS)
        ms = {label: [t * 1e3 for t in calls] for (label, *_), calls in zip(timed, seconds)}
        med = {label: float(np.median(v)) for label, v in ms.items()}
        best = min(med.values())
        for label, _, _, plan, warmed in timed:
            row = {"workload": name, "variant": label, "ms": med[label],
                   "over_best": med[label] / best}
            if why:
                row.update(calls=len(ms[label]), call_ms=ms[label],
                           spread=[float(np.percentile(ms[label], q)) for q in (10, 25, 90)],
                           warmed=warmed, choices=_choices(plan))
            rows.append(row)
    return rows


ROUND_SECONDS = 0.25        # per variant: its calls take at least this long in all
MIN_ROUNDS = 15
MAX_ROUNDS = 20000


def interleaved(calls, seconds, min_rounds=MIN_ROUNDS, max_rounds=MAX_ROUNDS,
                clock=time.perf_counter):
    """Per (fn, args) of `calls`, the seconds of each of its calls.  A round makes one call of
    each, starting one later each round, for at least `min_rounds` rounds and until
    `seconds` per callable have passed, so that a burst of another process's load lands on
    every callable alike (before: rounds of 50 ms a callable).  This does not remove the
    noise of a VM whose calls each run either alone on a core or sharing it (two modes,
    about 1.8x apart at load 6 on 2 cores: docs/benchmarks.md); the 25th percentiles
    that `print_table` also compares (with ``--why``) are less exposed to it."""
    per = [[] for _ in calls]
    k = len(calls)
    end = clock() + seconds * k
    r = 0
    while r < min_rounds or (r < max_rounds and clock() < end):
        for j in range(k):
            i = (j + r) % k
            fn, args = calls[i]
            t0 = clock()
            fn(*args)
            per[i].append(clock() - t0)
        r += 1
    return per


def _plan(sess, fetches, feeds, data):
    """The CompiledPlan that the variant's callable runs (one more call, as the callable's)."""
    cp = sess._compiled_plan(fetches, dict(zip(feeds, data)))    # as tests/plan_checks.py
    return None if isinstance(cp, str) else cp


def _choices(plan):
    """The plan's measured choices as (what, choice, trial ms or None) rows; [] without."""
    if plan is None:
        return []
    from .backends.cpu_summary import measured_choices
    return [(what, choice, None if trial is None else [t * 1e3 for t in trial])
            for what, choice, trial in measured_choices(plan)]


def print_table(rows, out=print):
    out(f"{'workload':<12}{'variant':<34}{'ms':>10}{'/ best':>8}")
    for r in rows:
        ms = f"{r['ms']:.3f}" if r["ms"] >= 0.1 else f"{r['ms'] * 1e3:.2f} us"
        out(f"{r['workload']:<12}{r['variant']:<34}{ms:>10}{r['over_best']:>8.2f}")
        if "calls" in r:
            _print_why(r, out)
    worst = {}
    for r in rows:
        worst[r["workload"]] = max(worst.get(r["workload"], 0), r["over_best"])
    out("worst / best per workload: " + ", ".join(f"{k} {v:.2f}" for k, v in worst.items()))
    if rows and "spread" in rows[0]:
        out("the same on 25th percentiles (calls slowed by another process left out): " +
            ", ".join(f"{k} {v:.2f}" for k, v in _quarter_ratios(rows).items()))


def _quarter_ratios(rows):
    """Per workload, its slowest formulation's 25th percentile over its fastest one's."""
    got = {}
    for r in rows:
        got.setdefault(r["workload"], []).append(r["spread"][1])
    return {k: max(v) / min(v) for k, v in got.items()}


def _print_why(row, out):
    """A variant's calls and its measured choices: after the timings, and what they were
    after the warm-up where that differs."""
    lo, quarter, hi = row["spread"]
    out(f"    {row['calls']} calls, 10th-90th percentile {lo:.3f}-{hi:.3f} ms, 25th {quarter:.3f}")
    before = {what: (choice, trial) for what, choice, trial in row["warmed"]}
    for what, choice, trial in row["choices"]:
        text = f"    {what}: {choice}"
        if trial is not None:
            text += f" (trial {trial[0]:.3f} against {trial[1]:.3f} ms)"
        was = before.get(what)
        if was is not None and was != (choice, trial):
            text += f"; after the warm-up: {was[0]}" + (
                f" ({was[1][0]:.3f} against {was[1][1]:.3f} ms)" if was[1] else "")
        out(text)
