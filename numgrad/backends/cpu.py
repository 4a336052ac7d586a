"""The compiled CPU backend: plan the graph per feed signature, run fused Numba kernels.

plan = the stages of compiler/stages.py's cpu_stages() (prune -> lower with the named
rewrites -> graph rewrites -> gathers -> fuse -> row pipelines -> lanes -> emit) -> cache ->
runner.
Graphs whose shapes depend on data fall back to the NumPy interpreter for that signature.

This module holds the plans (backends/plan.py's contract) and the switches that decide when a
plan interprets, compiles or builds its plan function.  The other jobs live beside it:
cpu_runners.py (step runners, measured thread choice), cpu_plan_function.py (the one-dispatch
plan function), cpu_liveness.py (what steps read and write: memory, the interop schedule's
facts), cpu_background.py (compiling in worker processes), cpu_interpreter.py (the NumPy
interpreter), cpu_summary.py (plan_summary text), cpu_schedule.py (independent steps at once).
"""
import logging
import os
import threading
import time
import weakref

import numpy as np

from .. import (blas_threads, cache, compile_workers, config, malloc_tuning, measured_choice,
               numba_start, threads)
from ..compiler import stages
from ..compiler.canonical import canonical
from ..compiler.emit_plan import emittable
from ..compiler.lower import Unsupported
from ..errors import is_allocation_failure, resource_exhausted
from ..ops.registry import has_trait
from . import cpu_native, cpu_schedule, register_backend
from .arrays import contiguous as _contiguous
from .cpu_background import start_compile_job
from .cpu_interpreter import ReferencePlan
from .cpu_liveness import interop_choice, liveness, oom_error
from .cpu_plan_function import emit_plan_function, final_results, hot_runners, pick_result
from .cpu_runners import GroupRunner, LaneRunner, single_runner
from .cpu_summary import plan_summary
from .plan import Plan, SignaturePlan

log = logging.getLogger("numgrad.compiler")

FUSED_CALL_AFTER = config.get("NUMGRAD_FUSED_CALL_AFTER")
STAGES = stages.cpu_stages()
# A small plan (no kernel big enough to run in parallel) runs its first INTERPRET_CALLS calls
# with the NumPy interpreter and compiles only when it is called again: compiling costs 1-3 s,
# a small plan's interpreted call well under a millisecond, so a graph run a few times (a
# notebook cell, a test, a short optimisation) never waits for Numba.  A plan called more
# often then compiles straight into its one-dispatch plan function (FUSED_CALL_AFTER), not
# first into step kernels it would stop using.  0 compiles on the first call.
INTERPRET_CALLS = config.get("NUMGRAD_INTERPRET_CALLS")
# A big plan (one with a kernel big enough for threads, so not interpreted for INTERPRET_CALLS
# calls) whose kernels are not in the on-disk cache has worker processes compile them
# (compile_workers.py) and runs the NumPy interpreter until they are done: W6's first call
# takes one interpreted call (~0.3 s) instead of 2.5-5 s of compiling.  Only while
# INTERPRET_CALLS > 0: with 0, every plan compiles on its first call.
BACKGROUND_COMPILE = config.get("NUMGRAD_BACKGROUND_COMPILE")
_BACKGROUND_LOCK = threading.Lock()
# A gather (axis 0) read only by fused loops is read by them in place (params[indices[i]])
# instead of being copied out first; NUMGRAD_FUSE_GATHERS=0 turns that off (A/B).
FUSE_GATHERS = config.get("NUMGRAD_FUSE_GATHERS")


