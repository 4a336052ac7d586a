"""Split one run of a graph into map-reduce phases over row chunks of the chunked feeds.

``partition(fetches, targets, chunked, fed)`` classifies every op the run needs (see
``split_rules``): *batched* tensors carry axis 0 of the chunked feeds, *global* tensors do not.
A batched -> global edge is a reduction over the batch axis; each chunk computes its partial,
and the partials are combined in a fixed order.  A global value that depends on such a
reduction and feeds batched ops again starts a new phase, so a run is a sequence of phases:

    phase 0: per chunk, the partials of the reductions that need only feeds and globals
             known before the run (variables, NumPy feeds), plus batched fetches of phase 0;
    phase k: the same, given the combined reductions of phases < k.

Between phases the client computes the global values the next phase needs (an ordinary local
run of the same graph, with the combined reductions fed).  The last step is the local run of
the global fetches and targets (a train op), with every reduction fed.

Shapes: ``Shape``/``Size``/``Rank`` of a batched tensor have one value per chunk (n_c rows) and
one for the whole data (N rows).  Where such a value is used as a shape (a BroadcastTo's
shape, a Reshape's, a SumToShape's) it is computed in the chunk; where it is used as data (a
mean's gradient divides by N) the whole-data value is computed by the client and fed.
"""
import numpy as np

from ..backends.numpy import prune
from ..ops.state import state_kind
from .split_rules import (BATCHED, SHAPE_INPUTS, SHAPE_OF, Reduce, Unsplittable,
                          split_rule)

__all__ = ["partition", "Partition", "Phase", "Unsplittable", "shape_op_value"]

# Global-data ops that make a batched tensor out of a shape of batched rows.
_BROADCAST_TO_ROWS = ("BroadcastTo", "Fill", "Reshape")


class Phase:
    """One map step: per chunk, fetch ``partials`` (reduction ops' outputs) and
    ``batched_fetches``, feeding the chunk and the global tensors ``fed``."""

    def __init__(self, index):
        self.index = index
        self.partials = []          # [(tensor, combine)]
        self.batched_fetches = []   # batched tensors the user fetched
        self.fed = []               # global tensors computed by the client, fed per chunk
        self.in_chunk_shapes = []   # global shape values computed in the chunk

    @property
    def chunk_fetches(self):
        return [t for t, _ in self.partials] + self.batched_fetches


class Partition:
    def __init__(self):
        self.batched = set()        # batched tensors
        self.stage = {}             # tensor -> phase (batched) / phases it waits for (global)
        self.shape_roots = {}       # Shape/Size/Rank of a batched tensor -> that tensor
        self.shape_dependent = set()    # global tensors computed from shape_roots
        self.reductions = {}        # reduction output tensor -> combine
        self.static_shapes = {}     # Shape/Size/Rank of a fully defined global -> its value
        self.phases = []
        self.global_fetches = []
        self.batched_fetches = []


def shape_op_value(kind, dims, dtype):
    """The value of a Shape, Size or Rank op (`kind`) of a tensor with these dims."""
    dims = [int(d) for d in dims]
    if kind == "Shape":
        return np.array(dims, dtype=dtype)
    if kind == "Size":
        return np.array(int(np.prod(dims)), dtype=dtype)
    return np.array(len(dims), dtype=dtype)


def _stage(p, tensors):
    return max((p.stage.get(t, 0) for t in tensors), default=0)


def _classify(p, ops, chunked):
    for t in chunked:
        p.batched.add(t)
        p.stage[t] = 0
    for op in ops:
        ins = op.inputs
        in_b = [t in p.batched for t in ins]
        shape_pos = SHAPE_INPUTS.get(op.type, ())
        if op.type in SHAPE_OF and in_b and in_b[0]:
            out = op.outputs[0]
            p.shape_roots[out] = ins[0]
            p.shape_dependent.add(out)
            p.stage[out] = 0
            continue
        if not any(in_b) and op.type in SHAPE_OF and ins[0].shape.is_fully_defined():
            # the shape of a global tensor is known without computing it (a loss's shape,
            # which its gradient's seed is filled to): fed as a constant, stage 0
            out = op.outputs[0]
            p.static_shapes[out] = shape_op_value(op.type, ins[0].shape.dims,
                                                     out.dtype.np)
            p.stage[out] = 0
            continue
        if not any(in_b):
            shaped = [t for i, t in enumerate(ins) if i in shape_pos and
                      t in p.shape_dependent]
            out0 = op.outputs[0] if op.outputs else None
            rows = (out0 is not None and out0.shape.rank and out0.shape.dims[0] is None)
            if shaped and rows:
                if op.type not in _BROADCAST_TO_ROWS:
                    raise Unsplittable(op, "it makes a tensor with one row per data row from "
                                       "the row count alone (row numbers are not known "
                                       "chunk by chunk)")
                for t in op.outputs:
                    p.batched.add(t)
                    p.stage[t] = _stage(p, ins)
                continue
            st = _stage(p, ins)
            dep = any(t in p.shape_dependent for t in ins)
            for t in op.outputs:
                p.stage[t] = st
                if dep:
                    p.shape_dependent.add(t)
            continue
        # an op with a batched input
        if state_kind(op) is not None or op.type in ("While", "If"):
            raise Unsplittable(op, "stateful and control-flow ops cannot take batched inputs")
        if op.control_inputs:
            raise Unsplittable(op, "a batched op with control dependencies")
        rule = split_rule(op)
        if rule is None:
            raise Unsplittable(op, f"op type {op.type} has no rule for splitting along the "
                                   "batch axis")
        try:
            res = rule(op, in_b)
        except ValueError as e:
            if isinstance(e, Unsplittable):
                raise
            raise Unsplittable(op, str(e)) from None
        st = _stage(p, ins)
        if res is BATCHED:
            for t in op.outputs:
                p.batched.add(t)
                p.stage[t] = st
        else:
            assert isinstance(res, Reduce)
            for t in op.outputs:
                p.reductions[t] = res.combine
                p.stage[t] = st + 1


