"""Issue 17, math part: the non-elementwise tf.math names.

Ops of their own where TF has one (Any, All, Cross, the Segment* and UnsortedSegment{Max,Min,
Prod} reductions); the rest (reduce_logsumexp, reduce_variance/std, norm, count_nonzero,
log_sigmoid, logical_xor, polyval, unsorted_segment_mean) are composed from existing ops as
TF's Python builds them, so their gradients (and second derivatives) follow from the rules of
those ops.  The elementwise ones live in ops/math.py's UNARY/BINARY tables.
"""
import functools

import numpy as np

from .. import dtypes as _dt
from ..errors import InvalidArgumentError
from ..graph import Tensor, name_scope
from ..tensor_shape import TensorShape
from . import array as _array
from . import math as _math
from . import reduce as _reduce
from .common import NUMERIC, NUMERIC_C, check_dtype, format_shape as _fmt
from .complex import conj
from .core import constant_value, convert_to_tensor, make_op
from .reduce import normalize_axes, reduced_shape
from .registry import register_op


def _scope(x, name, default, values=()):
    g = x.graph if isinstance(x, Tensor) else None
    if g is None:
        from ..graph import get_default_graph
        g = get_default_graph()
    return g, name_scope(name, default, list(values))


def _axis_kw(axis, keepdims, reduction_indices=None, keep_dims=None):
    if axis is None:
        axis = reduction_indices
    if keepdims is None:
        keepdims = bool(keep_dims) if keep_dims is not None else False
    return axis, bool(keepdims)


# --- reduce_any / reduce_all ------------------------------------------------------------------
def _bool_reduce_infer(inputs, attrs):
    x, = inputs
    if not x.dtype.is_bool:
        raise TypeError(f"input '{x.name}' has dtype {x.dtype.name}, which is not in the list "
                        "of allowed dtypes: bool")
    return [(_dt.bool_, reduced_shape(x.shape, attrs["axis"], attrs["keepdims"]))]


def _bool_reduce(fn):
    def compute(v, a):
        axis = None if a["axis"] is None else tuple(a["axis"])
        return [np.asarray(fn(v[0], axis=axis, keepdims=a["keepdims"]), dtype=np.bool_)]
    return compute


register_op("Any", _bool_reduce_infer, _bool_reduce(np.any), kind="opaque")
register_op("All", _bool_reduce_infer, _bool_reduce(np.all), kind="opaque")


def _make_bool_reduce(op_type, public):
    def f(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
          keep_dims=None):
        axis, keepdims = _axis_kw(axis, keepdims, reduction_indices, keep_dims)
        x = convert_to_tensor(input_tensor)
        axes = normalize_axes(axis, x, public)
        return make_op(op_type, [x], {"axis": axes, "keepdims": keepdims}, name).outputs[0]
    f.__name__ = f.__qualname__ = public
    f.__doc__ = (f"tf.math.{public}(input_tensor, axis=None, keepdims=False): logical "
                 f"{'or' if op_type == 'Any' else 'and'} of bool elements over static axes "
                 "(TF op {op_type}; not differentiable).")
    return f


reduce_any = _make_bool_reduce("Any", "reduce_any")
reduce_all = _make_bool_reduce("All", "reduce_all")


# --- composed reductions ----------------------------------------------------------------------
def reduce_logsumexp(input_tensor, axis=None, keepdims=None, name=None, reduction_indices=None,
                     keep_dims=None):
    """log(sum(exp(x), axis)), computed as TF does: the (finite) max is subtracted first and
    held constant by stop_gradient, so the gradient is softmax(x) and inf/-inf rows work."""
    axis, keepdims = _axis_kw(axis, keepdims, reduction_indices, keep_dims)
    x = convert_to_tensor(input_tensor)
    g, scope = _scope(x, name, "ReduceLogSumExp", [x])
    with g._transaction(), scope:
        raw_max = _reduce.reduce_max(x, axis, keepdims=True)
        my_max = _array.stop_gradient(
            _math.where_v2(_math.is_finite(raw_max), raw_max, _array.zeros_like(raw_max)))
        result = _math.log(_reduce.reduce_sum(_math.exp(_math.subtract(x, my_max)), axis,
                                              keepdims=keepdims))
        if not keepdims:
            my_max = _array.reshape(my_max, result.shape.as_list()
                                    if result.shape.is_fully_defined() else _array.shape(result))
        return _math.add(result, my_max)


