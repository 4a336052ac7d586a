"""Inter-op parallelism for the cpu backend: independent steps of a plan run at once.

Why: a plan's steps (fused kernels, matmuls, other opaque ops) ran one after another, each on
one core.  W6 (the PINN of bench_train.py: 199 steps, 125 of them small matmuls) spends ~28 ms
in its steps, but its longest chain of dependent steps takes ~16 ms: the backward passes of its
two networks and the weight-gradient products are independent of the products that carry the
gradient further.  Fused kernels are Numba functions compiled with ``nogil=True`` and NumPy's
matmul releases the GIL, so two Python threads running different steps use two cores.

How:

* `Dispatch` holds, once per plan, the steps' dependencies, who drops which value, and a
  priority per step: the length of its longest chain of dependent steps to the end of the
  plan, on measured (or estimated) step times.
* `run_steps` runs a call on `n` lanes: the calling thread and n - 1 threads of numgrad's
  pool.  A lane that is free takes a ready step: the calling thread the most urgent one, the
  others the least urgent.  Steps are not assigned to lanes in advance: a static assignment
  makes a lane wait for a step of a lane whose core another process holds (one scheduler
  tick, milliseconds); measured on the loaded development VM (2 cores, load ~5), W6's steps
  took 73 ms with a static two-lane schedule, 37 ms dispatched, 33 ms in the serial order.
  Helpers taking the least urgent work keep the longest chain on the calling thread: a helper
  held up by a busy core delays what is needed last.  Every lane runs inside
  ``threads.limited(1)``: a kernel does not also split itself across the pool and BLAS stays
  at one thread, so the lanes are the only threads that run.  Each step computes exactly what
  it computes in the serial order (no sum is split or reordered): results are bit-identical.
  A value is dropped when its last reader has run.  The dispatch itself costs 0.75 us a step
  on one lane and 1.1 us on two (W6's 199 steps as no-ops: 0.15 and 0.22 ms a call); a
  dispatched W6 call used 1.3 ms more CPU time than one in plan order (28.4 against 27.1 ms,
  minimum of 60, all threads: wake-ups, GIL hand-offs, arrays moving between cores' caches;
  3.2 ms more with glibc's default malloc thresholds, see malloc_tuning.py).  A failed step
  stops every lane and the caller runs the plan again in the serial order, which raises that
  order's error (plans are pure functions of their inputs; a plan with a step that has
  effects never runs here).
* Measured (docs/benchmarks.md, W6): on a quiet moment of the 2-core VM dispatched calls
  were 6% faster (median 26.5 against 28.2 ms), not the ~30% simulate() promises: the calling
  thread spent ~10 ms of its 28 ms in steps waiting to take the GIL back after a kernel,
  while the other lane held it for its Python part; every hand-off waits for the OS to wake
  a thread.  On the loaded VM (load 5-10) the trial mostly keeps the plan's order.
* `InteropChoice` decides per plan, by measurement, like the kernels' thread choice
  (backends/cpu.py THREAD_TRIALS): PROFILE_RUNS serial runs timed step by step, every step on
  one thread as in a lane, give the costs; if `simulate` promises a gain, serial and
  dispatched runs alternate until TRIALS of each decide.  A dispatched run that later takes
  SLOWER times its best trial (a core got busy) starts a new trial; a verdict is measured
  again after RECHECK runs (a serial one sooner, SERIAL_RECHECK doubling per repeated
  verdict), on fresh step times.

``NUMGRAD_INTEROP``: ``auto`` (default, measured), ``off`` (always the serial order) or ``on``
(dispatched whenever numgrad has two or more threads, from the first call, prioritised on
estimated costs: tests and A/B).
"""
import bisect
import threading
import time

from .. import config, threads
from ..ops.registry import has_trait

