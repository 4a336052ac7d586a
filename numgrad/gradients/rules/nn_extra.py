"""Gradient rules for ops/nn_extra.py (cf. TF nn_grad.py)."""
from ...ops import array as A
from ..registry import RegisterGradient


@RegisterGradient("SparseSoftmaxCrossEntropyWithLogits")
def _sparse_softmax_cross_entropy_grad(op, grad_loss, grad_backprop):
    """TF's: grad_loss (as a column) * the op's backprop output (softmax - one_hot); none for
    the labels.  Like TF (prevent_gradient), there is no second derivative."""
    if grad_backprop is not None and not getattr(grad_backprop, "_is_zeros_tensor", False):
        raise LookupError("Gradient explicitly disabled. Reason: Currently there is no way to "
                          "take the second derivative of sparse_softmax_cross_entropy_with_"
                          "logits due to the fused implementation's interaction with "
                          "tf.gradients()")
    return [A.expand_dims(A.densify(grad_loss), -1) * op.outputs[1], None]
