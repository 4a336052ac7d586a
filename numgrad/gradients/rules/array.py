"""Gradient rules for array ops (cf. TF array_grad.py)."""
import numpy as np

from ... import dtypes as _dt
from ...indexed_slices import IndexedSlices
from ...ops import array as A
from ...ops import math as M
from ...ops import reduce as R
from ..registry import NotDifferentiable, RegisterGradient
from ._util import dim, make_shape, reduce_to, shape_of

for _t in ("Const", "Placeholder", "StopGradient", "ZerosLike", "OnesLike", "Shape", "Size",
           "Rank", "NoOp"):
    NotDifferentiable(_t)


def _reshape_back(op, grad):
    return [A.reshape(grad, shape_of(op.inputs[0]))] + [None] * (len(op.inputs) - 1)


for _t in ("Reshape", "ExpandDims", "Squeeze"):
    RegisterGradient(_t)(_reshape_back)


@RegisterGradient("IdentityN")
def _identity_n_grad(op, *grads):
    return list(grads)


@RegisterGradient("Fill")
def _fill_grad(op, grad):
    return [None, R.reduce_sum(grad)]


@RegisterGradient("BroadcastTo")
def _broadcast_to_grad(op, grad):
    return [reduce_to(grad, op.inputs[0]), None]


@RegisterGradient("SumToShape")
def _sum_to_shape_grad(op, grad):
    g_in = op.inputs[0]
    return [A.broadcast_to(grad, shape_of(g_in)), None]


@RegisterGradient("Transpose")
def _transpose_grad(op, grad):
    perm = op.get_attr("perm")
    if perm is None:            # full reversal is its own inverse
        return [A.transpose(grad)]
    return [A.transpose(grad, tuple(int(i) for i in np.argsort(perm)))]


def _dense_shape_of(x):
    if x.shape.is_fully_defined():
        return A.convert_to_tensor(x.shape.as_list(), dtype=_dt.int32)
    return A.shape(x)


def _concat_sparse_grad(op, grad, axis):
    """TF's _ConcatGradHelper for IndexedSlices: each input gets IndexedSlices.  Axis 0: the
    rows of grad.indices that fall in the input's range, shifted to start at 0; another axis:
    all the indices, with grad.values sliced along that axis."""
    out = []
    if axis == 0:
        idx = grad.indices
        start = 0
        for x in op.inputs:
            size = dim(x, 0)
            if not isinstance(size, int):
                size = M.cast(size, idx.dtype)
            end = start + size
            picked = A.squeeze(M.where(M.logical_and(M.greater_equal(idx, start),
                                                     M.less(idx, end))), axis=[1])
            out.append(IndexedSlices(A.gather(grad.values, picked),
                                     A.gather(idx, picked) - start, _dense_shape_of(x)))
            start = end
        return out
    begin = 0
    for x in op.inputs:
        size = x.shape[axis]
        key = (slice(None),) * axis + (slice(begin, begin + size),)
        out.append(IndexedSlices(A.strided_slice(grad.values, key), grad.indices,
                                 _dense_shape_of(x)))
        begin += size
    return out


@RegisterGradient("ConcatV2")
def _concat_grad(op, grad):
    axis = op.get_attr("axis")
    if isinstance(grad, IndexedSlices) and axis >= 0 and (
            axis == 0 or all(x.shape.rank is not None and x.shape[axis] is not None
                             for x in op.inputs)):
        return _concat_sparse_grad(op, grad, axis)
    sizes = [dim(x, axis) for x in op.inputs]
    parts = A.split_v(A.densify(grad), make_shape(sizes), axis)
    return parts


@RegisterGradient("SplitV")
def _split_v_grad(op, *grads):
    return [A.concat(list(grads), op.get_attr("axis")), None]


@RegisterGradient("Pack")
def _pack_grad(op, grad):
    return A.unstack(grad, num=len(op.inputs), axis=op.get_attr("axis"))


@RegisterGradient("Unpack")
def _unpack_grad(op, *grads):
    return [A.stack(list(grads), axis=op.get_attr("axis"))]


@RegisterGradient("Tile")
def _tile_grad(op, grad):
    x = op.inputs[0]
    multiples = op.get_attr("multiples")
    interleaved = []
    for i, m in enumerate(multiples):
        interleaved += [m, dim(x, i)]
    split = A.reshape(grad, make_shape(interleaved))
    summed = R.reduce_sum(split, list(range(0, 2 * len(multiples), 2)))
    return [A.reshape(summed, shape_of(x)) if len(multiples) else grad]


@RegisterGradient("StridedSlice")
def _strided_slice_grad(op, grad):
    return [A.strided_slice_grad(A.shape(op.inputs[0]) if not op.inputs[0].shape.is_fully_defined()
                                 else A.convert_to_tensor(op.inputs[0].shape.as_list(), dtype=_dt.int32),
                                 A.densify(grad), op.get_attr("spec"))]


@RegisterGradient("StridedSliceGrad")
def _strided_slice_grad_grad(op, grad):
    return [None, A.strided_slice(grad, op.get_attr("spec"))]


@RegisterGradient("GatherV2")
def _gather_grad(op, grad):
    params, indices = op.inputs
    axis = op.get_attr("axis")
    params_shape = A.shape(params) if not params.shape.is_fully_defined() else \
        A.convert_to_tensor(params.shape.as_list(), dtype=_dt.int32)
    flat_indices = A.reshape(indices, [-1])
    if axis == 0 and op.attrs.get("axis_arg", axis) == 0:   # TF: axis literally 0
        n = indices.shape.num_elements()
        n = n if n is not None else A.size(indices)
        tail = [dim(params, i) for i in range(1, params.shape.rank)]
        values = A.reshape(grad, make_shape([n] + tail))
        return [IndexedSlices(values, flat_indices, params_shape), None]
    # Other axes: dense, via unsorted_segment_sum along a transposed view.
    rank = params.shape.rank
    lead = [dim(params, i) for i in range(axis)]
    tail = [dim(params, i) for i in range(axis + 1, rank)]
    n = indices.shape.num_elements()
    n = n if n is not None else A.size(indices)
    g = A.reshape(grad, make_shape(lead + [n] + tail))
    perm = [axis] + list(range(axis)) + list(range(axis + 1, rank))
    summed = A.unsorted_segment_sum(A.transpose(g, perm), flat_indices, dim(params, axis))
    return [A.transpose(summed, tuple(int(i) for i in np.argsort(perm))), None]


@RegisterGradient("UnsortedSegmentSum")
def _unsorted_segment_sum_grad(op, grad):
    ids = op.inputs[1]
    """TF's _GatherDropNegatives: gather at max(ids, 0), then *select* zeros where an id is
    negative (a mask product would turn an inf or NaN of the clamped row into NaN)."""
    safe = M.maximum(ids, 0)
    gathered = A.gather(grad, safe)
    keep = M.greater_equal(ids, 0)
    extra = (gathered.shape.rank or 0) - (ids.shape.rank or 0)
    for _ in range(extra):
        keep = A.expand_dims(keep, -1)
    return [M.where_v2(keep, gathered, A.zeros_like(gathered)), None, None]
