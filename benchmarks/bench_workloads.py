"""asv benchmarks for W1-W5 (see numgrad/bench.py for the workloads and the plain table).

time_*: one call of the loss and all its gradients; peakmem_*: peak memory of a call;
track_*: cold compile and warm-cache first-call seconds, each in a fresh process.
"""
import tempfile

import numpy as np

from numgrad import bench

WORKLOADS = ["W1 f64 1e6", "W1 f32 1e6", "W2", "W3", "W4", "W5"]


class Workloads:
    params = WORKLOADS
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.fn, self.data = bench.numgrad_call(name)
        self.fn(*self.data)            # compile (or load from cache) outside the timing

    def time_numgrad(self, name):
        self.fn(*self.data)

    def time_numpy_by_hand(self, name):
        bench.WORKLOADS[name][1](*self.data)

    def peakmem_numgrad(self, name):
        self.fn(*self.data)


class Compile:
    params = WORKLOADS
    param_names = ["workload"]
    timeout = 900
    number = 1
    repeat = 1

    def track_cold_compile_seconds(self, name):
        with tempfile.TemporaryDirectory() as d:
            return bench.first_call_seconds(name, d)

    track_cold_compile_seconds.unit = "seconds"

    def track_warm_cache_seconds(self, name):
        with tempfile.TemporaryDirectory() as d:
            bench.first_call_seconds(name, d)
            return bench.first_call_seconds(name, d)

    track_warm_cache_seconds.unit = "seconds"


class MemoryBound:
    """W1 f64 1e7 time as a multiple of the memory-traffic bound (Numba triad)."""
    timeout = 900

    def setup(self):
        self.fn, self.data = bench.numgrad_call("W1 f64 1e7")
        self.fn(*self.data)
        self.bw = bench.triad_bandwidth()

    def track_w1_f64_1e7_times_bound(self):
        t = bench.median_time(self.fn, *self.data, repeat=5)
        bound = 2 * sum(np.asarray(d).nbytes for d in self.data) / self.bw
        return t / bound

    track_w1_f64_1e7_times_bound.unit = "x bound"
