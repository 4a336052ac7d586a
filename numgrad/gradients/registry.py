"""Gradient-rule registry: RegisterGradient, NotDifferentiable, and lookup by op type.

A rule is ``fn(op, *out_grads) -> [grad for each input]`` building ordinary ops, so gradients
of gradients work.  ``None`` registered for a type means "not differentiable: inputs get None".
"""
__all__ = ["RegisterGradient", "NotDifferentiable", "get_gradient_function", "no_gradient"]

_RULES = {}


class RegisterGradient:
    """Decorator: ``@ng.RegisterGradient("MyOp") def _my_grad(op, grad): ...``."""

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


def get_gradient_function(op):
    """The rule for `op` (None if declared non-differentiable); LookupError if none exists."""
    try:
        return _RULES[op.type]
    except KeyError:
        raise LookupError(
            f"No gradient defined for operation '{op.name}' (op type: {op.type}). In general "
            "every operation must have an associated `@ng.RegisterGradient` for correct "
            "autodiff, which this op is lacking. If you want to pretend this operation is a "
            "constant in your program, you may insert `ng.stop_gradient`.") from None


def has_rule(op_type):
    return op_type in _RULES
