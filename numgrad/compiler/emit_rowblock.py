"""Source of a row-block plan (backends/cpu_rowblock.py): the steps over a plan's many rows
run block by block, each thread on its own share of the rows.

Why: W6's intermediates are (10000, 20) arrays; run step by step (or as native lanes) each
step streams them from memory.  compiler/row_blocks.py finds that nearly every step is
row-local (ROW) or a sum over the rows (REDUCE); run on a block of a few hundred rows at a
time, the whole chain keeps the block's intermediates in cache, and the sums over rows become
partial sums per thread, added once at the end.

Three nogil functions, each in a module of its own (the name ``kernel`` is the one the compile
workers compile):

* ``pre(feeds, consts, outs, arena)``: the steps outside the rows that the block loop reads
  (views of weights, the data rows' steps it needs), in plan order; left out where these
  are views alone (the function would do nothing);
* ``rows(feeds, consts, outs, arena, works, counter, block, scratch)``: every ROW and
  REDUCE step in plan order, block after block of `block` rows, each thread taking the next
  block not yet taken (an atomic counter) until none is left: fused kernels called with the
  block's row
  count (their first size; one chunk), products ``X[b0:b1] @ W`` into the block of the
  output, weight gradients ``X[b0:b1]^T @ dY[b0:b1]`` accumulated (gemm with beta 1) into
  the block's partial sums in ``works[b]``, and a kernel's sums over the rows written to a
  block-sized temporary and added to that partial.  Row values that are not fetched live in
  scratch arrays of one block (carved from the thread's `scratch` buffer at staggered
  offsets), reused once their last reader has run: the block's intermediates stay in cache.
  Fetched row values are written block by block into the caller's arrays.  Where
  compiler/row_transpose.py allows, every block is kept column by column (`_ColumnRowsEmitter`:
  ``W^T @ X^T`` for ``X @ W``, transposed kernels; ~25% faster for W6).
* ``post(feeds, consts, outs, arena, works)``: the blocks' partial sums added in block order,
  so the results depend neither on timing nor on which thread ran which block (nor on the
  number of threads), then the remaining steps outside the rows (the AddN of partial weight
  gradients, an optimizer's update).

Values crossing between the three functions live in one byte buffer (emit_lane.Layout, the
functions taking the places of three lanes).  A mean over the rows divides each block's sum
by the count over all rows (the kernels take their counts as arguments), so the partial
sums add up to it.  The results are the step runner's within rounding: sums over the rows
are added in another order (per block, then block after block).
"""
import numpy as np

from . import row_blocks
from .emit_lane import (ALIGN, LaneEmitter, Layout, blas_args, copy_kind, copy_loops,
                        int_literal, is_matmul, partial_buffers, is_view, plan_params,
                        scalar_literal, slab_copies, step_values)
from .njit_options import jit_options

PRE, ROWS, POST = 0, 1, 2


