"""Emit: one fused Group -> Python source of a Numba loop nest, plus how to call it.

The iteration space is simplified first: size-1 dims are dropped and adjacent dims that every
access (loads, elementwise outputs, reduction outputs) treats alike are merged, so a plain
elementwise chain becomes one flat loop whatever its rank, and a row reduction a 2-D nest.
Every array is passed as a C-contiguous view of that coalesced shape (size 1 where the access
broadcasts or reduces), so the source only depends on the structure, not on sizes: kernels are
shared between graphs and across processes (the source is the cache key).

Loop structure: dim 0 is cut into C chunks; `kernel(2, c0, c1, ...)` runs chunks [c0, c1),
so the runner can give chunk ranges to threads (a serial Numba function with nogil: much
faster to compile than `parallel=True`, thread-safe and fork-safe); mode 1 sets reduction
outputs to their identity, mode 4 combines per-chunk partials, mode 7 does all three.  A small
kernel (one serial pass, never split) always does all three and takes none of mode, c0, c1
and C: KernelSpec.leading gives a call's leading arguments either way.

    for c in range(c0, c1):
        for i0 in range(c*n0//C, (c+1)*n0//C):
            for i1 in range(n1): ...  loads; v = expr; stores; accumulate

A reduction keeps its accumulator in a register across the innermost dims it reduces and
flushes once per outer iteration; when it reduces dim 0 it flushes into a per-chunk partial
array, combined after the parallel loop in a fixed order (deterministic results).
"""
import re
from types import SimpleNamespace

import numpy as np

from .. import config
from ..kernels import vecmath
from ..ops.registry import get_op_def
from .fuse import data_inputs
# re-exported: the emitters' users read them from here too
from .layout import PARALLEL_MIN, VECTOR_MIN, coalesce, layout  # noqa: F401
from . import vecmath_calls
from .numba_types import keeps_dtype
from .njit_options import jit_options
from .reduction_text import (CTOR as _CTOR, acc_dtype as _acc_dtype, combine as _combine,
                             init_literal as _init_literal, is_mean, is_reduction, is_sum)

BLOCK = 256   # elements per block buffer of an innermost-dim reduction
# Sums over the innermost dim accumulate in registers with a reassociable add (vecmath._radd)
# instead of going through block buffers (W2 on one Zen 1 core 40 -> 33-35 ms, W5 9.4 -> 8.7 ms);
# NUMGRAD_REGISTER_SUMS=0 restores the buffers (A/B).
REGISTER_SUMS = config.get("NUMGRAD_REGISTER_SUMS")
# Row blocks (_row_blocked): a 2-D elementwise nest over (rows, n1) with a short inner dim n1
# that is not a whole number of vectors runs flat over blocks of ROW_BLOCK rows;
# NUMGRAD_ROW_BLOCKS=0 keeps the 2-D nest (A/B).
ROW_BLOCKS = config.get("NUMGRAD_ROW_BLOCKS")
# Measured (float32 tanh layer with its derivative and a bias gradient, 200000 elements, one
# core, AVX-512; 2-D -> row blocks, ms): n1 = 12 0.74 -> 0.30, 20 0.43 -> 0.31, 40 0.34 ->
# 0.31, 50 0.31 -> 0.31, 56 0.297 -> 0.300, 72 0.27 -> 0.31, 100 0.24 -> 0.32 (the buffers of
# 32 rows outgrow L1 as the tail's share shrinks); blocks of 16, 32 or 64 rows alike.
ROW_BLOCK = 32          # rows per block: the broadcast rows' buffers hold ROW_BLOCK copies
ROW_BLOCK_INNER_MAX = 50    # inner dims up to this size
VECTOR_LANES = 16       # float32 lanes of a 512-bit vector: inner dims of a multiple vectorise

# every dtype fuse._NATIVE lets into a kernel (bool row temporaries: a condition that
# a later stage of the row reads, e.g. Select before a row max)
_NP = {np.dtype(np.float32): "np.float32", np.dtype(np.float64): "np.float64",
       np.dtype(np.int32): "np.int32", np.dtype(np.int64): "np.int64",
       np.dtype(np.bool_): "np.bool_",
       np.dtype(np.complex64): "np.complex64", np.dtype(np.complex128): "np.complex128"}


def _buf_dtype(node):
    """Block buffers hold the reduction's input as it is (float32 stays float32, so the main
    loop vectorises 8 wide); the widening to the accumulator happens when they are summed."""
    dt = node.outputs[0].dtype
    return dt if dt.kind == "f" else _acc_dtype(node)


def _in_registers(node):
    """Whether a reduction accumulates in the loop itself (which still vectorises: an integer
    add is associative, a float one is marked reassociable, vecmath._radd): sums whose values
    are as wide as their accumulator.  A float32 sum has a float64 accumulator, which in the
    loop would halve the vector width of the whole loop (W1 float32 on one Zen 1 core: 11.9 ->
    14.4 ms, W2 40 -> 47 ms), so it sums each block in float32 registers and adds that to the
    float64 accumulator (emit_group's `blocksum`).  Max, min, prod and int32 sums keep block
    buffers (NaN handling and rounding stay NumPy's)."""
    return is_sum(node) and node.outputs[0].dtype == _acc_dtype(node)


def _identity(node, dt):
    """Reduction `node`'s identity in `dt` as source: a plain literal where Numba types one
    as `dt` (reduction_text.init_literal's `plain`)."""
    return _init_literal(node, dt, plain=True)


def _as(dtype, x, x_dtype):
    """Source of value `x` (of `x_dtype`) as a `dtype`: cast only where the dtypes differ."""
    return x if x_dtype == dtype else f"{_CTOR[dtype]}({x})"


