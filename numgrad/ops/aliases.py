"""TF1 names that are another spelling of an op numgrad has, or a few lines over such ops.

TF keeps old names next to new ones (``arg_max`` beside ``argmax``, ``to_float`` beside
``cast``, ``tensor_scatter_update`` beside ``tensor_scatter_nd_update``) and builds a handful
of small helpers in Python from other ops (``crelu``, ``relu_layer``, ``reciprocal_no_nan``,
``zero_fraction``, ``linalg.normalize``, ``nn.sufficient_statistics``/``normalize_moments``,
``nn.embedding_lookup``).  They live here, composed from the existing builders the way TF
composes them, so their gradients are those of the parts.  Every builder is atomic: a failed
call leaves the graph as it was.
"""
import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor, atomic, name_scope
from . import array as _array
from . import array_extra as _array_extra
from . import math as _math
from . import nn as _nn
from . import nn_extra as _nn_extra
from . import reduce as _reduce
from .common import FLOAT_C, check_dtype
from .core import convert_to_tensor

__all__ = ["arg_max", "arg_min", "floor_div", "to_float", "to_double", "to_int32", "to_int64",
           "to_complex64", "to_complex128", "to_bfloat16", "tensor_scatter_update",
           "tensor_scatter_add", "tensor_scatter_nd_sub", "tensor_scatter_sub", "accumulate_n",
           "is_tensor", "dimension_value", "reciprocal_no_nan", "zero_fraction", "crelu",
           "relu_layer", "normalize", "sufficient_statistics", "normalize_moments",
           "embedding_lookup"]


# --- other spellings ---------------------------------------------------------------------------
@atomic
def arg_max(input, dimension, output_type=_dt.int64, name=None):  # noqa: A002
    """tf.compat.v1.arg_max (the old name of argmax; `dimension` is required)."""
    return _array_extra.argmax(input, axis=dimension, name=name, output_type=output_type)


@atomic
def arg_min(input, dimension, output_type=_dt.int64, name=None):  # noqa: A002
    """tf.compat.v1.arg_min (the old name of argmin; `dimension` is required)."""
    return _array_extra.argmin(input, axis=dimension, name=name, output_type=output_type)


@atomic
def floor_div(x, y, name=None):
    """tf.compat.v1.floor_div: the FloorDiv op (floordiv)."""
    return _math.floordiv(x, y, name=name)


def _to(dtype, default_name):
    def cast_to(x, name=default_name):
        return _math.cast(x, dtype, name=name)
    cast_to.__name__ = cast_to.__qualname__ = "to_" + dtype.name
    cast_to.__doc__ = f"tf.compat.v1.to_{dtype.name}: cast(x, {dtype.name}) (deprecated in TF)."
    return atomic(cast_to)


to_float = _to(_dt.float32, "ToFloat")
to_double = _to(_dt.float64, "ToDouble")
to_int32 = _to(_dt.int32, "ToInt32")
to_int64 = _to(_dt.int64, "ToInt64")
to_complex64 = _to(_dt.complex64, "ToComplex64")
to_complex128 = _to(_dt.complex128, "ToComplex128")
to_bfloat16 = _to(_dt.bfloat16, "ToBFloat16")


@atomic
def tensor_scatter_update(tensor, indices, updates, name=None):
    """tf.compat.v1.tensor_scatter_update (tensor_scatter_nd_update)."""
    return _array_extra.tensor_scatter_nd_update(tensor, indices, updates, name=name)


@atomic
def tensor_scatter_add(tensor, indices, updates, name=None):
    """tf.compat.v1.tensor_scatter_add (tensor_scatter_nd_add)."""
    return _array_extra.tensor_scatter_nd_add(tensor, indices, updates, name=name)


@atomic
def tensor_scatter_nd_sub(tensor, indices, updates, name=None):
    """tf.tensor_scatter_nd_sub: a copy of `tensor` with `updates` subtracted at `indices`
    (duplicates accumulate); built as tensor_scatter_nd_add of -updates, so `updates` gets
    -gather_nd(grad, indices) and `tensor` gets grad."""
    tensor = convert_to_tensor(tensor)
    with name_scope(name, "TensorScatterSub", [tensor, indices, updates]):
        updates = convert_to_tensor(updates, dtype=tensor.dtype)
        return _array_extra.tensor_scatter_nd_add(tensor, indices, _math.negative(updates))


