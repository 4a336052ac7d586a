"""Emit a whole ``while_loop`` as one Numba function: the cond's and the body's plans inlined
into a native ``while``, so an iteration costs no Python and no dispatch.

    def loop(maxit, cap, a0, .., p0, .., <cond constants>, <body constants>):
        x0 = a0.copy(); ..                   # the loop vars (mutable, C-contiguous)
        bt7 = c_empty(..); ..                # arrays of values dead at the iteration's end
        t = 0
        while t < maxit:
            <cond plan>                      # values named cv<id>
            if not <cond result>: break
            <body plan>                      # values named bv<id>
            x0, x1 = <body results>          # a result that is not a new array is copied
                                             # (results: two arrays, by the parity of t)
            t += 1
        return x0, .., t

A recording loop (the copy a gradient runs) is the function ``loop_into(maxit, hb0, .., a0,
..)`` instead: before its body, iteration t writes the recorded loop vars into row t of
history buffers hb (rows x elements, doubled when full); it returns the loop vars, the
buffers (grown) and t.  Its callers allocate the buffers and take their first t rows
(control/native_loop.py; a plan function's compiler/emit_plan.py loop_call_lines; a native
loop holding a loop's gradient keeps them across its iterations: recorded_call_lines).

Both plans are cpu CompiledPlans built with fuse_at_once whose every step a plan function can
hold (compiler/emit_plan.py emittable): serial fused kernels (re-emitted hot), views, and the
native singles (axis-0 rolls, one-row gathers, TensorArray reads and fixed-size writes).
Values are never written in place (a kernel writes a new array, a TensorArray write copies),
so loop vars, captures and results can share buffers safely, with one exception: a
TensorArray write whose buffer is a loop var nothing reads afterwards writes into that
loop var's own array (in_place_writes; the loop vars are copies of the arguments, and no two
share an array), so a map_fn or scan over n elements costs O(n), not O(n^2); a value that is not a result
(nor a view of one) is dead when the iteration ends, so its array is allocated once, before
the loop (a W7 backward iteration makes ~45 arrays: allocating them once cut it from ~2.1 to
~0.9 us).  The values the results are outlive it: each has two arrays, written on even and
odd iterations (a W7 iteration then allocates nothing; ~0.07 us less of ~0.8).  A cond
inside is a native if/else of its branch plans (if_lines), a loop inside a call of its own
native function (while_lines), a recording loop inside (the backward loop of a nested loop)
a call writing into history buffers allocated before the loop (recorded_call_lines).

Compile time is most of a cold first call: the body is kept to kernel calls, views made
inline (kernels/cpu/views.py: c_view, c_part for rows, c_empty for allocations) and simple
copy loops.  No slice assignments (Numba compiles the string code of their shape check's
message into the function), slices or ``np.empty`` (docs/benchmarks.md, "Compile cost of
native loop functions"); separate njit functions for cond and body, called from a small loop,
compiled slower and ran slower, and so did a njit wrapper around ``loop_into`` (every njit
function optimises and compiles again everything it calls, linked into it).  Kernel sizes
are baked into the source; only a captured array read solely by one-row gathers (a gradient
loop's recorded history) may change its length between calls (control/native_loop.py keys
on that).
"""
import numpy as np

from ..ops.registry import has_trait
from .emit_plan import PlanEmitter, fresh_single
from .njit_options import jit_options
from .plan_singles import find_plan_single

__all__ = ["loop_source", "in_place_writes"]


def _array_type(dtype, ndim):
    return f"nt.Array(from_dtype(np.dtype({np.dtype(dtype).str!r})), {ndim}, 'C', readonly=True)"


def if_lines(em, node, branches, inner=None, temps=None):
    """Lines of an If step (a cond inside the loop body): the taken branch's plan only.
    `branches(node)` gives ((plan, runners, capture index), ...) for then and else; each
    branch's values are named with their own prefix, its results copied unless the branch
    made them, so both branches give the If's outputs as new mutable arrays."""
    lines = [f"    if c_view({em.arg(node.inputs[0])}, (1,))[0]:"]
    for k, (plan, runners, idx) in enumerate(branches(node)):
        if k:
            lines.append("    else:")
        sub = PlanEmitter(f"{em.prefix}{'te'[k]}{node.outputs[0].id}_")
        for v, j in zip(plan._feed_values, idx):
            sub.bind(v, em.arg(node.inputs[1 + j]))
        fed = {v.id for v in plan._feed_values}
        lines += sub.steps(plan.steps, runners,
                           lambda vid, shape, dtype: f"c_empty({shape!r}, np.{dtype.name})",
                           indent="    ", special=_special(branches, inner, temps))
        for out, v in zip(node.outputs, plan._fetch_values):
            own = v.id in sub.fresh and v.id not in fed
            lines.append(f"        {em.prefix}v{out.id} = {sub.arg(v)}{'' if own else '.copy()'}")
        em.imports += sub.imports
        em.const_args += sub.const_args
        em.params += sub.params
    for out in node.outputs:
        em.bind(out, f"{em.prefix}v{out.id}")
        em.fresh.add(out.id)
    return lines


