"""Learning-rate schedules of tf.compat.v1.train, as graph ops of the global step.

Formulas of tensorflow/python/keras/optimizer_v2/legacy_learning_rate_decay.py and the
LearningRateSchedule classes it calls (graph mode: the schedule applied to `global_step` at
once): the learning rate is converted to a tensor (a Python float: float32) and the step,
decay steps and rates are cast to its dtype.  numgrad has no ``ceil`` op: ceil(x) is built
as -floor(-x).
"""
import math

from ..graph import get_default_graph
from ..ops.core import constant, convert_to_tensor
from ..ops.math import cast, cos, equal, exp, floor, less_equal, minimum, multiply
from ..ops.math import negative, pow as _pow, truediv, where
from .. import dtypes as _dt

__all__ = ["exponential_decay", "piecewise_constant", "piecewise_constant_decay",
           "polynomial_decay", "natural_exp_decay", "inverse_time_decay", "cosine_decay"]


def _require_step(global_step, what):
    if global_step is None:
        raise ValueError(f"global_step is required for {what}.")


def _start(learning_rate, global_step, *casts):
    lr = convert_to_tensor(learning_rate, name="learning_rate")
    if not lr.dtype.is_floating:
        raise ValueError(f"learning_rate must be a float, got dtype {lr.dtype.name}")
    dtype = lr.dtype
    step = cast(convert_to_tensor(global_step), dtype)
    return (lr, step) + tuple(cast(convert_to_tensor(c), dtype) for c in casts)


def _progress(step, decay_steps, staircase):
    """global_step / decay_steps, floored with staircase (TF's exponent or ratio)."""
    p = step / decay_steps
    return floor(p) if staircase else p


def _ceil(x):
    return negative(floor(negative(x)))


def exponential_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """lr * decay_rate ** (global_step / decay_steps) (the exponent floored with staircase)."""
    _require_step(global_step, "exponential_decay")
    with get_default_graph().name_scope(name or "ExponentialDecay"):
        lr, step, decay_steps, decay_rate = _start(learning_rate, global_step, decay_steps,
                                                   decay_rate)
        p = _progress(step, decay_steps, staircase)
        return multiply(lr, _pow(decay_rate, p))


def natural_exp_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                      name=None):
    """lr * exp(-decay_rate) ** (global_step / decay_steps) (TF builds it as exponential_decay
    with the rate exp(-decay_rate))."""
    _require_step(global_step, "natural_exp_decay")
    with get_default_graph().name_scope(name or "NaturalExpDecay"):
        rate = exp(negative(convert_to_tensor(decay_rate)))
        return exponential_decay(learning_rate, global_step, decay_steps, rate,
                                 staircase=staircase)


def inverse_time_decay(learning_rate, global_step, decay_steps, decay_rate, staircase=False,
                       name=None):
    """lr / (1 + decay_rate * global_step / decay_steps) (the ratio floored with staircase)."""
    _require_step(global_step, "inverse_time_decay")
    with get_default_graph().name_scope(name or "InverseTimeDecay"):
        lr, step, decay_steps, decay_rate = _start(learning_rate, global_step, decay_steps,
                                                   decay_rate)
        p = _progress(step, decay_steps, staircase)
        denom = cast(constant(1), lr.dtype) + multiply(decay_rate, p)
        return truediv(lr, denom)


def polynomial_decay(learning_rate, global_step, decay_steps, end_learning_rate=0.0001,
                     power=1.0, cycle=False, name=None):
    """(lr - end) * (1 - step / decay_steps) ** power + end, the step capped at decay_steps
    (with cycle, decay_steps is stretched to the first multiple above the step)."""
    _require_step(global_step, "polynomial_decay")
    with get_default_graph().name_scope(name or "PolynomialDecay"):
        lr, step, end, power, steps = _start(learning_rate, global_step, end_learning_rate,
                                             power, decay_steps)
        if cycle:
            one = constant(1.0, dtype=lr.dtype)
            multiplier = where(equal(step, 0), one, _ceil(step / steps))
            steps = multiply(steps, multiplier)
        else:
            step = minimum(step, steps)
        p = truediv(step, steps)
        return multiply(lr - end, _pow(1 - p, power)) + end


def cosine_decay(learning_rate, global_step, decay_steps, alpha=0.0, name=None):
    """lr * ((1 - alpha) * 0.5 * (1 + cos(pi * min(step, decay_steps) / decay_steps)) + alpha)."""
    _require_step(global_step, "cosine_decay")
    with get_default_graph().name_scope(name or "CosineDecay"):
        lr, step, steps = _start(learning_rate, global_step, decay_steps)
        step = minimum(step, steps)
        completed_fraction = step / steps
        cosine_decayed = 0.5 * (1.0 + cos(constant(math.pi, dtype=lr.dtype) * completed_fraction))
        decayed = (1 - alpha) * cosine_decayed + alpha
        return multiply(lr, decayed)


def piecewise_constant(x, boundaries, values, name=None):
    """values[0] for x <= boundaries[0], values[i] for boundaries[i-1] < x <= boundaries[i],
    values[-1] for x > boundaries[-1]."""
    boundaries = [convert_to_tensor(b) for b in _flat(boundaries)]
    values = [convert_to_tensor(v) for v in _flat(values)]
    x = convert_to_tensor(x)
    for i, b in enumerate(boundaries):
        if b.dtype != x.dtype:
            if b.dtype == _dt.int32 and x.dtype == _dt.int64:
                boundaries[i] = cast(b, _dt.int64)
            else:
                raise ValueError("Boundaries (%s) must have the same dtype as x (%s)."
                                 % (b.dtype.name, x.dtype.name))
    for v in values[1:]:
        if v.dtype != values[0].dtype:
            raise ValueError("Values must have elements all with the same dtype (%s vs %s)."
                             % (values[0].dtype.name, v.dtype.name))
    if len(boundaries) != len(values) - 1:
        raise ValueError("The length of boundaries should be 1 less than the length of values")
    with get_default_graph().name_scope(name or "PiecewiseConstant"):
        out = values[-1]
        for b, v in zip(reversed(boundaries), reversed(values[:-1])):
            out = where(less_equal(x, b), v, out)
        return out


piecewise_constant_decay = piecewise_constant


def _flat(x):
    if isinstance(x, (list, tuple)):
        return list(x)
    return [x]

