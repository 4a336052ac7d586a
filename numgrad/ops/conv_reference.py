"""NumPy references of the convolution and pooling ops, on NHWC arrays.

Every function takes the spatial geometry already resolved (`Geometry`: strides, dilations,
padding before/after per spatial axis, output size) so that it is plain array arithmetic.  The
window view (`windows`) is a strided view of the padded input with shape
(N, OH, OW, KH, KW, C); a convolution is that view contracted with the filter (NumPy copies
the view into an im2col matrix and calls BLAS), and the adjoint of taking windows
(`add_windows`) adds a (N, OH, OW, KH, KW, C) array back into the padded input, one filter tap
at a time.  The ops' `compute` functions (ops/conv.py, ops/pool.py) convert NCHW to NHWC and
back around these.
"""
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import as_strided


@dataclass(frozen=True)
class Geometry:
    """Spatial geometry of a windowed op: per spatial axis (rows, cols) the window size, stride,
    dilation, padding before and after, and input and output size."""
    k: tuple
    s: tuple
    d: tuple
    pad: tuple          # ((top, bottom), (left, right))
    inp: tuple
    out: tuple


def pad_hw(x, pad, value=0):
    (t, b), (l, r) = pad
    if t == b == l == r == 0:
        return x
    return np.pad(x, ((0, 0), (t, b), (l, r), (0, 0)), constant_values=value)


def windows(xp, g):
    """(N, OH, OW, KH, KW, C) view of the padded NHWC array `xp`."""
    n, _, _, c = xp.shape
    s0, s1, s2, s3 = xp.strides
    shape = (n, g.out[0], g.out[1], g.k[0], g.k[1], c)
    strides = (s0, s1 * g.s[0], s2 * g.s[1], s1 * g.d[0], s2 * g.d[1], s3)
    return as_strided(xp, shape, strides, writeable=False)


def _tap(g, i, j):
    """The slices of the padded input that filter tap (i, j) meets over all outputs."""
    r0, c0 = i * g.d[0], j * g.d[1]
    return (slice(None), slice(r0, r0 + g.s[0] * (g.out[0] - 1) + 1, g.s[0]),
            slice(c0, c0 + g.s[1] * (g.out[1] - 1) + 1, g.s[1]), slice(None))


def add_windows(cols, g, n, c, dtype):
    """The adjoint of `windows`: an (N, H, W, C) array whose padded form received each window
    entry of `cols` (N, OH, OW, KH, KW, C) added at its place; the padding is cut off."""
    (t, b), (l, r) = g.pad
    xp = np.zeros((n, g.inp[0] + t + b, g.inp[1] + l + r, c), dtype)
    if g.out[0] and g.out[1]:
        for i in range(g.k[0]):
            for j in range(g.k[1]):
                xp[_tap(g, i, j)] += cols[:, :, :, i, j, :]
    return xp[:, t:t + g.inp[0], l:l + g.inp[1], :]


# Elements of running sums a reference keeps at once (a block of images), so that they stay in
# cache while every tap is added.
CACHE_ELEMENTS = 1 << 16


# --- convolution ---------------------------------------------------------------------------------
def conv2d(x, f, g):
    """out[n, p, q, o] = sum_{i, j, c} xpad[n, p*s0 + i*d0, q*s1 + j*d1, c] * f[i, j, c, o]."""
    win = windows(pad_hw(x, g.pad), g)
    return np.tensordot(win, f, axes=([3, 4, 5], [0, 1, 2])).astype(x.dtype, copy=False)


def conv2d_backprop_input(input_shape, f, dy, g):
    cols = np.tensordot(dy, f, axes=([3], [3]))            # (N, OH, OW, KH, KW, C)
    return add_windows(cols, g, input_shape[0], input_shape[3], dy.dtype)


def conv2d_backprop_filter(x, filter_shape, dy, g):
    win = windows(pad_hw(x, g.pad), g)
    df = np.tensordot(win, dy, axes=([0, 1, 2], [0, 1, 2]))   # (KH, KW, C, O)
    return df.reshape(filter_shape).astype(x.dtype, copy=False)


