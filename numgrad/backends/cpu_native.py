"""Native lanes: a cpu plan run whole inside nogil Numba functions, one per lane.

Why: W6 (bench_train.py) runs ~67 fused kernels and ~122 small matmuls a call.  Run step by
step, every step returns to Python (a few us each, holding the GIL), and the inter-op lanes
of cpu_schedule.py hand the GIL back and forth between their threads: they gained ~6%.  Here
each lane is one Numba function that runs its steps back to back, matmuls included (NumPy's
own OpenBLAS called from native code, kernels/cpu/blas_call.py), and waits for the other
lane's values on step flags (kernels/cpu/lane_sync.py): the lanes hold no GIL while they run.

How: `NativePlan` assigns the steps to lanes once per plan (`schedule`: list scheduling on
the steps' measured seconds, the most urgent ready step first, every lane's steps in the
order of their simulated start, so that no lane waits for a step that waits for it), emits
and loads the lane functions (compiler/emit_lane.py) and runs a call: the calling thread
runs lane 0, numgrad's pool the others.  Matmuls run at one BLAS thread (blas_threads.begin);
a plan with a product of SMALL_MACS or more keeps the step runner and its measured BLAS
threads.  Each step is the serial order's kernel or BLAS call on the same data: results are
bit-identical to the step runner's, for 1 or 2 lanes.

`NUMGRAD_NATIVE_PLAN`: ``auto`` (default) has compile workers (compile_workers.py) compile
the lanes into the on-disk cache, never the user's process (NativeChoice._build), loads them
when the workers are done, then alternates native and step-runner calls until TRIALS of each
decide, and measures again after RECHECK calls; ``on`` compiles the lanes in the calling
process and always runs native where it can; ``off`` never.  A plan runs native only when
every step can (emit_lane's native_step) and its fetches are values its steps make.  A
failed native call (a lane raised) is run again by the step runner, which raises the step's
own error.

A NativeChoice also holds the plan's row-block choice (backends/cpu_rowblock.RowChoice, a
subclass built, compiled and measured the same way, `NUMGRAD_ROW_LANES`): where the plan can
run as row blocks, each call goes to it first, and it measures its own calls against the
step runner's; this choice builds its lanes only once the row blocks lose (`_other`).
"""
import threading
import time

import numba
import numpy as np

from .. import blas_threads, cache, compile_workers, config, threads
from ..compiler import emit_lane
from ..kernels.cpu import blas_call

MODE = config.get("NUMGRAD_NATIVE_PLAN")
TRIALS = 3
RECHECK = 1000
MAX_LANES = 2
# `auto` builds lanes only for plans whose steps are estimated at this many seconds a call or
# more: compiling the lanes costs seconds to minutes (W6's 197 steps: ~2 minutes of CPU on the
# development VM, then Numba's disk cache), which only plans run often and long repay.
# Where the time goes (W6, warm kernels, one lane compiled in process on a loaded 2-core VM):
# 66-68 s a lane as emitted; 22-26 s with the lane function itself unoptimised by LLVM
# (Numba's _dbg_optnone: its kernels keep their optimised code; calls ~10% slower, one run),
# but such a lane keeps dead loads of process-specific addresses, which Numba refuses to
# cache, so compile workers could not hand it over: not used.  (Those figures predate the
# lanes' views made inline and copies element by element, kernels/cpu/carve.py: the small
# PINN's two lanes went from ~9.6 to ~2.0 CPU s, docs/benchmarks.md "Compile cost of plan
# functions"; W6's lanes were not measured again.)
AUTO_MIN_SECONDS = 2e-3
# ... and after this many calls by the step runner, which compile or load the kernels first
# (the compile workers load the kernel modules the lanes import from the cache)
BUILD_AFTER = 3
_clock = time.perf_counter


