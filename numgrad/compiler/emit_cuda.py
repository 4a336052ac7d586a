"""Emit for the cuda backend: one fused Group -> source of Numba ``@cuda.jit`` kernels.

The plan (lower -> fuse) is the cpu backend's; so are the iteration-space coalescing and the
op templates, imported from emit_cpu.  Only the loop structure differs:

* no reductions: one *map* kernel, a grid-stride loop over the flattened (coalesced) space;
* reductions: the reductions of a group are classed by which dims they keep; each class gets
  - a *tree* kernel: block ``b`` handles output element ``b // nb`` and the ``b % nb``-th
    slice of its reduced elements; each thread accumulates serially, the block combines its
    threads in a shared-memory tree and writes one partial per block, and a *combine* kernel
    folds the ``nb`` partials of each output in a fixed order;
  - a *serial* kernel (one thread per output element, a serial loop over the reduced
    elements) for when reduced extents are short or the outputs alone fill the device.
  Both orders of summation depend only on the shapes and the launch configuration, never on
  timing: results are the same run to run (no floating-point atomics).
  The first class's kernel also writes the group's elementwise outputs (each element of the
  space is visited exactly once per kernel); later classes recompute the fused expression
  from the same loads, which is cheaper than a round trip through memory.

Transcendental functions are called by name (``exp(x)``) and resolve to
numgrad/kernels/cuda/scalar.py, i.e. CUDA's libdevice.  Accumulators use the cpu backend's
types (float64 for float sums and products), so results match it to rounding.
"""
import numpy as np

from .emit_cpu import elementwise_body
from .reduction_text import CTOR as _CTOR, acc_dtype as _acc_dtype, combine as _combine
from .reduction_text import init_literal as _init_literal, is_mean
from .layout import layout
from .fuse import data_inputs

HEADER = ("import math\n\nimport numpy as np\nfrom numba import cuda\n\n"
          "from numgrad.kernels.cuda.scalar import *  # noqa: F401,F403\n\n\n")


class ReduceClass:
    """Reductions of one group that keep the same coalesced dims (one set of kernels)."""

    def __init__(self, index, reds, mask, dims):
        self.index = index
        self.reds = reds                          # positions in group.reductions
        self.kept = [k for k, m in enumerate(mask) if m]
        self.reduced = [k for k, m in enumerate(mask) if not m]
        self.M = int(np.prod([dims[k] for k in self.kept], dtype=np.int64))
        self.K = int(np.prod([dims[k] for k in self.reduced], dtype=np.int64))


class CudaKernelSpec:
    """The kernels of one group and how to call them (see CudaGroupRunner)."""

    def __init__(self, source, dims, load_shapes, out_shapes, red_shapes, acc_dtypes, classes,
                 counts, tpb):
        self.source = source
        self.dims = dims
        self.load_shapes = load_shapes
        self.out_shapes = out_shapes
        self.red_shapes = red_shapes
        self.acc_dtypes = acc_dtypes
        self.classes = classes
        self.counts = counts
        self.tpb = tpb


def _decompose(var, ks, pad):
    """Lines setting i{k} (k in `ks`, C order) from the flat index `var`."""
    lines = [f"{pad}t = {var}"]
    for k in reversed(ks):
        lines.append(f"{pad}i{k} = t % n{k}")
        lines.append(f"{pad}t = t // n{k}")
    return lines


