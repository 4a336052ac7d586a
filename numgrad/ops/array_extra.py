"""More array ops (issue 17): range, linspace, one_hot, argmax/argmin, split, pad, reverse,
gather_nd, scatter_nd, tensor_scatter_nd_update/add, boolean_mask, meshgrid, repeat, roll,
sequence_mask, top_k, sort, argsort, tensordot, einsum, placeholder_with_default.

Op types declared here (each with its NumPy reference, its TF gradient in
numgrad/gradients/rules/array_extra.py and its batching rule below): Range, OneHot, ArgMax,
ArgMin, Split, PadV2, MirrorPad, MirrorPadGrad, ReverseV2, GatherNd, ScatterNd,
TensorScatterUpdate, TensorScatterAdd, Roll, TopKV2, PlaceholderWithDefault.  The others are
built from existing ops, as TF builds them, so their gradients come from those ops' rules.

Shape-like arguments that fix a kernel's layout (axes, paddings, shifts, k, the repeats of
repeat, linspace's num) must be known when the graph is built (Python values or constants);
the sizes of range, one_hot's depth, scatter_nd's shape and sequence_mask's maxlen may be
tensors (the output shape is then unknown until run time, and the cpu backend interprets such
graphs with NumPy).
"""
import builtins
import numbers
import string

import numpy as np

from .. import batching as _B
from .. import dtypes as _dt
from ..graph import Tensor, atomic
from ..tensor_shape import TensorShape, as_shape
from . import array as A
from . import math as M
from . import reduce as R
from . import core as _core
from .common import format_shape as _fmt, static_ints as _static_ints
from .core import constant, constant_value, convert_to_tensor, make_op, shape_tensor_value
from .registry import register_op

__all__ = ["range", "lin_space", "linspace", "one_hot", "argmax", "argmin", "split", "pad",
           "reverse", "reverse_v2", "gather_nd", "scatter_nd", "tensor_scatter_nd_update",
           "tensor_scatter_nd_add", "boolean_mask", "meshgrid", "repeat", "roll",
           "sequence_mask", "top_k", "sort", "argsort", "tensordot", "einsum",
           "placeholder_with_default", "gather_batch_dims"]

_pyrange = builtins.range


def _axis_in(axis, rank, what, shape, extra=0):
    """`axis` normalised for a tensor of `rank` (extra=1: an insertion point)."""
    if rank is None:
        return axis
    if not -rank - extra <= axis < rank + extra:
        raise ValueError(f"{what}: axis {axis} is out of range [{-rank - extra}, "
                         f"{rank + extra}) for input of shape {_fmt(shape)}")
    return axis + rank + extra if axis < 0 else axis


def _scalar_int(value, what):
    return int(np.asarray(_static_ints(value, what)).reshape(()))


def _require_scalar(t, what):
    if t.shape.rank not in (None, 0):
        raise ValueError(f"{what} must be a scalar, got shape {_fmt(t.shape)}")


# --- Range ----------------------------------------------------------------------------------
def _range_size(start, limit, delta):
    if delta == 0:
        raise ValueError("Requires delta != 0: 0")
    if delta > 0 and start > limit:
        raise ValueError(f"Requires start <= limit when delta > 0: {start}/{limit}")
    if delta < 0 and start < limit:
        raise ValueError(f"Requires start >= limit when delta < 0: {start}/{limit}")
    if isinstance(start, (int, np.integer)) and isinstance(limit, (int, np.integer)) and \
            isinstance(delta, (int, np.integer)):
        return (abs(int(limit) - int(start)) + abs(int(delta)) - 1) // abs(int(delta))
    return int(np.ceil(abs((float(limit) - float(start)) / float(delta))))


def _range_infer(inputs, attrs):
    for t, n in zip(inputs, ("start", "limit", "delta")):
        _require_scalar(t, f"Range: {n}")
    vals = [constant_value(t) for t in inputs]
    if any(v is None for v in vals):
        return [(attrs["Tidx"], TensorShape([None]))]
    return [(attrs["Tidx"], TensorShape([_range_size(*(v.reshape(()).item() for v in vals))]))]


def _range_compute(v, a):
    start, limit, delta = (x.reshape(()).item() for x in v)
    n = _range_size(start, limit, delta)
    dt = a["Tidx"].np
    if np.dtype(dt).kind in "iu":
        return [np.arange(n, dtype=np.int64).astype(dt) * dt.type(delta) + dt.type(start)]
    return [(start + np.arange(n, dtype=np.float64) * delta).astype(dt)]


register_op("Range", _range_infer, _range_compute, kind="opaque")

_RANGE_ORDER = [_dt.int32, _dt.int64, _dt.float32, _dt.float64]


@atomic
def range(start, limit=None, delta=1, dtype=None, name="range"):  # noqa: A001
    """tf.range: the numbers start, start+delta, ... up to (not including) `limit`;
    ``range(n)`` counts from 0.  The dtype is `dtype`, else the widest of the arguments'
    (int32 < int64 < float32 < float64).  The arguments may be tensors computed at run time
    (the length is then unknown when the graph is built).  Not differentiable."""
    if limit is None:
        start, limit = 0, start
    args = [start, limit, delta]
    tensors = []
    for v in args:
        if isinstance(v, Tensor):
            tensors.append(v)
        else:
            tensors.append(convert_to_tensor(v, dtype=dtype) if dtype is not None
                           else convert_to_tensor(v))
    if dtype is None:
        for t in tensors:
            if t.dtype not in _RANGE_ORDER:
                raise TypeError(f"range: unsupported dtype {t.dtype.name} of '{t.name}'")
        dtype = max((t.dtype for t in tensors), key=_RANGE_ORDER.index)
    dtype = _dt.as_dtype(dtype)
    if dtype not in _RANGE_ORDER:
        raise TypeError(f"range: dtype must be one of int32, int64, float32, float64, got "
                        f"{dtype.name}")
    tensors = [t if t.dtype == dtype else M.cast(t, dtype) for t in tensors]
    return make_op("Range", tensors, {"Tidx": dtype}, name).outputs[0]


# --- linspace (TF's linspace_nd, built from existing ops) ----------------------------------------
@atomic
def linspace(start, stop, num, name=None, axis=0):
    """tf.compat.v1.linspace (= lin_space): `num` evenly spaced values from `start` to `stop`
    inclusive, along a new dimension `axis` of start/stop broadcast together.  Built as TF
    builds it (start + delta * range, with start and stop concatenated at the ends), so the
    gradients are TF's.  `num` must be known when the graph is built."""
    start = convert_to_tensor(start)
    stop = stop if isinstance(stop, Tensor) else convert_to_tensor(stop, dtype=start.dtype)
    if not start.dtype.is_floating:
        raise TypeError(f"linspace: start must be a floating tensor, got {start.dtype.name}")
    if stop.dtype != start.dtype:
        raise TypeError(f"linspace: start ({start.dtype.name}) and stop ({stop.dtype.name}) "
                        "must have the same dtype")
    num = _scalar_int(num, "linspace: num")
    if num < 0:
        raise ValueError(f"linspace: Requires num >= 0, got {num}")
    if start.shape != stop.shape:
        shape = M.broadcast_static_shape(start.shape, stop.shape)
        if not shape.is_fully_defined():
            raise ValueError("linspace: start and stop of different, partly unknown shapes")
        start = A.broadcast_to(start, shape.as_list())
        stop = A.broadcast_to(stop, shape.as_list())
    rank = start.shape.rank
    if rank is None:
        raise ValueError("linspace: start must have a known rank")
    axis = _axis_in(int(axis), rank, "linspace", start.shape, extra=1)
    s = A.expand_dims(start, axis)
    e = A.expand_dims(stop, axis)
    n_steps = max(num - 1, 1)
    delta = (e - s) / constant(np.asarray(n_steps, start.dtype.np))
    fill = max(num - 2, 0)
    r = np.arange(1, fill + 1, dtype=start.dtype.np).reshape(
        [fill if i == axis else 1 for i in _pyrange(rank + 1)])
    res = s + delta * constant(r)
    cat = A.concat([s, res, e], axis)
    key = (builtins.slice(None),) * axis + (builtins.slice(0, num),)
    return A.strided_slice(cat, key, name=name)


lin_space = linspace


