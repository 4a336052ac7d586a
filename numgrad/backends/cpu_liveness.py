"""What a compiled cpu plan's steps read and write: when intermediates die, the peak memory of
live ones, the buffer named by an allocation failure, and the facts the interop schedule
(cpu_schedule.py) runs from.
"""
import numpy as np

from .. import blas_threads
from ..errors import resource_exhausted
from . import cpu_schedule

__all__ = ["step_values", "liveness", "oom_error", "interop_choice"]


def oom_error(step, e):
    """ResourceExhaustedError naming the output buffer of `step` that could not be made."""
    outs = step_values(step)[1]
    shape = tuple(getattr(e, "shape", ()) or ())
    v = next((v for v in outs if v.shape == shape), None) or max(outs, key=lambda v: v.size)
    return resource_exhausted(f"tensor '{v.name}'", v.shape, v.dtype)


def step_values(step):
    if step.kind == "group":
        ins = [v for v in step.loads if v.id not in step.gathered]
        ins += [u for params, indices, _ in step.gathered.values() for u in (params, indices)]
        outs = list(step.outputs) + [r.outputs[0] for r in step.reductions]
    else:
        ins, outs = list(step.node.inputs), list(step.node.outputs)
    return ins, outs


def liveness(steps, values, fetch_values):
    """Per step, the intermediate values to drop after it; and the peak bytes of live
    intermediates (fetched results, feeds and constants excluded)."""
    fetched = {v.id for v in fetch_values}
    last = {}
    for i, st in enumerate(steps):
        for v in step_values(st)[0]:
            last[v.id] = i
    base = {}                       # a Reshape's output shares its input's buffer
    for st in steps:
        if st.kind == "single" and st.node.kind == "shape_view":
            src = st.node.inputs[0]
            base[st.node.outputs[0].id] = base.get(src.id, src.id)
    for vid in list(last):
        b = base.get(vid, vid)
        last[b] = max(last.get(b, -1), last[vid])
    release = [[] for _ in steps]
    live, peak = {}, 0
    for i, st in enumerate(steps):
        for v in step_values(st)[1]:
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


def interop_choice(plan):
    """The InteropChoice of a CompiledPlan: its steps' values and sizes."""
    reads, writes, sizes = [], [], []
    for st in plan.steps:
        ins, outs = step_values(st)
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
    effects = any(cpu_schedule.serial_step(st) for st in plan.steps)
    return cpu_schedule.InteropChoice(reads, writes, droppable, sizes, serial_only=effects)