MODE = config.get("NUMGRAD_INTEROP")
STEP_SECONDS = 4e-6         # Python around every step, on top of its own time
PROFILE_RUNS = 3            # serial runs timed step by step (after the compiling first call)
GAIN = 0.85                 # trial lanes only if simulate() promises this fraction or less
TRIALS = 3
SLOWER = 2.0
RECHECK = 1000
SERIAL_RECHECK = 25
_clock = time.perf_counter
# A helper lane takes no step shorter than this (its Python, which holds the GIL, would be
# most of it).  Simulated on W6's measured step times (2 lanes, ms): serial 28.3, longest
# chain 16.0; every lane taking the most urgent step 17.0 (89 steps on the helper); the
# helper taking the least urgent 18.7 (113), of at least 50 us 18.8 (48).  Measured on the
# loaded VM (load ~7.5, 150 interleaved calls, 10th percentile): 49 ms with this threshold,
# 64 ms without, 51 ms with every lane taking the most urgent step, 67 ms serial.
HELPER_MIN_SECONDS = 50e-6


def serial_step(step):
    """Whether `step` has effects beyond its outputs (its op has the ``serial`` trait:
    printing, user Python code, nested control-flow plans that may hold either): a plan that
    has one always runs in the serial order."""
    return step.kind == "single" and has_trait(step.node.type, "serial")


def dependencies(reads, writes):
    """Per step, the earlier steps that write a value it reads (reads/writes: value ids)."""
    producer = {}
    deps = []
    for i, (ins, outs) in enumerate(zip(reads, writes)):
        deps.append(sorted({producer[v] for v in ins if v in producer}))
        for v in outs:
            producer[v] = i
    return deps


def estimated_costs(sizes):
    """Step seconds before any step was timed: about a nanosecond per element operation
    (`sizes`: per step, its element operations or multiply-adds)."""
    return [1e-9 * float(s) for s in sizes]


class Dispatch:
    """A plan's steps as a graph for run_steps: made once per plan and set of costs.

    users: per step, the steps that read one of its values.  missing: per step, how many steps
    it waits for.  priority: per step, bigger is more urgent (the longest chain of costs from
    it to the end; ties in plan order).  readers, drops: per droppable value its number of
    reading steps, per step the droppable values it reads."""

    def __init__(self, reads, writes, costs, droppable=()):
        n = self.n = len(reads)
        deps = dependencies(reads, writes)
        self.deps = deps
        self.users = [[] for _ in range(n)]
        for i, ds in enumerate(deps):
            for d in ds:
                self.users[d].append(i)
        self.costs = [c + STEP_SECONDS for c in costs]
        chain = [0.0] * n
        for i in reversed(range(n)):
            chain[i] = self.costs[i] + max((chain[u] for u in self.users[i]), default=0.0)
        self.chain = chain
        order = sorted(range(n), key=lambda i: (-chain[i], i))
        self.priority = [0] * n
        for p, i in enumerate(order):
            self.priority[i] = n - p
        self.missing = [len(ds) for ds in deps]
        self.measured = None            # the measured step times it was made from, if any
        self.initial = sorted((self.priority[i], i) for i in range(n) if not deps[i])
        droppable = set(droppable)
        self.drops = [sorted(set(ins) & droppable) for ins in reads]
        self.readers = {}
        for vs in self.drops:
            for v in vs:
                self.readers[v] = self.readers.get(v, 0) + 1

    def simulate(self, n_lanes):
        """(seconds, lane per step) of a run by run_steps's policy if every step took its
        cost and handing work between lanes took nothing (the lanes pick steps by _pick)."""
        missing = list(self.missing)
        ready = list(self.initial)
        free = [0.0] * n_lanes               # when each lane is next free
        running = []                          # (finish, step, lane)
        lane_of = [None] * self.n
        now = 0.0
        idle = list(range(n_lanes))
        while ready or running:
            for k in list(idle):
                s = _pick(ready, self.costs, k == 0)
                if s is None:
                    continue
                idle.remove(k)
                lane_of[s] = k
                free[k] = max(now, free[k]) + self.costs[s]
                bisect.insort(running, (free[k], s, k))
            now, s, k = running.pop(0)
            idle.append(k)
            idle.sort()
            for u in self.users[s]:
                missing[u] -= 1
                if not missing[u]:
                    bisect.insort(ready, (self.priority[u], u))
        return now, lane_of

    def serial_seconds(self):
        return sum(self.costs)


class StepFailed(Exception):
    """A step of a dispatched run raised (its exception is the cause); run serially again."""


