"""tf.compat.v1.train.ExponentialMovingAverage: shadow copies of variables (or tensors) that
follow them with ``shadow -= (1 - decay) * (shadow - value)`` each time ``apply``'s op runs.

A variable's shadow is a non-trainable variable named ``<var>/<name>``
(``w/ExponentialMovingAverage``) that starts at the variable's initial value; a tensor's
starts at zero.  With `num_updates` the decay used is ``min(decay, (1 + n) / (10 + n))``, so
early averages move faster.  ``variables_to_restore()`` maps the shadow names to the
variables, for a Saver that loads the averages into the model's variables.

With ``zero_debias=True`` a tensor's average (not a variable's: it starts at the variable's
value, not at zero) is corrected for its zero start, as TF does: two more non-trainable
variables, ``<shadow>/biased`` (the zero-started average) and ``<shadow>/local_step`` (the
number of updates t), and each update sets the shadow to ``biased / (1 - decay ** t)``.
"""
from .. import dtypes as _dt
from ..graph import Tensor, get_default_graph, name_scope
from ..ops import array as _array
from ..ops import math as _math
from ..ops.control import group
from ..ops.core import convert_to_tensor
from ..variables import (GraphKeys, Variable, add_to_collection, get_collection,
                         global_variables, trainable_variables)

__all__ = ["ExponentialMovingAverage", "MOVING_AVERAGE_VARIABLES"]

MOVING_AVERAGE_VARIABLES = "moving_average_variables"   # tf GraphKeys.MOVING_AVERAGE_VARIABLES


class ExponentialMovingAverage:
    """Maintains exponential moving averages of variables (tf.compat.v1.train.
    ExponentialMovingAverage)."""

    def __init__(self, decay, num_updates=None, zero_debias=False,
                 name="ExponentialMovingAverage"):
        self._zero_debias = bool(zero_debias)
        self._decay = decay
        self._num_updates = num_updates
        self._name = name
        self._averages = {}             # id(var) -> (var, shadow)
        self._debias = {}               # id(tensor) -> (biased, local_step), zero_debias only

    name = property(lambda self: self._name, doc="The name given to the averages.")

    def apply(self, var_list=None):
        """Make the shadow variables of `var_list` (default: the trainable variables) and
        return the op that updates them all."""
        if var_list is None:
            var_list = trainable_variables()
        var_list = list(var_list)
        for v in var_list:
            if not isinstance(v, Tensor) or v.dtype not in (_dt.float16, _dt.float32,
                                                            _dt.float64):
                raise TypeError(f"The variables must be half, float, or double: {v}")
            if id(v) in self._averages:
                raise ValueError(f"Moving average already computed for: {v.name}")
        graph = get_default_graph()
        made, debias = {}, {}
        with graph._transaction():
            for v in var_list:
                made[id(v)] = (v, self._make_shadow(graph, v))
            for v in var_list:
                if self._zero_debias and not isinstance(v, Variable):
                    debias[id(v)] = self._make_debias_slots(graph, made[id(v)][1])
                if isinstance(v, Variable) and all(
                        v is not m for m in get_collection(MOVING_AVERAGE_VARIABLES)):
                    add_to_collection(MOVING_AVERAGE_VARIABLES, v)
            with name_scope(self._name) as scope:
                decay = convert_to_tensor(self._decay, dtype=_dt.float32, name="decay")
                if self._num_updates is not None:
                    n = _math.cast(self._num_updates, _dt.float32, name="num_updates")
                    decay = _math.minimum(decay, (1.0 + n) / (10.0 + n))
                updates = []
                for v in var_list:
                    shadow = made[id(v)][1]
                    with name_scope(v.op.name):
                        d = _math.cast(decay, v.dtype) if v.dtype != _dt.float32 else decay
                        if id(v) in debias:
                            updates.append(self._debiased_update(shadow, v, d,
                                                                 *debias[id(v)]))
                        else:
                            updates.append(shadow.assign_sub((shadow - v) * (1.0 - d),
                                                             name="AssignMovingAvg"))
            op = self._group(graph, updates, scope.rstrip("/"))
        self._averages.update(made)
        self._debias.update(debias)
        return op

    @staticmethod
    def _make_debias_slots(graph, shadow):
        """The zero-started average and the update count of a debiased shadow, named under
        it as TF names them."""
        base = shadow.op.name
        with graph.name_scope(None):
            biased = Variable(_array.zeros(shadow.shape.as_list(), shadow.dtype),
                              trainable=False, name=f"{base}/biased",
                              collections=[GraphKeys.GLOBAL_VARIABLES])
            step = Variable(_array.zeros([], shadow.dtype), trainable=False,
                            name=f"{base}/local_step",
                            collections=[GraphKeys.GLOBAL_VARIABLES])
        return biased, step

    @staticmethod
    def _debiased_update(shadow, value, decay, biased, step):
        """biased -= (biased - value) * (1 - decay); t += 1; shadow = biased / (1 - decay**t)."""
        new_biased = biased.assign_sub((biased - value) * (1.0 - decay))
        t = step.assign_add(_array.ones([], step.dtype))
        return shadow.assign(new_biased / (1.0 - _math.pow(decay, t)), name="AssignMovingAvg")

    @staticmethod
    def _group(graph, updates, scope):
        """One op running `updates`, named as the name scope they were made in (TF's
        ``group(*updates, name=scope)``)."""
        with graph.control_dependencies(updates):
            if scope not in graph._ops_by_name:
                return graph.create_op("NoOp", [], {}, name=scope, exact_name=True)
            return group(name=scope.rsplit("/", 1)[-1])

    def _make_shadow(self, graph, v):
        if isinstance(v, Variable):
            init = v.initialized_value()
        else:
            if not v.shape.is_fully_defined():
                raise ValueError(f"ExponentialMovingAverage: the shape of tensor {v.name} "
                                 "must be fully defined")
            init = _array.zeros(v.shape.as_list(), v.dtype)
        with graph.name_scope(None):
            return Variable(init, trainable=False, name=self.average_name(v),
                            collections=[GraphKeys.GLOBAL_VARIABLES])

    def average(self, var):
        """The shadow variable of `var`, or None."""
        entry = self._averages.get(id(var))
        return entry[1] if entry is not None and entry[0] is var else None

    def average_name(self, var):
        """The name of `var`'s shadow variable (``<var op name>/<name>``)."""
        return f"{var.op.name}/{self._name}"

    def variables_to_restore(self, moving_avg_variables=None):
        """{name: variable} for a Saver that restores the averages into the variables: each
        averaged variable under its shadow's name, every other global variable under its own
        name."""
        if moving_avg_variables is None:
            moving_avg_variables = (trainable_variables()
                                    + get_collection(MOVING_AVERAGE_VARIABLES))
        name_map, averaged = {}, set()
        for v in moving_avg_variables:
            name_map[self.average_name(v)] = v
            averaged.add(v.name)
        for v in global_variables():
            if v.name not in averaged and v.op.name not in name_map:
                name_map[v.op.name] = v
        return name_map
