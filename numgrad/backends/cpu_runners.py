"""Runners of a compiled cpu plan's steps, and the measured choice of threads for their kernels.

A step of a CompiledPlan (backends/cpu.py) is a fused kernel (GroupRunner; LaneRunner for a
group run as lanes, compiler/lanes.py) or one unfused op (single_runner: a view, the op's
Numba kernel of kernels/cpu OPAQUE, or its NumPy reference; a weight-gradient product as
blocks of its inner dimension, kernels/cpu/blas_call.py block_for).  A runner takes the
plan's value list `env` and writes its outputs into it.
"""
import logging
import time

import numpy as np

from .. import blas_threads, cache, measured_choice, threads
from ..compiler.layout import PARALLEL_MIN
from ..errors import InvalidArgumentError, OpError, is_allocation_failure
from ..kernels.cpu import OPAQUE, blas_call
from ..ops.registry import get_op_def, has_trait
from . import cpu_llvm
from .cpu_interpreter import FunctionOpDef

__all__ = ["GroupRunner", "LaneRunner", "single_runner", "opaque_runner",
           "blocked_matmul_runner", "THREAD_TRIALS", "THREAD_RECHECK",
           "SERIAL_RECHECK", "CHUNKS"]

log = logging.getLogger("numgrad.compiler")

# A parallel launch costs 15-70 us on the development VMs (waking a sleeping worker, which
# then needs the GIL to unbox its arguments), and a VM's second vCPU may add little: W3's
# (256, 512) tanh kernel took 94 us on one thread and 124 us on two.  So whether threads pay
# is measured (numgrad/measured_choice.py; one choice for all of a plan's parallel kernels,
# backends/cpu.py and measured_choice.joined): a trial of THREAD_TRIALS runs each way,
# measured again after SERIAL_RECHECK runs, then twice as many after each repeated verdict
# up to THREAD_RECHECK, and sooner when the chosen way's runs drift well above its
# trial (a choice made in a noisy moment of a VM does not stick for the life of the plan).
THREAD_TRIALS = measured_choice.TRIALS
THREAD_RECHECK = measured_choice.RECHECK
SERIAL_RECHECK = measured_choice.RECHECK_FIRST
_clock = time.perf_counter
CHUNKS = 64                # fixed chunk count for reductions over dim 0: deterministic sums


class GroupRunner:
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
        self.leading = spec.leading         # a call's arguments before the loads
        # a serial call's leading arguments (all three modes over all chunks)
        self.head = tuple(spec.leading(self.sizes, self.C))
        self.parallel = int(np.prod(group.space, dtype=np.int64)) >= PARALLEL_MIN
        self._source, self._kernel = spec.source, None
        self.compiled = False
        self.compile_seconds = 0.0
        self.space, self.n_nodes = group.space, len(group.nodes)
        self.choice = measured_choice.MeasuredChoice()     # whether threads pay
        self.python_callable = getattr(spec, "python_callable", True)
        if not self.python_callable:
            # compiled without a CPython wrapper: only njit code may call it (emit_group)
            self._run_kernel = self._not_from_python

    @property
    def threads_pay(self):
        """None before a verdict, else (thread count, whether threads made it faster)."""
        return self.choice.verdict

    @property
    def recheck_after(self):
        return self.choice.recheck_after

    @property
    def last_trial(self):
        """The fastest (serial, parallel) seconds of the last trial, None before one."""
        return self.choice.last_trial

    @property
    def kernel(self):
        """The kernel's module is loaded (its source written to the cache) on first use: a
        plan interpreted for its first calls may never need it."""
        k = self._kernel
        if k is None:
            if self.python_callable and cpu_llvm.usable():
                k = self._kernel = cpu_llvm.kernel_for(self._source)
            else:
                k = self._kernel = cache.load(self._source, "kernel")
        return k

    @kernel.setter
    def kernel(self, k):
        self._kernel = k

    def __call__(self, env):
        for node, params, indices in self.gathers:
            _check_gather_indices(node, env[params], env[indices])
        args = []
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
            # serial or parallel as measured (both run the same chunks and combine them in
            # the same order: the results are identical either way)
            choice = self.choice
            parallel = choice.pick(n_threads)
            t0 = _clock()
            if parallel:
                self._run_parallel(args)
            else:
                self.kernel(*self.head, *args)
            choice.done(parallel, _clock() - t0)
        else:
            # The first call runs serially: Numba compiles the kernel once, on this thread,
            # instead of racing to compile it in every worker.
            first = not self.compiled
            t0 = time.perf_counter()
            self.kernel(*self.head, *args)
            if first:
                self.compile_seconds = time.perf_counter() - t0
                self.compiled = True
                if self.compile_seconds > 1.0:
                    log.info("numgrad: compiled a fused kernel over %s (%d ops) in %.2f s",
                             self.space, self.n_nodes, self.compile_seconds)

    def _not_from_python(self, args):
        raise RuntimeError("numgrad: this kernel was compiled for njit callers only (no "
                           "CPython wrapper); calling it from Python would crash")

    def _run_parallel(self, args):
        # only chunked kernels (a small one is never `parallel`): mode, c0, c1, sizes, C, args
        self.kernel(*self.leading(self.sizes, self.C, 1, 0, 0), *args)
        threads.run_chunks(self.kernel, self.C, self.sizes + [self.C] + args)     # (2, c0, c1, ...)
        self.kernel(*self.leading(self.sizes, self.C, 4, 0, 0), *args)


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


