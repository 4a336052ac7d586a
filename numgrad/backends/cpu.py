"""The compiled CPU backend: plan the graph per feed signature, run fused Numba kernels.

plan = the stages of compiler/stages.py's cpu_stages() (prune -> lower with the named
rewrites -> graph rewrites -> gathers -> fuse -> row pipelines -> lanes -> emit) -> cache ->
runner.
Graphs whose shapes depend on data fall back to the NumPy interpreter for that signature.
"""
import logging
import os
import threading
import time
import weakref

import numpy as np

from .. import blas_threads, cache, compile_workers, config, malloc_tuning, numba_start, threads
from ..compiler import stages
from ..compiler.canonical import canonical
from ..compiler.emit_cpu import emit_group
from ..compiler.emit_plan import PlanEmitter, emittable
from ..compiler.lower import Unsupported
from ..kernels.cpu import OPAQUE
from ..errors import InvalidArgumentError, OpError, is_allocation_failure, resource_exhausted
from ..ops.registry import get_op_def
from . import cpu_native, cpu_schedule, functions_run_by, register_backend
from .arrays import contiguous as _contiguous
from .numpy import NumpyPlan
from .plan import Plan, SignaturePlan

log = logging.getLogger("numgrad.compiler")

from ..compiler.layout import PARALLEL_MIN  # noqa: E402  (below it: one serial kernel)
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
# A parallel launch costs 15-70 us on the development VMs (waking a sleeping worker, which
# then needs the GIL to unbox its arguments), and a VM's second vCPU may add little: W3's
# (256, 512) tanh kernel took 94 us on one thread and 124 us on two.  So whether threads pay
# is measured per kernel: its first THREAD_TRIALS runs each way, the faster way after that.
THREAD_TRIALS = 3
# ... and measured again after this many runs: a choice made during a noisy moment of a VM
# (another guest, a compile in another thread) does not stick for the life of the plan.
THREAD_RECHECK = 1000
# A verdict that threads do not pay is measured again sooner: after SERIAL_RECHECK runs, then
# twice as many after each repeated verdict, up to THREAD_RECHECK.  Such a verdict, taken in a
# noisy moment, halved W1's speed in one formulation of the variants bench; a true one costs
# a trial's few slower runs per recheck.
SERIAL_RECHECK = 25
_clock = time.perf_counter
CHUNKS = 64                # fixed chunk count for reductions over dim 0: deterministic sums


