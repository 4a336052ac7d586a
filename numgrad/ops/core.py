"""Sources (Const, Placeholder), tensor conversion and static-value analysis."""
import numbers

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor, get_default_graph, executing_eagerly
from ..indexed_slices import IndexedSlices
from ..tensor_shape import TensorShape, as_shape
from .registry import get_op_def, register_op

__all__ = ["constant", "placeholder", "convert_to_tensor", "constant_value",
           "shape_tensor_value", "make_op"]


def make_op(op_type, inputs, attrs=None, name=None, graph=None):
    """Create an op in the graph of its inputs (or the default graph); return the op."""
    if graph is None:
        graph = next((t.graph for t in inputs), None) or get_default_graph()
    return graph.create_op(op_type, inputs, attrs, name)


# --- Const ----------------------------------------------------------------------------------
def _const_infer(inputs, attrs):
    v = attrs["value"]
    return [(_dt.as_dtype(v.dtype), TensorShape(v.shape))]


register_op("Const", _const_infer, lambda vals, attrs: [attrs["value"]], kind="source",
            traits=("static_value",), not_batchable="source: has no inputs")


_KEPT = {np.dtype(t) for t in (np.float16, np.float32, np.float64, np.complex64, np.complex128)}


def _python_default_array(value, dtype):
    """NumPy array for `value` with TF's defaults: Python floats -> float32, ints -> int32."""
    if value is None:
        raise ValueError("None values not supported: cannot make a constant of None")
    if isinstance(value, (np.ndarray, np.generic)) and dtype is None:
        arr = np.asarray(value)
        if arr.dtype.kind == "U" or arr.dtype.kind == "S" or arr.dtype == object:
            raise TypeError(f"Cannot convert {value!r} to a numeric Tensor")
        if arr.dtype in _KEPT or arr.dtype.name == "bfloat16":    # (ml_dtypes' bfloat16)
            return arr
        if arr.dtype.kind in "iub":
            return arr.astype(np.int64) if arr.dtype.kind == "u" or arr.dtype.itemsize > 4 else (
                arr if arr.dtype.kind == "b" else arr.astype(np.int32))
        raise TypeError(f"Unsupported dtype {arr.dtype} for a Tensor")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise TypeError(f"Cannot convert {value!r} to a Tensor: {e}") from None
    if arr.dtype == object or arr.dtype.kind in "USV" and arr.dtype.name != "bfloat16":
        raise TypeError(f"Cannot convert {value!r} (of type {type(value).__name__}) to a Tensor")
    if dtype is not None:
        dtype = _dt.as_dtype(dtype)
        if arr.dtype.kind == "c" and not dtype.is_complex:
            raise TypeError(f"Expected {dtype.name}, but got {value!r} of type "
                            f"'{type(value).__name__}' instead (a complex value needs a complex "
                            "dtype).")
        if dtype.is_complex and arr.dtype.kind == "b":
            raise TypeError(f"Expected {dtype.name}, got {value!r} of type "
                            f"'{type(value).__name__}' instead.")
        if (dtype.is_integer or dtype.is_bool) and arr.dtype.kind == "f":
            if not np.all(np.isfinite(arr)) or not np.all(arr == np.round(arr)):
                raise TypeError(f"Expected {dtype.name}, got {value!r} of type "
                                f"'{type(value).__name__}' instead.")
        if dtype.is_bool and arr.dtype.kind != "b":
            raise TypeError(f"Expected bool, got {value!r} of type '{type(value).__name__}' instead.")
        if dtype.is_integer and arr.dtype.kind in "iu" and arr.size:
            info = np.iinfo(dtype.np)
            if arr.min() < info.min or arr.max() > info.max:
                raise TypeError(f"Value {value!r} is out of range for {dtype.name}")
        return arr.astype(dtype.np)
    if arr.dtype.kind == "f":
        return arr.astype(np.float32)
    if arr.dtype.kind in "iu":
        if arr.size and (arr.min() < -2**31 or arr.max() >= 2**31):
            return arr.astype(np.int64)
        return arr.astype(np.int32)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind == "c":
        return arr.astype(np.complex128)    # TF: a Python complex is complex128
    raise TypeError(f"Cannot convert {value!r} (dtype {arr.dtype}) to a Tensor")


def constant(value, dtype=None, shape=None, name="Const", verify_shape=False):
    """tf.constant: a Const op holding `value` (Python/NumPy), optionally cast and reshaped."""
    if isinstance(value, (Tensor, IndexedSlices)):
        raise TypeError("constant() takes a Python or NumPy value, not a Tensor; "
                        "use identity() or cast()")
    arr = _python_default_array(value, dtype)
    if shape is not None:
        shape = as_shape(shape).as_list()
        if any(d is None for d in shape):
            raise ValueError(f"constant(): shape {shape} must be fully defined")
        n = int(np.prod(shape, dtype=np.int64))
        if arr.size == 1 and n != 1:
            arr = np.full(shape, arr.reshape(()), dtype=arr.dtype)
        elif arr.size == n:
            if verify_shape and list(arr.shape) != shape:
                raise TypeError(f"Expected Tensor's shape: {tuple(shape)}, got {arr.shape}.")
            arr = arr.reshape(shape)
        else:
            raise TypeError(f"Eager/graph constant: expected {n} values for shape {shape}, "
                            f"got {arr.size} (value shape {arr.shape})")
    arr = np.array(arr, copy=True)
    arr.flags.writeable = False
    op = get_default_graph().create_op("Const", [], {"value": arr}, name)
    out = op.outputs[0]
    if executing_eagerly():
        out._value = arr
    return out


