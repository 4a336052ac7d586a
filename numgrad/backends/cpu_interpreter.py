"""The NumPy interpreter of a cpu plan, and the op definitions the cpu backend wraps around
ops' NumPy references.

A small plan's first calls and the signatures whose shapes depend on data run ReferencePlan
(the numpy backend's NumpyPlan with the cpu backend's BLAS thread policy).  FunctionOpDef
makes a control-flow op run its function graphs with cpu plans, in the interpreter and in
compiled plans' unfused steps (cpu_runners.single_runner).
"""
from .. import blas_threads, malloc_tuning
from ..kernels.cpu import OPAQUE
from ..ops.registry import has_trait
from . import functions_run_by
from .numpy import NumpyPlan

__all__ = ["ReferencePlan", "FunctionOpDef"]


class ReferencePlan(NumpyPlan):
    """The NumPy interpreter of a cpu plan (a small plan's first calls, shapes that depend on
    data): the numpy backend's NumpyPlan, with the BLAS thread policy around runs that
    contain a BLAS op (blas_threads.py); the numpy backend itself stays plain.  Unless the
    plan is cpu-stable (`stable`: a Dask worker's), its first run sets glibc's malloc
    thresholds (malloc_tuning.py) as the compiled steps do: the interpreter frees each value
    after its last reader, and with glibc's defaults the next big one would fault its pages
    in again (W5's first call, 59 ops on 8-24 MB arrays: 1.27 s, 0.11 s tuned)."""

    def __init__(self, fetches, targets, feeds, functions=True, native=False, stable=False):
        super().__init__(fetches, targets, feeds)
        self.stable = stable
        self.blas = blas_threads.uses_blas(op.type for op in self.ops)
        if native:      # the interpreter is this signature's only path: Numba kernels pay
            self.defs = [_NativeOpDef(d) if d.type in OPAQUE else d for d in self.defs]
        if self.blas:
            self.defs = [_BlasOpDef(d) if d.type in blas_threads.BLAS_OPS else d
                         for d in self.defs]
        if functions:
            self.defs = [FunctionOpDef(d) if has_trait(d.type, "control_flow") else d for d in self.defs]

    def __call__(self, feed_values):
        if not self.stable:
            malloc_tuning.tune_once()
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


class FunctionOpDef:
    """A control_flow op's definition (If, While) whose compute runs its function graphs with
    cpu plans (FuncGraph.run, FunctionPlan), in the compiled steps and in the reference
    interpreter."""

    def __init__(self, op_def):
        self._def = op_def
        self.type = op_def.type

    def compute(self, vals, attrs):
        with functions_run_by("cpu"):
            return self._def.compute(vals, attrs)
