"""Fusion: group IR nodes into loop nests.

Elementwise nodes over the same iteration space, and reductions reading that space, form one
group when their inputs are ready at the same *phase*.  A value's phase is when it exists in
memory: feeds and constants at 0, a group's outputs at the group's phase, an opaque node's
outputs one after its latest input.  A node joins group (space, p) where p is one past the
latest phase of the inputs it must load (inputs produced by same-space elementwise nodes are
taken from registers instead).  This gives multi-output fusion for free: the forward pass of
`sum(f(x))` and its backward pass (whose seed is a constant) read the same inputs at phase 1,
so they share one loop.  Reductions end a chain: their consumers land in a later phase.
"""
import numpy as np

from .. import config
from ..ops.registry import find_op_def
from .reduction_text import is_reduction

_NATIVE = {np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64, np.bool_)}
# Complex elementwise ops fuse into cpu loops (those declared with a complex form, or with the
# complex_as_is trait: ops/registry.py; never a reduction); the cuda emitter has no complex
# scalar functions.
# NUMGRAD_FUSE_COMPLEX=0 runs each complex op as a NumPy step of its own (A/B).
FUSE_COMPLEX = config.get("NUMGRAD_FUSE_COMPLEX")
# NUMGRAD_FUSE_CHAINS: a later loop recomputes a chain of up to CHAIN_NODES cheap nodes
# (1 - h*h from a stored h; -(a * b) where it reads a and b), not only one node whose
# inputs are all in memory (A/B)
CHAINS = config.get("NUMGRAD_FUSE_CHAINS")
CHAIN_NODES = 3
_COMPLEX = {np.dtype(np.complex64), np.dtype(np.complex128)}


def _declared_data_inputs(node):
    op_def = find_op_def(node.type)
    return None if op_def is None else op_def.data_inputs


def data_inputs(node):
    """The inputs of `node` that carry data (not the shape arguments of Fill/BroadcastTo:
    OpDef.data_inputs)."""
    idx = _declared_data_inputs(node)
    return node.inputs if idx is None else [node.inputs[i] for i in idx]


def _has_trait(node, trait):
    op_def = find_op_def(node.type)
    return op_def is not None and op_def.has_trait(trait)


def is_fusible(node, complex_ok=False):
    """Whether `node` can be part of a fused loop; `complex_ok`: also complex elementwise ops
    (the cpu emitter's; only where FUSE_COMPLEX is on).  Of the "reduce" ops, those declared
    with a Reduction fuse (not SumToShape, which lowering turns into a Sum)."""
    if node.kind not in ("elementwise", "reduce") or (node.kind == "reduce"
                                                       and not is_reduction(node)):
        return False
    data = data_inputs(node)
    shaped = _declared_data_inputs(node) is not None
    values = [v for v in list(node.inputs) + node.outputs
              if not (shaped and v in node.inputs and v not in data)]
    if complex_ok and FUSE_COMPLEX and any(v.dtype in _COMPLEX for v in values):
        return (_fuses_complex(node.type)
                and all(v.dtype in _NATIVE or v.dtype in _COMPLEX for v in values))
    return all(v.dtype in _NATIVE for v in values)


def _fuses_complex(op_type):
    op_def = find_op_def(op_type)
    return op_def is not None and (
        (op_def.forms is not None and op_def.forms.complex is not None)
        or op_def.has_trait("complex_as_is"))


def space_of(node):
    return data_inputs(node)[0].shape if is_reduction(node) else node.outputs[0].shape


class Group:
    """A fused loop nest: `nodes` over iteration `space`, run at `phase`."""

    def __init__(self, space, phase, first):
        self.space = space
        self.phase = phase
        self.first = first
        self.nodes = []
        self.loads = []        # Values read from memory (arrays)
        self.scalars = []      # constant Values of one element, passed as scalars
        self.outputs = []      # elementwise Values written to memory
        self.reductions = []   # reduce nodes (their output is written to memory)
        # Row pipelines (compiler/pipeline.py, cpu only) give a group stages: None, or one
        # node list per stage, with the stage of each output / reduction; values of later
        # stages read from row reductions (value id -> index in reductions), from row stages'
        # registers, or from one-row buffers ((value, stage that writes it)).
        self.stage_nodes = None
        self.out_stage = None
        self.red_stage = None
        self.row_values = {}
        self.row_temps = []
        self.row_stages = set()    # stages that run once per row (no inner loop)
        # Gathered loads (fuse(gathers=True), cpu only): load value id -> (params, indices,
        # GatherV2 node); the loop reads params[indices[i], ...] where it reads the load.
        self.gathered = {}

    kind = "group"


class Single:
    """An unfused node (opaque kernel or view) run at `phase`."""

    def __init__(self, node, phase):
        self.node = node
        self.phase = phase
        self.first = node.id

    kind = "single"


