"""Issue 17, nn part: activations, losses and normalisation of tf.nn.

Elementwise activations with a TF op of their own (Elu, Selu, Relu6, Softplus, Softsign) are
rows of ops/math.py's UNARY table (fused templates, batching from the table); the rest is
composed from existing ops as TF's Python builds it (leaky_relu, as TF's LeakyRelu op computes
it), so gradients and second derivatives follow from existing rules.  The sparse softmax
cross-entropy is one op, like TF's, with two outputs (loss and backprop).
"""
import math as _pymath

import numpy as np

from ..errors import InvalidArgumentError
from ..graph import Tensor, name_scope
from ..tensor_shape import TensorShape
from . import array as _array
from . import math as _math
from . import reduce as _reduce
from .core import convert_to_tensor, make_op
from .common import FLOAT, check_dtype as _check_dtype, format_shape as _fmt
from .registry import register_op


def _like(value, ref):
    """`value` as a Tensor, converted to ref's dtype unless it already is a Tensor."""
    return value if isinstance(value, Tensor) else convert_to_tensor(value, dtype=ref.dtype)


def _named_features(op_public, doc):
    fn = getattr(_math, op_public)

    def f(features, name=None):
        return fn(features, name=name)
    f.__name__ = f.__qualname__ = op_public
    f.__doc__ = doc
    return f


elu = _named_features("elu", "tf.nn.elu: features if > 0 else exp(features) - 1 (TF op Elu).")
selu = _named_features("selu", "tf.nn.selu: scale * (features if > 0 else alpha * "
                       "(exp(features) - 1)), scale = 1.0507..., alpha = 1.6732... (TF op "
                       "Selu).")
relu6 = _named_features("relu6", "tf.nn.relu6: min(max(features, 0), 6) (TF op Relu6).")
softplus = _named_features("softplus", "tf.math.softplus: log(exp(features) + 1), computed "
                           "stably (TF op Softplus).")
softsign = _named_features("softsign", "tf.nn.softsign: features / (|features| + 1) (TF op "
                           "Softsign).")


def leaky_relu(features, alpha=0.2, name=None):
    """tf.nn.leaky_relu: features if > 0 else alpha * features (TF's LeakyRelu op, composed as
    where(features > 0, features, alpha * features): the same values and gradient).  Integer
    features are cast to float32, and a Python `alpha` is rounded to float32 (TF's attr), as
    TF does."""
    features = convert_to_tensor(features)
    g = features.graph
    with g._transaction(), name_scope(name, "LeakyRelu", [features]):
        if features.dtype.is_integer:
            features = _math.cast(features, "float32")
        if isinstance(alpha, np.ndarray):
            alpha = alpha.item()
        if isinstance(alpha, (int, float, np.floating)):
            alpha = float(np.float32(alpha))     # TF's LeakyRelu: alpha is a float32 attr
        a = _like(alpha, features)
        return _math.where_v2(_math.greater(features, _array.zeros_like(features)), features,
                              _math.multiply(a, features))


def silu(features, beta=1.0, name=None):
    """tf.nn.silu (alias swish): features * sigmoid(beta * features)."""
    features = convert_to_tensor(features)
    g = features.graph
    with g._transaction(), name_scope(name, "swish", [features]):
        if isinstance(beta, (int, float)) and beta == 1.0:
            return _math.multiply(features, _math.sigmoid(features))
        b = _like(beta, features)
        return _math.multiply(features, _math.sigmoid(_math.multiply(b, features)))


swish = silu


def gelu(features, approximate=False, name=None):
    """tf.nn.gelu: x P(X <= x) = 0.5 x erfc(-x / sqrt(2)), or with `approximate` the tanh form
    0.5 x (1 + tanh(0.7978845608028654 (x + 0.044715 x^3))).  Built exactly as TF 2.21: its
    constants 1/sqrt(2) and 0.044715 pass through float32 (math_ops.cast of a Python float),
    so float64 results match TF's, ~1e-8 from the exact function."""
    features = convert_to_tensor(features)
    if not features.dtype.is_floating:
        raise ValueError(f"`features.dtype` must be a floating point tensor. Received: "
                         f"features.dtype={features.dtype.name}")
    g = features.graph
    with g._transaction(), name_scope(name, "Gelu", [features]):
        if approximate:
            coeff = _like(float(np.float32(0.044715)), features)
            inner = 0.7978845608028654 * (features + coeff * _math.pow(features, 3.0))
            return 0.5 * features * (1.0 + _math.tanh(inner))
        return 0.5 * features * _math.erfc(
            -features * _like(float(np.float32(0.7071067811865476)), features))


