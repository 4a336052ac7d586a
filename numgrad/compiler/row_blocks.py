"""Which steps of a cpu plan could run on blocks of rows (the analysis for row-block lanes).

Why: W6's plan (bench_train.py) is ~200 steps over its 10,000 collocation rows, and nearly
all of them are row-local: row i of each output depends on row i of the inputs only.  Run on
blocks of a few hundred rows at a time, such a chain keeps every array of the block in cache
and splits over threads by blocks; the sums over rows (weight-gradient products X^T @ dY,
bias gradients, the loss's means) become per-thread partial sums added once at the end.
numgrad/bench_rowblock.py measures the layout written by hand for W6 (15 ms at one thread,
~8 ms at two, against numgrad's 24 ms and 14 ms); this module is the part of a planner that
decides, from the steps and their ops' declarations, which steps the block loop can take
(compiler/emit_rowblock.py writes the loop from its `analyse`, backends/cpu_rowblock.py runs
it).

`classify(plan, rows)` gives every step one role:

* ``ROW``: row-local over `rows` rows.  A fused group over (rows, ...) whose loads either
  have those rows or broadcast across them and whose reductions (if any) keep the row axis;
  a product ``A @ B`` (the op's `matmul` trait) with A's rows and a B that is no row value;
  a concat or split (`concat` / `split` traits) along another axis; a view keeping the rows.
* ``REDUCE``: row-local, and sums over the rows as well: a group with a sum or mean over the
  row axis (each thread keeps partial sums), or a product ``A^T @ B`` of two row values
  (accumulated block by block with beta = 1).
* ``OUTSIDE``: no row values in or out (a product of weights, the AddN of the partial weight
  gradients, an optimizer's update): runs before or after the block loop as today.
* ``OTHER``: reads row values but is none of the above (a reduction other than a sum over
  the rows, a product mixing rows, a gather, a step that reads the result of a REDUCE step
  while itself over the rows): such a plan keeps today's lanes for that step, and
  everything the step feeds must wait for the whole block loop.

A row value is a feed, constant or step output whose first dimension is `rows` (1-D ones
included, as ``reduce_max(h, 1)`` makes; an OTHER
step's too: its readers can take blocks of the whole array once it is made); a REDUCE step's
reduced output is not one (it is complete only after the last block), nor is anything an
OUTSIDE step makes from it (a step over the rows reading that is OTHER as well).  The roles say what
each step is, not yet in which order a planner runs them: a ROW step reading an OTHER step's
output needs that step before its block loop.  `rows_of(plan)` picks the row count: the
first dimension shared by the outputs of most product steps.
"""
import collections

from .emit_lane import copy_kind, is_matmul, is_view, step_values
from .reduction_text import is_sum, reduction

ROW, REDUCE, OUTSIDE, OTHER = "row", "reduce", "outside", "other"


def rows_of(plan):
    """The most common first dimension of the plan's product outputs (None without any)."""
    firsts = collections.Counter(
        st.node.outputs[0].shape[0] for st in plan.steps
        if is_matmul(st) and st.node.outputs[0].shape)
    return firsts.most_common(1)[0][0] if firsts else None


def _has_rows(v, rows):
    """Whether `v` is over the rows: its first dim is `rows` (a 1-D value too, as a row
    reduction without keepdims makes)."""
    return v.shape is not None and len(v.shape) >= 1 and v.shape[0] == rows


def _axes(node, rank):
    axes = node.attrs.get("axis")
    if axes is None:
        return set(range(rank))
    if isinstance(axes, int):
        axes = (axes,)
    return {int(a) % rank for a in axes}


