"""ng.math: the tf.math names (TF 2.x spelling; v1 aliases where numgrad has them).

Every name here is the same function as the one at the top level of ``ng`` or in ``ng.nn``
where both exist; this module only gathers them under TF's ``tf.math`` namespace.
"""
from .ops.math import (abs, acos, acosh, add, add_n, asin, asinh, atan, atan2, atanh,  # noqa: F401,A004
                       ceil, cos, cosh, digamma, divide, divide_no_nan, equal, erf, erfc, exp,
                       expm1, floor, floordiv, floormod, greater, greater_equal, is_finite,
                       is_inf, is_nan, lgamma, less, less_equal, log, log1p, logical_and,
                       logical_not, logical_or, maximum, minimum, mod, multiply,
                       multiply_no_nan, negative, nextafter, not_equal, polygamma, pow,
                       realdiv, reciprocal, rint, round, rsqrt, scalar_mul, sigmoid, sign, sin,
                       sinh, sqrt, square, squared_difference, subtract, tan, tanh, truediv,
                       truncatemod, xdivy, xlog1py, xlogy, zeta)
from .ops.math_extra import (count_nonzero, log_sigmoid, logical_xor, polyval,  # noqa: F401
                             reduce_all, reduce_any, reduce_euclidean_norm, reduce_logsumexp,
                             reduce_std, reduce_variance, segment_max, segment_mean,
                             segment_min, segment_prod, segment_sum, unsorted_segment_max,
                             unsorted_segment_mean, unsorted_segment_min, unsorted_segment_prod)
from .ops.nn_extra import l2_normalize, softplus, softsign  # noqa: F401
from .ops.array import unsorted_segment_sum  # noqa: F401
from .ops.array_extra import argmax, argmin, top_k  # noqa: F401
from .ops.math import cast, matmul  # noqa: F401
from .ops.complex import angle, conj, imag, real  # noqa: F401
from .ops.math_extra import cross, norm  # noqa: F401
from .ops.reduce import (cumprod, cumsum, reduce_max, reduce_mean, reduce_min,  # noqa: F401
                         reduce_prod, reduce_sum)
from .ops.aliases import accumulate_n, reciprocal_no_nan, zero_fraction  # noqa: F401
from .ops.nn import log_softmax, softmax  # noqa: F401
