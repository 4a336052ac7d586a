"""Build-time checks and formatting that many op modules share: the dtype classes an op
accepts, TF's "not in the list of allowed dtypes" error, TF's way of printing a static shape,
and reading an argument that must be known when the graph is built (an axis, a perm)."""
import numpy as np

from ..graph import Tensor
from .core import constant_value

# dtype classes of an op's inputs (the last column of ops/math.py's tables)
FLOAT = "float"
NUMERIC = "numeric"
BOOL = "bool"
ANY = "any"

_ALLOWED_NAMES = {FLOAT: "float16, float32, float64",
                  NUMERIC: "float16, float32, float64, int32, int64",
                  BOOL: "bool"}


def allowed(dtype, which):
    """Whether `dtype` belongs to the dtype class `which` (FLOAT, NUMERIC, BOOL or ANY)."""
    if which == FLOAT:
        return dtype.is_floating
    if which == NUMERIC:
        return dtype.is_numeric
    if which == BOOL:
        return dtype.is_bool
    return True


def check_dtype(dtype, which, what="input"):
    """TypeError naming `what` unless `dtype` belongs to the dtype class `which`."""
    if not allowed(dtype, which):
        raise TypeError(f"{what} has dtype {dtype.name}, which is not in the list of allowed "
                        f"dtypes: {_ALLOWED_NAMES[which]}")


def format_shape(shape):
    """A static TensorShape as TF prints it in build-time errors: [2,?,3], or <unknown>."""
    return "<unknown>" if shape.rank is None else "[" + ",".join(
        "?" if d is None else str(d) for d in shape) + "]"


def static_ints(value, what):
    """`value` (Python ints, a list of them, or a constant Tensor) as an integer array;
    TypeError naming `what` for a computed Tensor or non-integers."""
    if isinstance(value, Tensor):
        v = constant_value(value)
        if v is None:
            raise TypeError(f"{what} must be known when the graph is built (a Python int/list "
                            f"or a constant); got the computed Tensor '{value.name}'")
        value = v
    arr = np.asarray(value)
    if arr.size == 0 and arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise TypeError(f"{what} must be integers, got {value!r}")
    return arr
