"""Graph-level vectorisation (pfor-style): rebuild a subgraph with an extra leading batch dim.

``vectorize(seed, batched_seed, targets)`` walks the ops on every path from ``seed`` to the
``targets`` in creation (= topological) order and builds, for each, a *batched twin* whose
tensors carry a leading dimension of size ``m`` (``batched_seed`` has shape
``(m, *seed.shape)``).  Tensors that do not depend on the seed (forward values) are used as
they are: NumPy broadcasting lets a batched operand of shape ``(m, *s)`` meet an unbatched one,
once the batched operand is given enough unit dims after ``m`` to line up with an unbatched
operand of higher rank.

Each op type has a *batching rule* in ``BATCH_RULES``, registered next to the rule
(``@batching_rule("Select")`` here, ``BATCH_RULES.setdefault`` in an op module):
``rule(ctx, op, inputs, batched) -> [output, ...]`` where ``inputs`` are the new input tensors,
``batched`` says which of them carry the batch dim, and each output is a batched tensor or
``Plain(t)`` for an output that does not depend on the seed's value (Shape, ZerosLike, ...).
Op types that cannot have a seed-dependent input declare the reason with the op
(``register_op(..., not_batchable=...)``) or add it to ``NOT_BATCHABLE``
(``not_batchable_reason`` asks both); an op met on a seed path without a rule raises
``NoBatchingRule`` (the caller falls back to a loop and says so).

This is what makes ``ng.jacobian`` one graph instead of ``y.size`` gradient graphs: the
backward graph is built once with a seed placeholder and then vectorised over an identity seed.
"""
import numpy as np

from . import dtypes as _dt
from .ops import array as A
from .ops import math as M
from .ops import reduce as R
from .ops.core import constant, constant_value, make_op, shape_tensor_value
from .ops.common import format_shape as _fmt
from .op_tables import registrar
from .ops.registry import find_op_def

__all__ = ["vectorize", "Plain", "NoBatchingRule", "BATCH_RULES", "NOT_BATCHABLE",
           "batching_rule", "has_batching_rule", "not_batchable_reason"]


class NoBatchingRule(Exception):
    """An op on a seed path has no batching rule (or a case its rule cannot handle)."""

    def __init__(self, op, reason=None):
        self.op_type = op.type
        self.op_name = op.name
        self.reason = reason or f"no batching rule for op type {op.type}"
        super().__init__(f"{self.reason} (op '{op.name}')")


class Plain:
    """A rule's output that carries no batch dim: it does not depend on the seed's value."""

    __slots__ = ("tensor",)

    def __init__(self, tensor):
        self.tensor = tensor


class _Context:
    def __init__(self, graph, m):
        self.graph = graph
        self.m = m


# --- small helpers ----------------------------------------------------------------------------
def _rank(op, t, batched=False):
    """Rank of the *unbatched* value of `t`; NoBatchingRule if unknown."""
    r = t.shape.rank
    if r is None:
        raise NoBatchingRule(op, f"{op.type}: input '{t.name}' has unknown rank")
    return r - 1 if batched else r


def _unit_dims_after_batch(ctx, t, k):
    """(m, *s) -> (m, 1 x k, *s): lets a batched operand line up with a higher-rank one."""
    if k <= 0:
        return t
    if t.shape.is_fully_defined():
        dims = t.shape.as_list()
        return A.reshape(t, [dims[0]] + [1] * k + dims[1:])
    for _ in range(k):
        t = A.expand_dims(t, 1)
    return t


def _align(ctx, op, inputs, batched):
    """Give batched operands unit dims so every operand broadcasts against (m, *out_shape)."""
    ranks = [_rank(op, t, b) for t, b in zip(inputs, batched)]
    out_rank = max(ranks)
    return [_unit_dims_after_batch(ctx, t, out_rank - r) if b else t
            for t, r, b in zip(inputs, ranks, batched)]


def _broadcast_batch(ctx, t):
    """An unbatched tensor repeated along a new leading batch dim: (s) -> (m, *s)."""
    e = A.expand_dims(t, 0)
    if t.shape.is_fully_defined():
        return A.broadcast_to(e, [ctx.m] + t.shape.as_list())
    return A.broadcast_to(e, A.concat([constant([ctx.m], dtype=_dt.int32), A.shape(t)], 0))