def _accumulate(node, acc, x):
    if is_sum(node) and _acc_dtype(node).kind == "f":
        return f"vm._radd({acc}, {x})"
    return _combine(node, acc, x)


def _expr(node, operands):
    """The scalar expression of elementwise `node`: the form its declaration
    (ops/registry.Template) gives for its dtypes."""
    out_dt = node.outputs[0].dtype
    in_dt = node.inputs[0].dtype if node.inputs else out_dt
    forms = get_op_def(node.type).forms
    if forms.expr is not None:
        return forms.expr(operands, in_dt, out_dt)
    if forms.complex is not None and "c" in (in_dt.kind, out_dt.kind):
        return forms.complex.format(*operands)
    if forms.int is not None and in_dt.kind in "iu":
        return forms.int.format(*operands)
    if forms.bool is not None:
        return forms.bool.format(*operands)
    return node.template.format(*operands)


class KernelSpec:
    """Everything the runner needs to call one emitted kernel.

    `python_callable`: whether the kernel can be called from Python.  A kernel that only
    njit code calls (a plan function's or a native loop's, emit_group's `njit_only`) is
    compiled without Numba's CPython wrapper, which unboxes every argument (~30-40 ms of
    a small kernel's ~0.1 s compile); called from Python it would crash the process, so
    its runner refuses to run it (backends/cpu_runners.py GroupRunner)."""

    def __init__(self, source, rank, dims, load_shapes, out_shapes, red_shapes, part_shapes,
                 acc_dtypes, reduces_dim0, counts, python_callable=True, chunked=True):
        self.source = source
        self.python_callable = python_callable
        self.chunked = chunked
        self.rank = rank
        self.dims = dims
        self.load_shapes = load_shapes
        self.out_shapes = out_shapes
        self.red_shapes = red_shapes
        self.part_shapes = part_shapes
        self.acc_dtypes = acc_dtypes
        self.reduces_dim0 = reduces_dim0
        self.counts = counts

    def leading(self, sizes, C, mode=7, c0=0, c1=None):
        """The arguments of a call before the loads, in whatever form the caller gives them
        (values, or source text): the sizes of the coalesced dims, preceded by the mode bits
        and the chunk range [c0, c1) (default [c0, C)) and followed by the chunk count C,
        for a chunked kernel.  A small kernel (one serial pass, always the whole of mode 7)
        takes only the sizes: the calling convention is known here and nowhere else."""
        if not self.chunked:
            return list(sizes)
        return [mode, c0, C if c1 is None else c1] + list(sizes) + [C]


TINY_INNER = 8          # innermost dims this small are unrolled (see emit_group)


def elementwise_body(group, names, index, lmasks, vector=False, nodes=None, load_ids=None,
                     extra=(), gather_masks=None, cast_all=False):
    """Statements (unindented) of one loop iteration before its stores: the loads, then every
    non-reduction node as ``v<id> = <expr>``.  `names` (value id -> variable) is extended in
    place.  With `vector`, transcendental functions call vecmath's vectorisable versions
    (compiler/vecmath_calls.py; the kernel imports them as ``vmc``); without, libm through
    the scalar helpers.  Shared by the cpu and cuda emitters.  A stage of a row pipeline
    passes its own `nodes`, the indices of the loads it reads and `extra` statements (its
    row-buffer reads).  `gather_masks` (from layout()) marks the gathered loads.

    A value is cast to its dtype only where Numba could type its expression otherwise
    (numba_types.keeps_dtype; each cast is a call Numba types and lowers), and a value that
    is another under a new name (Identity) is that name; `cast_all` casts every value (the
    cuda emitter's choice)."""
    if load_ids is None:
        load_ids = range(len(group.loads))
    gmasks = gather_masks or {}
    stmts = [_gathered_read(j, gmasks[j], index) if j in gmasks else
             f"l{j} = a{j}[{index(lmasks[j])}]" for j in load_ids] + list(extra)
    for node in (group.nodes if nodes is None else nodes):
        if is_reduction(node):
            continue
        operands = [names.get(v.id, "0") for v in node.inputs]
        out = node.outputs[0]
        expr = vecmath_calls.call(node.type, out.dtype, *operands) if vector else None
        if expr is None:
            expr = _expr(node, operands)
        ctor = _CTOR[out.dtype]
        if ctor and not cast_all:
            typed = {names[v.id]: v.dtype for v in node.inputs if v.id in names}
            if expr in typed and typed[expr] == out.dtype:    # (None == float64 is True)
                names[out.id] = expr
                continue
            if keeps_dtype(expr, typed, out.dtype):
                ctor = None
        stmts.append(f"v{out.id} = {ctor}({expr})" if ctor else f"v{out.id} = {expr}")
        names[out.id] = f"v{out.id}"
    return stmts


def _gathered_read(j, masks, index):
    """`l<j> = a<j>[gi<j>[...], tail...]`: load j gathers rows of its params a<j> (passed as
    (rows, tail dims...)) by its indices gi<j> (validated before the call: 0 <= gi < rows).
    Where the row is fixed across the inner loop, emit_group reads it once outside that loop
    (gr<j>, _gather_row_level): read in the loop, LLVM must assume a store may change it,
    and the loop neither hoists it nor vectorises (an embedding lookup ran 4-10x slower)."""
    imask, tmask = masks
    tail = [f"u{k}" for k, m in enumerate(tmask) if m]
    row = f"gr{j}" if _gather_row_level(imask) < len(imask) - 1 else _gather_row(j, imask, index)
    return f"l{j} = a{j}[{', '.join([row] + tail)}]"


