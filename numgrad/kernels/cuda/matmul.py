"""MatMul / BatchMatMulV2 on the device: a tiled shared-memory matmul.

Each block computes a ``tile x tile`` tile of C = op(A) @ op(B): the threads stage one tile
of op(A) and one of op(B) in shared memory per step along k, then each thread accumulates its
element from shared memory.  The four transpose cases are four kernels (the flags are
compile-time constants), built per (dtype, tile) on first use.  Batches ride on the grid's z
dimension; broadcast batch dimensions are handled by per-batch offsets into A and B computed
once per plan.  Accumulation is in the operands' dtype, as NumPy's matmul does.
"""
import numpy as np
from numba import cuda

from .registry import register_kernel

_KERNELS = {}
MAX_GRID_Z = 65535


def _build(dtype, tile, ta, tb):
    nptype = np.dtype(dtype).type
    zero = nptype(0)

    @cuda.jit
    def mm(a, b, c, aoff, boff, M, N, K):
        # a: (Ba, M, K) or (Ba, K, M) if ta; b: (Bb, K, N) or (Bb, N, K) if tb; c: (B, M, N)
        sa = cuda.shared.array((tile, tile), nptype)
        sb = cuda.shared.array((tile, tile), nptype)
        tx = cuda.threadIdx.x
        ty = cuda.threadIdx.y
        row = cuda.blockIdx.y * tile + ty
        col = cuda.blockIdx.x * tile + tx
        z = cuda.blockIdx.z
        ia = aoff[z]
        ib = boff[z]
        acc = zero
        for k0 in range(0, K, tile):
            ka = k0 + tx
            if row < M and ka < K:
                sa[ty, tx] = a[ia, ka, row] if ta else a[ia, row, ka]
            else:
                sa[ty, tx] = zero
            kb = k0 + ty
            if col < N and kb < K:
                sb[ty, tx] = b[ib, col, kb] if tb else b[ib, kb, col]
            else:
                sb[ty, tx] = zero
            cuda.syncthreads()
            for kk in range(tile):
                acc += sa[ty, kk] * sb[kk, tx]
            cuda.syncthreads()
        if row < M and col < N:
            c[z, row, col] = acc
    return mm


def kernel(dtype, tile, ta, tb):
    """The matmul kernel for `dtype`, a `tile` x `tile` block and transpose flags."""
    key = (np.dtype(dtype), tile, bool(ta), bool(tb))
    k = _KERNELS.get(key)
    if k is None:
        k = _KERNELS[key] = _build(dtype, tile, bool(ta), bool(tb))
    return k


def _batch_offsets(a_batch, b_batch, out_batch):
    """For each output batch (C order), the index of its A and B matrices (broadcasting)."""
    def offs(batch):
        idx = np.arange(int(np.prod(batch, dtype=np.int64)), dtype=np.int64).reshape(batch)
        lead = (1,) * (len(out_batch) - len(batch))
        full = np.broadcast_to(idx.reshape(lead + batch), out_batch)
        return np.ascontiguousarray(full).reshape(-1)
    return offs(a_batch), offs(b_batch)


@register_kernel("MatMul", "BatchMatMulV2")
def prepare(node, launch):
    """MatMul(a, b, transpose_a, transpose_b), with or without (broadcast) batch dims."""
    a, b = node.inputs
    out = node.outputs[0]
    ta, tb = bool(node.attrs["transpose_a"]), bool(node.attrs["transpose_b"])
    M, N = out.shape[-2], out.shape[-1]
    K = a.shape[-2] if ta else a.shape[-1]
    a_batch, b_batch, out_batch = a.shape[:-2], b.shape[:-2], out.shape[:-2]
    nbatch = int(np.prod(out_batch, dtype=np.int64))
    if nbatch > MAX_GRID_Z:
        return None
    aoff, boff = _batch_offsets(a_batch, b_batch, out_batch)
    aoff, boff = cuda.to_device(aoff), cuda.to_device(boff)
    a3 = (int(np.prod(a_batch, dtype=np.int64)),) + a.shape[-2:]
    b3 = (int(np.prod(b_batch, dtype=np.int64)),) + b.shape[-2:]
    tile = launch.tile
    k = kernel(out.dtype, tile, ta, tb)
    grid = ((N + tile - 1) // tile, (M + tile - 1) // tile, nbatch)

    def run(ins, alloc):
        c = alloc(out.shape, out.dtype)
        if M and N and nbatch:
            k[grid, (tile, tile)](ins[0].reshape(a3), ins[1].reshape(b3),
                                  c.reshape((nbatch, M, N)), aoff, boff, M, N, K)
        return [c], None
    return run
