"""Column-major blocks for row-block plans: each block of a row value kept as (columns, rows).

Why: a row-block plan's time goes mostly to products ``X[b0:b1] @ W`` of a block of rows
with a small (20, 20) weight (W6: 56 per block, ~2/3 of a call).  With the block stored row by
row (B, 20), the output's contiguous dimension is its 20 columns: the BLAS kernel vectorises
along them (16 + 4 lanes of AVX-512) and runs at ~67 GFLOP/s.  Stored column by column (20, B)
the same product is ``W^T @ X^T``, whose output's contiguous dimension is the block's rows,
and OpenBLAS runs it ~35% faster (one thread, Zen 4, min of 3000 calls: 3.08 -> 2.00 us at
B = 256, 6.1 -> 3.9 us at B = 512; docs/benchmarks.md, "W6: where a row-block call's time
goes").  The weight gradients ``X^T @ dY`` become
``X^T_cm @ dY_cm^T`` (inner dimension the rows, as before).

This module decides whether a plan's steps over the rows can all run on such blocks
(`why_not`) and rewrites each fused group over (rows, c) as a group over (c, rows)
(`transpose_group`) for compiler/emit_cpu.emit_group: loads and outputs transposed, a
broadcast (1, c) row read as (c, 1), a reduction's axes swapped.  Values with one column
((rows, 1) or (rows,)) are the same bytes either way, which is what lets the plan's feeds
(W6's t and x) and the loss's per-row values pass unchanged.  compiler/emit_rowblock.py
writes the block loop over the transposed values.
"""
from .emit_lane import copy_kind, is_matmul, is_view, step_values
from .fuse import Group, data_inputs
from .ir import Node, Value
from .row_blocks import REDUCE, ROW

_PSEUDO_BASE = 1 << 29  # ids of the rewritten groups' values (plan value ids are far smaller)


def columns(v, rows):
    """The columns of row value `v` ((rows,) or (rows, c)), or None for another shape."""
    shape = tuple(v.shape)
    if len(shape) == 1 and shape[0] == rows:
        return 1
    if len(shape) == 2 and shape[0] == rows and shape[1] < rows:
        return shape[1]
    return None


def why_not(plan, found, given):
    """None when every step `found` (a row_blocks.Analysis) puts over the rows can run on
    column-major blocks, else the reason; `given`: ids of the values the caller's arrays
    hold (fetched), which must keep their row layout (a fed or constant row value with
    several columns is copied block by block)."""
    rows = found.rows
    steps = [st for st, role in zip(plan.steps, found.roles) if role in (ROW, REDUCE)]
    for st in steps:
        ins, outs = step_values(st)
        for v in ins + outs:
            if v.id not in found.row_values:
                continue
            c = columns(v, rows)
            if c is None:
                return f"a row value of shape {tuple(v.shape)}"
            if c > 1 and v.id in given:
                return "a fetched row value with several columns"
        if is_view(st):
            return "a view over the rows"
        if st.kind == "group":
            reason = _group_reason(st, rows)
            if reason:
                return reason
        elif not is_matmul(st):
            node = st.node
            whole = node.outputs[0] if copy_kind(node) == "concat" else node.inputs[0]
            if len(whole.shape) != 2:
                return f"{node.type} '{node.name}' over {len(whole.shape)} dims"
    return None


def needs_transposing(st, rows):
    """Whether fused group `st` over the rows runs as a transposed kernel: a group over
    (rows, c); one over (rows,) reads one column, the same bytes either way."""
    return len(st.space) == 2


def _group_reason(st, rows):
    space = tuple(st.space)
    if space == (rows,):
        return None
    if len(space) != 2 or space[0] != rows or space[1] >= rows:
        return f"a fused kernel over {space}"
    if st.stage_nodes is not None or st.gathered:
        return "a fused kernel with stages or gathers"
    reds = {r.id for r in st.reductions}
    if any(len(data_inputs(r)[0].shape) != 2 for r in st.reductions):
        return "a fused reduction of a value with other than two dims"
    for n in st.nodes:
        if n.id not in reds and n.kind != "elementwise":
            return f"a fused {n.kind} node"
    for v in st.loads:
        if len(v.shape) > 2:
            return f"a fused load of shape {tuple(v.shape)}"
    return None


def _flipped(shape):
    """A shape aligned to rank 2, its two dims swapped (rank 0 stays)."""
    if not shape:
        return ()
    a, b = (1,) + tuple(shape) if len(shape) == 1 else tuple(shape)
    return (b, a)


def _swap_axes(node):
    axes = node.attrs.get("axis")
    if axes is None:
        return None
    if isinstance(axes, int):
        axes = (axes,)
    return tuple(sorted(1 - int(a) % 2 for a in axes))


class Transposed:
    """A group over (rows, c) rewritten over (c, rows): `group` (its loads, outputs and
    reductions new Values) and `plan_value` (new value id -> the plan's Value it stands
    for)."""

    def __init__(self, group, plan_value):
        self.group = group
        self.plan_value = plan_value


def transpose_group(group):
    """The Transposed form of a rank-2 group (why_not passed)."""
    ids = iter(range(_PSEUDO_BASE, _PSEUDO_BASE + (1 << 28)))
    scalar_ids = {v.id for v in group.scalars}
    names, plan_value = {}, {}

    def operand(v):
        if v.id in scalar_ids:
            return v
        got = names.get(v.id)
        if got is None:             # a load
            got = names[v.id] = Value(next(ids), _flipped(v.shape), v.dtype, name=v.name)
            plan_value[got.id] = v
        return got

    new_nodes = []
    for n in group.nodes:
        data = {id(v) for v in data_inputs(n)}
        attrs = n.attrs
        if n in group.reductions and attrs.get("axis") is not None:
            attrs = dict(attrs, axis=_swap_axes(n))
        m = Node(next(ids), n.type, attrs,
                 [operand(v) if id(v) in data else v for v in n.inputs], n.kind, n.template,
                 n.name)
        out = n.outputs[0]
        shape = _flipped(out.shape) if len(out.shape) == 2 or n.kind == "elementwise" \
            else tuple(out.shape)
        m.outputs.append(Value(next(ids), shape, out.dtype, node=m, name=out.name))
        names[out.id] = m.outputs[0]
        plan_value[m.outputs[0].id] = out
        new_nodes.append(m)
    t = Group(_flipped(group.space), group.phase, group.first)
    t.nodes = new_nodes
    t.loads = [names[v.id] for v in group.loads]
    t.scalars = list(group.scalars)
    t.outputs = [names[v.id] for v in group.outputs]
    t.reductions = [names[r.outputs[0].id].node for r in group.reductions]
    return Transposed(t, plan_value)