def _gather_row_level(imask):
    """The innermost loop dim the row of a gathered load depends on (-1: none)."""
    return max((k for k, m in enumerate(imask) if m), default=-1)


def _gather_row(j, imask, index):
    return f"np.intp(gi{j}[{index(imask)}])"


LANES = 8      # independent accumulators per block-buffered reduction


def _lane_combine(reds, buffered):
    """Statements folding block buffers b<j>[0:be-bb] into accumulators r<j>.

    One accumulator per reduction made the fold a chain of dependent adds (4 cycles each):
    it took 45% of W2's main kernel.  Element jj goes to lane jj % LANES, the lanes are
    combined as a fixed tree and added to r<j> once per block: a fixed order (deterministic,
    independent of threads), and LLVM runs the lanes in one vector register."""
    out = [f"m8 = (be - bb) & {-LANES}"]
    for j in buffered:
        init = _identity(reds[j], _acc_dtype(reds[j]))
        out.extend(f"x{j}_{k} = {init}" for k in range(LANES))
    out.append(f"for jj in range(0, m8, {LANES}):")
    for j in buffered:
        out.extend(f"    x{j}_{k} = {_combine(reds[j], f'x{j}_{k}', f'b{j}[np.uint64(jj + {k})]')}"
                   for k in range(LANES))
    out.append("for jj in range(m8, be - bb):")
    out.extend(f"    x{j}_0 = {_combine(reds[j], f'x{j}_0', f'b{j}[jj]')}" for j in buffered)
    for j in buffered:
        terms = [f"x{j}_{k}" for k in range(LANES)]
        while len(terms) > 1:
            terms = [_combine(reds[j], terms[i], terms[i + 1]) for i in range(0, len(terms), 2)]
        out.append(f"r{j} = {_combine(reds[j], f'r{j}', terms[0])}")
    return out


def _row_blocked(group, masks, vector, small, tiny_inner):
    """Whether `group` runs as row blocks (_row_block_lines): a big nest (no stages or
    gathered loads) over (rows, n1), with n1 short and not a multiple of the vector width,
    whose loads are whole arrays, rows broadcast along dim 0 or columns broadcast along dim
    1, and whose reductions, if any, are sums or means over the rows (a bias gradient).
    `masks`: layout()'s result.

    The 2-D nest vectorises its inner loop of n1 and runs the n1 % 16 elements left over in
    each row as scalar code: with n1 = 20 (W6's layers) a fifth of the elements, and a tanh
    kernel over (10240, 20) with a (1, 20) bias took 0.25 ms against 0.13 ms flat (AVX-512,
    float32)."""
    dims, lmasks, omasks, rmasks = masks
    return (ROW_BLOCKS and len(dims) == 2 and vector and not small and not tiny_inner
            and not group.stage_nodes and not group.gathered
            and dims[1] <= ROW_BLOCK_INNER_MAX and dims[1] % VECTOR_LANES != 0
            and all(m != [False, False] for m in lmasks)
            and all(m == [True, True] for m in omasks)
            and all(is_sum(r) and m == [False, True]
                    for r, m in zip(group.reductions, rmasks)))


def _row_block_lines(group, lmasks, vector):
    """Statements (one level in) of a row-blocked kernel's chunk loop: each chunk of rows is
    cut into blocks of ROW_BLOCK rows, and a block's rows * n1 elements are one flat loop.
    A row broadcast along dim 0 (a bias) is read from a buffer holding ROW_BLOCK copies of
    it, filled once per call, a column broadcast along dim 1 from a buffer holding each of the
    block's values n1 times, filled per block; whole arrays (every output) are passed flat
    (_kernel_spec: no reshape for Numba to lower in the kernel).  A sum
    over the rows accumulates into ROW_BLOCK rows of accumulators (element jj of a block
    into e{j}[jj]), added up row by row into the chunk's partial at the end of each chunk."""
    ind = "    "
    reds = group.reductions
    lines = [f"{ind}e{j} = vm._empty({ROW_BLOCK} * n1, {_NP[_acc_dtype(r)]})"
             for j, r in enumerate(reds)]
    loads, fills = [], []
    for j, (v, m) in enumerate(zip(group.loads, lmasks)):
        if m == [True, True]:
            loads.append(f"l{j} = a{j}[uf]")
        elif m[0]:          # a column: its block's values, each n1 times
            lines.append(f"{ind}b{j} = vm._empty({ROW_BLOCK} * n1, {_NP[v.dtype]})")
            fills += ["for r in range(nr):", f"    cv{j} = a{j}[i0 + r, 0]",
                      "    for k in range(n1):", f"        b{j}[r * n1 + k] = cv{j}"]
            loads.append(f"l{j} = b{j}[ub]")
        else:
            lines += [f"{ind}b{j} = vm._empty({ROW_BLOCK} * n1, {_NP[v.dtype]})",
                      f"{ind}for r in range({ROW_BLOCK}):",
                      f"{ind}    for k in range(n1):",
                      f"{ind}        b{j}[r * n1 + k] = a{j}[0, k]"]
            loads.append(f"l{j} = b{j}[ub]")
    names = {v.id: f"s{j}" for j, v in enumerate(group.scalars)}
    names.update({v.id: f"l{j}" for j, v in enumerate(group.loads)})
    body = ["uf = np.uint64(o + jj)", "ub = np.uint64(jj)"] + elementwise_body(
        group, names, None, lmasks, vector, load_ids=(), extra=loads)
    body += [f"w{j}[uf] = {names[v.id]}" for j, v in enumerate(group.outputs)]
    body += [f"e{j}[ub] = e{j}[ub] + "
             f"{_as(_acc_dtype(r), names[data_inputs(r)[0].id], data_inputs(r)[0].dtype)}"
             for j, r in enumerate(reds)]
    lines += [f"{ind}for c in range(c0, c1):",
              f"{ind}    lo = (c * n0) // C",
              f"{ind}    hi = ((c + 1) * n0) // C"]
    for j, r in enumerate(reds):
        lines += [f"{ind}    for jj in range({ROW_BLOCK} * n1):",
                  f"{ind}        e{j}[jj] = {_identity(r, _acc_dtype(r))}"]
    lines += [f"{ind}    for i0 in range(lo, hi, {ROW_BLOCK}):",
              f"{ind}        o = i0 * n1",
              f"{ind}        nr = vm._imin(i0 + {ROW_BLOCK}, hi) - i0"]
    lines += [ind * 3 + st for st in fills]
    lines.append(f"{ind}        for jj in range(nr * n1):")
    lines += [ind * 4 + st for st in body]
    for j, r in enumerate(reds):        # the chunk's partial: its block rows in order
        lines += [f"{ind}    for k in range(n1):",
                  f"{ind}        t{j} = e{j}[k]",
                  f"{ind}        for r in range(1, {ROW_BLOCK}):",
                  f"{ind}            t{j} = t{j} + e{j}[r * n1 + k]",
                  f"{ind}        p{j}[c, k] = t{j}"]
    return lines


