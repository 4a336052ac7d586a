"""Gradient rules, one module per op family; importing this package registers them all."""
from . import array, array_extra, control, debug, linalg, math, nn, reduce, state  # noqa: F401