def _with_batch_dim(ctx, shape_t):
    """A 1-D shape tensor with m prepended (a Python list when the shape is static)."""
    v = constant_value(shape_t)
    if v is not None:
        return [ctx.m] + [int(d) for d in np.reshape(v, [-1])]
    return A.concat([constant([ctx.m], dtype=shape_t.dtype), shape_t], 0)


def _shift_axis(axis):
    """An axis of the unbatched value as an axis of the batched one (negative ones stay)."""
    return axis + 1 if axis >= 0 else axis


def _require_unbatched(op, batched, *indices):
    for i in indices:
        if batched[i]:
            raise NoBatchingRule(op, f"{op.type}: input {i} ('{op.inputs[i].name}') is a "
                                     "shape/index operand and cannot carry a batch dimension")


def _same_op(ctx, op, inputs, attrs=None):
    return list(make_op(op.type, inputs, op.attrs if attrs is None else attrs,
                        graph=ctx.graph).outputs)


# --- rules ----------------------------------------------------------------------------------
BATCH_RULES = {}
# op type -> why it needs no rule: never a seed-dependent (batched) input; op modules add theirs
# (an op may also declare its reason with register_op(..., not_batchable=...))
NOT_BATCHABLE = {}


# Rules live next to their op where they can (op modules add theirs with
# ``BATCH_RULES.setdefault``); the rules of the core ops are registered here, each where it is
# defined.
batching_rule = registrar(BATCH_RULES, "batching_rule", "a batching rule")


@batching_rule("Cast", "ReluGrad", "SelectV2", "Identity", "StopGradient")
def _elementwise(ctx, op, inputs, batched):
    return _same_op(ctx, op, _align(ctx, op, inputs, batched))


for _t, *_ in list(M.UNARY) + list(M.BINARY):      # ops/math.py's elementwise tables
    batching_rule(_t)(_elementwise)


@batching_rule("Select")
def _select_v1(ctx, op, inputs, batched):
    """Select's condition may be a vector over dim 0: make it broadcastable, use SelectV2."""
    c, x, y = inputs
    r = max(_rank(op, x, batched[1]), _rank(op, y, batched[2]))
    if _rank(op, c, batched[0]) == 1 and r > 1:
        lead = [ctx.m, -1] if batched[0] else [-1]
        c = A.reshape(c, lead + [1] * (r - 1))
    c, x, y = _align(ctx, op, [c, x, y], batched)
    return [M.where_v2(c, x, y)]


@batching_rule("AddN")
def _add_n(ctx, op, inputs, batched):
    """Sum the batched terms with AddN, then add the unbatched ones (they broadcast)."""
    b = [t for t, f in zip(inputs, batched) if f]
    u = [t for t, f in zip(inputs, batched) if not f]
    total = M.add_n(b) if len(b) > 1 else b[0]
    if u:
        total = M.add(total, M.add_n(u) if len(u) > 1 else u[0])
    return [total]


@batching_rule("Shape")
def _plain_shape(ctx, op, inputs, batched):
    x = op.inputs[0]
    out_type = op.attrs["out_type"]
    if x.shape.is_fully_defined():
        return [Plain(constant(np.array(x.shape.as_list(), out_type.np)))]
    return [Plain(A.strided_slice(A.shape(inputs[0], out_type=out_type), slice(1, None)))]


@batching_rule("Size")
def _plain_size(ctx, op, inputs, batched):
    x = op.inputs[0]
    out_type = op.attrs["out_type"]
    n = x.shape.num_elements()
    if n is not None:
        return [Plain(constant(np.array(n, out_type.np)))]
    return [Plain(M.floordiv(A.size(inputs[0], out_type=out_type),
                             constant(np.array(ctx.m, out_type.np))))]


@batching_rule("Rank")
def _plain_rank(ctx, op, inputs, batched):
    r = op.inputs[0].shape.rank
    if r is not None:
        return [Plain(constant(np.array(r, np.int32)))]
    return [Plain(M.subtract(A.rank(inputs[0]), 1))]


