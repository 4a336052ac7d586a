"""Conv2D, its two backprop ops and MaxPool/MaxPoolGrad on cpu: Numba loops parallel over the
batch (numgrad's thread pool), with the convolutions' products left to BLAS.

A convolution is an im2col copy (each output position's window as one row of a
(N*OH*OW, KH*KW*C) matrix, padding as zeros) and one matrix product with the filter seen as a
(KH*KW*C, O) matrix; the filter gradient is that matrix's transpose times out_backprop, and
the input gradient is out_backprop times the filter's transpose, added back into the image
(col2im).  The work goes in chunks of images (`CHUNK_ELEMENTS`), each chunk's im2col matrix
small enough to stay in cache for its product; the chunks run on numgrad's threads where that
was measured to pay (`_ThreadChoice`).  Images never share output elements, and the filter
gradient's per-chunk sums are added in chunk order, so the split needs no locks and gives the
same bits on any number of threads.
The NumPy reference does the same arithmetic through a strided window view, whose im2col copy
is NumPy's single-threaded reshape; the products are the same BLAS calls.

MaxPool and MaxPoolGrad are direct loops (first maximum, row-major, as the reference;
MaxPoolGrad finds each window's maximum again and adds the gradient there in one pass); AvgPool
and AvgPoolGrad are in pool_avg.py, the depthwise ops in depthwise.py.  Anything else (other
dtypes, NCHW, empty arrays) returns None and runs the reference.
"""
import numpy as np
from numba import njit

from ...ops.conv import run_geometry
from ...ops.pool import pool_geometry
from . import threaded
from .registry import register_kernel

# no cfunc wrapper (nothing calls these through a C pointer; it costs compile time),
# and none for the Python calls of the helpers only njit code calls (_inner)
_jit = dict(cache=True, nogil=True, no_cfunc_wrapper=True)
_inner = dict(_jit, no_cpython_wrapper=True)
_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


# The copies index flat arrays with unsigned indices: no negative-index wraparound test in the
# channel loops, which then compile to vector moves.
@njit(**_jit)
def _im2col(x, n0, n1, cols, k, s, d, pad, out):
    """Rows of `cols` = the windows of images n0..n1 of x (row (n - n0, p, q)), padding 0."""
    _, h, w, c = x.shape
    xf, cf = x.reshape(-1), cols.reshape(-1)
    width = cols.shape[1]
    for n in range(n0, n1):
        for p in range(out[0]):
            for q in range(out[1]):
                row = (((n - n0) * out[0] + p) * out[1] + q) * width
                for i in range(k[0]):
                    y = p * s[0] + i * d[0] - pad[0]
                    for j in range(k[1]):
                        z = q * s[1] + j * d[1] - pad[1]
                        dst = np.uint64(row + (i * k[1] + j) * c)
                        if 0 <= y < h and 0 <= z < w:
                            src = np.uint64(((n * h + y) * w + z) * c)
                            for ch in range(c):
                                cf[dst + np.uint64(ch)] = xf[src + np.uint64(ch)]
                        else:
                            for ch in range(c):
                                cf[dst + np.uint64(ch)] = 0


@njit(**_jit)
def _col2im(cols, x, n0, n1, k, s, d, pad, out):
    """x[n0:n1] = the rows of `cols` (as `_im2col` lays them out) added back at their
    windows."""
    _, h, w, c = x.shape
    xf, cf = x.reshape(-1), cols.reshape(-1)
    width = cols.shape[1]
    for n in range(n0, n1):
        x[n] = 0
        for p in range(out[0]):
            for q in range(out[1]):
                row = (((n - n0) * out[0] + p) * out[1] + q) * width
                for i in range(k[0]):
                    y = p * s[0] + i * d[0] - pad[0]
                    if y < 0 or y >= h:
                        continue
                    for j in range(k[1]):
                        z = q * s[1] + j * d[1] - pad[1]
                        if 0 <= z < w:
                            src = np.uint64(row + (i * k[1] + j) * c)
                            dst = np.uint64(((n * h + y) * w + z) * c)
                            for ch in range(c):
                                xf[dst + np.uint64(ch)] += cf[src + np.uint64(ch)]