def while_lines(em, node, inner, temps=None):
    """Lines of a While step (a loop inside the loop body): a call of the inner loop's own
    native function (`inner(node)`: its module name and constant arguments); its loop vars
    are new arrays.  A recording loop (a gradient's copy, attr ``history``: the outer loop
    is a backward loop holding the inner loop's gradient) calls ``loop_into`` with history
    buffers this function keeps (recorded_call_lines)."""
    n, has_max = node.attrs["n_vars"], node.attrs["has_max"]
    module, consts = inner(node)
    fn = f"{em.prefix}w{node.outputs[0].id}_"
    maxit = (f"np.int64(c_view({em.arg(node.inputs[n])}, (1,))[0])" if has_max
             else f"np.int64({1 << 62})")
    args = [em.arg(v) for v in node.inputs[:n]]
    args += [em.arg(v) for v in node.inputs[n + has_max:]]
    for j, a in enumerate(consts):
        em.const_args.append((f"{fn}c{j}", a))
        em.params.append(f"{fn}c{j}")
        args.append(f"{fn}c{j}")
    if node.attrs["history"] is not False:
        return recorded_call_lines(em, node, module, fn, maxit, args, temps)
    em.imports.append(f"from {module} import loop as {fn}")
    lines = [f"    {fn}r = {fn}({', '.join([maxit, 'np.int64(16)'] + args)})"]
    for i, out in enumerate(node.outputs):
        lines.append(f"    {em.prefix}v{out.id} = {fn}r[{i}]")
        em.bind(out, f"{em.prefix}v{out.id}")
        em.fresh.add(out.id)
    return lines


def recorded_call_lines(em, node, module, fn, maxit, args, temps):
    """Lines calling a recording loop inside a native loop: ``loop_into`` (loop_source) with
    one history buffer per recorded var, allocated before the outer loop (appended to
    `temps`) and kept from one outer iteration to the next: the inner function writes its
    rows into it and hands it back, grown (doubled) where an inner call ran more iterations
    than it holds, so in the steady state an outer iteration allocates nothing.  The history
    outputs are views of the buffers' first rows (read by the inner backward loop in the
    same outer iteration, before the next call overwrites them); the trip count an int32
    0-d array, also allocated before the loop."""
    if temps is None:
        raise ValueError(f"While '{node.name}' records history: it needs a native loop around")
    n = node.attrs["n_vars"]
    hist = node.outputs[n:-1]
    em.imports.append(f"from {module} import loop_into as {fn}")
    bufs = [f"{fn}h{k}" for k in range(len(hist))]
    for b, out in zip(bufs, hist):
        size = int(np.prod(out.shape[1:], dtype=np.int64))
        temps.append((b, (16, size), out.dtype))
    temps.append((f"{fn}tc", (1,), np.dtype(np.int32)))
    lines = [f"    {fn}r = {fn}({', '.join([maxit] + bufs + args)})",
             f"    {fn}t = {fn}r[{n + len(hist)}]"]
    lines += [f"    {b} = {fn}r[{n + k}]" for k, b in enumerate(bufs)]
    for i, out in enumerate(node.outputs[:n]):
        lines.append(f"    {em.prefix}v{out.id} = {fn}r[{i}]")
        em.bind(out, f"{em.prefix}v{out.id}")
        em.fresh.add(out.id)
    for b, out in zip(bufs, hist):
        shape = ", ".join([f"{fn}t"] + [str(d) for d in out.shape[1:]])
        lines.append(f"    {em.prefix}v{out.id} = c_part({b}, 0, ({shape},))")
        em.bind(out, f"{em.prefix}v{out.id}")
    trips = node.outputs[-1]
    lines += [f"    {fn}tc[0] = {fn}t", f"    {em.prefix}v{trips.id} = c_view({fn}tc, ())"]
    em.bind(trips, f"{em.prefix}v{trips.id}")
    return lines


