"""The compiled CPU backend: plan the graph per feed signature, run fused Numba kernels.

plan = prune -> lower (concrete shapes + simplify) -> fuse -> emit -> cache -> runner.
Graphs whose shapes depend on data fall back to the NumPy interpreter for that signature.
"""
import logging
import threading
import time

import numba
import numpy as np

from .. import cache
from ..compiler.emit_cpu import emit_group
from ..compiler.fuse import fuse
from ..compiler.lower import Unsupported, lower
from ..errors import InvalidArgumentError
from ..ops.registry import get_op_def
from . import register_backend
from .numpy import NumpyPlan, prune

log = logging.getLogger("numgrad.compiler")

PARALLEL_MIN = 1 << 15     # elements; below this a serial kernel runs (a launch costs µs)
CHUNKS = 64                # fixed chunk count for reductions over dim 0: deterministic sums

# Numba's workqueue layer is fork-safe but not thread-safe: parallel launches are serialised
# by this lock (each launch already uses every core).
_PARALLEL_LOCK = threading.Lock()
if numba.config.THREADING_LAYER == "default":
    numba.config.THREADING_LAYER = "workqueue"


def _contiguous(a):
    """C-contiguous `a` (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    return a if a.flags.c_contiguous else np.array(a, order="C")


def set_num_threads(n):
    numba.set_num_threads(int(n))


def get_num_threads():
    return numba.get_num_threads()


class _GroupRunner:
    def __init__(self, group, spec, parallel):
        self.loads = [(v.id, s) for v, s in zip(group.loads, spec.load_shapes)]
        self.scalars = [v.const.reshape(()).dtype.type(v.const.reshape(-1)[0]) for v in group.scalars]
        self.outs = [(v.id, v.shape, v.dtype, s) for v, s in zip(group.outputs, spec.out_shapes)]
        self.reds = [(r.outputs[0].id, r.outputs[0].shape, r.outputs[0].dtype, s)
                     for r, s in zip(group.reductions, spec.red_shapes)]
        self.parts = [(s, dt) for s, dt in zip(spec.part_shapes, spec.acc_dtypes) if s is not None]
        self.counts = spec.counts
        n0 = spec.dims[0]
        self.C = max(1, min(n0, CHUNKS)) if spec.reduces_dim0 else max(n0, 1)
        if n0 == 0:
            self.C = 1
        self.sizes = list(spec.dims)
        self.parallel = parallel
        self.kernel = cache.load(spec.source)

    def __call__(self, env):
        args = list(self.sizes)
        args.append(self.C)
        for vid, shape in self.loads:
            args.append(env[vid].reshape(shape))
        args.extend(self.scalars)
        results = []
        for vid, shape, dtype, kshape in self.outs + self.reds:
            a = np.empty(shape, dtype)
            results.append((vid, a))
            args.append(a.reshape(kshape))
        for shape, dtype in self.parts:
            args.append(np.empty((self.C,) + shape[1:], dtype))
        args.extend(self.counts)
        if self.parallel:
            with _PARALLEL_LOCK:
                self.kernel(*args)
        else:
            self.kernel(*args)
        for vid, a in results:
            env[vid] = a


def _single_runner(node):
    if node.type == "Reshape":
        src, dst, shape = node.inputs[0].id, node.outputs[0].id, node.outputs[0].shape

        def run_view(env):
            env[dst] = env[src].reshape(shape)
        return run_view
    op_def = get_op_def(node.type)
    ins = [v.id for v in node.inputs]
    outs = [(v.id, v.shape, v.dtype) for v in node.outputs]
    attrs = node.attrs

    def run_opaque(env):
        args = [env[i] for i in ins]
        try:
            with np.errstate(all="ignore"):
                res = op_def.compute(args, attrs)
        except (ValueError, IndexError, TypeError, ZeroDivisionError) as e:
            raise InvalidArgumentError(f"{node.type} op '{node.name}' failed on input shapes "
                                       f"{[tuple(a.shape) for a in args]}: {e}") from e
        for (vid, shape, dtype), r in zip(outs, res):
            r = np.asarray(r)
            if r.dtype != dtype:
                r = r.astype(dtype)
            env[vid] = np.ascontiguousarray(r).reshape(shape)
    return run_opaque


class CompiledPlan:
    """The steps for one feed signature."""

    def __init__(self, ops, fetches, feeds, signature):
        t0 = time.perf_counter()
        L, fetch_values, feed_values = lower(ops, fetches, feeds, signature)
        steps = fuse(L.nodes, fetch_values)
        self.n_values = len(L.values)
        self.consts = []
        for v in L.values:
            if v.const is not None:
                self.consts.append((v.id, _contiguous(v.const_array())))
        self.feed_ids = [v.id for v in feed_values]
        self.fetch = [(v.id, v.const is not None) for v in fetch_values]
        self.runners = []
        self.kernels = 0
        for s in steps:
            if s.kind == "group":
                spec = emit_group(s, parallel=False)
                parallel = int(np.prod(s.space, dtype=np.int64)) >= PARALLEL_MIN
                if parallel:
                    spec = emit_group(s, parallel=True)
                self.runners.append(_GroupRunner(s, spec, parallel))
                self.kernels += 1
            else:
                self.runners.append(_single_runner(s.node))
        self.steps = steps
        self.compile_seconds = time.perf_counter() - t0
        if self.compile_seconds > 1.0:
            log.info("numgrad: planned %d steps (%d fused kernels) in %.2f s",
                     len(steps), self.kernels, self.compile_seconds)

    def __call__(self, feed_values):
        env = [None] * self.n_values
        for vid, arr in self.consts:
            env[vid] = arr
        for vid, arr in zip(self.feed_ids, feed_values):
            env[vid] = _contiguous(arr)
        for run in self.runners:
            run(env)
        return [np.array(env[vid]) if is_const else env[vid] for vid, is_const in self.fetch]


class CpuPlan:
    def __init__(self, fetches, targets, feeds):
        # NumpyPlan validates (unfed placeholders) and is the fallback for dynamic shapes.
        self._reference = NumpyPlan(fetches, targets, feeds)
        self.fetches, self.feeds = list(fetches), list(feeds)
        self.ops = self._reference.ops
        self._compiled = {}
        self._lock = threading.Lock()

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
                        plan = CompiledPlan(self.ops, self.fetches, self.feeds, sig)
                    except Unsupported as e:
                        log.info("numgrad: interpreting with NumPy: %s", e)
                        plan = self._reference
                    self._compiled[sig] = plan
        return plan

    def __call__(self, feed_values):
        return self.compiled(feed_values)(feed_values)


class CpuBackend:
    name = "cpu"

    def prepare(self, graph, fetches, targets, feeds):
        return CpuPlan(fetches, targets, feeds)


register_backend("cpu", CpuBackend)