@njit(**_inner)
def _window_max(xf, n, p, q, h, w, c, k, s, pad, best, at):
    """best[ch], at[ch] = the maximum of window (p, q) of image n in channel ch and the flat
    index (row * W + col) of its first occurrence (row-major; a NaN wins, as NumPy's argmax);
    -inf and -1 for a window wholly in explicit padding.  Channels innermost and the running
    maximum updated by selects, so the channel loop vectorises."""
    first = True
    for i in range(k[0]):
        r = p * s[0] + i - pad[0]
        if r < 0 or r >= h:
            continue
        for j in range(k[1]):
            z = q * s[1] + j - pad[1]
            if z < 0 or z >= w:
                continue
            here = r * w + z
            src = np.uint64(((n * h + r) * w + z) * c)
            if first:
                for ch in range(c):
                    best[ch] = xf[src + np.uint64(ch)]
                    at[ch] = here
                first = False
                continue
            for ch in range(c):
                v = xf[src + np.uint64(ch)]
                b = best[ch]
                take = v > b or (v != v and b == b)
                best[ch] = v if take else b
                at[ch] = here if take else at[ch]
    if first:
        best[:] = -np.inf
        at[:] = -1


@njit(**_jit)
def _max_pool(mode, n0, n1, x, y, k, s, pad):
    _, h, w, c = x.shape
    xf = x.reshape(-1)
    best, at = np.empty(c, x.dtype), np.empty(c, np.int64)
    for n in range(n0, n1):
        for p in range(y.shape[1]):
            for q in range(y.shape[2]):
                _window_max(xf, n, p, q, h, w, c, k, s, pad, best, at)
                y[n, p, q, :] = best


@njit(**_jit)
def _max_pool_grad(mode, n0, n1, x, g, dx, k, s, pad):
    """dx[n0:n1] = each output's gradient added at its window's first maximum."""
    _, h, w, c = x.shape
    xf = x.reshape(-1)
    best, at = np.empty(c, x.dtype), np.empty(c, np.int64)
    dxf, gf = dx.reshape(-1), g.reshape(-1)
    for n in range(n0, n1):
        dx[n] = 0
        for p in range(g.shape[1]):
            for q in range(g.shape[2]):
                _window_max(xf, n, p, q, h, w, c, k, s, pad, best, at)
                src = ((n * g.shape[1] + p) * g.shape[2] + q) * c
                for ch in range(c):
                    a = at[ch]
                    if a >= 0:
                        dxf[(n * h * w + a) * c + ch] += gf[src + ch]


def usable(attrs, *arrays):
    """Whether the kernels here cover a call: NHWC, one float dtype, no empty array."""
    return (attrs["data_format"] == "NHWC" and all(a.dtype in _FLOATS for a in arrays)
            and len({a.dtype for a in arrays}) == 1 and all(a.size for a in arrays))


def geom_args(g):
    """A `Geometry` as the kernels' int64 arrays: window, strides, dilations, padding before
    (rows, cols) and output size."""
    k, s, d = (np.array(v, np.int64) for v in (g.k, g.s, g.d))
    return k, s, d, np.array([g.pad[0][0], g.pad[1][0]], np.int64), np.array(g.out, np.int64)


# Images per chunk: about CHUNK_ELEMENTS im2col entries, so that a chunk's im2col matrix
# stays in cache for its product (W9's 3x3x32 layer: 1 image, 784 x 288 float32, 0.9 MB; its
# 3x3x1 layer: 37 images, 29008 x 9).  CPU ms of W9's three 3x3x32->64 ops (forward, input
# and filter gradient) on the 2-core EPYC VM by im2col rows per chunk: 784: 23.5, 24.9, 25.9;
# 3136: 25.7, 26.2, 30.1; 50176 (one product): 35.4, 33.7, 42.5.
CHUNK_ELEMENTS = 1 << 18