# --- OneHot ---------------------------------------------------------------------------------
def _one_hot_infer(inputs, attrs):
    idx, depth, on, off = inputs
    if not idx.dtype.is_integer:
        raise TypeError(f"OneHot: indices must be int32/int64 (or uint8), got {idx.dtype.name}")
    _require_scalar(depth, "OneHot: depth")
    _require_scalar(on, "OneHot: on_value")
    _require_scalar(off, "OneHot: off_value")
    if on.dtype != off.dtype:
        raise TypeError(f"OneHot: on_value ({on.dtype.name}) and off_value ({off.dtype.name}) "
                        "must have the same dtype")
    d = constant_value(depth)
    if d is not None and int(d) < 0:
        raise ValueError(f"OneHot: depth must be non-negative, got {int(d)}")
    if idx.shape.rank is None:
        return [(on.dtype, TensorShape(None))]
    dims = list(idx.shape)
    ax = attrs["axis"]
    if not -1 <= ax <= len(dims):
        raise ValueError(f"OneHot: Expected axis to be -1 or between [0, {len(dims)}).  But "
                         f"received: {ax}")
    dims.insert(len(dims) if ax == -1 else ax, None if d is None else int(d))
    return [(on.dtype, TensorShape(dims))]


def _one_hot_compute(v, a):
    idx, depth, on, off = v
    depth = int(depth)
    if depth < 0:
        raise ValueError(f"depth must be non-negative, got: {depth}")
    hot = idx[..., None] == np.arange(depth)
    out = np.where(hot, on, off).astype(on.dtype)
    if a["axis"] != -1:
        out = np.moveaxis(out, -1, a["axis"])
    return [np.ascontiguousarray(out)]


register_op("OneHot", _one_hot_infer, _one_hot_compute, kind="opaque")


@atomic
def one_hot(indices, depth, on_value=None, off_value=None, axis=None, dtype=None, name=None):
    """tf.one_hot: a tensor with `on_value` (default 1) where the position along the new
    dimension `axis` (default -1, the last) equals the index and `off_value` (default 0)
    elsewhere; indices outside [0, depth) give a row of off_value.  The dtype is `dtype`, else
    on/off_value's, else float32.  `depth` may be a tensor.  Not differentiable."""
    indices = convert_to_tensor(indices)
    if dtype is not None:
        dtype = _dt.as_dtype(dtype)
        for n, v in (("on_value", on_value), ("off_value", off_value)):
            if isinstance(v, Tensor) and v.dtype != dtype:
                raise TypeError(f"dtype {dtype.name} of {n} does not match dtype parameter "
                                f"{v.dtype.name}")
    else:
        for v in (on_value, off_value):
            if isinstance(v, Tensor):
                dtype = v.dtype
                break
            if v is not None:
                dtype = _dt.as_dtype(_core._python_default_array(v, None).dtype)
                break
    if dtype is None:
        dtype = _dt.float32
    on = on_value if isinstance(on_value, Tensor) else constant(
        1 if on_value is None else on_value, dtype=dtype)
    off = off_value if isinstance(off_value, Tensor) else constant(
        0 if off_value is None else off_value, dtype=dtype)
    if on.dtype != off.dtype:
        raise TypeError(f"dtype {on.dtype.name} of on_value does not match dtype "
                        f"{off.dtype.name} of off_value")
    depth = depth if isinstance(depth, Tensor) else convert_to_tensor(depth, dtype=_dt.int32)
    if not depth.dtype.is_integer:
        raise TypeError(f"one_hot: depth must be an integer, got {depth.dtype.name}")
    axis = -1 if axis is None else int(axis)
    return make_op("OneHot", [indices, depth, on, off], {"axis": axis}, name).outputs[0]


# --- ArgMax / ArgMin --------------------------------------------------------------------------
def _arg_infer(inputs, attrs):
    x, = inputs
    if x.dtype.is_bool or x.dtype.is_complex:      # TF: no order on bool or complex values
        raise TypeError(f"{attrs['what']}: input of dtype {x.dtype.name} is not supported")
    ax = attrs["axis"]
    if x.shape.rank is None:
        return [(attrs["output_type"], TensorShape(None))]
    r = x.shape.rank
    if r == 0 or not -r <= ax < r:
        raise ValueError(f"Dimension ({ax}) must be in the range [{-r}, {r}), where {r} is the "
                         f"number of dimensions in the input (shape {_fmt(x.shape)}).")
    ax = ax + r if ax < 0 else ax
    if x.shape[ax] == 0:
        raise ValueError(f"Reduction axis {ax} is empty in shape {_fmt(x.shape)}")
    dims = list(x.shape)
    del dims[ax]
    return [(attrs["output_type"], TensorShape(dims))]


def _arg_compute(f):
    def compute(v, a):
        x = v[0]
        ax = a["axis"]
        if x.shape[ax] == 0:
            raise ValueError(f"Reduction axis {ax % x.ndim} is empty in shape "
                             f"{list(x.shape)}")
        return [np.asarray(f(x, axis=ax)).astype(a["output_type"].np)]
    return compute


register_op("ArgMax", _arg_infer, _arg_compute(np.argmax), kind="opaque")
register_op("ArgMin", _arg_infer, _arg_compute(np.argmin), kind="opaque")


def _arg(op_type, input, axis, name, dimension, output_type):  # noqa: A002
    if axis is not None and dimension is not None:
        raise ValueError("Cannot specify both 'axis' and 'dimension'")
    if axis is None:
        axis = 0 if dimension is None else dimension
    output_type = _dt.as_dtype(output_type)
    if output_type not in (_dt.int32, _dt.int64):
        raise TypeError(f"{op_type.lower()}: output_type must be int32 or int64, got "
                        f"{output_type.name}")
    input = convert_to_tensor(input)
    axis = _scalar_int(axis, f"{op_type.lower()}: axis")
    return make_op(op_type, [input], {"axis": axis, "output_type": output_type,
                                      "what": op_type}, name).outputs[0]


@atomic
def argmax(input, axis=None, name=None, dimension=None, output_type=_dt.int64):  # noqa: A002
    """tf.compat.v1.argmax: the index of the largest value along `axis` (default 0; `dimension`
    is its old name), the first one on ties, as `output_type` (int64 or int32).  `axis` must be
    known when the graph is built.  Not differentiable."""
    return _arg("ArgMax", input, axis, name, dimension, output_type)


@atomic
def argmin(input, axis=None, name=None, dimension=None, output_type=_dt.int64):  # noqa: A002
    """tf.compat.v1.argmin: the index of the smallest value along `axis` (default 0; `dimension`
    is its old name), the first one on ties, as `output_type` (int64 or int32).  Not
    differentiable."""
    return _arg("ArgMin", input, axis, name, dimension, output_type)


# --- Split ------------------------------------------------------------------------------------
def _split_infer(inputs, attrs):
    x, = inputs
    ax, num = attrs["axis"], attrs["num_split"]
    if x.shape.rank is None:
        return [(x.dtype, TensorShape(None))] * num
    dims = list(x.shape)
    d = dims[ax]
    if d is not None and d % num:
        raise ValueError(f"Dimension size must be evenly divisible by {num} but is {d} "
                         f"(input shape {_fmt(x.shape)}, axis {ax})")
    dims[ax] = None if d is None else d // num
    return [(x.dtype, TensorShape(dims))] * num


def _split_compute(v, a):
    x = v[0]
    n = x.shape[a["axis"]]
    if n % a["num_split"]:
        raise ValueError(f"Number of ways to split should evenly divide the split dimension, "
                         f"but got split_dim {a['axis']} (size = {n}) and num_split "
                         f"{a['num_split']}")
    return list(np.split(x, a["num_split"], axis=a["axis"]))


register_op("Split", _split_infer, _split_compute, kind="opaque")


@atomic
def split(value, num_or_size_splits, axis=0, num=None, name="split"):
    """tf.split: `value` cut along `axis` into `num_or_size_splits` equal pieces (an int) or
    pieces of the given sizes (a list; one entry may be -1: the rest).  Returns a list of
    tensors.  `axis` and the sizes must be known when the graph is built."""
    value = convert_to_tensor(value)
    axis = _scalar_int(axis, "split: axis")
    rank = value.shape.rank
    if rank is not None:
        if rank == 0:
            raise ValueError("split: cannot split a scalar")
        axis = _axis_in(axis, rank, "split", value.shape)
    elif axis < 0:
        raise ValueError("split: a negative axis needs an input of known rank")
    sizes = _static_ints(num_or_size_splits, "split: num_or_size_splits")
    if sizes.ndim == 0:
        n = int(sizes)
        if n <= 0:
            raise ValueError(f"split: num_or_size_splits must be positive, got {n}")
        return list(make_op("Split", [value], {"axis": axis, "num_split": n}, name).outputs)
    sizes = [int(s) for s in sizes.reshape(-1)]
    if num is not None and num != len(sizes):
        raise ValueError(f"split: num={num} does not match the {len(sizes)} sizes {sizes}")
    if not sizes:
        raise ValueError("Cannot infer argument `num` from shape [0]")
    if sum(1 for s in sizes if s == -1) > 1 or any(s < -1 for s in sizes):
        raise ValueError(f"split: size_splits {sizes} may hold one -1 and no other negative "
                         "value")
    d = value.shape[axis] if rank is not None else None
    known = sum(s for s in sizes if s != -1)
    if d is not None:
        if -1 not in sizes and known != d:
            raise ValueError(f"can't split axis of size {d} into pieces of size "
                             f"[{','.join(str(s) for s in sizes)}] (input shape "
                             f"{_fmt(value.shape)}, axis {axis})")
        if -1 in sizes and known > d:
            raise ValueError(
                "Determined shape must either match input shape along split_dim exactly if "
                f"fully specified, or be less than the size of the input along split_dim if not "
                f"fully specified.  Got: {known} (sizes {sizes}, input shape "
                f"{_fmt(value.shape)}, axis {axis})")
        sizes = [d - known if s == -1 else s for s in sizes]
        size_t = constant(np.asarray(sizes, np.int32))
    elif -1 in sizes:
        rest = M.subtract(A.strided_slice(A.shape(value), axis), known)
        size_t = A.stack([rest if s == -1 else constant(np.int32(s)) for s in sizes])
    else:
        size_t = constant(np.asarray(sizes, np.int32))
    return list(make_op("SplitV", [value, size_t], {"axis": axis, "num_split": len(sizes)},
                        name).outputs)