def l2_loss(t, name=None):
    """tf.nn.l2_loss: sum(t ** 2) / 2 (TF's L2Loss op, composed: gradient t * grad)."""
    t = convert_to_tensor(t)
    _check_dtype(t.dtype, FLOAT, f"input '{t.name}'")
    with t.graph._transaction(), name_scope(name, "L2Loss", [t]):
        return _reduce.reduce_sum(_math.square(t) * 0.5)


def l2_normalize(x, axis=None, epsilon=1e-12, name=None, dim=None):
    """tf.math.l2_normalize: x / sqrt(max(sum(x^2, axis), epsilon))."""
    if axis is None:
        axis = dim
    x = convert_to_tensor(x)
    with x.graph._transaction(), name_scope(name, "l2_normalize", [x]):
        square_sum = _reduce.reduce_sum(_math.square(x), axis, keepdims=True)
        x_inv_norm = _math.rsqrt(_math.maximum(square_sum, _like(epsilon, x)))
        return _math.multiply(x, x_inv_norm)


def moments(x, axes, shift=None, name=None, keep_dims=None, keepdims=None):
    """tf.nn.moments: (mean, variance) over `axes`; the variance is mean((x - mean)^2) with the
    mean held by stop_gradient (its gradient there is zero anyway), float16 computed in
    float32 - all as TF.  `shift` is ignored, as in TF."""
    if keepdims is None:
        keepdims = bool(keep_dims) if keep_dims is not None else False
    x = convert_to_tensor(x)
    with x.graph._transaction(), name_scope(name, "moments", [x]):
        y = _math.cast(x, "float32") if x.dtype.name == "float16" else x
        mean = _reduce.reduce_mean(y, axes, keepdims=True)
        variance = _reduce.reduce_mean(
            _math.squared_difference(y, _array.stop_gradient(mean)), axes, keepdims=True)
        if not keepdims:
            ax = [axes] if isinstance(axes, (int, np.integer)) else list(axes)
            mean = _array.squeeze(mean, ax)
            variance = _array.squeeze(variance, ax)
        if x.dtype.name == "float16":
            return _math.cast(mean, x.dtype), _math.cast(variance, x.dtype)
        return mean, variance


def batch_normalization(x, mean, variance, offset, scale, variance_epsilon, name=None):
    """tf.nn.batch_normalization: (x - mean) * scale / sqrt(variance + eps) + offset, built as
    TF: inv = rsqrt(variance + eps) (* scale); x * inv + (offset - mean * inv)."""
    x = convert_to_tensor(x)
    with x.graph._transaction(), name_scope(name, "batchnorm", [x, mean, variance]):
        mean, variance = _like(mean, x), _like(variance, x)
        inv = _math.rsqrt(variance + _like(variance_epsilon, variance))
        if scale is not None:
            inv = inv * _like(scale, x)
        shift = (_like(offset, x) - mean * inv) if offset is not None else -mean * inv
        return x * _math.cast(inv, x.dtype) + _math.cast(shift, x.dtype)


def bias_add(value, bias, data_format=None, name=None):
    """tf.nn.bias_add: value + bias, bias a vector over the last dimension (NHWC / N...C) or
    over dimension 1 (data_format 'NC...' such as 'NCHW').  Composed as an add (TF's BiasAdd
    op): the bias gradient is the sum over the other dimensions, as TF's BiasAddGrad."""
    value = convert_to_tensor(value)
    bias = _like(bias, value)
    if data_format is not None and not (data_format.startswith("NC") or
                                        data_format.startswith("N") and
                                        data_format.endswith("C")):
        raise ValueError(f"data_format must be of the form `N...C` or `NC...`, got "
                         f"{data_format}")
    if value.dtype != bias.dtype:
        raise TypeError(f"bias_add: value '{value.name}' is {value.dtype.name} but bias "
                        f"'{bias.name}' is {bias.dtype.name}")
    if bias.shape.rank is not None and bias.shape.rank != 1:
        raise ValueError(f"Shape must be rank 1 but is rank {bias.shape.rank} for bias "
                         f"'{bias.name}' ({_fmt(bias.shape)})")
    r = value.shape.rank
    if r is not None and r < 2:
        raise ValueError(f"Shape must be at least rank 2 but is rank {r} for value "
                         f"'{value.name}' ({_fmt(value.shape)})")
    nc = data_format is not None and data_format.startswith("NC")
    if r is not None:
        c = value.shape[1] if nc else value.shape[-1]
        b = bias.shape[0] if bias.shape.rank == 1 else None
        if c is not None and b is not None and c != b:
            raise ValueError(f"Dimensions must be equal, but are {c} and {b}: bias "
                             f"{_fmt(bias.shape)} must match the channel dimension of value "
                             f"{_fmt(value.shape)}")
    with value.graph._transaction(), name_scope(name, "BiasAdd", [value, bias]):
        if nc:
            if r is None:
                raise ValueError("bias_add with data_format NC... needs value of known rank")
            bias = _array.reshape(bias, [-1] + [1] * (r - 2))
        return _math.add(value, bias)


