"""Array ops: identity, shapes, fill, reshape, transpose, concat, stack, tile, slicing, gather,
and the helpers gradient rules need (BroadcastTo, SumToShape, StridedSliceGrad, SplitV,
UnsortedSegmentSum)."""
import builtins
import numbers

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor
from ..errors import resource_exhausted
from ..indexed_slices import IndexedSlices
from ..tensor_shape import TensorShape, as_shape
from .core import constant, constant_value, convert_to_tensor, make_op, shape_tensor_value
from .common import format_shape as _fmt, static_ints as _static_ints
from .registry import register_op

_pyslice = builtins.slice   # this module defines tf.slice


def _same(inputs, attrs):
    return [(inputs[0].dtype, inputs[0].shape)]


def _first(vals, attrs):
    return [vals[0]]


# --- identity-like ---------------------------------------------------------------------------
# (complex_as_is: these only move or pick values, so their templates serve complex values too)
register_op("Identity", _same, _first, kind="elementwise", template="{0}",
            traits=("complex_as_is", "identity"))
register_op("StopGradient", _same, _first, kind="elementwise", template="{0}",
            traits=("complex_as_is", "identity"))
# like_value: lowering makes them a splat of that value (compiler/rewrites.py like_splat)
register_op("ZerosLike", _same, lambda v, a: [np.zeros_like(v[0])], kind="elementwise",
            template="zero", like_value=0)
register_op("OnesLike", _same, lambda v, a: [np.ones_like(v[0])], kind="elementwise",
            template="one", like_value=1)
register_op("NoOp", lambda inputs, attrs: [], lambda v, a: [], kind="control",
            not_batchable="control only: no data inputs or outputs")


def identity(input, name=None):  # noqa: A002  (TF's argument name)
    """tf.identity; IndexedSlices stay sparse."""
    if isinstance(input, IndexedSlices):
        return IndexedSlices(identity(input.values, name=name), input.indices, input.dense_shape)
    input = convert_to_tensor(input)
    return make_op("Identity", [input], name=name).outputs[0]


def _identity_n_infer(inputs, attrs):
    return [(t.dtype, t.shape) for t in inputs]


# Several tensors passed through by one op: custom_gradient hangs its gradient on one of these
# (its rule gets the gradients of all outputs at once).  Lowering aliases the outputs to the
# inputs (the "identity" rewrite), so it costs nothing at run time.
register_op("IdentityN", _identity_n_infer, lambda vals, attrs: list(vals),
            traits=("identity",))


def identity_n(input, name=None):  # noqa: A002  (TF's argument name)
    """tf.identity_n: a list of tensors passed through one IdentityN op; returns its outputs
    as a list, in order."""
    if not isinstance(input, (list, tuple)):
        raise TypeError(f"identity_n: input must be a list of tensors, got {type(input).__name__}")
    tensors = [convert_to_tensor(t) for t in input]
    if not tensors:
        raise ValueError("identity_n: input must contain at least one tensor (IdentityN needs "
                         "1 or more inputs)")
    return list(make_op("IdentityN", tensors, name=name).outputs)


def stop_gradient(input, name=None):  # noqa: A002
    """Passes its input through; gradients() treats it as a constant."""
    input = convert_to_tensor(input)
    return make_op("StopGradient", [input], name=name).outputs[0]


def zeros_like(tensor, dtype=None, name=None, optimize=True):
    """A tensor of zeros with the shape of `tensor` and its dtype, or `dtype` (cast)
    (tf.compat.v1.zeros_like); `optimize` is accepted and ignored."""
    tensor = convert_to_tensor(tensor)
    out = make_op("ZerosLike", [tensor], name=name).outputs[0]
    if dtype is not None and _dt.as_dtype(dtype) != tensor.dtype:
        from .math import cast
        out = cast(out, dtype)
    return out


def ones_like(tensor, dtype=None, name=None, optimize=True):
    """A tensor of ones with the shape of `tensor` and its dtype, or `dtype` (cast)
    (tf.compat.v1.ones_like); `optimize` is accepted and ignored."""
    tensor = convert_to_tensor(tensor)
    out = make_op("OnesLike", [tensor], name=name).outputs[0]
    if dtype is not None and _dt.as_dtype(dtype) != tensor.dtype:
        from .math import cast
        out = cast(out, dtype)
    return out


# --- shape ops ------------------------------------------------------------------------------------
def _shape_infer(inputs, attrs):
    r = inputs[0].shape.rank
    return [(attrs["out_type"], TensorShape([r]))]


register_op("Shape", _shape_infer, lambda v, a: [np.array(v[0].shape, a["out_type"].np)],
            kind="shape", traits=("static_value",))
register_op("Size", lambda i, a: [(a["out_type"], TensorShape([]))],
            lambda v, a: [np.array(v[0].size, a["out_type"].np)], kind="shape",
            traits=("static_value",))
register_op("Rank", lambda i, a: [(_dt.int32, TensorShape([]))],
            lambda v, a: [np.array(v[0].ndim, np.int32)], kind="shape", traits=("static_value",))