def _like(value):
    def rule(ctx, op, inputs, batched):
        x = op.inputs[0]
        if x.shape.is_fully_defined():   # no need to compute the batched input at all
            return [Plain(A.fill(x.shape.as_list(), constant(np.array(value, x.dtype.np))))]
        return _same_op(ctx, op, inputs)
    return rule


batching_rule("ZerosLike")(_like(0))
batching_rule("OnesLike")(_like(1))


@batching_rule("Fill")
def _fill(ctx, op, inputs, batched):
    _require_unbatched(op, batched, 0)
    dims, value = inputs
    known = constant_value(dims)
    target = _with_batch_dim(ctx, dims)
    rank = len(known) if known is not None else dims.shape[0]
    if rank is None:
        raise NoBatchingRule(op, "Fill: dims of unknown length")
    return [A.broadcast_to(A.reshape(value, [ctx.m] + [1] * rank), target)]


@batching_rule("BroadcastTo")
def _broadcast_to(ctx, op, inputs, batched):
    _require_unbatched(op, batched, 1)
    x, shp = inputs
    known = shape_tensor_value(shp)
    if known is None:
        raise NoBatchingRule(op, "BroadcastTo: target shape of unknown length")
    x = _unit_dims_after_batch(ctx, x, len(known) - _rank(op, x, True))
    return [A.broadcast_to(x, _with_batch_dim(ctx, shp))]


@batching_rule("SumToShape")
def _sum_to_shape(ctx, op, inputs, batched):
    _require_unbatched(op, batched, 1)
    g, shp = inputs
    target = constant_value(shp)
    if target is not None and g.shape.is_fully_defined():
        target = [int(d) for d in target]
        gs = g.shape.as_list()[1:]
        lead = len(gs) - len(target)
        axes = [1 + i for i in range(lead)] + [
            1 + lead + i for i, d in enumerate(target) if d == 1 and gs[lead + i] != 1]
        summed = R.reduce_sum(g, axes, keepdims=True) if axes else g
        return [A.reshape(summed, [ctx.m] + target)]
    # Dynamic shapes: with the batch dim moved last, SumToShape's leading-axes rule is right.
    r = _rank(op, g, True)
    moved = A.transpose(g, list(range(1, r + 1)) + [0])
    out = A.sum_to_shape(moved, A.concat([shp, constant([ctx.m], dtype=shp.dtype)], 0))
    k = shp.shape[0]
    if k is None:
        raise NoBatchingRule(op, "SumToShape: target shape of unknown length")
    return [A.transpose(out, [k] + list(range(k)))]


@batching_rule("Reshape")
def _reshape(ctx, op, inputs, batched):
    _require_unbatched(op, batched, 1)
    x, shp = inputs
    return [A.reshape(x, _with_batch_dim(ctx, shp))]


@batching_rule("ExpandDims")
def _expand_dims(ctx, op, inputs, batched):
    return _same_op(ctx, op, inputs, {"axis": _shift_axis(op.attrs["axis"])})


@batching_rule("Squeeze")
def _squeeze(ctx, op, inputs, batched):
    axis = op.attrs["axis"]
    if axis is None:                 # squeeze every unit dim of the row, never the batch dim
        s = op.inputs[0].shape
        if not s.is_fully_defined():
            raise NoBatchingRule(op, "Squeeze without axis needs a fully defined input shape")
        axis = tuple(i for i, d in enumerate(s.as_list()) if d == 1)
    return _same_op(ctx, op, inputs, {"axis": tuple(_shift_axis(a) for a in axis)})


@batching_rule("Transpose")
def _transpose(ctx, op, inputs, batched):
    perm = op.attrs["perm"]
    if perm is None:
        perm = tuple(range(_rank(op, op.inputs[0]) - 1, -1, -1))
    return _same_op(ctx, op, inputs, {"perm": (0,) + tuple(p + 1 for p in perm)})


def _all_batched(ctx, inputs, batched):
    return [t if b else _broadcast_batch(ctx, t) for t, b in zip(inputs, batched)]


@batching_rule("ConcatV2")
def _concat(ctx, op, inputs, batched):
    return _same_op(ctx, op, _all_batched(ctx, inputs, batched),
                    {"axis": _shift_axis(op.attrs["axis"])})


