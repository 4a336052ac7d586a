"""Source text for the reductions of generated loops, shared by the cpu and cuda emitters: the
NumPy constructor of each dtype, a reduction's accumulator dtype, its initial value, and how
two partial values combine."""
import numpy as np

# dtype -> the constructor generated code writes for it (bool has none: it is never cast to)
CTOR = {np.dtype(np.float32): "np.float32", np.dtype(np.float64): "np.float64",
        np.dtype(np.int32): "np.int32", np.dtype(np.int64): "np.int64",
        np.dtype(np.bool_): None,
        np.dtype(np.complex64): "np.complex64", np.dtype(np.complex128): "np.complex128"}


def acc_dtype(node):
    """The dtype a reduction `node` accumulates in: float64 for float sums, means and
    products, int64 for integer ones; Max and Min keep their output's dtype."""
    dt = node.outputs[0].dtype
    if node.type in ("Sum", "Mean", "Prod"):
        return np.dtype(np.float64) if dt.kind == "f" else np.dtype(np.int64)
    return dt


def init_literal(node, dt):
    """The initial value of reduction `node`'s accumulator of dtype `dt`, as source text."""
    ctor = CTOR[dt]
    if node.type in ("Sum", "Mean"):
        return f"{ctor}(0)"
    if node.type == "Prod":
        return f"{ctor}(1)"
    if dt.kind == "f":
        return f"{ctor}({'-' if node.type == 'Max' else ''}np.inf)"
    info = np.iinfo(dt)
    return f"{ctor}({info.min if node.type == 'Max' else info.max})"


def combine(node, a, b):
    """Source text combining two partial values `a` and `b` of reduction `node`."""
    if node.type in ("Sum", "Mean"):
        return f"({a} + {b})"
    if node.type == "Prod":
        return f"({a} * {b})"
    return f"{'maximum' if node.type == 'Max' else 'minimum'}({a}, {b})"