class CompiledPlan(SignaturePlan):
    """The steps for one feed signature, with what the plan summary reports."""

    def __init__(self, ops, fetches, feeds, signature, reference=None, fuse_at_once=False,
                 stable=False):
        t0 = time.perf_counter()
        c = stages.compile_signature(STAGES, stages.Compilation(
            ops, fetches, feeds, signature,
            # a function plan's one-row gathers run in its plan function (native_single)
            options={"gathers": FUSE_GATHERS and not fuse_at_once,
                     "runtime_sized": True}))     # a loop's history (compiler/lower.py)
        L, fetch_values, feed_values, steps = c.L, c.fetch_values, c.feed_values, c.steps
        for spec in c.kernels.values():     # kernels equal up to value names: one module
            spec.source = canonical(spec.source)
        self.n_values = len(L.values)
        self.consts = []
        for v in L.values:
            if v.const is not None:
                try:
                    self.consts.append((v.id, _contiguous(v.const_array())))
                except (MemoryError, ValueError) as e:
                    if not is_allocation_failure(e):
                        raise
                    raise resource_exhausted(f"constant '{v.name}'", v.shape, v.dtype) from e
        self.feed_ids = [v.id for v in feed_values]
        # A value fetched again (two fetched tensors that are one value after CSE, such as
        # k * 3 written twice) is copied, so no two results share memory: the NumPy backend
        # computes them separately.
        seen = set()
        self.fetch = []
        for v in fetch_values:
            self.fetch.append((v.id, v.const is not None or v.id in seen))
            seen.add(v.id)
        self.runners = []
        self.kernels = 0
        for i, s in enumerate(steps):
            if s.kind == "group":
                lane_group = c.lane_groups.get(i)
                if lane_group is not None:
                    self.runners.append(LaneRunner(s, lane_group, c.kernels[i]))
                else:
                    self.runners.append(GroupRunner(s, c.kernels[i]))
                self.kernels += 1
            else:
                self.runners.append(single_runner(s.node))
        # one threads choice for all the plan's parallel kernels (measured_choice.joined),
        # shared with the process's plans whose parallel kernels have the same iteration
        # spaces and output dtypes (formulations of one computation: measured_choice.shared)
        parallel = [r for r in self.runners if getattr(r, "parallel", False)]
        key = ("kernels",) + tuple((tuple(r.space), tuple(sorted({str(o[2]) for o in
                                    r.outs_and_reds}))) for r in parallel)
        for run, choice in zip(parallel, measured_choice.joined(len(parallel), key)):
            run.choice = choice
        self.steps = steps
        # runs with a BLAS op set BLAS's threads for their matmuls (blas_threads.py)
        self.blas = blas_threads.uses_blas(s.node.type for s in steps if s.kind == "single")
        self.n_ops = len(ops)
        self._release, self.peak_temporary_bytes = liveness(steps, L.values, fetch_values)
        self._values = L.values
        self._fetch_values = fetch_values
        self._feed_values = feed_values
        self.fused_call = None
        self.fast = None            # feeds -> what Session.run returns, once fused_call exists
        # fuse_at_once (a control-flow function's plan): the first call already tries the
        # one-dispatch plan function, which may then also hold axis-0 rolls and one-row
        # gathers (native_single)
        self.calls = FUSED_CALL_AFTER if fuse_at_once else 0
        self.native_singles = fuse_at_once
        # The NumPy interpreter of the same fetches and feeds runs the first calls of a small
        # plan (see INTERPRET_CALLS); calls beyond interpret_calls run compiled code.
        small = not any(getattr(run, "parallel", False) for run in self.runners)
        self._reference = reference
        self.interpret_calls = (INTERPRET_CALLS if small and reference is not None
                                and not fuse_at_once else 0)
        self.fused_after = FUSED_CALL_AFTER
        self.stable = stable
        if stable:      # one code path from the first call: the same bits on every call
            self.interpret_calls, self.fused_after = 0, float("inf")
        # a big plan's kernels missing from the cache compile in worker processes while its
        # calls are interpreted (BACKGROUND_COMPILE); compile_job is the workers' Job, False
        # once decided that there is none (or it has finished)
        self.in_background = (BACKGROUND_COMPILE and INTERPRET_CALLS > 0 and
                              reference is not None and not stable)
        self.background = self.in_background and not small and self.kernels > 0
        self.compile_job = None
        self._fused_pending = None      # (job, plan function source and its facts)
        self.background_calls = 0       # calls interpreted while the workers compiled
        self.plan_seconds = time.perf_counter() - t0

    def _try_fused_call(self):
        """Small all-kernel plans become one Numba function: a call is one dispatch.

        Its kernels are re-emitted `hot` (vectorised vecmath): a plan called this often is
        worth the longer compile, and its math is then no longer libm-bound.  A plan with an
        interpreter (in_background) has a worker process compile that function into the
        cache and returns "pending" until it is done: the caller interprets meanwhile."""
        if self._fused_pending is not None:
            job, made = self._fused_pending
            if job.running():
                return "pending"
            self._fused_pending = None
            self._use_plan_function(*made)
            return None
        fits = self.steps and all(
            emittable(st, getattr(run, "parallel", False), self.native_singles)
            or st.kind == "single" and has_trait(st.node.type, "loop")
            for st, run in zip(self.steps, self.runners))
        loops = self._plan_loops() if fits else None
        if loops == "wait":             # a loop not native yet: the steps run meanwhile
            return "wait"
        self.fused_call = False
        if loops is None:
            return
        try:
            runners = hot_runners(self)
            made = emit_plan_function(self, runners, loops)
        except Exception as e:  # noqa: BLE001  (an optimisation: fall back to the step runner)
            log.debug("numgrad: no fused plan function: %s", e)
            return None
        if self.in_background and not cache.compiled([made[0]]):
            # the worker loads the hot kernels' modules (the function imports them by name),
            # then the function, whose explicit signature compiles it as it loads
            items = [(run._source, []) for run in runners if isinstance(run, GroupRunner)]
            items += [(s, []) for loop in loops.values() for s in loop.sources]
            job = compile_workers.start(items + [(made[0], [])], cache.cache_dir(), workers=1)
            if job is not None:
                self.fused_call, self._fused_pending = None, (job, made)
                self.compile_job = job
                return "pending"
        self._use_plan_function(*made)
        return None

    def _plan_loops(self):
        """{node id: native loop} of the While steps the plan function calls itself
        (control/native_loop.py plan_call), "wait" while one of them may still become
        native (the steps run until then), None where one cannot."""
        loops = {}
        for st in self.steps:
            if st.kind == "single" and has_trait(st.node.type, "loop"):
                from ..control.native_loop import WAIT, plan_call
                got = plan_call(st.node)
                if got is None or isinstance(got, str):
                    return None if got is None else WAIT
                loops[st.node.id] = got
        if loops and not self.stable:
            malloc_tuning.tune_once()       # as _run_steps: its history buffers reused
        return loops

    def _use_plan_function(self, source, const_args, out_ids, out_allocs):
        try:
            fn = cache.load(source, "plan")
        except Exception as e:  # noqa: BLE001  (as in _try_fused_call: run the steps)
            log.debug("numgrad: no fused plan function: %s", e)
            self.fused_call = False
            return
        self.fused_call = (fn, const_args, out_ids, out_allocs)
        self.fast = final_results(fn, const_args, out_ids, out_allocs, self._run_steps)

    def __call__(self, feed_values):
        if self.fused_call is None:
            # Building the one-dispatch plan function costs a compile (~1-3 s, cached on
            # disk), so only plans that are called often get it.
            self.calls += 1
            if self.calls <= self.interpret_calls:
                return self._reference(feed_values)
            if self.background and self._compiling(feed_values):
                self.background_calls += 1
                return self._reference(feed_values)
            numba_start.start()     # before any kernel, opaque ones included, is compiled
            # (a "wait" for a loop to go native leaves fused_call None: the steps run)
            if self.calls > self.fused_after and self._try_fused_call() == "pending":
                self.background_calls += 1
                return self._reference(feed_values)
        if self.fused_call:
            fn, const_args, out_ids, out_allocs = self.fused_call
            given = [np.empty(shape, dtype) for shape, dtype in out_allocs]
            try:
                outs = fn(*[_contiguous(a) for a in feed_values], *const_args, *given)
            except IndexError:
                # a gather index out of range (native_single): the steps raise TF's error
                return self._run_steps(feed_values)
            except TypeError:
                # The plan function's signature is explicit (see emit_plan_function): a
                # feed it does not take as is (unaligned memory) is copied to one it does.
                outs = fn(*[np.array(a, order="C") for a in feed_values], *const_args, *given)
            # Arrays the plan function allocated or filled are the caller's; anything else
            # (a feed or a view of one, a constant) is copied, as TF returns fresh arrays.
            return [pick_result(outs, given, i, fresh, const, scalar)
                    for i, fresh, const, scalar in out_ids]
        native = self._native or self._native_choice()        # backends/cpu_native.py
        if native.reason is None:
            return native.call(feed_values, lambda: self._blas_steps(feed_values))
        return self._blas_steps(feed_values)

    _native = None

    def _native_choice(self):
        self._native = cpu_native.NativeChoice(self)
        return self._native

    def _blas_steps(self, feed_values):
        if not self.blas:
            return self._run_steps(feed_values)
        blas_threads.begin()
        try:
            return self._run_steps(feed_values)
        finally:
            blas_threads.end()

    def _compiling(self, feed_values):
        """Whether worker processes are still compiling this plan's kernels.  The first call
        starts them, for the kernels not in the cache; when they are done (or there are
        none) the plan runs its compiled kernels from then on."""
        if self.compile_job is None:
            with _BACKGROUND_LOCK:
                if self.compile_job is None:
                    self.compile_job = start_compile_job(self, feed_values) or False
        if self.compile_job and self.compile_job.running():
            return True
        self.background = False
        return False

    _interop = None             # its InteropChoice (cpu_schedule.py), made on first run

    def _run_steps(self, feed_values):
        """The steps in the serial order, or independent ones at once (cpu_schedule.py)."""
        choice = self._interop
        if choice is None:
            if not self.stable:         # not in a Dask worker (cpu-stable): see malloc_tuning
                malloc_tuning.tune_once()   # freed intermediates reused, not faulted in again
            choice = self._interop = interop_choice(self)
        return choice.call(threads.get_num_threads(),
                           lambda: self._serial_steps(feed_values),
                           lambda: self._timed_steps(feed_values),
                           lambda dispatch, lanes: self._dispatched_steps(feed_values, dispatch,
                                                                          lanes))

    def _env(self, feed_values):
        env = [None] * self.n_values
        for vid, arr in self.consts:
            env[vid] = arr
        for vid, arr in zip(self.feed_ids, feed_values):
            env[vid] = _contiguous(arr)
        return env

    def _results(self, env):
        return [np.array(env[vid]) if copy else env[vid] for vid, copy in self.fetch]

    def _serial_steps(self, feed_values, seconds=None):
        """The steps in plan order; each step's seconds appended to `seconds` if given."""
        env = self._env(feed_values)
        step = 0
        clock = time.perf_counter
        try:
            for step, (run, dead) in enumerate(zip(self.runners, self._release)):
                if seconds is None:
                    run(env)
                else:
                    t0 = clock()
                    run(env)
                    seconds.append(clock() - t0)
                for vid in dead:          # last reader has run: the allocator can reuse it
                    env[vid] = None
        except (MemoryError, ValueError) as e:
            if not is_allocation_failure(e):
                raise
            raise oom_error(self.steps[step], e) from e
        return self._results(env)

    def _timed_steps(self, feed_values):
        """_serial_steps and each step's seconds (the dispatcher's step costs)."""
        seconds = []
        return self._serial_steps(feed_values, seconds), seconds

    def _dispatched_steps(self, feed_values, dispatch, lanes):
        env = self._env(feed_values)
        cpu_schedule.run_steps(dispatch, self.runners, env, lanes)
        return self._results(env)

    def summary(self):
        return plan_summary(self)