@batching_rule("Pack")
def _pack(ctx, op, inputs, batched):
    return _same_op(ctx, op, _all_batched(ctx, inputs, batched),
                    {"axis": _shift_axis(op.attrs["axis"])})


@batching_rule("Unpack")
def _unpack(ctx, op, inputs, batched):
    return _same_op(ctx, op, inputs, {**op.attrs, "axis": _shift_axis(op.attrs["axis"])})


@batching_rule("SplitV")
def _split_v(ctx, op, inputs, batched):
    _require_unbatched(op, batched, 1)
    return _same_op(ctx, op, inputs, {**op.attrs, "axis": _shift_axis(op.attrs["axis"])})


@batching_rule("Tile")
def _tile(ctx, op, inputs, batched):
    return _same_op(ctx, op, inputs, {"multiples": (1,) + tuple(op.attrs["multiples"])})


def _batched_spec(spec):
    return (slice(None),) + tuple(spec)


@batching_rule("StridedSlice")
def _strided_slice(ctx, op, inputs, batched):
    return _same_op(ctx, op, inputs, {"spec": _batched_spec(op.attrs["spec"])})


@batching_rule("StridedSliceGrad")
def _strided_slice_grad(ctx, op, inputs, batched):
    _require_unbatched(op, batched, 0)
    shp, dy = inputs
    target = _with_batch_dim(ctx, shp)
    if isinstance(target, list):
        target = constant(target, dtype=shp.dtype)
    return _same_op(ctx, op, [target, dy], {"spec": _batched_spec(op.attrs["spec"])})


@batching_rule("GatherV2")
def _gather(ctx, op, inputs, batched):
    _require_unbatched(op, batched, 1)
    return _same_op(ctx, op, inputs, {"axis": op.attrs["axis"] + 1})


@batching_rule("UnsortedSegmentSum")
def _unsorted_segment_sum(ctx, op, inputs, batched):
    """Move the batch dim behind the segment-id dims, segment-sum, move it back in front."""
    _require_unbatched(op, batched, 1, 2)
    data, ids, num = inputs
    r_ids = _rank(op, ids)
    r = _rank(op, data, True)
    perm = list(range(1, r_ids + 1)) + [0] + list(range(r_ids + 1, r + 1))
    summed = A.unsorted_segment_sum(A.transpose(data, perm), ids, num)
    return [A.transpose(summed, [1, 0] + list(range(2, r - r_ids + 2)))]


@batching_rule("Sum", "Mean", "Max", "Min", "Prod")
def _reduction(ctx, op, inputs, batched):
    axis = op.attrs["axis"]
    if axis is None:
        axis = range(_rank(op, op.inputs[0]))
    return _same_op(ctx, op, inputs, {"axis": tuple(a + 1 for a in axis),
                                      "keepdims": op.attrs["keepdims"]})


@batching_rule("Cumsum", "Cumprod")
def _scan(ctx, op, inputs, batched):
    return _same_op(ctx, op, inputs, {**op.attrs, "axis": _shift_axis(op.attrs["axis"])})


@batching_rule("MatMul", "BatchMatMulV2")
def _matmul(ctx, op, inputs, batched):
    """A batch dim in front turns MatMul into a (broadcasting) BatchMatMulV2."""
    a, b = _align(ctx, op, inputs, batched)
    return list(make_op("BatchMatMulV2", [a, b], op.attrs, graph=ctx.graph).outputs)


@batching_rule("Softmax", "LogSoftmax")
def _softmax(ctx, op, inputs, batched):
    return _same_op(ctx, op, inputs, {"axis": _shift_axis(op.attrs["axis"])})


@batching_rule("SoftmaxCrossEntropyWithLogits")
def _softmax_cross_entropy(ctx, op, inputs, batched):
    """Fold the batch dim into the rows of the 2-D op, then split it out again."""
    logits, labels = _all_batched(ctx, inputs, batched)
    n, c = op.inputs[0].shape.as_list() if op.inputs[0].shape.is_fully_defined() else (-1, None)
    if c is None:
        c = op.inputs[1].shape[1] if op.inputs[1].shape.rank == 2 else None
    if c is None:
        raise NoBatchingRule(op, "SoftmaxCrossEntropyWithLogits needs a static class count")
    loss, backprop = make_op(op.type, [A.reshape(logits, [-1, c]), A.reshape(labels, [-1, c])],
                             op.attrs, graph=ctx.graph).outputs
    return [A.reshape(loss, [ctx.m, -1]), A.reshape(backprop, [ctx.m, -1, c])]


