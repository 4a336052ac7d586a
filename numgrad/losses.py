"""ng.losses: tf.compat.v1.losses, the weighted, reduced losses of TF1 and the LOSSES collection.

Every loss builds its per-element losses, then ``compute_weighted_loss`` applies TF1's
rules: the losses and weights are computed in float32 (the result is cast back to the input's
dtype), `weights` is a scalar or has the losses' rank with each dimension 1 or equal (checked
while the graph is built, with TF's ValueError), and `reduction` is one of ``Reduction``:

* ``NONE``: the weighted losses, unreduced;  ``SUM``: their sum;
* ``MEAN``: the sum over the sum of the (broadcast) weights;
* ``SUM_BY_NONZERO_WEIGHTS`` (the default): the sum over the number of elements whose weight
  is not zero;  ``SUM_OVER_BATCH_SIZE``: the sum over the number of elements.

Divisions are "safe" (0 / 0 = 0, as TF's div_no_nan).  The result is added to `loss_collection`
(LOSSES by default), which ``get_losses`` and ``get_total_loss`` read.
"""
from . import dtypes as _dt
from .graph import atomic, name_scope
from .ops import array as _array
from .ops import math as _math
from .ops import nn as _nn
from .ops import nn_extra as _nn_extra
from .ops import reduce as _reduce
from .ops.core import constant, convert_to_tensor
from .variables import GraphKeys, add_to_collection, get_collection

__all__ = ["Reduction", "compute_weighted_loss", "absolute_difference", "mean_squared_error",
           "huber_loss", "log_loss", "hinge_loss", "cosine_distance", "sigmoid_cross_entropy",
           "softmax_cross_entropy", "sparse_softmax_cross_entropy", "add_loss", "get_losses",
           "get_regularization_losses", "get_regularization_loss", "get_total_loss"]

_LOSSES = GraphKeys.LOSSES


class Reduction:
    """How a weighted loss is reduced (tf.compat.v1.losses.Reduction)."""
    NONE = "none"
    SUM = "weighted_sum"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    MEAN = "weighted_mean"
    SUM_BY_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_OVER_NONZERO_WEIGHTS = SUM_BY_NONZERO_WEIGHTS

    @classmethod
    def all(cls):
        """Every reduction key."""
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE,
                cls.SUM_OVER_NONZERO_WEIGHTS, cls.SUM_BY_NONZERO_WEIGHTS)

    @classmethod
    def validate(cls, key):
        """ValueError unless `key` is one of ``all()``."""
        if key not in cls.all():
            raise ValueError(f"Invalid Reduction Key {key}. Expected keys are \"{cls.all()}\"")


def check_weights_broadcastable(weights, values):
    """TF's static rule for loss weights: a scalar, or the values' rank with each dimension
    1 or the values' one."""
    w, v = weights.shape, values.shape
    if w.ndims is None or v.ndims is None or w.ndims == 0:
        return
    prefix = "weights can not be broadcast to values."
    if w.ndims != v.ndims:
        raise ValueError(f"{prefix} values.rank={v.ndims}. weights.rank={w.ndims}. "
                         f"values.shape={v}. weights.shape={w}.")
    for i, (wd, vd) in enumerate(zip(w.as_list(), v.as_list())):
        if wd is not None and vd is not None and wd not in (1, vd):
            raise ValueError(f"{prefix} Mismatch at dim {i}. values.shape={v.as_list()}, "
                             f"weights.shape={w.as_list()}.")


