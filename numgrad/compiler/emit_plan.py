"""Lines of one Numba function that runs a whole small cpu plan (its fused kernels, views, the
few unfused ops it can run itself and calls of native loops, loop_call_lines), shared by the cpu backend's one-dispatch plan function
(backends/cpu_plan_function.py) and the native while loop (compiler/emit_loop.py), which inlines a loop's
cond and body plans into one native loop.

A PlanEmitter names every value of one plan ``{prefix}v{id}``, its constants parameters
``{prefix}c{k}`` and its kernels ``{prefix}k{k}``: two plans with different prefixes can be
emitted into one function.
"""
import numpy as np

from ..kernels.cpu import plan_forms as _plan_forms  # noqa: F401  (registers the forms)
from .plan_singles import find_plan_single, registered

__all__ = ["PlanEmitter", "native_single", "fresh_single", "single_source", "emittable",
           "loop_call_lines"]


def native_single(node):
    """Whether the plan function can run the unfused `node` itself (single_source): its op
    registered a plan-function form that fits it (compiler/plan_singles.py)."""
    return find_plan_single(node) is not None


def emittable(step, parallel, singles=True):
    """Whether a plan function can hold `step`: a serial kernel reading no fused gather, a
    view, or (with `singles`) a native_single."""
    if step.kind == "group":
        return not parallel and not step.gathered
    return step.node.kind == "shape_view" or singles and native_single(step.node)


def fresh_single(op_type):
    """Whether the single steps of `op_type` that single_source writes make a new array (not a
    view of their input)."""
    form = registered(op_type)
    return form is not None and form.fresh


def single_source(node, src, others, dst, idx, into=None):
    """Lines computing `dst` (a name), the output of the unfused `node` (a view or a
    native_single), from input names; `idx` names its index scalar.  A form that writes into
    a given array writes into the one named `into` if given."""
    if node.kind == "shape_view":       # a view (every one is a Reshape)
        return [f"    {dst} = c_view({src}, {node.outputs[0].shape!r})"]
    return registered(node.type).lines(node, src, others, dst, idx, into)


def _scalar_literal(x):
    a = np.asarray(x)
    return f"np.{a.dtype.name}({float(x)!r})" if a.dtype.kind == "f" else \
        f"np.{a.dtype.name}({x!r})"


def loop_call_lines(em, node, module, consts, box, history):
    """Lines of a While step of a plan function: a call of the loop's native function
    (compiler/emit_loop.py loop_source) from `module`, with its constant arguments `consts`.
    `box` (an int64 array [trip count of the last call, or -1; calls]) becomes a mutable
    parameter: its trip count sizes the history buffers of the next call, as the loop's call
    from Python does (control/native_loop.py), and the call is counted.  The loop's results
    are new arrays; a history block (iterations x elements) is the first rows of its buffer,
    viewed as the step's output (iterations, *shape); the trip count an int32 0-d array.
    `history`: the loop vars the function records (a tuple of indices; None: none, and the
    function is ``loop``), whose buffers ``loop_into`` takes before the loop vars and returns
    after them (a While without history may call its gradient's recording copy,
    control/native_loop.py plan_call: it takes the loop vars)."""
    attrs = node.attrs
    n, has_max = attrs["n_vars"], attrs["has_max"]
    fn = f"{em.prefix}w{node.outputs[0].id}_"
    em.imports.append(f"from {module} import {'loop' if history is None else 'loop_into'} "
                      f"as {fn}")
    b = f"{fn}box"
    em.state_args.append((b, box))
    maxit = (f"np.int64(c_view({em.arg(node.inputs[n])}, (1,))[0])" if has_max
             else f"np.int64({1 << 62})")
    args = [f"{fn}m"]
    if history is None:
        args.append(f"{fn}cap")
    for i in history or ():
        v = node.inputs[i]
        size = int(np.prod(v.shape, dtype=np.int64))
        args.append(f"c_empty(({fn}cap, {size}), np.{v.dtype.name})")
    args += [em.arg(v) for v in node.inputs[:n]]
    args += [em.arg(v) for v in node.inputs[n + has_max:]]
    for j, a in enumerate(consts):
        em.const_args.append((f"{fn}c{j}", a))
        em.params.append(f"{fn}c{j}")
        em.fixed.add(f"{fn}c{j}")
        args.append(f"{fn}c{j}")
    lines = [f"    {fn}m = {maxit}",
             f"    {fn}cap = max(np.int64(1), min({b}[0] if {b}[0] >= 0 else np.int64(16), "
             f"{fn}m))",
             f"    {fn}r = {fn}({', '.join(args)})",
             f"    {fn}t = {fn}r[{n + len(history or ())}]",
             f"    {b}[0] = {fn}t",
             f"    {b}[1] += 1"]
    for i, out in enumerate(node.outputs):
        name = f"{em.prefix}v{out.id}"
        if i < n:
            lines.append(f"    {name} = {fn}r[{i}]")
        elif i < len(node.outputs) - 1:     # a history block
            shape = ", ".join([f"{fn}t"] + [str(d) for d in out.shape[1:]])
            lines.append(f"    {name} = c_part({fn}r[{i}], 0, ({shape},))")
        else:                   # the trip count
            lines += [f"    {name}_ = c_empty((1,), np.int32)",
                      f"    {name}_[0] = {fn}t",
                      f"    {name} = c_view({name}_, ())"]
        em.bind(out, name)
        em.fresh.add(out.id)
    return lines