# the names _kernel_layout gives the other parts of emit_group
_LAYOUT_NAMES = frozenset((
    "group", "hot", "space", "size", "small", "vector", "loads", "scalars",
    "outs", "reds", "gather_masks", "dims", "lmasks", "omasks", "rmasks", "R",
    "nl", "no", "tiny_inner", "blocked", "row_blocked", "shape_for", "index", "names",
    "stage_nodes", "out_stage", "red_stage", "row_temps", "row_stages", "staged", "levels",
    "partial", "stored_once", "lane_red", "n_lanes", "params", "in_regs", "blocksum",
    "buffered", "colbuf",
))


def _kernel_layout(group, hot):
    """What every part of a group's kernel source depends on (a namespace): the
    layout (dims; the masks of loads, outputs and reductions), the kernel's mode
    (small, vector, blocked, row blocks), its stages, its parameters and how each
    reduction accumulates."""
    space = group.space
    size = int(np.prod(space, dtype=np.int64))
    small = size < PARALLEL_MIN         # one serial pass, no chunks, no partials
    vector = size >= VECTOR_MIN or hot  # vecmath (vectorisable) instead of libm
    loads, scalars, outs, reds = group.loads, group.scalars, group.outputs, group.reductions
    gather_masks = {}
    dims, lmasks, omasks, rmasks = layout(group, gather_masks)
    R = len(dims)
    nl, no = len(loads), len(outs)
    # A tiny innermost dim (xyz coordinates) gets a literal trip count, which LLVM unrolls
    # completely; block buffers around a 3-trip loop would only add overhead.
    tiny_inner = R > 1 and dims[-1] <= TINY_INNER
    blocked = (not small or hot) and not tiny_inner   # reductions staged in block buffers
    row_blocked = _row_blocked(group, (dims, lmasks, omasks, rmasks), vector, small, tiny_inner)

    def shape_for(mask):
        return tuple(d if m else 1 for d, m in zip(dims, mask))

    def index(mask, level=R, chunk=None):
        idx = []
        for k, m in enumerate(mask):
            if k == 0 and chunk is not None:
                idx.append(chunk)
            elif m and k < level:
                idx.append(f"u{k}")
            else:
                idx.append("0")
        return ", ".join(idx)

    names = {}
    for j, v in enumerate(scalars):
        names[v.id] = f"s{j}"
    # Stages (row pipelines, compiler/pipeline.py): each runs its own inner loops per row.
    stage_nodes = group.stage_nodes or [group.nodes]
    out_stage = group.out_stage or [0] * no
    red_stage = group.red_stage or [0] * len(reds)
    row_temps = group.row_temps
    row_stages = group.row_stages
    staged = len(stage_nodes) > 1
    if staged and R != 2:
        raise ValueError(f"a row pipeline needs a 2-D layout, got {dims}")

    # reduction bookkeeping
    levels, partial = [], []
    for j, r in enumerate(reds):
        m = rmasks[j]
        L = R
        while L > 0 and not m[L - 1]:
            L -= 1
        levels.append(L)
        partial.append(not m[0] and not small)
    # A reduction that keeps every dim outside its accumulator loops (a row sum) flushes to
    # each output element exactly once: a plain store, with no identity fill beforehand
    # (that fill was a whole extra pass over the output, and the += a read of it).
    stored_once = {j for j in range(len(reds))
                   if not partial[j] and levels[j] < R and all(rmasks[j][:levels[j]])}
    # A reduction that keeps a tiny innermost dim (xyz) and reduces the dims just outside it
    # (W5's sum over j of f(i, j) * d[i, j, :]) accumulated straight into memory: a chain of
    # dependent load-add-stores through the whole loop.  Instead the tiny loop is unrolled in
    # the source and each of its lanes gets a register accumulator, opened before the loop of
    # the outermost reduced dim d and flushed after it: lane_red = {j: d}.
    lane_red = {}
    if tiny_inner:
        for j in range(len(reds)):
            m = rmasks[j]
            red_dims = [k for k in range(R - 1) if not m[k]]
            if m[R - 1] and red_dims and red_dims == list(range(red_dims[0], R - 1)):
                lane_red[j] = red_dims[0]
    n_lanes = dims[-1]
    params = [f"n{k}" for k in range(R)] + ["C"]
    params += [f"a{j}" for j in range(nl)] + [f"gi{j}" for j in sorted(gather_masks)]
    params += [f"s{j}" for j in range(len(scalars))]
    params += [f"w{j}" for j in range(no)] + [f"q{j}" for j in range(len(reds))]
    params += [f"p{j}" for j in range(len(reds)) if partial[j]]
    params += [f"m{j}" for j in range(len(reds)) if is_mean(reds[j])]
    # Reductions over the innermost dim go through a small block buffer: the elementwise
    # loop then has no loop-carried dependence and LLVM vectorises it.
    in_regs = [j for j in range(len(reds)) if levels[j] < R and REGISTER_SUMS and
               is_sum(reds[j]) and reds[j].outputs[0].dtype.kind in "fi"]
    # float32 sums: a float32 partial sum per block, in registers, added to the float64
    # accumulator after each block (a float64 one in the loop would halve its vector width)
    blocksum = [j for j in in_regs if not _in_registers(reds[j]) and
                reds[j].outputs[0].dtype == np.float32] if blocked else []
    buffered = [j for j in range(len(reds)) if levels[j] < R and not (
        j in in_regs and (_in_registers(reds[j]) or j in blocksum))] if blocked else []
    # Reductions that keep the innermost dim (column sums) are staged the same way, so the
    # main loop writes no array it might also read (aliasing would stop vectorisation).
    # (A float64 column sum of float64 values updates its row of partials in the main loop:
    # the buffer's extra store and reload cost W5's force kernel 25%.  A float32 one keeps
    # its float32 buffer: widening in the main loop would halve its vector width.)
    colbuf = [j for j in range(len(reds)) if levels[j] == R and not (
        REGISTER_SUMS and _in_registers(reds[j]))] if blocked else []

    return SimpleNamespace(**{n: v for n, v in locals().items() if n in _LAYOUT_NAMES})


