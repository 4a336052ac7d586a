"""Regression benchmark for a solved performance problem (issue 3): W1's fused kernel at 1e6
elements used to run 4-5x slower per element when its outputs were plain ``np.empty(n)``
arrays than when they were slices of a slightly larger buffer (``np.empty(n + 16)[:n]``).

Cause: the kernels indexed arrays with signed loop counters, so Numba emitted a wraparound
select (``a[i]`` is ``a[i + n]`` for ``i < 0``) per access; LLVM then guarded the vectorised
loop with alias checks over whole arrays, which failed whenever two arrays lay within a vector
of each other, as adjacent malloc blocks do, and the scalar loop ran.  Kernels now index with
unsigned counters (emit_cpu).  All three allocators should print the same ns/element.

    python benchmarks/output_alloc_anomaly.py [n]
"""
import sys
import time

import numpy as np

import numgrad as ng
from numgrad import bench


def main(n):
    ng.set_num_threads(1)
    fetches, feeds, data = bench.w1(ng, n, np.float32)
    sess = ng.Session(backend="cpu")
    sess.run(fetches, dict(zip(feeds, data)))
    plan = next(iter(sess._plans.values())).compiled(data)
    kernel = plan.runners[0].kernel
    q, parts = np.empty(1, np.float32), np.empty(64)
    allocators = {"np.empty(n)": lambda: np.empty(n, np.float32),
                  "np.zeros(n)": lambda: np.zeros(n, np.float32),
                  "np.empty(n + 16)[:n]": lambda: np.empty(n + 16, np.float32)[:n]}
    for name, alloc in allocators.items():
        outs = [alloc() for _ in range(3)]
        args = (n, 64, *data, np.float32(1.0), np.float32(2.0), *outs, q, parts)
        kernel(7, 0, 64, *args)
        best = min(_timed(kernel, args) for _ in range(5))
        print(f"{name:24s} {best / n * 1e9:8.2f} ns/element")


def _timed(kernel, args):
    t0 = time.perf_counter()
    kernel(7, 0, 64, *args)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 10 ** 6)