def _shape_source(x):
    if isinstance(x, IndexedSlices):
        return x.dense_shape
    return None


def shape(input, name=None, out_type=_dt.int32):  # noqa: A002
    """tf.shape: the dynamic shape as a 1-D int tensor."""
    ds = _shape_source(input)
    if ds is not None:
        return ds
    input = convert_to_tensor(input)
    return make_op("Shape", [input], {"out_type": _dt.as_dtype(out_type)}, name).outputs[0]


def size(input, name=None, out_type=_dt.int32):  # noqa: A002
    """The number of elements of `input`, a scalar of `out_type` (tf.compat.v1.size)."""
    input = convert_to_tensor(input)
    return make_op("Size", [input], {"out_type": _dt.as_dtype(out_type)}, name).outputs[0]


def rank(input, name=None):  # noqa: A002
    """The rank of `input`, an int32 scalar (tf.compat.v1.rank)."""
    input = convert_to_tensor(input)
    return make_op("Rank", [input], name=name).outputs[0]


def _shape_arg(shape_value, what):
    """A shape argument (list of ints/tensors, TensorShape or int tensor) as an int tensor."""
    if isinstance(shape_value, TensorShape):
        shape_value = shape_value.as_list()
        if any(d is None for d in shape_value):
            raise ValueError(f"{what}: shape {shape_value} must be fully defined")
    if isinstance(shape_value, (list, tuple)) and len(shape_value) == 0:
        shape_value = np.zeros([0], np.int32)
    t = convert_to_tensor(shape_value) if not isinstance(shape_value, Tensor) else shape_value
    if not t.dtype.is_integer:
        raise TypeError(f"{what}: shape must be an integer tensor or list of ints, got dtype "
                        f"{t.dtype.name}")
    if t.shape.rank not in (None, 1, 0):
        raise ValueError(f"{what}: shape must be a vector, got shape {_fmt(t.shape)}")
    return t


# --- Fill / ones / zeros --------------------------------------------------------------------------
def _fill_infer(inputs, attrs):
    dims, value = inputs
    if value.shape.rank not in (None, 0):
        raise ValueError(f"value '{value.name}' must be a scalar, got shape {_fmt(value.shape)}")
    known = shape_tensor_value(dims)
    if known is None:
        return [(value.dtype, TensorShape(None))]
    if any(d is not None and d < 0 for d in known):
        raise ValueError(f"dims {known} must be non-negative")
    return [(value.dtype, TensorShape(known))]


register_op("Fill", _fill_infer,
            lambda v, a: [np.full(tuple(int(d) for d in v[0]), v[1], dtype=v[1].dtype)],
            kind="elementwise", template="{1}", traits=("complex_as_is",), data_inputs=(1,))


def fill(dims, value, name=None):
    """A tensor of shape `dims` filled with the scalar `value`, of value's dtype
    (tf.compat.v1.fill); `dims` (a list of ints or a 1-D int tensor) may be computed at run time."""
    dims = _shape_arg(dims, "fill")
    value = convert_to_tensor(value)
    return make_op("Fill", [dims, value], name=name).outputs[0]


def _const_fill(shape_value, dtype, v, name, default_name):
    dtype = _dt.as_dtype(dtype)
    if isinstance(shape_value, Tensor):
        return fill(shape_value, constant(v, dtype=dtype), name=name)
    if isinstance(shape_value, numbers.Integral):
        shape_value = [shape_value]
    if isinstance(shape_value, (list, tuple, TensorShape)) and not any(
            isinstance(d, Tensor) for d in (shape_value if not isinstance(shape_value, TensorShape) else [])):
        dims = as_shape(shape_value)
        if not dims.is_fully_defined():
            raise ValueError(f"{default_name}: shape {dims} must be fully defined")
        if any(d < 0 for d in dims):
            raise ValueError(f"{default_name}: dims must be non-negative, got {dims.as_list()}")
        try:
            value = np.full(dims.as_list(), v, dtype=dtype.np)
        except (MemoryError, ValueError) as e:     # refused before any op is added
            raise resource_exhausted(f"constant '{name or default_name.capitalize()}'",
                                     dims.as_list(), dtype.np) from e
        return constant(value, dtype=dtype, name=name or default_name.capitalize())
    return fill(shape_value, constant(v, dtype=dtype), name=name)


def ones(shape, dtype=_dt.float32, name=None):
    """A tensor of ones of `shape` and `dtype` (tf.compat.v1.ones): a constant when the shape is
    static (an int, list or TensorShape), else a Fill of the shape tensor."""
    return _const_fill(shape, dtype, 1, name, "ones")


def zeros(shape, dtype=_dt.float32, name=None):
    """A tensor of zeros of `shape` and `dtype` (tf.compat.v1.zeros): a constant when the shape is
    static (an int, list or TensorShape), else a Fill of the shape tensor."""
    return _const_fill(shape, dtype, 0, name, "zeros")