tensor_scatter_sub = tensor_scatter_nd_sub


@atomic
def accumulate_n(inputs, shape=None, tensor_dtype=None, name=None):
    """tf.compat.v1.math.accumulate_n: the sum of same-shape tensors (add_n); `shape` and
    `tensor_dtype`, when given, must match the inputs (TF's ValueError otherwise)."""
    if not isinstance(inputs, (list, tuple)) or not inputs:
        raise ValueError("inputs must be a list of at least one Tensor with the same dtype "
                         "and shape")
    inputs = [convert_to_tensor(t) for t in inputs]
    if tensor_dtype is not None and any(t.dtype != _dt.as_dtype(tensor_dtype) for t in inputs):
        raise TypeError(f"accumulate_n: tensor_dtype {_dt.as_dtype(tensor_dtype).name} does not "
                        f"match the inputs' dtypes {[t.dtype.name for t in inputs]}")
    if shape is not None:
        from ..tensor_shape import TensorShape
        want = TensorShape(shape)
        for t in inputs:
            if not want.is_compatible_with(t.shape):
                raise ValueError(f"accumulate_n: shape {want} does not match input shape "
                                 f"{t.shape}")
    return _math.add_n(inputs, name=name)


def is_tensor(x):
    """tf.is_tensor: True for a Tensor, a Variable or an IndexedSlices (not for NumPy arrays
    or Python values)."""
    from ..indexed_slices import IndexedSlices
    from ..variables import Variable
    return isinstance(x, (Tensor, IndexedSlices, Variable))


def dimension_value(dimension):
    """tf.compat.v1.dimension_value: the int (or None) of a TensorShape entry."""
    return getattr(dimension, "value", dimension)


# --- small composites --------------------------------------------------------------------------
@atomic
def reciprocal_no_nan(x, name=None):
    """tf.math.reciprocal_no_nan: 1 / x, but 0 where x == 0 (DivNoNan of a one); floating or
    complex x only (a TypeError naming the dtype otherwise, as TF's graph mode)."""
    x = convert_to_tensor(x)
    check_dtype(x.dtype, FLOAT_C, f"reciprocal_no_nan: x '{x.name}'")
    with name_scope(name, "reciprocal_no_nan", [x]):
        one = convert_to_tensor(np.ones((), x.dtype.as_numpy_dtype), dtype=x.dtype)
        return _math.div_no_nan(one, x)


@atomic
def zero_fraction(value, name=None):
    """tf.math.zero_fraction (also tf.nn): the fraction of zeros in `value`, as a float32
    scalar."""
    value = convert_to_tensor(value)
    with name_scope(name, "zero_fraction", [value]):
        zero = _math.equal(value, convert_to_tensor(np.zeros((), value.dtype.as_numpy_dtype),
                                                    dtype=value.dtype))
        return _reduce.reduce_mean(_math.cast(zero, _dt.float32))


@atomic
def crelu(features, name=None, axis=-1):
    """tf.nn.crelu: relu(concat([features, -features], axis)) -- the positive and the negative
    part side by side, doubling `axis`."""
    features = convert_to_tensor(features)
    with name_scope(name, "CRelu", [features]):
        c = _array.concat([features, _math.negative(features)], axis)
        return _nn.relu(c)


@atomic
def relu_layer(x, weights, biases, name=None):
    """tf.nn.relu_layer: relu(matmul(x, weights) + biases), the bias added by bias_add."""
    with name_scope(name, "relu_layer", [x, weights, biases]):
        return _nn.relu(_nn_extra.bias_add(_math.matmul(x, weights), biases))


@atomic
def normalize(tensor, ord="euclidean", axis=None, name=None):  # noqa: A002
    """tf.linalg.normalize: (tensor / norm, norm), the norm taken as `norm(tensor, ord, axis,
    keepdims=True)` and cast to the tensor's dtype."""
    from .math_extra import norm
    tensor = convert_to_tensor(tensor)
    with name_scope(name, "normalize", [tensor]):
        n = _math.cast(norm(tensor, ord=ord, axis=axis, keepdims=True), tensor.dtype)
        return _math.divide(tensor, n), n