class _GroupRunner:
    def __init__(self, group, spec):
        # a gathered load passes its params where the load would be, its indices after the
        # loads (compiler/fuse.py virtual_gathers; emit_cpu's index_shapes)
        gathered = getattr(group, "gathered", {})
        self.loads = [(gathered[v.id][0].id if v.id in gathered else v.id, s)
                      for v, s in zip(group.loads, spec.load_shapes)]
        self.loads += [(gathered[v.id][1].id, s) for v, s in zip(
            [v for v in group.loads if v.id in gathered], getattr(spec, "index_shapes", []))]
        self.gathers = [(node, params.id, indices.id) for params, indices, node in
                        (gathered[v.id] for v in group.loads if v.id in gathered)]
        self.scalars = [v.const.reshape(-1)[0] for v in group.scalars]
        self.outs = [(v.id, v.shape, v.dtype, s) for v, s in zip(group.outputs, spec.out_shapes)]
        self.reds = [(r.outputs[0].id, r.outputs[0].shape, r.outputs[0].dtype, s)
                     for r, s in zip(group.reductions, spec.red_shapes)]
        self.outs_and_reds = self.outs + self.reds
        self.parts = [(s, dt) for s, dt in zip(spec.part_shapes, spec.acc_dtypes) if s is not None]
        self.counts = spec.counts
        n0 = spec.dims[0]
        # Dim 0 is cut into C chunks; fixed counts keep the order of floating-point partial
        # sums, hence results, independent of the number of threads.
        self.C = max(1, min(n0, CHUNKS if spec.reduces_dim0 else 4 * CHUNKS))
        self.sizes = list(spec.dims)
        self.parallel = int(np.prod(group.space, dtype=np.int64)) >= PARALLEL_MIN
        self._source, self._kernel = spec.source, None
        self.compiled = False
        self.compile_seconds = 0.0
        self.space, self.n_nodes = group.space, len(group.nodes)
        # (thread count, whether threads made it faster), measured by _timed_trial
        self.threads_pay = None
        self.trial_seconds = ([], [])
        self.runs_since_trial = 0
        self.recheck_after = THREAD_RECHECK
        self.serial_verdicts = 0        # consecutive verdicts that threads do not pay

    @property
    def kernel(self):
        """The kernel's module is loaded (its source written to the cache) on first use: a
        plan interpreted for its first calls may never need it."""
        k = self._kernel
        if k is None:
            k = self._kernel = cache.load(self._source, "kernel")
        return k

    @kernel.setter
    def kernel(self, k):
        self._kernel = k

    def __call__(self, env):
        for node, params, indices in self.gathers:
            _check_gather_indices(node, env[params], env[indices])
        args = self.sizes + [self.C]
        for vid, shape in self.loads:
            a = env[vid]
            args.append(a if a.shape == shape else a.reshape(shape))
        args.extend(self.scalars)
        results = []
        for vid, shape, dtype, kshape in self.outs_and_reds:
            a = np.empty(shape, dtype)
            results.append((vid, a))
            args.append(a if shape == kshape else a.reshape(kshape))
        parts = [np.empty((self.C,) + shape[1:], dtype) for shape, dtype in self.parts]
        args.extend(parts)
        args.extend(self.counts)
        self._run_kernel(args)
        for vid, a in results:
            env[vid] = a

    def _run_kernel(self, args):
        n_threads = threads.get_num_threads()
        if self.parallel and self.compiled and n_threads > 1:
            self.runs_since_trial += 1
            if self.runs_since_trial > self.recheck_after:
                self.threads_pay = None
            if self.threads_pay is None or self.threads_pay[0] != n_threads:
                self._timed_trial(args, n_threads)
            elif self.threads_pay[1]:
                self._run_parallel(args)
            else:
                self.kernel(7, 0, self.C, *args)
        else:
            # The first call runs serially: Numba compiles the kernel once, on this thread,
            # instead of racing to compile it in every worker.
            first = not self.compiled
            t0 = time.perf_counter()
            self.kernel(7, 0, self.C, *args)
            if first:
                self.compile_seconds = time.perf_counter() - t0
                self.compiled = True
                if self.compile_seconds > 1.0:
                    log.info("numgrad: compiled a fused kernel over %s (%d ops) in %.2f s",
                             self.space, self.n_nodes, self.compile_seconds)

    def _run_parallel(self, args):
        self.kernel(1, 0, 0, *args)
        threads.run_chunks(self.kernel, self.C, args)
        self.kernel(4, 0, 0, *args)

    def _timed_trial(self, args, n_threads):
        """Run serially or in parallel, alternately, timing each, until THREAD_TRIALS runs
        of each decide which is faster for this kernel (threads_pay).  Both run the same
        chunks and combine them in the same order: the results are identical either way."""
        serial, parallel = self.trial_seconds
        t0 = _clock()
        if len(parallel) <= len(serial):
            self._run_parallel(args)
            parallel.append(_clock() - t0)
        else:
            self.kernel(7, 0, self.C, *args)
            serial.append(_clock() - t0)
        if len(serial) >= THREAD_TRIALS:
            pays = min(parallel) < min(serial)
            self.threads_pay = (n_threads, pays)
            self.serial_verdicts = 0 if pays else self.serial_verdicts + 1
            self.recheck_after = THREAD_RECHECK if pays else min(
                THREAD_RECHECK, SERIAL_RECHECK << min(self.serial_verdicts - 1, 16))
            self.runs_since_trial = 0
            log.debug("numgrad: kernel over %s: serial %.1f us, %d threads %.1f us",
                      self.space, min(serial) * 1e6, n_threads, min(parallel) * 1e6)
            self.trial_seconds = ([], [])


def _check_gather_indices(node, params, indices):
    """The error the gather's own kernel raises (InvalidArgumentError, as TF on CPU) for an
    index outside [0, rows): a fused loop reads params[indices[i]] unchecked."""
    n = params.shape[0]
    if indices.size and (indices.min() < 0 or indices.max() >= n):
        bad = indices[(indices < 0) | (indices >= n)].reshape(-1)[0]
        raise InvalidArgumentError(
            f"{node.type} op '{node.name}' failed on input shapes "
            f"{[tuple(params.shape), tuple(indices.shape)]}: indices contain {bad}, which is "
            f"not in [0, {n})")