class _ChunkWalk:
    """What one phase's chunk run needs: the global tensors it is fed, and the shape values
    it computes itself."""

    def __init__(self, p):
        self.p = p
        self.fed = {}
        self.shapes = {}
        self.seen = set()

    def data(self, t):
        p = self.p
        if t in self.seen:
            return
        self.seen.add(t)
        if t in p.batched or t.op in _reduction_ops(p, t):
            op = t.op
            if op.type == "Placeholder" and t in p.batched:
                return
            shape_pos = SHAPE_INPUTS.get(op.type, ())
            for i, u in enumerate(op.inputs):
                if u in p.batched:
                    self.data(u)
                elif i in shape_pos and u in p.shape_dependent:
                    self.shape(u)
                else:
                    self.feed(u)
            return
        self.feed(t)

    def feed(self, u):
        if u.op.type == "Const":
            return
        if u in self.shapes:
            raise Unsplittable(u.op, f"'{u.name}' is used both as a shape of chunk rows and "
                                     "as data")
        self.fed[u] = None

    def shape(self, u):
        p = self.p
        if u in self.fed:
            raise Unsplittable(u.op, f"'{u.name}' is used both as a shape of chunk rows and "
                                     "as data")
        if u in self.shapes:
            return
        self.shapes[u] = None
        if u in p.shape_roots:
            self.data(p.shape_roots[u])
            return
        for v in u.op.inputs:
            if v in p.shape_dependent:
                self.shape(v)
            elif v in p.reductions:
                raise Unsplittable(u.op, f"the shape '{u.name}' depends on a reduction over "
                                         "the batch axis")
            else:
                self.feed(v)


def _reduction_ops(p, t):
    return (t.op,) if t in p.reductions else ()


def partition(fetches, targets, chunked, fed):
    """The Partition of a run fetching `fetches` (tensors), running `targets` (ops), with the
    placeholders `chunked` fed row chunks and the tensors `fed` fed whole arrays."""
    p = Partition()
    chunked = list(chunked)
    ops = prune(list(fetches), list(targets), chunked + list(fed))
    _classify(p, ops, chunked)
    for t in p.shape_roots.values():
        dims = t.shape.dims
        if dims is None or None in dims[1:]:
            raise Unsplittable(t.op, f"the shape of batched tensor '{t.name}' is used but its "
                                     f"non-batch dims are not known statically ({t.shape})")
    for t in fetches:
        (p.batched_fetches if t in p.batched else p.global_fetches).append(t)
    for t in p.batched_fetches:
        dims = t.shape.dims
        if dims is None or None in dims[1:]:
            raise Unsplittable(t.op, f"a fetched batched tensor needs static non-batch dims, "
                                     f"'{t.name}' has shape {t.shape}")
    n = 1 + max([p.stage[t] - 1 for t in p.reductions] +
                [p.stage[t] for t in p.batched_fetches] + [0])
    p.phases = [Phase(i) for i in range(n)]
    for t, combine in p.reductions.items():
        p.phases[p.stage[t] - 1].partials.append((t, combine))
    for t in p.batched_fetches:
        p.phases[p.stage[t]].batched_fetches.append(t)
    for ph in p.phases:
        walk = _ChunkWalk(p)
        for t in ph.chunk_fetches:
            walk.data(t)
        ph.fed = list(walk.fed)
        ph.in_chunk_shapes = list(walk.shapes)
    p.phases = [ph for ph in p.phases if ph.chunk_fetches]
    return p