class _Stopped(Exception):
    """Every step ran: the helper lanes may return."""


def _pick(ready, costs, urgent):
    """The step a lane takes from `ready` ((priority, step) pairs, sorted), or None: the
    caller's lane the most urgent ready step, a helper the least urgent one of at least
    HELPER_MIN_SECONDS (a short step is mostly Python, which holds the GIL)."""
    if urgent:
        return ready.pop()[1] if ready else None
    for k, (_, s) in enumerate(ready):
        if costs[s] >= HELPER_MIN_SECONDS:
            del ready[k]
            return s
    return None


def run_steps(dispatch, runners, env, n_lanes):
    """Run `runners` (callables of env, one per step) on `n_lanes` lanes by `dispatch`."""
    n = dispatch.n
    users, priority, drops, costs = dispatch.users, dispatch.priority, dispatch.drops, \
        dispatch.costs
    missing = list(dispatch.missing)
    readers = dict(dispatch.readers)
    ready = list(dispatch.initial)
    cond = threading.Condition(threading.Lock())
    state = [0, None]               # steps done; the exception that stops the lanes

    def lane(urgent):
        with threads.limited(1):
            cond.acquire()
            try:
                while True:
                    s = _pick(ready, costs, urgent)
                    if s is None:
                        if state[1] is not None or state[0] >= n:
                            return
                        cond.wait()
                        continue
                    cond.release()
                    try:
                        runners[s](env)
                    except BaseException as e:  # noqa: BLE001  (all lanes stop; rerun serially)
                        cond.acquire()
                        state[1] = e
                        cond.notify_all()
                        return
                    cond.acquire()
                    state[0] += 1
                    woken = 0
                    for u in users[s]:
                        missing[u] -= 1
                        if not missing[u]:
                            bisect.insort(ready, (priority[u], u))
                            woken += 1
                    for v in drops[s]:
                        readers[v] -= 1
                        if not readers[v]:      # its last reader has run
                            env[v] = None
                    # a lane that takes one of the woken steps itself wakes the others only
                    # for a second one (a helper may leave a small one to the caller's lane)
                    if woken > (1 if urgent else 0) or state[0] == n:
                        cond.notify_all()
            finally:
                cond.release()

    futures = [threads.pool().submit(lane, False) for _ in range(1, n_lanes)]
    try:
        lane(True)
    finally:
        with cond:
            if state[1] is None:
                state[1] = _Stopped()
            cond.notify_all()
        for f in futures:
            # a helper still queued behind other work of the pool (another thread's run) is
            # not waited for: the caller's lane ran every step
            if not f.cancel():
                f.result()
    if not isinstance(state[1], _Stopped):
        raise StepFailed() from state[1]


SERIAL, PROFILE, CONCURRENT = "serial", "profile", "concurrent"


