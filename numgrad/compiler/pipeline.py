"""Row pipelines (cpu backend): a group that reads row reductions of an earlier group over the
same space runs as a later *stage* of that group's kernel, one row at a time.

fuse() ends a loop nest at a reduction, so `exp(x - mean(x, axis=-1))`, a row-wise softmax or
log-sum-exp, a layer norm and their gradients become two or three kernels, each streaming the
whole array through memory.  When a row fits in cache they can share one loop over rows:

    for each row i0:
        stage 0: for i1: ...; r = row reduction        (the row comes in from memory)
        stage 1: for i1: ... r ...                      (the row is read again, from cache)

and an elementwise value that only later stages read never reaches memory: it goes to a
one-row buffer.  W2 (`sum(log(1 + exp(X*v - mean(X, 1))))` and its gradients) went from three
kernels and five passes over 16 MiB arrays to one kernel reading X and writing dX once.

A group joins a pipeline when (checked on the stages' joint coalesced layout) the layout is
2-D (rows x one inner run), each row reduction it reads keeps exactly the row dim, its other
inputs are in memory before the pipeline runs or are elementwise outputs of earlier stages,
and a row of everything the stages read and write is at most ROW_BYTES.
"""
from .. import config
from .layout import layout
from .reduction_text import is_mean

ROW_BYTES = 1 << 18     # a row's loads + outputs; 2 passes over it should hit L2
# NUMGRAD_ROW_PIPELINES=0 turns the pass off (A/B benchmarks; tests compare both ways).
ENABLED = config.get("NUMGRAD_ROW_PIPELINES")


def _row_bytes(group, dims, lmasks, omasks):
    per = sum(v.dtype.itemsize for v, m in zip(group.loads, lmasks) if m[1])
    per += sum(v.dtype.itemsize for v, m in zip(group.outputs, omasks) if m[1])
    return dims[1] * per


class _Trial:
    """A candidate merged group for layout(): loads, outputs, reductions, space."""

    def __init__(self, space, loads, outputs, reductions):
        self.space, self.loads, self.outputs, self.reductions = space, loads, outputs, reductions


def _merge(p, g, row_loads, row_stage):
    """Append group `g` to `p` as a new stage; `row_loads` are g's loads of p's row values
    (reductions, or outputs of p's row stages); a `row_stage` runs once per row."""
    if p.stage_nodes is None:
        p.stage_nodes = [list(p.nodes)]
        p.out_stage = [0] * len(p.outputs)
        p.red_stage = [0] * len(p.reductions)
    s = len(p.stage_nodes)
    p.stage_nodes.append(list(g.nodes))
    if row_stage:
        p.row_stages.add(s)
    p.nodes.extend(g.nodes)
    have = {v.id for v in p.loads}
    p.loads.extend(v for v in g.loads if v.id not in have and v.id not in row_loads)
    have = {v.id for v in p.scalars}
    p.scalars.extend(v for v in g.scalars if v.id not in have)
    p.outputs.extend(g.outputs)
    p.out_stage.extend([s] * len(g.outputs))
    p.reductions.extend(g.reductions)
    p.red_stage.extend([s] * len(g.reductions))
    p.row_values.update({vid: j for vid, j in row_loads.items() if j is not None})


def pipeline_rows(steps, nodes, fetch_values):
    """Merge groups of `steps` (fuse()'s output, in run order) into row pipelines."""
    if not ENABLED:
        return steps
    produced_at = {}            # value id -> index in `out` of the step that writes it
    out = []
    pipes = []                  # (index in out, group) of groups that can take stages
    for st in steps:
        merged = False
        if st.kind == "group":
            for pos, p in reversed(pipes):
                found = _row_loads(p, st, pos, produced_at)
                if found is not None:
                    _merge(p, st, *found)
                    for v in st.outputs:
                        produced_at[v.id] = pos
                    for r in st.reductions:
                        produced_at[r.outputs[0].id] = pos
                    merged = True
                    break
        if merged:
            continue
        out.append(st)
        pos = len(out) - 1
        if st.kind == "group":
            pipes.append((pos, st))
            written = list(st.outputs) + [r.outputs[0] for r in st.reductions]
        else:
            written = st.node.outputs
        for v in written:
            produced_at[v.id] = pos
    for _, p in pipes:
        if p.stage_nodes is not None:
            _row_temps(p, nodes, out, fetch_values)
    return out