def _images_per_chunk(rows_per_image, width):
    return max(1, CHUNK_ELEMENTS // max(rows_per_image * width, 1))


def _over_chunks(site, n, rows_per_image, width, work):
    """work(i0, i1, scratch) for consecutive image ranges of a fixed size (independent of the
    thread count), split across numgrad's threads; `scratch` is a dict private to the thread's
    run of chunks (for buffers reused from chunk to chunk)."""
    per = _images_per_chunk(rows_per_image, width)
    count = -(-n // per)

    def run(mode, c0, c1):
        scratch = {}
        for c in range(c0, c1):
            work(c * per, min(n, (c + 1) * per), scratch)
    threaded.run(site, run, count)
    return per, count


def _scratch(scratch, shape, dtype):
    """A buffer of `shape` from the thread's scratch (the last chunk may be smaller)."""
    buf = scratch.get("cols")
    if buf is None or buf.shape[1] != shape[1] or buf.shape[0] < shape[0]:
        buf = scratch["cols"] = np.empty(shape, dtype)
    return buf[:shape[0]]


@register_kernel("Conv2D")
def conv2d(vals, attrs):
    x, f = vals
    if not usable(attrs, x, f):
        return None
    g = run_geometry("Conv2D", attrs, x.shape, f.shape)
    if not all(g.out):
        return None
    x, ga = np.ascontiguousarray(x), geom_args(g)
    n, rows, o = x.shape[0], g.out[0] * g.out[1], f.shape[3]
    f2 = np.ascontiguousarray(f).reshape(-1, o)
    y = np.empty((n * rows, o), x.dtype)
    def work(i0, i1, scratch):
        cols = _scratch(scratch, ((i1 - i0) * rows, f2.shape[0]), x.dtype)
        _im2col(x, i0, i1, cols, *ga)
        np.matmul(cols, f2, out=y[i0 * rows:i1 * rows])
    _over_chunks(("Conv2D", x.shape, f.shape), n, rows, f2.shape[0], work)
    return [y.reshape((n,) + g.out + (o,))]


@register_kernel("Conv2DBackpropInput")
def conv2d_backprop_input(vals, attrs):
    sizes, f, dy = vals
    if not usable(attrs, f, dy):
        return None
    sizes = tuple(int(v) for v in sizes)
    g = run_geometry("Conv2DBackpropInput", attrs, sizes, f.shape, dy.shape)
    rows, o = g.out[0] * g.out[1], f.shape[3]
    ft = np.ascontiguousarray(np.ascontiguousarray(f).reshape(-1, o).T)
    dy2 = np.ascontiguousarray(dy).reshape(-1, o)
    dx = np.empty(sizes, dy.dtype)
    ga = geom_args(g)

    def work(i0, i1, scratch):
        cols = dy2[i0 * rows:i1 * rows] @ ft
        _col2im(cols, dx, i0, i1, *ga)
    _over_chunks(("Conv2DBackpropInput", sizes, f.shape), sizes[0], rows, ft.shape[1], work)
    return [dx]


@register_kernel("Conv2DBackpropFilter")
def conv2d_backprop_filter(vals, attrs):
    x, sizes, dy = vals
    if not usable(attrs, x, dy):
        return None
    sizes = tuple(int(v) for v in sizes)
    g = run_geometry("Conv2DBackpropFilter", attrs, x.shape, sizes, dy.shape)
    x, ga = np.ascontiguousarray(x), geom_args(g)
    n, rows, o = x.shape[0], g.out[0] * g.out[1], sizes[3]
    kk = sizes[0] * sizes[1] * sizes[2]
    dy2 = np.ascontiguousarray(dy).reshape(-1, o)
    per = _images_per_chunk(rows, kk)
    parts = np.empty((-(-n // per), kk, o), x.dtype)   # one partial sum per chunk

    def work(i0, i1, scratch):
        cols = _scratch(scratch, ((i1 - i0) * rows, kk), x.dtype)
        _im2col(x, i0, i1, cols, *ga)
        np.matmul(cols.T, dy2[i0 * rows:i1 * rows], out=parts[i0 // per])
    _over_chunks(("Conv2DBackpropFilter", x.shape, sizes), n, rows, kk, work)
    # the chunks' sums added in chunk order: the same bits for any thread count
    return [_sum_parts(parts).reshape(sizes)]


@njit(**_jit)
def _sum_parts(parts):
    out = parts[0].copy()
    for i in range(1, parts.shape[0]):
        out += parts[i]
    return out


@register_kernel("MaxPool")
def max_pool(vals, attrs):
    x, = vals
    if not usable(attrs, x):
        return None
    g = pool_geometry("MaxPool", attrs, x.shape[1:3])
    y = np.empty((x.shape[0],) + g.out + (x.shape[3],), x.dtype)
    k, s, _, pad, _ = geom_args(g)
    threaded.run(("MaxPool", x.shape, g), _max_pool, x.shape[0], np.ascontiguousarray(x), y,
                 k, s, pad)
    return [y]


@register_kernel("MaxPoolGrad")
def max_pool_grad(vals, attrs):
    x, _, dy = vals
    if not usable(attrs, *vals):
        return None
    g = pool_geometry("MaxPoolGrad", attrs, x.shape[1:3])
    dx = np.empty(x.shape, dy.dtype)
    k, s, _, pad, _ = geom_args(g)
    threaded.run(("MaxPoolGrad", x.shape, g), _max_pool_grad, x.shape[0],
                 np.ascontiguousarray(x), np.ascontiguousarray(dy), dx, k, s, pad)
    return [dx]
