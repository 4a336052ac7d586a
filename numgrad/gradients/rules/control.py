"""Gradients of the functional control-flow ops If and While (numgrad/control).

If: another If on the same pred whose branches re-trace (copy) each branch and take its
gradient w.r.t. the branch's captured inputs; an input only the other branch uses gets
zeros, the pred gets None.

While: one backward iteration (the body's copy and its gradient, w.r.t. the loop vars and the
captured tensors) is built first, into a FuncGraph of its own on placeholders (_Step); the
loop vars its pruned result reads are the ones a copy of the forward loop (attr ``history``:
those vars) records at the start of every iteration.  A backward while_loop then runs from
the last iteration to the first, each step a copy of that iteration graph on the recorded
values, summing the captured tensors' gradients over iterations.  So a loop var the backward
never reads (a map_fn's or scan's accumulator: its write's gradient passes the incoming
gradient on; a counter only the cond reads) is not recorded: n copies of an (n, ...)
accumulator were O(n^2) memory.  A captured tensor's gradient that is one gathered row (a
map_fn's elements') is added into that row of its sum (a read and a TensorArray write: in
place in a native loop), not densified and added whole: O(row), not O(n), per iteration.
Gradients arriving on the recorded stacks (from a gradient of this gradient) are added at
their iteration, which gives second derivatives; the iteration graph of a recording copy is
the forward loop's, so it reads only what the copy records.
NUMGRAD_LOOP_GRAD_LEAN=0 records every loop var and adds dense gradients (for comparison).
"""
from ... import config
from ...backends.numpy import prune
from ...control.cond import build_if
from ...control.func_graph import FuncGraph, copy_ops
from ...control.functional import INDEPENDENT_ROWS, INDEPENDENT_ROWS_GRAD
from ...control.while_loop import marked_while_loop, recording_attrs
from ...graph import get_default_graph
from ...indexed_slices import IndexedSlices
from ...ops import array as _array
from ...ops import math as _math
from ...ops.core import placeholder
from ...ops.tensor_array_ops import tensor_array_read, tensor_array_write
from ..impl import gradients
from ..registry import RegisterGradient


def _diff(t):
    return t.dtype.is_differentiable


def _dense(g):
    return None if g is None else _array.densify(g)


@RegisterGradient("If")
def _if_grad(op, *grads):
    then_fg, else_fg = op.get_attr("then_graph"), op.get_attr("else_graph")
    inputs = op.inputs[1:]
    outs_d = [i for i, t in enumerate(op.outputs) if _diff(t) and grads[i] is not None]
    gys = [_dense(grads[i]) for i in outs_d]
    want = [k for k, t in enumerate(inputs) if _diff(t)]

    def grad_graph(fg, idx, what):
        gfg = FuncGraph(what, op.graph)
        with gfg.as_default():
            mapping = {ph: gfg.capture(inputs[k]) for k, (_, ph) in zip(idx, fg.captures)}
            ys = copy_ops(fg, mapping, [fg.outputs[i] for i in outs_d])
            used = [k for k in want if any(k == j for j in idx)]
            xs = [gfg.capture(inputs[k]) for k in used]
            res = dict.fromkeys(want)
            if ys and xs:
                g = gradients(ys, xs, grad_ys=[gfg.capture(gy) for gy in gys])
                res.update(zip(used, (_dense(v) for v in g)))
        return gfg, res

    tg, tres = grad_graph(then_fg, op.get_attr("then_idx"), "true_fn_grad")
    eg, eres = grad_graph(else_fg, op.get_attr("else_idx"), "false_fn_grad")
    keep = [k for k in want if tres[k] is not None or eres[k] is not None]
    for fg, res in ((tg, tres), (eg, eres)):
        with fg.as_default():
            fg.outputs = [res[k] if res[k] is not None else
                          _array.zeros_like(fg.capture(inputs[k])) for k in keep]
    out = [None] * len(op.inputs)
    if keep:
        for k, g in zip(keep, build_if(op.inputs[0], tg, eg)):
            out[1 + k] = g
    return out


