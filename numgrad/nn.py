"""ng.nn: the tf.nn subset (activations, softmax, cross-entropies, losses, normalisation,
dropout, convolution and pooling)."""
from .ops.math import sigmoid, tanh  # noqa: F401
from .ops.nn import (log_softmax, relu, relu_grad, sigmoid_cross_entropy_with_logits,  # noqa: F401
                     softmax, softmax_cross_entropy_with_logits_v2)
from .ops.nn_extra import (batch_normalization, bias_add, elu, gelu, l2_loss,  # noqa: F401
                           l2_normalize, leaky_relu, log_poisson_loss, moments, relu6, selu,
                           silu, softplus, softsign, sparse_softmax_cross_entropy_with_logits,
                           swish, weighted_cross_entropy_with_logits, xw_plus_b)

from .ops.array_extra import top_k  # noqa: F401
from .ops.conv import (conv1d, conv2d, conv2d_backprop_filter,  # noqa: F401
                       conv2d_backprop_input, conv2d_transpose, depthwise_conv2d,
                       depthwise_conv2d_native, depthwise_conv2d_native_backprop_filter,
                       depthwise_conv2d_native_backprop_input)
from .ops.pool import avg_pool, avg_pool2d, max_pool, max_pool2d, pool  # noqa: F401
from .random_ops import dropout  # noqa: E402,F401
from .ops.aliases import (crelu, embedding_lookup, normalize_moments, relu_layer,  # noqa: F401
                          sufficient_statistics, zero_fraction)
from .ops.conv import (  # noqa: F401  (tf.nn's shorter names)
    depthwise_conv2d_native_backprop_filter as depthwise_conv2d_backprop_filter,
    depthwise_conv2d_native_backprop_input as depthwise_conv2d_backprop_input)

def softmax_cross_entropy_with_logits(_sentinel=None, labels=None, logits=None, dim=-1,
                                      name=None, axis=None):
    """tf.compat.v1.nn.softmax_cross_entropy_with_logits: as the _v2 function, but the labels
    get no gradient (TF's v1 wraps them in stop_gradient)."""
    from .ops.array import stop_gradient
    from .ops.core import convert_to_tensor
    if _sentinel is not None:
        raise ValueError("Only call softmax_cross_entropy_with_logits with named arguments "
                         "(labels=..., logits=...)")
    if labels is not None and logits is not None:
        logits = convert_to_tensor(logits)
        if not hasattr(labels, "op"):           # a Python/NumPy value: the logits' dtype
            labels = convert_to_tensor(labels, dtype=logits.dtype)
        labels = stop_gradient(labels)
    return softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits, dim=dim,
                                                name=name, axis=axis)
