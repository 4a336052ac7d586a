"""Conv2D, its two backprop ops and MaxPool/MaxPoolGrad on cpu: Numba loops parallel over the
batch (numgrad's thread pool), with the convolutions' products left to BLAS.

A convolution is an im2col copy (each output position's window as one row of a
(N*OH*OW, KH*KW*C) matrix, padding as zeros) and one matrix product with the filter seen as a
(KH*KW*C, O) matrix; the filter gradient is that matrix's transpose times out_backprop, and
the input gradient is out_backprop times the filter's transpose, added back into the image
(col2im).  The copies are Numba loops over the images, run on numgrad's threads (images never
share output elements, so the split needs no locks and gives the same bits as one thread).
The NumPy reference does the same arithmetic through a strided window view, whose im2col copy
is NumPy's single-threaded reshape; the products are the same BLAS calls.

MaxPool and MaxPoolGrad are direct loops (first maximum, row-major, as the reference); AvgPool
and the depthwise ops keep their NumPy references.  Anything else (other dtypes, NCHW, empty
arrays) returns None and runs the reference.
"""
import numpy as np
from numba import njit

from ... import threads
from ...ops.conv import run_geometry
from ...ops.pool import pool_geometry

_jit = dict(cache=True, nogil=True)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


@njit(**_jit)
def _im2col(mode, n0, n1, x, cols, k, s, d, pad, out):
    _, h, w, c = x.shape
    for n in range(n0, n1):
        for p in range(out[0]):
            for q in range(out[1]):
                r = (n * out[0] + p) * out[1] + q
                for i in range(k[0]):
                    y = p * s[0] + i * d[0] - pad[0]
                    for j in range(k[1]):
                        z = q * s[1] + j * d[1] - pad[1]
                        base = (i * k[1] + j) * c
                        if 0 <= y < h and 0 <= z < w:
                            for ch in range(c):
                                cols[r, base + ch] = x[n, y, z, ch]
                        else:
                            for ch in range(c):
                                cols[r, base + ch] = 0


@njit(**_jit)
def _col2im(mode, n0, n1, cols, x, k, s, d, pad, out):
    """x[n] = the sum of the rows of `cols` placed back at their windows (x zeroed first)."""
    _, h, w, c = x.shape
    for n in range(n0, n1):
        x[n] = 0
        for p in range(out[0]):
            for q in range(out[1]):
                r = (n * out[0] + p) * out[1] + q
                for i in range(k[0]):
                    y = p * s[0] + i * d[0] - pad[0]
                    if y < 0 or y >= h:
                        continue
                    for j in range(k[1]):
                        z = q * s[1] + j * d[1] - pad[1]
                        if 0 <= z < w:
                            base = (i * k[1] + j) * c
                            for ch in range(c):
                                x[n, y, z, ch] += cols[r, base + ch]


@njit(**_jit)
def _max_pool(mode, n0, n1, x, y, arg, k, s, pad):
    """y = each window's maximum, arg = the flat input index (y*W + z) of its first maximum."""
    _, h, w, c = x.shape
    for n in range(n0, n1):
        for p in range(y.shape[1]):
            for q in range(y.shape[2]):
                for ch in range(c):
                    best = -np.inf
                    at = -1
                    for i in range(k[0]):
                        r = p * s[0] + i - pad[0]
                        if r < 0 or r >= h:
                            continue
                        for j in range(k[1]):
                            z = q * s[1] + j - pad[1]
                            if 0 <= z < w:
                                v = x[n, r, z, ch]
                                if at < 0 or v > best or (v != v and best == best):
                                    best = v
                                    at = r * w + z
                    y[n, p, q, ch] = best
                    arg[n, p, q, ch] = at


@njit(**_jit)
def _scatter_max(mode, n0, n1, arg, g, dx):
    w = dx.shape[2]
    for n in range(n0, n1):
        dx[n] = 0
        for p in range(g.shape[1]):
            for q in range(g.shape[2]):
                for ch in range(g.shape[3]):
                    a = arg[n, p, q, ch]
                    if a >= 0:
                        dx[n, a // w, a % w, ch] += g[n, p, q, ch]


def _parallel(kernel, n, *args):
    threads.run_chunks(kernel, n, args)


def _usable(attrs, *arrays):
    return (attrs["data_format"] == "NHWC" and all(a.dtype in _FLOATS for a in arrays)
            and len({a.dtype for a in arrays}) == 1 and all(a.size for a in arrays))


def _geom_args(g):
    k, s, d = (np.array(v, np.int64) for v in (g.k, g.s, g.d))
    return k, s, d, np.array([g.pad[0][0], g.pad[1][0]], np.int64), np.array(g.out, np.int64)


def _cols(x, g):
    n, _, _, c = x.shape
    cols = np.empty((n * g.out[0] * g.out[1], g.k[0] * g.k[1] * c), x.dtype)
    _parallel(_im2col, n, np.ascontiguousarray(x), cols, *_geom_args(g))
    return cols


def conv2d(vals, attrs):
    x, f = vals
    if not _usable(attrs, x, f):
        return None
    g = run_geometry("Conv2D", attrs, x.shape, f.shape)
    if not all(g.out):
        return None
    y = _cols(x, g) @ f.reshape(-1, f.shape[3])
    return [y.reshape((x.shape[0],) + g.out + (f.shape[3],))]


def conv2d_backprop_input(vals, attrs):
    sizes, f, dy = vals
    if not _usable(attrs, f, dy):
        return None
    sizes = tuple(int(v) for v in sizes)
    g = run_geometry("Conv2DBackpropInput", attrs, sizes, f.shape, dy.shape)
    cols = dy.reshape(-1, f.shape[3]) @ f.reshape(-1, f.shape[3]).T
    dx = np.empty(sizes, dy.dtype)
    _parallel(_col2im, sizes[0], np.ascontiguousarray(cols), dx, *_geom_args(g))
    return [dx]


def conv2d_backprop_filter(vals, attrs):
    x, sizes, dy = vals
    if not _usable(attrs, x, dy):
        return None
    sizes = tuple(int(v) for v in sizes)
    g = run_geometry("Conv2DBackpropFilter", attrs, x.shape, sizes, dy.shape)
    df = _cols(x, g).T @ dy.reshape(-1, sizes[3])
    return [df.reshape(sizes)]


def _max_pool_args(vals, attrs, op_type):
    x = vals[0]
    if not _usable(attrs, *vals):
        return None
    g = pool_geometry(op_type, attrs, x.shape[1:3])
    out = (x.shape[0],) + g.out + (x.shape[3],)
    y, arg = np.empty(out, x.dtype), np.empty(out, np.int64)
    k, s, _, pad, _ = _geom_args(g)
    _parallel(_max_pool, x.shape[0], np.ascontiguousarray(x), y, arg, k, s, pad)
    return y, arg


def max_pool(vals, attrs):
    res = _max_pool_args(vals, attrs, "MaxPool")
    return None if res is None else [res[0]]


def max_pool_grad(vals, attrs):
    res = _max_pool_args(vals, attrs, "MaxPoolGrad")
    if res is None:
        return None
    x, g = vals[0], vals[2]
    dx = np.empty(x.shape, g.dtype)
    _parallel(_scatter_max, x.shape[0], res[1], np.ascontiguousarray(g), dx)
    return [dx]


OPAQUE = {
    "Conv2D": conv2d,
    "Conv2DBackpropInput": conv2d_backprop_input,
    "Conv2DBackpropFilter": conv2d_backprop_filter,
    "MaxPool": max_pool,
    "MaxPoolGrad": max_pool_grad,
}