@batching_rule("CheckNumerics")
def _check_numerics(ctx, op, inputs, batched):
    """Check the batched values; the new op's own name goes in its attrs (it reports it)."""
    new_op = make_op(op.type, inputs, dict(op.attrs), graph=ctx.graph)
    if "op_name" in new_op.attrs:
        new_op._attrs["op_name"] = new_op.name
    return list(new_op.outputs)


@batching_rule("IdentityN")
def _identity_n(ctx, op, inputs, batched):
    """Each output is its input (batched or not).  Like TF's vectorisation, the twin is plain
    identities: an override of IdentityN's gradient does not carry over to the batched copy."""
    return [t if b else Plain(t) for t, b in zip(inputs, batched)]


def has_batching_rule(op_type):
    return op_type in BATCH_RULES


def not_batchable_reason(op_type):
    """Why op type `op_type` needs no batching rule (NOT_BATCHABLE, or the reason declared with
    the op: register_op's `not_batchable`), or None."""
    reason = NOT_BATCHABLE.get(op_type)
    if reason is None:
        op_def = find_op_def(op_type)
        reason = None if op_def is None else op_def.not_batchable
    return reason


# --- the walk -------------------------------------------------------------------------------
def _ops_between(seed, targets):
    """Ops that depend on `seed` and feed some target, in creation (topological) order."""
    downstream = set()
    stack = [seed.op]
    while stack:
        op = stack.pop()
        if op in downstream:
            continue
        downstream.add(op)
        for out in op.outputs:
            stack.extend(out.consumers())
    needed = set()
    stack = [t.op for t in targets if t.op in downstream]
    while stack:
        op = stack.pop()
        if op in needed:
            continue
        needed.add(op)
        stack.extend(t.op for t in op.inputs if t.op in downstream)
    needed.discard(seed.op)
    order = {op: i for i, op in enumerate(seed.graph.get_operations())}
    return sorted(needed, key=order.__getitem__)


def vectorize(seed, batched_seed, targets):
    """Batched twins of `targets`: each of shape (m, *target.shape), m = batched_seed.shape[0].

    `seed` is a tensor the targets were built from (typically a placeholder); `batched_seed`
    stacks m values for it.  Raises NoBatchingRule if an op on the way has no rule.  Builds
    ops in the default graph; the caller owns name scope and transaction.
    """
    graph = seed.graph
    m = batched_seed.shape[0]
    if m is None:
        raise ValueError(f"vectorize: the batched seed '{batched_seed.name}' needs a static "
                         "leading dimension")
    if batched_seed.shape.rank != (seed.shape.rank or 0) + 1:
        raise ValueError(f"vectorize: batched seed shape {_fmt(batched_seed.shape)} must be "
                         f"(m, *{_fmt(seed.shape)})")
    ctx = _Context(graph, m)
    new = {seed: (batched_seed, True)}
    for op in _ops_between(seed, targets):
        inputs, flags = [], []
        for t in op.inputs:
            v, b = new.get(t, (t, False))
            inputs.append(v)
            flags.append(b)
        if not any(flags):
            # Depends on the seed only through shapes that folded to plain values: rebuild
            # unbatched (reuse the op itself when nothing changed).
            outs = (list(op.outputs) if all(a is b for a, b in zip(inputs, op.inputs))
                    else _same_op(ctx, op, inputs))
            new.update((t, (o, False)) for t, o in zip(op.outputs, outs))
            continue
        rule = BATCH_RULES.get(op.type)
        if rule is None:
            raise NoBatchingRule(op)
        outs = rule(ctx, op, inputs, flags)
        for t, o in zip(op.outputs, outs):
            new[t] = (o.tensor, False) if isinstance(o, Plain) else (o, True)
    result = []
    for t in targets:
        v, b = new.get(t, (t, False))
        result.append(v if b else _broadcast_batch(ctx, v))
    return result