def _open_accs(kl, level, pad, stage=None):
    """Open the accumulators of the reductions whose loop is `level` (of `stage`)."""
    lines = kl.lines
    reds, R, red_stage, levels = kl.reds, kl.R, kl.red_stage, kl.levels
    lane_red, n_lanes = kl.lane_red, kl.n_lanes
    for j, r in enumerate(reds):
        if stage not in (None, red_stage[j]):
            continue
        if levels[j] == level and level < R:
            lines.append(f"{pad}r{j} = {_identity(r, _acc_dtype(r))}")
        if lane_red.get(j) == level:
            lines.extend(f"{pad}r{j}_{k} = {_identity(r, _acc_dtype(r))}"
                         for k in range(n_lanes))


def _flush_accs(kl, level, pad, stage=None):
    """Store the accumulators of the reductions whose loop is `level` (of `stage`)."""
    lines = kl.lines
    reds, rmasks, R, index = kl.reds, kl.rmasks, kl.R, kl.index
    red_stage, levels, partial, stored_once = kl.red_stage, kl.levels, kl.partial, kl.stored_once
    lane_red, n_lanes = kl.lane_red, kl.n_lanes
    for j, r in enumerate(reds):
        if stage not in (None, red_stage[j]):
            continue
        if levels[j] == level and level < R:
            tgt = f"p{j}[{index(rmasks[j], level, chunk='c')}]" if partial[j] else \
                f"q{j}[{index(rmasks[j], level)}]"
            value = f"r{j}" if j in stored_once else _combine(r, tgt, f"r{j}")
            lines.append(f"{pad}{tgt} = {value}")
        if lane_red.get(j) == level:
            idx = index(rmasks[j], R, chunk="c") if partial[j] else index(rmasks[j])
            for k in range(n_lanes):
                tgt = f"{'p' if partial[j] else 'q'}{j}[" + \
                    re.sub(rf"\bu{R - 1}\b", str(k), idx) + "]"
                lines.append(f"{pad}{tgt} = {_combine(r, tgt, f'r{j}_{k}')}")


