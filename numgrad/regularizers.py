"""Weight regularizers (tf.contrib.layers.l1_regularizer, l2_regularizer, l1_l2_regularizer,
sum_regularizer, apply_regularization): functions ``weights -> scalar loss`` for the
`regularizer` / `kernel_regularizer` arguments of get_variable, variable_scope and ng.layers,
which put the losses in the REGULARIZATION_LOSSES collection."""
import numbers

from .graph import name_scope
from .ops import math as _math
from .ops import reduce as _reduce
from .ops.core import convert_to_tensor
from .ops.nn_extra import l2_loss
from .variables import GraphKeys, add_to_collection, get_collection

__all__ = ["l1_regularizer", "l2_regularizer", "l1_l2_regularizer", "sum_regularizer",
           "apply_regularization"]


def _check_scale(scale):
    """None when the scale disables the regularizer, else the scale; TF's errors."""
    if isinstance(scale, numbers.Integral):
        raise ValueError(f"scale cannot be an integer: {scale}")
    if isinstance(scale, numbers.Real):
        if scale < 0.0:
            raise ValueError(f"Setting a scale less than 0 on a regularizer: {scale:g}")
        if scale == 0.0:
            return None
    return scale


def l1_regularizer(scale, scope=None):
    """``scale * sum(|w|)`` (a scale of 0.0 disables it: the regularizer returns None)."""
    if _check_scale(scale) is None:
        return lambda _: None

    def l1(weights):
        with name_scope(scope, "l1_regularizer", [weights]):
            s = convert_to_tensor(scale, dtype=weights.dtype, name="scale")
            return _math.multiply(s, _reduce.reduce_sum(_math.abs(weights)), name="value")
    return l1


def l2_regularizer(scale, scope=None):
    """``scale * sum(w^2) / 2`` (nn.l2_loss; a scale of 0.0 disables it)."""
    if _check_scale(scale) is None:
        return lambda _: None

    def l2(weights):
        with name_scope(scope, "l2_regularizer", [weights]):
            s = convert_to_tensor(scale, dtype=weights.dtype, name="scale")
            return _math.multiply(s, l2_loss(weights), name="value")
    return l2


def sum_regularizer(regularizer_list, scope=None):
    """The sum of the regularizers in the list (those that return None are left out)."""
    regularizers = [r for r in regularizer_list if r is not None]

    def total(weights):
        with name_scope(scope, "sum_regularizer", [weights]):
            losses = [r(weights) for r in regularizers]
            losses = [x for x in losses if x is not None]
            return _math.add_n(losses, name="value") if losses else None
    return total


def l1_l2_regularizer(scale_l1=1.0, scale_l2=1.0, scope=None):
    """l1_regularizer(scale_l1) + l2_regularizer(scale_l2)."""
    if _check_scale(scale_l1) is None:
        return l2_regularizer(scale_l2, scope)
    if _check_scale(scale_l2) is None:
        return l1_regularizer(scale_l1, scope)
    return sum_regularizer([l1_regularizer(scale_l1), l2_regularizer(scale_l2)], scope)


def apply_regularization(regularizer, weights_list=None):
    """The sum of `regularizer` over `weights_list` (default: the WEIGHTS collection), added
    to REGULARIZATION_LOSSES and returned."""
    if not weights_list:
        weights_list = get_collection("weights")
    if not weights_list:
        raise ValueError("No weights to regularize.")
    with name_scope(None, "get_regularization_penalty", weights_list):
        penalties = [regularizer(w) for w in weights_list]
        penalties = [p if p is not None else convert_to_tensor(0.0) for p in penalties]
        total = _math.add_n(penalties, name="value")
    add_to_collection(GraphKeys.REGULARIZATION_LOSSES, total)
    return total
