"""DepthwiseConv2dNative and its two backprop ops on cpu (NHWC, float32/float64): direct loops.

A depthwise convolution does KH*KW multiply-adds per output, too few to pay for an im2col
copy and a matrix product per channel; the NumPy references (ops/conv_reference.py) multiply
strided window views tap by tap.  These loops run over the batch (the forward op and the
input gradient, images never sharing an output) or over blocks of channels (the filter
gradient), on numgrad's threads where they pay, with channels innermost.

- Forward: each output adds its taps' products row-major from +0.0, as the reference, so the
  bits are the same.  A tap in the padding adds 0 * f, as the reference's zero padding does
  (it matters only where the filter holds inf or NaN).
- Input gradient: each input element adds, taps row-major from +0.0, the tap's
  sum_m dy * f (m in order, from +0.0): the reference's order, the same bits.
- Filter gradient: each filter entry sums one image's products in (p, q) order in the dtype,
  and the images' sums in order in float64, rounded once at the end (the reference's einsum
  sums in its own order, so the two agree to rounding, not bit for bit); the split by channel
  blocks keeps the order, so the result does not depend on the thread count.

Milliseconds, min / median of 11 interleaved runs (python -m numgrad.bench_opaque; one
process, the 2-core VM loaded by other jobs):

    op, float32 input, filter KHxKWxM/stride, SAME   reference min/median   kernel min/median
    forward (32, 56, 56, 64), 3x3x1/1                       64 / 83             19 / 28
    input gradient                                         261 / 280            31 / 38
    filter gradient                                         31 / 39             13 / 24
    forward (32, 28, 28, 128), 3x3x1/2                     6.0 / 14            1.5 / 5.2
    input gradient                                          26 / 29            2.1 / 6.4
    filter gradient                                        3.9 / 7.9           1.4 / 1.4
    forward (16, 32, 32, 8), 3x3x4/1                        17 / 21            1.3 / 1.4
    input gradient                                          30 / 35            8.3 / 12
    filter gradient                                        9.2 / 9.4           1.4 / 1.4

(The filter gradient's reference is NumPy's einsum; those of the forward op and the input
gradient add taps in an explicit order, a block of images at a time, about as fast as the
einsums they replaced.)

NCHW, other dtypes and empty arrays return None and run the reference.
"""
import numpy as np
from numba import njit

from ...ops.conv import run_geometry
from . import threaded
from .conv import geom_args, usable
from .registry import register_kernel

# no cfunc wrapper: nothing calls these through a C pointer (it costs compile time)
_jit = dict(cache=True, nogil=True, no_cfunc_wrapper=True)
CHANNEL_BLOCK = 16      # output channels per chunk of the filter gradient


@njit(**_jit)
def _forward(mode, n0, n1, xe, f, y, k, s, d, pad):
    """y[n0:n1] from `xe`, the input with each channel repeated M times (`_expanded`)."""
    _, h, w, cm = xe.shape
    f3 = f.reshape(k[0], k[1], cm)          # f[i, j] as the output channels c*M + m
    acc = np.empty(cm, y.dtype)
    zero = np.zeros(1, xe.dtype)[0]
    for n in range(n0, n1):
        for p in range(y.shape[1]):
            for q in range(y.shape[2]):
                acc[:] = 0
                for i in range(k[0]):
                    r = p * s[0] + i * d[0] - pad[0]
                    for j in range(k[1]):
                        z = q * s[1] + j * d[1] - pad[1]
                        fr = f3[i, j]
                        if 0 <= r < h and 0 <= z < w:
                            xr = xe[n, r, z]
                            for t in range(cm):
                                acc[t] += xr[t] * fr[t]
                        else:
                            for t in range(cm):
                                acc[t] += zero * fr[t]
                y[n, p, q, :] = acc


@njit(**_jit)
def _backprop_input(mode, n0, n1, f, dy, dx, k, s, d, pad):
    _, h, w, c = dx.shape
    m = f.shape[3]
    oh, ow = dy.shape[1], dy.shape[2]
    part = np.empty(c, dx.dtype)
    for n in range(n0, n1):
        for r in range(h):
            for z in range(w):
                dxr = dx[n, r, z]
                dxr[:] = 0
                for i in range(k[0]):
                    t = r + pad[0] - i * d[0]       # = p * s for the output p this tap reads
                    if t < 0 or t % s[0] != 0 or t // s[0] >= oh:
                        continue
                    p = t // s[0]
                    for j in range(k[1]):
                        u = z + pad[1] - j * d[1]
                        if u < 0 or u % s[1] != 0 or u // s[1] >= ow:
                            continue
                        q = u // s[1]
                        fr, dyr = f[i, j], dy[n, p, q]
                        part[:] = 0
                        for mm in range(m):
                            for ch in range(c):
                                part[ch] += dyr[ch * m + mm] * fr[ch, mm]
                        for ch in range(c):
                            dxr[ch] += part[ch]


