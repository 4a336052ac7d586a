"""numgrad: TensorFlow-1.x-style graph-mode automatic differentiation, compiled by Numba.

``import numgrad as ng`` gives the tf.compat.v1 names: ``ng.placeholder``, ``ng.gradients``,
``ng.Session().run(...)``, ...
"""
from . import dtypes, errors
from .dtypes import DType, as_dtype, bool_, float16, float32, float64, int32, int64
from .graph import (Graph, Operation, Tensor, control_dependencies, disable_eager_execution,
                    enable_eager_execution, executing_eagerly, get_default_graph,
                    name_scope, reset_default_graph)
from .indexed_slices import IndexedSlices, IndexedSlicesValue
from .tensor_shape import TensorShape
from .ops.core import constant, convert_to_tensor, placeholder
from .ops.math import (abs, add, add_n, cast, clip_by_value, cos, divide, equal, erf, exp,  # noqa: A004
                       expm1, floor, floordiv, greater, greater_equal, less, less_equal, log,
                       log1p, logical_and, logical_not, logical_or, matmul, maximum, minimum,
                       multiply, negative, not_equal, pow, reciprocal, rsqrt, scalar_mul,
                       select, sigmoid, sign, sin, sqrt, square, squared_difference, subtract,
                       tan, tanh, truediv, truncatemod, where, where_v2)
from .ops.array import (broadcast_to, concat, expand_dims, fill, gather, identity, ones,
                        ones_like, rank, reshape, shape, size, slice, squeeze, stack,  # noqa: A004
                        stop_gradient, strided_slice, tile, transpose, unsorted_segment_sum,
                        unstack, zeros, zeros_like)
from .ops.reduce import (cumprod, cumsum, reduce_max, reduce_mean, reduce_min, reduce_prod,
                         reduce_sum)
from .ops.control import group, no_op, tuple  # noqa: A004
from .ops import overloads as _overloads  # noqa: F401  (Tensor operators)
from . import nn
from .gradients import (AggregationMethod, NotDifferentiable, RegisterGradient,
                        UnconnectedGradients, gradients, hessians, no_gradient)
from .session import InteractiveSession, Session, get_default_session
from . import test
from .threads import get_num_threads, set_num_threads
from .explain import explain
from .function import function

bool = bool_  # noqa: A001  (ng.bool, like tf.bool)
div = truediv
mod = truncatemod
__version__ = "0.1.0"