_PLANS = weakref.WeakSet()      # every CpuPlan, so that a forked child can renew their locks


def _after_fork_in_child():
    # A plan being built by another thread when the parent forked keeps its lock taken in the
    # child, where that thread does not exist; its half-built plan was never stored.
    for plan in list(_PLANS):
        plan._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class CpuPlan(Plan):
    """Per (fetches, feeds): a CompiledPlan per feed signature (shapes and dtypes), built on
    first use; signatures whose shapes depend on data get the NumPy interpreter."""

    def __init__(self, fetches, targets, feeds, stable=False):
        # NumpyPlan validates (unfed placeholders) and is the fallback for dynamic shapes.
        self._reference = ReferencePlan(fetches, targets, feeds, stable=stable)
        self._native_reference = None
        self._targets = list(targets)
        self.fetches, self.feeds = list(fetches), list(feeds)
        self.ops = self._reference.ops
        self._compiled = {}
        self._lock = threading.Lock()
        self._stable = stable
        _PLANS.add(self)

    def _signature(self, feed_values):
        return tuple((a.shape, a.dtype) for a in feed_values)

    def compiled(self, feed_values):
        sig = self._signature(feed_values)
        plan = self._compiled.get(sig)
        if plan is None:
            with self._lock:
                plan = self._compiled.get(sig)
                if plan is None:
                    try:
                        plan = self._build(sig)
                    except Unsupported as e:
                        log.info("numgrad: interpreting with NumPy: %s", e)
                        plan = self._interpreter()
                    self._compiled[sig] = plan
        return plan

    def _interpreter(self):
        """The interpreter of the signatures that cannot compile (shapes that depend on data:
        Segment* outputs, boolean_mask, ...): it stays their only path, so it runs the ops'
        Numba kernels where there are some (the first calls' interpreter does not: it would
        compile them).  One per plan, made on first need."""
        if self._native_reference is None:
            self._native_reference = ReferencePlan(self.fetches, self._targets, self.feeds,
                                                    native=True, stable=self._stable)
        return self._native_reference

    def _build(self, sig):
        return CompiledPlan(self.ops, self.fetches, self.feeds, sig, reference=self._reference,
                            stable=self._stable)

    def __call__(self, feed_values):
        return self.compiled(feed_values)(feed_values)