# --- Pad / MirrorPad --------------------------------------------------------------------------
def _pad_shape(xshape, pads, mode, what):
    if xshape.rank is None:
        return TensorShape([None] * len(pads))
    if len(pads) != xshape.rank:
        raise ValueError(f"The first dimension of paddings must be the rank of inputs"
                         f"[{len(pads)},2], input shape {_fmt(xshape)} ({what})")
    out = []
    off = {"REFLECT": 1, "SYMMETRIC": 0}.get(mode)
    for i, ((b, a), d) in enumerate(zip(pads, xshape)):
        if b < 0 or a < 0:
            raise ValueError(f"Paddings must be non-negative: {b} {a} ({what})")
        if off is not None and d is not None and (b > d - off or a > d - off):
            raise ValueError(f"paddings must be less than{' or equal to' if off == 0 else ''} "
                             f"the dimension size: {b}, {a} not "
                             f"{'less than or equal to' if off == 0 else 'less than'} {d} "
                             f"(dimension {i} of input shape {_fmt(xshape)}, mode {mode})")
        out.append(None if d is None else d + b + a)
    return TensorShape(out)


def _padv2_infer(inputs, attrs):
    x, c = inputs
    _require_scalar(c, "Pad: constant_values")
    if c.dtype != x.dtype:
        raise TypeError(f"Pad: constant_values ({c.dtype.name}) must have the dtype of the "
                        f"input ({x.dtype.name})")
    return [(x.dtype, _pad_shape(x.shape, attrs["paddings"], "CONSTANT", "Pad"))]


register_op("PadV2", _padv2_infer,
            lambda v, a: [np.pad(v[0], a["paddings"], mode="constant",
                                 constant_values=v[1].reshape(()))], kind="opaque")


def _mirror_pad_infer(inputs, attrs):
    x, = inputs
    return [(x.dtype, _pad_shape(x.shape, attrs["paddings"], attrs["mode"], "MirrorPad"))]


def _mirror_pad_compute(v, a):
    x = v[0]
    _pad_shape(TensorShape(x.shape), a["paddings"], a["mode"], "MirrorPad")
    return [np.pad(x, a["paddings"], mode="reflect" if a["mode"] == "REFLECT" else "symmetric")]


register_op("MirrorPad", _mirror_pad_infer, _mirror_pad_compute, kind="opaque")


def _mirror_pad_grad_infer(inputs, attrs):
    g, = inputs
    if g.shape.rank is None:
        return [(g.dtype, TensorShape([None] * len(attrs["paddings"])))]
    return [(g.dtype, TensorShape([None if d is None else d - b - a
                                   for d, (b, a) in zip(g.shape, attrs["paddings"])]))]


def mirror_pad_grad_np(g, paddings, mode):
    """The transpose of MirrorPad: the padded cells' gradients added onto their sources."""
    off = 1 if mode == "REFLECT" else 0
    out = np.asarray(g)
    for ax, (b, a) in enumerate(paddings):
        n = out.shape[ax] - b - a
        core = np.array(np.take(out, np.arange(b, b + n), axis=ax))
        idx = [builtins.slice(None)] * out.ndim
        if b:
            left = np.flip(np.take(out, np.arange(0, b), axis=ax), axis=ax)
            idx[ax] = builtins.slice(off, off + b)
            core[tuple(idx)] += left
        if a:
            right = np.flip(np.take(out, np.arange(b + n, b + n + a), axis=ax), axis=ax)
            idx[ax] = builtins.slice(n - off - a, n - off)
            core[tuple(idx)] += right
        out = core
    return out


register_op("MirrorPadGrad", _mirror_pad_grad_infer,
            lambda v, a: [mirror_pad_grad_np(v[0], a["paddings"], a["mode"])], kind="opaque")


def _paddings(paddings):
    p = _static_ints(paddings, "pad: paddings")
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"pad: paddings must be a matrix with 2 columns, got shape "
                         f"{list(p.shape)}")
    return tuple((int(b), int(a)) for b, a in p)


@atomic
def pad(tensor, paddings, mode="CONSTANT", name=None, constant_values=0):
    """tf.pad: `tensor` with paddings[i] = [before, after] values added around dimension i:
    `constant_values` (mode 'CONSTANT'), or its mirror image without ('REFLECT') or with
    ('SYMMETRIC') the edge.  `paddings` must be known when the graph is built.  The gradient
    is TF's: a slice (CONSTANT) or MirrorPadGrad (the reflected parts added back)."""
    tensor = convert_to_tensor(tensor)
    pads = _paddings(paddings)
    mode = str(mode).upper()
    if mode == "CONSTANT":
        c = constant_values if isinstance(constant_values, Tensor) else constant(
            constant_values, dtype=tensor.dtype)
        return make_op("PadV2", [tensor, c], {"paddings": pads}, name).outputs[0]
    if mode not in ("REFLECT", "SYMMETRIC"):
        raise ValueError(f'Value of argument `mode` expected to be one of "CONSTANT", '
                         f'"REFLECT", or "SYMMETRIC". Received `mode` = {mode}')
    return make_op("MirrorPad", [tensor], {"paddings": pads, "mode": mode}, name).outputs[0]


def mirror_pad_grad(grad, paddings, mode, name=None):
    """MirrorPad's gradient op (TF's gen_array_ops.mirror_pad_grad)."""
    return make_op("MirrorPadGrad", [grad], {"paddings": tuple(paddings), "mode": mode},
                   name).outputs[0]


# --- ReverseV2 / Roll ---------------------------------------------------------------------------
def _reverse_infer(inputs, attrs):
    x, = inputs
    r = x.shape.rank
    if r is not None:
        seen = set()
        for a in attrs["axis"]:
            if not -r <= a < r:
                raise ValueError(f"ReverseV2: axis {a} is out of valid range [{-r}, {r}) for "
                                 f"input of shape {_fmt(x.shape)}")
            a = a + r if a < 0 else a
            if a in seen:
                raise ValueError(f"ReverseV2: axis {a} specified more than once")
            seen.add(a)
    return [(x.dtype, x.shape)]


register_op("ReverseV2", _reverse_infer,
            lambda v, a: [np.flip(v[0], axis=a["axis"]) if a["axis"] else v[0]], kind="opaque")


@atomic
def reverse(tensor, axis, name=None):
    """tf.reverse (reverse_v2): `tensor` with the order of its entries reversed along each
    dimension in `axis` (a list of ints, known when the graph is built)."""
    tensor = convert_to_tensor(tensor)
    ax = tuple(int(a) for a in np.atleast_1d(_static_ints(axis, "reverse: axis")))
    return make_op("ReverseV2", [tensor], {"axis": ax}, name).outputs[0]


reverse_v2 = reverse


def _roll_infer(inputs, attrs):
    x, = inputs
    r = x.shape.rank
    if r is not None:
        for a in attrs["axis"]:
            if not -r <= a < r:
                raise ValueError(f"Roll: axis {a} is out of range for input of shape "
                                 f"{_fmt(x.shape)}")
    return [(x.dtype, x.shape)]


register_op("Roll", _roll_infer,
            lambda v, a: [np.roll(v[0], a["shift"], axis=a["axis"]) if a["axis"] else v[0]],
            kind="opaque")


