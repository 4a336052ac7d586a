"""ng.contrib.layers: tf.contrib.layers' initializers (xavier_initializer,
variance_scaling_initializer) and regularizers (numgrad/regularizers.py)."""
import math

from .. import dtypes as _dt
from ..regularizers import (apply_regularization, l1_l2_regularizer,  # noqa: F401
                            l1_regularizer, l2_regularizer, sum_regularizer)

__all__ = ["xavier_initializer", "xavier_initializer_conv2d", "variance_scaling_initializer",
           "l1_regularizer", "l2_regularizer", "l1_l2_regularizer", "sum_regularizer",
           "apply_regularization"]


def variance_scaling_initializer(factor=2.0, mode="FAN_IN", uniform=False, seed=None,
                                 dtype=_dt.float32):
    """tf.contrib.layers.variance_scaling_initializer: values with variance ``factor / n``,
    n = fan-in, fan-out or their mean (`mode` 'FAN_IN', 'FAN_OUT', 'FAN_AVG'; a conv kernel's
    fans include its receptive field).  uniform: limits ``+-sqrt(3 factor / n)``; else a
    truncated normal with stddev ``sqrt(1.3 factor / n)``."""
    dtype = _dt.as_dtype(dtype)
    if not dtype.is_floating:
        raise TypeError("Cannot create initializer for non-floating point type.")
    if mode not in ("FAN_IN", "FAN_OUT", "FAN_AVG"):
        raise TypeError(f"Unknown mode {mode} [FAN_IN, FAN_OUT, FAN_AVG]")

    def _initializer(shape, dtype=dtype, partition_info=None):
        """Initializer function."""
        from ..random_ops import random_uniform, truncated_normal
        dtype = _dt.as_dtype(dtype)
        if not dtype.is_floating:
            raise TypeError("Cannot create initializer for non-floating point type.")
        shape = list(shape)
        if partition_info is not None and getattr(partition_info, "full_shape", None):
            shape_f = list(partition_info.full_shape)
        else:
            shape_f = shape
        if shape_f:
            fan_in = float(shape_f[-2]) if len(shape_f) > 1 else float(shape_f[-1])
            fan_out = float(shape_f[-1])
        else:
            fan_in = fan_out = 1.0
        for d in shape_f[:-2]:
            fan_in *= d
            fan_out *= d
        n = {"FAN_IN": fan_in, "FAN_OUT": fan_out, "FAN_AVG": (fan_in + fan_out) / 2.0}[mode]
        if uniform:
            limit = math.sqrt(3.0 * factor / n)
            return random_uniform(shape, -limit, limit, dtype, seed=seed)
        return truncated_normal(shape, 0.0, math.sqrt(1.3 * factor / n), dtype, seed=seed)
    return _initializer


def xavier_initializer(uniform=True, seed=None, dtype=_dt.float32):
    """tf.contrib.layers.xavier_initializer: Glorot's initializer (uniform: limits
    ``+-sqrt(6 / (fan_in + fan_out))``; else a truncated normal with stddev
    ``sqrt(2.6 / (fan_in + fan_out))``)."""
    return variance_scaling_initializer(factor=1.0, mode="FAN_AVG", uniform=uniform, seed=seed,
                                        dtype=dtype)


xavier_initializer_conv2d = xavier_initializer
