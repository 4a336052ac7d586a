"""Source of a native plan: one nogil Numba function per lane (backends/cpu_native.py).

A lane function runs its steps in its order without returning to Python: fused kernels (all
in their serial mode, chunked reductions included), matmuls through NumPy's own BLAS
(kernels/cpu/blas_call.py; a weight gradient in blocks of its inner dimension, by the call
the step runner makes for it), views, concats and splits.  Before a step reads a value made
by another lane it waits for that step's flag (kernels/cpu/lane_sync.py); after a step whose
values another lane reads it sets its flag.  Values that cross lanes live in one byte
buffer of the plan (`Layout`, allocated once, not per call); fetched values are arrays the
caller allocates per call; every other intermediate is allocated and freed inside its lane.
Each step computes what the serial order computes, with the same kernel or BLAS call on the
same data: results are bit-identical to the step runner's for any number of lanes.

Every lane function has the same parameters: the feeds ``f{i}``, the constants ``c{k}``,
the fetched outputs ``o{k}``, the shared buffer ``arena``, the flags and the call's epoch.
"""
import numpy as np

from ..kernels.cpu.blas_call import flag_source, node_block
from ..ops.registry import has_trait
from .njit_options import jit_options


ALIGN = 64


def is_view(step):
    """Whether a plan step is a view (its op's kind is shape_view: lowering makes every view
    one Reshape): a lane makes it where it is read."""
    return step.kind == "single" and step.node.kind == "shape_view"


def is_matmul(step):
    """Whether a plan step is a matrix product (the `matmul` trait)."""
    return step.kind == "single" and has_trait(step.node.type, "matmul")


def copy_kind(node):
    """'concat', 'split' or None: how a lane copies `node`'s slabs (its op's trait)."""
    return next((t for t in ("concat", "split") if has_trait(node.type, t)), None)


def scalar_literal(x):
    """A kernel's scalar argument as source (its NumPy type kept)."""
    a = np.asarray(x)
    return f"np.{a.dtype.name}({float(x)!r})" if a.dtype.kind == "f" else \
        f"np.{a.dtype.name}({x!r})"


def blas_args(a, b, out, ta, tb):
    """The arguments of a kernels/cpu/blas_call helper as source: operands `a` and `b` (names)
    read-only, `out` as it is, the transpose flags plain bools (not literals): one Numba
    signature of the helper per dtype, whichever values the operands are (blas_call's
    docstring)."""
    return f"read_only({a}), read_only({b}), {out}, {flag_source(ta)}, {flag_source(tb)}"


def int_literal(n):
    """An integer argument as source: np.int64, never a literal (see LaneEmitter._group)."""
    return f"np.int64({int(n)})"


def slab_copies(w, parts, name_of, shape, ax, outer, concat, indent):
    """Source lines of a concat (`concat`) or split along axis `ax` of `shape`: each part's
    slab copied into or out of array `w` seen as (outer, shape[ax], inner); `outer` is the
    source text of the first dim.  A generator: `name_of(part)` (which may emit lines of its
    own) is called just before its part's lines are made.

    Each slab is copied element by element (`copy_loops`), never by a slice assignment: Numba
    lowers ``a[:, s:e, :] = b`` with a shape check whose error message formats both shapes as
    strings, which compiles Numba's string machinery into the function (seconds of compile
    for the small PINN's plan functions, docs/benchmarks.md "Compile cost of plan
    functions")."""
    inner = int(np.prod(shape[ax + 1:], dtype=np.int64))
    w3 = f"{w}_3"
    yield f"{indent}{w3} = c_view({w}, ({outer}, {shape[ax]}, {inner}))"
    start = 0
    for v in parts:
        d = v.shape[ax]
        name = name_of(v)
        p3 = f"{name}_3"
        yield f"{indent}{p3} = c_view({name}, ({outer}, {d}, {inner}))"
        dims = [outer, str(int(d)), str(inner)]
        if concat:
            yield from copy_loops(w3, p3, dims, indent, (0, start, 0))
        else:
            yield from copy_loops(p3, w3, dims, indent, (0, 0, 0), (0, start, 0))
        start += d


def copy_loops(dst, src, dims, indent, dst_at=None, src_at=None):
    """Source lines copying the `dims` (source text of each extent) block of array `src`
    into `dst` element by element: ``dst[at + i] = src[at + i]`` for `dst_at` / `src_at`
    (per dim, an int offset; zeros when None); `dst` and `src` are names.  Loops of one
    trip are left out."""
    lines, idx = [], []
    depth = indent
    for k, d in enumerate(dims):
        if d == "1":
            idx.append("0")
            continue
        idx.append(f"i{k}_")
        lines.append(f"{depth}for i{k}_ in range({d}):")
        depth += "    "

    def at(offsets):
        return ", ".join(i if not o else (str(o) if i == "0" else f"{o} + {i}")
                         for i, o in zip(idx, offsets or (0,) * len(dims)))
    lines.append(f"{depth}{dst}[{at(dst_at)}] = {src}[{at(src_at)}]")
    return lines


