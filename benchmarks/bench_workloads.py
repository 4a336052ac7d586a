"""asv benchmarks for W1-W5 (see numgrad/bench.py for the workloads and the plain table).

time_*: one call of the loss and all its gradients (numgrad, and NumPy written by hand);
peakmem_*: peak memory (process RSS) of a call; track_*: cold compile and warm-cache
first-call seconds, each in a fresh process, and the peak temporary memory of one numgrad
call (tracemalloc, outputs excluded).
"""
import os
import pathlib

import numpy as np

from numgrad import bench, bench_w6

WORKLOADS = ["W1 f64 1e6", "W1 f32 1e6", "W2", "W3", "W4", "W5"]


class Workloads:
    params = WORKLOADS
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.fn, self.data = bench.numgrad_call(name)
        bench.warm_up(self.fn, self.data)    # compile (or load from cache) outside the timing

    def time_numgrad(self, name):
        self.fn(*self.data)

    def peakmem_numgrad(self, name):
        self.fn(*self.data)

    def track_peak_temporary_mib(self, name):
        return bench.peak_temporary_bytes(self.fn, self.data)[0] / 2 ** 20

    track_peak_temporary_mib.unit = "MiB"


class NumpyByHand:
    """The same workloads written by hand in NumPy: the baseline (no numgrad compile)."""
    params = WORKLOADS
    param_names = ["workload"]

    def setup(self, name):
        import numgrad as ng
        ng.reset_default_graph()
        self.np_fn = bench.WORKLOADS[name][1]
        self.data = bench.WORKLOADS[name][0](ng)[2]

    def time_numpy_by_hand(self, name):
        self.np_fn(*self.data)


class Compile:
    """First-call seconds in a fresh process: cold (empty module cache) and warm (cache
    filled by the cold run).  setup_cache does the cold runs once, into per-workload cache
    folders under asv's setup_cache working directory, which the warm runs then load."""
    params = WORKLOADS
    param_names = ["workload"]
    timeout = 900
    number = 1
    repeat = 1

    @staticmethod
    def _cache_dir(name):
        return os.path.abspath(os.path.join("numgrad_cache", name.replace(" ", "_")))

    def setup_cache(self):
        cold = {name: bench.first_call_seconds(name, self._cache_dir(name)) for name in WORKLOADS}
        first = {name: bench.first_call_seconds(name, self._cache_dir(name) + "_defaults",
                                                compile_at_once=False) for name in WORKLOADS}
        return {"cold": cold, "first": first}

    setup_cache.timeout = 2400

    def track_cold_compile_seconds(self, firsts, name):
        return firsts["cold"][name]

    track_cold_compile_seconds.unit = "seconds"

    def track_warm_cache_seconds(self, firsts, name):
        return bench.first_call_seconds(name, self._cache_dir(name))

    track_warm_cache_seconds.unit = "seconds"

    def track_first_call_seconds(self, firsts, name):
        """Cold first call with the defaults: a small plan (W4) is interpreted, not compiled."""
        return firsts["first"][name]

    track_first_call_seconds.unit = "seconds"


class MemoryBound:
    """W1 f64 1e7 time as a multiple of the memory-traffic bound (Numba triad)."""
    timeout = 900

    def setup(self):
        self.fn, self.data = bench.numgrad_call("W1 f64 1e7")
        bench.warm_up(self.fn, self.data)
        self.bw = bench.triad_bandwidth()

    def track_w1_f64_1e7_times_bound(self):
        t = bench.median_time(self.fn, *self.data, repeat=5)
        bound = 2 * sum(np.asarray(d).nbytes for d in self.data) / self.bw
        return t / bound

    track_w1_f64_1e7_times_bound.unit = "x bound"


class CallOverhead:
    """Per-call cost of a small hot plan (W4: ~30 ops on length-16 vectors) through
    `Session.run` (a TF-style loop) and through `make_callable`, fetched flat ([loss] + grads)
    and nested ([loss, grads]: the target is within 1.10 of flat; numgrad/bench_fetch.py)."""

    def setup(self):
        import numgrad as ng
        ng.reset_default_graph()
        self.fetches, feeds, self.data = bench.WORKLOADS["W4"][0](ng)
        self.nested = [self.fetches[0], self.fetches[1:]]
        self.sess = ng.Session()
        self.feed_dict = dict(zip(feeds, self.data))
        self.fn = self.sess.make_callable(self.fetches, feeds)
        self.nested_fn = self.sess.make_callable(self.nested, feeds)
        for _ in range(200):          # past NUMGRAD_FUSED_CALL_AFTER: the hot plan
            self.sess.run(self.fetches, self.feed_dict)
            self.sess.run(self.nested, self.feed_dict)
            self.fn(*self.data)
            self.nested_fn(*self.data)

    def time_session_run(self):
        self.sess.run(self.fetches, self.feed_dict)

    def time_session_run_nested(self):
        self.sess.run(self.nested, self.feed_dict)

    def time_make_callable(self):
        self.fn(*self.data)

    def time_make_callable_nested(self):
        self.nested_fn(*self.data)


