"""tf.compat.v1.train.Optimizer: compute_gradients / apply_gradients / minimize, and slots.

Follows tensorflow/python/training/optimizer.py (TF 2.21, graph mode, ref variables).  An
optimizer's update is ordinary elementwise math on the variable, its slots and the gradient,
ending in ``Assign`` ops (numgrad/variables.py): every read in one run sees the values from
before the run, so each new value is written as a function of the old ones, and the cpu
compiler fuses it with the gradient computation.

Subclasses define ``_create_slots(var_list)``, ``_prepare()`` and
``_dense_update(grad, var) -> [(state_variable, new_value), ...]`` (the formula of TF's
``Apply*`` kernel); a sparse gradient (IndexedSlices) is summed over repeated indices and the
same formula applied to the rows present (TF's ``SparseApply*`` kernels), unless the subclass
overrides ``_sparse_update(summed, present, var)`` (Adam and gradient descent, whose TF1
sparse paths touch every row).
"""
import numpy as np

from .. import dtypes as _dt
from ..graph import Operation, Tensor, executing_eagerly, get_default_graph
from ..indexed_slices import IndexedSlices
from ..ops.array import fill
from ..ops.control import group
from ..ops.core import constant, convert_to_tensor
from ..ops.math import cast
from ..variables import GraphKeys, Variable, get_collection, get_variable_scope, trainable_variables
from . import sparse as _sparse

__all__ = ["Optimizer"]

TRAINABLE_RESOURCE_VARIABLES = "trainable_resource_variables"
_VALID_DTYPES = (_dt.float16, _dt.float32, _dt.float64)


def _call_if_callable(v):
    return v() if callable(v) else v


def _var_key(var):
    return (var.op.graph, var.op.name)


def _as_grad(g):
    """TF's convert_to_tensor_or_indexed_slices for a gradient, with its TypeErrors."""
    if isinstance(g, (Tensor, IndexedSlices)):
        return g
    if isinstance(g, Operation):
        raise TypeError(f"Gradient must be a Tensor, IndexedSlices, or None: {g}")
    try:
        return convert_to_tensor(g)
    except (TypeError, ValueError):
        raise TypeError(f"Gradient must be convertible to a Tensor or IndexedSlices, or None: "
                        f"{g}") from None