class LaneRunner(GroupRunner):
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
        args = []
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


def single_runner(node):
    if node.kind == "shape_view":        # a view (every one is a Reshape)
        src, dst, shape = node.inputs[0].id, node.outputs[0].id, node.outputs[0].shape

        def run_view(env):
            env[dst] = env[src].reshape(shape)
        return run_view
    if has_trait(node.type, "matmul"):
        block = blas_call.node_block(node)
        if block:
            return blocked_matmul_runner(node, block)
    return opaque_runner(node)


def opaque_runner(node):
    """An unfused op by its cpu kernel (OPAQUE) or its NumPy compute."""
    op_def = get_op_def(node.type)
    if has_trait(node.type, "control_flow"):
        op_def = FunctionOpDef(op_def)
    ins = [v.id for v in node.inputs]
    # a run-time-sized output (a loop's recorded history, compiler/ir.RUNTIME) keeps the shape
    # the op made: its rows are only known now, and reshape cannot infer them when it is empty
    outs = [(v.id, None if v.runtime_sized else v.shape, v.dtype) for v in node.outputs]
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
            r = np.ascontiguousarray(r)
            env[vid] = r if shape is None else r.reshape(shape)
    run_opaque.blas_site = blas
    return run_opaque


def blocked_matmul_runner(node, block):
    """A matmul step as blas_call.matmul_blocks_into in blocks of `block` inner indices: the
    call a native lane makes for it (compiler/emit_lane.py), so both give the same bits.  An
    operand of another shape than the plan's (never, for a compiled signature) or not
    C-contiguous (a fed array) goes through blas_call.operand (a C-contiguous read-only view,
    copied only where it is not C-contiguous) or the generic runner."""
    ins = [v.id for v in node.inputs]
    shapes = [tuple(v.shape) for v in node.inputs]
    out_id, out_shape, dtype = node.outputs[0].id, tuple(node.outputs[0].shape), \
        node.outputs[0].dtype
    ta, tb = bool(node.attrs["transpose_a"]), bool(node.attrs["transpose_b"])
    k = shapes[0][0] if ta else shapes[0][1]
    generic = None

    def run_blocked(env):
        nonlocal generic
        a, b = env[ins[0]], env[ins[1]]
        if a.shape != shapes[0] or b.shape != shapes[1] or a.dtype != dtype or \
                b.dtype != dtype:
            if generic is None:
                generic = opaque_runner(node)
            generic(env)
            return
        out = np.empty(out_shape, dtype)
        # read-only operands, as the lanes pass them: one signature (blas_call's docstring)
        blas_call.matmul_blocks_into(blas_call.operand(a), blas_call.operand(b), out, ta, tb,
                                     block, 0, k)
        env[out_id] = out
    run_blocked.blas_site = None
    run_blocked.block = block
    return run_blocked
