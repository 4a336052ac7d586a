"""The two ops behind ng.TensorArray (numgrad/control/tensor_array.py).

A TensorArray's flow is a dense buffer of shape [size, *element_shape].  ``TensorArrayRead``
takes element ``index`` (or the elements at a vector of indices) out of it; ``TensorArrayWrite`` returns a copy of the buffer with
element ``index`` replaced (value semantics: the input buffer is never changed), growing it
with zero elements up to ``index + 1`` when the array has ``dynamic_size``.  A write copies the
buffer (a memcpy of size x element bytes); a read is O(element).  Unwritten elements are zeros,
which is what TF's TensorList gives for them when the element shape is known.

Their run-time errors are TF's TensorList errors (InvalidArgumentError).  Gradients are in
numgrad/gradients/rules/tensor_array.py; the batching rules are below.
"""
import numpy as np

from .. import batching as _B
from ..errors import InvalidArgumentError
from ..tensor_shape import TensorShape
from . import array as A
from .core import make_op
from .registry import register_op

__all__ = ["tensor_array_read", "tensor_array_write"]


def _check_index(index, what, ranks=(0,)):
    if not index.dtype.is_integer:
        raise TypeError(f"{what}: the index must be int32 or int64, got {index.dtype.name}")
    if index.shape.rank is not None and index.shape.rank not in ranks:
        want = "a scalar" if ranks == (0,) else "a scalar or a vector"
        raise ValueError(f"{what}: the index must be {want}, got shape {index.shape}")


def _element_shape(buf):
    return buf.shape[1:] if buf.shape.rank is not None else TensorShape(None)


def _read_infer(inputs, attrs):
    buf, index = inputs
    _check_index(index, "TensorArrayRead", (0, 1))
    if buf.shape.rank == 0:
        raise ValueError("TensorArrayRead: the buffer must have rank >= 1")
    if index.shape.rank is None:
        return [(buf.dtype, TensorShape(None))]
    return [(buf.dtype, index.shape.concatenate(_element_shape(buf)))]


def _read_compute(vals, attrs):
    buf, index = vals
    n = buf.shape[0]
    if np.ndim(index) == 0:
        i = int(index)
        if not 0 <= i < n:
            raise InvalidArgumentError(f"Trying to access element {i} in a list with {n} "
                                       "elements.")
        return [np.array(buf[i])]
    bad = (index < 0) | (index >= n)
    if bad.any():
        raise InvalidArgumentError(f"Index {int(index[bad][0])} out of range; list only has "
                                   f"{n} elements.")
    return [np.take(buf, index, axis=0)]


def _write_infer(inputs, attrs):
    buf, index, value = inputs
    _check_index(index, "TensorArrayWrite")
    if value.dtype != buf.dtype:
        raise TypeError(f"TensorArrayWrite: Invalid data types; op elements {value.dtype.name} "
                        f"but list elements {buf.dtype.name}")
    elem = _element_shape(buf)
    if not value.shape.is_compatible_with(elem):
        raise ValueError(f"Inconsistent shapes: saw {value.shape} but expected {elem}")
    elem = elem.merge_with(value.shape)
    if elem.rank is None:
        return [(buf.dtype, TensorShape(None))]
    n = None if attrs["dynamic_size"] or buf.shape.rank is None else buf.shape[0]
    return [(buf.dtype, TensorShape([n]).concatenate(elem))]


def _write_compute(vals, attrs):
    buf, index, value = vals
    i, n = int(index), buf.shape[0]
    if i < 0 or (i >= n and not attrs["dynamic_size"]):
        raise InvalidArgumentError(f"Trying to modify element {i} in a list with {n} elements.")
    if np.shape(value) != buf.shape[1:]:
        raise InvalidArgumentError(f"Tried to write an element of shape {np.shape(value)} into "
                                   f"a list of elements of shape {buf.shape[1:]}")
    if i < n:
        out = buf.copy()
    else:
        out = np.zeros((i + 1,) + buf.shape[1:], buf.dtype)
        out[:n] = buf
    out[i] = value
    return [out]


register_op("TensorArrayRead", _read_infer, _read_compute, kind="opaque")
register_op("TensorArrayWrite", _write_infer, _write_compute, kind="opaque")


def tensor_array_read(buf, index, name=None):
    """Element `index` of the buffer `buf`, or the elements at the vector `index`, stacked (the
    op; ng.TensorArray.read and gather are the public API)."""
    return make_op("TensorArrayRead", [buf, index], name=name).outputs[0]


def tensor_array_write(buf, index, value, dynamic_size=False, name=None):
    """A copy of `buf` with element `index` set to `value` (grown when `dynamic_size`)."""
    return make_op("TensorArrayWrite", [buf, index, value], {"dynamic_size": bool(dynamic_size)},
                   name=name).outputs[0]


# --- batching: the batch dim moves behind the element index, so the op runs unchanged ----------
def _batch_second(t):
    """(m, n, ...) -> (n, m, ...)."""
    r = t.shape.rank
    return A.transpose(t, [1, 0] + list(range(2, r)))


def _b_read(ctx, op, inputs, batched):
    _B._require_unbatched(op, batched, 1)
    if op.inputs[0].shape.rank is None:
        raise _B.NoBatchingRule(op, "TensorArrayRead: buffer of unknown rank")
    out = tensor_array_read(_batch_second(inputs[0]), inputs[1])
    if op.inputs[1].shape.rank == 0:
        return [out]
    if op.inputs[1].shape.rank is None:
        raise _B.NoBatchingRule(op, "TensorArrayRead: index of unknown rank")
    return [_batch_second(out)]


def _b_write(ctx, op, inputs, batched):
    _B._require_unbatched(op, batched, 1)
    if op.inputs[0].shape.rank is None:
        raise _B.NoBatchingRule(op, "TensorArrayWrite: buffer of unknown rank")
    buf, index, value = inputs
    buf = buf if batched[0] else _B._broadcast_batch(ctx, buf)
    value = value if batched[2] else _B._broadcast_batch(ctx, value)
    out = tensor_array_write(_batch_second(buf), index, value, op.get_attr("dynamic_size"))
    return [_batch_second(out)]


_B.BATCH_RULES.setdefault("TensorArrayRead", _b_read)
_B.BATCH_RULES.setdefault("TensorArrayWrite", _b_write)