class _Step:
    """One backward iteration of While `op`, built once into its own FuncGraph `fg` on
    placeholders: `xs` (the loop vars at the iteration's start) and `gys` (the gradients
    arriving on the body's results, one per differentiable var in `dv`); captured tensors
    are fg's own captures.  `loop`: the gradients w.r.t. the vars `dv` (dense); `caps`: per
    differentiable capture (`dc`), None, ("dense", g) or ("row", values, index) (one row's
    gradient, a gather's); `reads`: the loop vars the pruned results read."""

    def __init__(self, op, dv, dc, lean):
        n = op.get_attr("n_vars")
        caps = op.inputs[n + (1 if op.get_attr("has_max") else 0):]
        body_fg, body_idx = op.get_attr("body_graph"), op.get_attr("body_idx")
        specs = op.get_attr("out_specs")[:n]
        self.fg = FuncGraph("while_grad_step", op.graph)
        with self.fg.as_default():
            self.xs = [placeholder(d, s, name="loop_var") for d, s in specs]
            self.gys = [placeholder(specs[i][0], specs[i][1], name="grad") for i in dv]
            mapping = dict(zip(body_fg.args, self.xs))
            cap_ph = {}
            for j, (k, (_, ph)) in enumerate(zip(body_idx, body_fg.captures)):
                cap_ph[j] = mapping[ph] = self.fg.capture(caps[k])
            ys = copy_ops(body_fg, mapping, [body_fg.outputs[i] for i in dv])
            gs = gradients(ys, [self.xs[i] for i in dv] + [cap_ph[j] for j in dc],
                           grad_ys=self.gys)
            self.loop = [_zeros(self.xs[i]) if g is None else _dense(g)
                         for g, i in zip(gs, dv)]
            self.caps = [_cap_grad(g, caps[body_idx[j]], lean)
                         for g, j in zip(gs[len(dv):], dc)]
        needed = set(prune(self.outputs(), [], []))
        self.reads = tuple(i for i, x in enumerate(self.xs) if x.op in needed)

    def outputs(self):
        """The iteration graph's result tensors: `loop`, then the tensors of `caps`."""
        return self.loop + [t for c in self.caps if c is not None for t in c[1:]]

    def copy(self, rows, g_loop):
        """Copy the iteration into the default graph, on loop var values `rows` (a dict:
        index -> tensor, for every var in `reads`) and incoming gradients `g_loop`:
        (gradients w.r.t. the vars dv, the `caps` entries with their tensors copied)."""
        fg = get_default_graph()
        mapping = {self.xs[i]: rows[i] for i in self.reads}
        mapping.update(zip(self.gys, g_loop))
        for outer, ph in self.fg.captures:
            mapping[ph] = fg.capture(outer)
        got = iter(copy_ops(self.fg, mapping, self.outputs()))
        loop = [next(got) for _ in self.loop]
        caps = [None if c is None else (c[0],) + tuple(next(got) for _ in c[1:])
                for c in self.caps]
        return loop, caps


def _zeros(x):
    """Zeros of x's shape: a constant where it is static (which reads no value of x)."""
    if x.shape.is_fully_defined():
        return _array.zeros(x.shape.as_list(), x.dtype)
    return _array.zeros_like(x)


def _cap_grad(g, cap, lean):
    """A captured tensor's gradient in one iteration as a _Step.caps entry: one gathered row
    of a tensor of static shape stays a row (with `lean`), the rest is dense."""
    if g is None:
        return None
    if lean and isinstance(g, IndexedSlices) and g.indices.shape.as_list() == [1] \
            and cap.shape.is_fully_defined() and cap.shape.rank >= 1:
        tail = cap.shape.as_list()[1:]
        return ("row", _array.reshape(g.values, tail), _array.reshape(g.indices, []))
    return ("dense", _dense(g))