@atomic
def roll(input, shift, axis, name=None):  # noqa: A002
    """tf.roll: `input` with its entries shifted by `shift` (wrapping around) along `axis`;
    shift and axis are ints or equal-length lists, known when the graph is built."""
    input = convert_to_tensor(input)
    sh = np.atleast_1d(_static_ints(shift, "roll: shift"))
    ax = np.atleast_1d(_static_ints(axis, "roll: axis"))
    if sh.ndim != 1 or ax.ndim != 1 or sh.shape != ax.shape:
        raise ValueError(f"roll: shift {sh.tolist()} and axis {ax.tolist()} must be scalars "
                         "or vectors of the same length")
    return make_op("Roll", [input], {"shift": tuple(int(s) for s in sh),
                                     "axis": tuple(int(a) for a in ax)}, name).outputs[0]


# --- GatherNd / ScatterNd / TensorScatter* -------------------------------------------------------
def _check_indices(indices, what):
    if not indices.dtype.is_integer:
        raise TypeError(f"{what}: indices must be int32 or int64, got {indices.dtype.name}")


def _gather_nd_infer(inputs, attrs):
    params, idx = inputs
    _check_indices(idx, "GatherNd")
    if params.shape.rank is None or idx.shape.rank is None:
        return [(params.dtype, TensorShape(None))]
    if idx.shape.rank == 0:
        raise ValueError(f"GatherNd: indices must be at least a vector, got shape "
                         f"{_fmt(idx.shape)}")
    k = idx.shape[-1]
    if k is None:
        return [(params.dtype, TensorShape(None))]
    if k > params.shape.rank:
        raise ValueError(f"GatherNd: indices.shape[-1] must be <= params.rank, but saw "
                         f"indices shape: {_fmt(idx.shape)} and params shape: "
                         f"{_fmt(params.shape)}")
    return [(params.dtype, TensorShape(list(idx.shape)[:-1] + list(params.shape)[k:]))]


def _nd_index(shape, idx, what):
    """Tuple of index arrays for `idx[..., k]` into an array of `shape`, bounds-checked."""
    k = idx.shape[-1]
    for j in _pyrange(k):
        col = idx[..., j]
        bad = (col < 0) | (col >= shape[j])
        if bad.any():
            pos = np.argwhere(bad)[0]
            raise IndexError(f"{what}: indices{list(pos)} = {list(idx[tuple(pos)])} does not "
                             f"index into param shape {list(shape)}")
    return tuple(idx[..., j] for j in _pyrange(k))


def _gather_nd_compute(v, a):
    params, idx = v
    return [np.asarray(params[_nd_index(params.shape, idx, "GatherNd")])]


register_op("GatherNd", _gather_nd_infer, _gather_nd_compute, kind="opaque")


@atomic
def gather_nd(params, indices, name=None, batch_dims=0):
    """tf.gather_nd: the slices params[indices[..., :]] (indices' last dimension indexes the
    leading dimensions of params).  Out-of-range indices fail at run time.  Gradient:
    scatter_nd of the incoming gradient (TF's)."""
    if batch_dims:
        raise NotImplementedError("gather_nd: batch_dims != 0 is not supported")
    params = convert_to_tensor(params)
    indices = convert_to_tensor(indices)
    return make_op("GatherNd", [params, indices], name=name).outputs[0]


def _scatter_updates_shape(idx, upd, out_shape, what):
    """TF's check: updates.shape == indices.shape[:-1] + shape[indices.shape[-1]:]."""
    if idx.shape.rank is None or upd.shape.rank is None or out_shape.rank is None:
        return
    k = idx.shape[-1]
    if idx.shape.rank == 0:
        raise ValueError(f"{what}: indices must be at least a vector, got a scalar")
    if k is None:
        return
    if k > out_shape.rank:
        raise ValueError(f"{what}: Outer dimensions of indices and update must match; the "
                         f"last dimension of indices ({k}) must be <= the rank of the output "
                         f"{_fmt(out_shape)}")
    want = TensorShape(list(idx.shape)[:-1] + list(out_shape)[k:])
    if not want.is_compatible_with(upd.shape):
        raise ValueError(f"{what}: the shape of updates {_fmt(upd.shape)} must be indices.shape"
                         f"[:-1] + shape[indices.shape[-1]:] = {_fmt(want)} (indices "
                         f"{_fmt(idx.shape)}, shape {_fmt(out_shape)})")


def _scatter_nd_infer(inputs, attrs):
    idx, upd, shp = inputs
    _check_indices(idx, "ScatterNd")
    if not shp.dtype.is_integer:
        raise TypeError(f"ScatterNd: shape must be int32/int64, got {shp.dtype.name}")
    known = shape_tensor_value(shp)
    out = TensorShape(None) if known is None else TensorShape(
        [None if d is None else d for d in known])
    if known is not None and any(d is not None and d < 0 for d in known):
        raise ValueError(f"ScatterNd: shape {known} must be non-negative")
    _scatter_updates_shape(idx, upd, out, "ScatterNd")
    return [(upd.dtype, out)]


def _scatter_nd_compute(v, a):
    idx, upd, shp = v
    out = np.zeros(tuple(int(d) for d in shp), dtype=upd.dtype)
    np.add.at(out, _nd_index(out.shape, idx, "ScatterNd"), upd)
    return [out]


register_op("ScatterNd", _scatter_nd_infer, _scatter_nd_compute, kind="opaque")


@atomic
def scatter_nd(indices, updates, shape, name=None):
    """tf.scatter_nd: a zero tensor of `shape` with `updates` added at `indices` (duplicates
    are summed).  `shape` may be a tensor.  Gradient: gather_nd of the incoming gradient."""
    indices = convert_to_tensor(indices)
    updates = convert_to_tensor(updates)
    shape = A._shape_arg(shape, "scatter_nd")
    if shape.dtype != indices.dtype:
        shape = M.cast(shape, indices.dtype)
    return make_op("ScatterNd", [indices, updates, shape], name=name).outputs[0]


def _tensor_scatter_infer(what):
    def infer(inputs, attrs):
        t, idx, upd = inputs
        _check_indices(idx, what)
        if upd.dtype != t.dtype:
            raise TypeError(f"{what}: updates ({upd.dtype.name}) must have the dtype of tensor "
                            f"({t.dtype.name})")
        _scatter_updates_shape(idx, upd, t.shape, what)
        return [(t.dtype, t.shape)]
    return infer


def _tensor_scatter_compute(add):
    def compute(v, a):
        t, idx, upd = v
        out = np.array(t, copy=True)
        where = _nd_index(out.shape, idx, "TensorScatterAdd" if add else "TensorScatterUpdate")
        if add:
            np.add.at(out, where, upd)
        else:
            out[where] = upd       # duplicates: the last update wins (TF's CPU kernel)
        return [out]
    return compute


register_op("TensorScatterUpdate", _tensor_scatter_infer("TensorScatterUpdate"),
            _tensor_scatter_compute(False), kind="opaque")
register_op("TensorScatterAdd", _tensor_scatter_infer("TensorScatterAdd"),
            _tensor_scatter_compute(True), kind="opaque")


def _tensor_scatter(op_type, tensor, indices, updates, name):
    tensor = convert_to_tensor(tensor)
    indices = convert_to_tensor(indices)
    updates = updates if isinstance(updates, Tensor) else convert_to_tensor(
        updates, dtype=tensor.dtype)
    return make_op(op_type, [tensor, indices, updates], name=name).outputs[0]


@atomic
def tensor_scatter_nd_update(tensor, indices, updates, name=None):
    """tf.tensor_scatter_nd_update: a copy of `tensor` with the slices at `indices` replaced by
    `updates`.  Gradients (TF's): tensor gets grad with the updated slices zeroed, updates
    get gather_nd(grad, indices)."""
    return _tensor_scatter("TensorScatterUpdate", tensor, indices, updates, name)


@atomic
def tensor_scatter_nd_add(tensor, indices, updates, name=None):
    """tf.tensor_scatter_nd_add: a copy of `tensor` with `updates` added at `indices`
    (duplicates are summed).  Gradients: grad for tensor, gather_nd(grad, indices) for
    updates."""
    return _tensor_scatter("TensorScatterAdd", tensor, indices, updates, name)


