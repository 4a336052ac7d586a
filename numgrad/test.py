"""ng.test: the tf.test gradient checkers."""
from .testing import compute_gradient, compute_gradient_error  # noqa: F401
