"""ng.metrics: tf.compat.v1.metrics' streaming metrics: mean, accuracy, mean_absolute_error,
mean_squared_error, root_mean_squared_error, precision, recall and the confusion counts
(true_positives ...).

Each metric keeps local variables (``<name>/total`` and ``<name>/count`` for the means,
``<name>/true_positives/count`` ... for precision and recall; LOCAL_VARIABLES and
METRIC_VARIABLES collections; initialise them with ``ng.local_variables_initializer()``) and
returns ``(value, update_op)``: `update_op` adds the batch and gives the updated value,
`value` reads the value so far (as of the start of the run, numgrad's rule for reads).  A
mean is ``total / count``, 0 while count is 0; precision and recall are 0 while their
denominator is 0.
"""
from . import dtypes as _dt
from .losses import check_weights_broadcastable
from .ops import array as _array
from .ops import math as _math
from .ops import reduce as _reduce
from .ops.core import convert_to_tensor
from .variables import GraphKeys, Variable, add_to_collections, variable_scope

__all__ = ["mean", "accuracy", "mean_absolute_error", "mean_squared_error",
           "root_mean_squared_error", "true_positives", "false_positives", "true_negatives",
           "false_negatives", "precision", "recall", "METRIC_VARIABLES"]

METRIC_VARIABLES = "metric_variables"        # tf GraphKeys.METRIC_VARIABLES


def _collected(value, update_op, metrics_collections, updates_collections):
    """(value, update_op), each added to the collections the caller named (TF1's metrics)."""
    if metrics_collections:
        add_to_collections(metrics_collections, value)
    if updates_collections:
        add_to_collections(updates_collections, update_op)
    return value, update_op


def _metric_variable(name):
    return Variable(_array.zeros([], _dt.float32), trainable=False, name=name,
                    collections=[GraphKeys.LOCAL_VARIABLES, METRIC_VARIABLES])


def mean(values, weights=None, metrics_collections=None, updates_collections=None,
         name=None):
    """tf.compat.v1.metrics.mean: the (weighted) mean of `values` over all runs of update_op;
    returns (mean, update_op)."""
    with variable_scope(name, "mean", (values, weights)):
        values = _math.cast(convert_to_tensor(values), _dt.float32)
        total = _metric_variable("total")
        count = _metric_variable("count")
        if weights is None:
            num_values = _math.cast(_array.size(values), _dt.float32)
        else:
            weights = _math.cast(convert_to_tensor(weights), _dt.float32)
            if weights.shape.ndims == values.shape.ndims + 1 and weights.shape.ndims:
                weights = _array.squeeze(weights, [-1])
            check_weights_broadcastable(weights, values)
            weights = _math.multiply(weights, _array.ones_like(values))
            values = _math.multiply(values, weights)
            num_values = _reduce.reduce_sum(weights)
        update_total = total.assign_add(_reduce.reduce_sum(values))
        update_count = count.assign_add(num_values)
        value = _math.div_no_nan(total, _math.maximum(count, 0.0), name="value")
        update_op = _math.div_no_nan(update_total, _math.maximum(update_count, 0.0),
                                     name="update_op")
        return _collected(value, update_op, metrics_collections, updates_collections)


def accuracy(labels, predictions, weights=None, metrics_collections=None,
             updates_collections=None, name=None):
    """tf.compat.v1.metrics.accuracy: the (weighted) fraction of `predictions` equal to
    `labels` over all runs of update_op; returns (accuracy, update_op)."""
    labels = convert_to_tensor(labels)
    predictions = convert_to_tensor(predictions)
    if predictions.dtype != labels.dtype:
        predictions = _math.cast(predictions, labels.dtype)
    lr, pr = labels.shape.ndims, predictions.shape.ndims
    if lr is not None and pr is not None:       # a trailing size-1 axis on one side
        if pr == lr + 1 and predictions.shape.as_list()[-1] in (1, None):
            predictions = _array.squeeze(predictions, [-1])
        elif lr == pr + 1 and labels.shape.as_list()[-1] in (1, None):
            labels = _array.squeeze(labels, [-1])
    if not predictions.shape.is_compatible_with(labels.shape):
        raise ValueError(f"metrics.accuracy: shapes {predictions.shape} (predictions) and "
                         f"{labels.shape} (labels) are incompatible")
    is_correct = _math.cast(_math.equal(predictions, labels), _dt.float32)
    return mean(is_correct, weights, metrics_collections, updates_collections,
                name or "accuracy")


def _pair(labels, predictions, what):
    labels = _math.cast(convert_to_tensor(labels), _dt.float32)
    predictions = _math.cast(convert_to_tensor(predictions), _dt.float32)
    if not predictions.shape.is_compatible_with(labels.shape):
        raise ValueError(f"metrics.{what}: shapes {predictions.shape} (predictions) and "
                         f"{labels.shape} (labels) are incompatible")
    return labels, predictions