def reduce_variance(input_tensor, axis=None, keepdims=False, name=None):
    """tf.math.reduce_variance: mean(|x - mean(x)|^2) over `axis` (population variance)."""
    x = convert_to_tensor(input_tensor)
    if not x.dtype.is_floating:
        raise TypeError(f"reduce_variance: input '{x.name}' must be floating, got "
                        f"{x.dtype.name}")
    g, scope = _scope(x, name, "reduce_variance", [x])
    with g._transaction(), scope:
        means = _reduce.reduce_mean(x, axis, keepdims=True)
        squared_deviations = _math.square(_math.abs(_math.subtract(x, means)))
        return _reduce.reduce_mean(squared_deviations, axis, keepdims=bool(keepdims))


def reduce_std(input_tensor, axis=None, keepdims=False, name=None):
    """tf.math.reduce_std: sqrt(reduce_variance(x, axis))."""
    x = convert_to_tensor(input_tensor)
    g, scope = _scope(x, name, "reduce_std", [x])
    with g._transaction(), scope:
        return _math.sqrt(reduce_variance(x, axis, keepdims))


def reduce_euclidean_norm(input_tensor, axis=None, keepdims=False, name=None):
    """tf.math.reduce_euclidean_norm: sqrt(sum(x^2, axis)). Composed (TF has an
    EuclideanNorm op): the same values and gradient x * grad / norm (NaN at a zero norm, as
    TF's)."""
    x = convert_to_tensor(input_tensor)
    g, scope = _scope(x, name, "reduce_euclidean_norm", [x])
    with g._transaction(), scope:
        if x.dtype.is_integer:   # TF's op takes integers; the root is truncated
            xf = _math.cast(x, _dt.float64)
            return _math.cast(_math.floor(_math.sqrt(
                _reduce.reduce_sum(_math.square(xf), axis, keepdims=bool(keepdims)))), x.dtype)
        return _math.sqrt(_reduce.reduce_sum(_math.square(x), axis, keepdims=bool(keepdims)))


def count_nonzero(input_tensor=None, axis=None, keepdims=None, dtype=_dt.int64, name=None,
                  reduction_indices=None, keep_dims=None, input=None):  # noqa: A002
    """tf.math.count_nonzero: reduce_sum(cast(x != 0, dtype), axis) (bool: the true count)."""
    if input_tensor is None:
        input_tensor = input
    axis, keepdims = _axis_kw(axis, keepdims, reduction_indices, keep_dims)
    x = convert_to_tensor(input_tensor)
    g, scope = _scope(x, name, "count_nonzero", [x])
    with g._transaction(), scope:
        zero = _array.zeros_like(x)
        return _math.cast(_reduce.reduce_sum(
            _math.cast(_math.not_equal(x, zero), _dt.int64), axis, keepdims=keepdims), dtype)


def _norm_axes(axis, x):
    if axis is None:
        return None
    if isinstance(axis, (list, tuple)):
        if len(axis) == 2 and all(isinstance(a, (int, np.integer)) for a in axis):
            return tuple(int(a) for a in axis)
        if len(axis) == 1:
            return int(axis[0])
    if isinstance(axis, (int, np.integer)):
        return int(axis)
    raise ValueError(f"'axis' must be None, an integer, or a tuple of 2 unique integers, got "
                     f"{axis}")


