"""The CUDA backend: the cpu backend's plan, run as Numba ``@cuda.jit`` kernels on a GPU.

plan = compiler/stages.py's cuda_stages() (prune -> lower -> graph rewrites -> fuse, shared
with the cpu backend, -> emit_cuda) -> runner.

* Buffers live on the device for the whole run: feeds are copied in once, constants once per
  plan, and only fetched results are copied back to NumPy.
* A device-memory pool (per Session) keyed by (shape, dtype) gives buffers back as soon as
  their last reader has run and reuses them within a run and across runs: a second call of
  the same plan allocates nothing.
* Launch configuration (threads per block, grid size, matmul tile) comes from the device's
  attributes; under Numba's CUDA simulator (``NUMBA_ENABLE_CUDASIM=1``, kernels run in
  Python) small fixed values keep tests fast.
* Opaque ops with a kernel in numgrad/kernels/cuda run on the device; the others
  (host_fallback_op_types() lists which) copy their inputs to the host, run their NumPy
  reference and copy the result back.  plan_summary names them.
* Errors are the cpu backend's: index errors in gather/scatter are detected on the device
  and raised, with the NumPy reference's message, after the run's kernels.

Importing this module imports ``numba.cuda``; numgrad/backends/__init__.py imports it only
when ``backend="cuda"`` is asked for.
"""
import logging
import math
import sys
import threading
import time

import numpy as np
from numba import config as _numba_config
from numba import cuda

from .. import blas_threads, cache
from ..compiler import stages
from ..compiler.emit_cuda import emit_group_cuda
from ..errors import InvalidArgumentError, OpError, ResourceExhaustedError
from ..kernels.cuda import KERNELS
from ..ops.registry import get_op_def, op_types
from .arrays import contiguous
from .cpu import CpuPlan
from .plan import SignaturePlan

log = logging.getLogger("numgrad.compiler")
STAGES = stages.cuda_stages()

SIMULATOR = bool(_numba_config.ENABLE_CUDASIM)


def host_fallback_op_types():
    """Opaque op types that run their NumPy reference on the host (no CUDA kernel yet)."""
    return sorted(t for t in op_types() if get_op_def(t).kind == "opaque" and t not in KERNELS)


# --- availability -------------------------------------------------------------------------------
_INSTALL_HINT = ("Install the CUDA extra with `pip install numgrad[cuda]` (numba-cuda and its "
                 "CUDA bindings) on a machine with an NVIDIA GPU and driver, or set "
                 "NUMBA_ENABLE_CUDASIM=1 to run the cuda backend on Numba's CUDA simulator "
                 "(slow; for tests).")


class CudaUnavailableError(RuntimeError):
    """``backend="cuda"`` was asked for where no CUDA device (or simulator) can be used."""


def check_available():
    """Raise CudaUnavailableError, saying what is missing, unless kernels can run."""
    if SIMULATOR:
        return
    try:
        ok = cuda.is_available()
    except Exception as e:  # noqa: BLE001  (any driver/library failure means "not available")
        ok, why = False, f"{type(e).__name__}: {e}"
    else:
        why = ""
    if not ok:
        if not why:
            try:
                cuda.current_context()
            except Exception as e:  # noqa: BLE001
                why = " ".join(str(e).split())
        raise CudaUnavailableError(
            "numgrad backend 'cuda' needs an NVIDIA GPU with a working CUDA driver, but Numba "
            f"found none ({why or 'cuda.is_available() is False'}). " + _INSTALL_HINT)