def _special(branches, inner, temps=None):
    """The `special` step emitter of PlanEmitter.steps inside a native loop; `temps` collects
    the arrays to allocate before the loop ((name, shape, dtype), _plan_lines)."""
    def emit(em, node):
        if has_trait(node.type, "loop"):
            return while_lines(em, node, inner, temps)
        if has_trait(node.type, "control_flow"):        # a branch (If)
            return if_lines(em, node, branches, inner, temps)
        raise ValueError(f"{node.type} '{node.name}' cannot run inside a native loop")
    return emit


def _roots(plan):
    """For each of a plan's results, the value it is or is a view of (through Reshapes,
    gathers and reads: every single step but the fresh singles and control flow)."""
    made_by = {st.node.outputs[0].id: st.node for st in plan.steps if st.kind == "single"}
    roots = []
    for v in plan._fetch_values:
        chain = [v.id]
        node = made_by.get(v.id)
        while node is not None and not fresh_single(node.type) \
                and not has_trait(node.type, "control_flow"):
            v = node.inputs[0]
            chain.append(v.id)
            node = made_by.get(v.id)
        roots.append(chain)
    return roots


def _views(steps, vid):
    """The ids of value `vid` and of the values that are views of it among plan `steps`
    (through Reshapes, reads and gathers: every single step but the fresh singles and
    control flow)."""
    out = {vid}
    for st in steps:
        node = st.node if st.kind == "single" else None
        if node is not None and node.inputs and node.inputs[0].id in out \
                and not fresh_single(node.type) and not has_trait(node.type, "control_flow"):
            out.update(v.id for v in node.outputs)
    return out


def _reads(st):
    """The ids of the values plan step `st` reads."""
    return {v.id for v in (st.node.inputs if st.kind == "single" else st.loads)}


def _in_place_candidate(st, feeds):
    """Whether plan step `st` is an in_place single (a TensorArray write) whose buffer is one
    of the values `feeds` (ids of the loop vars)."""
    node = st.node if st.kind == "single" else None
    form = None if node is None else find_plan_single(node)
    return form is not None and form.in_place and node.inputs[0].id in feeds


def late_writes(plan, n_vars, runners):
    """(steps, runners) of the body plan with each TensorArray write whose buffer is a loop
    var moved after the last step that reads the old buffer (or a view of it, such as an
    element read), where no step in between reads what the write made: such a write may
    then be in place (in_place_writes).  The gradient of a write reads the incoming
    gradient's element and zeroes it; the planner may put the zeroing first, which made
    map_fn's backward loop copy its (n, ...) gradient every iteration (O(n^2))."""
    feeds = {v.id for v in plan._feed_values[:n_vars]}
    order = list(zip(plan.steps, runners))
    for st in plan.steps:
        if not _in_place_candidate(st, feeds):
            continue
        steps = [s for s, _ in order]
        w = steps.index(st)
        old = _views(steps, st.node.inputs[0].id)
        last = max((k for k in range(w + 1, len(steps)) if old & _reads(steps[k])), default=None)
        made = _views(steps, st.node.outputs[0].id)
        if last is None or any(made & _reads(steps[k]) for k in range(w + 1, last + 1)):
            continue
        order.insert(last, order.pop(w))
    return [s for s, _ in order], [r for _, r in order]


def in_place_writes(plan, n_vars, steps=None):
    """The ids of the body plan's outputs of in_place singles (TensorArray writes,
    compiler/plan_singles.py) that may be written into their buffer's own array (O(element)
    instead of a copy of the whole buffer: a map_fn or scan over n elements then costs O(n),
    not O(n^2)).  Safe where the buffer is a loop var (its
    array is the loop's own: the function copies its arguments first, and a loop var is never
    a capture's, a constant's or another loop var's array) that no step reads, itself or
    through a view, after the write, that no result is (nor a view of), and whose written
    output at most one result is (or is a view of): two loop vars never share an array.
    `steps`: the plan's steps in the order they run (late_writes), by default its own."""
    steps = plan.steps if steps is None else steps
    feeds = {v.id for v in plan._feed_values[:n_vars]}
    chains = [set(chain) for chain in _roots(plan)]
    out = set()
    for w, st in enumerate(steps):
        if not _in_place_candidate(st, feeds):
            continue
        node = st.node
        old = _views(steps, node.inputs[0].id)
        if any(old & _reads(later) for later in steps[w + 1:]) \
                or any(old & chain for chain in chains) \
                or sum(node.outputs[0].id in chain for chain in chains) > 1:
            continue
        out.add(node.outputs[0].id)
    return out


