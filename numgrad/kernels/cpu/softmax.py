"""Softmax, log-softmax and softmax cross-entropy over the last axis: one pass per row.

The NumPy versions (numgrad/ops/nn.py) make about a dozen whole-array passes and temporaries;
for W3's (256, 10) logits that was 0.26 ms of a 5 ms training step.  These kernels keep a row
in registers and match the NumPy versions' semantics exactly: the row maximum is subtracted
(0 instead when it is NaN or infinite), so a row holding +inf gives NaN where NumPy does.
They run on the calling thread (rows are short; the cost is the dispatch).
"""
import numpy as np
from numba import njit

from .. import vecmath as vm
from .registry import register_kernel

# no cfunc wrapper (nothing calls these through a C pointer; it costs compile time),
# and none for the Python calls of the helpers only njit code calls (_inner)
_jit = dict(cache=True, nogil=True, error_model="numpy", no_cfunc_wrapper=True)
_inner = dict(_jit, no_cpython_wrapper=True)


@njit(**_inner)
def _shifted_exp(x, e):
    """e = exp(x - m) and the row sums of e, where m is each row's max, or 0 where that is
    not finite (NaN or an infinity), as in NumPy's version; in x's dtype, like NumPy.
    The exponentials are one flat loop, which vectorises (rows are often ~10 long)."""
    rows, n = x.shape
    m = np.zeros(rows, x.dtype)
    for r in range(rows):
        mr = x[r, 0]
        for j in range(1, n):
            v = x[r, j]
            if v > mr or v != v:
                mr = v
                if v != v:
                    break
        if np.isfinite(mr):
            m[r] = mr
    for r in range(rows):
        for j in range(n):
            e[r, j] = x[r, j] - m[r]
    ef = e.reshape(-1)
    for i in range(ef.size):
        ef[np.uint64(i)] = vm.exp(ef[np.uint64(i)])
    t = np.zeros(rows)
    for r in range(rows):
        for j in range(n):
            t[r] += e[r, j]
    return m, t


@njit(**_jit)
def log_softmax_rows(x, out):
    m, t = _shifted_exp(x, out)
    for r in range(x.shape[0]):
        lse = np.log(t[r])
        for j in range(x.shape[1]):
            out[r, j] = (x[r, j] - m[r]) - lse


@njit(**_jit)
def softmax_rows(x, out):
    m, t = _shifted_exp(x, out)
    for r in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[r, j] = out[r, j] / t[r]


@njit(**_jit)
def softmax_xent_rows(logits, labels, loss, backprop):
    m, t = _shifted_exp(logits, backprop)
    for r in range(logits.shape[0]):
        lse = np.log(t[r])
        acc = 0.0
        for j in range(logits.shape[1]):
            # labels * (lse - shifted), as TF's kernel: a zero loss is +0.0, not -0.0
            acc += labels[r, j] * (lse - (logits[r, j] - m[r]))
            backprop[r, j] = backprop[r, j] / t[r] - labels[r, j]
        loss[r] = acc


def _last_axis_rows(x, axis):
    """`x` as a C-contiguous (rows, last) array when `axis` is its last axis, else None."""
    if x.ndim == 0 or axis not in (-1, x.ndim - 1) or x.dtype.kind != "f" or x.size == 0:
        return None
    return np.ascontiguousarray(x).reshape(-1, x.shape[-1])


def _over_rows(kernel):
    """The OPAQUE entry for a one-input, one-output row kernel (last axis only)."""
    def run(vals, attrs):
        x = vals[0]
        rows = _last_axis_rows(x, attrs["axis"])
        if rows is None:
            return None
        out = np.empty(rows.shape, x.dtype)
        kernel(rows, out)
        return [out.reshape(x.shape)]
    return run


softmax = register_kernel("Softmax")(_over_rows(softmax_rows))
log_softmax = register_kernel("LogSoftmax")(_over_rows(log_softmax_rows))


@register_kernel("SoftmaxCrossEntropyWithLogits")
def softmax_cross_entropy(vals, attrs):
    logits, labels = vals
    rows = _last_axis_rows(logits, -1)
    if rows is None or labels.shape != logits.shape or labels.dtype != logits.dtype:
        return None
    loss = np.empty(rows.shape[0], logits.dtype)
    backprop = np.empty(rows.shape, logits.dtype)
    softmax_xent_rows(rows, np.ascontiguousarray(labels).reshape(rows.shape), loss, backprop)
    return [loss, backprop]
