"""ng.nn: the tf.nn subset (relu, softmax, log_softmax, sigmoid, cross-entropies, dropout)."""
from .ops.math import sigmoid, tanh  # noqa: F401
from .ops.nn import (log_softmax, relu, relu_grad, sigmoid_cross_entropy_with_logits,  # noqa: F401
                     softmax, softmax_cross_entropy_with_logits_v2)

from .random_ops import dropout  # noqa: E402,F401

softmax_cross_entropy_with_logits = softmax_cross_entropy_with_logits_v2