class _Roles:
    """The walk of `classify`: which values are row values, which are reduced over rows."""

    def __init__(self, plan, rows):
        self.rows = rows
        self.row_values = {v.id for v in plan._feed_values if _has_rows(v, rows)}
        self.row_values |= {vid for vid, a in plan.consts
                            if a.ndim >= 1 and a.shape[0] == rows}
        self.reduced = set()        # outputs of REDUCE steps' sums over the rows

    def row(self, v):
        return v.id in self.row_values

    def role(self, st):
        ins, outs = step_values(st)
        if any(v.id in self.reduced for v in ins):
            # a value complete only after the block loop; a step over rows reading it
            # would need a second loop
            return OTHER if any(self.row(v) for v in ins) or \
                any(_has_rows(v, self.rows) for v in outs) else OUTSIDE
        if not any(self.row(v) for v in ins) and \
                not any(_has_rows(v, self.rows) for v in outs):
            return OUTSIDE
        if st.kind == "group":
            return self._group(st)
        if is_view(st):
            return ROW if all(_has_rows(v, self.rows) for v in outs) else OTHER
        if is_matmul(st):
            return self._matmul(st.node)
        return self._copy(st.node)

    def _group(self, st):
        if st.gathered or not st.space or st.space[0] != self.rows:
            return OTHER
        rank = len(st.space)
        for v in st.loads:
            # a load either has the rows or broadcasts across them (fewer dims, or 1 row)
            if self.row(v):
                if len(v.shape) == rank:
                    continue
                return OTHER            # aligned to the trailing axes: mixes the rows
            if v.shape is not None and len(v.shape) == rank and v.shape[0] != 1:
                return OTHER
        over_rows = False
        for r in st.reductions:
            src = r.inputs[0]
            if src.shape is None or len(src.shape) != rank:
                return OTHER
            if 0 in _axes(r, rank):
                if not is_sum(r):
                    return OTHER        # a max or product over rows: not a partial sum
                over_rows = True
            elif reduction(r) is None:
                return OTHER
        if over_rows and st.stage_nodes is not None:
            return OTHER                # a later stage may read the sum over all rows
        return REDUCE if over_rows else ROW

    def _matmul(self, node):
        a, b = node.inputs
        ta, tb = node.attrs["transpose_a"], node.attrs["transpose_b"]
        if not self.row(a) and not self.row(b):
            return OTHER                # rows made from no row value
        if not ta and self.row(a) and not self.row(b):
            return ROW
        if ta and not tb and self.row(a) and self.row(b):
            return REDUCE
        return OTHER

    def _copy(self, node):
        kind = copy_kind(node)
        if kind is None:
            return OTHER
        whole = node.outputs[0] if kind == "concat" else node.inputs[0]
        parts = node.inputs if kind == "concat" else node.outputs
        if whole.shape is None or node.attrs["axis"] % len(whole.shape) == 0:
            return OTHER
        if not all(self.row(v) or _has_rows(v, self.rows) for v in parts):
            return OTHER
        return ROW

    def record(self, st, role):
        ins, outs = step_values(st)
        if role == OUTSIDE and any(v.id in self.reduced for v in ins):
            # made from a sum over all rows (a mean's reciprocal, an optimizer's update):
            # complete only after the block loop too
            self.reduced |= {v.id for v in outs}
        elif role in (ROW, OTHER):
            # an OTHER step's row outputs are whole arrays its readers can take blocks of
            self.row_values |= {v.id for v in outs if _has_rows(v, self.rows)}
        elif role == REDUCE:
            for v in outs:
                if _has_rows(v, self.rows) and not self._reduced_output(st, v):
                    self.row_values.add(v.id)
                else:
                    self.reduced.add(v.id)

    def _reduced_output(self, st, v):
        if st.kind != "group":
            return True                 # A^T @ B
        return any(r.outputs[0].id == v.id for r in st.reductions)


class Analysis:
    """What `analyse` found: rows, roles (one per step), row_values (ids of the values over
    the rows: feeds, constants and ROW/REDUCE outputs) and reduced (ids of the sums over the
    rows and of the values made from them)."""

    def __init__(self, rows, roles, row_values, reduced):
        self.rows, self.roles = rows, roles
        self.row_values, self.reduced = row_values, reduced


def analyse(plan, rows=None):
    """The Analysis of a CompiledPlan (rows None: `rows_of(plan)`)."""
    rows = rows_of(plan) if rows is None else rows
    if rows is None:
        return Analysis(None, [OUTSIDE] * len(plan.steps), set(), set())
    walk = _Roles(plan, rows)
    roles = []
    for st in plan.steps:
        role = walk.role(st)
        walk.record(st, role)
        roles.append(role)
    return Analysis(rows, roles, walk.row_values, walk.reduced)


def classify(plan, rows=None):
    """(rows, [role of each step]) of a CompiledPlan (see the module docstring); rows None:
    `rows_of(plan)`."""
    found = analyse(plan, rows)
    return found.rows, found.roles


def summary(plan, costs, rows=None):
    """{role: (steps, estimated seconds)} of the plan (`costs`: seconds per step, as
    backends/cpu_native.estimated_costs) and the row count, for reports."""
    rows, roles = classify(plan, rows)
    out = {r: [0, 0.0] for r in (ROW, REDUCE, OUTSIDE, OTHER)}
    for role, cost in zip(roles, costs):
        out[role][0] += 1
        out[role][1] += cost
    return rows, {k: tuple(v) for k, v in out.items()}

