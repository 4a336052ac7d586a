"""ng.custom_gradient: a function whose gradient the user writes (tf.custom_gradient, graph mode).

The decorated ``f(*x)`` returns ``(y, grad_fn)``.  The call builds f's ops as usual, then
passes the flat results, the flat arguments and the variables f reads through one
``IdentityN`` op created inside ``gradient_override_map({"IdentityN": name})``, where ``name``
(``CustomGradient-<n>``) is registered, once per call, to a rule that calls ``grad_fn``.
The caller gets the IdentityN outputs that stand for the results, so:

* gradients() reaches the arguments and variables only through the IdentityN op: the rule
  gives nothing to the results' own inputs (nothing flows back through f's ops) and
  ``grad_fn``'s gradients to the arguments and variables;
* ``grad_fn`` builds ordinary ops, so second derivatives (``ng.hessians``, a jacobian of a
  gradient) work whenever those ops are differentiable;
* ``ng.jacobian`` vectorises the backward graph as usual: it holds ``grad_fn``'s ops, not
  the IdentityN op (whose batching rule passes its inputs through).

Variables are found as TF finds them: the trainable variables that f's ops read, and those
the results depend on through float tensors (not through the arguments).  A grad_fn for a
function that reads variables must take a ``variables`` keyword and return
``(input_grads, variable_grads)``.  The whole call is one graph transaction: if f, or a check,
raises, the graph is left as it was and nothing is registered.
"""
import functools
import inspect
import itertools

from ..control.func_graph import flatten, pack_sequence_as
from ..graph import Tensor, executing_eagerly, get_default_graph
from .registry import RegisterGradient
from ..ops.registry import get_op_def
from ..indexed_slices import IndexedSlices
from ..ops.array import identity_n
from ..ops.core import convert_to_tensor
from ..variables import Variable

__all__ = ["custom_gradient"]

_UIDS = itertools.count(1)


def custom_gradient(f=None):
    """Decorator: ``f(*x)`` returns ``(y, grad_fn)``; the decorated function returns ``y``,
    and gradients() of it use ``grad_fn(*dys)`` (one gradient per flat element of ``y``),
    which returns the gradients for the flat arguments (tf.custom_gradient).  With
    variables read inside f: ``grad_fn(*dys, variables=...)`` returns
    ``(input_grads, variable_grads)``.  Works on methods too."""
    if f is None:
        return custom_gradient
    return _CustomGradientFunction(f)


class _CustomGradientFunction:
    """The decorated function; binds like a function when used as a method."""

    def __init__(self, f):
        self._f = f
        functools.update_wrapper(self, f)

    def __call__(self, *args, **kwargs):
        if executing_eagerly():           # no gradients in eager mode: just the values
            return self._f(*args, **kwargs)[0]
        return _graph_mode_call(self._f, args, kwargs)

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return _CustomGradientFunction(self._f.__get__(instance, owner))


def _name_of(f):
    return getattr(f, "__qualname__", None) or getattr(f, "__name__", repr(f))


def _graph_mode_call(f, args, kwargs):
    if kwargs:
        raise ValueError("The custom_gradient decorator currently supports keywords "
                         "arguments only when eager execution is enabled.")
    graph = get_default_graph()
    with graph._transaction():
        flat_args = [convert_to_tensor(a) for a in flatten(list(args))]
        args = pack_sequence_as(list(args), flat_args)
        n_before = len(graph.get_operations())
        out = f(*args)
        if not (isinstance(out, tuple) and len(out) == 2 and callable(out[1])):
            raise TypeError(f"custom_gradient: function '{_name_of(f)}' must return a pair "
                            f"(y, grad_fn) with a callable grad_fn, got {out!r}")
        result, grad_fn = out
        flat_result = [convert_to_tensor(t) for t in flatten(result)]
        if not flat_result:
            raise ValueError(f"custom_gradient: function '{_name_of(f)}' returned no tensors")
        variables = _variables_used(graph.get_operations()[n_before:], flat_args, flat_result)
        if variables and not _accepts_variables(grad_fn):
            raise TypeError("@ng.custom_gradient grad_fn must accept keyword argument "
                            f"'variables', since function uses variables: {variables}")
        name = f"CustomGradient-{next(_UIDS)}"
        with graph.gradient_override_map({"IdentityN": name}):
            outs = identity_n(flat_result + flat_args + variables)
        RegisterGradient(name)(_gradient_rule(f, grad_fn, len(flat_result), flat_args,
                                              variables))
    return pack_sequence_as(result, outs[:len(flat_result)])


def _accepts_variables(fn):
    spec = inspect.getfullargspec(fn)
    return "variables" in spec.args or "variables" in spec.kwonlyargs or spec.varkw is not None


def _variables_used(new_ops, flat_args, flat_result):
    """The trainable variables f used, sorted by name: those its ops read, and those the
    results depend on through float tensors other than the arguments."""
    args = set(flat_args)
    found = {}
    for op in new_ops:
        # an op writing a variable's state takes the value written, not a use of a variable
        # (a state source such as IsVariableInitialized has no inputs)
        if not get_op_def(op.type).has_trait("state_write"):
            for t in op.inputs:
                if isinstance(t, Variable) and t.trainable and t not in args:
                    found[t.name] = t
    seen, stack = set(), list(flat_result)
    while stack:
        t = stack.pop()
        if t in seen or t in args:
            continue
        seen.add(t)
        if isinstance(t, Variable):
            if t.trainable:
                found[t.name] = t
            continue
        stack.extend(x for x in t.op.inputs if x.dtype.is_floating)
    return [found[k] for k in sorted(found)]


def _gradient_rule(f, grad_fn, n_results, flat_args, variables):
    """The registered rule of the IdentityN op: no gradient for the results' own inputs,
    grad_fn's for the arguments and the variables."""
    fname = _name_of(f)

    def rule(op, *grads):
        dys = list(grads[:n_results])
        if variables:
            out = grad_fn(*dys, variables=variables)
            if not (isinstance(out, (list, tuple)) and len(out) == 2):
                raise TypeError(f"custom_gradient: the grad_fn of '{fname}' uses variables, so "
                                "it must return a pair (input_grads, variable_grads)")
            input_grads, variable_grads = out
            variable_grads = flatten(variable_grads)
            if len(variable_grads) != len(variables):
                raise ValueError("Must return gradient for each variable from "
                                 f"@custom_gradient grad_fn (function '{fname}': "
                                 f"{len(variable_grads)} gradient(s) for {len(variables)} "
                                 "variable(s))")
        else:
            input_grads, variable_grads = grad_fn(*dys), []
        input_grads = flatten(input_grads)
        if len(input_grads) != len(flat_args):
            raise ValueError(
                f"Num gradients {n_results + len(input_grads) + len(variable_grads)} generated "
                f"for op {op.name} do not match num inputs {len(op.inputs)}: the grad_fn of "
                f"custom_gradient function '{fname}' returned {len(input_grads)} gradient(s) "
                f"for its {len(flat_args)} argument(s)")
        targets = flat_args + variables
        return [None] * n_results + [_as_gradient(g, t) for g, t in
                                     zip(input_grads + variable_grads, targets)]
    return rule


def _as_gradient(g, target):
    if g is None or isinstance(g, (Tensor, IndexedSlices)):
        return g
    return convert_to_tensor(g, dtype=target.dtype)
