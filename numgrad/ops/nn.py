"""Neural-network ops: relu, softmax, log_softmax, and the two cross-entropy losses."""
import numpy as np

from ..errors import InvalidArgumentError
from ..graph import name_scope
from ..tensor_shape import TensorShape
from . import array as _array
from . import math as _math
from .core import convert_to_tensor, make_op
from .common import FLOAT, check_dtype as _check_dtype, format_shape as _fmt
from .math import relu, sigmoid  # noqa: F401  (re-exported)
from .registry import register_op


# --- ReluGrad: g * (y > 0) (an op of its own so relu's second derivative is defined) -----------
# A product, as TF's kernel (relu_op_functor.h: gradients * (features > 0).cast<T>()), not a
# select: a NaN or inf gradient where features <= 0 gives NaN, as in TF.
register_op("ReluGrad",
            lambda i, a: [(i[0].dtype, _math.broadcast_static_shape(i[0].shape, i[1].shape))],
            lambda v, a: [v[0] * (v[1] > 0).astype(v[0].dtype)],
            kind="elementwise", template="({0} * ({1} > 0))")


def relu_grad(gradients, features, name=None):
    """The gradient of relu: `gradients * (features > 0)`
    (tf.compat.v1.raw_ops.ReluGrad). An op of its own so that relu's second derivative is
    defined."""
    return make_op("ReluGrad", [gradients, features], name=name).outputs[0]


# --- Softmax / LogSoftmax --------------------------------------------------------------------------
def _softmax_np(x, axis):
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    e = np.exp(x - m)
    return e / np.sum(e, axis=axis, keepdims=True)


def _log_softmax_np(x, axis):
    m = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    m = np.where(np.isfinite(m), m, 0)
    s = x - m
    return s - np.log(np.sum(np.exp(s), axis=axis, keepdims=True))


def _softmax_infer(inputs, attrs):
    x, = inputs
    _check_dtype(x.dtype, FLOAT, f"logits '{x.name}'")
    if x.shape.rank == 0:
        raise ValueError(f"logits '{x.name}' must have rank >= 1")
    return [(x.dtype, x.shape)]


register_op("Softmax", _softmax_infer,
            lambda v, a: [_softmax_np(v[0], a["axis"]).astype(v[0].dtype)], kind="opaque")
register_op("LogSoftmax", _softmax_infer,
            lambda v, a: [_log_softmax_np(v[0], a["axis"]).astype(v[0].dtype)], kind="opaque")


def _softmax_like(op_type, logits, axis, name):
    """TF's _wrap_2d_function: the op works on the last axis; another axis is swapped with the
    last one by a transpose before the op and swapped back after it (so the op's own output is
    the inner tensor, as in TF: what its gradient reads is not the returned tensor)."""
    logits = convert_to_tensor(logits)
    r = logits.shape.rank
    if axis == -1 or (r is not None and axis == r - 1):
        return make_op(op_type, [logits], {"axis": -1 if r is None else r - 1}, name).outputs[0]
    if r is None:
        raise ValueError(f"{op_type.lower()} over a non-last axis ({axis}) needs logits of "
                         f"known rank ('{logits.name}')")
    if not -r <= axis < r:
        raise InvalidArgumentError(
            f"{op_type}: `dim` must be in the range [{-r}, {r}) where {r} is the number of "
            f"dimensions of logits '{logits.name}' (shape {_fmt(logits.shape)}). "
            f"Received: dim={axis}")
    ax = axis + r if axis < 0 else axis
    perm = list(range(r))
    perm[ax], perm[r - 1] = r - 1, ax
    with logits.graph._transaction(), name_scope(name, op_type, [logits]):
        out = make_op(op_type, [_array.transpose(logits, perm)], {"axis": r - 1}).outputs[0]
        return _array.transpose(out, perm)


def softmax(logits, axis=None, name=None, dim=None):
    """exp(logits) / sum(exp(logits), axis), computed stably (tf.compat.v1.nn.softmax). Floating
    logits of rank >= 1; `axis` (default -1; `dim` is its old name) is a Python int. A non-last
    axis is swapped to the end and back with transposes, as TF does."""
    axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
    return _softmax_like("Softmax", logits, axis, name)


def log_softmax(logits, axis=None, name=None, dim=None):
    """logits - log(sum(exp(logits), axis)), computed stably (tf.compat.v1.nn.log_softmax). Floating
    logits of rank >= 1; `axis` (default -1; `dim` is its old name) is a Python int. A non-last
    axis is swapped to the end and back with transposes, as TF does."""
    axis = -1 if axis is None and dim is None else (axis if axis is not None else dim)
    return _softmax_like("LogSoftmax", logits, axis, name)


# --- sigmoid cross-entropy (composed, as TF builds it) ------------------------------------------------
def sigmoid_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, name=None):
    """max(x, 0) - x * z + log(1 + exp(-|x|)): stable for large |x|; labels differentiable."""
    if _sentinel is not None:
        raise ValueError("Only call sigmoid_cross_entropy_with_logits with named arguments "
                         "(labels=..., logits=...)")
    if labels is None or logits is None:
        raise ValueError("Both labels and logits must be provided.")
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels, dtype=logits.dtype) if not hasattr(labels, "op") else labels
    if labels.dtype != logits.dtype:
        raise TypeError(f"labels '{labels.name}' ({labels.dtype.name}) and logits "
                        f"'{logits.name}' ({logits.dtype.name}) must have the same dtype")
    if not logits.shape.is_compatible_with(labels.shape):
        raise ValueError(f"logits and labels must have the same shape ({_fmt(logits.shape)} vs "
                         f"{_fmt(labels.shape)})")
    with logits.graph._transaction(), name_scope(name, "logistic_loss", [logits, labels]):
        zeros = _array.zeros_like(logits)
        cond = _math.greater_equal(logits, zeros)
        relu_logits = _math.where(cond, logits, zeros)
        neg_abs_logits = _math.where(cond, _math.negative(logits), logits)
        return _math.add(_math.subtract(relu_logits, _math.multiply(logits, labels)),
                         _math.log1p(_math.exp(neg_abs_logits)))