def _add_cap(total, c):
    """The running sum `total` of a captured tensor's gradient plus one iteration's, entry
    `c` of _Step.copy: a row is read, added to and written back (in place in a native loop,
    compiler/emit_loop.py in_place_writes)."""
    if c is None:
        return total
    if c[0] == "dense":
        return total + c[1]
    values, index = c[1], c[2]
    return tensor_array_write(total, index, tensor_array_read(total, index) + values)


def _recording_op(op, dv, dc):
    """(the recording While whose stacks the backward loop reads, its recorded vars, the
    iteration graph): `op` itself where it records (a gradient of a gradient), else a copy
    of it recording the vars the iteration reads (every var with NUMGRAD_LOOP_GRAD_LEAN=0)."""
    lean = config.get("NUMGRAD_LOOP_GRAD_LEAN")
    step = _Step(op, dv, dc, lean)
    history = op.get_attr("history")
    if history is not False:
        missing = set(step.reads) - set(history)
        if missing:
            raise ValueError(f"While '{op.name}': its gradient reads loop vars "
                             f"{sorted(missing)}, which this recording copy does not record "
                             f"(it records {list(history)})")
        return op, tuple(history), step
    recorded = step.reads if lean else tuple(range(op.get_attr("n_vars")))
    attrs = recording_attrs(op.attrs, recorded)
    hop = op.graph.create_op("While", list(op.inputs), attrs, "While_history")
    return hop, attrs["history"], step


@RegisterGradient("While")
def _while_grad(op, *grads):
    if not op.get_attr("back_prop"):
        return [None] * len(op.inputs)
    n = op.get_attr("n_vars")
    pos = n + (1 if op.get_attr("has_max") else 0)
    caps = op.inputs[pos:]
    body_idx = op.get_attr("body_idx")
    dv = [i for i in range(n) if _diff(op.inputs[i])]
    # (one outer tensor may feed several placeholders: a variable's read and its handle)
    dc = [j for j, k in enumerate(body_idx) if _diff(caps[k]) and k not in body_idx[:j]]
    if not dv and not dc:
        return [None] * len(op.inputs)
    hop, recorded, step = _recording_op(op, dv, dc)
    r = len(recorded)
    stacks = dict(zip(recorded, hop.outputs[n:n + r]))
    T = hop.outputs[n + r]
    g_final = grads[:n]
    g_hist = dict(zip(recorded, grads[n:n + r])) if hop is op else {}
    gh = {i: _dense(g) for i, g in g_hist.items()
          if i in dv and g is not None and not getattr(g, "_is_zeros_tensor", False)}
    g0 = [_dense(g_final[i]) if g_final[i] is not None else _array.zeros_like(op.outputs[i])
          for i in dv]
    c0 = [_array.zeros_like(caps[body_idx[j]]) for j in dc]
    nd = len(dv)

    def bwd_cond(t, *rest):
        return _math.greater(t, 0)

    def bwd_body(t, *rest):
        g_loop, g_caps = rest[:nd], rest[nd:]
        idx = t - 1
        rows = {i: _array.gather(stacks[i], idx) for i in step.reads}
        loop, capg = step.copy(rows, g_loop)
        new_loop = [g + _array.gather(gh[i], idx) if i in gh else g
                    for g, i in zip(loop, dv)]
        new_caps = [_add_cap(total, c) for total, c in zip(g_caps, capg)]
        return [t - 1] + new_loop + new_caps

    # a map_fn's backward iterations touch only their own row of the accumulators'
    # gradients, and add to the captures' (control/native_map.py runs ranges on threads)
    rows = op.attrs.get(INDEPENDENT_ROWS)
    marks = {INDEPENDENT_ROWS_GRAD: (rows, nd)} if rows is not None and not gh else None
    res = marked_while_loop(bwd_cond, bwd_body, [T] + g0 + c0, name="while_grad",
                            return_same_structure=True, marks=marks)
    out = [None] * len(op.inputs)
    for a, i in enumerate(dv):
        out[i] = res[1 + a]
    for b, j in enumerate(dc):
        k = pos + body_idx[j]
        out[k] = res[1 + nd + b] if out[k] is None else out[k] + res[1 + nd + b]
    return out