def norm(tensor, ord="euclidean", axis=None, keepdims=None, name=None,  # noqa: A002
         keep_dims=None):
    """tf.norm (v1 tf.norm): vector norms (ord 'euclidean', 1, 2, np.inf or any p > 0) over
    one axis or all of them, matrix norms ('euclidean'/'fro', 1, np.inf) over a pair of axes.

    As TF's linalg_ops.norm: built from abs/reduce_sum/reduce_max/pow/sqrt, keepdims=True
    internally and squeezed at the end.  The matrix 2-norm (largest singular value) needs an
    SVD: as TF, the two axes are moved last, the singular values computed (svd without u, v;
    its gradient recomputes them) and their maximum taken."""
    if keepdims is None:
        keepdims = bool(keep_dims) if keep_dims is not None else False
    tensor = convert_to_tensor(tensor)
    ax = _norm_axes(axis, tensor)
    is_matrix_norm = isinstance(ax, tuple)
    if is_matrix_norm:
        if ax[0] == ax[1]:
            raise ValueError(f"'axis' must be None, an integer, or a tuple of 2 unique "
                             f"integers, got {axis}")
        supported = ["euclidean", "fro", 1, 2, np.inf]
        if ord not in supported:
            raise ValueError(f"'ord' must be a supported matrix norm in {supported}, got {ord}")
        if ord == 2 and tensor.shape.rank is None:
            raise ValueError("norm: the matrix 2-norm needs a tensor of known rank")
    else:
        if not (isinstance(ord, str) and ord == "euclidean"
                or not isinstance(ord, str) and ord > 0):
            raise ValueError(f"'ord' must be a supported vector norm, got {ord}")
    r = tensor.shape.rank
    if is_matrix_norm and r is not None:
        for a in ax:
            if not -r <= a < r:
                raise ValueError(f"'axis' must be None, an integer, or a tuple of 2 unique "
                                 f"integers, got {axis}")
    g, scope = _scope(tensor, name, "norm", [tensor])
    with g._transaction(), scope:
        red_axis = list(ax) if is_matrix_norm else ax
        if ord == 2 and is_matrix_norm:
            result = _matrix_2_norm(tensor, ax)
        elif ord == "euclidean" or ord == "fro" or (ord == 2 and not is_matrix_norm):
            result = _math.sqrt(_reduce.reduce_sum(tensor * conj(tensor), red_axis,
                                                   keepdims=True))
        else:
            result = _math.abs(tensor)
            if ord == 1:
                if is_matrix_norm:
                    result = _reduce.reduce_sum(result, ax[0], keepdims=True)
                    result = _reduce.reduce_max(result, ax[1], keepdims=True)
                else:
                    result = _reduce.reduce_sum(result, red_axis, keepdims=True)
            elif ord == np.inf:
                if is_matrix_norm:
                    result = _reduce.reduce_sum(result, ax[1], keepdims=True)
                    result = _reduce.reduce_max(result, ax[0], keepdims=True)
                else:
                    result = _reduce.reduce_max(result, red_axis, keepdims=True)
            else:
                o = convert_to_tensor(np.asarray(ord, tensor.dtype.np))
                result = _math.pow(_reduce.reduce_sum(_math.pow(result, o), red_axis,
                                                      keepdims=True), 1.0 / o)
        if not keepdims:
            result = _array.squeeze(result, list(ax) if is_matrix_norm else
                                    (None if ax is None else [ax]))
        return result


def _matrix_2_norm(tensor, ax):
    """max |singular value| over axes `ax` (kept as size-1 dims), built as TF builds it."""
    from . import linalg as _linalg
    r = tensor.shape.rank
    pos = [a % r for a in ax]
    perm_before = [i for i in range(r) if i not in pos] + pos
    perm_after = [perm_before.index(i) for i in range(r)]
    permed = _array.transpose(tensor, perm_before)
    s = _linalg.svd(permed, compute_uv=False)
    m = _array.expand_dims(_reduce.reduce_max(_math.abs(s), -1, keepdims=True), -1)
    return _array.transpose(m, perm_after)