def step_values(step):
    """(values read, values written) of a plan step."""
    if step.kind == "group":
        return list(step.loads), list(step.outputs) + [r.outputs[0] for r in step.reductions]
    return list(step.node.inputs), list(step.node.outputs)


class Layout:
    """Where each value of a native plan lives.  base: a view's value id -> the value it
    views; offsets: value id -> byte offset in the shared buffer (values that cross lanes);
    given: value id -> index of the output array the caller passes (fetched values)."""

    def __init__(self, plan, lane_of):
        self.base = {}
        for st in plan.steps:
            if is_view(st):
                src = st.node.inputs[0].id
                self.base[st.node.outputs[0].id] = self.base.get(src, src)
        producer = {}
        for i, st in enumerate(plan.steps):
            for v in step_values(st)[1]:
                producer[v.id] = i
        self.producer = producer
        fetched = [v.id for v in plan._fetch_values]
        self.given, self.out_allocs = {}, []
        for v in plan._fetch_values:
            if v.id in producer and fetched.count(v.id) == 1 and v.id not in self.base:
                self.given[v.id] = len(self.out_allocs)
                self.out_allocs.append((v.shape, v.dtype))
        crossing = set()
        for i, st in enumerate(plan.steps):
            for v in step_values(st)[0]:
                b = self.base.get(v.id, v.id)
                if b in producer and lane_of[producer[b]] != lane_of[i]:
                    crossing.add(b)
        self.offsets, size = {}, 0
        for vid in sorted(crossing - set(self.given)):
            v = plan._values[vid]
            self.offsets[vid] = size
            size += -(-max(1, v.size * v.dtype.itemsize) // ALIGN) * ALIGN
        self.arena_bytes = size
        self.crossing = crossing


def plan_params(plan, layout):
    """The feeds', constants' and fetched outputs' parameter names of a native function."""
    return ([f"f{i}" for i in range(len(plan._feed_values))] +
            [f"c{k}" for k in range(len(plan.consts))] +
            [f"o{k}" for k in range(len(layout.out_allocs))])


def lane_sources(plan, runners, lanes, layout):
    """{lane: source of its function} for `lanes` (per lane, its steps in order)."""
    lane_of = {s: k for k, steps in enumerate(lanes) for s in steps}
    n = len(plan.steps)
    signalled = sorted({layout.producer[b] for b in layout.crossing})
    sources = {}
    for k, steps in enumerate(lanes):
        sources[k] = LaneEmitter(plan, runners, layout, lane_of, k, n, signalled).source(steps)
    return sources



def partial_buffers(run, tag, lead):
    """[(name, source making it)] of the partial-sum buffers of kernel run `run` (the
    `tag`-th kernel a function calls), each with leading dimension `lead` (a lane's chunks, or
    1 for one block of rows)."""
    return [(f"p{tag}_{j}", f"np.empty({(lead,) + tuple(shape[1:])!r}, "
                            f"np.{np.dtype(dtype).name})")
            for j, (shape, dtype) in enumerate(run.parts)]

class LaneEmitter:
    """The body of one lane's function (`source`), or of a function that runs some steps of
    a plan in order without waiting for other lanes (sync False: compiler/emit_rowblock.py's
    functions before and after its block loop; `emit`, then `module_head`)."""

    def __init__(self, plan, runners, layout, lane_of, lane, n, signalled, sync=True):
        self.plan, self.runners, self.layout = plan, runners, layout
        self.lane_of, self.lane, self.n = lane_of, lane, n
        self.signalled = set(signalled)
        self.sync = sync
        self.names = {}
        for i, v in enumerate(plan._feed_values):
            self.names[v.id] = f"f{i}"
        self.consts = [vid for vid, _ in plan.consts]
        for k, vid in enumerate(self.consts):
            self.names[vid] = f"c{k}"
        self.imports, self.lines = [], []
        self.blocked = False        # a matmul_blocks_into call (imported only then)

    def value(self, v):
        """The name of value `v` in this lane, waiting for it if another lane makes it."""
        if v.id in self.names:
            return self.names[v.id]
        b = self.layout.base.get(v.id, v.id)
        if b not in self.names:
            s = self.layout.producer[b]
            if self.sync and self.lane_of[s] != self.lane:
                self.lines += [f"    if not wait_for(flags, {int_literal(s)}, epoch):",
                               "        return False"]
            self.names[b] = self._place(self.plan._values[b])
        if b == v.id:
            return self.names[b]
        name = f"v{v.id}"
        self.lines.append(f"    {name} = c_view({self.names[b]}, {tuple(v.shape)!r})")
        self.names[v.id] = name
        return name

    def _place(self, v):
        """An expression of the array of value `v`: given, in the arena, or new."""
        if v.id in self.layout.given:
            return f"o{self.layout.given[v.id]}"
        off = self.layout.offsets.get(v.id)
        name = f"v{v.id}"
        if off is None:
            self.lines.append(f"    {name} = np.empty({tuple(v.shape)!r}, np.{v.dtype.name})")
        elif v.size:
            self.lines.append(f"    {name} = carve(arena, {off}, {tuple(v.shape)!r}, "
                              f"np.{v.dtype.name})")
        else:
            self.lines.append(f"    {name} = np.empty({tuple(v.shape)!r}, np.{v.dtype.name})")
        return name

    def output(self, v):
        name = self._place(v)
        self.names[v.id] = name
        return name

    def emit(self, steps):
        """Lines running `steps` in order (self.lines)."""
        for s in steps:
            st = self.plan.steps[s]
            if st.kind == "group":
                self._group(st, self.runners[s])
            elif is_view(st):
                self.value(st.node.inputs[0])
                continue        # a view costs nothing: made where it is read
            elif is_matmul(st):
                self._matmul(st.node)
            else:
                self._copy(st.node)
            if s in self.signalled:
                self.lines.append(f"    mark_done(flags, {int_literal(s)}, epoch)")

    def params(self):
        return plan_params(self.plan, self.layout)

    def module_head(self, extra=""):
        """The imports of a module holding the emitted lines (`extra`: more import lines)."""
        return ("import numpy as np\nfrom numba import njit\n"
                "from numgrad.kernels.cpu.blas_call import available, matmul_into, read_only\n"
                "from numgrad.kernels.cpu.carve import carve\n"
                "from numgrad.kernels.cpu.views import c_view\n" +
                ("from numgrad.kernels.cpu.blas_call import matmul_blocks_into\n"
                 if self.blocked else "") + extra +
                "\n".join(self.imports) + "\n\n"
                "available()     # registers the BLAS symbols the lane links to (any process)\n"
                "\n\n")

    def source(self, steps):
        self.emit(steps)
        head = self.module_head("from numgrad.kernels.cpu.lane_sync import wait_for, mark_done\n")
        return (head + f"@njit({jit_options()})\n"
                f"def lane({', '.join(self.params() + ['arena', 'flags', 'epoch'])}):\n" +
                "\n".join(self.lines) + "\n    return True\n\n\n"
                "kernel = lane      # the name compile workers compile (compile_workers.main)\n")

    def _group(self, st, run):
        k = f"k{len(self.imports)}"
        self.imports.append(f"from {run.kernel.py_func.__module__} import kernel as {k}")
        # integers as np.int64(...), not literals: a literal argument would make Numba compile
        # every kernel again for Literal[int] types (minutes for W6) instead of reusing the
        # step runner's compiled int64 specialisation
        args = run.leading([int_literal(d) for d in run.sizes], int_literal(run.C),
                           int_literal(7), int_literal(0))
        for (vid, shape), v in zip(run.loads, st.loads):
            a = self.value(v)
            args.append(a if tuple(v.shape) == tuple(shape) else f"c_view({a}, {tuple(shape)!r})")
        args += [scalar_literal(x) for x in run.scalars]
        values = {v.id: v for v in step_values(st)[1]}
        for vid, shape, dtype, kshape in run.outs_and_reds:
            name = self.output(values[vid])
            args.append(name if tuple(shape) == tuple(kshape) else
                        f"c_view({name}, {tuple(kshape)!r})")
        for part, make in partial_buffers(run, len(self.imports), run.C):
            self.lines.append(f"    {part} = {make}")
            args.append(part)
        args += [int_literal(c) for c in run.counts]
        self.lines.append(f"    {k}({', '.join(args)})")

    def _matmul(self, node):
        a, b = (self.value(v) for v in node.inputs)
        out = self.output(node.outputs[0])
        ta, tb = bool(node.attrs["transpose_a"]), bool(node.attrs["transpose_b"])
        block = node_block(node)
        if block:       # the step runner's call (cpu_runners.blocked_matmul_runner)
            self.blocked = True
            k = node.inputs[0].shape[0 if ta else 1]
            self.lines.append(f"    matmul_blocks_into({blas_args(a, b, out, ta, tb)}, "
                              f"{int_literal(block)}, {int_literal(0)}, {int_literal(k)})")
        else:
            self.lines.append(f"    matmul_into({blas_args(a, b, out, ta, tb)})")

    def _copy(self, node):
        """A concat or split as copies of (outer, axis, inner) blocks."""
        ax = node.attrs["axis"]
        concat = copy_kind(node) == "concat"
        src = node.inputs if concat else node.outputs
        whole = node.outputs[0] if concat else node.inputs[0]
        shape = tuple(whole.shape)
        ax = ax % len(shape)
        outer = int(np.prod(shape[:ax], dtype=np.int64))
        w = self.output(whole) if concat else self.value(whole)
        name = self.value if concat else self.output
        for line in slab_copies(w, src, name, shape, ax, outer, concat, "    "):
            self.lines.append(line)


def native_step(step, runner, matmul_ok):
    """Whether a native lane can run `step` (`matmul_ok(node)`: blas_call.supported)."""
    if step.kind == "group":
        return not step.gathered and not hasattr(runner, "lanes")
    if is_view(step):
        return True
    if is_matmul(step):
        return matmul_ok(step.node)
    copy = copy_kind(step.node)
    if copy is not None:
        if copy == "split" and step.node.inputs[0].size == 0:
            return False
        return all(v.shape is not None for v in step.node.inputs + step.node.outputs)
    return False