def matmul_ok(node):
    a, b = node.inputs
    if not blas_call.supported(a.shape, b.shape, a.dtype, node.attrs["transpose_a"],
                               node.attrs["transpose_b"]):
        return False
    m = a.shape[1] if node.attrs["transpose_a"] else a.shape[0]
    n = b.shape[0] if node.attrs["transpose_b"] else b.shape[1]
    return m * n * (a.size // m) < blas_threads.SMALL_MACS


def why_not(plan):
    """None when `plan` (a CompiledPlan) can run native, else the reason."""
    if not (blas_call.ENABLED and blas_call.available()):
        return blas_call.describe()
    if not any(emit_lane.is_matmul(st) for st in plan.steps):
        return "no matmul (the plan function or the step runner serve it)"
    for st, run in zip(plan.steps, plan.runners):
        if not emit_lane.native_step(st, run, matmul_ok):
            what = "a fused kernel with gathers or lanes" if st.kind == "group" else \
                f"{st.node.type} '{st.node.name}'"
            return f"{what} has no native step"
    produced = {v.id for st in plan.steps for v in emit_lane.step_values(st)[1]}
    views = {st.node.outputs[0].id for st in plan.steps if emit_lane.is_view(st)}
    ids = [v.id for v in plan._fetch_values]
    if any(vid not in produced or vid in views or ids.count(vid) > 1 for vid in ids):
        return "a fetch that no step makes (a feed, constant or view) or fetched twice"
    return None


def schedule(deps, costs, n_lanes):
    """Per lane, its steps in run order: list scheduling (a free lane takes the ready step
    with the longest chain of costs to the end of the plan; the calling thread's lane 0
    first when several are free)."""
    n = len(costs)
    users = [[] for _ in range(n)]
    for i, ds in enumerate(deps):
        for d in ds:
            users[d].append(i)
    chain = [0.0] * n
    for i in reversed(range(n)):
        chain[i] = costs[i] + max((chain[u] for u in users[i]), default=0.0)
    ready_at = [0.0] * n
    missing = [len(ds) for ds in deps]
    ready = [i for i in range(n) if not missing[i]]
    free = [0.0] * n_lanes
    lanes = [[] for _ in range(n_lanes)]
    finish = [0.0] * n
    done = 0
    while done < n:
        k = min(range(n_lanes), key=lambda j: (free[j], j))
        # the most urgent step ready by the time lane k is free, else the earliest ready
        now = free[k]
        avail = [s for s in ready if ready_at[s] <= now]
        s = max(avail, key=lambda i: (chain[i], -i)) if avail else \
            min(ready, key=lambda i: (ready_at[i], -chain[i]))
        ready.remove(s)
        start = max(now, ready_at[s])
        finish[s] = free[k] = start + costs[s]
        lanes[k].append(s)
        done += 1
        for u in users[s]:
            missing[u] -= 1
            ready_at[u] = max(ready_at[u], finish[s])
            if not missing[u]:
                ready.append(u)
    return lanes


# Seconds per unit of work, for the schedule (W6 on the development VM, one thread: a
# (10000, 20) @ (20, 20) product 127 us, a fused kernel over (10000, 20) of ~10 ops ~100 us).
# The schedule is made from these estimates, not from timings, so that a plan's lane
# sources are the same in every process and Numba's disk cache serves them.
SECONDS_PER_MAC = 0.03e-9
SECONDS_PER_ELEMENT_OP = 0.05e-9
SECONDS_PER_COPIED = 1e-9


def estimated_costs(plan):
    """Per step of `plan`, its estimated seconds."""
    costs = []
    for st in plan.steps:
        if st.kind == "group":
            n = int(np.prod(st.space, dtype=np.int64)) * len(st.nodes)
            costs.append(SECONDS_PER_ELEMENT_OP * n)
        elif emit_lane.is_matmul(st):
            a, b = st.node.inputs
            k = a.shape[0] if st.node.attrs["transpose_a"] else a.shape[1]
            costs.append(SECONDS_PER_MAC * st.node.outputs[0].size * k)
        elif emit_lane.is_view(st):
            costs.append(0.0)
        else:
            costs.append(SECONDS_PER_COPIED * sum(v.size for v in st.node.outputs))
    return costs


def dependencies(plan):
    producer, deps = {}, []
    for i, st in enumerate(plan.steps):
        ins, outs = emit_lane.step_values(st)
        deps.append(sorted({producer[v.id] for v in ins if v.id in producer}))
        for v in outs:
            producer[v.id] = i
    return deps


class NativePlan:
    """The lane functions of one CompiledPlan for `n_lanes` lanes, and their buffers."""

    def __init__(self, plan, costs, n_lanes, load=True):
        self.plan = plan
        deps = dependencies(plan)
        self.lanes = schedule(deps, costs, n_lanes)
        lane_of = [0] * len(plan.steps)
        for k, steps in enumerate(self.lanes):
            for s in steps:
                lane_of[s] = k
        self.layout = emit_lane.Layout(plan, lane_of)
        runners = plan.runners
        self.sources = emit_lane.lane_sources(plan, runners, self.lanes, self.layout)
        self.arena = np.empty(self.layout.arena_bytes, np.uint8)
        self.flags = np.zeros(len(plan.steps) + 1, np.int64)
        self.epoch = 0
        self.consts = [a for _, a in plan.consts]
        self.lock = threading.Lock()
        self.fetch = [self.layout.given[v.id] for v in plan._fetch_values]
        # the argument types every call passes (feeds as writable C-contiguous arrays): what
        # load() and the compile workers compile the lanes for
        sample = ([np.empty(v.shape, v.dtype) for v in plan._feed_values] + self.consts +
                  [np.empty(shape, dtype) for shape, dtype in self.layout.out_allocs] +
                  [self.arena, self.flags, np.int64(0)])
        self.signature = tuple(numba.typeof(a) for a in sample)
        self.functions = None
        if load:
            self.load()

    def kernel_sources(self):
        """The sources of the kernel modules the lane functions import, in step order."""
        return kernel_sources(self.plan)

    def compile_items(self):
        """[(source, [signature])] of the functions to compile (compile_workers.start)."""
        return [(src, [self.signature]) for _, src in sorted(self.sources.items())]

    def cached(self):
        """Whether Numba's disk cache (or this process) holds machine code of every lane."""
        lanes = list(self.sources.values())
        return len(cache.compiled(lanes)) == len(lanes)

    def load(self):
        """Load the lane functions and compile them for the calls' argument types (a hit in
        Numba's disk cache when a worker compiled them)."""
        functions = [cache.load(src, "lane") for _, src in sorted(self.sources.items())]
        for fn in functions:
            fn.compile(self.signature)
        self.functions = functions

    def __call__(self, feed_values):
        """The fetched results, or None when the caller must run the steps (a call of this
        plan already running in another thread, or a lane failed)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            self.epoch += 1
            outs, args = call_arguments(self.layout, feed_values, self.consts)
            args += [self.arena, self.flags, np.int64(self.epoch)]
            if not self._run(args):
                return None
            return [outs[k] for k in self.fetch]
        finally:
            self.lock.release()

    def _run(self, args):
        fns = self.functions
        helpers = [threads.pool().submit(_guarded, fn, args, self.flags, self.epoch)
                   for fn in fns[1:]]
        ok = _guarded(fns[0], args, self.flags, self.epoch)
        for f in helpers:
            ok = f.result() and ok
        return ok


def call_arguments(layout, feed_values, consts):
    """(new output arrays, the leading arguments of a native plan's functions: the fed
    values, C-contiguous and writeable, then `consts`, then the outputs) of one call."""
    outs = [np.empty(shape, dtype) for shape, dtype in layout.out_allocs]
    fed = [a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")
           for a in feed_values]
    return outs, fed + list(consts) + outs


def kernel_sources(plan):
    """The sources of the kernel modules a plan's fused steps call, in step order."""
    seen = []
    for st, run in zip(plan.steps, plan.runners):
        if st.kind == "group" and run._source not in seen:
            seen.append(run._source)
    return seen


def start_workers(native):
    """Compile workers (compile_workers.Job) compiling the functions of `native` (a
    NativePlan, or backends/cpu_rowblock.RowPlan, made with load=False) into the cache: one
    process per function where there are CPUs for it, each loading the kernel modules the
    functions import first.  [] when none could start."""
    items = native.compile_items()
    kernels = [(src, []) for src in native.kernel_sources()]
    n = min(len(items), compile_workers.worker_count(len(items)))
    groups = [items[k::n] for k in range(n)]
    jobs = []
    for group in groups:
        job = compile_workers.start(kernels + group, cache.cache_dir(), workers=1)
        if job is None:
            for j in jobs:
                j.kill()
            return []
        jobs.append(job)
    return jobs


def _guarded(fn, args, flags, epoch):
    """Run a lane function; on an error, flag the other lanes to stop and report False."""
    try:
        with threads.limited(1):
            done = fn(*args)
    except Exception:  # noqa: BLE001  (the step runner runs the call again and raises)
        flags[-1] = epoch
        return False
    if not done:
        return False
    return True


class NativeChoice:
    """Per CompiledPlan: its NativePlan (made on the first call after its steps were timed)
    and whether native calls are faster than the step runner's (NUMGRAD_NATIVE_PLAN)."""

    def __init__(self, plan, with_rows=True):
        self.plan = plan
        self.reason = why_not(plan)
        self.native = None
        self.lanes = None
        self.trial = ([], [])           # step-runner and native seconds
        self.last_trial = None          # their fastest of the last trial
        self.verdict = None
        self.runs = 0
        self.calls = 0
        self.pending = None             # a NativePlan whose lanes workers compile (auto)
        self.jobs = []                  # those workers (compile_workers.Job)
        self.held = None                # why auto leaves uncached lanes uncompiled
        self.estimate = sum(estimated_costs(plan)) if self.reason is None else 0.0
        self.rows = None                # its row-block choice (backends/cpu_rowblock.py)
        if self.reason is None and with_rows:
            from . import cpu_rowblock
            self.rows = cpu_rowblock.RowChoice(plan)

    native_first = True     # trials start with a native call (RowChoice: with the other)

    @staticmethod
    def mode():
        return MODE

    def make(self, costs, n, load):
        """The native plan for n threads (NUMGRAD_NATIVE_PLAN: lanes)."""
        return NativePlan(self.plan, costs, n, load)

    def describe(self):
        text = self.describe_own()
        return text if self.rows is None else text + "\n  " + self.rows.describe_own()

    @staticmethod
    def width():
        """Lanes for the calling thread's thread count."""
        return max(1, min(MAX_LANES, threads.get_num_threads()))

    def describe_own(self):
        if self.reason is not None:
            return f"native lanes: no ({self.reason})"
        if self.mode() == "off":
            return "native lanes: possible, off (NUMGRAD_NATIVE_PLAN=off)"
        if self.mode() == "auto" and self.estimate < AUTO_MIN_SECONDS:
            return (f"native lanes: possible, not worth compiling (steps estimated at "
                    f"{self.estimate * 1e3:.2f} ms a call, auto needs {AUTO_MIN_SECONDS * 1e3:g})")
        if self.native is None:
            if self.pending is not None:
                since = _clock() - min(job.started for job in self.jobs)
                return (f"native lanes: compiling in a worker ({len(self.jobs)} process(es), "
                        f"{since:.0f} s so far; the step runner runs the calls meanwhile)")
            if self.held is not None:
                return f"native lanes: possible, not compiled ({self.held})"
            return "native lanes: possible, not built yet"
        how = {None: "being measured", True: "measured faster", False:
               "measured slower: steps run by the step runner"}[self.verdict]
        if self.mode() == "on":
            how = "NUMGRAD_NATIVE_PLAN=on"
        return (f"native lanes: {len(self.native.lanes)} lane(s) of "
                f"{[len(x) for x in self.native.lanes]} steps, "
                f"{self.native.layout.arena_bytes / 2 ** 20:.1f} MiB shared buffer ({how}); "
                + blas_call.describe())

    def call(self, feed_values, steps):
        """Results of one call: row blocks where they are chosen (cpu_rowblock.RowChoice,
        measured against the rest), else native lanes or `steps()` (the step runner)."""
        if self.rows is not None and self.rows.reason is None and \
                self.rows.mode() != "off":
            if self.pending is not None:
                self._poll()            # lanes compiled meanwhile: loaded for the trials
            return self.rows.call(feed_values, lambda: self._other(feed_values, steps))
        return self.call_lanes(feed_values, steps)

    def _other(self, feed_values, steps):
        """What runs a call that row blocks do not.  auto: while a row-block plan is being
        compiled, measured or chosen, the step runner, and no lanes are built (for W6 they
        would be minutes of compile workers and a 65 MiB buffer that row blocks beat); once
        row blocks are measured slower (or without a row-block plan, or with lanes built
        already), the lanes as `call_lanes` chooses them."""
        rows = self.rows
        if self.mode() == "auto" and self.native is None and self.pending is None and \
                rows.verdict is not False and \
                (rows.native is not None or rows.pending is not None):
            return steps()
        return self.call_lanes(feed_values, steps)

    def call_lanes(self, feed_values, steps):
        """Results of one call, native or by `steps()`."""
        if self.reason is not None or self.mode() == "off":
            return steps()
        if self.mode() == "auto" and self.estimate < AUTO_MIN_SECONDS:
            return steps()
        self.calls += 1
        if self.mode() == "auto" and self.calls <= BUILD_AFTER:
            return steps()      # the step runner's first calls compile its kernels
        n = self.width()
        if self.lanes != n:
            self._build(n)
        if self.pending is not None:
            self._poll()
        if self.native is None:             # compiling in workers, or held (auto)
            return steps()
        if self.mode() == "on" or self.verdict:
            out = self._native(feed_values)
            self.runs += 1
            if self.runs > RECHECK and self.mode() != "on":
                self.verdict, self.runs = None, 0
            return out if out is not None else steps()
        if self.verdict is False:
            self.runs += 1
            if self.runs > RECHECK:
                self.verdict, self.runs = None, 0
            return steps()
        stepped, native = self.trial
        t0 = _clock()
        if len(native) < len(stepped) + self.native_first:
            out = self._native(feed_values)
            if out is None:
                return steps()
            native.append(_clock() - t0)
        else:
            out = steps()
            stepped.append(_clock() - t0)
        if len(stepped) >= TRIALS:
            self.verdict, self.runs = min(native) < min(stepped), 0
            self.last_trial = (min(stepped), min(native))
            self.trial = ([], [])
        return out

    def _build(self, n):
        """Make the NativePlan for n lanes.  NUMGRAD_NATIVE_PLAN=on compiles its lanes now, in
        this process.  auto never compiles a lane in this process (minutes of Numba and LLVM
        for W6, most of it holding the GIL): it loads lanes that Numba's disk cache holds,
        else has compile workers (compile_workers.py, NUMGRAD_BACKGROUND_COMPILE) compile
        them into the cache while the step runner runs the calls, and loads them once they
        are done (_poll).  With NUMGRAD_BACKGROUND_COMPILE off, or a cache directory it cannot
        write, auto keeps the step runner."""
        self.lanes, self.native, self.verdict, self.trial = n, None, None, ([], [])
        self.pending, self.jobs, self.held = None, [], None
        costs = estimated_costs(self.plan)
        if self.mode() == "on":
            self.native = self.make(costs, n, True)
            return
        try:
            made = self.make(costs, n, False)
            if made.cached():
                made.load()
                self.native = made
                return
        except Exception as e:  # noqa: BLE001  (an optimisation: keep the step runner)
            self.reason = f"building the lanes failed: {type(e).__name__}: {e}"
            return
        from . import cpu
        if not cpu.BACKGROUND_COMPILE:
            self.held = ("NUMGRAD_BACKGROUND_COMPILE=0; NUMGRAD_NATIVE_PLAN=on compiles them "
                         "in this process")
            return
        if not cache.writable():
            self.held = f"the cache directory {cache.cache_dir()!r} is not writable"
            return
        self.jobs = start_workers(made)
        if not self.jobs:
            self.held = "no compile worker could be started"
            return
        self.pending = made

    def _poll(self):
        """Load the pending lanes once their workers are done (never waits for them; with
        NUMGRAD_NATIVE_PLAN=on set meanwhile, waits and compiles what they left)."""
        if self.mode() == "on":
            for job in self.jobs:
                job.wait()
        elif any(job.running() for job in self.jobs):
            return
        made, self.pending = self.pending, None
        failed = [text for job in self.jobs for text in job.failed]
        if self.mode() != "on" and (failed or not made.cached()):
            last = failed[-1].strip().splitlines()[-1] if failed and failed[-1].strip() else \
                "it saved no machine code"
            self.reason = f"compiling the lanes in a worker failed: {last}"
            return
        try:
            made.load()
        except Exception as e:  # noqa: BLE001  (an optimisation: keep the step runner)
            self.reason = f"loading the lanes failed: {type(e).__name__}: {e}"
            return
        self.native = made

    def _native(self, feed_values):
        blas_threads.begin()
        try:
            return self.native(feed_values)
        finally:
            blas_threads.end()