def _row_loads(p, g, pos, produced_at):
    """(row loads, row stage?) if `g` can be p's next stage, else None.

    Row loads map g's loads of p's per-row values to the reduction's index in p (None for an
    output of one of p's row stages: a register of the row loop).  g is a row stage when its
    space is p's rows (e.g. (n0, 1) against (n0, n1): the per-row scalar work between a
    layer norm's reductions); it then runs once per row, between the stages around it."""
    if len(g.space) != len(p.space) or p.gathered or g.gathered:    # (gathered loads: flat loops)
        return None
    row_stage = g.space != p.space
    if row_stage and (g.reductions or any(a not in (b, 1) for a, b in zip(g.space, p.space))):
        return None
    red_index = {r.outputs[0].id: j for j, r in enumerate(p.reductions)}
    row_outs = {v.id for v, s in zip(p.outputs, p.out_stage or [0] * len(p.outputs))
                if s in p.row_stages}
    own = {v.id for v in p.outputs}
    row_loads = {}
    for v in g.loads:
        if v.id in red_index:
            r = p.reductions[red_index[v.id]]
            if is_mean(r) and v.dtype.kind != "f":
                return None     # integer means round in the combine step (emit_cpu, mode 4)
            row_loads[v.id] = red_index[v.id]
        elif v.id in row_outs:
            row_loads[v.id] = None
        elif v.id in own and row_stage:
            return None         # a row stage reads no element of the inner loops
        elif not (v.node is None or v.id in own or produced_at.get(v.id, pos) < pos):
            return None         # written after the pipeline starts, outside it
    if not row_loads:
        return None
    # The joint layout must be rows x inner, with every row value indexed by row only.
    prev_rows = _row_value_loads(p)
    new_rows = [v for v in g.loads if v.id in row_loads]
    plain = [v for v in p.loads] + [v for v in g.loads if v.id not in row_loads]
    trial = _Trial(p.space, plain + prev_rows + new_rows, p.outputs + g.outputs,
                   p.reductions + g.reductions)
    dims, lmasks, omasks, rmasks = layout(trial)
    if len(dims) != 2:
        return None
    row_mask = [True, False]
    if any(m != row_mask for m in lmasks[len(plain):]):
        return None
    if row_stage:
        g_loads = {v.id for v in g.loads}
        g_outs = {v.id for v in g.outputs}
        if any(m[1] for v, m in zip(plain, lmasks) if v.id in g_loads) or \
                any(m != row_mask for v, m in zip(trial.outputs, omasks) if v.id in g_outs):
            return None
    reds = p.reductions + g.reductions
    if any(rmasks[j] != row_mask for j, r in enumerate(reds)
           if r.outputs[0].id in row_loads or r.outputs[0].id in p.row_values):
        return None
    if _row_bytes(trial, dims, lmasks, omasks) > ROW_BYTES:
        return None
    return row_loads, row_stage


def _row_value_loads(p):
    vals = {r.outputs[0].id: r.outputs[0] for r in p.reductions}
    return [vals[vid] for vid in p.row_values]


def _row_temps(p, nodes, steps, fetch_values):
    """Elementwise outputs of a pipeline read only by its later stages go to row buffers."""
    fetched = {v.id for v in fetch_values}
    consumers = {}
    for n in nodes:
        for v in n.inputs:
            consumers.setdefault(v.id, []).append(n.id)
    holders = {}                # node id -> number of steps other than p that hold it
    for st in steps:
        if st is p:
            continue
        for n in (st.nodes if st.kind == "group" else [st.node]):
            holders[n.id] = holders.get(n.id, 0) + 1
    first_stage = {}
    for s, stage in enumerate(p.stage_nodes):
        for n in stage:
            first_stage.setdefault(n.id, s)
    keep, keep_stage = [], []
    for v, s in zip(p.outputs, p.out_stage):
        users = consumers.get(v.id, [])
        inside = users and all(u not in holders and u in first_stage for u in users)
        if v.id in fetched or not inside:
            keep.append(v)
            keep_stage.append(s)
        elif s not in p.row_stages:     # a row stage's values are registers of the row loop
            p.row_temps.append((v, s))
    p.outputs, p.out_stage = keep, keep_stage
    # Later stages read earlier stages' values from the row buffer or from the output the
    # kernel itself writes (emit_cpu), not as loads: those are gathered before the call.
    own = {v.id for v, _ in p.row_temps} | {v.id for v in p.outputs}
    p.loads = [v for v in p.loads if v.id not in own]