def aligned(nbytes):
    """`nbytes` rounded up to the buffers' alignment (at least one unit)."""
    return -(-max(1, nbytes) // ALIGN) * ALIGN


def dependencies(plan):
    """Per step, the steps whose outputs it reads."""
    producer, deps = {}, []
    for i, st in enumerate(plan.steps):
        ins, outs = step_values(st)
        deps.append(sorted({producer[v.id] for v in ins if v.id in producer}))
        for v in outs:
            producer[v.id] = i
    return deps


class RowLayout:
    """Which function runs each step (lane_of: PRE, ROWS or POST), where values live
    (`layout`: emit_lane.Layout over those three), each sum over the rows' offset in a
    block's partial buffer (`partials`, `work_bytes`), and the bytes per row of each of the
    `rows` function's scratch arrays (`scratch_row_bytes`, once `sources` has run)."""

    def __init__(self, plan, found):
        self.rows, self.found = found.rows, found
        n = len(plan.steps)
        in_rows = [r in (row_blocks.ROW, row_blocks.REDUCE) for r in found.roles]
        deps = dependencies(plan)
        needed, stack = set(), [d for i in range(n) if in_rows[i] for d in deps[i]
                                if not in_rows[d]]
        while stack:
            s = stack.pop()
            if s not in needed:
                needed.add(s)
                stack += deps[s]
        self.lane_of = [ROWS if in_rows[i] else PRE if i in needed else POST for i in range(n)]
        self.steps = {lane: [i for i in range(n) if self.lane_of[i] == lane]
                      for lane in (PRE, ROWS, POST)}
        self.layout = Layout(plan, self.lane_of)
        self.partials, size = {}, 0
        for i in self.steps[ROWS]:
            for v in step_values(plan.steps[i])[1]:
                if v.id in found.reduced:
                    self.partials[v.id] = size
                    size += aligned(v.size * v.dtype.itemsize)
        self.work_bytes = size
        self.scratch_row_bytes = []     # per scratch array, bytes per row (set by `sources`)


def why_not(plan, runners, found):
    """None when the steps `found` (a row_blocks.Analysis) puts over the rows can run on
    blocks as emitted here, else the reason."""
    rows = found.rows
    if rows is None:
        return "no product over rows"
    for st, run, role in zip(plan.steps, runners, found.roles):
        if role == row_blocks.OTHER:
            what = "a fused kernel" if st.kind == "group" else \
                f"{st.node.type} '{st.node.name}'"
            return f"{what} reads the rows but is neither row-local nor a sum over them"
        if role not in (row_blocks.ROW, row_blocks.REDUCE):
            continue
        ins, outs = step_values(st)
        if any(v.id not in found.row_values and v.id not in found.reduced for v in outs):
            return "a step over the rows makes a value that is neither over them nor a sum"
        if any(v.id in found.reduced for v in ins):
            return "a step over the rows reads a sum over them"
        if is_view(st) and st.node.inputs[0].id not in found.row_values:
            return "a view makes rows of a value that has none"
        if st.kind == "group" and not _blockable(run, st, found):
            return "a fused kernel's loop does not follow the rows"
    return None


def _blockable(run, st, found):
    """Whether the kernel's first size and its row arrays' first dimensions are whole
    multiples of the rows (so a block of them is a block of rows)."""
    rows = found.rows
    if not run.sizes or run.sizes[0] % rows:
        return False
    shapes = [s for (_, s), v in zip(run.loads, st.loads) if v.id in found.row_values]
    shapes += [k for vid, _, _, k in run.outs_and_reds if vid in found.row_values]
    return all(len(s) >= 1 and s[0] % rows == 0 for s in shapes)


def sources(plan, runners, rl, transposed=None):
    """{"pre", "rows", "post": module source} of a RowLayout ("pre" only where it has a step
    to run before the block loop: views alone make no lines); `transposed` (step index ->
    compiler/row_transpose.Transposed, whose runners `runners` holds in those steps' places):
    the blocks column by column (see `_ColumnRowsEmitter`)."""
    lanes = {}
    pre = LaneEmitter(plan, runners, rl.layout, rl.lane_of, PRE, len(plan.steps), (),
                      sync=False)
    pre.emit(rl.steps[PRE])
    if pre.lines:               # no `pre` where it has nothing to run (views alone)
        lanes["pre"] = _module(pre, "pre", pre.params() + ["arena"], pre.lines)
    lanes["rows"] = (_RowsEmitter(plan, runners, rl) if transposed is None else
                     _ColumnRowsEmitter(plan, runners, rl, transposed)).source()
    post = LaneEmitter(plan, runners, rl.layout, rl.lane_of, POST, len(plan.steps), (),
                       sync=False)
    _combine(plan, rl, post)
    post.emit(rl.steps[POST])
    lanes["post"] = _module(post, "post", post.params() + ["arena", "works"], post.lines)
    return lanes


def _module(em, name, params, lines, extra=""):
    return (em.module_head(extra) + f"@njit({jit_options()})\n"
            f"def {name}({', '.join(params)}):\n" + "\n".join(lines) +
            "\n    return True\n\n\n"
            f"kernel = {name}      # the name compile workers compile\n")


def _combine(plan, rl, em):
    """Lines of `post` adding the blocks' partial sums, block 0 first, into the values that
    are fetched or read after the block loop.

    The partials of one dtype that lie next to each other in a block's buffer are added as
    one run (padding included: every block zeroes its whole buffer), block after block into
    block 0's buffer, then copied out: each element gets the same additions in the same order
    as added value by value, in two loops per run instead of two per value, which LLVM
    unrolled and vectorised one by one (W6's `post`: ~60 partials)."""
    wanted, runs = [], []           # runs: [dtype, first byte, end byte]
    for vid, off in rl.partials.items():
        v = plan._values[vid]
        end = off + aligned(v.size * v.dtype.itemsize)
        if runs and runs[-1][0] == v.dtype and runs[-1][2] == off:
            runs[-1][2] = end
        else:
            runs.append([v.dtype, off, end])
        if v.size and (vid in rl.layout.given or vid in rl.layout.offsets):
            wanted.append((vid, len(runs) - 1))
    used = sorted({r for _, r in wanted})
    if not used:
        return
    for r in used:
        dt, start, end = runs[r]
        em.lines.append(f"    a{r}_ = carve(works, {start}, ({(end - start) // dt.itemsize},), "
                        f"np.{dt.name})")
    em.lines.append("    for t in range(1, works.shape[0]):")
    for r in used:
        dt, start, end = runs[r]
        n = (end - start) // dt.itemsize
        em.lines += [f"        p{r}_ = carve(works, t * works.shape[1] + {start}, ({n},), "
                     f"np.{dt.name})",
                     f"        for i_ in range({n}):",
                     f"            a{r}_[i_] += p{r}_[i_]"]
    for vid, r in wanted:
        v = plan._values[vid]
        first = (rl.partials[vid] - runs[r][1]) // v.dtype.itemsize
        # element by element, not ``d[:] = part`` (slab_copies says why)
        em.lines += [f"    d{vid} = c_view({em.output(v)}, ({v.size},))",
                     f"    for i_ in range({v.size}):",
                     f"        d{vid}[i_] = a{r}_[{first} + i_]"]


class _RowsEmitter:
    """The `rows` function: setup lines (`top`: whole arrays, partials, scratch) and the
    block loop's body (`body`)."""

    columns = False             # blocks row by row (nb, ...)

    def __init__(self, plan, runners, rl):
        self.plan, self.runners, self.rl = plan, runners, rl
        self.layout, self.found = rl.layout, rl.found
        self.rows = rl.rows
        self.names = {v.id: f"f{i}" for i, v in enumerate(plan._feed_values)}
        self.consts = [vid for vid, _ in plan.consts]
        self.names.update({vid: f"c{k}" for k, vid in enumerate(self.consts)})
        self.top, self.body, self.imports = [], [], []
        self.per_block = []         # lines at the start of each block (views of its partials)
        self.whole = {}             # value id -> its whole array's name (set up in top)
        self.blocks = {}            # value id -> the name of its block (in the body)
        self.whole_views = {}       # (name, shape) -> a view of a whole value (in top)
        self.scratch = _Scratch(plan, rl, self.columns)

    def source(self):
        loop = ["    blocks = works.shape[0]", "    wb_ = works.shape[1]", "    while True:",
                "        b = next_block(counter)", "        if b >= blocks:", "            break",
                "        for i_ in range(wb_):", "            works[b, i_] = 0"]
        for vid, off in self.rl.partials.items():
            v = self.plan._values[vid]
            loop.append(f"        r{vid} = carve(works, b * wb_ + {off}, {tuple(v.shape)!r}, "
                        f"np.{v.dtype.name})")
        for s in self.rl.steps[ROWS]:
            self._step(s)
        loop += self.per_block + ["        b0 = b * block",
                                  f"        b1 = min(b0 + block, {int_literal(self.rows)})",
                                  "        nb = b1 - b0"]
        top = self.top + self.scratch.lines()
        params = plan_params(self.plan, self.layout) + ["arena", "works", "counter", "block",
                                                        "scratch"]
        self.rl.scratch_row_bytes = self.scratch.row_bytes()
        head = ("import numpy as np\nfrom numba import njit\n"
                "from numgrad.kernels.cpu.blas_call import (available, matmul_acc_into,\n"
                "                                          matmul_into, read_only)\n"
                "from numgrad.kernels.cpu.lane_sync import next_block, slot_offsets\n"
                "from numgrad.kernels.cpu.carve import carve\n"
                "from numgrad.kernels.cpu.views import c_view\n" +
                "\n".join(self.imports) + "\n\n"
                "available()     # registers the BLAS symbols the function links to\n\n\n")
        return (head + f"@njit({jit_options()})\n"
                f"def rows({', '.join(params)}):\n" + "\n".join(top + loop + self.body) +
                "\n    return True\n\n\n"
                "kernel = rows      # the name compile workers compile\n")

    # -- values -------------------------------------------------------------------------
    def whole_value(self, v):
        """The name of a value that is not over the rows (set up before the loop)."""
        if v.id in self.names:
            return self.names[v.id]
        if v.id in self.whole:
            return self.whole[v.id]
        b = self.layout.base.get(v.id, v.id)
        src = self.names.get(b) or self.whole.get(b) or self._place(self.plan._values[b])
        self.whole[b] = src
        if b != v.id:
            name = f"w{v.id}"
            self.top.append(f"    {name} = c_view({src}, {tuple(v.shape)!r})")
            self.whole[v.id] = name
        return self.whole[v.id]

    def _place(self, v):
        name = f"w{v.id}"
        if v.id in self.layout.given:
            return f"o{self.layout.given[v.id]}"
        off = self.layout.offsets[v.id]
        self.top.append(f"    {name} = carve(arena, {off}, {tuple(v.shape)!r}, np.{v.dtype.name})")
        return name

    def block(self, v):
        """The name of the current block of row value `v` (a view of it made here)."""
        if v.id in self.blocks:
            return self.blocks[v.id]
        b = self.layout.base.get(v.id, v.id)
        name = f"x{v.id}"
        if b != v.id:
            self.body.append(f"        {name} = c_view({self.block(self.plan._values[b])}, "
                             f"{self._shape(v.shape)})")
        elif v.id in self.names:
            self.body.append(f"        {name} = {_rows_of(self.names[v.id], v)}")
        else:
            raise AssertionError(f"value {v.id} read before it is made")
        self.blocks[v.id] = name
        return name

    def output(self, v):
        """The name of the block of a row value the current step makes."""
        name = f"x{v.id}"
        if v.id in self.layout.given:
            self.body.append(f"        {name} = {_rows_of(f'o{self.layout.given[v.id]}', v)}")
        else:
            self.body.append(f"        {name} = carve(sb_, {self.scratch.take(v)}, "
                             f"{_block_shape(v)}, np.{v.dtype.name})")
        self.blocks[v.id] = name
        return name

    def _shape(self, shape):
        """Source of `shape` (its first dimension a whole multiple of the rows) for a block."""
        q = shape[0] // self.rows
        first = "nb" if q == 1 else f"nb * {int_literal(q)}"
        return "(" + ", ".join([first] + [str(int(d)) for d in shape[1:]]) + \
            ("," if len(shape) == 1 else "") + ")"

    # -- steps --------------------------------------------------------------------------
    def _step(self, s):
        st = self.plan.steps[s]
        if st.kind == "group":
            self._group(st, self.runners[s])
        elif is_view(st):
            pass                # made where it is read
        elif is_matmul(st):
            self._matmul(st.node)
        else:
            self._copy(st.node)
        self.scratch.done(s)

    def _arg(self, v, kshape, out=False):
        if v.id in self.found.row_values:
            name = self.output(v) if out else self.block(v)
            return name if tuple(v.shape) == tuple(kshape) else \
                f"c_view({name}, {self._shape(kshape)})"
        return self._whole_as(v, kshape)

    def _whole_as(self, v, kshape):
        """The name of whole value `v` seen with shape `kshape` (a view made before the
        block loop)."""
        name = self.whole_value(v)
        if tuple(v.shape) == tuple(kshape):
            return name
        key = (name, tuple(kshape))
        if key not in self.whole_views:
            self.whole_views[key] = f"{name}_{len(self.whole_views)}"
            self.top.append(f"    {self.whole_views[key]} = c_view({name}, {tuple(kshape)!r})")
        return self.whole_views[key]

    def _sizes(self, run):
        q = run.sizes[0] // self.rows
        return ["nb" if q == 1 else f"nb * {int_literal(q)}"] + \
            [int_literal(d) for d in run.sizes[1:]]

    def _group(self, st, run, loads=None, value_of=None):
        """A fused kernel's call on the block; `loads` (the plan's values in the kernel's
        load order) and `value_of` (kernel output id -> the plan's Value) default to the
        step's own."""
        k = f"k{len(self.imports)}"
        self.imports.append(f"from {run.kernel.py_func.__module__} import kernel as {k}")
        args = run.leading(self._sizes(run), int_literal(1), int_literal(7), int_literal(0))
        loads = st.loads if loads is None else loads
        args += [self._arg(v, shape) for (_, shape), v in zip(run.loads, loads)]
        args += [scalar_literal(x) for x in run.scalars]
        if value_of is None:
            value_of = {v.id: v for v in step_values(st)[1]}
        sums = []
        for kid, _, dtype, kshape in run.outs_and_reds:
            v = value_of[kid]
            vid = v.id
            if vid in self.rl.partials:
                self.top += [f"    t{vid} = np.empty({tuple(v.shape)!r}, np.{v.dtype.name})",
                             f"    u{vid} = c_view(t{vid}, ({max(1, v.size)},))"]
                self.per_block.append(f"        q{vid} = c_view(r{vid}, ({max(1, v.size)},))")
                if tuple(v.shape) != tuple(kshape):
                    self.top.append(f"    t{vid}_k = c_view(t{vid}, {tuple(kshape)!r})")
                args.append(f"t{vid}" if tuple(v.shape) == tuple(kshape) else f"t{vid}_k")
                sums.append(vid)
            else:
                args.append(self._arg(v, kshape, out=True))
        for part, make in partial_buffers(run, len(self.imports), 1):
            self.top.append(f"    {part} = {make}")
            args.append(part)
        args += [int_literal(c) for c in run.counts]
        self.body.append(f"        {k}({', '.join(args)})")
        for vid in sums:
            n = self.plan._values[vid].size
            if n:
                self.body += [f"        for i_ in range({n}):",
                              f"            q{vid}[i_] += u{vid}[i_]"]

    def _matmul(self, node):
        a, b = node.inputs
        out = node.outputs[0]
        if out.id in self.rl.partials:          # X^T @ dY over the rows: a partial sum
            fa, fb = self._partial_flags(node)
            args = blas_args(self.block(a), self.block(b), f"r{out.id}", fa, fb)
            self.body.append(f"        matmul_acc_into({args})")
            return
        x, y, fx, fy = self._product(node, self.block(a), self.whole_value(b))
        self.body.append(f"        matmul_into({blas_args(x, y, self.output(out), fx, fy)})")

    @staticmethod
    def _partial_flags(node):
        """The transpose flags of a partial product's two blocks (as the node has them)."""
        return bool(node.attrs["transpose_a"]), bool(node.attrs["transpose_b"])

    @staticmethod
    def _product(node, a_name, b_name):
        """(left, right, transpose left, transpose right) of the BLAS call that makes a
        block's product of block `a_name` with the whole value `b_name`."""
        return a_name, b_name, bool(node.attrs["transpose_a"]), bool(node.attrs["transpose_b"])

    def _copy(self, node):
        """A concat or split along an axis after the rows, on the block."""
        concat = copy_kind(node) == "concat"
        parts = node.inputs if concat else node.outputs
        whole = node.outputs[0] if concat else node.inputs[0]
        shape = tuple(whole.shape)
        ax = node.attrs["axis"] % len(shape)
        outer = int(np.prod(shape[1:ax], dtype=np.int64))
        rows3 = "nb" if outer == 1 else f"nb * {int_literal(outer)}"
        w = self.output(whole) if concat else self.block(whole)
        # every slab has the rows (row_blocks' ROW copies)
        name = self.block if concat else self.output
        for line in slab_copies(w, parts, name, shape, ax, rows3, concat, "        "):
            self.body.append(line)


class _ColumnRowsEmitter(_RowsEmitter):
    """The `rows` function over column-major blocks (compiler/row_transpose.py): the block
    of a row value with c columns is a (c, nb) array ((nb,) for a 1-D one), its fused
    kernels the transposed groups' kernels, a product X @ op(W) computed as op(W)^T @ X^T
    and a weight gradient X^T @ dY as X^T_cm @ dY_cm^T."""

    columns = True

    def __init__(self, plan, runners, rl, transposed):
        super().__init__(plan, runners, rl)
        self.transposed = transposed

    def _cm_shape(self, v):
        """Source of the column-major block shape of row value `v`."""
        if len(v.shape) == 1:
            return "(nb,)"
        return f"({int(v.shape[1])}, nb)"

    def _dims(self, shape):
        """Source of a kernel shape, its dims over the rows (whole multiples of them) cut
        to the block."""
        dims = []
        for d in shape:
            q = d // self.rows if d >= self.rows and d % self.rows == 0 else 0
            dims.append(str(int(d)) if not q else "nb" if q == 1 else
                        f"nb * {int_literal(q)}")
        return dims

    def _sizes(self, run):
        return [d if d.startswith("nb") else int_literal(int(d)) for d in self._dims(run.sizes)]

    def block(self, v):
        if v.id in self.blocks:
            return self.blocks[v.id]
        if v.id not in self.names:
            raise AssertionError(f"value {v.id} read before it is made")
        src = self.names[v.id]
        if len(v.shape) == 1 or v.shape[1] == 1:    # one column: the same bytes
            name = f"x{v.id}"
            self.body.append(f"        {name} = {_rows_of(src, v, self._cm_shape(v))}")
            self.blocks[v.id] = name
            return name
        name = self.output(v)   # a fed or constant block, copied column by column
        self.body += ["        for i_ in range(nb):",
                      f"            for j_ in range({int(v.shape[1])}):",
                      f"                {name}[j_, i_] = {src}[b0 + i_, j_]"]
        return name

    def output(self, v):
        name = f"x{v.id}"
        if v.id in self.layout.given:       # one column: the same bytes either way
            self.body.append(f"        {name} = "
                             f"{_rows_of(f'o{self.layout.given[v.id]}', v, self._cm_shape(v))}")
        else:
            self.body.append(f"        {name} = carve(sb_, {self.scratch.take(v)}, "
                             f"{self._cm_shape(v)}, np.{v.dtype.name})")
        self.blocks[v.id] = name
        return name

    def _arg(self, v, kshape, out=False):
        if v.id in self.found.row_values:
            name = self.output(v) if out else self.block(v)
            dims = f"({', '.join(self._dims(kshape))}{',' if len(kshape) == 1 else ''})"
            return name if dims == self._cm_shape(v) else f"c_view({name}, {dims})"
        return self._whole_as(v, kshape)

    def _step(self, s):
        tr = self.transposed.get(s)
        if tr is None:
            return super()._step(s)
        self._group(self.plan.steps[s], self.runners[s],
                    [tr.plan_value[v.id] for v in tr.group.loads], tr.plan_value)
        self.scratch.done(s)
        return None

    # row_blocks' roles: A^T @ B of two row values (REDUCE), or A @ op(B) with B whole
    @staticmethod
    def _partial_flags(node):
        return False, True                      # A^T @ B over the rows: A_cm @ B_cm^T

    @staticmethod
    def _product(node, a_name, b_name):
        # (A @ op(B))^T = op(B)^T @ A^T
        return b_name, a_name, not bool(node.attrs["transpose_b"]), False

    def _copy(self, node):
        """A concat or split along the columns: slabs of rows of the column-major block."""
        concat = copy_kind(node) == "concat"
        parts = node.inputs if concat else node.outputs
        whole = node.outputs[0] if concat else node.inputs[0]
        w = self.output(whole) if concat else self.block(whole)
        start = 0
        for v in parts:
            d = int(v.shape[1])
            dims = [str(d), "nb"]
            if concat:
                self.body += copy_loops(w, self.block(v), dims, "        ", (start, 0))
            else:
                self.body += copy_loops(self.output(v), w, dims, "        ", None, (start, 0))
            start += d


def _rows_of(name, v, shape=None):
    """Source of the block b0:b1 of the rows of array `name` (row value `v`, a fed or
    fetched array), a view (of `shape`: source text, default (nb, *v.shape[1:]))."""
    row = int(np.prod(v.shape[1:], dtype=np.int64)) * v.dtype.itemsize
    return f"carve({name}, b0 * {row}, {shape or _block_shape(v)}, np.{v.dtype.name})"


def _block_shape(v):
    """Source of the shape (nb, *v.shape[1:]) of a block of row value `v`."""
    return "(" + ", ".join(["nb"] + [str(int(d)) for d in v.shape[1:]]) + \
        ("," if len(v.shape) == 1 else "") + ")"


class _Scratch:
    """Block-sized arrays for the row values the loop makes and nobody outside it reads:
    one per (row shape, dtype) in use at once; an array is reused once the last reader of
    the value it held has run.  `columns`: flat arrays of block x columns elements, one per
    (columns, dtype), for column-major blocks."""

    def __init__(self, plan, rl, columns=False):
        self.plan, self.rl, self.columns = plan, rl, columns
        base = rl.layout.base
        self.last = {}              # value id (a view's base) -> the last step reading it
        for s in rl.steps[ROWS]:
            for v in step_values(plan.steps[s])[0]:
                self.last[base.get(v.id, v.id)] = s
        self.slots, self.free, self.held = [], {}, {}

    def take(self, v):
        """The name of the byte offset in ``sb_`` of a free array for row value `v`."""
        key = (tuple(v.shape[1:]), v.dtype.name)
        if self.columns:
            key = ((int(np.prod(v.shape[1:], dtype=np.int64)),), v.dtype.name)
        free = self.free.get(key)
        j = free.pop() if free else None
        if j is None:
            j = len(self.slots)
            self.slots.append(key)
        self.held[v.id] = j
        return f"so{j}_"

    def done(self, s):
        """Release the arrays whose values step s read last (or that nobody reads)."""
        for vid in list(self.held):
            if self.last.get(vid, s) <= s:
                key = self.slots[self.held[vid]]
                self.free.setdefault(key, []).append(self.held.pop(vid))

    def row_bytes(self):
        """Bytes per row of each scratch array, in order."""
        return [int(np.prod(tail, dtype=np.int64)) * np.dtype(dtype).itemsize
                for tail, dtype in self.slots]

    def lines(self):
        """The scratch arrays, carved at staggered offsets (kernels/cpu/lane_sync.
        slot_offsets) from the calling thread's buffer `scratch` (RowPlan allocates it
        once; a smaller one is replaced by a new buffer)."""
        if not self.slots:
            return []
        per_row = self.row_bytes()
        lines = [f"    so_ = slot_offsets(block, np.array({per_row!r}, np.int64))",
                 "    sb_ = scratch if scratch.shape[0] >= so_[-1] else "
                 "np.empty(so_[-1], np.uint8)",
                 "    sa_ = (64 - sb_.ctypes.data % 64) % 64"]
        # each array's byte offset in sb_: its blocks are carved there (`take`)
        lines += [f"    so{j}_ = sa_ + so_[{j}]" for j in range(len(self.slots))]
        return lines