# --- Reshape --------------------------------------------------------------------------------
def _reshape_infer(inputs, attrs):
    x, shp = inputs
    if not shp.dtype.is_integer:
        raise TypeError(f"shape '{shp.name}' must be int32/int64, got {shp.dtype.name}")
    known = shape_tensor_value(shp)
    if known is None:
        return [(x.dtype, TensorShape(None))]
    if sum(1 for d in known if d == -1) > 1:
        raise ValueError(f"can only infer one dimension of shape {known}")
    if any(d is not None and d < -1 for d in known):
        raise ValueError(f"shape {known} has a negative dimension")
    n = x.shape.num_elements()
    if all(d is not None for d in known):
        if -1 in known:
            rest = int(np.prod([d for d in known if d != -1], dtype=np.int64))
            if n is not None:
                if (rest == 0 and n != 0) or (rest and n % rest):
                    raise ValueError(f"Cannot reshape a tensor with {n} elements to shape "
                                     f"{known}: the size is not a multiple of {rest}")
                known = [d if d != -1 else (n // rest if rest else 0) for d in known]
            else:
                known = [d if d != -1 else None for d in known]
        elif n is not None and int(np.prod(known, dtype=np.int64)) != n:
            raise ValueError(f"Cannot reshape a tensor with {n} elements (input shape "
                             f"{_fmt(x.shape)}) to shape {known} "
                             f"({int(np.prod(known, dtype=np.int64))} elements)")
    return [(x.dtype, TensorShape([None if d == -1 else d for d in known]))]


def _reshape_compute(v, a):
    shape = [int(d) for d in v[1]]
    if v[0].size == 0 and -1 in shape:
        # NumPy cannot infer -1 for an empty array; like _reshape_infer, it is 0 when the other
        # dimensions already multiply to 0 (the gradient of reduce_prod reshapes to [n, -1])
        rest = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
        if rest == 0:
            shape = [0 if d == -1 else d for d in shape]
    return [np.reshape(v[0], tuple(shape))]


register_op("Reshape", _reshape_infer, _reshape_compute, kind="shape_view")


def reshape(tensor, shape, name=None):
    """`tensor`'s elements in shape `shape`, one of whose dims may be -1 (inferred)
    (tf.compat.v1.reshape); `shape` may be a tensor computed at run time."""
    tensor = convert_to_tensor(tensor)
    shape = _shape_arg(shape, "reshape")
    return make_op("Reshape", [tensor, shape], name=name).outputs[0]


# --- BroadcastTo and its transpose SumToShape --------------------------------------------------------
def _broadcast_to_infer(inputs, attrs):
    from .math import broadcast_static_shape
    x, shp = inputs
    known = shape_tensor_value(shp)
    if known is None:
        return [(x.dtype, TensorShape(None))]
    target = TensorShape(known)
    out = broadcast_static_shape(x.shape, target)
    if out.rank is not None and out.rank != target.rank:
        raise ValueError(f"cannot broadcast shape {_fmt(x.shape)} to lower rank {known}")
    if x.shape.rank is not None and out.is_fully_defined() and target.is_fully_defined() and out != target:
        raise ValueError(f"cannot broadcast shape {_fmt(x.shape)} to {known}")
    return [(x.dtype, target.merge_with(out) if out.rank is not None else target)]


register_op("BroadcastTo", _broadcast_to_infer,
            lambda v, a: [np.broadcast_to(v[0], tuple(int(d) for d in v[1]))],
            kind="elementwise", template="{0}", traits=("complex_as_is", "cheap"),
            data_inputs=(0,))


def broadcast_to(input, shape, name=None):  # noqa: A002
    """`input` broadcast to `shape` by NumPy's rules (tf.compat.v1.broadcast_to); `shape` may be a
    tensor computed at run time."""
    input = convert_to_tensor(input)
    return make_op("BroadcastTo", [input, _shape_arg(shape, "broadcast_to")], name=name).outputs[0]


def _broadcast_axes(g_shape, shape):
    """The axes of `g_shape` along which an array of `shape` was broadcast to it."""
    lead = len(g_shape) - len(shape)
    return tuple(range(lead)) + tuple(
        lead + i for i, d in enumerate(shape) if d == 1 and g_shape[lead + i] != 1)


def sum_to_shape_np(g, shape):
    """Sum `g` over the axes along which an array of `shape` was broadcast to g's shape."""
    shape = tuple(int(d) for d in shape)
    axes = _broadcast_axes(g.shape, shape)
    out = np.sum(g, axis=axes, keepdims=True) if axes else g
    return out.reshape(shape)


def _sum_to_shape_lower(L, op, ins, specs):
    """SumToShape in the IR: a keepdims Sum over the broadcast axes, then a reshape."""
    g, (target, dtype) = ins[0], specs[0]
    axes = _broadcast_axes(g.shape, target)
    kept = tuple(1 if i in axes else d for i, d in enumerate(g.shape))
    s, = L.node("Sum", {"axis": axes, "keepdims": True}, [g], [(kept, dtype)], op.name)
    return [L.reshape(s, target, op.name + "/reshape")]


def _sum_to_shape_infer(inputs, attrs):
    g, shp = inputs
    known = shape_tensor_value(shp)
    return [(g.dtype, TensorShape(None) if known is None else TensorShape(known))]


register_op("SumToShape", _sum_to_shape_infer,
            lambda v, a: [np.asarray(sum_to_shape_np(v[0], v[1]))], kind="reduce",
            lower=_sum_to_shape_lower)


def sum_to_shape(g, shape_tensor, name=None):
    """Reduce `g` to `shape_tensor` by summing broadcast axes (dynamic BroadcastGradientArgs)."""
    return make_op("SumToShape", [g, shape_tensor], name=name).outputs[0]


def _reduced_shape_compute(v, a):
    out = np.array(v[0], copy=True)
    for ax in a["axes"]:
        out[ax] = 1
    return [out]


# Its input is a shape vector; shape vectors of batched tensors are themselves unbatched
# (batching's Shape rule returns the row shape), so a batched one never reaches it.
register_op("ReducedShape", lambda i, a: [(i[0].dtype, i[0].shape)], _reduced_shape_compute,
            kind="shape", not_batchable="input is a shape vector, never batched")


def reduced_shape(shape_tensor, axes, name=None):
    """`shape_tensor` with the (non-negative) `axes` set to 1: a keepdims reduction's shape."""
    return make_op("ReducedShape", [shape_tensor], {"axes": tuple(axes)}, name).outputs[0]


# --- Transpose ------------------------------------------------------------------------------------
def _transpose_infer(inputs, attrs):
    x, = inputs
    perm = attrs["perm"]
    if perm is None:            # reverse all dimensions, rank known only at run time
        return [(x.dtype, TensorShape(None) if x.shape.rank is None
                 else TensorShape(list(x.shape)[::-1]))]
    if x.shape.rank is None:
        return [(x.dtype, TensorShape([None] * len(perm)))]
    if sorted(perm) != list(range(x.shape.rank)):
        raise ValueError(f"perm {list(perm)} is not a permutation of the {x.shape.rank} "
                         f"dimensions of input shape {_fmt(x.shape)}")
    return [(x.dtype, TensorShape([x.shape[p] for p in perm]))]


register_op("Transpose", _transpose_infer,
            lambda v, a: [np.transpose(v[0], a["perm"])], kind="opaque")


def transpose(a, perm=None, name="transpose", conjugate=False):
    """`a` with its dimensions permuted: output dim i is input dim perm[i]; by default they are
    reversed (tf.compat.v1.transpose). Unlike TF, `perm` must be known when the graph is built
    (Python ints or a constant). With `conjugate`, a complex `a` is conjugated first (TF's
    ConjugateTranspose, built as Conj then Transpose); real tensors ignore it."""
    a = convert_to_tensor(a)
    if conjugate and a.dtype.is_complex:
        from .complex import conj
        a = conj(a)
    if perm is None:
        perm = None if a.shape.rank is None else tuple(range(a.shape.rank - 1, -1, -1))
    else:
        perm = tuple(int(p) for p in _static_ints(perm, "transpose: perm").reshape(-1))
        if a.shape.rank is not None:
            perm = tuple(p + a.shape.rank if p < 0 else p for p in perm)
    return make_op("Transpose", [a], {"perm": perm}, name).outputs[0]


# --- ExpandDims / Squeeze ----------------------------------------------------------------------
def _expand_dims_infer(inputs, attrs):
    x, = inputs
    axis = attrs["axis"]
    if x.shape.rank is None:
        return [(x.dtype, TensorShape(None))]
    r = x.shape.rank
    if not -r - 1 <= axis <= r:
        raise ValueError(f"axis {axis} is out of range [{-r - 1}, {r}] for input of shape "
                         f"{_fmt(x.shape)}")
    a = axis if axis >= 0 else axis + r + 1
    dims = list(x.shape)
    dims.insert(a, 1)
    return [(x.dtype, TensorShape(dims))]


register_op("ExpandDims", _expand_dims_infer,
            lambda v, a: [np.expand_dims(v[0], a["axis"])], kind="shape_view")


def expand_dims(input, axis=None, name=None, dim=None):  # noqa: A002
    """`input` with a dimension of size 1 inserted at `axis` (-1: at the end)
    (tf.compat.v1.expand_dims; `dim` is the old name of `axis`). Unlike TF, `axis` must be known
    when the graph is built (a Python int or a constant)."""
    if axis is None:
        axis = dim
    if axis is None:
        raise ValueError("expand_dims: axis must be given")
    input = convert_to_tensor(input)
    axis = int(_static_ints(axis, "expand_dims: axis").reshape(()))
    return make_op("ExpandDims", [input], {"axis": axis}, name).outputs[0]


def _squeeze_infer(inputs, attrs):
    x, = inputs
    axis = attrs["axis"]
    if x.shape.rank is None:
        return [(x.dtype, TensorShape(None))]
    r = x.shape.rank
    dims = list(x.shape)
    if axis is None:
        if any(d is None for d in dims):
            return [(x.dtype, TensorShape(None))]
        return [(x.dtype, TensorShape([d for d in dims if d != 1]))]
    norm = set()
    for a in axis:
        if not -r <= a < r:
            raise ValueError(f"squeeze axis {a} is out of range for input of shape {_fmt(x.shape)}")
        a = a + r if a < 0 else a
        if dims[a] is not None and dims[a] != 1:
            raise ValueError(f"Can not squeeze dim[{a}], expected a dimension of 1, got "
                             f"{dims[a]} (input shape {_fmt(x.shape)})")
        norm.add(a)
    return [(x.dtype, TensorShape([d for i, d in enumerate(dims) if i not in norm]))]


def _squeeze_compute(v, a):
    x = v[0]
    if a["axis"] is None:
        return [np.squeeze(x)]
    return [np.squeeze(x, axis=tuple(a["axis"]))]


register_op("Squeeze", _squeeze_infer, _squeeze_compute, kind="shape_view")


def squeeze(input, axis=None, name=None, squeeze_dims=None):  # noqa: A002
    """`input` without its dimensions of size 1: all of them, or those in `axis` (ValueError if one
    is not 1) (tf.compat.v1.squeeze; `squeeze_dims` is the old name of `axis`). `axis` must be known
    when the graph is built."""
    if axis is None:
        axis = squeeze_dims
    input = convert_to_tensor(input)
    if axis is not None:
        axis = tuple(int(a) for a in np.atleast_1d(_static_ints(axis, "squeeze: axis")))
    return make_op("Squeeze", [input], {"axis": axis}, name).outputs[0]


# --- Concat / Pack / Unpack / SplitV ----------------------------------------------------------------
def _norm_axis(axis, rank, what, shape):
    if rank is None:
        return axis
    if not -rank <= axis < rank:
        raise ValueError(f"{what} axis {axis} is out of range for rank {rank} (shape "
                         f"{_fmt(shape)})")
    return axis + rank if axis < 0 else axis


def _concat_infer(inputs, attrs):
    first = inputs[0]
    axis = attrs["axis"]
    rank = next((t.shape.rank for t in inputs if t.shape.rank is not None), None)
    for t in inputs:
        if t.dtype != first.dtype:
            raise TypeError(f"all values must have the same dtype: '{first.name}' is "
                            f"{first.dtype.name} but '{t.name}' is {t.dtype.name}")
        if t.shape.rank is not None and t.shape.rank != rank:
            raise ValueError(f"all values must have the same rank: shapes {_fmt(first.shape)} "
                             f"and {_fmt(t.shape)}")
    if rank is None:
        return [(first.dtype, TensorShape(None))]
    if rank == 0:
        raise ValueError("cannot concatenate scalars (use stack)")
    ax = _norm_axis(axis, rank, "concat", first.shape)
    dims = [None] * rank
    total = 0
    for t in inputs:
        if t.shape.rank is None:
            total = None
            continue
        for i, d in enumerate(t.shape):
            if i == ax:
                total = None if (total is None or d is None) else total + d
            elif d is not None:
                if dims[i] is not None and dims[i] != d:
                    raise ValueError(f"Dimension {i} in both shapes must be equal, but are "
                                     f"{dims[i]} and {d}; shapes are {_fmt(first.shape)} and "
                                     f"{_fmt(t.shape)} (concat axis {ax})")
                dims[i] = d
    dims[ax] = total
    return [(first.dtype, TensorShape(dims))]


register_op("ConcatV2", _concat_infer,
            lambda v, a: [np.concatenate(v, axis=a["axis"])], kind="opaque", traits=("concat",))


def concat(values, axis, name="concat"):
    """The tensors in `values` (a non-empty list; same dtype and rank) joined along their dimension
    `axis` (tf.compat.v1.concat). `axis` must be known when the graph is built (a Python int or a
    constant); a single value comes back through identity."""
    if isinstance(values, Tensor) or not isinstance(values, (list, tuple)) or not values:
        raise ValueError("concat: values must be a non-empty list of Tensors")
    values = [convert_to_tensor(v) for v in values]
    axis = int(_static_ints(axis, "concat: axis").reshape(()))
    if len(values) == 1:
        return identity(values[0], name=name)
    rank = values[0].shape.rank
    if rank is not None:
        axis = _norm_axis(axis, rank, "concat", values[0].shape)
    return make_op("ConcatV2", values, {"axis": axis}, name).outputs[0]


def _pack_infer(inputs, attrs):
    first = inputs[0]
    shape = first.shape
    for t in inputs[1:]:
        if t.dtype != first.dtype:
            raise TypeError(f"all values must have the same dtype: '{first.name}' is "
                            f"{first.dtype.name} but '{t.name}' is {t.dtype.name}")
        if not shape.is_compatible_with(t.shape):
            raise ValueError(f"Shapes must be equal: {_fmt(first.shape)} vs {_fmt(t.shape)} "
                             f"('{first.name}' and '{t.name}')")
        shape = shape.merge_with(t.shape)
    if shape.rank is None:
        return [(first.dtype, TensorShape(None))]
    ax = attrs["axis"]
    if not -shape.rank - 1 <= ax <= shape.rank:
        raise ValueError(f"axis {ax} out of range for stacking shape {_fmt(shape)}")
    ax = ax + shape.rank + 1 if ax < 0 else ax
    dims = list(shape)
    dims.insert(ax, len(inputs))
    return [(first.dtype, TensorShape(dims))]


register_op("Pack", _pack_infer, lambda v, a: [np.stack(v, axis=a["axis"])], kind="opaque")


def stack(values, axis=0, name="stack"):
    """The tensors in `values` (a non-empty list; same shape and dtype) stacked along a new
    dimension `axis`, a Python int (tf.compat.v1.stack). Python values in the list take the dtype of
    its first Tensor."""
    if isinstance(values, Tensor) or not isinstance(values, (list, tuple)) or not values:
        raise ValueError("stack: values must be a non-empty list of Tensors")
    first = next((v for v in values if isinstance(v, Tensor)), None)
    values = [convert_to_tensor(v, dtype=first.dtype if first is not None and not isinstance(v, Tensor) else None)
              for v in values]
    r = values[0].shape.rank
    if r is not None and axis < 0:
        axis += r + 1
    return make_op("Pack", values, {"axis": int(axis)}, name).outputs[0]


def _unpack_infer(inputs, attrs):
    x, = inputs
    num, ax = attrs["num"], attrs["axis"]
    dims = list(x.shape)
    if dims[ax] is not None and dims[ax] != num:
        raise ValueError(f"num={num} does not match dimension {ax} of shape {_fmt(x.shape)}")
    del dims[ax]
    return [(x.dtype, TensorShape(dims))] * num


register_op("Unpack", _unpack_infer,
            lambda v, a: [np.take(v[0], i, axis=a["axis"]) for i in range(a["num"])],
            kind="opaque")


def unstack(value, num=None, axis=0, name="unstack"):
    """The list of the `num` slices of `value` along `axis`, each without that dimension
    (tf.compat.v1.unstack); `num` defaults to the static size of the dimension (ValueError if
    unknown)."""
    value = convert_to_tensor(value)
    if value.shape.rank is None:
        raise ValueError(f"unstack: cannot unstack '{value.name}' of unknown rank")
    axis = _norm_axis(axis, value.shape.rank, "unstack", value.shape)
    if num is None:
        num = value.shape[axis]
        if num is None:
            raise ValueError(f"Cannot infer argument `num` from shape {_fmt(value.shape)}")
    return list(make_op("Unpack", [value], {"num": int(num), "axis": axis}, name).outputs)


def _splitv_infer(inputs, attrs):
    x, sizes = inputs
    ax, num = attrs["axis"], attrs["num_split"]
    sv = constant_value(sizes)
    dims = list(x.shape) if x.shape.rank is not None else None
    outs = []
    for i in range(num):
        if dims is None:
            outs.append((x.dtype, TensorShape(None)))
            continue
        d = list(dims)
        d[ax] = None if sv is None else int(sv[i])
        outs.append((x.dtype, TensorShape(d)))
    return outs


def _splitv_compute(v, a):
    x, sizes = v
    cuts = np.cumsum(sizes)[:-1]
    return list(np.split(x, cuts, axis=a["axis"]))


register_op("SplitV", _splitv_infer, _splitv_compute, kind="opaque", traits=("split",))


def split_v(value, size_splits, axis, name=None):
    size_splits = convert_to_tensor(size_splits) if not isinstance(size_splits, Tensor) else size_splits
    num = size_splits.shape[0]
    return list(make_op("SplitV", [value, size_splits],
                        {"axis": axis, "num_split": num}, name).outputs)


# --- Tile -----------------------------------------------------------------------------------------
def _tile_infer(inputs, attrs):
    x, = inputs
    m = attrs["multiples"]
    if x.shape.rank is None:
        return [(x.dtype, TensorShape([None] * len(m)))]
    if len(m) != x.shape.rank:
        raise ValueError(f"multiples {list(m)} must have one entry per dimension of input shape "
                         f"{_fmt(x.shape)}")
    if any(k < 0 for k in m):
        raise ValueError(f"multiples {list(m)} must be non-negative")
    return [(x.dtype, TensorShape([None if d is None else d * k for d, k in zip(x.shape, m)]))]


register_op("Tile", _tile_infer, lambda v, a: [np.tile(v[0], a["multiples"])], kind="opaque")


def tile(input, multiples, name=None):  # noqa: A002
    """`input` repeated multiples[i] times along each dimension i (tf.compat.v1.tile). Unlike TF,
    `multiples` must be known when the graph is built (Python ints or a constant)."""
    input = convert_to_tensor(input)
    m = tuple(int(k) for k in _static_ints(multiples, "tile: multiples").reshape(-1))
    return make_op("Tile", [input], {"multiples": m}, name).outputs[0]


# --- Strided slicing (__getitem__, slice) ------------------------------------------------------------
def normalize_index(key):
    """A __getitem__ key as a tuple of int / slice(int|None...) / Ellipsis / None."""
    if not isinstance(key, tuple):
        key = (key,)
    out = []
    for k in key:
        if k is None or k is Ellipsis:
            out.append(k)
        elif isinstance(k, _pyslice):
            parts = []
            for p in (k.start, k.stop, k.step):
                if isinstance(p, Tensor):
                    v = constant_value(p)
                    if v is None:
                        raise TypeError("Only Python ints (or constant tensors) are supported "
                                        f"as slice bounds, got the computed Tensor '{p.name}'")
                    p = int(v)
                elif p is not None:
                    if not isinstance(p, numbers.Integral):
                        raise TypeError(f"slice indices must be integers or None, got {p!r}")
                    p = int(p)
                parts.append(p)
            if parts[2] == 0:
                raise ValueError("slice step cannot be zero")
            out.append(_pyslice(*parts))
        elif isinstance(k, (numbers.Integral, np.integer)) and not isinstance(k, bool):
            out.append(int(k))
        elif isinstance(k, Tensor) and constant_value(k) is not None and constant_value(k).ndim == 0:
            out.append(int(constant_value(k)))
        else:
            raise TypeError(f"Only integers, slices (`:`), ellipsis (`...`) and newaxis (`None`) "
                            f"are valid indices, got {k!r}")
    if sum(1 for k in out if k is Ellipsis) > 1:
        raise ValueError("An index can only have a single ellipsis ('...')")
    return tuple(out)


def _strided_shape(shape, spec):
    if shape.rank is None:
        return TensorShape(None)
    dims = list(shape)
    consuming = sum(1 for k in spec if k is not None and k is not Ellipsis)
    if consuming > len(dims):
        raise ValueError(f"too many indices ({consuming}) for a tensor of shape {_fmt(shape)}")
    out, i = [], 0
    for k in spec:
        if k is Ellipsis:
            n = len(dims) - consuming
            out.extend(dims[i:i + n])
            i += n
        elif k is None:
            out.append(1)
        elif isinstance(k, int):
            d = dims[i]
            if d is not None and not -d <= k < d:
                raise ValueError(f"index {k} is out of bounds for dimension {i} of size {d} "
                                 f"(shape {_fmt(shape)})")
            i += 1
        else:
            d = dims[i]
            if d is None:
                out.append(None)
            else:
                out.append(len(range(*k.indices(d))))
            i += 1
    out.extend(dims[i:])
    return TensorShape(out)


register_op("StridedSlice",
            lambda inputs, attrs: [(inputs[0].dtype, _strided_shape(inputs[0].shape, attrs["spec"]))],
            lambda v, a: [np.asarray(v[0][a["spec"]])], kind="opaque")


def strided_slice(x, spec, name=None):
    """`x[spec]`, the op behind Tensor.__getitem__. Unlike tf.compat.v1.strided_slice (begin, end
    and strides tensors plus masks), `spec` is a static NumPy-style index: ints, slices, `...` and
    None (new axis), or a tuple of them; bounds are Python ints or constants."""
    x = convert_to_tensor(x)
    return make_op("StridedSlice", [x], {"spec": normalize_index(spec)}, name).outputs[0]


def _ssg_infer(inputs, attrs):
    shp, dy = inputs
    known = shape_tensor_value(shp)
    return [(dy.dtype, TensorShape(None) if known is None else TensorShape(known))]


def _ssg_compute(v, a):
    out = np.zeros(tuple(int(d) for d in v[0]), dtype=v[1].dtype)
    out[a["spec"]] = v[1]
    return [out]


register_op("StridedSliceGrad", _ssg_infer, _ssg_compute, kind="opaque")


def strided_slice_grad(shape_tensor, dy, spec, name=None):
    return make_op("StridedSliceGrad", [shape_tensor, dy], {"spec": spec}, name).outputs[0]


def slice(input_, begin, size, name=None):  # noqa: A001  (tf.slice)
    """tf.slice with static begin/size (size -1 means 'to the end')."""
    input_ = convert_to_tensor(input_)
    b = [int(v) for v in _static_ints(begin, "slice: begin").reshape(-1)]
    s = [int(v) for v in _static_ints(size, "slice: size").reshape(-1)]
    if len(b) != len(s):
        raise ValueError(f"slice: begin {b} and size {s} must have the same length")
    r = input_.shape.rank
    if r is not None and len(b) != r:
        raise ValueError(f"slice: begin {b} must have one entry per dimension of shape "
                         f"{_fmt(input_.shape)}")
    for i, (bi, si) in enumerate(zip(b, s)):
        d = input_.shape[i] if r is not None else None
        if bi < 0 or si < -1 or (d is not None and (bi > d or (si != -1 and bi + si > d))):
            raise ValueError(f"slice: begin {b} and size {s} are out of bounds for input shape "
                             f"{_fmt(input_.shape)} (dimension {i})")
    spec = tuple(_pyslice(bi, None if si == -1 else bi + si) for bi, si in zip(b, s))
    return make_op("StridedSlice", [input_], {"spec": spec}, name).outputs[0]


# --- Gather / UnsortedSegmentSum ---------------------------------------------------------------------
def _gather_infer(inputs, attrs):
    params, indices = inputs
    if not indices.dtype.is_integer:
        raise TypeError(f"indices '{indices.name}' must be int32 or int64, got "
                        f"{indices.dtype.name}")
    ax = attrs["axis"]
    if params.shape.rank is None or indices.shape.rank is None:
        return [(params.dtype, TensorShape(None))]
    if not 0 <= ax < params.shape.rank:
        raise ValueError(f"axis {ax} out of range for params of shape {_fmt(params.shape)}")
    dims = list(params.shape)
    return [(params.dtype, TensorShape(dims[:ax] + list(indices.shape) + dims[ax + 1:]))]


def _gather_compute(v, a):
    params, idx = v
    n = params.shape[a["axis"]]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx[(idx < 0) | (idx >= n)].reshape(-1)[0]
        raise IndexError(f"indices contain {bad}, which is not in [0, {n})")
    return [np.take(params, idx, axis=a["axis"])]


register_op("GatherV2", _gather_infer, _gather_compute, kind="opaque", traits=("row_gather",))


def gather(params, indices, validate_indices=None, name=None, axis=None, batch_dims=0):
    """tf.gather along `axis` (default 0); its gradient is sparse (IndexedSlices) when `axis` is
    0 as given (as TF's _GatherV2Grad: axis=-1 of a 1-D params gives a dense gradient)."""
    if batch_dims:
        from .array_extra import gather_batch_dims
        return gather_batch_dims(params, indices, axis, batch_dims, name=name)
    params = convert_to_tensor(params)
    indices = convert_to_tensor(indices)
    axis = 0 if axis is None else int(_static_ints(axis, "gather: axis").reshape(()))
    given = axis        # as the caller wrote it: TF's gradient is sparse only for a literal 0
    if params.shape.rank is not None and axis < 0:
        axis += params.shape.rank
    return make_op("GatherV2", [params, indices], {"axis": axis, "axis_arg": given},
                   name).outputs[0]


def _uss_infer(inputs, attrs):
    data, ids, num = inputs
    n = constant_value(num)
    if data.shape.rank is None or ids.shape.rank is None:
        return [(data.dtype, TensorShape(None))]
    if not ids.dtype.is_integer:
        raise TypeError(f"segment_ids '{ids.name}' must be int32/int64, got {ids.dtype.name}")
    head = TensorShape(list(data.shape)[:ids.shape.rank])
    if ids.shape.rank > data.shape.rank or not ids.shape.is_compatible_with(head):
        raise ValueError(f"segment_ids shape {_fmt(ids.shape)} must be a prefix of data shape "
                         f"{_fmt(data.shape)}")
    tail = list(data.shape)[ids.shape.rank:]
    return [(data.dtype, TensorShape([None if n is None else int(n)] + tail))]


def _uss_compute(v, a):
    data, ids, num = v
    out = np.zeros((int(num),) + data.shape[ids.ndim:], dtype=data.dtype)
    if ids.size and ids.max() >= int(num):
        raise IndexError(f"segment id {ids.max()} is not in [0, {int(num)})")
    keep = ids >= 0
    np.add.at(out, ids[keep], data[keep])
    return [out]


register_op("UnsortedSegmentSum", _uss_infer, _uss_compute, kind="opaque")


def unsorted_segment_sum(data, segment_ids, num_segments, name=None):
    """output[s] = the sum of the data[i] with segment_ids[i] == s, for each segment s <
    num_segments (tf.compat.v1.math.unsorted_segment_sum). segment_ids' shape is a prefix of data's;
    negative ids are dropped and ids >= num_segments fail at run time. `num_segments` may be a
    tensor."""
    data = convert_to_tensor(data)
    segment_ids = convert_to_tensor(segment_ids)
    num_segments = convert_to_tensor(num_segments)
    return make_op("UnsortedSegmentSum", [data, segment_ids, num_segments], name=name).outputs[0]


def densify(value):
    """The dense Tensor of an IndexedSlices (repeated indices are summed)."""
    if not isinstance(value, IndexedSlices):
        return value
    if value.dense_shape is None:
        raise ValueError("Cannot densify an IndexedSlices without dense_shape")
    g = value.values.graph
    with g.as_default():
        num = strided_slice(value.dense_shape, 0)
        return unsorted_segment_sum(value.values, value.indices, num)
