"""ng.metrics: tf.compat.v1.metrics.mean and accuracy, streaming over runs.

Each metric keeps local variables ``<name>/total`` and ``<name>/count`` (LOCAL_VARIABLES and
METRIC_VARIABLES collections; initialise them with ``ng.local_variables_initializer()``) and
returns ``(value, update_op)``: `update_op` adds the batch and gives the updated mean,
`value` reads the mean so far (as of the start of the run, numgrad's rule for reads).  The
mean is ``total / count``, 0 while count is 0.
"""
from . import dtypes as _dt
from .losses import check_weights_broadcastable
from .ops import array as _array
from .ops import math as _math
from .ops import reduce as _reduce
from .ops.core import convert_to_tensor
from .variables import GraphKeys, Variable, add_to_collections, variable_scope

__all__ = ["mean", "accuracy", "METRIC_VARIABLES"]

METRIC_VARIABLES = "metric_variables"        # tf GraphKeys.METRIC_VARIABLES


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
        if metrics_collections:
            add_to_collections(metrics_collections, value)
        if updates_collections:
            add_to_collections(updates_collections, update_op)
        return value, update_op


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