# --- boolean_mask / meshgrid / repeat / sequence_mask (compositions) ----------------------------
@atomic
def boolean_mask(tensor, mask, name="boolean_mask", axis=None):
    """tf.compat.v1.boolean_mask: the entries (or slices) of `tensor` where the boolean `mask`
    is True; mask's shape must match tensor's dimensions axis..axis+mask.rank-1, which become
    one dimension of data-dependent size.  Built, as in TF, from reshape, where and gather, so
    its gradient is gather's (IndexedSlices along that dimension)."""
    tensor = convert_to_tensor(tensor)
    mask = convert_to_tensor(mask)
    if not mask.dtype.is_bool:
        raise TypeError(f"boolean_mask: mask must be a bool tensor, got {mask.dtype.name}")
    ndims_mask = mask.shape.rank
    if ndims_mask is None:
        raise ValueError("Number of mask dimensions must be specified, even if some "
                         "dimensions are None.  E.g. shape=[None] is ok, but shape=None is not.")
    if ndims_mask == 0:
        raise ValueError("mask cannot be scalar.")
    axis = 0 if axis is None else _scalar_int(axis, "boolean_mask: axis")
    rank = tensor.shape.rank
    if rank is None:
        raise ValueError("boolean_mask: tensor must have a known rank")
    if axis < 0:
        axis += rank
    if axis < 0 or axis + ndims_mask > rank:
        raise ValueError(f"boolean_mask: axis {axis} and mask rank {ndims_mask} do not fit "
                         f"tensor shape {_fmt(tensor.shape)}")
    part = TensorShape(list(tensor.shape)[axis:axis + ndims_mask])
    if not part.is_compatible_with(mask.shape):
        raise ValueError(f"Shapes {_fmt(part)} and {_fmt(mask.shape)} are incompatible "
                         f"(tensor shape {_fmt(tensor.shape)}, mask shape {_fmt(mask.shape)}, "
                         f"axis {axis})")
    dims = list(tensor.shape)
    lead = dims[axis:axis + ndims_mask]
    n = (int(np.prod(lead)) if all(d is not None for d in lead) else None)
    if any(d is None for d in dims) or n is None:
        shp = A.shape(tensor)
        new_shape = A.concat([A.strided_slice(shp, builtins.slice(0, axis)),
                              constant([-1], dtype=_dt.int32),
                              A.strided_slice(shp, builtins.slice(axis + ndims_mask, None))], 0)
    else:
        new_shape = dims[:axis] + [n] + dims[axis + ndims_mask:]
    flat = A.reshape(tensor, new_shape)
    flat_mask = A.reshape(mask, [-1])
    idx = A.squeeze(M.where(flat_mask), axis=[1])
    return A.gather(flat, idx, axis=axis, name=name)


@atomic
def meshgrid(*args, **kwargs):
    """tf.meshgrid: N-D coordinate arrays from 1-D `args`; ``indexing='xy'`` (default,
    Cartesian: the first two output dimensions swapped) or ``'ij'`` (matrix).  Built from
    reshape and multiplication by ones, as in TF."""
    indexing = kwargs.pop("indexing", "xy")
    name = kwargs.pop("name", "meshgrid")
    if kwargs:
        key = list(kwargs)[0]
        raise TypeError(f"'{key}' is an invalid keyword argument for this function")
    if indexing not in ("xy", "ij"):
        raise ValueError(f"Argument `indexing` parameter must be either 'xy' or 'ij', got "
                         f"'{indexing}'")
    args = [convert_to_tensor(a) for a in args]
    ndim = len(args)
    if ndim == 0:
        return []
    s0 = (1,) * ndim
    for a in args:
        if a.shape.rank not in (None, 1):
            raise ValueError(f"meshgrid: inputs must be 1-D, got shape {_fmt(a.shape)}")
    output = [A.reshape(x, (-1,) + s0[i + 1:] if i == 0 else s0[:i] + (-1,) + s0[i + 1:])
              for i, x in enumerate(args)]
    shapes = [A.size(x) for x in args]
    if indexing == "xy" and ndim > 1:
        output[0] = A.reshape(args[0], (1, -1) + (1,) * (ndim - 2))
        output[1] = A.reshape(args[1], (-1, 1) + (1,) * (ndim - 2))
        shapes[0], shapes[1] = shapes[1], shapes[0]
    mult_fact = A.ones(A.stack(shapes), output[0].dtype)
    return [x * mult_fact for x in output]


@atomic
def repeat(input, repeats, axis=None, name=None):  # noqa: A002
    """tf.repeat: each entry of `input` repeated `repeats` times (an int, or one count per
    entry) along `axis` (None: of the flattened input).  `repeats` and the size of that
    dimension must be known when the graph is built; built from gather, so the gradient adds
    the copies' gradients."""
    input = convert_to_tensor(input)
    if axis is None:
        input = A.reshape(input, [-1])
        axis = 0
    axis = _scalar_int(axis, "repeat: axis")
    rank = input.shape.rank
    if rank is None:
        raise ValueError("repeat: input must have a known rank")
    axis = _axis_in(axis, rank, "repeat", input.shape)
    n = input.shape[axis]
    if n is None:
        raise ValueError(f"repeat: dimension {axis} of input shape {_fmt(input.shape)} must be "
                         "known when the graph is built")
    reps = np.asarray(_static_ints(repeats, "repeat: repeats")).reshape(-1)
    if reps.size not in (1, n):
        raise ValueError(f"repeat: repeats has {reps.size} entries, expected 1 or {n} (input "
                         f"shape {_fmt(input.shape)}, axis {axis})")
    if (reps < 0).any():
        raise ValueError(f"repeat: repeats must be non-negative, got {reps.tolist()}")
    idx = np.repeat(np.arange(n, dtype=np.int32), reps if reps.size == n else int(reps[0]))
    return A.gather(input, constant(idx), axis=axis, name=name)


@atomic
def sequence_mask(lengths, maxlen=None, dtype=_dt.bool_, name=None):
    """tf.sequence_mask: mask[..., j] = j < lengths[...], for j < `maxlen` (default: the
    largest length; may be a tensor), cast to `dtype`.  Not differentiable."""
    lengths = convert_to_tensor(lengths)
    if not lengths.dtype.is_integer:
        raise TypeError(f"sequence_mask: lengths must be integers, got {lengths.dtype.name}")
    if maxlen is None:
        maxlen = R.reduce_max(lengths)
        maxlen = M.maximum(constant(np.zeros((), lengths.dtype.np)), maxlen)
    else:
        maxlen = maxlen if isinstance(maxlen, Tensor) else convert_to_tensor(maxlen)
        if maxlen.shape.rank not in (None, 0):
            raise ValueError(f"Argument `maxlen` must be scalar for sequence_mask, received "
                             f"`maxlen` = {maxlen} with shape '{maxlen.shape}' instead")
    row = range(constant(np.zeros((), maxlen.dtype.np)), maxlen,
                constant(np.ones((), maxlen.dtype.np)))
    if row.dtype != lengths.dtype:
        row = M.cast(row, lengths.dtype)
    out = M.less(row, A.expand_dims(lengths, -1))
    dtype = _dt.as_dtype(dtype)
    if dtype != _dt.bool_:
        out = M.cast(out, dtype)
    if name is not None:
        out = A.identity(out, name=name)
    return out


# --- TopKV2 / sort / argsort ------------------------------------------------------------------
def _top_k_infer(inputs, attrs):
    x, = inputs
    k = attrs["k"]
    if x.dtype.is_bool or x.dtype.is_complex:
        raise TypeError(f"TopKV2: input of dtype {x.dtype.name} is not supported")
    if x.shape.rank is None:
        return [(x.dtype, TensorShape(None)), (attrs["index_type"], TensorShape(None))]
    if x.shape.rank == 0:
        raise ValueError(f"TopKV2: input must be at least 1-D, got shape {_fmt(x.shape)}")
    n = x.shape[-1]
    if k is not None and k < 0:
        raise ValueError(f"Need k >= 0, got {k}")
    if k is not None and n is not None and n < k:
        raise ValueError(f"input must have last dimension >= k = {k} but is {n} (input shape "
                         f"{_fmt(x.shape)})")
    dims = list(x.shape)[:-1] + [n if k is None else k]
    return [(x.dtype, TensorShape(dims)), (attrs["index_type"], TensorShape(dims))]


def top_k_order(x):
    """Indices sorting the last axis of `x` in descending order, ties by lower index first
    (TF's TopKV2); NaN counts as the largest value."""
    if x.dtype.kind == "f":
        key = -x
        key = np.where(np.isnan(x), -np.inf, key)
        order = np.argsort(key, axis=-1, kind="stable")
        # -x maps -inf onto +inf, NaN onto -inf: NaNs first, as TF's comparator sorts them.
        return order
    if x.dtype.kind == "i":
        return np.argsort(~x, axis=-1, kind="stable")
    return np.argsort(np.iinfo(x.dtype).max - x, axis=-1, kind="stable")


def _top_k_compute(v, a):
    x = v[0]
    k = x.shape[-1] if a["k"] is None else a["k"]
    if x.shape[-1] < k:
        raise ValueError(f"input must have at least k columns. Had {x.shape[-1]}, needed {k}")
    order = top_k_order(x)[..., :k]
    return [np.take_along_axis(x, order, axis=-1), order.astype(a["index_type"].np)]


