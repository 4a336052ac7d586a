"""Gradient rules, one module per op family; importing this package registers them all."""
from . import (array, array_extra, control, conv, debug, linalg, math, math_extra, nn,  # noqa: F401
               nn_extra, reduce, state, tensor_array)