def _recomputable(node, space, p, group_of, value_phase, stored=None):
    """Same-space producers from earlier groups that `node` can recompute from memory: a
    cheap node whose inputs are in memory, or (`stored` given: NUMGRAD_FUSE_CHAINS) a chain
    of up to CHAIN_NODES of them whose first ones read values in memory (`stored(value)`:
    whether a value an earlier loop makes is written to memory whatever is chosen here)."""
    out = []
    for v in data_inputs(node):
        chain = _chain(v.node, space, p, group_of, value_phase, stored,
                       CHAIN_NODES if stored is not None else 1)
        out += [n for n in chain or () if n not in out]
    return out


def _stored_anyway(nodes, fetch_values, complex_ok):
    """A predicate: whether a value is written to memory whatever loop recomputes it (it is
    fetched, or a node that is not fused reads it)."""
    fetched = {v.id for v in fetch_values}
    outside = set()
    for n in nodes:
        if not is_fusible(n, complex_ok):
            outside.update(v.id for v in n.inputs)
    return lambda v: v.id in fetched or v.id in outside


def _chain(prod, space, p, group_of, value_phase, stored, budget):
    """The nodes (inputs first) that recompute `prod`'s output in a loop at phase `p` from
    memory, at most `budget` of them, or None."""
    def source(u, gp):
        in_loop = u.node is not None and group_of.get(u.node.id) is gp and \
            not is_reduction(u.node)
        if u.node is None or value_phase(u) < p and (
                not in_loop or stored is not None and stored(u)):
            return MEMORY
        return RECURSE if in_loop and stored is not None else None
    return _cheap_chain(prod, space, p, group_of, budget, source)


MEMORY, RECURSE = "memory", "recurse"


def _cheap_chain(prod, space, p, group_of, budget, source):
    """The nodes (inputs first) of a chain of cheap nodes ending at `prod`, all of one earlier
    loop over `space` (phase < `p`), at most `budget` of them; or None.  `source(u, gp)` says
    where each non-scalar input `u` of a node of loop `gp` comes from: MEMORY (read as is),
    RECURSE (made by the chain too) or None (the chain cannot be had)."""
    # (the "cheap" trait: recomputed in a later loop rather than stored and reloaded)
    if prod is None or budget < 1 or not _has_trait(prod, "cheap") or prod.id not in group_of:
        return None
    gp = group_of[prod.id]
    if gp.space != space or gp.phase >= p:
        return None
    chain = []
    for u in data_inputs(prod):
        if u.const is not None and u.const.size == 1:
            continue
        how = source(u, gp)
        if how == MEMORY:
            continue
        if how is None:
            return None
        sub = _cheap_chain(u.node, space, p, group_of, budget - 1 - len(chain), source)
        if sub is None:
            return None
        chain += [n for n in sub if n not in chain]
    if len(chain) + 1 > budget:
        return None
    return chain + [prod]


def _recompute_from_loads(g, group_of):
    """Add to group `g` the chains (up to CHAIN_NODES cheap nodes of an earlier loop over the
    same space) that make a value `g` would read from memory out of values `g` reads anyway:
    `g` computes it instead of loading it (W6: a stored -(a * b) next to loads of a and b)."""
    members = {n.id for n in g.nodes}
    reads = {}
    for n in g.nodes:
        for v in data_inputs(n):
            if not (v.const is not None and v.const.size == 1) and \
                    not (v.node is not None and v.node.id in members):
                reads[v.id] = v
    for v in list(reads.values()):
        chain = _chain_from(v.node, g, group_of, reads, CHAIN_NODES)
        for n in chain or ():
            if n.id not in members:
                g.nodes.append(n)
                members.add(n.id)


def _chain_from(prod, g, group_of, reads, budget):
    """The nodes (inputs first) that make `prod`'s output from the values in `reads` and
    scalars: cheap nodes of one earlier loop over `g`'s space, at most `budget`; or None."""
    def source(u, gp):
        if u.id in reads:
            return MEMORY
        if u.node is None or group_of.get(u.node.id) is not gp or is_reduction(u.node):
            return None
        return RECURSE
    if prod is None or is_reduction(prod):
        return None
    return _cheap_chain(prod, g.space, g.phase, group_of, budget, source)


def virtual_gathers(nodes, fetch_values):
    """GatherV2 nodes (axis 0) whose output only fusible nodes read, and is not fetched:
    value id of the output -> (params, indices, node).  Their consumers' loops read
    params[indices[i], ...] where they would read the gathered array, which is never made.
    (TF's gather gradient is sparse, IndexedSlices of the incoming gradient, so a gather's
    forward side is where a dense copy would cost a memory pass.)"""
    fetched = {v.id for v in fetch_values}
    readers = {}
    for n in nodes:
        for v in n.inputs:
            readers.setdefault(v.id, []).append(n)
    found = {}
    for n in nodes:
        if not _has_trait(n, "row_gather") or n.attrs.get("axis") != 0:
            continue
        params, indices = n.inputs
        y = n.outputs[0]
        if (y.id in fetched or params.dtype not in _NATIVE or indices.dtype.kind not in "iu"
                or params.is_splat or indices.is_splat or not params.shape):
            continue
        users = readers.get(y.id, [])
        if users and all(is_fusible(c) and all(
                u.id != y.id for u in c.inputs if all(u is not d for d in data_inputs(c)))
                for c in users):
            found[y.id] = (params, indices, n)
    return found


