"""Gradient rules for ops/math_extra.py (cf. TF math_grad.py): Cross and the segment
reductions.  Any/All have none (bool)."""
from ...ops import array as A
from ...ops import math as M
from ...ops import math_extra as X
from ..registry import NotDifferentiable, RegisterGradient

for _t in ("Any", "All"):
    NotDifferentiable(_t)


@RegisterGradient("Cross")
def _cross_grad(op, grad):
    u, v = op.inputs
    grad = A.densify(grad)
    return [X.cross(v, grad), X.cross(grad, u)]


@RegisterGradient("SegmentSum")
def _segment_sum_grad(op, grad):
    return [A.gather(A.densify(grad), op.inputs[1]), None]


@RegisterGradient("SegmentMean")
def _segment_mean_grad(op, grad):
    """TF's _SegmentMeanGrad: grad / segment_sum(ones), gathered back to the rows."""
    data, ids = op.inputs
    grad = A.densify(grad)
    r = data.shape.rank
    ones = A.ones_like(ids, dtype=grad.dtype)
    if r is not None:
        ones = A.reshape(ones, [-1] + [1] * (r - 1))
    else:
        ones = A.reshape(ones, A.concat([A.shape(ids), A.fill(A.reshape(A.rank(data) - 1, [1]),
                                                              1)], 0))
    scaled = M.divide(grad, X.segment_sum(ones, ids))
    return [A.gather(scaled, ids), None]


def _segment_min_max_grad(op, grad):
    """TF's _SegmentMinOrMaxGrad: ties share the gradient equally."""
    data, ids = op.inputs
    grad = A.densify(grad)
    zeros = A.zeros_like(data)
    gathered_outputs = A.gather(op.outputs[0], ids)
    is_selected = M.equal(data, gathered_outputs)
    num_selected = X.segment_sum(M.cast(is_selected, grad.dtype), ids)
    weighted_grads = M.divide(grad, num_selected)
    gathered_grads = A.gather(weighted_grads, ids)
    return [M.where_v2(is_selected, gathered_grads, zeros), None]


RegisterGradient("SegmentMax")(_segment_min_max_grad)
RegisterGradient("SegmentMin")(_segment_min_max_grad)


@RegisterGradient("SegmentProd")
def _segment_prod_grad(op, grad):
    """TF's _SegmentProdGrad: exact with one zero in a segment, 0 with two or more."""
    data, ids = op.inputs
    grad = A.densify(grad)
    is_zero = M.equal(data, A.zeros_like(data))
    num_zeros = X.segment_sum(M.cast(is_zero, "int32"), ids)
    grad = M.where_v2(M.greater(num_zeros, 1), A.zeros_like(grad), grad)
    non_zero_data = M.where_v2(is_zero, A.ones_like(data), data)
    non_zero_prod = X.segment_prod(non_zero_data, ids)
    gathered_prod = A.gather(op.outputs[0], ids)
    gathered_non_zero_prod = A.gather(non_zero_prod, ids)
    prod_divided_by_el = gathered_prod / non_zero_data
    partial_derivative = M.where_v2(is_zero, gathered_non_zero_prod, prod_divided_by_el)
    return [A.gather(grad, ids) * partial_derivative, None]


def _gather_drop_negatives(params, ids, zero_clipped_indices=None, is_positive=None):
    """TF's _GatherDropNegatives (rows of negative ids read as 0)."""
    if zero_clipped_indices is None:
        zero_clipped_indices = M.maximum(ids, A.zeros_like(ids))
    gathered = A.gather(params, zero_clipped_indices)
    if is_positive is None:
        is_positive = M.greater_equal(ids, 0)
        extra = (gathered.shape.rank or 0) - (ids.shape.rank or 0)
        for _ in range(extra):
            is_positive = A.expand_dims(is_positive, -1)
        is_positive = M.logical_and(is_positive, A.ones_like(gathered, dtype="bool"))
    return (M.where_v2(is_positive, gathered, A.zeros_like(gathered)), zero_clipped_indices,
            is_positive)


def _unsorted_segment_min_max_grad(op, grad):
    data, ids, num = op.inputs
    grad = A.densify(grad)
    gathered_outputs, zero_clipped, is_positive = _gather_drop_negatives(op.outputs[0], ids)
    is_selected = M.logical_and(M.equal(data, gathered_outputs), is_positive)
    num_selected = A.unsorted_segment_sum(M.cast(is_selected, grad.dtype), ids, num)
    weighted_grads = M.divide(grad, num_selected)
    gathered_grads, _, _ = _gather_drop_negatives(weighted_grads, None, zero_clipped,
                                                  is_positive)
    return [M.where_v2(is_selected, gathered_grads, A.zeros_like(gathered_grads)), None, None]


RegisterGradient("UnsortedSegmentMax")(_unsorted_segment_min_max_grad)
RegisterGradient("UnsortedSegmentMin")(_unsorted_segment_min_max_grad)


@RegisterGradient("UnsortedSegmentProd")
def _unsorted_segment_prod_grad(op, grad):
    data, ids, num = op.inputs
    grad = A.densify(grad)
    is_zero = M.equal(data, A.zeros_like(data))
    num_zeros = A.unsorted_segment_sum(M.cast(is_zero, "int32"), ids, num)
    grad = M.where_v2(M.greater(num_zeros, 1), A.zeros_like(grad), grad)
    non_zero_data = M.where_v2(is_zero, A.ones_like(data), data)
    non_zero_prod = X.unsorted_segment_prod(non_zero_data, ids, num)
    zero_clipped = M.maximum(ids, A.zeros_like(ids))
    gathered_prod = A.gather(op.outputs[0], zero_clipped)
    gathered_non_zero_prod = A.gather(non_zero_prod, zero_clipped)
    prod_divided_by_el = gathered_prod / data
    partial_derivative = M.where_v2(is_zero, gathered_non_zero_prod, prod_divided_by_el)
    gathered_grad = _gather_drop_negatives(grad, ids, zero_clipped)[0]
    return [gathered_grad * partial_derivative, None, None]
