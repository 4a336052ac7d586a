"""Gradient rules, one module per op family; importing this package registers them all."""
from . import (array, array_extra, complex, control, conv, debug, linalg, math,  # noqa: F401
               math_extra, nn, nn_extra, reduce, state, tensor_array)