def xw_plus_b(x, weights, biases, name=None):
    """tf.compat.v1.nn.xw_plus_b: bias_add(matmul(x, weights), biases)."""
    x = convert_to_tensor(x)
    with x.graph._transaction(), name_scope(name, "xw_plus_b", [x, weights, biases]):
        return bias_add(_math.matmul(x, weights), biases)


def weighted_cross_entropy_with_logits(labels=None, logits=None, pos_weight=None, name=None,
                                       targets=None):
    """tf.nn.weighted_cross_entropy_with_logits: (1 - z) x + (1 + (q - 1) z) (log1p(exp(-|x|))
    + relu(-x)) for labels z, logits x, pos_weight q (`targets` is v1's name for labels)."""
    if labels is None:
        labels = targets
    if labels is None or logits is None or pos_weight is None:
        raise ValueError("labels, logits and pos_weight must all be given")
    logits = convert_to_tensor(logits)
    labels = _like(labels, logits)
    if not logits.shape.is_compatible_with(labels.shape):
        raise ValueError(f"logits and labels must have the same shape ({_fmt(logits.shape)} "
                         f"vs {_fmt(labels.shape)})")
    with logits.graph._transaction(), name_scope(name, "logistic_loss", [logits, labels]):
        q = _like(pos_weight, logits)
        log_weight = 1.0 + (q - 1.0) * labels
        return _math.add((1.0 - labels) * logits,
                         log_weight * (_math.log1p(_math.exp(-_math.abs(logits)))
                                       + _math.relu(-logits)))


def log_poisson_loss(targets, log_input, compute_full_loss=False, name=None):
    """tf.nn.log_poisson_loss: exp(log_input) - log_input * targets, plus with
    `compute_full_loss` Stirling's term z log z - z + 0.5 log(2 pi z) where targets z > 1."""
    log_input = convert_to_tensor(log_input)
    targets = _like(targets, log_input)
    if not log_input.shape.is_compatible_with(targets.shape):
        raise ValueError(f"log_input and targets must have the same shape "
                         f"({_fmt(log_input.shape)} vs {_fmt(targets.shape)})")
    with log_input.graph._transaction(), name_scope(name, "log_poisson_loss",
                                                    [log_input, targets]):
        result = _math.exp(log_input) - log_input * targets
        if compute_full_loss:
            point_five = _like(0.5, targets)
            two_pi = _like(2 * _pymath.pi, targets)
            stirling = (targets * _math.log(targets)) - targets + \
                point_five * _math.log(two_pi * targets)
            zeros = _array.zeros_like(targets)
            ones = _array.ones_like(targets)
            cond = _math.logical_and(_math.greater_equal(targets, zeros),
                                     _math.less_equal(targets, ones))
            result = result + _math.where(cond, zeros, stirling)
        return result


# --- SparseSoftmaxCrossEntropyWithLogits ----------------------------------------------------------
def _ssce_infer(inputs, attrs):
    logits, labels = inputs
    _check_dtype(logits.dtype, FLOAT, f"logits '{logits.name}'")
    if not labels.dtype.is_integer:
        raise TypeError(f"labels '{labels.name}' must be int32 or int64, got "
                        f"{labels.dtype.name}")
    shape = logits.shape.with_rank(2) if logits.shape.rank is None else logits.shape
    if shape.rank != 2:
        raise ValueError(f"logits must be 2-D, but got shape {_fmt(logits.shape)}")
    if labels.shape.rank is not None and labels.shape.rank != 1:
        raise ValueError(f"labels must be 1-D, but got shape {_fmt(labels.shape)}")
    if not TensorShape([shape[0]]).is_compatible_with(labels.shape.with_rank(1)):
        raise ValueError(f"logits and labels must have the same first dimension, got logits "
                         f"shape {_fmt(logits.shape)} and labels shape {_fmt(labels.shape)}")
    return [(logits.dtype, TensorShape([shape[0]])), (logits.dtype, shape)]