# --- launch configuration -----------------------------------------------------------------------
class LaunchConfig:
    """Threads per block, grid size and matmul tile, from the device's attributes."""

    BLOCKS_PER_SM = 32        # grid-stride kernels: enough blocks to hide latency

    def __init__(self):
        if SIMULATOR:
            # the simulator runs each thread as a Python thread: few, small blocks
            sms, max_tpb, warp = 2, 16, 1
            self.BLOCKS_PER_SM = 2
        else:
            dev = cuda.get_current_device()
            sms, max_tpb = dev.MULTIPROCESSOR_COUNT, dev.MAX_THREADS_PER_BLOCK
            warp = dev.WARP_SIZE
        self.tpb = 1 << int(math.log2(max(min(256, max_tpb), 1)))      # a power of two
        self.tile = 1 << (int(math.log2(self.tpb)) // 2)               # tile*tile <= tpb
        self.sms = sms
        self.max_blocks = max(1, sms * self.BLOCKS_PER_SM)
        self.warp = warp

    def blocks(self, n):
        """Blocks for a grid-stride loop over `n` items."""
        return max(1, min((n + self.tpb - 1) // self.tpb, self.max_blocks))


# --- device memory pool -------------------------------------------------------------------------
def _on_device(a):
    """Whether `a` is a device array (a GPU's, or the simulator's stand-in)."""
    return hasattr(a, "copy_to_host")


class DevicePool:
    """Free device buffers keyed by (shape, dtype), reused across runs and plans."""

    def __init__(self):
        self._free = {}
        self._lock = threading.Lock()
        self.allocations = 0          # buffers ever allocated on the device
        self.reuses = 0

    def alloc(self, shape, dtype):
        key = (tuple(int(d) for d in shape), np.dtype(dtype))
        with self._lock:
            free = self._free.get(key)
            if free:
                self.reuses += 1
                return free.pop()
            self.allocations += 1
        try:
            return cuda.device_array(key[0], key[1])
        except Exception as e:  # noqa: BLE001  (CudaAPIError on a GPU, MemoryError simulated)
            if not (isinstance(e, MemoryError) or "OUT_OF_MEMORY" in str(e).upper()):
                raise
        self.clear()                # pooled buffers of other shapes: give them back, retry
        try:
            return cuda.device_array(key[0], key[1])
        except Exception as e:  # noqa: BLE001
            if not (isinstance(e, MemoryError) or "OUT_OF_MEMORY" in str(e).upper()):
                raise
            nbytes = int(np.prod(key[0], dtype=np.int64)) * key[1].itemsize
            raise ResourceExhaustedError(
                f"OOM when allocating a device buffer of shape {key[0]} and dtype "
                f"{key[1].name} ({nbytes} bytes) on the cuda backend: {e}") from e

    def release(self, arr):
        key = (tuple(arr.shape), np.dtype(arr.dtype))
        with self._lock:
            self._free.setdefault(key, []).append(arr)

    def free_bytes(self):
        with self._lock:
            return sum(a.size * a.dtype.itemsize for lst in self._free.values() for a in lst)

    def clear(self):
        """Drop every pooled buffer (the device memory is freed when they are collected)."""
        with self._lock:
            self._free.clear()


# --- runners ------------------------------------------------------------------------------------
class CudaGroupRunner:
    """Launches the kernels of one fused group."""

    def __init__(self, group, launch, spec=None):
        spec = emit_group_cuda(group, launch.tpb) if spec is None else spec
        self.spec = spec
        self.module = cache.load(spec.source)
        self.launch = launch
        self.loads = [(v.id, s) for v, s in zip(group.loads, spec.load_shapes)]
        self.scalars = [v.const.reshape(-1)[0] for v in group.scalars]
        self.outs = [(v.id, v.shape, v.dtype, s) for v, s in zip(group.outputs, spec.out_shapes)]
        self.reds = [(r.outputs[0].id, r.outputs[0].shape, r.outputs[0].dtype)
                     for r in group.reductions]
        self.dims = list(spec.dims)
        self.size = int(np.prod(self.dims, dtype=np.int64))
        self.space, self.n_nodes = group.space, len(group.nodes)
        self.out_ids = [o[0] for o in self.outs] + [r[0] for r in self.reds]
        # per reduction class: serial or tree, and the tree's blocks per output
        self.modes = []
        for c in spec.classes:
            if c.K <= 2 * launch.tpb or c.M * c.K == 0 or c.M >= launch.max_blocks * launch.tpb:
                self.modes.append(("serial", 1))
            else:
                nb = max(1, min((c.K + launch.tpb - 1) // launch.tpb,
                                launch.max_blocks // max(c.M, 1)))
                self.modes.append(("tree", nb))

    def describe(self):
        kinds = ["map"] if not self.spec.classes else [
            f"{mode}(M={c.M}, K={c.K}{f', blocks/output={nb}' if mode == 'tree' else ''})"
            for c, (mode, nb) in zip(self.spec.classes, self.modes)]
        return ", ".join(kinds)

    def __call__(self, env, alloc, temps):
        lm = self.launch
        data = []
        for vid, shape in self.loads:
            a = env[vid]
            data.append(a if a.shape == shape else a.reshape(shape))
        data.extend(self.scalars)
        outs = []
        for vid, shape, dtype, kshape in self.outs:
            a = alloc(shape, dtype)
            env[vid] = a
            outs.append(a if shape == kshape else a.reshape(kshape))
        reds = []
        for vid, shape, dtype in self.reds:
            a = alloc(shape, dtype)
            env[vid] = a
            reds.append(a.reshape(-1))
        if not self.spec.classes:
            if self.size:
                self.module.kmap[lm.blocks(self.size), lm.tpb](self.size, *self.dims, *data, *outs)
            return
        counts = self.spec.counts
        for c, (mode, nb) in zip(self.spec.classes, self.modes):
            w = outs if c.index == 0 else []
            q = [reds[j] for j in c.reds]
            m = [counts[j] for j in c.reds]
            if c.M == 0:
                continue
            if mode == "serial":
                getattr(self.module, f"kser{c.index}")[lm.blocks(c.M), lm.tpb](
                    c.M, c.K, *self.dims, *data, *w, *q, *m)
                continue
            parts = [alloc((c.M, nb), self.spec.acc_dtypes[j]) for j in c.reds]
            temps.extend(parts)
            getattr(self.module, f"ktree{c.index}")[c.M * nb, lm.tpb](
                nb, c.K, *self.dims, *data, *w, *parts)
            getattr(self.module, f"kcomb{c.index}")[lm.blocks(c.M), lm.tpb](
                c.M, nb, *parts, *q, *m)


def _opaque_error(node, shapes, e):
    return InvalidArgumentError(f"{node.type} op '{node.name}' failed on input shapes "
                                f"{shapes}: {e}")


class CudaOpaqueRunner:
    """An opaque op with a CUDA kernel from numgrad/kernels/cuda."""

    def __init__(self, node, run):
        self.node, self.run = node, run
        self.ins = [v.id for v in node.inputs]
        self.out_ids = [v.id for v in node.outputs]

    def __call__(self, env, alloc, temps, checks):
        outs, check = self.run([env[i] for i in self.ins], alloc)
        for vid, a in zip(self.out_ids, outs):
            env[vid] = a
        if check is not None:
            fn, bufs = check
            temps.extend(bufs)
            shapes = [tuple(v.shape) for v in self.node.inputs]

            def checked():
                try:
                    fn()
                except (IndexError, ValueError) as e:
                    raise _opaque_error(self.node, shapes, e) from e
            checks.append(checked)


class HostRunner:
    """An op without a CUDA kernel: inputs to the host, NumPy reference, result back."""

    def __init__(self, node):
        self.node = node
        self.op_def = get_op_def(node.type)
        self.ins = [v.id for v in node.inputs]
        self.outs = [(v.id, v.shape, v.dtype) for v in node.outputs]
        self.out_ids = [v.id for v in node.outputs]

    def __call__(self, env, alloc, temps, checks):
        for c in checks:            # earlier device errors come first, as on the cpu backend
            c()
        checks.clear()
        args = [env[i].copy_to_host() for i in self.ins]
        blas_threads.begin()        # the cpu backend's BLAS policy: one thread, no oversubscription
        try:
            with np.errstate(all="ignore"):
                res = self.op_def.compute(args, self.node.attrs)
        except OpError:             # an op's own run-time error (CheckNumerics): as raised
            raise
        except (ValueError, IndexError, TypeError, ZeroDivisionError) as e:
            raise _opaque_error(self.node, [tuple(a.shape) for a in args], e) from e
        finally:
            blas_threads.end()
        for (vid, shape, dtype), r in zip(self.outs, res):
            r = np.ascontiguousarray(np.asarray(r, dtype=dtype)).reshape(shape)
            a = alloc(shape, dtype)
            if r.size:
                a.copy_to_device(r)
            env[vid] = a


def _reads_bfloat16(node):
    """Whether `node` has a bfloat16 input or output: such ops run on the host (NumPy, in
    float32 and rounded; numgrad/bf16.py), the device kernels being float32/float64 ones."""
    return any(v.dtype.name == "bfloat16" for v in list(node.inputs) + list(node.outputs))


class CudaCompiledPlan(SignaturePlan):
    """The device steps for one feed signature."""

    def __init__(self, ops, fetches, feeds, signature, launch, pool):
        t0 = time.perf_counter()
        c = stages.compile_signature(STAGES, stages.Compilation(
            ops, fetches, feeds, signature, options={"tpb": launch.tpb}))
        L, fetch_values, feed_values, steps = c.L, c.fetch_values, c.feed_values, c.steps
        self.pool, self.launch = pool, launch
        self.n_values = len(L.values)
        self.feed_ids = [(v.id, v.shape, v.dtype) for v in feed_values]
        self.fetch = [(v.id, v.const_array() if v.const is not None else None)
                      for v in fetch_values]
        self.steps = steps
        self.runners = []
        self.kernels = 0
        self.host_ops = []
        for i, s in enumerate(steps):
            if s.kind == "group":
                self.runners.append(CudaGroupRunner(s, launch, c.kernels[i]))
                self.kernels += 1
            elif s.node.kind == "shape_view":     # a view (every one is a Reshape)
                self.runners.append(None)
            else:
                prep = None if _reads_bfloat16(s.node) else KERNELS.get(s.node.type)
                run = prep(s.node, launch) if prep is not None else None
                if run is None:
                    self.runners.append(HostRunner(s.node))
                    self.host_ops.append(s.node.type)
                else:
                    self.runners.append(CudaOpaqueRunner(s.node, run))
        # constants that steps read live on the device for the plan's lifetime
        used = set()
        for st in steps:
            used.update(v.id for v in (st.loads if st.kind == "group" else st.node.inputs))
        self.consts = [(v.id, cuda.to_device(contiguous(v.const_array())))
                       for v in L.values if v.const is not None and v.id in used]
        self._plan_release(steps, L.values, fetch_values)
        self.n_ops = len(ops)
        self.plan_seconds = time.perf_counter() - t0

    def _plan_release(self, steps, values, fetch_values):
        """Per step, the pooled buffers whose last reader it is (views share their base)."""
        base = {}
        for st in steps:
            if st.kind == "single" and st.node.kind == "shape_view":
                src = st.node.inputs[0].id
                base[st.node.outputs[0].id] = base.get(src, src)
        last = {}
        for i, st in enumerate(steps):
            ins = st.loads if st.kind == "group" else st.node.inputs
            for v in ins:
                b = base.get(v.id, v.id)
                last[b] = i
        # fetched values (or views of them) stay until they are copied back
        self.pinned = {base.get(v.id, v.id) for v in fetch_values}
        self.release = [[] for _ in steps]
        for b, i in last.items():
            if b not in self.pinned and values[b].const is None:
                self.release[i].append(b)
        self.base = base

    def __call__(self, feed_values, device_out=()):
        """Fetched values as NumPy arrays, except those at the fetch indices `device_out`,
        which stay on the device (new device arrays the caller owns: a Session's variables).
        A feed may be a device array (a variable's value): it is read in place."""
        pool = self.pool
        env = [None] * self.n_values
        owned = {}                    # value id -> pooled buffer this run must give back
        temps = []
        checks = []

        def alloc(shape, dtype):
            return pool.alloc(shape, dtype)

        try:
            for vid, arr in self.consts:
                env[vid] = arr
            for (vid, shape, dtype), host in zip(self.feed_ids, feed_values):
                if _on_device(host):
                    env[vid] = host           # the caller's device array: read, never pooled
                    continue
                buf = alloc(shape, dtype)
                if buf.size:
                    buf.copy_to_device(contiguous(host))
                env[vid] = owned[vid] = buf
            for st, run, dead in zip(self.steps, self.runners, self.release):
                if run is None:                                   # Reshape: a view
                    src, dst = st.node.inputs[0], st.node.outputs[0]
                    env[dst.id] = env[src.id].reshape(dst.shape)
                elif st.kind == "group":
                    run(env, alloc, temps)
                else:
                    run(env, alloc, temps, checks)
                if run is not None:
                    for vid in run.out_ids:
                        owned[vid] = env[vid]
                for vid in dead:
                    buf = owned.pop(vid, None)
                    if buf is not None and not checks:
                        pool.release(buf)
                    elif buf is not None:
                        owned[vid] = buf      # an index check may still read it
                    env[vid] = None
            for c in checks:
                c()
            results = []
            for i, (vid, const) in enumerate(self.fetch):
                if i in device_out:
                    results.append(self._device_result(vid, const, env, owned))
                else:
                    results.append(np.array(const) if const is not None
                                   else env[vid].copy_to_host())
            return results
        finally:
            for buf in owned.values():
                pool.release(buf)
            for buf in temps:
                pool.release(buf)

    def _device_result(self, vid, const, env, owned):
        """A device array the caller keeps: the run's own buffer when nothing else holds it
        (taken out of the pool's reach), else a device copy."""
        if const is not None:
            return cuda.to_device(np.array(const))
        arr = env[vid]
        if owned.get(vid) is arr and self.base.get(vid, vid) == vid and \
                sum(1 for v in owned.values() if v is arr) == 1:
            del owned[vid]
            return arr
        out = cuda.device_array(arr.shape, arr.dtype)
        if arr.size:
            out.copy_to_device(arr)
        return out

    def summary(self):
        return cuda_plan_summary(self)


def cuda_plan_summary(plan):
    """A readable account of a CudaCompiledPlan: kernels, opaque kernels, host fallbacks."""
    lines = [f"plan (cuda{', simulator' if SIMULATOR else ''}): {plan.n_ops} graph ops -> "
             f"{len(plan.steps)} steps ({plan.kernels} fused kernels), planned in "
             f"{plan.plan_seconds * 1e3:.1f} ms; launch: {plan.launch.tpb} threads/block, "
             f"<= {plan.launch.max_blocks} blocks, matmul tile {plan.launch.tile}"]
    for i, (st, run) in enumerate(zip(plan.steps, plan.runners)):
        if st.kind == "group":
            ops = ", ".join(n.type for n in st.nodes)
            lines.append(f"  [{i}] kernel space={st.space} {run.describe()} "
                         f"loads={len(st.loads)} outputs={len(st.outputs)} "
                         f"reductions={len(st.reductions)} ops({len(st.nodes)}): {ops}")
        else:
            n = st.node
            what = ("view" if run is None else "host fallback (NumPy)"
                    if isinstance(run, HostRunner) else "cuda kernel")
            lines.append(f"  [{i}] {what} {n.type} '{n.name}' -> {[o.shape for o in n.outputs]}")
    if plan.host_ops:
        lines.append(f"  host fallbacks: {', '.join(sorted(set(plan.host_ops)))}")
    pool = plan.pool
    lines.append(f"  device pool: {pool.allocations} allocations, {pool.reuses} reuses, "
                 f"{pool.free_bytes() / 2 ** 10:.1f} KiB pooled for reuse")
    return "\n".join(lines)


class CudaPlan(CpuPlan):
    """Per (fetches, feeds): a CudaCompiledPlan per feed signature (CpuPlan's bookkeeping)."""

    def __init__(self, fetches, targets, feeds, launch, pool):
        super().__init__(fetches, targets, feeds)
        self.launch, self.pool = launch, pool

    def _build(self, sig):
        return CudaCompiledPlan(self.ops, self.fetches, self.feeds, sig, self.launch, self.pool)

    keeps_state_on_device = True    # StatefulRun: variables stay device arrays between runs

    def recycle(self, arrays):
        """Give the pool the device arrays of `arrays` (a list, emptied) that nothing else
        references: a variable's previous value once its new one is committed, unless a run
        in flight still reads it."""
        while arrays:
            a = arrays.pop()
            if _on_device(a) and sys.getrefcount(a) <= 2:   # `a` and getrefcount's argument
                self.pool.release(a)

    def __call__(self, feed_values, device_out=()):
        feed_values = [a if _on_device(a) else np.asarray(a) for a in feed_values]
        plan = self.compiled(feed_values)       # keys on shapes and dtypes only
        if isinstance(plan, CudaCompiledPlan):
            return plan(feed_values, device_out)
        # the NumPy interpreter (shapes that depend on data): host values in and out
        out = plan([a.copy_to_host() if _on_device(a) else a for a in feed_values])
        return [cuda.to_device(np.ascontiguousarray(o)) if i in device_out else o
                for i, o in enumerate(out)]


class CudaBackend:
    """``Session(backend="cuda")``; raises CudaUnavailableError where CUDA cannot run."""

    name = "cuda"

    def __init__(self):
        check_available()
        self.launch = LaunchConfig()
        self.pool = DevicePool()

    def prepare(self, graph, fetches, targets, feeds):
        return CudaPlan(fetches, targets, feeds, self.launch, self.pool)

