"""Source text for the reductions of generated loops, shared by the cpu and cuda emitters: the
NumPy constructor of each dtype, a reduction's accumulator dtype, its initial value, and how
two partial values combine.  What each reduction op does is declared with it
(ops/registry.Reduction); these helpers ask the declaration."""
import numpy as np

from ..ops.registry import find_op_def

# dtype -> the constructor generated code writes for it (bool has none: it is never cast to)
CTOR = {np.dtype(np.float32): "np.float32", np.dtype(np.float64): "np.float64",
        np.dtype(np.int32): "np.int32", np.dtype(np.int64): "np.int64",
        np.dtype(np.bool_): None,
        np.dtype(np.complex64): "np.complex64", np.dtype(np.complex128): "np.complex128"}


def reduction(node):
    """The Reduction declared with `node`'s op type, or None if it is no fused reduction."""
    op_def = find_op_def(node.type)
    return None if op_def is None else op_def.reduction


def is_reduction(node):
    return reduction(node) is not None


def is_sum(node):
    """Whether `node` is a sum of its values (Sum, and Mean before its division)."""
    r = reduction(node)
    return r is not None and r.combine == "add"


def is_mean(node):
    """Whether `node`'s sum is divided by the count at the end (Mean)."""
    r = reduction(node)
    return r is not None and r.mean


def acc_dtype(node):
    """The dtype a reduction `node` accumulates in: float64 for float sums, means and
    products (Reduction.widens), int64 for integer ones; Max and Min keep their output's
    dtype."""
    dt = node.outputs[0].dtype
    if reduction(node).widens:
        return np.dtype(np.float64) if dt.kind == "f" else np.dtype(np.int64)
    return dt


def init_literal(node, dt, plain=False):
    """The initial value of reduction `node`'s accumulator of dtype `dt`, as source text.
    `plain`: a float64 or an int64 sum's or product's identity as a plain literal (``0.0``,
    ``np.inf``, ``0``), which Numba types as that dtype without a constructor call to resolve
    and lower (the cpu kernels; an int64 max's identity keeps its constructor, as its literal
    does not fit the int64 that Numba types integer literals as)."""
    ctor = CTOR[dt]
    combine_ = reduction(node).combine
    if plain and (dt == np.float64 or dt == np.int64 and combine_ in ("add", "mul")):
        point = ".0" if dt == np.float64 else ""
        if combine_ == "add":
            return "0" + point
        if combine_ == "mul":
            return "1" + point
        return "-np.inf" if combine_ == "max" else "np.inf"
    if combine_ == "add":
        return f"{ctor}(0)"
    if combine_ == "mul":
        return f"{ctor}(1)"
    if dt.kind == "f":
        return f"{ctor}({'-' if combine_ == 'max' else ''}np.inf)"
    info = np.iinfo(dt)
    return f"{ctor}({info.min if combine_ == 'max' else info.max})"


def combine(node, a, b):
    """Source text combining two partial values `a` and `b` of reduction `node`."""
    combine_ = reduction(node).combine
    if combine_ == "add":
        return f"({a} + {b})"
    if combine_ == "mul":
        return f"({a} * {b})"
    return f"{'maximum' if combine_ == 'max' else 'minimum'}({a}, {b})"