register_op("TopKV2", _top_k_infer, _top_k_compute, kind="opaque")


def _top_k(input, k, sorted=True, name=None):  # noqa: A002
    input = convert_to_tensor(input)
    k = None if k is None else _scalar_int(k, "top_k: k")
    op = make_op("TopKV2", [input], {"k": k, "sorted": bool(sorted), "index_type": _dt.int32},
                 name)
    return op.outputs[0], op.outputs[1]


@atomic
def top_k(input, k=1, sorted=True, name=None):  # noqa: A002
    """tf.nn.top_k: the `k` largest entries of each row (the last dimension) of `input`, in
    descending order, and their int32 indices (ties: the lower index first).  `k` must be
    known when the graph is built; `sorted` is accepted (the result is always sorted).
    Gradient (TF's): the values' gradient scattered back to the indices."""
    return _top_k(input, k, sorted, name)


def _sort_last(values, axis, descending, want_indices, name):
    values = convert_to_tensor(values)
    rank = values.shape.rank
    if rank is None:
        raise ValueError("sort: input must have a known rank")
    if rank == 0:
        raise ValueError("sort: input must be at least 1-D")
    axis = _axis_in(_scalar_int(axis, "sort: axis"), rank, "sort", values.shape)
    x = values if descending else M.negative(values)
    perm = None
    if axis != rank - 1:
        perm = list(_pyrange(rank))
        perm[axis], perm[-1] = perm[-1], perm[axis]
        x = A.transpose(x, perm)
    vals, idx = _top_k(x, None)
    out = idx if want_indices else vals
    if perm is not None:
        out = A.transpose(out, perm)
    if not want_indices and not descending:
        out = M.negative(out)
    if name is not None:
        out = A.identity(out, name=name)
    return out


def _direction(direction):
    if direction not in ("ASCENDING", "DESCENDING"):
        raise ValueError(f'direction should be one of "ASCENDING", "DESCENDING", got '
                         f'"{direction}"')
    return direction == "DESCENDING"


@atomic
def sort(values, axis=-1, direction="ASCENDING", name=None):
    """tf.sort: `values` sorted along `axis` ('ASCENDING' or 'DESCENDING'); built as TF builds
    it, from top_k of the (negated) values, so its gradient is top_k's."""
    values = convert_to_tensor(values)
    if not (values.dtype.is_floating or values.dtype.is_integer):
        raise TypeError(f"sort: unsupported dtype {values.dtype.name}")
    return _sort_last(values, axis, _direction(direction), False, name)


@atomic
def argsort(values, axis=-1, direction="ASCENDING", stable=False, name=None):
    """tf.argsort: int32 indices that sort `values` along `axis` ('ASCENDING' or
    'DESCENDING'); equal values keep their order (always stable, as TF's top_k is).  Its
    gradient (an integer output) is zeros, as in TF."""
    values = convert_to_tensor(values)
    if not (values.dtype.is_floating or values.dtype.is_integer):
        raise TypeError(f"argsort: unsupported dtype {values.dtype.name}")
    return _sort_last(values, axis, _direction(direction), True, name)


# --- tensordot / einsum (compositions) -------------------------------------------------------------
def _tensordot_axes(a, b, axes):
    ra, rb = a.shape.rank, b.shape.rank
    if ra is None or rb is None:
        raise ValueError("tensordot: a and b must have known ranks")
    if isinstance(axes, Tensor):
        axes = constant_value(axes)
        if axes is None:
            raise TypeError("tensordot: axes must be known when the graph is built")
    if isinstance(axes, (numbers.Integral, np.integer)) or (
            isinstance(axes, np.ndarray) and axes.ndim == 0):
        n = int(axes)
        if n < 0:
            raise ValueError(f"'axes' must be at least 0, got {n}")
        if n > ra or n > rb:
            raise ValueError(f"'axes' must not be larger than the number of dimensions of "
                             f"tensor {a.name if n > ra else b.name}: {n} (shapes "
                             f"{_fmt(a.shape)} and {_fmt(b.shape)})")
        axes = [list(_pyrange(ra - n, ra)), list(_pyrange(n))]
    axes = list(axes) if not isinstance(axes, np.ndarray) else axes.tolist()
    if len(axes) != 2:
        raise ValueError(f"'axes' must be an integer or have length 2, got {axes}")
    a_ax = [int(x) for x in np.atleast_1d(np.asarray(axes[0]))]
    b_ax = [int(x) for x in np.atleast_1d(np.asarray(axes[1]))]
    if len(a_ax) != len(b_ax):
        raise ValueError(f"Different number of contraction axes 'a' and 'b', {len(a_ax)} != "
                         f"{len(b_ax)}.")
    a_ax = [_axis_in(x, ra, "tensordot", a.shape) for x in a_ax]
    b_ax = [_axis_in(x, rb, "tensordot", b.shape) for x in b_ax]
    for i, j in zip(a_ax, b_ax):
        da, db = a.shape[i], b.shape[j]
        if da is not None and db is not None and da != db:
            raise ValueError(f"Dimensions must be equal, but are {da} and {db} (tensordot: "
                             f"dimension {i} of a, shape {_fmt(a.shape)}, against dimension {j} "
                             f"of b, shape {_fmt(b.shape)})")
    return a_ax, b_ax


@atomic
def tensordot(a, b, axes, name=None):
    """tf.tensordot: the sum of a*b over a's `axes[0]` against b's `axes[1]` (or, for an int n,
    a's last n dims against b's first n).  Built, as in TF, from transpose, reshape and matmul
    (gradients from those); the shapes must be known when the graph is built."""
    a = convert_to_tensor(a)
    b = convert_to_tensor(b, dtype=a.dtype if not isinstance(b, Tensor) else None)
    if a.dtype != b.dtype:
        raise TypeError(f"tensordot: a ({a.dtype.name}) and b ({b.dtype.name}) must have the "
                        "same dtype")
    a_ax, b_ax = _tensordot_axes(a, b, axes)
    if not a.shape.is_fully_defined() or not b.shape.is_fully_defined():
        raise ValueError(f"tensordot: shapes {_fmt(a.shape)} and {_fmt(b.shape)} must be known "
                         "when the graph is built")
    sa, sb = a.shape.as_list(), b.shape.as_list()
    a_free = [i for i in _pyrange(len(sa)) if i not in a_ax]
    b_free = [i for i in _pyrange(len(sb)) if i not in b_ax]
    k = int(np.prod([sa[i] for i in a_ax], dtype=np.int64))
    ma = int(np.prod([sa[i] for i in a_free], dtype=np.int64))
    nb = int(np.prod([sb[i] for i in b_free], dtype=np.int64))
    at = A.transpose(a, a_free + a_ax) if a_free + a_ax != list(_pyrange(len(sa))) else a
    bt = A.transpose(b, b_ax + b_free) if b_ax + b_free != list(_pyrange(len(sb))) else b
    prod = M.matmul(A.reshape(at, [ma, k]), A.reshape(bt, [k, nb]))
    return A.reshape(prod, [sa[i] for i in a_free] + [sb[i] for i in b_free], name=name)


