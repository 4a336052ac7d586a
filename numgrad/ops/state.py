"""Ops whose values live in a Session, not in the graph: variables and random counters.

A *state source* is an op the Session feeds from its own state on every run (declared with
``state=...`` in its registration):

* ``VariableV2`` (``state="variable"``): the variable's current value, a buffer the Session
  owns; reading one that was never assigned raises FailedPreconditionError naming it.
* ``IsVariableInitialized`` (``state="initialized"``): whether the Session holds a value.
* ``RandomCounter`` (``state="counter"``): how many runs of this Session have used it before
  (a stateful random op draws a new stream on each run: its Philox counter).

``Assign`` (inputs: the new value) writes state: its output is the new value (an alias of its
input for the compiler) and, after a successful run, the Session stores it as the variable's
value.  The compiler never sees state: to a backend, sources are feeds and assignments are
fetches (see numgrad/session_state.py).
"""
import numpy as np

from .. import dtypes as _dt
from ..errors import FailedPreconditionError
from ..tensor_shape import TensorShape
from .registry import register_op

__all__ = ["state_kind", "STATE_SOURCE_TYPES"]


def _never_computed(what):
    def compute(vals, attrs):       # the Session feeds these; reaching here is a bug or misuse
        raise FailedPreconditionError(f"{what} has no value outside a Session's state")
    return compute


register_op("VariableV2", lambda inputs, attrs: [(attrs["dtype"], attrs["shape"])],
            _never_computed("A variable"), kind="source", state="variable",
            traits=("variable",), not_batchable="state source: has no inputs")

register_op("IsVariableInitialized", lambda inputs, attrs: [(_dt.bool_, TensorShape([]))],
            _never_computed("IsVariableInitialized"), kind="source", state="initialized",
            traits=("lifted",), not_batchable="state source: has no inputs")

register_op("RandomCounter", lambda inputs, attrs: [(_dt.int64, TensorShape([]))],
            _never_computed("A random op's counter"), kind="source", state="counter",
            traits=("lifted",))


def _assign_infer(inputs, attrs):
    var = attrs["variable"].outputs[0]
    value = inputs[0]
    if value.dtype != var.dtype:
        raise TypeError(f"cannot assign a value of dtype {value.dtype.name} to variable "
                        f"'{attrs['variable'].name}' of dtype {var.dtype.name}")
    if not attrs.get("validate_shape", True):
        return [(var.dtype, value.shape)]
    if not var.shape.is_compatible_with(value.shape):
        raise ValueError(f"shapes must be equal: variable '{attrs['variable'].name}' has shape "
                         f"{var.shape}, the assigned value has shape {value.shape}")
    return [(var.dtype, var.shape.merge_with(value.shape))]


register_op("Assign", _assign_infer, lambda vals, attrs: [np.asarray(vals[0])],
            kind="opaque", alias=0, traits=("state_write",),
            not_batchable="writes session state; not differentiable")

STATE_SOURCE_TYPES = frozenset({"VariableV2", "IsVariableInitialized", "RandomCounter"})


def state_kind(op):
    """'variable', 'initialized', 'counter' for a state source, 'assign' for Assign, else None."""
    typ = op.type
    if typ == "Assign":
        return "assign"
    if typ in STATE_SOURCE_TYPES:
        return {"VariableV2": "variable", "IsVariableInitialized": "initialized",
                "RandomCounter": "counter"}[typ]
    return None
