"""Gradient rules of the convolution and pooling ops (ops/conv.py, ops/pool.py), TF's graphs
(cf. TF nn_grad.py): each gradient is again one of these ops with the forward op's attrs, so
derivatives of any order exist."""
from ...ops import array as A
from ...ops.conv import FAMILIES
from ...ops.core import convert_to_tensor, make_op
from ..registry import RegisterGradient
from ._util import shape_of


def _shape(t):
    s = shape_of(t)
    return convert_to_tensor(s, dtype="int32") if isinstance(s, list) else s


def _op(op_type, inputs, attrs):
    return make_op(op_type, inputs, dict(attrs)).outputs[0]


def _register_family(forward, backprop_input, backprop_filter):
    @RegisterGradient(forward)
    def _forward_grad(op, grad):
        x, f = op.inputs
        return [_op(backprop_input, [_shape(x), f, grad], op.attrs),
                _op(backprop_filter, [x, _shape(f), grad], op.attrs)]

    @RegisterGradient(backprop_input)
    def _backprop_input_grad(op, grad):
        _, f, dy = op.inputs
        return [None, _op(backprop_filter, [grad, _shape(f), dy], op.attrs),
                _op(forward, [grad, f], op.attrs)]

    @RegisterGradient(backprop_filter)
    def _backprop_filter_grad(op, grad):
        x, _, dy = op.inputs
        return [_op(backprop_input, [_shape(x), grad, dy], op.attrs), None,
                _op(forward, [x, grad], op.attrs)]


for _types in FAMILIES.values():
    _register_family(*_types[:3])


@RegisterGradient("MaxPool")
def _max_pool_grad(op, grad):
    return [_op("MaxPoolGrad", [op.inputs[0], op.outputs[0], grad], op.attrs)]


@RegisterGradient("MaxPoolGrad")
def _max_pool_grad_grad(op, grad):
    x, y, _ = op.inputs
    return [A.zeros_like(x), A.zeros_like(y), _op("MaxPoolGradGrad", [x, y, grad], op.attrs)]


@RegisterGradient("MaxPoolGradGrad")
def _max_pool_grad_grad_grad(op, grad):
    x, y, _ = op.inputs
    return [A.zeros_like(x), A.zeros_like(y), _op("MaxPoolGrad", [x, y, grad], op.attrs)]


@RegisterGradient("AvgPool")
def _avg_pool_grad(op, grad):
    return [_op("AvgPoolGrad", [_shape(op.inputs[0]), grad], op.attrs)]


@RegisterGradient("AvgPoolGrad")
def _avg_pool_grad_grad(op, grad):
    return [None, _op("AvgPool", [grad], op.attrs)]