def mean_absolute_error(labels, predictions, weights=None, metrics_collections=None,
                        updates_collections=None, name=None):
    """tf.compat.v1.metrics.mean_absolute_error: the streaming mean of |predictions -
    labels|; returns (value, update_op)."""
    labels, predictions = _pair(labels, predictions, "mean_absolute_error")
    return mean(_math.abs(predictions - labels), weights, metrics_collections,
                updates_collections, name or "mean_absolute_error")


def mean_squared_error(labels, predictions, weights=None, metrics_collections=None,
                       updates_collections=None, name=None):
    """tf.compat.v1.metrics.mean_squared_error: the streaming mean of (predictions -
    labels)^2; returns (value, update_op)."""
    labels, predictions = _pair(labels, predictions, "mean_squared_error")
    return mean(_math.squared_difference(labels, predictions), weights, metrics_collections,
                updates_collections, name or "mean_squared_error")


def root_mean_squared_error(labels, predictions, weights=None, metrics_collections=None,
                            updates_collections=None, name=None):
    """tf.compat.v1.metrics.root_mean_squared_error: sqrt of the streaming mean squared
    error; returns (value, update_op)."""
    labels, predictions = _pair(labels, predictions, "root_mean_squared_error")
    mse, update_mse = mean(_math.squared_difference(labels, predictions), weights, None, None,
                           name or "root_mean_squared_error")
    value, update_op = _math.sqrt(mse), _math.sqrt(update_mse)
    return _collected(value, update_op, metrics_collections, updates_collections)


def _count(condition, weights, metrics_collections, updates_collections, name, default):
    """A streaming weighted count of the true elements of `condition`."""
    with variable_scope(name, default, (condition, weights)):
        count = _metric_variable("count")
        values = _math.cast(condition, _dt.float32)
        if weights is not None:
            weights = _math.cast(convert_to_tensor(weights), _dt.float32)
            check_weights_broadcastable(weights, values)
            values = _math.multiply(values, weights)
        update_op = count.assign_add(_reduce.reduce_sum(values))
        value = _array.identity(count, name="value")
        return _collected(value, update_op, metrics_collections, updates_collections)


def _bools(labels, predictions, what):
    labels = _math.cast(convert_to_tensor(labels), _dt.bool_)
    predictions = _math.cast(convert_to_tensor(predictions), _dt.bool_)
    if not predictions.shape.is_compatible_with(labels.shape):
        raise ValueError(f"metrics.{what}: shapes {predictions.shape} (predictions) and "
                         f"{labels.shape} (labels) are incompatible")
    return labels, predictions


def _confusion(kind, label_true, prediction_true):
    def metric(labels, predictions, weights=None, metrics_collections=None,
               updates_collections=None, name=None):
        labels, predictions = _bools(labels, predictions, kind)
        lab = labels if label_true else _math.logical_not(labels)
        pred = predictions if prediction_true else _math.logical_not(predictions)
        return _count(_math.logical_and(lab, pred), weights, metrics_collections,
                      updates_collections, name, kind)
    metric.__name__ = metric.__qualname__ = kind
    metric.__doc__ = (f"tf.compat.v1.metrics.{kind}: the streaming (weighted) count of "
                      f"{kind.replace('_', ' ')} (labels and predictions as bools); returns "
                      "(value, update_op).")
    return metric


true_positives = _confusion("true_positives", True, True)
false_positives = _confusion("false_positives", False, True)
true_negatives = _confusion("true_negatives", False, False)
false_negatives = _confusion("false_negatives", True, False)


def _ratio(kind, other, labels, predictions, weights, metrics_collections,
           updates_collections, name):
    with variable_scope(name, kind, (predictions, labels, weights)):
        labels, predictions = _bools(labels, predictions, kind)
        tp, tp_update = true_positives(labels, predictions, weights)
        miss, miss_update = other(labels, predictions, weights)

        def ratio(t, m, op_name):
            return _math.where_v2(_math.greater(t + m, 0.0), _math.div_no_nan(t, t + m),
                                  _array.zeros_like(t), name=op_name)
        value = ratio(tp, miss, "value")
        update_op = ratio(tp_update, miss_update, "update_op")
        return _collected(value, update_op, metrics_collections, updates_collections)


def precision(labels, predictions, weights=None, metrics_collections=None,
              updates_collections=None, name=None):
    """tf.compat.v1.metrics.precision: true positives / (true + false positives), streaming;
    returns (value, update_op)."""
    return _ratio("precision", false_positives, labels, predictions, weights,
                  metrics_collections, updates_collections, name)


def recall(labels, predictions, weights=None, metrics_collections=None,
           updates_collections=None, name=None):
    """tf.compat.v1.metrics.recall: true positives / (true positives + false negatives),
    streaming; returns (value, update_op)."""
    return _ratio("recall", false_negatives, labels, predictions, weights,
                  metrics_collections, updates_collections, name)