class Optimizer:
    """Base class for optimizers (tf.compat.v1.train.Optimizer)."""

    GATE_NONE = 0
    GATE_OP = 1
    GATE_GRAPH = 2

    def __init__(self, use_locking, name):
        if not name:
            raise ValueError("Must specify the optimizer name")
        self._use_locking = use_locking
        self._name = name
        self._slots = {}            # slot name -> {var key: slot Variable}
        self._non_slot_dict = {}    # (name, graph) -> Variable

    def get_name(self):
        """The optimizer's name ('Adam', ...)."""
        return self._name

    # --- the three steps ---------------------------------------------------------------------
    def minimize(self, loss, global_step=None, var_list=None, gate_gradients=GATE_OP,
                 aggregation_method=None, colocate_gradients_with_ops=False, name=None,
                 grad_loss=None):
        """compute_gradients then apply_gradients; the op that applies them."""
        grads_and_vars = self.compute_gradients(
            loss, var_list=var_list, gate_gradients=gate_gradients,
            aggregation_method=aggregation_method,
            colocate_gradients_with_ops=colocate_gradients_with_ops, grad_loss=grad_loss)
        vars_with_grad = [v for g, v in grads_and_vars if g is not None]
        if not vars_with_grad:
            raise ValueError(
                "No gradients provided for any variable, check your graph for ops that do not "
                "support gradients, between variables %s and loss %s."
                % ([str(v) for _, v in grads_and_vars], loss))
        return self.apply_gradients(grads_and_vars, global_step=global_step, name=name)

    def compute_gradients(self, loss, var_list=None, gate_gradients=GATE_OP,
                          aggregation_method=None, colocate_gradients_with_ops=False,
                          grad_loss=None):
        """A list of (gradient or None, variable) for `var_list` (default: the trainable
        variables)."""
        from ..gradients import gradients
        if callable(loss):
            # TF records loss() on a GradientTape; in graph mode that is: build it, then
            # differentiate the tensor it returns.
            loss = loss()
        if executing_eagerly():
            raise RuntimeError("`loss` passed to Optimizer.compute_gradients should be a "
                               "function when eager execution is enabled.")
        if gate_gradients not in (Optimizer.GATE_NONE, Optimizer.GATE_OP, Optimizer.GATE_GRAPH):
            raise ValueError("gate_gradients must be one of: Optimizer.GATE_NONE, "
                             "Optimizer.GATE_OP, Optimizer.GATE_GRAPH.  Not %s" % gate_gradients)
        if not isinstance(loss, Tensor):
            loss = convert_to_tensor(loss)
        self._assert_valid_dtypes([loss])
        if grad_loss is not None:
            if not isinstance(grad_loss, Tensor):
                grad_loss = convert_to_tensor(grad_loss)
            self._assert_valid_dtypes([grad_loss])
        if var_list is None:
            var_list = trainable_variables() + get_collection(TRAINABLE_RESOURCE_VARIABLES)
        else:
            var_list = _flatten(var_list)
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"Argument is not a tf.Variable: {v}")
        if not var_list:
            raise ValueError("No variables to optimize.")
        # Gating (GATE_OP, GATE_GRAPH) orders TF's parallel executor so that an op's
        # gradients are all computed before any is used: it changes when things run, never
        # the values.  A numgrad plan computes the same values whatever the order, so the
        # gates are accepted and not built: they would only force gradients nobody reads
        # (a MatMul's gradient w.r.t. its data input, in a training step).
        grads = gradients(loss, var_list, grad_ys=None if grad_loss is None else [grad_loss],
                          aggregation_method=aggregation_method,
                          colocate_gradients_with_ops=colocate_gradients_with_ops)
        grads_and_vars = list(zip(grads, var_list))
        self._assert_valid_dtypes([v for g, v in grads_and_vars if g is not None])
        return grads_and_vars

    def apply_gradients(self, grads_and_vars, global_step=None, name=None):
        """The op applying the gradients (and incrementing `global_step` after them)."""
        grads_and_vars = tuple(grads_and_vars)
        if not grads_and_vars:
            raise ValueError("No variables provided.")
        converted = []
        for g, v in grads_and_vars:
            if g is not None:
                g = _as_grad(g)
            if not isinstance(v, Variable):
                raise NotImplementedError(f"Trying to update a Tensor {v}")
            converted.append((g, v))
        var_list = [v for g, v in converted if g is not None]
        if not var_list:
            raise ValueError("No gradients provided for any variable: %s."
                             % ([str(v) for _, v in converted],))
        graph = var_list[0].graph
        with graph.as_default():
            with graph.control_dependencies(None):
                self._create_slots(var_list)
            update_ops = []
            with graph.name_scope(name or self._name) as scope:
                self._prepare()
                for grad, var in converted:
                    if grad is None:
                        continue
                    with graph.name_scope("update_" + var.op.name):
                        update_ops.append(self._update_op(grad, var))
                if global_step is None:
                    apply_updates = self._finish(update_ops, "update")
                else:
                    with graph.control_dependencies([self._finish(update_ops, "update")]):
                        apply_updates = _assign_add_one(global_step, scope)
            if isinstance(apply_updates, Tensor):
                apply_updates = apply_updates.op
            train_op = graph.get_collection_ref(GraphKeys.TRAIN_OP)
            if apply_updates not in train_op:
                train_op.append(apply_updates)
        return apply_updates

    # --- slots -------------------------------------------------------------------------------
    def get_slot(self, var, name):
        """The slot `name` ('m', 'momentum', ...) created for `var`, or None."""
        named_slots = self._slots.get(name)
        if not named_slots:
            return None
        return named_slots.get(_var_key(var))

    def get_slot_names(self):
        """The names of the slots this optimizer creates, sorted."""
        return sorted(self._slots.keys())

    def variables(self):
        """The optimizer's variables in the default graph (slots and e.g. Adam's beta powers),
        sorted by name."""
        graph = get_default_graph()
        out = [v for (_, g), v in self._non_slot_dict.items() if g is graph]
        for slots in self._slots.values():
            out.extend(v for v in slots.values() if v.graph is graph)
        return sorted(out, key=lambda v: v.name)

    def _slot_variable(self, var, slot_name, value, op_name):
        """The slot `slot_name` of `var`, created on first use as a non-trainable variable
        named '<var>/<op_name>' (made unique: '_1', ...) holding `value` everywhere."""
        named = self._slots.setdefault(slot_name, {})
        key = _var_key(var)
        slot = named.get(key)
        if slot is None:
            graph = var.graph
            if not var.shape.is_fully_defined():
                raise ValueError(f"Optimizer slots need a fully defined variable shape; "
                                 f"'{var.op.name}' has shape {var.shape}")
            scope = get_variable_scope().name
            base = f"{var.op.name}/{op_name}"
            base = f"{scope}/{base}" if scope else base
            with graph.as_default(), graph.control_dependencies(None), graph.name_scope(None):
                def init():
                    return fill(constant(np.array(var.shape.as_list(), np.int32)),
                                constant(value, dtype=var.dtype))
                slot = Variable(init, trainable=False, name=base, dtype=var.dtype)
            named[key] = slot
        return slot

    def _zeros_slot(self, var, slot_name, op_name):
        return self._slot_variable(var, slot_name, 0, op_name)

    def _create_non_slot_variable(self, initial_value, name, colocate_with):
        graph = colocate_with.graph
        key = (name, graph)
        v = self._non_slot_dict.get(key)
        if v is None:
            with graph.as_default(), graph.control_dependencies(None):
                v = Variable(initial_value, name=name, trainable=False)
            self._non_slot_dict[key] = v
        return v

    def _get_non_slot_variable(self, name, graph=None):
        return self._non_slot_dict.get((name, graph or get_default_graph()))

    # --- for subclasses ------------------------------------------------------------------------
    def _create_slots(self, var_list):
        pass

    def _prepare(self):
        pass

    def _dense_update(self, grad, var):
        raise NotImplementedError

    def _sparse_update(self, summed, present, var):
        """Default: the dense formula on the summed rows, absent rows unchanged."""
        return [(s, _sparse.keep_absent_rows(present, new, s))
                for s, new in self._dense_update(summed, var)]

    def _finish(self, update_ops, name_scope):
        return group(*update_ops, name=name_scope)

    def _hyper(self, value, name):
        """A hyperparameter as TF's _prepare makes it: called if callable, then a tensor."""
        return convert_to_tensor(_call_if_callable(value), name=name)

    @staticmethod
    def _cast(t, var):
        return t if t.dtype == var.dtype else cast(t, var.dtype)

    def _update_op(self, grad, var):
        if isinstance(grad, IndexedSlices):
            summed, present = _sparse.dense_rows(grad, var)
            pairs = self._sparse_update(summed, present, var)
        else:
            pairs = self._dense_update(grad, var)
        return group(*[s.assign(new, use_locking=self._use_locking) for s, new in pairs])

    def _assert_valid_dtypes(self, tensors):
        for t in tensors:
            dtype = t.dtype
            if dtype not in _VALID_DTYPES:
                raise ValueError("Invalid type %r for %s, expected: %s."
                                 % (dtype, t.name, [v for v in _VALID_DTYPES]))


def _flatten(x):
    if isinstance(x, (list, tuple)):
        out = []
        for e in x:
            out.extend(_flatten(e))
        return out
    if isinstance(x, dict):
        return _flatten([x[k] for k in sorted(x)])
    return [x]


def _assign_add_one(global_step, name):
    if not isinstance(global_step, Variable):
        raise TypeError(f"global_step must be a Variable, got {global_step!r}")
    return global_step.assign_add(convert_to_tensor(1, dtype=global_step.dtype), name=name)
