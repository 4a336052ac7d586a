"""ng.debugging: the tf.debugging names (assertions, numeric checks)."""
from .asserts import (Assert, assert_equal, assert_greater, assert_greater_equal,  # noqa: F401
                      assert_less, assert_less_equal, assert_negative, assert_non_negative,
                      assert_non_positive, assert_none_equal, assert_positive, assert_rank,
                      assert_rank_at_least, assert_type)
from .ops.debug import check_numerics  # noqa: F401
from .ops.math import is_finite, is_inf, is_nan  # noqa: F401


def assert_all_finite(x, message, name=None):
    """tf.debugging.assert_all_finite: `x` unchanged, checked by check_numerics (an
    InvalidArgumentError with `message` when run on a NaN or an infinity)."""
    from .diagnostics import verify_tensor_all_finite
    return verify_tensor_all_finite(x, message, name=name)
