"""Symbolic differentiation: gradients(), hessians() and the rule registry."""
from . import rules  # noqa: F401  (registers every rule)
from .impl import AggregationMethod, UnconnectedGradients, gradients, hessians
from .registry import (NoGradient, NotDifferentiable, RegisterGradient, get_gradient_function,
                       no_gradient)

__all__ = ["gradients", "hessians", "AggregationMethod", "UnconnectedGradients",
           "RegisterGradient", "NotDifferentiable", "NoGradient", "no_gradient",
           "get_gradient_function"]