def _emit_stage(kl, s, k0, pad):
    """Loops k0..R-1 of stage `s` with its body, then the flushes of its accumulators."""
    lines = kl.lines
    group, vector, loads, outs = kl.group, kl.vector, kl.loads, kl.outs
    reds, gather_masks, dims, lmasks = kl.reds, kl.gather_masks, kl.dims, kl.lmasks
    omasks, rmasks, R, tiny_inner = kl.omasks, kl.rmasks, kl.R, kl.tiny_inner
    blocked, index, names, stage_nodes = kl.blocked, kl.index, kl.names, kl.stage_nodes
    out_stage, red_stage = kl.out_stage, kl.red_stage
    row_temps, row_stages = kl.row_temps, kl.row_stages
    levels, partial, lane_red, n_lanes = kl.levels, kl.partial, kl.lane_red, kl.n_lanes
    blocksum, buffered, colbuf = kl.blocksum, kl.buffered, kl.colbuf
    ind = "    "
    s_reds = [j for j in range(len(reds)) if red_stage[j] == s]
    s_buffered = [j for j in buffered if j in s_reds]
    s_blocksum = [j for j in blocksum if j in s_reds]
    s_colbuf = [j for j in colbuf if j in s_reds]
    unroll = any(j in lane_red for j in s_reds)   # the tiny innermost loop, in source
    if k0 > 0:
        _open_accs(kl, k0, pad, s)
    pads = [pad]
    rows_at = {}            # loop dim -> gathered loads whose row is read after opening it
    for j, (imask, _) in gather_masks.items():
        level = _gather_row_level(imask)
        if level < R - 1:
            rows_at.setdefault(level, []).append(j)
    lines.extend(f"{pad}gr{j} = {_gather_row(j, gather_masks[j][0], index)}"
                 for j in rows_at.get(-1, []))
    for k in range(k0, R):
        pad = pads[-1]
        lo, hi = ("lo", "hi") if k == 0 else ("0", f"n{k}")
        if k == R - 1 and tiny_inner:
            hi = str(dims[k])
        if k == R - 1 and unroll:
            pads.append(pad)
            continue
        if k == R - 1 and (s_buffered or s_colbuf or s_blocksum):
            lines.append(f"{pad}for bb in range({lo}, {hi}, {BLOCK}):")
            lines.append(f"{pad}    be = vm._imin(bb + {BLOCK}, {hi})")
            lines.extend(f"{pad}    x{j} = np.float32(0)" for j in s_blocksum)
            lines.append(f"{pad}    for i{k} in range(bb, be):")
            pads.append(pad + ind * 2)
        else:
            lines.append(f"{pad}for i{k} in range({lo}, {hi}):")
            pads.append(pad + ind)
            _open_accs(kl, k + 1, pads[-1], s)
        # Arrays are indexed with unsigned copies of the loop counters: Numba wraps a
        # signed index (a[i] is a[i + n] when i < 0), and that select hides the address
        # pattern from LLVM, which then vectorises badly and guards the loop with alias
        # checks that fail whenever two arrays lie within a vector of each other (adjacent
        # malloc blocks): 2-6x slower kernels (benchmarks/output_alloc_anomaly.py).
        lines.append(f"{pads[-1]}u{k} = np.uint64(i{k})")
        lines.extend(f"{pads[-1]}gr{j} = {_gather_row(j, gather_masks[j][0], index)}"
                     for j in rows_at.get(k, []))
    body = pads[-1]
    mark = len(lines)
    nodes = stage_nodes[s]
    read = {v.id for n in nodes for v in data_inputs(n)}
    load_ids = [j for j, v in enumerate(loads) if v.id in read]
    for j in load_ids:
        names[loads[j].id] = f"l{j}"
    temp_reads = []         # values earlier stages wrote for this row
    for k, (v, ts) in enumerate(row_temps):
        if ts < s and v.id in read:
            names[v.id] = f"y{k}"
            temp_reads.append(f"y{k} = t{k}[u1]")
    for j, v in enumerate(outs):
        if out_stage[j] < s and out_stage[j] not in row_stages and v.id in read:
            names[v.id] = f"z{j}"
            temp_reads.append(f"z{j} = w{j}[{index(omasks[j])}]")
    lines.extend(body + st for st in elementwise_body(
        group, names, index, lmasks, vector, nodes=nodes, load_ids=load_ids,
        extra=temp_reads, gather_masks=gather_masks))
    for j, v in enumerate(outs):
        if out_stage[j] == s:
            lines.append(f"{body}w{j}[{index(omasks[j])}] = {names[v.id]}")
    for k, (v, ts) in enumerate(row_temps):
        if ts == s:
            lines.append(f"{body}t{k}[u1] = {names[v.id]}")
    for j in s_reds:
        r = reds[j]
        x, x_dtype = names[data_inputs(r)[0].id], data_inputs(r)[0].dtype
        xv = _as(_acc_dtype(r), x, x_dtype)
        if j in lane_red:
            lines.append(f"{body}r{j}_LANE = {_combine(r, f'r{j}_LANE', xv)}")
        elif levels[j] == R and j not in colbuf:
            tgt = f"p{j}[{index(rmasks[j], R, chunk='c')}]" if partial[j] else \
                f"q{j}[{index(rmasks[j])}]"
            lines.append(f"{body}{tgt} = {_combine(r, tgt, xv)}")
        elif j in blocksum:
            lines.append(f"{body}x{j} = vm._radd(x{j}, {_as(np.dtype(np.float32), x, x_dtype)})")
        elif j in buffered or j in colbuf:
            lines.append(f"{body}b{j}[np.uint64(i{R - 1} - bb)] = "
                         f"{_as(_buf_dtype(r), x, x_dtype)}")
        else:
            acc = _accumulate(r, f"r{j}", xv) if blocked else _combine(r, f"r{j}", xv)
            lines.append(f"{body}r{j} = {acc}")
    if unroll:
        one = lines[mark:]
        del lines[mark:]
        for k in range(n_lanes):
            lines.append(f"{body}u{R - 1} = np.uint64({k})")
            lines.extend(ln.replace("_LANE", f"_{k}") for ln in one)
    if s_colbuf:    # column sums: an elementwise update of a row of partials (vectorises)
        bpad = pads[R - 1 - k0] + ind
        lines.append(f"{bpad}for jj in range(be - bb):")
        for j in s_colbuf:
            idx = index(rmasks[j], R, chunk="c") if partial[j] else index(rmasks[j])
            idx = re.sub(rf"\bu{R - 1}\b", "np.uint64(bb + jj)", idx)
            tgt = f"p{j}[{idx}]" if partial[j] else f"q{j}[{idx}]"
            lines.append(f"{bpad}    {tgt} = {_combine(reds[j], tgt, f'b{j}[jj]')}")
    if s_buffered:
        lines.extend(pads[R - 1 - k0] + ind + ln for ln in _lane_combine(reds, s_buffered))
    lines.extend(f"{pads[R - 1 - k0] + ind}r{j} = (r{j} + np.float64(x{j}))"
                 for j in s_blocksum)
    for k in range(R - 1, k0 - 1, -1):
        _flush_accs(kl, k + 1, pads[k + 1 - k0], s)
    if k0 > 0:
        _flush_accs(kl, k0, pads[0], s)
        # this row's reductions, as later stages read them (the stored value's rounding)
        for j in s_reds:
            v = reds[j].outputs[0]
            if v.id in group.row_values:
                ctor = _CTOR[v.dtype]
                val = f"{ctor}({ctor}(r{j}) / m{j})" if is_mean(reds[j]) else \
                    f"{ctor}(r{j})"
                lines.append(f"{pads[0]}g{j} = {val}")
                names[v.id] = f"g{j}"


