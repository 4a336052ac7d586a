"""Gradient rules for reductions and scans (cf. TF math_grad.py)."""
import numpy as np

from ...ops import array as A
from ...ops import math as M
from ...ops import reduce as R
from ...ops.complex import conj
from ..registry import RegisterGradient
from ._util import keep_dims, shape_of


def _broadcast_back(op, grad):
    x = op.inputs[0]
    g = keep_dims(grad, x, op.get_attr("axis"), op.get_attr("keepdims"))
    return A.broadcast_to(g, shape_of(x))


@RegisterGradient("Sum")
def _sum_grad(op, grad):
    return [_broadcast_back(op, grad)]


@RegisterGradient("Mean")
def _mean_grad(op, grad):
    x, y = op.inputs[0], op.outputs[0]
    nx, ny = x.shape.num_elements(), y.shape.num_elements()
    if nx is not None and ny is not None:
        factor = M.cast(nx // max(ny, 1), grad.dtype)
    else:
        factor = M.cast(A.size(x), grad.dtype) / M.cast(M.maximum(A.size(y), 1), grad.dtype)
    return [_broadcast_back(op, grad) / factor]


def _min_or_max_grad(op, grad):
    x = op.inputs[0]
    axes, keep = op.get_attr("axis"), op.get_attr("keepdims")
    y = keep_dims(op.outputs[0], x, axes, keep)
    g = keep_dims(grad, x, axes, keep)
    indicators = M.cast(M.equal(y, x), grad.dtype)
    num_selected = R.reduce_sum(indicators, axes, keepdims=True)
    return [(indicators / num_selected) * g]


RegisterGradient("Max")(_min_or_max_grad)
RegisterGradient("Min")(_min_or_max_grad)


@RegisterGradient("Prod")
def _prod_grad(op, grad):
    """Exclusive cumulative products from both sides: exact where inputs are zero."""
    x = op.inputs[0]
    rank = x.shape.rank
    if rank is None:
        raise ValueError(f"reduce_prod gradient needs an input of known rank ('{x.name}')")
    g = _broadcast_back(op, grad)
    axes = op.get_attr("axis")
    reduced = list(range(rank)) if axes is None else list(axes)
    # No shortcut for a product over no axes (a rank-0 input, axis=[]): TF's _ProdGrad builds
    # the cumprod path there too, so the gradient stays connected to x for second derivatives
    # (zeros, not None: d/dx of d reduce_prod(reduce_max(x))/dx is a zero Tensor in TF).
    other = [i for i in range(rank) if i not in reduced]
    perm = reduced + other
    permuted = A.transpose(x, perm)
    if x.shape.is_fully_defined():
        dims = x.shape.as_list()
        reduced_num = int(np.prod([dims[i] for i in reduced], dtype=np.int64))
        reshaped = A.reshape(permuted, [reduced_num, -1])
        permuted_shape = [dims[i] for i in perm]
    else:
        shp = A.shape(x)
        reduced_num = R.reduce_prod(A.gather(shp, np.array(reduced, np.int32)))
        reshaped = A.reshape(permuted, A.stack([reduced_num, -1]))
        permuted_shape = A.shape(permuted)
    left = R.cumprod(reshaped, axis=0, exclusive=True)
    right = R.cumprod(reshaped, axis=0, exclusive=True, reverse=True)
    y = A.reshape(conj(left * right), permuted_shape)    # conj: complex inputs, as TF
    inv = tuple(int(i) for i in np.argsort(perm))
    return [g * A.transpose(y, inv)]


@RegisterGradient("Cumprod")
def _cumprod_grad(op, grad):
    """TF 2.x's _CumprodGrad: the cumprod is recomputed from x (not read from the op's output,
    so stop_gradients on the output does not cut it) and divided with div_no_nan (a zero in x
    gives 0 there, not inf/NaN)."""
    x = op.inputs[0]
    axis, exclusive, reverse = (op.get_attr(k) for k in ("axis", "exclusive", "reverse"))
    prod = R.cumprod(x, axis, exclusive=exclusive, reverse=reverse)
    out = R.cumsum(prod * grad, axis, exclusive=exclusive, reverse=not reverse)
    return [M.div_no_nan(out, x)]


@RegisterGradient("Cumsum")
def _cumsum_grad(op, grad):
    axis, exclusive, reverse = (op.get_attr(k) for k in ("axis", "exclusive", "reverse"))
    return [R.cumsum(grad, axis, exclusive=exclusive, reverse=not reverse)]