def depthwise_conv2d(x, f, g):
    """out[n, p, q, c*M + m] = sum_{i, j} xpad[n, p*s0 + i*d0, q*s1 + j*d1, c] * f[i, j, c, m],
    the taps added row-major from +0.0 (an order the cpu kernel, kernels/cpu/depthwise.py,
    follows bit for bit), a few images at a time so that the running sums stay in cache."""
    c, m = f.shape[2], f.shape[3]
    out = np.empty((x.shape[0],) + tuple(g.out) + (c, m), x.dtype)
    step = max(1, CACHE_ELEMENTS // max(1, g.out[0] * g.out[1] * c * m))
    for n0 in range(0, x.shape[0], step):
        win = windows(pad_hw(x[n0:n0 + step], g.pad), g)
        total = out[n0:n0 + step]
        total[...] = 0
        product = np.empty(total.shape[:4], x.dtype)
        for i in range(g.k[0]):
            for j in range(g.k[1]):
                for k in range(m):          # one multiplier at a time: long inner loops
                    total[..., k] += np.multiply(win[:, :, :, i, j, :], f[i, j, :, k],
                                                 out=product)
    return out.reshape(out.shape[:3] + (-1,))


def depthwise_backprop_input(input_shape, f, dy, g):
    """Each tap's part of the input gradient, sum_m dy[..., c*M + m] * f[i, j, c, m] (m in
    order, from +0.0), added back at the windows (`add_windows`: taps row-major); a few
    images at a time."""
    c, m = f.shape[2], f.shape[3]
    dy4 = dy.reshape(dy.shape[:3] + (c, m))
    dx = np.empty(tuple(input_shape), dy.dtype)
    step = max(1, CACHE_ELEMENTS // max(1, g.out[0] * g.out[1] * g.k[0] * g.k[1] * c))
    for n0 in range(0, dx.shape[0], step):
        block = dy4[n0:n0 + step]
        cols = np.zeros(block.shape[:3] + tuple(g.k) + (c,), dy.dtype)
        product = np.empty(block.shape[:3] + (c,), dy.dtype)
        for i in range(g.k[0]):
            for j in range(g.k[1]):
                tap = cols[:, :, :, i, j, :]
                for k in range(m):
                    tap += np.multiply(block[..., k], f[i, j, :, k], out=product)
        dx[n0:n0 + step] = add_windows(cols, g, block.shape[0], c, dy.dtype)
    return dx


def depthwise_backprop_filter(x, filter_shape, dy, g):
    c, m = filter_shape[2], filter_shape[3]
    win = windows(pad_hw(x, g.pad), g)
    df = np.einsum("npqijc,npqcm->ijcm", win, dy.reshape(dy.shape[:3] + (c, m)))
    return df.astype(x.dtype, copy=False)


# --- pooling --------------------------------------------------------------------------------------
def max_pool(x, g):
    """The maximum over each window; padding never wins (it is -inf)."""
    return windows(pad_hw(x, g.pad, -np.inf), g).max(axis=(3, 4))


def _argmax_taps(x, g):
    """For each output (N, OH, OW, C): the window tap holding the first maximum (row-major
    over the window, as TF's CPU kernel; NaN counts as the maximum)."""
    win = windows(pad_hw(x, g.pad, -np.inf), g)
    flat = win.reshape(win.shape[:3] + (-1, win.shape[5]))
    return np.argmax(flat, axis=3)


def max_pool_grad(x, dy, g):
    """Each output's gradient added to the input element its first maximum came from."""
    tap = _argmax_taps(x, g)
    n, _, _, c = x.shape
    cols = np.zeros(dy.shape[:3] + g.k + (c,), dy.dtype)
    for i in range(g.k[0]):
        for j in range(g.k[1]):
            cols[:, :, :, i, j, :] = np.where(tap == i * g.k[1] + j, dy, 0)
    return add_windows(cols, g, n, c, dy.dtype)


def max_pool_grad_grad(x, ddx, g):
    """The gradient of max_pool_grad in its `grad` input: ddx read at each window's argmax."""
    tap = _argmax_taps(x, g)
    win = windows(pad_hw(ddx, g.pad), g)
    flat = win.reshape(win.shape[:3] + (-1, win.shape[5]))
    return np.take_along_axis(flat, tap[:, :, :, None, :], axis=3)[:, :, :, 0, :]


def window_counts(g, dtype):
    """(OH, OW, 1) number of input (not padding) elements in each window."""
    ones = np.ones((1,) + tuple(g.inp) + (1,), dtype)
    return windows(pad_hw(ones, g.pad), g).sum(axis=(3, 4))[0]


def avg_pool(x, g):
    """The mean of each window over its input elements (padding is not counted, as TF).  The
    window is summed tap by tap, row-major, from +0.0: an order of additions that does not
    depend on how NumPy iterates a reduction (`win.sum(axis=(3, 4))` sums a one-channel
    input's windows in another order), which the cpu kernel (kernels/cpu/pool_avg.py)
    follows bit for bit; a few images at a time, so that the sums stay in cache."""
    c = x.shape[3]
    total = np.empty((x.shape[0],) + tuple(g.out) + (c,), x.dtype)
    step = max(1, CACHE_ELEMENTS // max(1, g.out[0] * g.out[1] * c))
    for n0 in range(0, x.shape[0], step):
        win = windows(pad_hw(x[n0:n0 + step], g.pad), g)
        block = total[n0:n0 + step]
        block[...] = 0
        for i in range(g.k[0]):
            for j in range(g.k[1]):
                block += win[:, :, :, i, j, :]
    return (total / window_counts(g, x.dtype)).astype(x.dtype, copy=False)


def avg_pool_grad(input_shape, dy, g):
    share = (dy / window_counts(g, dy.dtype)).astype(dy.dtype, copy=False)
    cols = np.broadcast_to(share[:, :, :, None, None, :], dy.shape[:3] + g.k + (dy.shape[3],))
    return add_windows(cols, g, input_shape[0], input_shape[3], dy.dtype)