class FunctionPlan(CpuPlan):
    """The cpu plan of a control-flow function graph (a loop body or cond, a branch).  It is
    called once per iteration, so a compiled signature goes straight to the one-dispatch plan
    function (FuncGraph.run interprets the first calls, NUMGRAD_FUNCTION_COMPILE_AFTER).
    Captured tensors may change shape between runs of a loop: beyond MAX_SIGNATURES compiled
    signatures, new ones are interpreted rather than compiled."""

    MAX_SIGNATURES = 4

    def compiled(self, feed_values):
        if len(self._compiled) >= self.MAX_SIGNATURES \
                and self._signature(feed_values) not in self._compiled:
            return self._reference
        return super().compiled(feed_values)

    def _build(self, sig):
        return CompiledPlan(self.ops, self.fetches, self.feeds, sig, fuse_at_once=True,
                            reference=self._reference)


class CpuBackend:
    """``stable=True`` ("cpu-stable"): every plan runs one code path from its first call (no
    NumPy-interpreted first calls, no later switch to the one-dispatch plan function with its
    vectorised math), so repeated calls give bit-identical results.  Dask workers use it: a
    chunk's partial result must not depend on how many chunks its worker ran before."""

    def __init__(self, stable=False):
        self.stable = stable
        self.name = "cpu-stable" if stable else "cpu"

    def prepare(self, graph, fetches, targets, feeds):
        return CpuPlan(fetches, targets, feeds, stable=self.stable)


register_backend("cpu", CpuBackend)
register_backend("cpu-stable", lambda: CpuBackend(stable=True))
