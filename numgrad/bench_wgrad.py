"""Blocked weight gradients (NUMGRAD_BLOCKED_WGRAD, kernels/cpu/blas_call.py block_for): on
against off, interleaved in one process.

``python -m numgrad.bench_wgrad [--products] [--workloads] [--threads N] [--native]
[--repeats R]``

``--products``: single products X^T @ Y, one BLAS thread, microseconds (min and median of
`repeats` interleaved calls): one gemm (blas_call.matmul_into, np.matmul's routine) against
the blocks block_for picks and other block sizes, for W6's weight gradient ((20, 10000) @
(10000, 20)), W3's hidden layer's ((512, 256) @ (256, 10)) and a few shapes around them.

``--workloads``: whole calls, milliseconds (min and median of `repeats` rounds): W6's
``[loss] + gradients`` and Adam step (bench_train.py) and W3 (bench.py), each built twice in
this process, once with the switch on and once off (the choice is made when a plan is built,
so each session builds and runs its plans under its own setting), called in turn round after
round so that a loaded machine's noise falls on both alike.  By default the step runner
(NUMGRAD_NATIVE_PLAN=off); ``--native`` runs native lanes instead (compiled in this process:
minutes for W6).
"""
import argparse
import sys
import time

import numpy as np

from .kernels.cpu import blas_call

# (name, a shape, b shape): X^T @ Y products, a transposed
PRODUCTS = [("W6 dW (20x20, K 10000)", (10000, 20), (10000, 20)),
            ("W3 dW2 (512x10, K 256)", (256, 512), (256, 10)),
            ("20x20, K 2000", (2000, 20), (2000, 20)),
            ("2x20, K 50000", (50000, 2), (50000, 20)),
            ("20x256, K 2000", (2000, 20), (2000, 256)),
            ("64x64, K 1000", (1000, 64), (1000, 64))]


def _stats(seconds, scale):
    return scale * min(seconds), scale * float(np.median(seconds))


def products(repeats=50, dtype=np.float32, out=print):
    """{(product, variant): (min us, median us)}; variant 'whole', 'rule:<block>' (block_for's
    choice) or the block size."""
    from . import blas_threads
    from .bench_timing import interleaved_seconds
    if not blas_call.available():
        raise RuntimeError(blas_call.describe())
    rng = np.random.default_rng(0)
    table = {}
    blas_threads.begin()
    try:
        for name, a_shape, b_shape in PRODUCTS:
            # read-only operands, as numgrad's plans hand them (blas_call's docstring)
            a = blas_call.operand(rng.standard_normal(a_shape).astype(dtype))
            b = blas_call.operand(rng.standard_normal(b_shape).astype(dtype))
            k = a_shape[0]
            res = np.empty((a_shape[1], b_shape[1]), dtype)
            rule = blas_call.block_for(a_shape, b_shape, dtype, True, False)
            calls = {"whole": lambda a=a, b=b, res=res: blas_call.matmul_into(a, b, res, True,
                                                                              False)}
            for block in sorted({128, 512, 2048} | ({rule} if rule else set())):
                if block < k:
                    label = f"rule:{block}" if block == rule else str(block)
                    calls[label] = (lambda a=a, b=b, res=res, block=block:
                                    blas_call.matmul_blocks_into(a, b, res, True, False, block,
                                                                 0, k))
            for call in calls.values():
                call()
            for label, secs in interleaved_seconds(calls, repeats).items():
                table[name, label] = _stats(secs, 1e6)
                lo, med = table[name, label]
                out(f"{name:26} {label:>10}: {lo:9.1f} {med:9.1f} us")
    finally:
        blas_threads.end()
    return table


def _w6(blocked):
    from . import bench_train
    weights, data = bench_train.problem()
    grads, train, _ = bench_train.numgrad_calls(weights, data)
    return {"W6 grads": grads, "W6 Adam step": train}


def _w3(blocked):
    import numgrad as ng
    from . import bench
    graph = ng.Graph()
    with graph.as_default():
        fetches, phs, data = bench.w3(ng)
        sess = ng.Session(graph=graph)
    fn = sess.make_callable(fetches, phs)
    return {"W3": lambda: fn(*data)}


def workloads(repeats=30, native=False, out=print):
    """{(workload, 'on'|'off'): (min ms, median ms)} of the calls built with the switch on and
    off (see the module docstring)."""
    from . import compile_workers, config
    mode = "on" if native else "off"
    calls = {}
    for blocked in (True, False):
        switches = {"NUMGRAD_BLOCKED_WGRAD": blocked, "NUMGRAD_NATIVE_PLAN": mode}
        with config.override(**switches):
            for build in (_w6, _w3):
                for name, fn in build(blocked).items():
                    calls[name, "on" if blocked else "off"] = (fn, switches)
    for _ in range(2):
        compile_workers.wait_all()
        for fn, switches in calls.values():
            with config.override(**switches):
                for _ in range(4):              # compile, thread trials, lanes
                    fn()
    times = {key: [] for key in calls}
    for _ in range(repeats):
        for key, (fn, switches) in calls.items():
            with config.override(**switches):
                t0 = time.perf_counter()
                fn()
                times[key].append(time.perf_counter() - t0)
    table = {key: _stats(t, 1e3) for key, t in times.items()}
    for (name, how), (lo, med) in table.items():
        out(f"{name:14} blocked {how:3}: {lo:8.2f} {med:8.2f} ms")
    return table


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--products", action="store_true")
    ap.add_argument("--workloads", action="store_true")
    ap.add_argument("--native", action="store_true", help="native lanes, not the step runner")
    ap.add_argument("--threads", type=int, help="numgrad's threads")
    ap.add_argument("--repeats", type=int, default=30)
    args = ap.parse_args(argv)
    if args.threads:
        import numgrad as ng
        ng.set_num_threads(args.threads)
    if args.products or not args.workloads:
        for dtype in (np.float32, np.float64):
            print(np.dtype(dtype).name)
            products(args.repeats, dtype)
    if args.workloads or not args.products:
        workloads(args.repeats, args.native)


if __name__ == "__main__":
    main(sys.argv[1:])
