"""AvgPool and AvgPoolGrad on cpu (NHWC, float32/float64): direct loops parallel over the batch.

The NumPy references (ops/conv_reference.py) add up a strided window view one tap at a time,
and spread the gradient back one tap at a time over the whole padded input.  These loops make the
same additions in the same order, so the results are bit-identical: AvgPool adds a window's
inputs row-major from +0.0 (padding adds nothing: x + 0.0 is x, and a sum that starts at
+0.0 is never -0.0) and divides by the count of inputs in the window, in the dtype;
AvgPoolGrad gives each input, from +0.0, the shares (gradient / count) of the windows that
hold it, taps in row-major order, as the reference's tap loop adds them.  Images never share
outputs, so any split across numgrad's threads gives the same bits.

Milliseconds, min / median of 11 interleaved runs (python -m numgrad.bench_opaque; one
process, the 2-core VM loaded by other jobs):

    op, input (float32)                   reference min/median   kernel min/median
    AvgPool (32, 56, 56, 64) 3x3/2 SAME          17 / 21              2.4 / 6.5
    AvgPoolGrad (32, 56, 56, 64) 3x3/2 SAME      41 / 44              3.1 / 7.2
    AvgPool (64, 28, 28, 32) 2x2/2 VALID        0.78 / 1.1           0.34 / 0.39
    AvgPoolGrad (64, 28, 28, 32) 2x2/2 VALID    1.1 / 1.3            0.73 / 0.78

NCHW, other dtypes and empty arrays return None and run the reference.
"""
import numpy as np
from numba import njit

from ...ops.pool import pool_geometry
from . import threaded
from .conv import geom_args, usable
from .registry import register_kernel

# no cfunc wrapper (nothing calls these through a C pointer; it costs compile time),
# and none for the Python calls of the helpers only njit code calls (_inner)
_jit = dict(cache=True, nogil=True, error_model="numpy", no_cfunc_wrapper=True)
_inner = dict(_jit, no_cpython_wrapper=True)


@njit(**_inner)
def _span(o, k, s, pad, size):
    """The window taps i0..i1 of output position o that fall inside an input of `size`."""
    start = o * s - pad
    return max(0, -start), min(k, size - start)


@njit(**_jit)
def _avg_pool(mode, n0, n1, x, y, k, s, pad):
    _, h, w, c = x.shape
    acc, count = np.empty(c, x.dtype), np.empty(1, x.dtype)
    for n in range(n0, n1):
        for p in range(y.shape[1]):
            i0, i1 = _span(p, k[0], s[0], pad[0], h)
            for q in range(y.shape[2]):
                j0, j1 = _span(q, k[1], s[1], pad[1], w)
                acc[:] = 0
                for i in range(i0, i1):
                    r = p * s[0] - pad[0] + i
                    for j in range(j0, j1):
                        z = q * s[1] - pad[1] + j
                        for ch in range(c):
                            acc[ch] += x[n, r, z, ch]
                count[0] = max(i1 - i0, 0) * max(j1 - j0, 0)
                for ch in range(c):
                    y[n, p, q, ch] = acc[ch] / count[0]


@njit(**_jit)
def _avg_pool_grad(mode, n0, n1, dy, dx, k, s, pad):
    """dx[n0:n1]: each input the sum of its windows' shares, taps in row-major order."""
    _, h, w, c = dx.shape
    oh, ow = dy.shape[1], dy.shape[2]
    rows = np.empty(oh, dy.dtype)       # window (p, q) holds rows[p] * cols[q] inputs
    cols = np.empty(ow, dy.dtype)
    for p in range(oh):
        i0, i1 = _span(p, k[0], s[0], pad[0], h)
        rows[p] = max(i1 - i0, 0)
    for q in range(ow):
        j0, j1 = _span(q, k[1], s[1], pad[1], w)
        cols[q] = max(j1 - j0, 0)
    for n in range(n0, n1):
        for r in range(h):
            for z in range(w):
                dx[n, r, z, :] = 0
                for i in range(k[0]):
                    t = r + pad[0] - i          # = p * s for the window p that holds (r, z)
                    if t < 0 or t % s[0] != 0 or t // s[0] >= oh:
                        continue
                    p = t // s[0]
                    for j in range(k[1]):
                        u = z + pad[1] - j
                        if u < 0 or u % s[1] != 0 or u // s[1] >= ow:
                            continue
                        q = u // s[1]
                        count = rows[p] * cols[q]
                        for ch in range(c):
                            dx[n, r, z, ch] += dy[n, p, q, ch] / count


@register_kernel("AvgPool")
def avg_pool(vals, attrs):
    """The OPAQUE entry of AvgPool, or None (see the module docstring)."""
    x, = vals
    if not usable(attrs, x):
        return None
    g = pool_geometry("AvgPool", attrs, x.shape[1:3])
    if not all(g.out):
        return None
    y = np.empty((x.shape[0],) + g.out + (x.shape[3],), x.dtype)
    k, s, _, pad, _ = geom_args(g)
    threaded.run(("AvgPool", x.shape, g), _avg_pool, x.shape[0], np.ascontiguousarray(x), y,
                 k, s, pad)
    return [y]


@register_kernel("AvgPoolGrad")
def avg_pool_grad(vals, attrs):
    """The OPAQUE entry of AvgPoolGrad, or None (see the module docstring)."""
    sizes, dy = vals
    if not usable(attrs, dy):
        return None
    sizes = tuple(int(d) for d in sizes)
    if len(sizes) != 4 or min(sizes) <= 0:
        return None
    g = pool_geometry("AvgPoolGrad", attrs, sizes[1:3])
    if dy.shape != (sizes[0],) + g.out + (sizes[3],):
        return None
    dx = np.empty(sizes, dy.dtype)
    k, s, _, pad, _ = geom_args(g)
    threaded.run(("AvgPoolGrad", sizes, g), _avg_pool_grad, sizes[0],
                 np.ascontiguousarray(dy), dx, k, s, pad)
    return [dx]
