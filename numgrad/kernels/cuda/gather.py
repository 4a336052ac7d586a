"""GatherV2 on the device: one grid-stride pass over the output."""
import numpy as np
from numba import cuda

from .registry import register_kernel
from .scatter import fill


@cuda.jit
def _gather(params, idx, out, err):
    # params (outer, n, inner), idx (I,), out (outer, I, inner); bad indices give 0 and
    # record their position: err[0] = the first such position
    n_idx = idx.shape[0]
    inner = params.shape[2]
    n = params.shape[1]
    total = out.shape[0] * n_idx * inner
    for t in range(cuda.grid(1), total, cuda.gridsize(1)):
        o = t // (n_idx * inner)
        r = t - o * (n_idx * inner)
        i = r // inner
        e = r - i * inner
        j = idx[i]
        if j >= 0 and j < n:
            out[o, i, e] = params[o, j, e]
        else:
            out[o, i, e] = 0
            cuda.atomic.min(err, 0, i)


@register_kernel("GatherV2")
def prepare(node, launch):
    """GatherV2(params, indices, axis)."""
    params, idx = node.inputs
    out = node.outputs[0]
    axis = node.attrs["axis"]
    axis = axis + len(params.shape) if axis < 0 else axis
    outer = 1
    for d in params.shape[:axis]:
        outer *= d
    inner = 1
    for d in params.shape[axis + 1:]:
        inner *= d
    n = params.shape[axis]
    n_idx = idx.size

    def run(ins, alloc):
        y = alloc(out.shape, out.dtype)
        err = alloc((1,), np.dtype(np.int64))
        fill[1, 1](err, n_idx)
        flat_idx = ins[1].reshape(-1)
        if outer * n_idx * inner:
            _gather[launch.blocks(outer * n_idx * inner), launch.tpb](
                ins[0].reshape((outer, n, inner)), flat_idx, y.reshape((outer, n_idx, inner)),
                err)

        def check():
            pos = int(err.copy_to_host()[0])
            if pos < n_idx:
                bad = flat_idx[pos:pos + 1].copy_to_host()[0]
                raise IndexError(f"indices contain {bad}, which is not in [0, {n})")
        return [y], (check, [err])
    return run
