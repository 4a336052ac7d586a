"""Gradient-rule registry: RegisterGradient, NotDifferentiable, and lookup for an op.

A rule is ``fn(op, *out_grads) -> [grad for each input]`` building ordinary ops, so gradients
of gradients work.  ``None`` registered under a name means "not differentiable: inputs get
None".  An op is looked up under its *gradient name*: its type, or the name that
``Graph.gradient_override_map`` gave it when it was created (``rule_name``); every lookup goes
through that one function.
"""
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
        if self._op_type in _RULES:
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


def get_gradient_function(op):
    """The rule for `op` (None if declared non-differentiable); LookupError if none exists."""
    name = rule_name(op)
    try:
        return _RULES[name]
    except KeyError:
        override = (f" The op was created inside gradient_override_map with the gradient "
                    f"name '{name}', which has no registered gradient."
                    if name != op.type else "")
        raise LookupError(
            f"No gradient defined for operation '{op.name}' (op type: {op.type}). In general "
            "every operation must have an associated `@ng.RegisterGradient` for correct "
            "autodiff, which this op is lacking. If you want to pretend this operation is a "
            "constant in your program, you may insert `ng.stop_gradient`." + override) from None


def declared_not_differentiable(op):
    """Whether `op`'s gradient name is registered as not differentiable (NotDifferentiable)."""
    name = rule_name(op)
    return name in _RULES and _RULES[name] is None


def has_rule(op_type):
    return op_type in _RULES


def unregister(name):
    """Drop `name` (custom_gradient undoes its registration when its call fails)."""
    _RULES.pop(name, None)
