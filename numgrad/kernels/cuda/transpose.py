"""Transpose on the device: one grid-stride pass over the output, any rank and permutation."""
import numpy as np
from numba import cuda

from .registry import register_kernel


@cuda.jit
def _transpose(x, out, oshape, istride, rank):
    # out[flat t] = x[sum_d coord_d(t) * istride[d]], coordinates of t in the output shape
    for t in range(cuda.grid(1), out.size, cuda.gridsize(1)):
        r = t
        off = 0
        for d in range(rank - 1, -1, -1):
            c = r % oshape[d]
            r = r // oshape[d]
            off += c * istride[d]
        out[t] = x[off]


@register_kernel("Transpose")
def prepare(node, launch):
    """Transpose(x, perm): the output's strides in the input are uploaded once, here."""
    x, out = node.inputs[0], node.outputs[0]
    rank = len(x.shape)
    perm = node.attrs["perm"]
    perm = tuple(range(rank))[::-1] if perm is None else tuple(int(p) % max(rank, 1) for p in perm)
    strides = [1] * rank
    for d in range(rank - 2, -1, -1):
        strides[d] = strides[d + 1] * x.shape[d + 1]
    oshape = cuda.to_device(np.array(out.shape if rank else (1,), np.int64))
    istride = cuda.to_device(np.array([strides[p] for p in perm] if rank else [0], np.int64))
    n = out.size

    def run(ins, alloc):
        y = alloc(out.shape, out.dtype)
        if n:
            _transpose[launch.blocks(n), launch.tpb](ins[0].reshape(-1), y.reshape(-1),
                                                     oshape, istride, rank)
        return [y], None
    return run