# --- elementwise composites -------------------------------------------------------------------
def log_sigmoid(x, name=None):
    """tf.math.log_sigmoid: -softplus(-x), as TF builds it (stable for large |x|)."""
    x = convert_to_tensor(x)
    g, scope = _scope(x, name, "LogSigmoid", [x])
    with g._transaction(), scope:
        return _math.negative(_math.softplus(_math.negative(x)))


def logical_xor(x, y, name="LogicalXor"):
    """tf.math.logical_xor: (x | y) & ~(x & y), as TF builds it (bool, broadcasting)."""
    x = convert_to_tensor(x)
    y = convert_to_tensor(y)
    g, scope = _scope(x, name, "LogicalXor", [x, y])
    with g._transaction(), scope:
        return _math.logical_and(_math.logical_or(x, y),
                                 _math.logical_not(_math.logical_and(x, y)))


def polyval(coeffs, x, name=None):
    """tf.math.polyval: coeffs[0] * x^(n-1) + ... + coeffs[n-1], by Horner's rule (coeffs is
    a Python list of tensors/numbers; an empty list gives zeros_like(x))."""
    if not isinstance(coeffs, (list, tuple)):
        raise ValueError(f"Argument coeffs must be list type found {type(coeffs)}.")
    x = convert_to_tensor(x)
    g, scope = _scope(x, name, "polyval", [x])
    with g._transaction(), scope:
        if not coeffs:
            return _array.zeros_like(x)
        coeffs = [c if isinstance(c, Tensor) else convert_to_tensor(c, dtype=x.dtype)
                  for c in coeffs]
        p = coeffs[0]
        for c in coeffs[1:]:
            p = c + p * x
        return p


# --- Cross ------------------------------------------------------------------------------------
def _cross_infer(inputs, attrs):
    a, b = inputs
    if a.dtype != b.dtype:
        raise TypeError(f"a '{a.name}' ({a.dtype.name}) and b '{b.name}' ({b.dtype.name}) must "
                        "have the same dtype")
    check_dtype(a.dtype, NUMERIC, f"input '{a.name}'")
    if not a.shape.is_compatible_with(b.shape):
        raise ValueError(f"Dimensions must be equal: a and b must have the same shape, got "
                         f"{_fmt(a.shape)} and {_fmt(b.shape)}")
    shape = a.shape.merge_with(b.shape)
    if shape.rank is not None:
        if shape.rank < 1:
            raise ValueError(f"Shape must be at least rank 1 but is rank 0 for '{a.name}'")
        if shape[-1] is not None and shape[-1] != 3:
            raise ValueError(f"Dimension must be 3 but is {shape[-1]} (the inner-most "
                             f"dimension of {_fmt(shape)})")
    return [(a.dtype, shape)]


register_op("Cross", _cross_infer,
            lambda v, a: [np.cross(v[0], v[1]).astype(v[0].dtype)], kind="opaque")


def cross(a, b, name=None):
    """tf.linalg.cross: pairwise 3-vector cross products over the last dimension (TF op
    Cross; no broadcasting)."""
    a = convert_to_tensor(a)
    b = convert_to_tensor(b, dtype=a.dtype) if not isinstance(b, Tensor) else b
    return make_op("Cross", [a, b], name=name).outputs[0]


