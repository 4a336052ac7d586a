"""Gradient rules, one module per op family; importing this package registers them all."""
from . import array, debug, math, math_extra, nn, nn_extra, reduce, state  # noqa: F401