def fuse(nodes, fetch_values, gathers=False, virtual=None, complex_ok=False):
    """Steps (Groups and Singles) in run order.  With `gathers`, a gather read only by fused
    loops becomes a gathered load of theirs (virtual_gathers; the cpu emitter reads them);
    `virtual` passes virtual_gathers' result when the caller found it already; `complex_ok`
    lets complex elementwise ops into loops (the cpu emitter has their scalar forms)."""
    if virtual is None:
        virtual = virtual_gathers(nodes, fetch_values) if gathers else {}
    avail = {}          # value id -> phase at which it is in memory
    groups = {}         # (space, phase) -> Group
    group_of = {}       # node id -> Group
    steps = []

    def value_phase(v):
        return 0 if v.node is None else avail[v.id]

    stored = _stored_anyway(nodes, fetch_values, complex_ok) if CHAINS else None
    for node in nodes:
        if node.outputs and node.outputs[0].id in virtual:
            # in memory when its params and indices are: the readers' loops gather
            avail[node.outputs[0].id] = max(value_phase(v) for v in node.inputs)
            continue
        if is_fusible(node, complex_ok):
            space = space_of(node)
            p = 1
            for v in data_inputs(node):
                if v.const is not None and v.const.size == 1:
                    continue
                prod = v.node
                if prod is not None and prod.id in group_of and not is_reduction(prod) \
                        and group_of[prod.id].space == space:
                    p = max(p, group_of[prod.id].phase)
                else:
                    p = max(p, value_phase(v) + 1)
            key = (space, p)
            g = groups.get(key)
            if g is None:
                g = groups[key] = Group(space, p, node.id)
                steps.append(g)
            for prod in _recomputable(node, space, p, group_of, value_phase, stored):
                if prod not in g.nodes:
                    g.nodes.append(prod)     # recompute here instead of a memory round trip
            g.nodes.append(node)
            group_of[node.id] = g
            for o in node.outputs:
                avail[o.id] = p
        else:
            p = max([value_phase(v) for v in node.inputs] + [0])
            if node.kind != "shape_view":      # a Reshape (every view is one) is free
                p += 1
            steps.append(Single(node, p))
            for o in node.outputs:
                avail[o.id] = p

    if CHAINS:
        for g in (s for s in steps if s.kind == "group"):
            _recompute_from_loads(g, group_of)

    # what each group reads and writes
    consumers = {}
    for node in nodes:
        for v in node.inputs:
            consumers.setdefault(v.id, []).append(node)
    fetched = {v.id for v in fetch_values}
    # Recomputed producers are appended as their consumers arrive, which can put one ahead of
    # a producer it reads (also recomputed later): restore the graph's topological order.
    position = {n.id: i for i, n in enumerate(nodes)}
    for g in (s for s in steps if s.kind == "group"):
        g.nodes.sort(key=lambda n: position[n.id])
    members_of = {id(g): {n.id for n in g.nodes} for g in steps if g.kind == "group"}
    # A node recomputed in later groups is a consumer there too: its inputs must be in memory
    # for every group that holds it, not only the group it was first placed in.
    groups_holding = {}
    for g in (s for s in steps if s.kind == "group"):
        for n in g.nodes:
            groups_holding.setdefault(n.id, []).append(g)

    def needs_memory(value, consumer):
        holders = groups_holding.get(consumer.id)
        return not holders or any(value.node.id not in members_of[id(g)] for g in holders)

    for g in (s for s in steps if s.kind == "group"):
        members = members_of[id(g)]
        seen = set()
        for node in g.nodes:
            for v in data_inputs(node):
                if v.id in seen:
                    continue
                in_regs = v.node is not None and v.node.id in members and not is_reduction(v.node)
                if in_regs:
                    continue
                seen.add(v.id)
                if v.const is not None and v.const.size == 1:
                    g.scalars.append(v)
                else:
                    g.loads.append(v)
                    if v.id in virtual:
                        g.gathered[v.id] = virtual[v.id]
            if is_reduction(node):
                g.reductions.append(node)
            elif group_of[node.id] is g:          # a recomputed copy stores nothing
                out = node.outputs[0]
                outside = any(needs_memory(out, c) for c in consumers.get(out.id, []))
                if outside or out.id in fetched:
                    g.outputs.append(out)
    # A group whose every node is recomputed where it is used writes nothing: drop it.
    steps = [s for s in steps if s.kind != "group" or s.outputs or s.reductions]
    steps.sort(key=lambda s: (s.phase, s.first))
    return steps