# --- segment reductions -----------------------------------------------------------------------
def _seg_reduce_np(kind, data, ids, num, dtype):
    """Reduce rows of data (leading dims = ids' shape) into `num` segments; ids < 0 dropped."""
    tail = data.shape[ids.ndim:]
    flat_ids = ids.reshape(-1)
    rows = data.reshape(flat_ids.shape + tail)      # (not -1: the tail may hold a 0)
    keep = flat_ids >= 0
    flat_ids, rows = flat_ids[keep], rows[keep]
    if kind == "sum" or kind == "mean":
        out = np.zeros((num,) + tail, dtype)
        np.add.at(out, flat_ids, rows)
        if kind == "mean":
            return mean_from_sums(out, np.bincount(flat_ids, minlength=num), dtype)
        return out.astype(dtype)
    if kind == "prod":
        out = np.ones((num,) + tail, dtype)
        np.multiply.at(out, flat_ids, rows)
        return out
    info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
    lowest, highest = info.min, info.max     # TF: the lowest/highest finite value, not -inf/inf
    if kind == "max":
        out = np.full((num,) + tail, lowest, dtype)
        np.maximum.at(out, flat_ids, rows)
    else:
        out = np.full((num,) + tail, highest, dtype)
        np.minimum.at(out, flat_ids, rows)
    return out


def mean_from_sums(sums, counts, dtype):
    """Each segment's sum (num, *tail) divided by its row count (num,): a float dtype divides
    in float64 and rounds to `dtype`, an integer one floor-divides; an empty segment is 0.
    Shared with the cpu kernel (kernels/cpu/segment_reduce.py), whose bits must match."""
    cnt = counts.reshape((counts.shape[0],) + (1,) * (sums.ndim - 1))
    with np.errstate(all="ignore"):
        out = np.where(cnt > 0, sums / np.maximum(cnt, 1), 0) if dtype.kind in "fc" else \
            np.where(cnt > 0, sums // np.maximum(cnt, 1), 0)
    return out.astype(dtype)


def _check_ids(ids, num, sorted_ids, op_name):
    if not sorted_ids:
        if ids.size and ids.max() >= num:
            raise InvalidArgumentError(f"{op_name}: segment_ids[{int(np.argmax(ids))}] = "
                                       f"{int(ids.max())} is out of range [0, {num})")
        return
    if ids.size and ids.min() < 0:
        raise InvalidArgumentError(f"{op_name}: segment ids must be >= 0")
    if ids.size and np.any(np.diff(ids) < 0):
        raise InvalidArgumentError(f"{op_name}: segment ids are not increasing")


# sums, means and products take complex data too (TF's number types); max/min need an order
_COMPLEX_KINDS = ("sum", "mean", "prod")


def _segment_infer(inputs, attrs, allowed=NUMERIC):
    data, ids = inputs
    check_dtype(data.dtype, allowed, f"data '{data.name}'")
    if not ids.dtype.is_integer:
        raise TypeError(f"segment_ids '{ids.name}' must be int32/int64, got {ids.dtype.name}")
    if ids.shape.rank is not None and ids.shape.rank != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {ids.shape.rank} for segment_ids "
                         f"'{ids.name}' ({_fmt(ids.shape)})")
    if data.shape.rank is None:
        return [(data.dtype, TensorShape(None))]
    if data.shape.rank < 1:
        raise ValueError(f"Shape must be at least rank 1 but is rank 0 for data '{data.name}'")
    if not TensorShape([data.shape[0]]).is_compatible_with(ids.shape.with_rank(1)
                                                            if ids.shape.rank is None
                                                            else ids.shape):
        raise ValueError(f"segment_ids {_fmt(ids.shape)} should be the size of the first "
                         f"dimension of data {_fmt(data.shape)}")
    return [(data.dtype, TensorShape([None] + list(data.shape)[1:]))]


def _segment_compute(kind, op_type):
    def compute(v, a):
        data, ids = v
        if ids.shape[0] != data.shape[0]:
            raise InvalidArgumentError(f"{op_type}: segment_ids should be the same size as "
                                       f"dimension 0 of data: {ids.shape[0]} vs {data.shape[0]}")
        _check_ids(ids, None, True, op_type)
        num = int(ids[-1]) + 1 if ids.size else 0
        out = _seg_reduce_np(kind, data, ids, num, data.dtype)
        if kind in ("max", "min"):       # TF: an empty segment's max/min is 0
            out[np.bincount(ids, minlength=num) == 0] = 0
        return [out]
    return compute