@njit(**_jit)
def _backprop_filter(mode, b0, b1, xe, dy, part, total, k, s, d, pad):
    """total[i, j, c*M + m] for the blocks of CHANNEL_BLOCK output channels b0..b1: each
    image's products summed in (p, q) order in `part` (the dtype), the images' sums added in
    order in `total` (`xe`: as for `_forward`)."""
    nb, h, w, cm = xe.shape
    t0, t1 = b0 * CHANNEL_BLOCK, min(cm, b1 * CHANNEL_BLOCK)
    zero = np.zeros(1, xe.dtype)[0]
    total[:, :, t0:t1] = 0
    for n in range(nb):
        part[:, :, t0:t1] = 0
        for p in range(dy.shape[1]):
            for q in range(dy.shape[2]):
                dyr = dy[n, p, q]
                for i in range(k[0]):
                    r = p * s[0] + i * d[0] - pad[0]
                    for j in range(k[1]):
                        z = q * s[1] + j * d[1] - pad[1]
                        pr = part[i, j]
                        # unsigned indices: no negative-index test, the loops vectorise
                        if 0 <= r < h and 0 <= z < w:
                            xr = xe[n, r, z]
                            for t in range(t0, t1):
                                u = np.uint64(t)
                                pr[u] += xr[u] * dyr[u]
                        else:
                            for t in range(t0, t1):
                                u = np.uint64(t)
                                pr[u] += zero * dyr[u]
        for i in range(k[0]):
            for j in range(k[1]):
                pr, tr = part[i, j], total[i, j]
                for t in range(t0, t1):
                    u = np.uint64(t)
                    tr[u] += pr[u]


def _expanded(x, m):
    """x (N, H, W, C) with each channel repeated m times: (N, H, W, C*m), channel c*m + k
    = x's channel c, as the output channels are laid out."""
    x = np.ascontiguousarray(x)
    return x if m == 1 else np.repeat(x, m, axis=3)


@register_kernel("DepthwiseConv2dNative")
def depthwise_conv2d(vals, attrs):
    """The OPAQUE entry of DepthwiseConv2dNative, or None (see the module docstring)."""
    x, f = vals
    if not usable(attrs, x, f):
        return None
    g = run_geometry("DepthwiseConv2dNative", attrs, x.shape, f.shape)
    if not all(g.out):
        return None
    y = np.empty((x.shape[0],) + g.out + (f.shape[2] * f.shape[3],), x.dtype)
    k, s, d, pad, _ = geom_args(g)
    threaded.run(("DepthwiseConv2dNative", x.shape, f.shape, g), _forward, x.shape[0],
                 _expanded(x, f.shape[3]), np.ascontiguousarray(f), y, k, s, d, pad)
    return [y]


@register_kernel("DepthwiseConv2dNativeBackpropInput")
def depthwise_backprop_input(vals, attrs):
    """The OPAQUE entry of DepthwiseConv2dNativeBackpropInput, or None."""
    sizes, f, dy = vals
    if not usable(attrs, f, dy):
        return None
    sizes = tuple(int(v) for v in sizes)
    g = run_geometry("DepthwiseConv2dNativeBackpropInput", attrs, sizes, f.shape, dy.shape)
    if min(sizes) <= 0 or dy.shape[3] != f.shape[2] * f.shape[3] or sizes[3] != f.shape[2]:
        return None
    dx = np.empty(sizes, dy.dtype)
    k, s, d, pad, _ = geom_args(g)
    threaded.run(("DepthwiseConv2dNativeBackpropInput", sizes, f.shape, g), _backprop_input,
                 sizes[0], np.ascontiguousarray(f), np.ascontiguousarray(dy), dx, k, s, d, pad)
    return [dx]


@register_kernel("DepthwiseConv2dNativeBackpropFilter")
def depthwise_backprop_filter(vals, attrs):
    """The OPAQUE entry of DepthwiseConv2dNativeBackpropFilter, or None."""
    x, sizes, dy = vals
    if not usable(attrs, x, dy):
        return None
    sizes = tuple(int(v) for v in sizes)
    g = run_geometry("DepthwiseConv2dNativeBackpropFilter", attrs, x.shape, sizes, dy.shape)
    if min(sizes) <= 0 or dy.shape[3] != sizes[2] * sizes[3] or x.shape[3] != sizes[2]:
        return None
    kk = (sizes[0], sizes[1], sizes[2] * sizes[3])
    part, total = np.empty(kk, x.dtype), np.empty(kk, np.float64)
    k, s, d, pad, _ = geom_args(g)
    blocks = -(-kk[2] // CHANNEL_BLOCK)
    threaded.run(("DepthwiseConv2dNativeBackpropFilter", x.shape, sizes, g), _backprop_filter,
                 blocks, _expanded(x, sizes[3]), np.ascontiguousarray(dy), part, total, k, s,
                 d, pad)
    return [total.astype(x.dtype).reshape(sizes)]
