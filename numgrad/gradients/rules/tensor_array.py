"""Gradients of TensorArrayRead and TensorArrayWrite (numgrad/ops/tensor_array_ops.py), TF's
TensorList gradients on a dense buffer.  Each is written with the two ops themselves, so the
second derivative follows from the same two rules.

Read: the buffer gets zeros with element `index` set to the incoming gradient (for a vector
of indices, the incoming rows summed into their elements: TF's dense gather gradient).
Write: the value gets element `index` of the incoming gradient; the buffer gets the incoming
gradient with element `index` zeroed (the old element was overwritten), cut back to the input
buffer's length when the write grew a dynamic-size array.
"""
from ...ops import array as _array
from ...ops.array_extra import range as _range
from ...ops.tensor_array_ops import tensor_array_read, tensor_array_write
from ..registry import RegisterGradient


@RegisterGradient("TensorArrayRead")
def _read_grad(op, grad):
    buf, index = op.inputs
    grad = _array.densify(grad)
    if index.shape.rank == 0:
        return [tensor_array_write(_array.zeros_like(buf), index, grad), None]
    return [_array.unsorted_segment_sum(grad, index, _array.shape(buf)[0]), None]


@RegisterGradient("TensorArrayWrite")
def _write_grad(op, grad):
    buf, index, value = op.inputs
    grad = _array.densify(grad)
    g_buf = tensor_array_write(grad, index, _array.zeros_like(value))
    if op.get_attr("dynamic_size"):
        n = _array.shape(buf)[0]
        g_buf = _array.densify(_array.gather(g_buf, _range(n)))
    return [g_buf, None, tensor_array_read(grad, index)]