def _plan_lines(em, plan, runners, names, mutable, temps, branches, inner, twin=False):
    """Bind a plan's feeds to `names`, emit its steps inside the loop; (lines, result names
    of its fetches, whether each is a new mutable array).  The arrays of values that do not
    outlive an iteration are allocated once, before the loop: (name, shape, dtype) appended
    to `temps`.  The values the results are (or are views of) outlive it: with `twin` (the
    body) each gets two arrays, before the loop too, and iteration t writes the one of its
    parity (the loop vars of iteration t hold the other's, from iteration t - 1); without
    (the cond, whose result is read at once) one."""
    for v, name in zip(plan._feed_values, names):
        em.bind(v, name)
        if name in mutable:
            em.fresh.add(v.id)
        else:
            em.fixed.add(name)          # a capture
    carried = {vid for chain in _roots(plan) for vid in chain}

    def temp(vid, shape, dtype):
        name = f"{em.prefix}t{vid}"
        if not (twin and vid in carried):
            temps.append((name, shape, dtype))
            em.fixed.add(name)
            return name
        temps.extend([(name + "a", shape, dtype), (name + "b", shape, dtype)])
        return f"({name}a if t & 1 else {name}b)"

    def into(v):
        return temp(v.id, v.shape, v.dtype)
    steps, in_place = plan.steps, frozenset()
    if twin:
        steps, runners = late_writes(plan, len(mutable), runners)
        in_place = in_place_writes(plan, len(mutable), steps)
    lines = em.steps(steps, runners, temp, indent="    ", into=into,
                     special=_special(branches, inner, temps), in_place=in_place)
    outs = [(em.arg(v), v.id in em.fresh) for v in plan._fetch_values]
    return lines, outs


def _moved(plan, n_vars):
    """Indices of the body results that are another loop var (or a view of one): the body
    permutes its loop vars.  These are copied: a loop var must never hold an array that
    two iterations back was a double-buffered result (_plan_lines' `twin`), which the
    iteration about to run overwrites."""
    feeds = {v.id: j for j, v in enumerate(plan._feed_values[:n_vars])}
    return {i for i, chain in enumerate(_roots(plan)) if feeds.get(chain[-1], i) != i}


def _record_lines(h, x, size):
    """Lines copying loop var `x` (`size` elements) into row t of history buffer `h` (c_copy:
    a slice assignment of its flat view, ``h[t] = x.reshape(..)``, made W7's forward loop
    ~8% slower, 0.307 -> 0.283 ms a call, and compiled Numba's string code into it)."""
    return [f"        c_copy({h}, t * {size}, {x}, 0, {size})"]


def _grow_lines(i, size, dtype):
    """Lines doubling history buffer h<i> (rows of `size` elements) when row t is past its
    end: a new buffer, the t rows written so far copied (c_copy: a slice assignment
    ``g[:t] = h`` compiled Numba's shape check and the string code of its message into
    every recording loop)."""
    return [f"        if t == h{i}.shape[0]:",
            f"            g{i} = c_empty((max(2 * t, 4), {size}), np.{dtype.name})",
            f"            c_copy(g{i}, 0, h{i}, 0, t * {size})",
            f"            h{i} = g{i}"]


