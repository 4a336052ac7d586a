"""Gradient rules for softmax, log_softmax and softmax cross-entropy (cf. TF nn_grad.py)."""
from ...ops import array as A
from ...ops import math as M
from ...ops import nn as N
from ...ops import reduce as R
from ..registry import RegisterGradient


@RegisterGradient("Softmax")
def _softmax_grad(op, grad):
    y = op.outputs[0]
    axis = op.get_attr("axis")
    return [(grad - R.reduce_sum(grad * y, axis, keepdims=True)) * y]


@RegisterGradient("LogSoftmax")
def _log_softmax_grad(op, grad):
    y = op.outputs[0]
    axis = op.get_attr("axis")
    return [grad - R.reduce_sum(grad, axis, keepdims=True) * M.exp(y)]


def _broadcast_mul(vec, mat):
    return A.expand_dims(vec, -1) * mat


@RegisterGradient("SoftmaxCrossEntropyWithLogits")
def _softmax_cross_entropy_grad(op, grad_loss, grad_grad):
    logits = op.inputs[0]
    grad = _broadcast_mul(grad_loss, op.outputs[1])
    if grad_grad is not None and not getattr(grad_grad, "_is_zeros_tensor", False):
        softmax = N.softmax(logits)
        inner = A.squeeze(M.matmul(A.expand_dims(grad_grad, 1), A.expand_dims(softmax, 2)), axis=1)
        grad = grad + (grad_grad - inner) * softmax
    return [grad, _broadcast_mul(grad_loss, -N.log_softmax(logits))]
