"""The reference backend: interprets the pruned graph op by op with the NumPy references.

It is the oracle every compiled backend is tested against, so it favours clarity and checks
(each result's dtype and shape against the static ones) over speed.
"""
import numpy as np

from ..errors import (InvalidArgumentError, OpError, ResourceExhaustedError, is_allocation_failure,
                      resource_exhausted)
from ..ops.registry import get_op_def
from . import register_backend
from .plan import Plan, SignaturePlan


def prune(fetches, targets, feeds):
    """Ops needed to compute `fetches` and run `targets`, in topological order.

    Traversal stops at fed tensors; control inputs are followed.
    """
    fed = set(feeds)
    order, state = [], {}
    stack = [(t.op, False) for t in fetches if t not in fed] + [(op, False) for op in targets]
    while stack:
        op, done = stack.pop()
        if done:
            if state.get(op) != 2:
                state[op] = 2
                order.append(op)
            continue
        if op in state:
            continue
        state[op] = 1
        stack.append((op, True))
        for c in op.control_inputs:
            if c not in state and not (c.outputs and all(t in fed for t in c.outputs)):
                stack.append((c, False))
        for t in op.inputs:
            if t not in fed and t.op not in state:
                stack.append((t.op, False))
    return order


class NumpyPlan(Plan, SignaturePlan):
    """Interprets the pruned graph on every call: a Plan that is the same SignaturePlan for
    every feed signature (``compiled`` is None: there is nothing per signature to look up)."""

    def __init__(self, fetches, targets, feeds):
        self.fetches = list(fetches)
        self.feeds = list(feeds)
        self.ops = prune(fetches, targets, feeds)
        fed = set(feeds)
        for op in self.ops:
            if get_op_def(op.type).has_trait("placeholder") and op.outputs[0] not in fed:
                p = op.outputs[0]
                raise InvalidArgumentError(
                    f"You must feed a value for placeholder tensor '{op.name}' with dtype "
                    f"{p.dtype.name} and shape {p.shape}", op)
        self.defs = [get_op_def(op.type) for op in self.ops]
        # each output's static shape as a tuple where it is fully known: the check after each
        # op is then one tuple comparison (TensorShape.is_compatible_with only where not)
        self._shapes = [[tuple(t.shape.as_list()) if t.shape.is_fully_defined() else None
                         for t in op.outputs] for op in self.ops]
        self._release = release_after(self.ops, self.fetches, self.feeds)

    def __call__(self, feed_values):
        env = dict(zip(self.feeds, feed_values))
        with np.errstate(all="ignore"):
            for op, op_def, shapes, dead in zip(self.ops, self.defs, self._shapes, self._release):
                args = [env[t] for t in op.inputs]
                try:
                    outs = op_def.compute(args, op.attrs)
                except OpError as e:            # an op's own run-time error (CheckNumerics)
                    if e.op is None:
                        e.op = op
                    raise
                except (ValueError, IndexError, TypeError, ZeroDivisionError, MemoryError) as e:
                    if is_allocation_failure(e):
                        raise _oom(op, e) from e
                    cls = type(e) if isinstance(e, MemoryError) else InvalidArgumentError
                    if cls is InvalidArgumentError:
                        raise InvalidArgumentError(
                            f"{op.type} op '{op.name}' failed on input shapes "
                            f"{[tuple(a.shape) for a in args]}: {e}", op) from e
                    raise
                for t, v, shape in zip(op.outputs, outs, shapes):
                    if t in env:        # fed: the feed wins
                        continue
                    v = np.asarray(v)
                    if v.dtype != t.dtype.np:
                        v = v.astype(t.dtype.np)
                    if v.shape != shape and not t.shape.is_compatible_with(v.shape):
                        raise InvalidArgumentError(
                            f"{op.type} op '{op.name}' produced shape {v.shape} for '{t.name}', "
                            f"which contradicts its static shape {t.shape}", op)
                    env[t] = v
                for t in dead:      # freed memory is reused by the next op, not faulted in
                    del env[t]
        return [env[t] for t in self.fetches]


def release_after(ops, fetches, feeds):
    """Per op of `ops` (in run order), the tensors no later op reads: its inputs it is the
    last reader of and its outputs nobody reads, fetched and fed tensors excepted."""
    keep = set(fetches) | set(feeds)
    last = {}
    for i, op in enumerate(ops):
        for t in op.outputs:
            last[t] = i
        for t in op.inputs:
            last[t] = i
    out = [[] for _ in ops]
    for t, i in last.items():
        if t not in keep:
            out[i].append(t)
    return out


def _oom(op, e):
    """ResourceExhaustedError naming the output of `op` that could not be allocated."""
    t = op.outputs[0] if op.outputs else None
    shape = getattr(e, "shape", None)           # NumPy's _ArrayMemoryError knows the request
    dtype = getattr(e, "dtype", None)
    if shape is None and t is not None and t.shape.is_fully_defined():
        shape, dtype = t.shape.as_list(), t.dtype.np
    if shape is None:
        return ResourceExhaustedError(f"OOM when allocating the output of {op.type} op "
                                      f"'{op.name}': {e}", op)
    what = f"tensor '{t.name}'" if t is not None else f"a buffer of op '{op.name}'"
    return resource_exhausted(f"{what} ({op.type})", shape, dtype or t.dtype.np, op)


class NumpyBackend:
    name = "numpy"

    def prepare(self, graph, fetches, targets, feeds):
        return NumpyPlan(fetches, targets, feeds)


register_backend("numpy", NumpyBackend)