class _LaneRunner(_GroupRunner):
    """A group run as lanes (compiler/lanes.py): the kernel reads lane-major copies of the
    group's small inputs with the lane dim."""

    def __init__(self, group, lane_group, spec):
        super().__init__(lane_group.group, spec)
        self.space, self.n_nodes = group.space, len(group.nodes)
        self.lanes = lane_group.lanes
        self.lane_loads = [(vid, k, aligned, kshape) for (vid, k, aligned), kshape
                           in zip(lane_group.loads, spec.load_shapes)]
        # outputs and reductions are the plan's values, in the expanded kernel's shapes;
        # a reduction per lane (lane k) is stacked back along the last dim
        self.outs_and_reds = [(v.id, v.shape, v.dtype, kshape, None) for v, kshape in
                              zip(lane_group.outputs, spec.out_shapes)]
        self.outs_and_reds += [(v.id, v.shape, v.dtype, kshape, k) for (v, k), kshape in
                               zip(lane_group.reductions, spec.red_shapes)]

    def __call__(self, env):
        args = self.sizes + [self.C]
        copies = {}
        for vid, k, aligned, kshape in self.lane_loads:
            a = env[vid]
            if k is not None:
                t = copies.get(vid)
                if t is None:
                    t = copies[vid] = np.ascontiguousarray(np.moveaxis(a.reshape(aligned), -1, 0))
                a = t[k]
            args.append(a.reshape(kshape))
        args.extend(self.scalars)
        results = []
        stacked = {}                # plan value id -> (shape, its lanes' arrays)
        for vid, shape, dtype, kshape, k in self.outs_and_reds:
            if k is None:
                a = np.empty(shape, dtype)
                results.append((vid, a))
                args.append(a.reshape(kshape))
            else:
                a = np.empty(kshape, dtype)
                stacked.setdefault(vid, (shape, []))[1].append(a)
                args.append(a)
        args.extend(np.empty((self.C,) + shape[1:], dtype) for shape, dtype in self.parts)
        args.extend(self.counts)
        self._run_kernel(args)
        for vid, a in results:
            env[vid] = a
        for vid, (shape, lane_arrays) in stacked.items():
            env[vid] = np.stack(lane_arrays, axis=-1).reshape(shape)


def _single_runner(node):
    if node.type == "Reshape":
        src, dst, shape = node.inputs[0].id, node.outputs[0].id, node.outputs[0].shape

        def run_view(env):
            env[dst] = env[src].reshape(shape)
        return run_view
    op_def = get_op_def(node.type)
    if node.type in FUNCTION_OPS:
        op_def = _FunctionOpDef(op_def)
    ins = [v.id for v in node.inputs]
    outs = [(v.id, v.shape, v.dtype) for v in node.outputs]
    attrs = node.attrs
    native = OPAQUE.get(node.type)      # a Numba kernel for the common cases, if there is one
    # a BLAS op calls its compute through the step's BLAS thread choice (blas_threads.py)
    blas = blas_threads.MatmulSite() if node.type in blas_threads.BLAS_OPS else None

    def run_opaque(env):
        args = [env[i] for i in ins]
        try:
            with np.errstate(all="ignore"):
                res = native(args, attrs) if native is not None else None
                if res is None:
                    res = (op_def.compute(args, attrs) if blas is None else
                           blas(op_def.compute, args, attrs))
        except OpError:                     # an op's own run-time error (CheckNumerics)
            raise
        except (ValueError, IndexError, TypeError, ZeroDivisionError) as e:
            if is_allocation_failure(e):        # reported by CompiledPlan, naming the buffer
                raise
            raise InvalidArgumentError(f"{node.type} op '{node.name}' failed on input shapes "
                                       f"{[tuple(a.shape) for a in args]}: {e}") from e
        for (vid, shape, dtype), r in zip(outs, res):
            r = np.asarray(r)
            if r.dtype != dtype:
                r = r.astype(dtype)
            env[vid] = np.ascontiguousarray(r).reshape(shape)
    run_opaque.blas_site = blas
    return run_opaque