SEGMENT_OPS = [("SegmentSum", "segment_sum", "sum"), ("SegmentMean", "segment_mean", "mean"),
               ("SegmentMax", "segment_max", "max"), ("SegmentMin", "segment_min", "min"),
               ("SegmentProd", "segment_prod", "prod")]
for _t, _n, _k in SEGMENT_OPS:
    register_op(_t, functools.partial(_segment_infer,
                                      allowed=NUMERIC_C if _k in _COMPLEX_KINDS else NUMERIC),
                _segment_compute(_k, _t), kind="opaque")


def _make_segment(op_type, public):
    def f(data, segment_ids, name=None):
        data = convert_to_tensor(data)
        segment_ids = convert_to_tensor(segment_ids)
        return make_op(op_type, [data, segment_ids], name=name).outputs[0]
    f.__name__ = f.__qualname__ = public
    f.__doc__ = (f"tf.math.{public}(data, segment_ids): the {public.split('_')[1]} of the rows "
                 "of data in each segment; segment_ids is sorted, 1-D, of data's first size; "
                 "the output has max(segment_ids) + 1 rows (TF op {op_type}).")
    return f


for _t, _n, _k in SEGMENT_OPS:
    globals()[_n] = _make_segment(_t, _n)
segment_sum = globals()["segment_sum"]
segment_mean = globals()["segment_mean"]
segment_max = globals()["segment_max"]
segment_min = globals()["segment_min"]
segment_prod = globals()["segment_prod"]


def _unsorted_compute(kind, op_type):
    def compute(v, a):
        data, ids, num = v
        num = int(num)
        _check_ids(ids, num, False, op_type)
        return [_seg_reduce_np(kind, data, ids, num, data.dtype)]
    return compute


UNSORTED_SEGMENT_OPS = [("UnsortedSegmentMax", "unsorted_segment_max", "max"),
                        ("UnsortedSegmentMin", "unsorted_segment_min", "min"),
                        ("UnsortedSegmentProd", "unsorted_segment_prod", "prod")]
def _unsorted_infer(inputs, attrs, allowed=NUMERIC):
    """As UnsortedSegmentSum: ids' shape a prefix of data's; output (num_segments, *tail)."""
    data, ids, num = inputs
    check_dtype(data.dtype, allowed, f"data '{data.name}'")
    if not ids.dtype.is_integer:
        raise TypeError(f"segment_ids '{ids.name}' must be int32/int64, got {ids.dtype.name}")
    n = constant_value(num)
    if data.shape.rank is None or ids.shape.rank is None:
        return [(data.dtype, TensorShape(None))]
    head = TensorShape(list(data.shape)[:ids.shape.rank])
    if ids.shape.rank > data.shape.rank or not ids.shape.is_compatible_with(head):
        raise ValueError(f"segment_ids shape {_fmt(ids.shape)} must be a prefix of data shape "
                         f"{_fmt(data.shape)}")
    tail = list(data.shape)[ids.shape.rank:]
    return [(data.dtype, TensorShape([None if n is None else int(n)] + tail))]


for _t, _n, _k in UNSORTED_SEGMENT_OPS:
    register_op(_t, functools.partial(_unsorted_infer,
                                      allowed=NUMERIC_C if _k in _COMPLEX_KINDS else NUMERIC),
                _unsorted_compute(_k, _t), kind="opaque")


def _make_unsorted(op_type, public):
    def f(data, segment_ids, num_segments, name=None):
        data = convert_to_tensor(data)
        segment_ids = convert_to_tensor(segment_ids)
        num_segments = convert_to_tensor(num_segments)
        return make_op(op_type, [data, segment_ids, num_segments], name=name).outputs[0]
    f.__name__ = f.__qualname__ = public
    f.__doc__ = (f"tf.math.{public}(data, segment_ids, num_segments): segment_ids' shape is a "
                 "prefix of data's, negative ids are dropped; an empty segment gives the "
                 "lowest (max) / highest (min) value of the dtype, or 1 (prod), as TF "
                 f"(TF op {op_type}).")
    return f


