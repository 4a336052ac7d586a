"""ng.nn: the tf.nn subset (activations, softmax, cross-entropies, losses, normalisation,
dropout)."""
from .ops.math import sigmoid, tanh  # noqa: F401
from .ops.nn import (log_softmax, relu, relu_grad, sigmoid_cross_entropy_with_logits,  # noqa: F401
                     softmax, softmax_cross_entropy_with_logits_v2)
from .ops.nn_extra import (batch_normalization, bias_add, elu, gelu, l2_loss,  # noqa: F401
                           l2_normalize, leaky_relu, log_poisson_loss, moments, relu6, selu,
                           silu, softplus, softsign, sparse_softmax_cross_entropy_with_logits,
                           swish, weighted_cross_entropy_with_logits, xw_plus_b)

from .ops.array_extra import top_k  # noqa: F401
from .random_ops import dropout  # noqa: E402,F401

softmax_cross_entropy_with_logits = softmax_cross_entropy_with_logits_v2
