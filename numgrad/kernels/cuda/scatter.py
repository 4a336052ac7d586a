"""UnsortedSegmentSum (scatter-add; the gradient of gather) on the device, with atomics.

Order-dependence: rows with the same segment id are added with ``cuda.atomic.add`` in
whatever order the threads arrive, so for floating-point data a segment that receives more
than one row can differ in the last bits from run to run (integer data is exact).  Segments
that receive one row, and every row whose id is negative (dropped, as TensorFlow does), are
exact and deterministic.
"""
import numpy as np
from numba import cuda

from .registry import register_kernel

# dtypes with device atomic add; others run the NumPy reference on the host
ATOMIC_DTYPES = {np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64)}


@cuda.jit
def fill(a, value):
    """a.reshape(-1)[:] = value (a must be 1-D)."""
    for t in range(cuda.grid(1), a.size, cuda.gridsize(1)):
        a[t] = value


@cuda.jit
def _scatter_add(data, ids, out, err):
    # out[ids[i], e] += data[i, e]; ids >= len(out) are errors: err[0] = max of them
    inner = data.shape[1]
    n = data.shape[0] * inner
    num = out.shape[0]
    for t in range(cuda.grid(1), n, cuda.gridsize(1)):
        i = t // inner
        e = t - i * inner
        s = ids[i]
        if s >= num:
            cuda.atomic.max(err, 0, s)
        elif s >= 0:
            cuda.atomic.add(out, (s, e), data[i, e])


@register_kernel("UnsortedSegmentSum")
def prepare(node, launch):
    """UnsortedSegmentSum(data, segment_ids, num_segments); host fallback for other dtypes."""
    data, ids, _ = node.inputs
    out = node.outputs[0]
    if out.dtype not in ATOMIC_DTYPES:
        return None
    n_ids = ids.size
    inner = 1
    for d in data.shape[len(ids.shape):]:
        inner *= d
    num = out.shape[0]

    def run(ins, alloc):
        y = alloc(out.shape, out.dtype)
        y2 = y.reshape((num, inner))
        flat = y.reshape(-1)
        if flat.size:
            fill[launch.blocks(flat.size), launch.tpb](flat, out.dtype.type(0))
        err = alloc((1,), np.dtype(np.int64))
        fill[1, 1](err, -1)
        if n_ids * inner:
            _scatter_add[launch.blocks(n_ids * inner), launch.tpb](
                ins[0].reshape((n_ids, inner)), ins[1].reshape(-1), y2, err)

        def check():
            worst = int(err.copy_to_host()[0])
            if worst >= num:
                raise IndexError(f"segment id {worst} is not in [0, {num})")
        return [y], (check, [err])
    return run