for _t, _n, _k in UNSORTED_SEGMENT_OPS:
    globals()[_n] = _make_unsorted(_t, _n)
unsorted_segment_max = globals()["unsorted_segment_max"]
unsorted_segment_min = globals()["unsorted_segment_min"]
unsorted_segment_prod = globals()["unsorted_segment_prod"]


def _unsorted_segment_n(data, segment_ids, num_segments):
    """TF's _unsorted_segment_N: the count of each segment, shaped to broadcast, at least 1."""
    ones = _array.ones_like(segment_ids, dtype=data.dtype)
    n = _array.unsorted_segment_sum(ones, segment_ids, num_segments)
    extra = data.shape.rank - segment_ids.shape.rank
    num = constant_value(num_segments)
    if num is not None:
        n = _array.reshape(n, [int(num)] + [1] * extra)
    else:
        n = _array.reshape(n, _array.concat([_math.cast(_array.reshape(num_segments, [1]),
                                                        _dt.int32),
                                             _array.ones([extra], _dt.int32)], 0))
    return _math.maximum(n, convert_to_tensor(np.asarray(1, data.dtype.np)))


def unsorted_segment_mean(data, segment_ids, num_segments, name=None):
    """tf.math.unsorted_segment_mean: unsorted_segment_sum / max(count, 1), as TF builds it
    (an empty segment gives 0)."""
    data = convert_to_tensor(data)
    segment_ids = convert_to_tensor(segment_ids)
    num_segments = convert_to_tensor(num_segments)
    if data.shape.rank is None or segment_ids.shape.rank is None:
        raise ValueError("unsorted_segment_mean needs data and segment_ids of known rank")
    g, scope = _scope(data, name, "UnsortedSegmentMean", [data, segment_ids])
    with g._transaction(), scope:
        n = _unsorted_segment_n(data, segment_ids, num_segments)
        summed = _array.unsorted_segment_sum(data, segment_ids, num_segments)
        return summed / n


# --- batching rules (numgrad/batching.py) -------------------------------------------------------
def _register_batching():
    from .. import batching as B

    def segment(ctx, op, inputs, batched):
        """(m, n, ...) data: the batch dim behind the segment dim, reduce, back in front."""
        B._require_unbatched(op, batched, 1)
        data, ids = inputs[0], inputs[1]
        r = B._rank(op, data, True)
        perm = [1, 0] + list(range(2, r + 1))
        out = make_op(op.type, [_array.transpose(data, perm), ids], op.attrs,
                      graph=ctx.graph).outputs[0]
        return [_array.transpose(out, perm)]

    def unsorted_segment(ctx, op, inputs, batched):
        B._require_unbatched(op, batched, 1, 2)
        data, ids, num = inputs
        r_ids = B._rank(op, ids)
        r = B._rank(op, data, True)
        perm = list(range(1, r_ids + 1)) + [0] + list(range(r_ids + 1, r + 1))
        out = make_op(op.type, [_array.transpose(data, perm), ids, num], op.attrs,
                      graph=ctx.graph).outputs[0]
        return [_array.transpose(out, [1, 0] + list(range(2, r - r_ids + 2)))]

    def cross_rule(ctx, op, inputs, batched):
        return B._same_op(ctx, op, B._all_batched(ctx, inputs, batched))

    rules = {"Any": B._reduction, "All": B._reduction, "Cross": cross_rule}
    rules.update({t: segment for t, _, _ in SEGMENT_OPS})
    rules.update({t: unsorted_segment for t, _, _ in UNSORTED_SEGMENT_OPS})
    # the predicates of ops/math.py's UNARY_PRED are elementwise like the UNARY table
    rules.update({t: B._elementwise for t, *_ in _math.UNARY_PRED})
    for t, rule in rules.items():
        B.BATCH_RULES.setdefault(t, rule)


_register_batching()