def _parse_einsum(equation, shapes):
    """(input label lists, output label list, size of each label); ellipsis dims get labels
    '0', '1', ... aligned from the right."""
    eq = equation.replace(" ", "")
    if "->" in eq:
        lhs, out = eq.split("->")
        if "->" in out:
            raise ValueError(f"einsum: equation {equation!r} has more than one '->'")
    else:
        lhs, out = eq, None
    terms = lhs.split(",")
    if len(terms) != len(shapes):
        raise ValueError(f"einsum: equation {equation!r} has {len(terms)} inputs but "
                         f"{len(shapes)} tensors were given")
    ell_rank = 0
    parsed = []
    for term, shp in zip(terms, shapes):
        if term.count("...") > 1 or term.replace("...", "").count(".") > 0:
            raise ValueError(f"einsum: bad subscripts {term!r} in {equation!r}")
        letters = term.replace("...", "")
        for c in letters:
            if c not in string.ascii_letters:
                raise ValueError(f"einsum: invalid subscript {c!r} in equation {equation!r}")
        if "..." in term:
            n = len(shp) - len(letters)
            if n < 0:
                raise ValueError(f"einsum: subscripts {term!r} need at least {len(letters)} "
                                 f"dims, input has shape {list(shp)}")
            ell_rank = max(ell_rank, n)
        elif len(letters) != len(shp):
            raise ValueError(f"einsum: Expected number of dimensions {len(letters)} for "
                             f"subscripts {term!r}, got input of shape {list(shp)} "
                             f"(equation {equation!r})")
        parsed.append(term)
    ell = [str(i) for i in _pyrange(ell_rank)]
    labels = []
    for term, shp in zip(parsed, shapes):
        if "..." in term:
            pre, post = term.split("...")
            n = len(shp) - len(pre) - len(post)
            labels.append(list(pre) + ell[ell_rank - n:] + list(post))
        else:
            labels.append(list(term))
    sizes = {}
    for lab, shp in zip(labels, shapes):
        for c, d in zip(lab, shp):
            if c.isdigit():
                if d is None:
                    raise ValueError("einsum: broadcast dims must be known")
                if d != 1:
                    if sizes.get(c, 1) not in (1, d):
                        raise ValueError(f"einsum: broadcast dims of shapes {shapes} do not "
                                         f"broadcast (equation {equation!r})")
                    sizes[c] = d
                else:
                    sizes.setdefault(c, 1)
                continue
            if c in sizes and d is not None and sizes[c] is not None and sizes[c] != d:
                raise ValueError(f"Dimensions must be equal, but are {sizes[c]} and {d} for label "
                                 f"{c!r} (einsum {equation!r}, shapes {shapes})")
            if sizes.get(c) is None:
                sizes[c] = d
    if out is None:
        counts = {}
        for lab in labels:
            for c in lab:
                counts[c] = counts.get(c, 0) + 1
        out_labels = ell + sorted(c for c, n in counts.items() if n == 1 and not c.isdigit())
    else:
        if out.count("...") > 1:
            raise ValueError(f"einsum: bad output subscripts {out!r}")
        if "..." in out:
            pre, post = out.split("...")
            out_labels = list(pre) + ell + list(post)
        else:
            if ell_rank and any(sizes.get(c, 1) != 1 for c in ell):
                raise ValueError(f"einsum: output subscripts of {equation!r} must contain '...'"
                                 " when the inputs broadcast")
            out_labels = list(out)
        seen = set()
        for c in out_labels:
            if not c.isdigit() and c not in string.ascii_letters:
                raise ValueError(f"einsum: invalid output subscript {c!r} in {equation!r}")
            if c in seen:
                raise ValueError(f"einsum: Output subscripts contain the label {c!r} more than "
                                 f"once: {equation!r}")
            seen.add(c)
            if not c.isdigit() and not any(c in lab for lab in labels):
                raise ValueError(f"einsum: Output subscript {c!r} does not appear in the input "
                                 f"subscripts of {equation!r}")
    return labels, out_labels, sizes


def _take_diagonal(x, lab):
    """Remove repeated labels of one operand: x[..., i, ..., i, ...] -> x[..., i, ...]."""
    while True:
        dup = next((c for c in lab if lab.count(c) > 1), None)
        if dup is None:
            return x, lab
        p = lab.index(dup)
        q = lab.index(dup, p + 1)
        n = x.shape[p]
        if n is None:
            raise ValueError("einsum: a repeated label needs a known dimension")
        shape = [1] * len(lab)
        shape[p] = shape[q] = n
        eye = constant(np.eye(n, dtype=x.dtype.np).reshape(shape))
        x = R.reduce_sum(x * eye, axis=q)
        lab = lab[:q] + lab[q + 1:]


@atomic
def einsum(equation, *inputs, **kwargs):
    """tf.einsum: the Einstein summation `equation` ('ij,jk->ik', implicit output, repeated
    labels for diagonals and traces, '...' broadcasting) of the `inputs`.  Built from
    transpose, reshape, multiplication and reduce_sum (matmul for a plain two-operand
    contraction), so gradients come from those ops.  Shapes must be known when the graph is
    built."""
    name = kwargs.pop("name", None)
    kwargs.pop("optimize", None)
    if kwargs:
        raise TypeError(f"Invalid keyword arguments for this function: {', '.join(kwargs)}")
    if not isinstance(equation, str):
        raise TypeError(f"einsum: equation must be a string, got {equation!r}")
    if not inputs:
        raise ValueError("einsum: at least one input is needed")
    inputs = [convert_to_tensor(x) for x in inputs]
    for x in inputs:
        if x.dtype != inputs[0].dtype:
            raise TypeError(f"einsum: inputs must have the same dtype, got {inputs[0].dtype.name}"
                            f" and {x.dtype.name}")
        if x.shape.rank is None:
            raise ValueError("einsum: inputs must have known ranks")
    labels, out_labels, sizes = _parse_einsum(equation, [x.shape.as_list() for x in inputs])
    ops_ = []
    for x, lab in zip(inputs, labels):
        x, lab = _take_diagonal(x, lab)
        ops_.append((x, lab))
    # labels summed away that occur in a single operand: reduce them at once
    for i, (x, lab) in enumerate(ops_):
        others = set(out_labels)
        for j, (_, l2) in enumerate(ops_):
            if j != i:
                others.update(l2)
        gone = [p for p, c in enumerate(lab) if c not in others]
        if gone:
            x = R.reduce_sum(x, axis=gone)
            lab = [c for c in lab if c in others]
        ops_[i] = (x, lab)
    contracted = []
    for _, lab in ops_:
        contracted += [c for c in lab if c not in out_labels and c not in contracted]
    order = out_labels + contracted
    result = None
    if len(ops_) == 2 and all(x.shape.is_fully_defined() for x, _ in ops_) and \
            all(sizes.get(c, 1) == 1 or all(
                c not in lab or x.shape[lab.index(c)] == sizes[c] for x, lab in ops_)
                for c in order if c.isdigit()):
        result = _einsum_matmul(ops_, out_labels, sizes)
    if result is None:
        aligned = []
        for x, lab in ops_:
            perm = [lab.index(c) for c in order if c in lab]
            if perm != list(_pyrange(len(lab))):
                x = A.transpose(x, perm)
            shape = [x.shape[[c for c in order if c in lab].index(c)] if c in lab else 1
                     for c in order]
            if len(shape) != len(lab):
                x = A.reshape(x, [-1 if d is None else d for d in shape]) if sum(
                    d is None for d in shape) <= 1 else _expand_to(x, lab, order)
            aligned.append(x)
        result = aligned[0]
        for x in aligned[1:]:
            result = result * x
        if contracted:
            result = R.reduce_sum(result, axis=list(_pyrange(len(out_labels), len(order))))
    if name is not None:
        result = A.identity(result, name=name)
    return result


def _expand_to(x, lab, order):
    for p, c in enumerate(order):
        if c not in lab:
            x = A.expand_dims(x, p)
    return x


def _einsum_matmul(ops_, out_labels, sizes):
    """Two operands, all shapes known, no broadcasting: batch/free/contracted -> matmul."""
    (x, lx), (y, ly) = ops_
    batch = [c for c in lx if c in ly and c in out_labels]
    con = [c for c in lx if c in ly and c not in out_labels]
    fx = [c for c in lx if c not in ly]
    fy = [c for c in ly if c not in lx]
    if not con and not batch:
        return None
    dim = {}
    for t, lab in ((x, lx), (y, ly)):
        for c, d in zip(lab, t.shape.as_list()):
            dim[c] = d

    def prod(cs):
        return int(np.prod([dim[c] for c in cs], dtype=np.int64))

    def arrange(t, lab, want):
        perm = [lab.index(c) for c in want]
        return A.transpose(t, perm) if perm != list(_pyrange(len(lab))) else t

    xt = A.reshape(arrange(x, lx, batch + fx + con), [prod(batch), prod(fx), prod(con)])
    yt = A.reshape(arrange(y, ly, batch + con + fy), [prod(batch), prod(con), prod(fy)])
    z = M.matmul(xt, yt)
    got = batch + fx + fy
    z = A.reshape(z, [dim[c] for c in got])
    perm = [got.index(c) for c in out_labels]
    return A.transpose(z, perm) if perm != list(_pyrange(len(got))) else z