@atomic
def compute_weighted_loss(losses, weights=1.0, scope=None, loss_collection=_LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.compute_weighted_loss: `losses` times `weights`, reduced by
    `reduction` (see the module docstring), added to `loss_collection`."""
    Reduction.validate(reduction)
    losses = convert_to_tensor(losses)
    input_dtype = losses.dtype
    if not input_dtype.is_floating:
        raise TypeError(f"compute_weighted_loss: losses must be floating, got "
                        f"{input_dtype.name}")
    with name_scope(scope, "weighted_loss", [losses, weights]):
        losses = _math.cast(losses, _dt.float32)
        weights = _math.cast(convert_to_tensor(weights), _dt.float32)
        check_weights_broadcastable(weights, losses)
        weighted = _math.multiply(losses, weights)
        if reduction == Reduction.NONE:
            loss = weighted
        else:
            loss = _reduce.reduce_sum(weighted)
            if reduction == Reduction.MEAN:
                loss = _math.div_no_nan(loss, _reduce.reduce_sum(
                    _math.multiply(_array.ones_like(losses), weights)), name="value")
            elif reduction == Reduction.SUM_BY_NONZERO_WEIGHTS:
                loss = _math.div_no_nan(loss, _num_present(losses, weights), name="value")
            elif reduction == Reduction.SUM_OVER_BATCH_SIZE:
                loss = _math.div_no_nan(loss, _math.cast(_array.size(losses), _dt.float32),
                                        name="value")
        loss = _math.cast(loss, input_dtype)
        add_loss(loss, loss_collection)
        return loss


def _num_present(losses, weights):
    """The number of elements of `losses` whose (broadcast) weight is not zero."""
    present = _math.where_v2(_math.equal(weights, 0.0), _array.zeros_like(weights),
                             _array.ones_like(weights))
    present = _math.multiply(present, _array.ones_like(losses))
    return _reduce.reduce_sum(present, name="num_present")


def _pair(labels, predictions, what="predictions"):
    if labels is None:
        raise ValueError("Argument `labels` must not be None.")
    if predictions is None:
        raise ValueError(f"Argument `{what}` must not be None.")
    predictions = _math.cast(convert_to_tensor(predictions), _dt.float32)
    labels = _math.cast(convert_to_tensor(labels), _dt.float32)
    if not predictions.shape.is_compatible_with(labels.shape):
        raise ValueError(f"Shapes {predictions.shape} and {labels.shape} are incompatible "
                         f"({what} and labels)")
    return labels, predictions


def _loss(kind, labels, predictions, weights, scope, loss_collection, reduction, fn,
          what="predictions"):
    with name_scope(scope, kind, [predictions, labels, weights]):
        labels, predictions = _pair(labels, predictions, what)
        return compute_weighted_loss(fn(labels, predictions), weights, None, loss_collection,
                                     reduction)


@atomic
def absolute_difference(labels, predictions, weights=1.0, scope=None,
                        loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.absolute_difference: weighted |predictions - labels|."""
    return _loss("absolute_difference", labels, predictions, weights, scope, loss_collection,
                 reduction, lambda y, p: _math.abs(_math.subtract(p, y)))


@atomic
def mean_squared_error(labels, predictions, weights=1.0, scope=None, loss_collection=_LOSSES,
                       reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.mean_squared_error: weighted (predictions - labels)^2."""
    return _loss("mean_squared_error", labels, predictions, weights, scope, loss_collection,
                 reduction, lambda y, p: _math.squared_difference(p, y))


@atomic
def huber_loss(labels, predictions, weights=1.0, delta=1.0, scope=None,
               loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.huber_loss: 0.5 e^2 where |e| <= delta, else
    delta (|e| - delta / 2), e = predictions - labels."""
    def fn(y, p):
        err = _math.abs(_math.subtract(p, y))
        quad = _math.minimum(err, delta)
        lin = _math.subtract(err, quad)
        return _math.add(_math.multiply(0.5, _math.multiply(quad, quad)),
                         _math.multiply(delta, lin))
    return _loss("huber_loss", labels, predictions, weights, scope, loss_collection,
                 reduction, fn)


@atomic
def log_loss(labels, predictions, weights=1.0, epsilon=1e-7, scope=None,
             loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.log_loss: -y log(p + eps) - (1 - y) log(1 - p + eps)."""
    def fn(y, p):
        return _math.subtract(
            _math.negative(_math.multiply(y, _math.log(p + epsilon))),
            _math.multiply(1.0 - y, _math.log(1.0 - p + epsilon)))
    return _loss("log_loss", labels, predictions, weights, scope, loss_collection, reduction,
                 fn)


@atomic
def hinge_loss(labels, logits, weights=1.0, scope=None, loss_collection=_LOSSES,
               reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.hinge_loss: relu(1 - (2 labels - 1) logits), labels in {0, 1}."""
    return _loss("hinge_loss", labels, logits, weights, scope, loss_collection, reduction,
                 lambda y, z: _nn.relu(1.0 - (2.0 * y - 1.0) * z), what="logits")


@atomic
def cosine_distance(labels, predictions, axis=None, weights=1.0, scope=None,
                    loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS,
                    dim=None):
    """tf.compat.v1.losses.cosine_distance: 1 - sum(predictions * labels, axis) (kept as a
    size-1 axis), for unit-normalised inputs."""
    if dim is not None:
        if axis is not None:
            raise ValueError("Cannot specify both 'axis' and 'dim'")
        axis = dim
    if axis is None:
        raise ValueError("You must specify argument `axis`.")
    return _loss("cosine_distance_loss", labels, predictions, weights, scope, loss_collection,
                 reduction, lambda y, p: 1.0 - _reduce.reduce_sum(
                     _math.multiply(p, y), axis=(axis,), keepdims=True))


@atomic
def sigmoid_cross_entropy(multi_class_labels, logits, weights=1.0, label_smoothing=0,
                          scope=None, loss_collection=_LOSSES,
                          reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.sigmoid_cross_entropy: sigmoid_cross_entropy_with_logits, the
    labels smoothed towards 1/2 by ``label_smoothing``."""
    if multi_class_labels is None:
        raise ValueError("Argument `multi_class_labels` must not be None.")
    with name_scope(scope, "sigmoid_cross_entropy_loss",
                    [logits, multi_class_labels, weights]):
        logits = convert_to_tensor(logits)
        labels = _math.cast(convert_to_tensor(multi_class_labels), logits.dtype)
        if not logits.shape.is_compatible_with(labels.shape):
            raise ValueError(f"Shapes {logits.shape} and {labels.shape} are incompatible "
                             "(logits and multi_class_labels)")
        if label_smoothing > 0:
            labels = labels * (1.0 - label_smoothing) + 0.5 * label_smoothing
        losses = _nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=logits,
                                                       name="xentropy")
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


@atomic
def softmax_cross_entropy(onehot_labels, logits, weights=1.0, label_smoothing=0, scope=None,
                          loss_collection=_LOSSES, reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.softmax_cross_entropy: softmax cross-entropy per example (the labels
    get no gradient), labels smoothed to ``y (1 - s) + s / num_classes``."""
    if onehot_labels is None:
        raise ValueError("Argument `onehot_labels` must not be None.")
    with name_scope(scope, "softmax_cross_entropy_loss", [logits, onehot_labels, weights]):
        logits = convert_to_tensor(logits)
        labels = _math.cast(convert_to_tensor(onehot_labels), logits.dtype)
        if not logits.shape.is_compatible_with(labels.shape):
            raise ValueError(f"Shapes {logits.shape} and {labels.shape} are incompatible "
                             "(logits and onehot_labels)")
        if label_smoothing > 0:
            classes = _math.cast(_array.shape(labels)[-1], logits.dtype)
            labels = labels * (1.0 - label_smoothing) + label_smoothing / classes
        losses = _nn.softmax_cross_entropy_with_logits_v2(
            labels=_array.stop_gradient(labels), logits=logits, name="xentropy")
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


@atomic
def sparse_softmax_cross_entropy(labels, logits, weights=1.0, scope=None,
                                 loss_collection=_LOSSES,
                                 reduction=Reduction.SUM_BY_NONZERO_WEIGHTS):
    """tf.compat.v1.losses.sparse_softmax_cross_entropy: softmax cross-entropy against integer
    class labels (a trailing size-1 axis of labels or weights is squeezed, as TF)."""
    if labels is None:
        raise ValueError("Argument `labels` must not be None.")
    with name_scope(scope, "sparse_softmax_cross_entropy_loss", [logits, labels, weights]):
        logits = convert_to_tensor(logits)
        labels = convert_to_tensor(labels)
        weights = convert_to_tensor(weights)
        lr, gr = labels.shape.ndims, logits.shape.ndims
        if lr is not None and gr is not None and lr == gr and labels.shape.as_list()[-1] in (
                1, None):
            labels = _array.squeeze(labels, [-1])
            lr -= 1
        if lr is not None and weights.shape.ndims == lr + 1:
            weights = _array.squeeze(weights, [-1])
        losses = _nn_extra.sparse_softmax_cross_entropy_with_logits(
            labels=labels, logits=logits, name="xentropy")
        return compute_weighted_loss(losses, weights, None, loss_collection, reduction)


def add_loss(loss, loss_collection=_LOSSES):
    """tf.compat.v1.losses.add_loss: add `loss` to `loss_collection` (nothing if it is None)."""
    if loss_collection:
        add_to_collection(loss_collection, loss)


def get_losses(scope=None, loss_collection=_LOSSES):
    """tf.compat.v1.losses.get_losses: the losses in `loss_collection` (names filtered by
    `scope`)."""
    return get_collection(loss_collection, scope)


def get_regularization_losses(scope=None):
    """tf.compat.v1.losses.get_regularization_losses: the REGULARIZATION_LOSSES collection."""
    return get_collection(GraphKeys.REGULARIZATION_LOSSES, scope)


def get_regularization_loss(scope=None, name="total_regularization_loss"):
    """tf.compat.v1.losses.get_regularization_loss: the sum of the regularization losses, or
    a constant 0.0 if there are none."""
    losses = get_regularization_losses(scope)
    if losses:
        return _math.add_n(losses, name=name)
    return constant(0.0)


def get_total_loss(add_regularization_losses=True, name="total_loss", scope=None):
    """tf.compat.v1.losses.get_total_loss: the sum of the LOSSES collection (and of the
    regularization losses unless add_regularization_losses=False)."""
    losses = get_losses(scope=scope)
    if add_regularization_losses:
        losses = losses + get_regularization_losses(scope=scope)
    if not losses:
        raise ValueError("get_total_loss: there are no losses to add (the LOSSES and "
                         "REGULARIZATION_LOSSES collections are empty)")
    return _math.add_n(losses, name=name)
