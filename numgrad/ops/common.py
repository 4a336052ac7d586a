"""Build-time checks and formatting that many op modules share: the dtype classes an op
accepts, TF's "not in the list of allowed dtypes" error, TF's way of printing a static shape,
and reading an argument that must be known when the graph is built (an axis, a perm)."""
import numpy as np

from ..graph import Tensor
from .core import constant_value

# dtype classes of an op's inputs (the last column of ops/math.py's tables): real floating, real
# numeric (floating or integer), their complex-inclusive forms (FLOAT_C, NUMERIC_C) for the
# ops TF also runs on complex64/128, bool, and any
FLOAT = "float"
NUMERIC = "numeric"
FLOAT_C = "float_or_complex"
NUMERIC_C = "numeric_or_complex"
BOOL = "bool"
ANY = "any"

# class -> (DType.kind letters it admits; bfloat16's is 'f', the list an error names)
_ALLOWED = {
    FLOAT: ("f", "float16, bfloat16, float32, float64"),
    NUMERIC: ("fiu", "float16, bfloat16, float32, float64, int32, int64"),
    FLOAT_C: ("fc", "float16, bfloat16, float32, float64, complex64, complex128"),
    NUMERIC_C: ("fiuc", "float16, bfloat16, float32, float64, int32, int64, complex64, "
                        "complex128"),
    BOOL: ("b", "bool"),
}


def allowed(dtype, which):
    """Whether `dtype` belongs to the dtype class `which` (one of the classes above)."""
    return which == ANY or dtype.kind in _ALLOWED[which][0]


def check_dtype(dtype, which, what="input"):
    """TypeError naming `what` unless `dtype` belongs to the dtype class `which`."""
    if not allowed(dtype, which):
        raise TypeError(f"{what} has dtype {dtype.name}, which is not in the list of allowed "
                        f"dtypes: {_ALLOWED[which][1]}")


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