def _log_softmax_rows(x):
    m = np.max(x, axis=-1, keepdims=True, initial=-np.inf)
    s = x - np.where(np.isfinite(m), m, 0)
    with np.errstate(divide="ignore"):
        return s - np.log(np.sum(np.exp(s), axis=-1, keepdims=True))


def _ssce_compute(v, a):
    logits, labels = v
    n, c = logits.shape
    bad = (labels < 0) | (labels >= c)
    if np.any(bad):
        raise InvalidArgumentError(
            f"Received a label value of {int(labels[np.argmax(bad)])} which is outside the "
            f"valid range of [0, {c}).  Label values: {' '.join(str(int(x)) for x in labels)}")
    logp = _log_softmax_rows(logits)
    rows = np.arange(n)
    loss = -logp[rows, labels]
    backprop = np.exp(logp)
    backprop[rows, labels] -= 1
    return [loss.astype(logits.dtype), backprop.astype(logits.dtype)]


register_op("SparseSoftmaxCrossEntropyWithLogits", _ssce_infer, _ssce_compute, kind="opaque")


def sparse_softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None,
                                             name=None):
    """tf.nn.sparse_softmax_cross_entropy_with_logits: -log_softmax(logits)[..., labels] for
    int labels of logits' shape without the last dimension; a label outside [0, classes)
    fails at run time (InvalidArgumentError, as TF on CPU).  One op with TF's gradient
    (softmax - one_hot); like TF, no second derivative."""
    if _sentinel is not None:
        raise ValueError("Only call sparse_softmax_cross_entropy_with_logits with named "
                         "arguments (labels=..., logits=...)")
    if labels is None or logits is None:
        raise ValueError("Both labels and logits must be provided.")
    logits = convert_to_tensor(logits)
    labels = convert_to_tensor(labels)
    g = logits.graph
    with g._transaction(), name_scope(name, "SparseSoftmaxCrossEntropyWithLogits",
                                      [labels, logits]):
        lr, gr = labels.shape.rank, logits.shape.rank
        if gr == 0:
            raise ValueError(f"Logits cannot be scalars - received shape {_fmt(logits.shape)}.")
        if lr is not None and gr is not None and lr != gr - 1:
            raise ValueError(f"Rank mismatch: Rank of labels (received {lr}) should equal rank "
                             f"of logits minus 1 (received {gr}).")
        if lr is not None and gr is not None and not labels.shape.is_compatible_with(
                logits.shape[:-1]):
            raise ValueError(f"Shape mismatch: The shape of labels (received "
                             f"{_fmt(labels.shape)}) should equal the shape of logits except "
                             f"for the last dimension (received {_fmt(logits.shape)}).")
        if gr == 2:
            return make_op("SparseSoftmaxCrossEntropyWithLogits", [logits, labels]).outputs[0]
        if gr is None:
            raise ValueError("sparse_softmax_cross_entropy_with_logits needs logits of known "
                             "rank")
        c = logits.shape[-1]
        flat_logits = _array.reshape(logits, [-1, c if c is not None else -1]) if c is not None \
            else _array.reshape(logits, _array.concat(
                [[-1], _array.strided_slice(_array.shape(logits), slice(-1, None))], 0))
        loss = make_op("SparseSoftmaxCrossEntropyWithLogits",
                       [flat_logits, _array.reshape(labels, [-1])]).outputs[0]
        out_shape = labels.shape.as_list() if labels.shape.is_fully_defined() else \
            _array.shape(labels)
        return _array.reshape(loss, out_shape)


# --- batching rule (numgrad/batching.py) ----------------------------------------------------------
def _register_batching():
    from .. import batching as B

    def sparse_softmax_cross_entropy(ctx, op, inputs, batched):
        """Fold the batch dim into the rows (labels repeated per batch row), then split it."""
        B._require_unbatched(op, batched, 1)
        logits, labels = inputs
        c = op.inputs[0].shape[1]
        if c is None:
            raise B.NoBatchingRule(op, "SparseSoftmaxCrossEntropyWithLogits needs a static "
                                       "class count")
        loss, backprop = make_op(op.type, [_array.reshape(logits, [-1, c]),
                                           _array.tile(labels, [ctx.m])],
                                 op.attrs, graph=ctx.graph).outputs
        return [_array.reshape(loss, [ctx.m, -1]), _array.reshape(backprop, [ctx.m, -1, c])]

    B.BATCH_RULES.setdefault("SparseSoftmaxCrossEntropyWithLogits", sparse_softmax_cross_entropy)


_register_batching()
