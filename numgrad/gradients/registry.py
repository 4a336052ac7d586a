"""Gradient-rule registry: RegisterGradient, NotDifferentiable, and lookup for an op.

A rule is ``fn(op, *out_grads) -> [grad for each input]`` building ordinary ops, so gradients
of gradients work.  ``None`` registered under a name means "not differentiable: inputs get
None".  An op is looked up under its *gradient name*: its type, or the name that
``Graph.gradient_override_map`` gave it when it was created (``rule_name``); every lookup goes
through that one function.

A rule is found under its name in this registry, else in the op declaration of that name
(``register_op(..., gradient=fn)``, numgrad/ops/registry.py): an op may carry its rule with it.
"""
from ..ops.registry import NOT_DIFFERENTIABLE, declared_gradient

__all__ = ["RegisterGradient", "NotDifferentiable", "NoGradient", "get_gradient_function",
           "no_gradient", "rule_name", "declared_not_differentiable", "unregister"]

_RULES = {}


class RegisterGradient:
    """Decorator: ``@ng.RegisterGradient("MyOp") def _my_grad(op, grad): ...``.

    The name is an op type, or a name used in ``Graph.gradient_override_map``."""

    def __init__(self, op_type):
        if not isinstance(op_type, str):
            raise TypeError("op_type must be a string")
        self._op_type = op_type

    def __call__(self, fn):
        if self._op_type in _RULES or declared_gradient(self._op_type) is not None:
            raise KeyError(f"Registering two gradient with name '{self._op_type}'!")
        _RULES[self._op_type] = fn
        return fn


def NotDifferentiable(op_type):  # noqa: N802  (TF's name)
    """Declare `op_type` as having no gradient (its inputs receive None)."""
    if not isinstance(op_type, str):
        raise TypeError("op_type must be a string")
    _RULES[op_type] = None


no_gradient = NotDifferentiable
NoGradient = NotDifferentiable


def rule_name(op):
    """The name `op`'s gradient rule is registered under: its override, else its type."""
    return op._gradient_op_type or op.type


_MISSING = object()


def _rule(name):
    """The rule registered under `name` (None: not differentiable), else the one declared with
    the op type `name`, else _MISSING."""
    fn = _RULES.get(name, _MISSING)
    if fn is _MISSING:
        fn = declared_gradient(name)
        if fn is None:
            return _MISSING
    return None if fn is NOT_DIFFERENTIABLE else fn


def get_gradient_function(op):
    """The rule for `op` (None if declared non-differentiable); LookupError if none exists."""
    name = rule_name(op)
    fn = _rule(name)
    if fn is _MISSING:
        override = (f" The op was created inside gradient_override_map with the gradient "
                    f"name '{name}', which has no registered gradient."
                    if name != op.type else "")
        raise LookupError(
            f"No gradient defined for operation '{op.name}' (op type: {op.type}). In general "
            "every operation must have an associated `@ng.RegisterGradient` for correct "
            "autodiff, which this op is lacking. If you want to pretend this operation is a "
            "constant in your program, you may insert `ng.stop_gradient`." + override)
    return fn


def declared_not_differentiable(op):
    """Whether `op`'s gradient name is registered as not differentiable (NotDifferentiable)."""
    return _rule(rule_name(op)) is None


def has_rule(op_type):
    """Whether a rule (or NotDifferentiable) is registered or declared under `op_type`."""
    return _rule(op_type) is not _MISSING


def unregister(name):
    """Drop `name` (custom_gradient undoes its registration when its call fails)."""
    _RULES.pop(name, None)