class InteropChoice:
    """Per plan: whether a call runs its steps in the serial order or dispatched on lanes.

    `call(n_threads, serial, timed_serial, dispatched)` runs one call the chosen way; the
    choice is `next_run`'s (SERIAL; PROFILE: serial, each step timed; CONCURRENT: dispatched),
    and `done` records its time."""

    def __init__(self, reads, writes, droppable, sizes, serial_only=False):
        self.reads, self.writes, self.droppable, self.sizes = reads, writes, droppable, sizes
        self.serial_only = serial_only or len(reads) < 2
        self.calls = 0
        self.dispatch = None            # on the costs in hand
        self.lanes = None               # the thread count `estimate` was made for
        self.estimate = None            # simulate()'s seconds for `lanes`
        self.step_seconds = None        # per step, its fastest timed run
        self.profiled = 0
        self.verdict = None             # (lanes, whether dispatched runs were faster)
        self.trial = ([], [])           # serial and dispatched seconds of the running trial
        self.best = 0.0                 # fastest dispatched trial run
        self.runs = 0
        self.recheck_after = RECHECK
        self.serial_verdicts = 0
        self.last_trial = None          # (serial, dispatched) fastest seconds of the last trial

    def call(self, n_threads, serial, timed_serial, dispatched):
        """serial() and dispatched(dispatch, lanes) return a call's results, timed_serial()
        its results and each step's seconds."""
        how = self.next_run(n_threads)
        if how == SERIAL and (self.verdict is not None or self.dispatch is None):
            return serial()                 # nothing to time
        if how == PROFILE:
            with threads.limited(1):        # each step as a lane runs it
                out, seconds = timed_serial()
            self.profile(seconds)
            return out
        t0 = _clock()
        if how == CONCURRENT:
            try:
                out = dispatched(self.dispatch, n_threads)
            except StepFailed as e:
                if not isinstance(e.__cause__, Exception):
                    raise e.__cause__ from None     # KeyboardInterrupt: no second run
                return serial()         # raises the serial order's error
        else:
            out = serial()
        self.done(how, _clock() - t0)
        return out

    def next_run(self, n_threads):
        if self.serial_only or MODE == "off" or n_threads < 2:
            return SERIAL
        self.calls += 1
        if MODE == "on":
            if self.dispatch is None:
                self.dispatch = Dispatch(self.reads, self.writes, estimated_costs(self.sizes),
                                         self.droppable)
            return CONCURRENT
        if self.calls == 1:
            return SERIAL                   # compiles the kernels
        if self.profiled < PROFILE_RUNS:
            return PROFILE
        if self.dispatch is None or self.dispatch.measured is not self.step_seconds:
            self.dispatch = Dispatch(self.reads, self.writes, self.step_seconds, self.droppable)
            self.dispatch.measured, self.lanes = self.step_seconds, None
        if self.lanes != n_threads:
            self.lanes = n_threads
            self.estimate = self.dispatch.simulate(n_threads)[0]
            self.verdict, self.trial = None, ([], [])
            if self.estimate > GAIN * self.dispatch.serial_seconds():
                self._decide(False)
        self.runs += 1
        if self.verdict is not None and self.runs > self.recheck_after:
            # measured again, on fresh step times: the costs may have changed too
            self.verdict, self.dispatch, self.lanes = None, None, None
            self.step_seconds, self.profiled = None, 0
            return PROFILE
        if self.verdict is None:
            serial, dispatched = self.trial
            return CONCURRENT if len(dispatched) < len(serial) else SERIAL
        return CONCURRENT if self.verdict[1] else SERIAL

    def done(self, how, seconds):
        if MODE != "auto":
            return
        if self.verdict is None and self.dispatch is not None:
            serial, dispatched = self.trial
            (dispatched if how == CONCURRENT else serial).append(seconds)
            if len(dispatched) >= TRIALS and serial:
                self.best = min(dispatched)
                self.last_trial = (min(serial), self.best)
                self._decide(self.best < min(serial))
        elif how == CONCURRENT and seconds > SLOWER * self.best:
            self.verdict = None             # a core got busy: measure again
            self.trial = ([], [])

    def profile(self, step_seconds):
        self.profiled += 1
        mine = self.step_seconds
        self.step_seconds = list(step_seconds) if mine is None else \
            [min(a, b) for a, b in zip(mine, step_seconds)]

    def _decide(self, pays):
        self.verdict = (self.lanes, pays)
        self.serial_verdicts = 0 if pays else self.serial_verdicts + 1
        self.recheck_after = RECHECK if pays else min(
            RECHECK, SERIAL_RECHECK << min(self.serial_verdicts - 1, 16))
        self.runs = 0
        self.trial = ([], [])

    def describe(self):
        """One line for the plan summary."""
        if self.serial_only:
            return "steps: serial order (a step with effects, or a single step)"
        if self.dispatch is None or self.estimate is None and MODE != "on":
            return "steps: serial order (not measured yet)"
        if MODE == "on":
            return "steps: dispatched on lanes (NUMGRAD_INTEROP=on)"
        how = ("being measured" if self.verdict is None else
               "measured faster" if self.verdict[1] else
               "no gain promised: serial order"
               if self.estimate > GAIN * self.dispatch.serial_seconds() else
               "measured slower: serial order")
        return (f"steps: {self.lanes} lanes estimated {self.estimate * 1e3:.2f} ms against "
                f"{self.dispatch.serial_seconds() * 1e3:.2f} ms in the serial order ({how})")