def _emit_row_stage(kl, s, pad):
    """A stage over the rows only: its statements run once per row, between the inner
    loops of the stages around it; its values stay in registers for later stages."""
    lines = kl.lines
    group, vector, loads, outs = kl.group, kl.vector, kl.loads, kl.outs
    lmasks, omasks, index, names = kl.lmasks, kl.omasks, kl.index, kl.names
    stage_nodes, out_stage = kl.stage_nodes, kl.out_stage
    nodes = stage_nodes[s]
    read = {v.id for n in nodes for v in data_inputs(n)}
    load_ids = [j for j, v in enumerate(loads) if v.id in read]
    for j in load_ids:
        names[loads[j].id] = f"l{j}"
    lines.extend(pad + st for st in elementwise_body(
        group, names, index, lmasks, vector, nodes=nodes, load_ids=load_ids))
    for j, v in enumerate(outs):
        if out_stage[j] == s:
            lines.append(f"{pad}w{j}[{index(omasks[j])}] = {names[v.id]}")


def _chunk_lines(kl):
    """The kernel's loop nest as lines (its first is `def chunks():`): a chunk of the
    outermost dim per pass (one serial pass for small spaces), the stages, and the
    reductions' accumulators."""
    lines = kl.lines = []
    small, reds, stage_nodes, row_temps = kl.small, kl.reds, kl.stage_nodes, kl.row_temps
    row_stages, staged, partial, buffered = kl.row_stages, kl.staged, kl.partial, kl.buffered
    colbuf = kl.colbuf
    lines.append("def chunks():")
    ind = "    "
    pad = ind * 2
    if small:       # one serial pass, reductions straight into their outputs
        lines.append(f"{ind}if True:")
        lines.append(f"{pad}lo = 0")
        lines.append(f"{pad}hi = n0")
    else:
        lines.append(f"{ind}for c in range(c0, c1):")
        lines.append(f"{pad}lo = (c * n0) // C")
        lines.append(f"{pad}hi = ((c + 1) * n0) // C")
    for j in buffered + colbuf:
        lines.append(f"{pad}b{j} = vm._empty({BLOCK}, {_NP[_buf_dtype(reds[j])]})")
    for k, (v, _) in enumerate(row_temps):
        lines.append(f"{pad}t{k} = vm._empty(n1, {_NP[v.dtype]})")
    for j, r in enumerate(reds):
        if partial[j]:
            lines += [pad + ln for ln in _each_kept(kl.rmasks[j], _partial_init_lines(j, r))]

    _open_accs(kl, 0, pad)
    if staged:
        lines.append(f"{pad}for i0 in range(lo, hi):")
        lines.append(f"{pad}    u0 = np.uint64(i0)")
        for s in range(len(stage_nodes)):
            if s in row_stages:
                _emit_row_stage(kl, s, pad + ind)
            else:
                _emit_stage(kl, s, 1, pad + ind)
    else:
        _emit_stage(kl, 0, 0, pad)
    _flush_accs(kl, 0, pad)
    return lines


def _each_kept(mask, body):
    """Lines running `body(index)` (a list of lines; index: a list of texts) for every
    element of a reduction's output, whose layout mask is `mask`: a loop over each dim it
    keeps (the kernel's argument n<k>), index ``k<d>`` there and 0 at the dims it reduces.
    The output is indexed in its own rank: a flat view (``q.reshape(-1)``) cost each kernel
    a reshape to lower and each process Numba's reshape helper to compile."""
    lines, pad = [], ""
    for d, m in enumerate(mask):
        if m:
            lines.append(f"{pad}for k{d} in range(n{d}):")
            pad += "    "
    index = [f"k{d}" if m else "0" for d, m in enumerate(mask)]
    return lines + [pad + ln for ln in body(index)]


def _identity_lines(j, r):
    """Mode 1's body for output element `idx` of direct reduction j: its identity."""
    return lambda idx: [f"q{j}[{', '.join(idx)}] = {_identity(r, r.outputs[0].dtype)}"]


def _partial_init_lines(j, r):
    """The start of a chunk (c) for element `idx` of reduction j's partials: the identity.
    (``p<j>[c] = 0.0`` on a 2-D p<j> is a slice assignment, which Numba lowers as a
    broadcasting loop of its own.)"""
    return lambda idx: [f"p{j}[{', '.join(['c'] + idx[1:])}] = {_identity(r, _acc_dtype(r))}"]


def _combine_lines(j, r):
    """Mode 4's body for output element `idx` of reduction j, which reduces dim 0 into
    per-chunk partials p<j>: their combination in chunk order."""
    def body(idx):
        q, p = ", ".join(idx), ", ".join(["cc"] + idx[1:])
        return [f"t = {_identity(r, _acc_dtype(r))}",
                "for cc in range(C):",
                f"    t = {_combine(r, 't', f'p{j}[{p}]')}",
                f"q{j}[{q}] = t"]
    return body


def _mean_lines(j, r):
    """Mode 4's body for output element `idx` of mean j: the sum divided by the count m<j>
    (an integer mean rounds towards zero)."""
    def body(idx):
        q = f"q{j}[{', '.join(idx)}]"
        if r.outputs[0].dtype.kind == "f":
            return [f"{q} = {q} / m{j}"]
        return [f"t = abs({q}) // m{j}", f"{q} = -t if {q} < 0 else t"]
    return body


