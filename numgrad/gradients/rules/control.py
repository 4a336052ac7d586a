"""Gradients of the functional control-flow ops If and While (numgrad/control).

If: another If on the same pred whose branches re-trace (copy) each branch and take its
gradient w.r.t. the branch's captured inputs; an input only the other branch uses gets
zeros, the pred gets None.

While: a copy of the forward loop with ``history=True`` records every iteration's loop vars;
a backward while_loop then runs from the last iteration to the first, each step a copy of the
body at that iteration's recorded values and its gradient (w.r.t. the loop vars, and summed
over iterations w.r.t. the captured tensors).  Gradients arriving on the recorded stacks (from
a gradient of this gradient) are added at their iteration, which gives second derivatives.
"""
from ...control.cond import build_if
from ...control.func_graph import FuncGraph, copy_ops
from ...control.while_loop import history_specs, while_loop
from ...ops import array as _array
from ...ops import math as _math
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


@RegisterGradient("While")
def _while_grad(op, *grads):
    if not op.get_attr("back_prop"):
        return [None] * len(op.inputs)
    n = op.get_attr("n_vars")
    has_max = op.get_attr("has_max")
    pos = n + (1 if has_max else 0)
    caps = op.inputs[pos:]
    body_fg = op.get_attr("body_graph")
    body_idx = op.get_attr("body_idx")
    if op.get_attr("history"):
        hop, g_final, g_hist = op, grads[:n], grads[n:2 * n]
    else:
        # the same loop on the same inputs, recording every iteration's loop vars
        attrs = dict(op.attrs, history=True)
        attrs["out_specs"] = tuple(history_specs(attrs))
        hop = op.graph.create_op("While", list(op.inputs), attrs, "While_history")
        g_final, g_hist = grads, [None] * n
    H = hop.outputs[n:2 * n]
    T = hop.outputs[2 * n]
    dv = [i for i in range(n) if _diff(op.inputs[i])]
    # (one outer tensor may feed several placeholders: a variable's read and its handle)
    dc = [j for j, k in enumerate(body_idx) if _diff(caps[k]) and k not in body_idx[:j]]
    if not dv and not dc:
        return [None] * len(op.inputs)
    gh = {i: _dense(g_hist[i]) for i in dv
          if g_hist[i] is not None and not getattr(g_hist[i], "_is_zeros_tensor", False)}
    g0 = [_dense(g_final[i]) if g_final[i] is not None else _array.zeros_like(op.outputs[i])
          for i in dv]
    c0 = [_array.zeros_like(caps[body_idx[j]]) for j in dc]
    nd = len(dv)

    def bwd_cond(t, *rest):
        return _math.greater(t, 0)

    def bwd_body(t, *rest):
        g_loop, g_caps = rest[:nd], rest[nd:]
        idx = t - 1
        xs = [_array.gather(h, idx) for h in H]
        from ...graph import get_default_graph
        fg = get_default_graph()
        mapping = dict(zip(body_fg.args, xs))
        cap_ph = {}
        for j, (k, (_, ph)) in enumerate(zip(body_idx, body_fg.captures)):
            cap_ph[j] = mapping[ph] = fg.capture(caps[k])
        ys = copy_ops(body_fg, mapping, [body_fg.outputs[i] for i in dv])
        gs = gradients(ys, [xs[i] for i in dv] + [cap_ph[j] for j in dc], grad_ys=list(g_loop))
        new_loop = []
        for a, i in enumerate(dv):
            g = _dense(gs[a])
            if g is None:
                g = _array.zeros_like(xs[i])
            if i in gh:
                g = g + _array.gather(gh[i], idx)
            new_loop.append(g)
        new_caps = []
        for b, j in enumerate(dc):
            g = _dense(gs[nd + b])
            new_caps.append(g_caps[b] if g is None else g_caps[b] + g)
        return [t - 1] + new_loop + new_caps

    res = while_loop(bwd_cond, bwd_body, [T] + g0 + c0, name="while_grad",
                     return_same_structure=True)
    out = [None] * len(op.inputs)
    for a, i in enumerate(dv):
        out[i] = res[1 + a]
    for b, j in enumerate(dc):
        k = pos + body_idx[j]
        out[k] = res[1 + nd + b] if out[k] is None else out[k] + res[1 + nd + b]
    return out