def emit_group_cuda(group, tpb):
    """Kernel source and call spec for `group`; `tpb` (threads per block, a power of two) is
    baked in as the size of the shared-memory reduction buffers."""
    space = group.space
    loads, scalars, outs, reds = group.loads, group.scalars, group.outputs, group.reductions
    dims, lmasks, omasks, rmasks = layout(group)
    R = len(dims)
    nl, no = len(loads), len(outs)

    def shape_for(mask):
        return tuple(d if m else 1 for d, m in zip(dims, mask))

    def index(mask):
        return ", ".join(f"i{k}" if m else "0" for k, m in enumerate(mask))

    names = {v.id: f"l{j}" for j, v in enumerate(loads)}
    names.update({v.id: f"s{j}" for j, v in enumerate(scalars)})
    body = []                                   # loads, expressions (indent added later)
    # libdevice: no vecmath; every value cast (the typing rules are checked for cpu only)
    body.extend(elementwise_body(group, names, index, lmasks, cast_all=True))
    stores = [f"w{j}[{index(omasks[j])}] = {names[v.id]}" for j, v in enumerate(outs)]

    dim_params = [f"n{k}" for k in range(R)]
    data_params = [f"a{j}" for j in range(nl)] + [f"s{j}" for j in range(len(scalars))]
    out_params = [f"w{j}" for j in range(no)]
    src = []

    def emit(lines):
        src.extend(lines)
        src.append("")
        src.append("")

    if not reds:
        pad = " " * 8
        emit(["@cuda.jit",
              f"def kmap(N, {', '.join(dim_params + data_params + out_params)}):",
              "    for idx in range(cuda.grid(1), N, cuda.gridsize(1)):",
              *_decompose("idx", list(range(R)), pad),
              *(pad + ln for ln in body + stores)])

    # classes of reductions keeping the same dims
    classes, by_mask = [], {}
    for j in range(len(reds)):
        key = tuple(rmasks[j])
        if key not in by_mask:
            by_mask[key] = ReduceClass(len(classes), [], rmasks[j], dims)
            classes.append(by_mask[key])
        by_mask[key].reds.append(j)
    counts = []
    for r in reds:
        n_in = int(np.prod(space, dtype=np.int64))
        n_out = int(np.prod(r.outputs[0].shape, dtype=np.int64))
        counts.append(max(n_in // max(n_out, 1), 1) if n_in else 0)

    def acc_expr(j):
        r = reds[j]
        return f"{_CTOR[_acc_dtype(r)]}({names[data_inputs(r)[0].id]})"

    def finish(j, src_expr, pad):
        """Lines writing the final value of reduction j (mean division, output dtype)."""
        r = reds[j]
        out_dt = r.outputs[0].dtype
        lines = [f"{pad}z{j} = {src_expr}"]
        if is_mean(r):
            if out_dt.kind == "f":
                lines.append(f"{pad}z{j} = z{j} / m{j}")
            else:          # C-style truncation, as NumPy's integer mean then cast
                lines.append(f"{pad}u{j} = abs(z{j}) // m{j}")
                lines.append(f"{pad}z{j} = -u{j} if z{j} < 0 else u{j}")
        ctor = _CTOR[out_dt]
        lines.append(f"{pad}q{j}[mm] = {ctor}(z{j})" if ctor else f"{pad}q{j}[mm] = z{j}")
        return lines

    for c in classes:
        writes = c.index == 0
        rp = [f"q{j}" for j in c.reds]
        mp = [f"m{j}" for j in c.reds]
        pp = [f"p{j}" for j in c.reds]
        inner = body + (stores if writes else [])
        w = out_params if writes else []
        # serial: one thread per output element
        pad3 = " " * 12
        lines = ["@cuda.jit",
                 f"def kser{c.index}(M, K, {', '.join(dim_params + data_params + w + rp + mp)}):",
                 "    for mm in range(cuda.grid(1), M, cuda.gridsize(1)):",
                 *_decompose("mm", c.kept, " " * 8)]
        lines += [f"        r{j} = {_init_literal(reds[j], _acc_dtype(reds[j]))}" for j in c.reds]
        lines.append("        for kk in range(K):")
        lines += _decompose("kk", c.reduced, pad3)
        lines += [pad3 + ln for ln in inner]
        lines += [f"{pad3}r{j} = {_combine(reds[j], f'r{j}', acc_expr(j))}" for j in c.reds]
        for j in c.reds:
            lines += finish(j, f"r{j}", " " * 8)
        emit(lines)
        # tree: nb blocks per output element, shared-memory tree in each block
        lines = ["@cuda.jit",
                 f"def ktree{c.index}(nb, K, {', '.join(dim_params + data_params + w + pp)}):"]
        lines += [f"    sh{j} = cuda.shared.array({tpb}, np.{_acc_dtype(reds[j]).name})"
                  for j in c.reds]
        lines += ["    tid = cuda.threadIdx.x",
                  "    mm = cuda.blockIdx.x // nb",
                  "    kb = cuda.blockIdx.x - mm * nb",
                  *_decompose("mm", c.kept, "    ")]
        lines += [f"    r{j} = {_init_literal(reds[j], _acc_dtype(reds[j]))}" for j in c.reds]
        lines += [f"    kk = kb * {tpb} + tid",
                  "    while kk < K:",
                  *_decompose("kk", c.reduced, " " * 8),
                  *(" " * 8 + ln for ln in inner)]
        lines += [f"        r{j} = {_combine(reds[j], f'r{j}', acc_expr(j))}" for j in c.reds]
        lines.append(f"        kk += nb * {tpb}")
        lines += [f"    sh{j}[tid] = r{j}" for j in c.reds]
        lines += ["    cuda.syncthreads()",
                  f"    s = {tpb // 2}",
                  "    while s > 0:",
                  "        if tid < s:"]
        lines += [f"            sh{j}[tid] = {_combine(reds[j], f'sh{j}[tid]', f'sh{j}[tid + s]')}"
                  for j in c.reds]
        lines += ["        cuda.syncthreads()",
                  "        s //= 2",
                  "    if tid == 0:"]
        lines += [f"        p{j}[mm, kb] = sh{j}[0]" for j in c.reds]
        emit(lines)
        # combine: fold each output's nb partials in a fixed order
        lines = ["@cuda.jit",
                 f"def kcomb{c.index}(M, nb, {', '.join(pp + rp + mp)}):",
                 "    for mm in range(cuda.grid(1), M, cuda.gridsize(1)):"]
        for j in c.reds:
            lines.append(f"        r{j} = {_init_literal(reds[j], _acc_dtype(reds[j]))}")
            lines.append("        for cc in range(nb):")
            lines.append(f"            r{j} = {_combine(reds[j], f'r{j}', f'p{j}[mm, cc]')}")
            lines += finish(j, f"r{j}", " " * 8)
        emit(lines)

    source = HEADER + "\n".join(src).rstrip() + "\n"
    return CudaKernelSpec(source, dims, [shape_for(m) for m in lmasks],
                          [shape_for(m) for m in omasks], [shape_for(m) for m in rmasks],
                          [_acc_dtype(r) for r in reds], classes, counts, tpb)