# --- gather with batch_dims (a GatherNd composition) -------------------------------------------------
def gather_batch_dims(params, indices, axis, batch_dims, name=None):
    """tf.gather with batch_dims > 0, built from transpose, reshape and gather_nd: for each
    index of the leading `batch_dims` dimensions (shared by params and indices), gather along
    `axis`.  Shapes of the batch dimensions must be known when the graph is built."""
    params = convert_to_tensor(params)
    indices = convert_to_tensor(indices)
    rp, ri = params.shape.rank, indices.shape.rank
    if rp is None or ri is None:
        raise ValueError("gather: batch_dims needs params and indices of known rank")
    b = batch_dims + ri if batch_dims < 0 else batch_dims
    if not 0 <= b <= ri:
        raise ValueError(f"batch_dims ({batch_dims}) must be in [{-ri}, {ri}] (indices rank "
                         f"{ri})")
    if axis is None:
        axis = b
    axis = axis + rp if axis < 0 else axis
    if b >= rp or axis < b or axis >= rp:
        raise ValueError(f"gather: batch_dims ({b}) must be less than rank(params) ({rp}) and "
                         f"<= axis ({axis})")
    pb = params.shape.as_list()[:b]
    ib = indices.shape.as_list()[:b]
    if any(d is None for d in pb + ib) or pb != ib:
        raise ValueError(f"gather: params.shape[:{b}] {pb} must equal indices.shape[:{b}] {ib} "
                         "and be known when the graph is built")
    if b == 0:
        return A.gather(params, indices, axis=axis, name=name)
    nb = int(np.prod(pb, dtype=np.int64))
    # params: (B..., pre..., N, post...) -> (nb, N, pre..., post...)
    perm = list(_pyrange(b)) + [axis] + list(_pyrange(b, axis)) + list(_pyrange(axis + 1, rp))
    pt = A.transpose(params, perm) if perm != list(_pyrange(rp)) else params
    pshape = [params.shape[i] for i in perm]
    pt = A.reshape(pt, [nb] + [-1 if d is None else d for d in pshape[b:b + 1]] +
                   [d if d is not None else -1 for d in pshape[b + 1:]]) if sum(
        d is None for d in pshape[b:]) <= 1 else None
    if pt is None:
        raise ValueError("gather: batch_dims needs params dims known when the graph is built")
    ishape = indices.shape.as_list()[b:]
    if any(d is None for d in ishape):
        raise ValueError("gather: batch_dims needs indices' shape known when the graph is built")
    it = A.reshape(indices, [nb] + ishape)
    grid = np.arange(nb, dtype=indices.dtype.np).reshape([nb] + [1] * len(ishape))
    grid = constant(np.broadcast_to(grid, [nb] + ishape).copy())
    nd = A.stack([grid, it], axis=-1)
    g = gather_nd(pt, nd)                   # (nb, I..., pre..., post...)
    n_pre, n_i = axis - b, len(ishape)
    rest = len(pshape) - b - 1 - n_pre
    perm2 = [0] + list(_pyrange(1 + n_i, 1 + n_i + n_pre)) + list(_pyrange(1, 1 + n_i)) + \
        list(_pyrange(1 + n_i + n_pre, 1 + n_i + n_pre + rest))
    g = A.transpose(g, perm2) if perm2 != list(_pyrange(len(perm2))) else g
    out_shape = pb + [params.shape[i] for i in _pyrange(b, axis)] + ishape + \
        [params.shape[i] for i in _pyrange(axis + 1, rp)]
    return A.reshape(g, [-1 if d is None else d for d in out_shape], name=name)


# --- PlaceholderWithDefault ------------------------------------------------------------------------
def _pwd_infer(inputs, attrs):
    x, = inputs
    shape = attrs["shape"]
    if not shape.is_compatible_with(x.shape) or (
            shape.rank is not None and x.shape.rank is not None and shape.rank != x.shape.rank):
        raise ValueError(f"PlaceholderWithDefault: the default value's shape {_fmt(x.shape)} is "
                         f"not compatible with shape {_fmt(shape)}")
    return [(x.dtype, shape)]


# alias=0: the compiler passes the default value through (a fed value replaces the op)
register_op("PlaceholderWithDefault", _pwd_infer, lambda v, a: [v[0]], kind="opaque", alias=0)


@atomic
def placeholder_with_default(input, shape, name=None):  # noqa: A002
    """tf.compat.v1.placeholder_with_default: `input` unless a value is fed for the result,
    whose static shape is `shape` (may be less specific than input's).  Gradient: identity."""
    input = convert_to_tensor(input)
    return make_op("PlaceholderWithDefault", [input], {"shape": as_shape(shape)},
                   name).outputs[0]


# --- batching rules ---------------------------------------------------------------------------
def _b_shift_axis(ctx, op, inputs, batched):
    return _B._same_op(ctx, op, inputs, {**op.attrs, "axis": _B._shift_axis(op.attrs["axis"])})


def _b_reverse(ctx, op, inputs, batched):
    return _B._same_op(ctx, op, inputs,
                       {"axis": tuple(_B._shift_axis(a) for a in op.attrs["axis"])})


def _b_roll(ctx, op, inputs, batched):
    return _B._same_op(ctx, op, inputs, {"shift": op.attrs["shift"],
                                         "axis": tuple(_B._shift_axis(a)
                                                       for a in op.attrs["axis"])})


def _b_mirror(ctx, op, inputs, batched):
    return _B._same_op(ctx, op, inputs, {**op.attrs,
                                         "paddings": ((0, 0),) + tuple(op.attrs["paddings"])})


def _b_padv2(ctx, op, inputs, batched):
    _B._require_unbatched(op, batched, 1)
    return _B._same_op(ctx, op, inputs, {"paddings": ((0, 0),) + tuple(op.attrs["paddings"])})


def _b_top_k(ctx, op, inputs, batched):
    return _B._same_op(ctx, op, inputs)


def _b_arg(ctx, op, inputs, batched):
    ax = op.attrs["axis"]
    r = _B._rank(op, op.inputs[0])
    ax = ax + r if ax < 0 else ax
    return _B._same_op(ctx, op, inputs, {**op.attrs, "axis": ax + 1})


def _move_batch(t, frm, to):
    r = t.shape.rank
    perm = list(_pyrange(r))
    perm.insert(to, perm.pop(frm))
    return A.transpose(t, perm) if perm != list(_pyrange(r)) else t


def _static_k(op, idx):
    k = idx.shape[-1] if idx.shape.rank else None
    if k is None:
        raise _B.NoBatchingRule(op, f"{op.type}: indices need a static last dimension")
    return k


def _b_gather_nd(ctx, op, inputs, batched):
    """(m, *p): move m behind the k indexed dims, gather, move it back to the front."""
    _B._require_unbatched(op, batched, 1)
    params, idx = inputs
    k = _static_k(op, idx)
    lead = idx.shape.rank - 1
    out = gather_nd(_move_batch(params, 0, k), idx)
    return [_move_batch(out, lead, 0)]


def _b_scatter_nd(ctx, op, inputs, batched):
    _B._require_unbatched(op, batched, 0, 2)
    idx, upd, shp = inputs
    k = _static_k(op, idx)
    lead = idx.shape.rank - 1
    known = constant_value(shp)
    if known is None:
        raise _B.NoBatchingRule(op, "ScatterNd: the shape must be known")
    known = [int(d) for d in known]
    new_shape = constant(np.asarray(known[:k] + [ctx.m] + known[k:], shp.dtype.np))
    out = make_op("ScatterNd", [idx, _move_batch(upd, 0, lead), new_shape]).outputs[0]
    return [_move_batch(out, k, 0)]


def _b_tensor_scatter(ctx, op, inputs, batched):
    _B._require_unbatched(op, batched, 1)
    t, idx, upd = inputs
    k = _static_k(op, idx)
    lead = idx.shape.rank - 1
    t = t if batched[0] else _B._broadcast_batch(ctx, t)
    upd = upd if batched[2] else _B._broadcast_batch(ctx, upd)
    out = make_op(op.type, [_move_batch(t, 0, k), idx, _move_batch(upd, 0, lead)]).outputs[0]
    return [_move_batch(out, k, 0)]


def _b_identity(ctx, op, inputs, batched):
    return [A.identity(inputs[0])]


_B.BATCH_RULES.setdefault("Split", _b_shift_axis)
_B.BATCH_RULES.setdefault("ReverseV2", _b_reverse)
_B.BATCH_RULES.setdefault("Roll", _b_roll)
_B.BATCH_RULES.setdefault("MirrorPad", _b_mirror)
_B.BATCH_RULES.setdefault("MirrorPadGrad", _b_mirror)
_B.BATCH_RULES.setdefault("PadV2", _b_padv2)
_B.BATCH_RULES.setdefault("TopKV2", _b_top_k)
_B.BATCH_RULES.setdefault("ArgMax", _b_arg)
_B.BATCH_RULES.setdefault("ArgMin", _b_arg)
_B.BATCH_RULES.setdefault("GatherNd", _b_gather_nd)
_B.BATCH_RULES.setdefault("ScatterNd", _b_scatter_nd)
_B.BATCH_RULES.setdefault("TensorScatterUpdate", _b_tensor_scatter)
_B.BATCH_RULES.setdefault("TensorScatterAdd", _b_tensor_scatter)
_B.BATCH_RULES.setdefault("PlaceholderWithDefault", _b_identity)
_B.NOT_BATCHABLE.setdefault("Range", "its inputs are sizes (not differentiable); the output "
                            "length depends on their values")
_B.NOT_BATCHABLE.setdefault("OneHot", "not differentiable: its indices and depth never carry "
                            "a seed; on/off values batched would need a select (not needed)")