def _kernel_source(kl, chunk_lines, inline=False, njit_only=False):
    """The kernel module's source: one function whose mode bits fill the outputs of
    direct reductions, run the loop nest (`chunk_lines`) and combine partials; `inline`:
    declared forceinline, `njit_only`: without a CPython wrapper (see emit_group)."""
    size, vector, reds, partial = kl.size, kl.vector, kl.reds, kl.partial
    stored_once, params = kl.stored_once, kl.params
    ind = "    "
    # One function, three modes (bits): 1 = set direct reduction outputs to the identity,
    # 2 = run chunks [c0, c1), 4 = combine partials / divide means.  One function means one
    # Numba compilation per kernel.  A small kernel runs one serial pass, always all three
    # (its runner never splits it): no mode, chunk range or count (KernelSpec.leading; each
    # argument costs its CPython wrapper ~2 ms of compile).
    chunked = not kl.small
    if chunked:
        lines = [f"def kernel(mode, c0, c1, {', '.join(params)}):"]
    else:
        lines = [f"def kernel({', '.join(p for p in params if p != 'C')}):"]
    if size >= VECTOR_MIN:       # long loops: 512-bit vectors where the CPU has them
        lines.append(f"{ind}vm._prefer_wide_vectors()")
    fill, finish = [], []
    for j, r in enumerate(reds):
        if not partial[j] and j not in stored_once:
            fill += _each_kept(kl.rmasks[j], _identity_lines(j, r))
        if partial[j]:
            finish += _each_kept(kl.rmasks[j], _combine_lines(j, r))
        if is_mean(r):
            finish += _each_kept(kl.rmasks[j], _mean_lines(j, r))
    fill, finish = [ind + ln for ln in fill], [ind + ln for ln in finish]    # one level in
    for bit, part in ((1, fill), (2, chunk_lines), (4, finish)):
        if part and chunked:
            lines += [f"{ind}if mode & {bit}:"] + [ind + ln for ln in part]
        elif part:
            lines += part
    # the wrapper module is imported only by a kernel that calls it (importing it costs ~0.1 s)
    uses_vmc = vector and any("vmc." in line for line in lines)
    vmc = f"import {vecmath_calls.module_name()} as vmc\n" if uses_vmc else ""
    header = ("import math\n\nimport numpy as np\nfrom numba import njit\n\n"
              "import numgrad.kernels.vecmath as vm\n" + vmc +
              "from numgrad.kernels.cpu.scalar import *  # noqa: F401,F403\n\n\n"
              f"@njit({jit_options(njit_only)}, error_model='numpy'"
              + (", forceinline=True" if inline else "") + ")\n")
    source = header + "\n".join(lines) + "\n"

    return source


def _kernel_spec(kl, source):
    """The KernelSpec of `source`: the shapes the runner gives its arguments."""
    group, space, loads, reds = kl.group, kl.space, kl.loads, kl.reds
    gather_masks, dims, lmasks, omasks = kl.gather_masks, kl.dims, kl.lmasks, kl.omasks
    rmasks, R, row_blocked, shape_for = kl.rmasks, kl.R, kl.row_blocked, kl.shape_for
    partial = kl.partial
    red_shapes = [shape_for(m) for m in rmasks]
    part_shapes = [(None,) + s[1:] if partial[j] else None for j, s in enumerate(red_shapes)]
    counts = []
    for r in reds:
        if is_mean(r):
            n_in = int(np.prod(space, dtype=np.int64))
            n_out = int(np.prod(r.outputs[0].shape, dtype=np.int64))
            counts.append(max(n_in // max(n_out, 1), 1) if n_in else 0)
    load_shapes = [shape_for(m) for m in lmasks]
    index_shapes = []
    for j in sorted(gather_masks):           # a gathered load passes (params, indices)
        imask, tmask = gather_masks[j]
        gathered = group.gathered[loads[j].id][0]
        load_shapes[j] = (gathered.shape[0],) + tuple(d for d, m in zip(dims, tmask) if m)
        index_shapes.append(shape_for(imask))
    out_shapes = [shape_for(m) for m in omasks]
    if row_blocked:         # whole arrays flat (_row_block_lines)
        flat = (int(np.prod(dims, dtype=np.int64)),)
        load_shapes = [flat if m == [True, True] else s for s, m in zip(load_shapes, lmasks)]
        out_shapes = [flat] * len(out_shapes)
    spec = KernelSpec(source, R, dims, load_shapes, out_shapes, red_shapes, part_shapes,
                      [_acc_dtype(r) for r in reds], any(partial), counts,
                      chunked=not kl.small)
    spec.index_shapes, spec.row_blocked = index_shapes, row_blocked
    return spec


def emit_group(group, hot=False, inline=False, njit_only=False):
    """Source of one fused kernel for `group`.

    Small spaces get the simplest loop nest (fastest to compile): one pass, no block buffers,
    reductions accumulate straight into their outputs, libm for transcendental functions.
    `hot` (a small plan called often enough to be worth a longer compile) keeps the single
    pass but adds what makes LLVM vectorise: block-buffered reductions and vecmath calls.
    `inline` (a kernel that a native loop calls every iteration) declares it forceinline:
    LLVM inlines it into the loop (W7's loops ran 15-25% faster than calling them).
    `njit_only` (a kernel that only njit code calls: a plan function, a native loop) leaves
    out the CPython wrapper (KernelSpec.python_callable).
    """
    kl = _kernel_layout(group, hot)
    lines = _chunk_lines(kl)
    chunk_lines = (_row_block_lines(group, kl.lmasks, kl.vector) if kl.row_blocked
                   else lines[1:])
    spec = _kernel_spec(kl, _kernel_source(kl, chunk_lines, inline, njit_only))
    spec.python_callable = not njit_only
    return spec