class CompiledPlan(SignaturePlan):
    """The steps for one feed signature, with what the plan summary reports."""

    def __init__(self, ops, fetches, feeds, signature, reference=None, fuse_at_once=False,
                 stable=False):
        t0 = time.perf_counter()
        c = stages.compile_signature(STAGES, stages.Compilation(
            ops, fetches, feeds, signature,
            # a function plan's one-row gathers run in its plan function (native_single)
            options={"gathers": FUSE_GATHERS and not fuse_at_once}))
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
                    self.runners.append(_LaneRunner(s, lane_group, c.kernels[i]))
                else:
                    self.runners.append(_GroupRunner(s, c.kernels[i]))
                self.kernels += 1
            else:
                self.runners.append(_single_runner(s.node))
        self.steps = steps
        # runs with a BLAS op set BLAS's threads for their matmuls (blas_threads.py)
        self.blas = blas_threads.uses_blas(s.node.type for s in steps if s.kind == "single")
        self.n_ops = len(ops)
        self._release, self.peak_temporary_bytes = _liveness(steps, L.values, fetch_values)
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
        self.fused_call = False
        if not self.steps or not all(
                emittable(st, getattr(run, "parallel", False), self.native_singles)
                for st, run in zip(self.steps, self.runners)):
            return
        try:
            runners = hot_runners(self)
            made = _emit_plan_function(self, runners)
        except Exception as e:  # noqa: BLE001  (an optimisation: fall back to the step runner)
            log.debug("numgrad: no fused plan function: %s", e)
            return None
        if self.in_background and not cache.compiled([made[0]]):
            # the worker loads the hot kernels' modules (the function imports them by name),
            # then the function, whose explicit signature compiles it as it loads
            items = [(run._source, []) for run in runners if isinstance(run, _GroupRunner)]
            job = compile_workers.start(items + [(made[0], [])], cache.cache_dir(), workers=1)
            if job is not None:
                self.fused_call, self._fused_pending = None, (job, made)
                self.compile_job = job
                return "pending"
        self._use_plan_function(*made)
        return None

    def _use_plan_function(self, source, const_args, out_ids, out_allocs):
        try:
            fn = cache.load(source, "plan")
        except Exception as e:  # noqa: BLE001  (as in _try_fused_call: run the steps)
            log.debug("numgrad: no fused plan function: %s", e)
            self.fused_call = False
            return
        self.fused_call = (fn, const_args, out_ids, out_allocs)
        self.fast = _final_results(fn, const_args, out_ids, out_allocs)

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
                # The plan function's signature is explicit (see _emit_plan_function): a
                # feed it does not take as is (unaligned memory) is copied to one it does.
                outs = fn(*[np.array(a, order="C") for a in feed_values], *const_args, *given)
            # Arrays the plan function allocated or filled are the caller's; anything else
            # (a feed or a view of one, a constant) is copied, as TF returns fresh arrays.
            return [_pick(outs, given, i, fresh, const, scalar)
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
                    self.compile_job = _start_compile_job(self, feed_values) or False
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
            choice = self._interop = _interop_choice(self)
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
            raise _oom(self.steps[step], e) from e
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


def _start_compile_job(plan, feed_values):
    """Worker processes compiling the kernels of `plan` that are not in the cache, for the
    argument types they get with `feed_values`; None if there are none to compile."""
    sources = {r._source for r in plan.runners if isinstance(r, _GroupRunner)}
    missing = sources - cache.compiled(sources)
    if not missing or not cache.writable():
        return None
    try:
        signatures = _kernel_signatures(plan, feed_values)
    except Exception as e:  # noqa: BLE001  (the dry run is an optimisation: compile on use)
        log.debug("numgrad: no background compile: %s", e)
        return None
    items = [(src, sorted(signatures[src], key=str)) for src in sorted(missing)
             if signatures.get(src)]
    return compile_workers.start(items, cache.cache_dir()) if items else None


class _SignatureRecorder:
    """Stands in for a kernel in a dry run: records the Numba types of each call's arguments."""

    def __init__(self):
        self.signatures = set()

    def __call__(self, *args):
        from numba import typeof
        self.signatures.add(tuple(typeof(a) for a in args))


def _kernel_signatures(plan, feed_values):
    """{kernel source: the Numba signatures its runner calls it with}, from a dry run of the
    plan's steps on `feed_values`: the kernels record their arguments instead of running,
    opaque steps leave zero arrays of their outputs' shapes and dtypes (untouched memory)."""
    env = [None] * plan.n_values
    for vid, arr in plan.consts:
        env[vid] = arr
    for vid, arr in zip(plan.feed_ids, feed_values):
        env[vid] = _contiguous(arr)
    found = {}
    for st, run, dead in zip(plan.steps, plan.runners, plan._release):
        if st.kind == "group":
            saved = run._kernel, run.compiled, run.compile_seconds
            recorder = run._kernel = _SignatureRecorder()
            try:
                run(env)
            finally:
                run._kernel, run.compiled, run.compile_seconds = saved
            found.setdefault(run._source, set()).update(recorder.signatures)
        elif st.node.type == "Reshape":
            run(env)
        else:
            for v in st.node.outputs:
                env[v.id] = np.zeros(v.shape, v.dtype)
        for vid in dead:
            env[vid] = None
    return found


def _emit_hot(group):
    """The `hot` kernel spec of `group` (emit_group), its value names canonical."""
    spec = emit_group(group, hot=True)
    spec.source = canonical(spec.source)
    return spec


def hot_runners(plan):
    """Serial runners of a CompiledPlan's steps for a plan function: its kernels re-emitted
    `hot` (vectorised vecmath, canonical names), other steps' runners as they are."""
    return [_GroupRunner(st, _emit_hot(st)) if st.kind == "group" else run
            for st, run in zip(plan.steps, plan.runners)]


def _pick(outs, given, i, fresh, const, scalar):
    """Fetch (i, fresh, const, scalar) of out_ids from a plan function's returned tuple
    `outs` (i >= 0), the arrays `given` to it (i <= -2: given[-2 - i]), or a constant."""
    if i <= -2:
        return given[-2 - i]
    if fresh:
        return np.array(outs[i], scalar) if scalar else outs[i]
    return np.array(outs[i] if i >= 0 else const)


def _final_results(fn, const_args, out_ids, out_allocs=()):
    """The hot path of make_callable, for plans whose fetches are all arrays the plan
    function allocates or fills: contiguous feeds of the right dtypes and validated shapes
    in, Session.run's results out (NumPy scalars for 0-d arrays).  None for other plans.
    (Fetch i is the plan function's returned value out_ids[i][0], or the output array
    given to it, see _pick.)"""
    if not all(fresh for _, fresh, _, _ in out_ids):
        return None
    # The function is generated for this plan's fetches (no loop, no list copy): a W4-size
    # plan spends ~1.5 us per call in Python around the plan function's ~5 us.
    env = {"fn": fn, "consts": tuple(const_args), "array": np.array, "empty": np.empty}
    allocs = []
    for k, (shape, dtype) in enumerate(out_allocs):
        env[f"d{k}"] = np.dtype(dtype)
        allocs.append(f"    o{k} = empty({tuple(shape)!r}, d{k})\n")
    picks = []
    for i, _, _, scalar in out_ids:
        if i <= -2:
            picks.append(f"o{-2 - i}")
        elif scalar:
            env[f"s{i}"] = scalar
            picks.append(f"s{i}(r[{i}])")
        else:
            picks.append(f"r[{i}]")
    more = (", *consts" if const_args else "") + "".join(f", o{k}" for k in range(len(out_allocs)))
    source = ("def fast(args):\n" + "".join(allocs) +
              "    try:\n"
              f"        r = fn(*args{more})\n"
              "    except TypeError:\n"
              "        # Not the types of fn's explicit signature: unaligned arrays pass the\n"
              "        # caller's checks and are copied here; anything else raises again.\n"
              f"        r = fn(*[array(a, order='C') for a in args]{more})\n"
              f"    return [{', '.join(picks)}]\n")
    exec(compile(source, "<numgrad plan results>", "exec"), env)
    return env["fast"]


def _emit_plan_function(plan, runners):
    """Source of one njit function running every step of a small plan (cache.load compiles
    it, with the explicit signature, as it loads it).

    Returns the source, its constant arguments, per fetch (index in the returned tuple,
    -1 for a constant or -2 - k for output array k, whether that array is freshly allocated
    by the function, the constant or None, the scalar type of a 0-d result), and the
    (shape, dtype) of each output array the caller allocates and passes last.

    A fetched array that a kernel writes is such an output array: the caller allocates it
    and the function only fills it.  Numba spends ~1.3 us returning an array (boxing it,
    even one it was given), NumPy ~0.15 us allocating a small one."""
    em = PlanEmitter()
    for i, v in enumerate(plan._feed_values):
        em.bind(v, f"f{i}")
        em.params.append(f"f{i}")
    fetch_count = {}
    for v in plan._fetch_values:
        fetch_count[v.id] = fetch_count.get(v.id, 0) + 1
    given = {}                  # value id -> index of the output array the caller passes
    out_allocs = []

    def alloc(vid, shape, dtype):
        if fetch_count.get(vid) == 1 and shape != ():
            given[vid] = len(out_allocs)
            out_allocs.append((shape, dtype))
            return f"o{given[vid]}"
        return f"np.empty({shape!r}, np.{dtype.name})"
    body = em.steps(plan.steps, runners, alloc)
    params, const_args, imports, fresh = em.params, em.const_args, em.imports, em.fresh
    out_ids, rets = [], []
    returned = set()
    for v in plan._fetch_values:
        if v.const is not None:
            out_ids.append((-1, False, v.const_array(), None))
        else:
            # A value fetched twice, or a view of another fetched value, is not fresh twice.
            own = v.id in fresh and v.id not in returned
            returned.add(v.id)
            ret = em.arg(v)
            # A fresh 0-d result comes back as a Python scalar, made a NumPy one by the
            # caller: boxing a new array costs Numba ~0.9 us, a float nothing.
            scalar = v.dtype.type if own and v.shape == () else None
            if own and v.id in given:
                out_ids.append((-2 - given[v.id], True, None, None))
                continue
            out_ids.append((len(rets), own, None, scalar))
            rets.append(f"{ret}.reshape((1,))[0]" if scalar else ret)
    # The signature is explicit, so the dispatcher never compiles another specialisation:
    # feeds of other dtypes, layouts or ranks raise TypeError before anything runs, and
    # other shapes raise FeedSignatureMiss.  make_callable's hot path relies on both to call
    # the plan without checking its arguments in Python first.  Feeds are typed read-only
    # (mutable arrays convert to that, the plan never writes them).
    arrays = [(v.dtype, len(v.shape)) for v in plan._feed_values]
    arrays += [(a.dtype, a.ndim) for _, a in const_args]
    sig = [f"nt.Array(from_dtype(np.dtype({np.dtype(d).str!r})), {nd}, 'C', readonly=True)"
           for d, nd in arrays]
    sig += [f"nt.Array(from_dtype(np.dtype({np.dtype(d).str!r})), {len(shape)}, 'C')"
            for shape, d in out_allocs]
    params += [f"o{k}" for k in range(len(out_allocs))]
    checks = [f"f{i}.shape[{k}] != {n}" for i, v in enumerate(plan._feed_values)
              for k, n in enumerate(v.shape)]
    guard = (f"    if {' or '.join(checks)}:\n        raise FeedSignatureMiss()\n" if checks
             else "")
    source = ("import numpy as np\nfrom numba import njit, types as nt\n"
              "from numba.np.numpy_support import from_dtype\n"
              "from numgrad.errors import FeedSignatureMiss\n" + "\n".join(imports) + "\n\n\n"
              f"@njit(({', '.join(sig)}{',' if len(sig) == 1 else ''}), cache=True, nogil=True)\n"
              f"def plan({', '.join(params)}):\n" + guard + "\n".join(body) +
              f"\n    return ({', '.join(rets)}{',' if len(rets) == 1 else ''})\n")
    return source, [a for _, a in const_args], out_ids, out_allocs


def _oom(step, e):
    """ResourceExhaustedError naming the output buffer of `step` that could not be made."""
    outs = _step_values(step)[1]
    shape = tuple(getattr(e, "shape", ()) or ())
    v = next((v for v in outs if v.shape == shape), None) or max(outs, key=lambda v: v.size)
    return resource_exhausted(f"tensor '{v.name}'", v.shape, v.dtype)


def _step_values(step):
    if step.kind == "group":
        ins = [v for v in step.loads if v.id not in step.gathered]
        ins += [u for params, indices, _ in step.gathered.values() for u in (params, indices)]
        outs = list(step.outputs) + [r.outputs[0] for r in step.reductions]
    else:
        ins, outs = list(step.node.inputs), list(step.node.outputs)
    return ins, outs


def _liveness(steps, values, fetch_values):
    """Per step, the intermediate values to drop after it; and the peak bytes of live
    intermediates (fetched results, feeds and constants excluded)."""
    fetched = {v.id for v in fetch_values}
    last = {}
    for i, st in enumerate(steps):
        for v in _step_values(st)[0]:
            last[v.id] = i
    base = {}                       # a Reshape's output shares its input's buffer
    for st in steps:
        if st.kind == "single" and st.node.type == "Reshape":
            src = st.node.inputs[0]
            base[st.node.outputs[0].id] = base.get(src.id, src.id)
    for vid in list(last):
        b = base.get(vid, vid)
        last[b] = max(last.get(b, -1), last[vid])
    release = [[] for _ in steps]
    live, peak = {}, 0
    for i, st in enumerate(steps):
        for v in _step_values(st)[1]:
            if v.id in fetched or v.id in base:
                continue
            live[v.id] = v.size * v.dtype.itemsize
        peak = max(peak, sum(live.values()))
        for vid in [k for k in live if last.get(k, i) <= i]:
            del live[vid]
        for vid, j in last.items():
            if j == i and vid not in fetched and values[vid].node is not None:
                release[i].append(vid)
    return release, peak


def _interop_choice(plan):
    """The InteropChoice of a CompiledPlan: its steps' values and sizes."""
    reads, writes, sizes = [], [], []
    for st in plan.steps:
        ins, outs = _step_values(st)
        reads.append([v.id for v in ins])
        writes.append([v.id for v in outs])
        if st.kind == "group":
            sizes.append(int(np.prod(st.space, dtype=np.int64)) * len(st.nodes))
        elif st.node.type in blas_threads.BLAS_OPS:     # multiply-adds
            a = st.node.inputs[0].shape
            k = a[-2] if st.node.attrs.get("transpose_a") or st.node.attrs.get("adj_x") else a[-1]
            sizes.append(outs[0].size * k)
        else:
            sizes.append(sum(v.size for v in ins + outs))
    fetched = {v.id for v in plan._fetch_values}
    droppable = {v.id for v in plan._values if v.node is not None and v.id not in fetched}
    effects = any(st.kind == "single" and st.node.type in cpu_schedule.SERIAL_OPS
                  for st in plan.steps)
    return cpu_schedule.InteropChoice(reads, writes, droppable, sizes, serial_only=effects)


def plan_summary(plan):
    """A readable account of a CompiledPlan: kernels, what each fused, buffers, memory."""
    lines = [f"plan: {plan.n_ops} graph ops -> {len(plan.steps)} steps "
             f"({plan.kernels} fused kernels), planned in {plan.plan_seconds * 1e3:.1f} ms, "
             f"peak temporaries {plan.peak_temporary_bytes / 2 ** 20:.2f} MiB"]
    if plan.interpret_calls:
        done = min(plan.calls, plan.interpret_calls)
        lines.append(f"  small plan: its first {plan.interpret_calls} calls run the NumPy "
                     f"interpreter ({done} so far), later ones compiled code "
                     "(NUMGRAD_INTERPRET_CALLS)")
    job = plan.compile_job
    if job:
        state = "compiled" if job.seconds is not None else "compiling"
        what = "its plan function" if plan._fused_pending or plan.fused_call else "its kernels"
        lines.append(f"  {what} {state} in the background ({len(job.procs)} worker processes "
                     f"of its own) while {plan.background_calls} calls ran the NumPy "
                     "interpreter (NUMGRAD_BACKGROUND_COMPILE)")
    for i, (st, run) in enumerate(zip(plan.steps, plan.runners)):
        if st.kind == "group":
            ops = ", ".join(f"{n.type}" for n in st.nodes)
            stats = run._kernel.stats if run._kernel is not None else None
            lines.append(
                f"  [{i}] kernel space={st.space} {_threading_text(run)}"
                f" loads={len(st.loads)} outputs={len(st.outputs)}"
                f" reductions={len(st.reductions)}"
                + (f" row-stages={len(st.stage_nodes)} row-buffers={len(st.row_temps)}"
                   if st.stage_nodes else "")
                + (f" lanes={run.lanes}" if isinstance(run, _LaneRunner) else "")
                + (f" gathers={len(st.gathered)}" if st.gathered else "")
                + f" ops({len(st.nodes)}): {ops}")
            lines.append(f"      compile {run.compile_seconds:.2f} s, cache hits "
                         f"{sum(stats.cache_hits.values())}, misses "
                         f"{sum(stats.cache_misses.values())}" if stats is not None else
                         "      not compiled yet")
        else:
            n = st.node
            what = "view" if n.type == "Reshape" else "opaque"
            lines.append(f"  [{i}] {what} {n.type} '{n.name}' -> "
                         f"{[o.shape for o in n.outputs]}")
    if plan._interop is not None and not plan.fused_call:
        lines.append("  " + plan._interop.describe())
    if plan._native is not None:
        lines.append("  " + plan._native.describe())
    return "\n".join(lines)


def _threading_text(run):
    if not run.parallel:
        return "serial"
    if run.threads_pay is None:
        return "parallel"
    n, pays = run.threads_pay
    return f"parallel ({n} threads measured faster)" if pays else \
        f"serial ({n} threads measured slower)"


_PLANS = weakref.WeakSet()      # every CpuPlan, so that a forked child can renew their locks


def _after_fork_in_child():
    # A plan being built by another thread when the parent forked keeps its lock taken in the
    # child, where that thread does not exist; its half-built plan was never stored.
    for plan in list(_PLANS):
        plan._lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


class _ReferencePlan(NumpyPlan):
    """The NumPy interpreter of a cpu plan (a small plan's first calls, shapes that depend on
    data): the numpy backend's NumpyPlan, with the BLAS thread policy around runs that
    contain a BLAS op (blas_threads.py); the numpy backend itself stays plain."""

    def __init__(self, fetches, targets, feeds, functions=True, native=False):
        super().__init__(fetches, targets, feeds)
        self.blas = blas_threads.uses_blas(op.type for op in self.ops)
        if native:      # the interpreter is this signature's only path: Numba kernels pay
            self.defs = [_NativeOpDef(d) if d.type in OPAQUE else d for d in self.defs]
        if self.blas:
            self.defs = [_BlasOpDef(d) if d.type in blas_threads.BLAS_OPS else d
                         for d in self.defs]
        if functions:
            self.defs = [_FunctionOpDef(d) if d.type in FUNCTION_OPS else d for d in self.defs]

    def __call__(self, feed_values):
        if not self.blas:
            return super().__call__(feed_values)
        blas_threads.begin()
        try:
            return super().__call__(feed_values)
        finally:
            blas_threads.end()


class _NativeOpDef:
    """An op's definition whose compute tries its cpu kernel (kernels/cpu OPAQUE) first and
    runs the NumPy reference for the cases the kernel leaves to it (None), errors included."""

    def __init__(self, op_def):
        self.type, self._native, self._compute = op_def.type, OPAQUE[op_def.type], op_def.compute

    def compute(self, vals, attrs):
        res = self._native(vals, attrs)
        return self._compute(vals, attrs) if res is None else res


class _BlasOpDef:
    """An op's definition whose compute runs through a MatmulSite (one per op of a plan)."""

    def __init__(self, op_def):
        self.type, self.site, self._compute = op_def.type, blas_threads.MatmulSite(), op_def.compute

    def compute(self, vals, attrs):
        return self.site(self._compute, vals, attrs)


class CpuPlan(Plan):
    """Per (fetches, feeds): a CompiledPlan per feed signature (shapes and dtypes), built on
    first use; signatures whose shapes depend on data get the NumPy interpreter."""

    def __init__(self, fetches, targets, feeds, stable=False):
        # NumpyPlan validates (unfed placeholders) and is the fallback for dynamic shapes.
        self._reference = _ReferencePlan(fetches, targets, feeds)
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
            self._native_reference = _ReferencePlan(self.fetches, self._targets, self.feeds,
                                                    native=True)
        return self._native_reference

    def _build(self, sig):
        return CompiledPlan(self.ops, self.fetches, self.feeds, sig, reference=self._reference,
                            stable=self._stable)

    def __call__(self, feed_values):
        return self.compiled(feed_values)(feed_values)


# Control-flow ops: under a cpu plan they run their function graphs with cpu plans too
# (FuncGraph.run, FunctionPlan), in the compiled steps and in the reference interpreter.
FUNCTION_OPS = ("While", "If")


class _FunctionOpDef:
    """A FUNCTION_OPS op's definition whose compute runs its function graphs with cpu plans."""

    def __init__(self, op_def):
        self._def = op_def
        self.type = op_def.type

    def compute(self, vals, attrs):
        with functions_run_by("cpu"):
            return self._def.compute(vals, attrs)


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