def loop_source(cond_plan, cond_runners, body_plan, body_runners, n_vars, cond_idx, body_idx,
                n_caps, history, branches, inner):
    """(source of the njit function `loop` (for a recording loop `loop_into` instead:
    _recording_source), its constant arguments in order).

    `cond_idx` / `body_idx`: for each capture feed of the cond / body plan, its index among
    the While's captures (`n_caps` of them).  ``loop``'s arguments are maxit (int64), cap
    (int64, unused), the loop vars, the captures, then the constants; it returns the final
    loop vars and the trip count.  A recording loop records the loop vars `history` names (a
    tuple of indices, or None for a loop that records nothing) into history buffers (2-D:
    iterations x elements) that ``loop_into`` takes after maxit and returns after the loop
    vars.  `branches(node)`: the branch plans of an If step (if_lines); `inner(node)`: the
    native function of a While step (while_lines)."""
    var_vals = body_plan._feed_values[:n_vars]
    xs = [f"x{i}" for i in range(n_vars)]
    caps = [f"p{j}" for j in range(n_caps)]
    hoist = {}                          # reshapes of fixed arrays, made before the loop
    cem, bem = PlanEmitter("c", hoist), PlanEmitter("b", hoist)
    temps = []
    cond_lines, cond_outs = _plan_lines(cem, cond_plan, cond_runners,
                                        xs + [caps[k] for k in cond_idx], set(xs), temps,
                                        branches, inner)
    body_lines, body_outs = _plan_lines(bem, body_plan, body_runners,
                                        xs + [caps[k] for k in body_idx], set(xs), temps,
                                        branches, inner, twin=True)
    (c_name, _), = cond_outs
    c_flat = cem.reshaped(c_name, (1,))
    lines = [f"    x{i} = a{i}.copy()" for i in range(n_vars)]
    lines += [f"    {name} = c_empty({shape!r}, np.{dtype.name})" for name, shape, dtype in temps]
    lines += [f"    {name} = {expr}" for expr, name in hoist.items()]
    recorded = () if history is None else history
    lines += [f"    h{i} = hb{i}" for i in recorded]
    lines += ["    t = 0", "    while t < maxit:"]
    lines += cond_lines
    lines += [f"        if not {c_flat}[0]:", "            break"]
    for i in recorded:
        v = var_vals[i]
        size = int(np.prod(v.shape, dtype=np.int64))
        lines += _grow_lines(i, size, v.dtype)
        lines += _record_lines(f"h{i}", f"x{i}", size)
    lines += body_lines
    moved = _moved(body_plan, n_vars)
    results = [name if new and i not in moved else f"{name}.copy()"
               for i, (name, new) in enumerate(body_outs)]
    lines.append(f"        {', '.join(xs)}{',' if n_vars == 1 else ''} = "
                 f"({', '.join(results)}{',' if n_vars == 1 else ''})")
    lines.append("        t += 1")
    rets = xs + [f"h{i}" for i in recorded] + ["t"]
    lines.append(f"    return ({', '.join(rets)},)")
    const_args = cem.const_args + bem.const_args
    params = ([f"a{i}" for i in range(n_vars)] + caps + [name for name, _ in const_args])
    cap_vals = [None] * n_caps
    for plan, idx in ((cond_plan, cond_idx), (body_plan, body_idx)):
        for k, v in zip(idx, plan._feed_values[n_vars:]):
            cap_vals[k] = v
    sig = [_array_type(v.dtype, len(v.shape)) for v in var_vals]
    if any(v is None for v in cap_vals):
        raise ValueError("a capture that neither the cond nor the body reads")
    sig += [_array_type(v.dtype, len(v.shape)) for v in cap_vals]
    sig += [_array_type(a.dtype, a.ndim) for _, a in const_args]
    head = ("import numpy as np\nfrom numba import njit, types as nt\n"
            "from numba.np.numpy_support import from_dtype\n"
            "from numgrad.kernels.cpu.views import c_view, c_part, c_empty, c_copy, c_zero\n"
            + "\n".join(cem.imports + bem.imports) + "\n\n\n")
    if history is None:
        source = (head + f"@njit((nt.int64, nt.int64, {', '.join(sig)},), {jit_options()})\n"
                  f"def loop(maxit, cap, {', '.join(params)}):\n"
                  + "\n".join(lines) + "\n")
    else:
        source = head + _recording_source(recorded, [var_vals[i] for i in recorded],
                                          lines, params, sig)
    return source, [a for _, a in const_args]


def _recording_source(recorded, rec_vals, lines, params, sig):
    """The function of a recording loop: ``loop_into(maxit, hb.., <args>)`` runs it (its
    `lines`), writing the history into the buffers hb (one per recorded var, indices
    `recorded`, values `rec_vals`; 2-D: rows x elements) and returning them, grown where
    they filled up, after the loop vars, then the trip count.  Its callers allocate the
    buffers and take the rows written (control/native_loop.py from Python, a plan function's
    loop_call_lines, a native loop's recorded_call_lines).  (A njit ``loop`` wrapper that
    allocated them cost a compile of its own, which Numba spends optimising and compiling
    the whole of loop_into again, linked into it: ~0.3-0.8 CPU s a recording loop.)"""
    hbs = [f"hb{i}" for i in recorded]
    hsig = [f"nt.Array(from_dtype(np.dtype({v.dtype.str!r})), 2, 'C')" for v in rec_vals]
    return (f"@njit((nt.int64, {', '.join(hsig + sig)},), {jit_options()})\n"
            f"def loop_into(maxit, {', '.join(hbs + params)}):\n" + "\n".join(lines) + "\n")