class BusyCore:
    """W3 (matmul-heavy) beside another process that keeps one core busy (bench.busy_core):
    a BLAS call whose threads wait for the busy core made such graphs many times slower
    (numgrad/blas_threads.py, issue 21).  Compare with Workloads.time_numgrad('W3')."""
    params = ["W3"]
    param_names = ["workload"]
    timeout = 600

    def setup(self, name):
        self.fn, self.data = bench.numgrad_call(name)
        bench.warm_up(self.fn, self.data)
        self.spinner = bench.busy_core().__enter__()
        self.fn(*self.data)

    def teardown(self, name):
        self.spinner.__exit__(None, None, None)

    def time_numgrad_busy(self, name):
        self.fn(*self.data)

    def time_numpy_by_hand_busy(self, name):
        bench.WORKLOADS[name][1](*self.data)


class TrainStep:
    """W6-train (numgrad/bench_train.py): one Adam step of the Burgers PINN,
    ``sess.run([train_op, loss])``, and the loss-and-gradients call of the same graph (the
    issue's call; TrainStepPeers times both in the peers); the target is train / grads <= 1.15
    (the update fused, not a second pass)."""
    timeout = 900

    def setup(self):
        from numgrad import bench_train
        weights, data = bench_train.problem()
        self.grads, self.train, _ = bench_train.numgrad_calls(weights, data)
        for _ in range(16):     # compile, the thread trials and the step dispatch's choice
            self.grads()
            self.train()

    def time_train_step(self):
        self.train()

    def time_loss_and_gradients(self):
        self.grads()

    def track_train_over_grads(self):
        from numgrad.bench_train import median_ms
        return median_ms(self.train, 5, 0.5) / median_ms(self.grads, 5, 0.5)

    track_train_over_grads.unit = "ratio"


W6_PEERS_FILE = pathlib.Path(__file__).resolve().parent / "bench_w6_peers.py"


def _w6_peers():
    """benchmarks/bench_w6_peers.py beside this file (asv runs it from the checkout)."""
    return bench.checkout_module(W6_PEERS_FILE, "benchmarks.bench_w6_peers")


class TrainStepPeers:
    """W6's two calls (``grads``: the loss and its 18 gradients; ``train``: one Adam step) in
    each peer of benchmarks/bench_w6_peers.py, skipped where its package is not installed (asv's
    environment installs none unless its matrix names them).  Each peer's first calls are
    checked against numgrad's (numgrad/bench_w6.py's check_first).  The libraries keep their
    default threads here; ``python -m numgrad.bench_w6`` limits them to 1 and 2."""
    params = [list(_w6_peers().PEERS), list(bench_w6.CALLS)]
    param_names = ["peer", "call"]
    timeout = 900

    def setup(self, peer, call):
        from numgrad import bench_train
        mod = _w6_peers()
        if peer not in mod.available_peers():
            raise NotImplementedError(f"{peer} is not installed")
        weights, data = bench_train.problem()
        grads, _ = bench_train.numgrad_callables(weights, data)
        ref = [np.asarray(o) for o in grads()]
        self.calls = mod.make(peer, weights, data)
        bench_w6.check_first(peer, self.calls, ref)
        for _ in range(3):          # compile (torch.compile, XLA) and settle
            self.calls.grads()
            self.calls.train()

    def time_call(self, peer, call):
        getattr(self.calls, call)()


class StepDispatch:
    """W6's loss and gradients with its steps in the plan's order (``off``) and with the
    default choice (``auto``: independent steps at once where measured faster,
    numgrad/backends/cpu_schedule.py)."""
    params = ["off", "auto"]
    param_names = ["interop"]
    timeout = 900

    def setup(self, interop):
        from numgrad import bench_train, config
        self.switch = config.override(NUMGRAD_INTEROP=interop)
        self.switch.__enter__()
        weights, data = bench_train.problem()
        self.grads, _, _ = bench_train.numgrad_calls(weights, data)
        for _ in range(16):             # compile, thread trials, the dispatch's choice
            self.grads()

    def teardown(self, interop):
        self.switch.__exit__(None, None, None)

    def time_loss_and_gradients(self, interop):
        self.grads()


class LoopGradient:
    """W7 (numgrad/bench_loops.py): loss and gradients (F, x0) through a 1000-step RK4
    ``while_loop`` of Lorenz-96 (40 variables, float64): the forward loop (recording its
    history) and the backward loop each run as one native Numba function
    (numgrad/control/native_loop.py), the graph around them a compiled plan once past its
    first NUMGRAD_INTERPRET_CALLS (interpreted) calls."""
    timeout = 900

    def setup(self):
        from numgrad import bench_loops, config
        x0, target = bench_loops.problem()
        self.call = bench_loops.numgrad_call(x0, target)
        self.call()                     # the bodies compile during the first call
        from numgrad import compile_workers
        compile_workers.wait_all()      # kernels compiling in the background, if any
        for _ in range(config.get("NUMGRAD_INTERPRET_CALLS") + 1):
            self.call()

    def time_loss_and_gradients(self):
        self.call()

    def track_cold_first_call_seconds(self):
        from numgrad import bench_loops
        return bench_loops.numgrad_cold_first_call()

    track_cold_first_call_seconds.unit = "seconds"


class CnnStep:
    """W9 (numgrad/bench_cnn.py): a small CNN's loss and its six gradients, batch 64 of
    28x28x1 float32 (two 3x3 convolutions, max pool, dense, softmax cross-entropy)."""
    timeout = 900

    def setup(self):
        from numgrad import bench_cnn
        params, x, labels = bench_cnn.problem()
        self.call = bench_cnn.numgrad_call(params, x, labels)
        for _ in range(5):              # compile and the thread trials, outside the timing
            self.call()

    def time_loss_and_gradients(self):
        self.call()