@atomic
def sufficient_statistics(x, axes, shift=None, keep_dims=None, name=None, keepdims=None):
    """tf.nn.sufficient_statistics: (count, sum(x - shift), sum((x - shift)^2), shift) over
    `axes`; the count is a constant of x's dtype when the reduced dims are known, else a
    product of the dynamic shape."""
    if keepdims is None:
        keepdims = bool(keep_dims) if keep_dims is not None else False
    x = convert_to_tensor(x)
    axes = [axes] if isinstance(axes, int) else list(axes)
    with name_scope(name, "sufficient_statistics", [x, shift]):
        dims = [x.shape.dims[a] if x.shape.rank is not None else None for a in axes]
        if all(d is not None for d in dims):
            counts = convert_to_tensor(np.array(np.prod(dims, dtype=np.int64),
                                                x.dtype.as_numpy_dtype), dtype=x.dtype)
        else:
            sizes = _array.gather(_array.shape(x), axes)
            counts = _math.cast(_reduce.reduce_prod(sizes), x.dtype)
        if shift is not None:
            shift = convert_to_tensor(shift, dtype=x.dtype)
            m_ss = _math.subtract(x, shift)
            v_ss = _math.squared_difference(x, shift)
        else:
            m_ss, v_ss = x, _math.square(x)
        m_ss = _reduce.reduce_sum(m_ss, axes, keepdims=keepdims, name="mean_ss")
        v_ss = _reduce.reduce_sum(v_ss, axes, keepdims=keepdims, name="var_ss")
        return counts, m_ss, v_ss, shift


@atomic
def normalize_moments(counts, mean_ss, variance_ss, shift, name=None):
    """tf.nn.normalize_moments: (mean, variance) from sufficient statistics: mean_ss / counts
    (+ shift), and variance_ss / counts minus the square of the shifted mean."""
    with name_scope(name, "normalize", [counts, mean_ss, variance_ss, shift]):
        divisor = _math.reciprocal(counts, name="divisor")
        shifted_mean = _math.multiply(mean_ss, divisor, name="shifted_mean")
        mean = shifted_mean if shift is None else _math.add(shifted_mean, shift, name="mean")
        variance = _math.subtract(_math.multiply(variance_ss, divisor),
                                  _math.square(shifted_mean), name="variance")
        return mean, variance


@atomic
def embedding_lookup(params, ids, partition_strategy="mod", name=None, validate_indices=True,
                     max_norm=None):
    """tf.compat.v1.nn.embedding_lookup: the rows of `params` at `ids` (a gather, whose gradient
    is an IndexedSlices).  `params` may be a list of shards: 'div' stacks them end to end,
    'mod' interleaves them (row i lives in shard i % n at i // n; the shards must then have
    equal first dims, known when the graph is built).  `max_norm` clips each looked-up row
    to that L2 norm."""
    if partition_strategy not in ("mod", "div"):
        raise ValueError(f"Unrecognized partition strategy: {partition_strategy}")
    shards = list(params) if isinstance(params, (list, tuple)) else [params]
    if not shards:
        raise ValueError("Need at least one param")
    shards = [convert_to_tensor(p) for p in shards]
    with name_scope(name, "embedding_lookup", shards + [ids]):
        if len(shards) == 1:
            table = shards[0]
        elif partition_strategy == "div":
            table = _array.concat(shards, 0)
        else:
            rows = {p.shape.dims[0] if p.shape.rank else None for p in shards}
            if len(rows) != 1 or None in rows:
                raise ValueError("embedding_lookup: partition_strategy='mod' needs shards with "
                                 "equal, known first dims; got shapes "
                                 f"{[str(p.shape) for p in shards]}")
            stacked = _array.stack(shards, axis=1)
            table = _array.reshape(stacked, [-1] + [int(d) for d in shards[0].shape.dims[1:]])
        out = _array.gather(table, ids)
        if max_norm is not None:
            from ..clip_ops import clip_by_norm
            ids_rank = convert_to_tensor(ids).shape.rank
            axes = list(range(ids_rank, out.shape.rank))
            out = clip_by_norm(out, max_norm, axes=axes)
        return out
