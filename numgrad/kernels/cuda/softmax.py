"""Softmax and LogSoftmax on the device: one thread per row along `axis`.

Each thread makes three passes over its row (max, sum of exponentials, write), in a fixed
order, with a float64 sum: deterministic, and within rounding of the NumPy reference (which
subtracts the row max the same way and treats rows whose max is not finite as max 0).
"""
import math

from numba import cuda

from .registry import register_kernel
from .scalar import exp, log


def _build(log_softmax):
    @cuda.jit
    def softmax(x, out):
        # x, out viewed as (outer, n, inner); one thread per (outer, inner) row
        outer, n, inner = x.shape[0], x.shape[1], x.shape[2]
        for t in range(cuda.grid(1), outer * inner, cuda.gridsize(1)):
            o = t // inner
            e = t - o * inner
            m = -math.inf
            for j in range(n):
                v = x[o, j, e]
                if v > m or v != v:
                    m = v
            if not (m > -math.inf and m < math.inf):
                m = 0.0                             # as the reference: non-finite max -> 0
            s = 0.0
            for j in range(n):
                s += exp(x[o, j, e] - m)
            if log_softmax:
                ls = log(s)
                for j in range(n):
                    out[o, j, e] = (x[o, j, e] - m) - ls
            else:
                for j in range(n):
                    out[o, j, e] = exp(x[o, j, e] - m) / s
    return softmax


_SOFTMAX, _LOG_SOFTMAX = _build(False), _build(True)


@register_kernel("Softmax")
def prepare_softmax(node, launch):
    """Softmax(logits, axis)."""
    return _prepare(node, launch, _SOFTMAX)


@register_kernel("LogSoftmax")
def prepare_log_softmax(node, launch):
    """LogSoftmax(logits, axis)."""
    return _prepare(node, launch, _LOG_SOFTMAX)


def _prepare(node, launch, kernel):
    """Softmax or LogSoftmax (`kernel`) over `axis` of (outer, axis, inner) views."""
    x, out = node.inputs[0], node.outputs[0]
    axis = node.attrs["axis"]
    axis = axis + len(x.shape) if axis < 0 else axis
    outer = 1
    for d in x.shape[:axis]:
        outer *= d
    inner = 1
    for d in x.shape[axis + 1:]:
        inner *= d
    shape3 = (outer, x.shape[axis], inner)

    def run(ins, alloc):
        y = alloc(out.shape, out.dtype)
        if outer * inner * x.shape[axis]:
            kernel[launch.blocks(outer * inner), launch.tpb](ins[0].reshape(shape3),
                                                             y.reshape(shape3))
        return [y], None
    return run