# --- Placeholder -----------------------------------------------------------------------------
def _placeholder_compute(vals, attrs):
    raise RuntimeError("Placeholder must be fed")   # the session reports which one


register_op("Placeholder", lambda inputs, attrs: [(attrs["dtype"], attrs["shape"])],
            _placeholder_compute, kind="source", traits=("placeholder",),
            not_batchable="source: has no inputs")


def placeholder(dtype, shape=None, name=None):
    """tf.compat.v1.placeholder: a value fed at run time; shape may have None dims."""
    if executing_eagerly():
        raise RuntimeError("ng.placeholder() is not compatible with eager execution.")
    dtype = _dt.as_dtype(dtype)
    dtype.np                # bfloat16 without ml_dtypes: its ImportError, before any op is made
    return get_default_graph().create_op(
        "Placeholder", [], {"dtype": dtype, "shape": as_shape(shape)}, name).outputs[0]


# --- conversion -------------------------------------------------------------------------------
def convert_to_tensor(value, dtype=None, name=None, preferred_dtype=None, dtype_hint=None):
    """Tensor for `value`; Python/NumPy values become constants, lists of tensors are stacked.
    None is a ValueError, as in TF."""
    if value is None:
        raise ValueError("None values not supported: cannot convert None to a Tensor"
                         + (f" (for '{name}')" if name else ""))
    if isinstance(value, Tensor):
        if dtype is not None and _dt.as_dtype(dtype) != value.dtype:
            raise ValueError(f"Tensor conversion requested dtype {_dt.as_dtype(dtype).name} for "
                             f"Tensor '{value.name}' with dtype {value.dtype.name}")
        return value
    if isinstance(value, IndexedSlices):
        from .array import densify
        return convert_to_tensor(densify(value), dtype, name)
    if isinstance(value, (list, tuple)) and _contains_tensor(value):
        from .array import stack
        return stack([convert_to_tensor(v, dtype) for v in value], name=name or "packed")
    hint = dtype_hint or preferred_dtype
    if dtype is None and hint is not None:
        try:
            return constant(value, dtype=hint, name=name or "Const")
        except (TypeError, ValueError):
            pass
    if hasattr(value, "dtype") and hasattr(value, "shape") and not isinstance(
            value, (np.ndarray, np.generic)):
        value = np.asarray(value)
    if not isinstance(value, (numbers.Number, np.ndarray, np.generic, list, tuple, bool)):
        raise TypeError(f"Cannot convert {value!r} of type {type(value).__name__} to a Tensor")
    return constant(value, dtype=dtype, name=name or "Const")


def _contains_tensor(seq):
    return any(isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and _contains_tensor(v))
               for v in seq)


# --- static values ------------------------------------------------------------------------------
def constant_value(t):
    """The value of `t` if it is known when the graph is built, else None."""
    if not isinstance(t, Tensor):
        return None
    if t._value is not None:
        return t._value
    op = t.op
    typ = op.type
    if typ == "Const":
        return op.attrs["value"]
    if typ == "Shape":
        s = op.inputs[0].shape
        return np.array(s.as_list(), dtype=t.dtype.np) if s.is_fully_defined() else None
    if typ == "Size":
        n = op.inputs[0].shape.num_elements()
        return None if n is None else np.array(n, dtype=t.dtype.np)
    if typ == "Rank":
        r = op.inputs[0].shape.rank
        return None if r is None else np.array(r, dtype=np.int32)
    if typ in ("Identity", "StopGradient"):
        return constant_value(op.inputs[0])
    if typ == "Cast":
        v = constant_value(op.inputs[0])
        return None if v is None else get_op_def("Cast").compute([v], op.attrs)[0]
    if typ in ("Pack", "ConcatV2"):
        vals = [constant_value(x) for x in op.inputs]
        if any(v is None for v in vals):
            return None
        if typ == "Pack":
            return np.stack(vals, axis=op.attrs["axis"])
        return np.concatenate(vals, axis=op.attrs["axis"])
    if typ == "StridedSlice":
        v = constant_value(op.inputs[0])
        return None if v is None else np.asarray(v[op.attrs["spec"]])
    if typ in ("Prod", "Sum"):
        v = constant_value(op.inputs[0])
        if v is None:
            return None
        f = np.prod if typ == "Prod" else np.sum
        return np.asarray(f(v, axis=op.attrs["axis"], keepdims=op.attrs["keepdims"]),
                          dtype=t.dtype.np)
    return None


def shape_tensor_value(t):
    """What is statically known about a 1-D shape tensor: a TensorShape (dims may be None).

    Used by Reshape/Fill/BroadcastTo inference.  -1 entries are returned as -1.
    """
    v = constant_value(t)
    if v is not None:
        return None if v.ndim != 1 else [int(d) for d in v]
    op = t.op
    if op.type == "Shape":
        s = op.inputs[0].shape
        return None if s.rank is None else list(s)
    if op.type == "Pack" and op.attrs["axis"] == 0:
        out = []
        for x in op.inputs:
            xv = constant_value(x)
            out.append(None if xv is None else int(xv))
        return out
    if op.type == "ConcatV2":
        out = []
        for x in op.inputs:
            part = shape_tensor_value(x)
            if part is None or isinstance(part, TensorShape):
                return None
            out.extend(part)
        return out
    if t.shape.rank == 1 and t.shape[0] is not None:
        return [None] * t.shape[0]
    return None
