"""Gradient rules for numgrad/ops/array_extra.py (cf. TF array_grad.py, manip_grad.py,
nn_grad.py's _TopKGrad)."""
import builtins

import numpy as np

from ...ops import array as A
from ...ops import array_extra as X
from ...ops import math as M
from ...ops import reduce as R
from ...ops.core import constant
from ..registry import NotDifferentiable, RegisterGradient
from ._util import shape_of

for _t in ("Range", "OneHot", "ArgMax", "ArgMin"):
    NotDifferentiable(_t)


@RegisterGradient("PlaceholderWithDefault")
def _pwd_grad(op, grad):
    return [grad]


@RegisterGradient("Split")
def _split_grad(op, *grads):
    return [A.concat(list(grads), op.get_attr("axis"))]


@RegisterGradient("PadV2")
def _pad_grad(op, grad):
    """TF's _PadGrad: the slice of grad where x sits; constant_values gets None."""
    x = op.inputs[0]
    spec = []
    for i, (b, a) in enumerate(op.get_attr("paddings")):
        d = x.shape[i] if x.shape.rank is not None else None
        spec.append(builtins.slice(b, b + d if d is not None else (-a if a else None)))
    return [A.strided_slice(A.densify(grad), tuple(spec)), None]


@RegisterGradient("MirrorPad")
def _mirror_pad_grad(op, grad):
    return [X.mirror_pad_grad(A.densify(grad), op.get_attr("paddings"), op.get_attr("mode"))]


@RegisterGradient("MirrorPadGrad")
def _mirror_pad_grad_grad(op, grad):
    return [X.pad(grad, op.get_attr("paddings"), mode=op.get_attr("mode"))]


@RegisterGradient("ReverseV2")
def _reverse_grad(op, grad):
    return [X.reverse(A.densify(grad), op.get_attr("axis"))]


@RegisterGradient("Roll")
def _roll_grad(op, grad):
    shift = op.get_attr("shift")
    return [X.roll(A.densify(grad), [-s for s in shift], op.get_attr("axis"))
            if shift else grad]


@RegisterGradient("GatherNd")
def _gather_nd_grad(op, grad):
    params, indices = op.inputs
    shape = shape_of(params)
    if isinstance(shape, list):
        shape = constant(np.asarray(shape, indices.dtype.np))
    elif shape.dtype != indices.dtype:
        shape = M.cast(shape, indices.dtype)
    return [X.scatter_nd(indices, A.densify(grad), shape), None]


@RegisterGradient("ScatterNd")
def _scatter_nd_grad(op, grad):
    return [None, X.gather_nd(A.densify(grad), op.inputs[0]), None]


@RegisterGradient("TensorScatterUpdate")
def _tensor_scatter_update_grad(op, grad):
    _, indices, updates = op.inputs
    grad = A.densify(grad)
    return [X.tensor_scatter_nd_update(grad, indices, A.zeros_like(updates)), None,
            X.gather_nd(grad, indices)]


@RegisterGradient("TensorScatterAdd")
def _tensor_scatter_add_grad(op, grad):
    grad = A.densify(grad)
    return [grad, None, X.gather_nd(grad, op.inputs[1])]


@RegisterGradient("TopKV2")
def _top_k_grad(op, grad, _):
    """TF's _TopKGrad: the values' gradient added (segment sum) at the flat positions of the
    indices in the input."""
    x = op.inputs[0]
    idx = op.outputs[1]
    grad = A.densify(grad)
    if x.shape.is_fully_defined() and idx.shape.is_fully_defined():
        n = x.shape[-1]
        k = idx.shape[-1]
        rows = x.shape.num_elements() // n if n else 0
        ind2d = A.reshape(idx, [-1, k])
        offsets = constant(np.arange(0, rows * n, n, dtype=np.int32).reshape(-1, 1)) if n else \
            constant(np.zeros((0, 1), np.int32))
        ind = A.reshape(ind2d + offsets, [-1])
        total = constant(np.int32(x.shape.num_elements()))
        summed = A.unsorted_segment_sum(A.reshape(grad, [-1]), ind, total)
        return [A.reshape(summed, x.shape.as_list())]
    in_shape = A.shape(x)
    n = A.strided_slice(in_shape, -1)
    k = A.strided_slice(A.shape(idx), -1)
    ind2d = A.reshape(idx, A.stack([constant(np.int32(-1)), k]))
    rows = A.strided_slice(A.shape(ind2d), 0)
    offsets = A.expand_dims(X.range(0, rows * n, n), -1)
    ind = A.reshape(ind2d + offsets, [-1])
    summed = A.unsorted_segment_sum(A.reshape(grad, [-1]), ind, R.reduce_prod(in_shape))
    return [A.reshape(summed, in_shape)]

