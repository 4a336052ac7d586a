"""Background compiling of a big cpu plan's kernels (NUMGRAD_BACKGROUND_COMPILE).

A CompiledPlan (backends/cpu.py) whose kernels are missing from the on-disk cache has worker
processes (compile_workers.py) compile them for the argument types a dry run of its steps
records, while its calls run the NumPy interpreter.
"""
import logging

import numpy as np

from .. import cache, compile_workers
from . import cpu_llvm
from .arrays import contiguous as _contiguous
from .cpu_runners import GroupRunner

__all__ = ["start_compile_job"]

log = logging.getLogger("numgrad.compiler")


def start_compile_job(plan, feed_values):
    """Worker processes compiling the kernels of `plan` that are not in the cache, for the
    argument types they get with `feed_values`; None if there are none to compile."""
    runners = [r for r in plan.runners if isinstance(r, GroupRunner)]
    translated = {r._source for r in runners if r.python_callable and cpu_llvm.usable()}
    sources = {r._source for r in runners} - translated
    missing = sources - cache.compiled(sources)
    missing |= {s for s in translated if not cpu_llvm.compiled(s)}
    if not missing or not cache.writable():
        return None
    try:
        signatures = _kernel_signatures(plan, feed_values)
    except Exception as e:  # noqa: BLE001  (the dry run is an optimisation: compile on use)
        log.debug("numgrad: no background compile: %s", e)
        return None
    items = [(src, sorted(signatures[src], key=str)) for src in sorted(missing)
             if signatures.get(src)]
    numba_items = [item for item in items if item[0] not in translated]
    llvm_items = [item for item in items if item[0] in translated]
    if llvm_items:
        # a thread of this process translates these; any it refuses go to workers after
        # it, and the workers compile the rest meanwhile
        workers = compile_workers.start(numba_items, cache.cache_dir()) if numba_items else None
        job = cpu_llvm.CompileJob(llvm_items, workers,
                                  lambda refused: compile_workers.start(refused, cache.cache_dir()))
        return compile_workers.track(job)
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
        elif st.node.kind == "shape_view":     # a view (every one is a Reshape)
            run(env)
        else:
            for v in st.node.outputs:
                env[v.id] = np.zeros(v.shape, v.dtype)
        for vid in dead:
            env[vid] = None
    return found