class PlanEmitter:
    """Source lines of one plan's steps.  `names` maps a value id to its source name (bind the
    feeds first); a constant read by a step becomes a parameter (`params`, `const_args`); a
    kernel an import (`imports`).  `fresh` holds the ids of values that are new arrays (a
    kernel's output, a roll, ...; views of them), as opposed to feeds, constants and views of
    those."""

    def __init__(self, prefix="", hoist=None):
        self.prefix = prefix
        self.names, self.fresh = {}, set()
        self.params, self.const_args, self.imports = [], [], []
        self.state_args = []        # (name, array) of mutable parameters (loop_call_lines)
        # Inside a native loop (compiler/emit_loop.py): `hoist` maps the reshape of an array
        # that stays the same over the iterations (a name in `fixed`: a capture, a constant,
        # an array allocated before the loop) to the name of that view, made once before
        # the loop; a kernel's output written into such an array is named by it.
        self.hoist, self.fixed = hoist, set()

    def reshaped(self, name, shape):
        """The source of array `name` reshaped to `shape`: a name made before the loop where
        `name` is fixed (see __init__)."""
        expr = f"c_view({name}, {shape!r})"
        if self.hoist is None or name not in self.fixed:
            return expr
        view = self.hoist.get(expr)
        if view is None:
            view = self.hoist[expr] = f"{self.prefix}z{len(self.hoist)}"
            self.fixed.add(view)
        return view

    def bind(self, v, name):
        self.names[v.id] = name

    def arg(self, v):
        """The source name of value `v` (a constant becomes a parameter)."""
        if v.id not in self.names:
            if v.const is None:
                raise ValueError(f"value {v} is not available")
            name = f"{self.prefix}c{len(self.const_args)}"
            a = v.const_array()
            self.const_args.append((name, a if a.flags.c_contiguous else np.array(a, order="C")))
            self.params.append(name)
            self.names[v.id] = name
            self.fixed.add(name)
        return self.names[v.id]

    @staticmethod
    def _into(into, node):
        form = registered(node.type)
        return into(node.outputs[0]) if into is not None and form is not None \
            and form.writes_into else None

    def steps(self, steps, runners, alloc, indent="", into=None, special=None,
              in_place=frozenset()):
        """The lines running `steps` (with their serial `runners`); `alloc(vid, shape, dtype)`
        is the expression of the array a kernel writes value `vid` into; `into(value)` (if
        given) names an array a roll writes its output `value` into, or None;
        `special(emitter, node)` (if given) gives the lines of a single step other than a view
        or a native_single (naming its outputs and marking them fresh); `in_place` holds the
        ids of single steps' outputs written into their first input's own array (a native
        loop's TensorArray writes, compiler/emit_loop.py)."""
        p, lines = self.prefix, []
        for st, run in zip(steps, runners):
            view = st.kind == "single" and st.node.kind == "shape_view"
            if st.kind == "single" and special is not None and not view \
                    and not native_single(st.node):
                lines += special(self, st.node)
                continue
            if view and self.hoist is not None and self.arg(st.node.inputs[0]) in self.fixed:
                src, dst = st.node.inputs[0], st.node.outputs[0]
                self.names[dst.id] = self.reshaped(self.arg(src), dst.shape)
                if src.id in self.fresh:
                    self.fresh.add(dst.id)
                continue
            if st.kind == "single":             # a view, or a native_single
                src, dst = st.node.inputs[0], st.node.outputs[0]
                target = self.arg(src) if dst.id in in_place else self._into(into, st.node)
                got = single_source(st.node, self.arg(src),
                                    [self.arg(v) for v in st.node.inputs[1:]],
                                    f"{p}v{dst.id}", f"{p}i{dst.id}", target)
                self.names[dst.id] = f"{p}v{dst.id}"
                if self.hoist is not None and target in self.fixed:    # a roll into it
                    got.pop()                       # (its last line names the output)
                    self.names[dst.id] = target
                lines += got
                if src.id in self.fresh or fresh_single(st.node.type):
                    self.fresh.add(dst.id)
                continue
            if run.parts:
                raise ValueError("chunked kernel")
            k = f"{p}k{len(self.imports)}"
            self.imports.append(f"from {run.kernel.py_func.__module__} import kernel as {k}")
            args = run.leading([str(d) for d in run.sizes], str(run.C), "7", "0")
            for (vid, shape), v in zip(run.loads, st.loads):
                a = self.arg(v)
                args.append(a if v.shape == shape else self.reshaped(a, shape))
            args += [_scalar_literal(x) for x in run.scalars]
            for vid, shape, dtype, kshape in run.outs_and_reds:
                made = alloc(vid, shape, dtype)
                if self.hoist is not None and made in self.fixed:
                    name = self.names[vid] = made
                else:
                    name = self.names[vid] = f"{p}v{vid}"
                    lines.append(f"    {name} = {made}")
                self.fresh.add(vid)
                args.append(name if shape == kshape else self.reshaped(name, kshape))
            args += [repr(c) for c in run.counts]
            lines.append(f"    {k}({', '.join(args)})")
        return [indent + ln for ln in lines]