# --- softmax cross-entropy (one op, two outputs: loss and backprop) ---------------------------------
def _sce_infer(inputs, attrs):
    logits, labels = inputs
    _check_dtype(logits.dtype, FLOAT, f"logits '{logits.name}'")
    if labels.dtype != logits.dtype:
        raise TypeError(f"labels '{labels.name}' ({labels.dtype.name}) must have the dtype of "
                        f"logits '{logits.name}' ({logits.dtype.name})")
    shape = logits.shape.with_rank(2) if logits.shape.rank is None else logits.shape
    if shape.rank != 2 or (labels.shape.rank is not None and labels.shape.rank != 2):
        raise ValueError(f"logits and labels must be 2-D, got {_fmt(logits.shape)} and "
                         f"{_fmt(labels.shape)}")
    if not shape.is_compatible_with(labels.shape):
        raise ValueError(f"logits and labels must have the same shape, got {_fmt(logits.shape)} "
                         f"and {_fmt(labels.shape)}")
    shape = shape.merge_with(labels.shape)
    return [(logits.dtype, TensorShape([shape[0]])), (logits.dtype, shape)]


def _sce_compute(v, a):
    logits, labels = v
    # TF's kernel (xent_op.h): loss = sum(labels * (log(sum(exp(shifted))) - shifted)), so a
    # zero loss is +0.0 as in TF (not -0.0 from -sum(labels * log_softmax))
    m = np.max(logits, axis=-1, keepdims=True, initial=-np.inf)
    shifted = logits - np.where(np.isfinite(m), m, 0)
    lse = np.log(np.sum(np.exp(shifted), axis=-1, keepdims=True))
    loss = np.sum(labels * (lse - shifted), axis=-1)
    backprop = np.exp(shifted - lse) - labels
    return [loss.astype(logits.dtype), backprop.astype(logits.dtype)]


register_op("SoftmaxCrossEntropyWithLogits", _sce_infer, _sce_compute, kind="opaque")


def softmax_cross_entropy_with_logits_v2(_sentinel=None, labels=None, logits=None, dim=-1,
                                         name=None, axis=None):
    """-sum(labels * log_softmax(logits), axis); differentiable in labels too."""
    if _sentinel is not None:
        raise ValueError("Only call softmax_cross_entropy_with_logits_v2 with named arguments "
                         "(labels=..., logits=...)")
    if labels is None or logits is None:
        raise ValueError("Both labels and logits must be provided.")
    axis = dim if axis is None else axis
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels, dtype=logits.dtype) if not hasattr(labels, "op") else labels
    g = logits.graph
    with g._transaction(), name_scope(name, "softmax_cross_entropy_with_logits", [logits, labels]):
        r = logits.shape.rank
        if r is None and axis != -1:
            raise ValueError("softmax_cross_entropy_with_logits_v2 over an axis other than -1 "
                             "needs logits of known rank")
        if r is None:
            # TF's _flatten_outer_dims at run time: [-1, classes], and the shape back after
            if not logits.shape.is_compatible_with(labels.shape):
                raise ValueError(f"logits and labels must have the same shape, got "
                                 f"{_fmt(logits.shape)} and {_fmt(labels.shape)}")
            shp = _array.shape(logits)
            flat_shape = _array.concat([[-1], _array.strided_slice(shp, slice(-1, None))], 0)
            loss = make_op("SoftmaxCrossEntropyWithLogits",
                           [_array.reshape(logits, flat_shape),
                            _array.reshape(labels, flat_shape)]).outputs[0]
            return _array.reshape(loss, _array.strided_slice(shp, slice(None, -1)))
        if r == 0:
            raise ValueError(f"logits '{logits.name}' must have rank >= 1")
        if not logits.shape.is_compatible_with(labels.shape):
            raise ValueError(f"logits and labels must have the same shape, got "
                             f"{_fmt(logits.shape)} and {_fmt(labels.shape)}")
        ax = axis + r if axis < 0 else axis
        if not 0 <= ax < r:
            raise ValueError(f"axis {axis} out of range for logits of shape {_fmt(logits.shape)}")
        if ax != r - 1:
            perm = [i for i in range(r) if i != ax] + [ax]
            logits = _array.transpose(logits, perm)
            labels = _array.transpose(labels, perm)
        if r == 2:
            return make_op("SoftmaxCrossEntropyWithLogits", [logits, labels]).outputs[0]
        outer = _array.strided_slice(_array.shape(logits), slice(None, -1))
        classes = _array.strided_slice(_array.shape(logits), slice(-1, None))
        if logits.shape.is_fully_defined():
            # TF's _flatten_outer_dims: [prod(outer), classes]; not [-1, classes], which a
            # zero-size class axis leaves ambiguous (TF's loss over no classes is 0)
            dims = logits.shape.as_list()
            flat_shape = [int(np.prod(dims[:-1], dtype=np.int64)), dims[-1]]
        elif logits.shape[-1] is None:
            flat_shape = _array.concat([[-1], classes], 0)
        else:
            flat_shape = [-1, logits.shape[-1]]
        loss = make_op("SoftmaxCrossEntropyWithLogits",
                       [_array.reshape(logits, flat_shape), _array.reshape(labels, flat_shape)]).outputs[0]
        out_shape = logits.shape[:-1].as_list() if logits.shape[:-1].is_fully_defined() else outer
        return _array.reshape(loss, out_shape)
