"""Lane expansion (cpu backend): a fused group over (..., L) with a tiny last dim L (xyz) whose
arrays with that dim are small (broadcast along the big dims) runs as L lanes of a group over
(...), reading lane-major copies of those arrays.

The loop over the big dims then reads every array contiguously and LLVM vectorises it.  Left
as it is, each of W5's all-pairs kernels (`d = p[:, None, :] - p[None, :, :]` and the force
sums over it) reads p[j, 0..2] with stride 3 in its innermost loop, and the force kernel ran
scalar: 4.1 ms per 1000 x 1000 pairs on one core.

The expansion is a rewrite of the group for emit_cpu.emit_group, not of the plan:
- a load with the lane dim becomes L loads, lane k of a lane-major copy the runner makes per
  call (so only arrays much smaller than the loop are allowed: the copy must be cheap);
- an elementwise node becomes L nodes, one per lane; inputs without the lane dim are shared;
- a reduction over other dims becomes L reductions, stacked back along the last dim after the
  kernel (W5's force: sums over i and over j of f(i, j) * d[i, j, :]);
- a Sum over the lane dim (|d|^2 = sum(d * d, axis=-1)) becomes an AddN of the lanes, an
  elementwise value of the expanded loop, followed by a Sum over the other reduced dims if any.
On one Zen 1 core W5's |d|^2 kernel went 1.66 -> 1.1 ms and its force kernel 4.0 -> 2.7 ms
(with float64 row and column sums accumulated in the loop itself, see emit_cpu; through block
buffers the lane form of the force kernel was slower than the stride-3 one, 5.1-5.7 ms).

Groups that write an elementwise output with the lane dim (it would need transposed stores) or
reduce over the lane dim with anything but Sum are left as they are.
"""
import numpy as np

from .. import config
from .layout import PARALLEL_MIN
from .fuse import Group, data_inputs
from .ir import Node, Value
from .reduction_text import is_mean, is_sum

LANES_MAX = 4           # last dims up to this size are lanes
MIN_SIZE = PARALLEL_MIN  # loops this big (parallel ones): copying small inputs pays
COPY_SHARE = 8          # a lane input may have at most 1/8 of the loop's elements
_PSEUDO_BASE = 1 << 30  # ids of the expansion's values (plan value ids are far smaller)
# NUMGRAD_LANES=0 turns the expansion off (A/B benchmarks; tests compare both ways).
ENABLED = config.get("NUMGRAD_LANES")


class LaneGroup:
    """What the runner needs: the expanded `group` (its loads, outputs and reductions are new
    Values), and how each maps back to the plan's values.

    loads[j] = (plan value id, lane or None, shape of the value aligned to the group's rank)
    outputs[j] = plan Value written (a Sum over the lanes only)
    reductions[j] = (plan Value written, lane k of it or None for all of it)"""

    def __init__(self, group, lanes, loads, outputs, reductions):
        self.group = group
        self.lanes = lanes
        self.loads = loads
        self.outputs = outputs
        self.reductions = reductions


def _axes(node, rank):
    axes = node.attrs.get("axis")
    if axes is None:
        return tuple(range(rank))
    if isinstance(axes, (int, np.integer)):
        axes = (axes,)
    return tuple(sorted(int(a) % rank for a in axes))


def expand(group):
    """The LaneGroup of `group`, or None when the expansion does not apply."""
    space = tuple(group.space)
    rank = len(space)
    if group.stage_nodes is not None or rank < 2 or group.outputs or group.gathered:
        return None
    lanes = space[-1]
    inner = space[:-1]
    size = int(np.prod(space, dtype=np.int64))
    if not 2 <= lanes <= LANES_MAX or size < MIN_SIZE or max(inner) < 2:
        return None

    def aligned(v):
        return (1,) * (rank - len(v.shape)) + tuple(v.shape)

    for v in group.loads:
        if aligned(v)[-1] == lanes and v.size * COPY_SHARE > size:
            return None
    for r in group.reductions:
        if rank - 1 in _axes(r, rank) and not (is_sum(r) and not is_mean(r)):
            return None

    ids = iter(range(_PSEUDO_BASE, _PSEUDO_BASE + (1 << 28)))
    new_nodes = []
    loads, load_map = [], []
    names = {}          # (plan value id, lane or None) -> expanded Value

    def node(op_type, attrs, inputs, out_shape, dtype, template, kind, name):
        n = Node(next(ids), op_type, attrs, inputs, kind, template, name)
        n.outputs.append(Value(next(ids), out_shape, dtype, node=n, name=name))
        new_nodes.append(n)
        return n

    scalar_ids = {v.id for v in group.scalars}

    def operand(v, lane):
        """The expanded Value read for plan value `v` in lane `lane`."""
        if v.id in scalar_ids:
            return v
        shape = aligned(v)
        key = (v.id, lane if shape[-1] == lanes else None)
        got = names.get(key)
        if got is None:         # a load: lane k of a lane-major copy, or the value itself
            got = Value(next(ids), shape[:-1], v.dtype, name=f"{v.name}[lane {key[1]}]")
            names[key] = got
            loads.append(got)
            load_map.append((v.id, key[1], shape))
        return got

    red_ids = {r.id for r in group.reductions}
    for n in group.nodes:
        if n.id in red_ids:
            continue
        data = {id(v) for v in data_inputs(n)}
        for k in range(lanes):
            ins = [operand(v, k) if id(v) in data else v for v in n.inputs]
            out = n.outputs[0]
            e = node(n.type, n.attrs, ins, inner, out.dtype, n.template, n.kind, n.name)
            names[(out.id, k)] = e.outputs[0]
    outputs, out_map = [], []
    reductions, red_map = [], []
    for r in group.reductions:
        x = data_inputs(r)[0]
        axes = _axes(r, rank)
        out = r.outputs[0]
        if rank - 1 not in axes:    # one reduction per lane, stacked back by the runner
            kept = tuple(1 if a in axes else d for a, d in enumerate(inner))
            for k in range(lanes):
                s = node(r.type, dict(r.attrs, axis=axes, keepdims=True), [operand(x, k)],
                         kept, out.dtype, r.template, r.kind, r.name)
                reductions.append(s)
                red_map.append((out, k))
            continue
        terms = [operand(x, k) for k in range(lanes)]
        total = node("AddN", {}, terms, inner, out.dtype, None, "elementwise", r.name + "/lanes")
        rest = tuple(a for a in axes if a != rank - 1)
        if not rest:                # |d|^2: an elementwise value of the expanded loop
            outputs.append(total.outputs[0])
            out_map.append(out)
            continue
        kept = tuple(1 if a in rest else d for a, d in enumerate(inner))
        s = node("Sum", {"axis": rest, "keepdims": True}, [total.outputs[0]], kept, out.dtype,
                 None, "reduce", r.name)
        reductions.append(s)
        red_map.append((out, None))
    expanded = Group(inner, group.phase, group.first)
    expanded.nodes = new_nodes
    expanded.loads = loads
    expanded.scalars = list(group.scalars)
    expanded.outputs = outputs
    expanded.reductions = reductions
    return LaneGroup(expanded, lanes, load_map, out_map, red_map)
