"""ConcatV2, Pack (stack), SplitV and Unpack (unstack) on the device: slab copies.

Viewed as (outer, width) around the axis, each input of a concat or stack is one slab of the
output (and each output of a split one slab of the input), copied by one grid-stride kernel.
"""
from numba import cuda

from .registry import register_kernel


@cuda.jit
def _copy_slab(x, out, off):
    # x viewed as (outer, w), out as (outer, W); x[o, e] -> out[o, off + e]
    w = x.shape[1]
    n = x.shape[0] * w
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        o = t // w
        e = t - o * w
        out[o, off + e] = x[o, e]


@register_kernel("ConcatV2")
def prepare(node, launch):
    """ConcatV2(values..., axis): the slab widths and offsets are fixed by the plan's shapes."""
    out = node.outputs[0]
    rank = len(out.shape)
    axis = node.attrs["axis"]
    axis = axis + rank if axis < 0 else axis
    outer = 1
    for d in out.shape[:axis]:
        outer *= d
    inner = 1
    for d in out.shape[axis + 1:]:
        inner *= d
    width = out.shape[axis] * inner
    slabs, off = [], 0
    for v in node.inputs:
        w = v.shape[axis] * inner
        slabs.append((w, off))
        off += w

    def run(ins, alloc):
        y = alloc(out.shape, out.dtype)
        y2 = y.reshape((outer, width))
        for x, (w, o) in zip(ins, slabs):
            if outer * w:
                _copy_slab[launch.blocks(outer * w), launch.tpb](x.reshape((outer, w)), y2, o)
        return [y], None
    return run


@cuda.jit
def _take_slab(x, out, off):
    # the reverse copy: x viewed as (outer, W), out as (outer, w); x[o, off + e] -> out[o, e]
    w = out.shape[1]
    n = out.shape[0] * w
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        o = t // w
        e = t - o * w
        out[o, e] = x[o, off + e]


def _outer_inner(shape, axis):
    outer = 1
    for d in shape[:axis]:
        outer *= d
    inner = 1
    for d in shape[axis + 1:]:
        inner *= d
    return outer, inner


@register_kernel("Pack")
def prepare_pack(node, launch):
    """Pack(values..., axis) (tf.stack): input i is the slab [i*inner, (i+1)*inner)."""
    out = node.outputs[0]
    axis = node.attrs["axis"]
    axis = axis + len(out.shape) if axis < 0 else axis
    outer, inner = _outer_inner(out.shape, axis)
    width = out.shape[axis] * inner

    def run(ins, alloc):
        y = alloc(out.shape, out.dtype)
        y2 = y.reshape((outer, width))
        if outer * inner:
            for i, x in enumerate(ins):
                _copy_slab[launch.blocks(outer * inner), launch.tpb](
                    x.reshape((outer, inner)), y2, i * inner)
        return [y], None
    return run


@register_kernel("SplitV")
def prepare_split(node, launch):
    """SplitV(x, sizes, axis) (tf.split): each output is one slab of the input along `axis`;
    sizes come from the plan's output shapes."""
    return _prepare_slabs(node, launch, unpack=False)


@register_kernel("Unpack")
def prepare_unpack(node, launch):
    """Unpack(x, num, axis) (tf.unstack): each output is one slab of the input along `axis`,
    without the axis."""
    return _prepare_slabs(node, launch, unpack=True)


def _prepare_slabs(node, launch, unpack):
    """Each output one slab of the input along `axis`: one index wide where `unpack`, else
    as wide as the output along `axis`."""
    x = node.inputs[0]
    axis = node.attrs["axis"]
    axis = axis + len(x.shape) if axis < 0 else axis
    outer, inner = _outer_inner(x.shape, axis)
    width = x.shape[axis] * inner
    slabs, off = [], 0
    for v in node.outputs:
        w = inner if unpack else v.shape[axis] * inner
        slabs.append((v, w, off))
        off += w
    if off != width:
        return None            # sizes that do not add up: the NumPy reference raises

    def run(ins, alloc):
        x2 = ins[0].reshape((outer, width))
        outs = []
        for v, w, o in slabs:
            y = alloc(v.shape, v.dtype)
            if outer * w:
                _take_slab[launch.blocks(outer * w), launch.tpb](x2, y.reshape((outer, w)), o)
            outs.append(y)
        return outs, None
    return run
