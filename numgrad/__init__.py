"""numgrad: TensorFlow-1.x-style graph-mode automatic differentiation, compiled by Numba.

``import numgrad as ng`` gives the tf.compat.v1 names: ``ng.placeholder``, ``ng.gradients``,
``ng.Session().run(...)``, ...
"""
from . import config, dtypes, errors
from .dtypes import (DType, as_dtype, bfloat16, bool_, complex64, complex128, double, float16,
                     float32, float64, half, int32, int64)
from .graph import (Graph, Operation, Tensor, control_dependencies, disable_eager_execution,
                    enable_eager_execution, executing_eagerly, get_default_graph,
                    name_scope, reset_default_graph)
from .indexed_slices import IndexedSlices, IndexedSlicesValue
from .tensor_shape import TensorShape
from .ops.core import constant, convert_to_tensor, placeholder
from .ops.math import (abs, add, add_n, cast, clip_by_value, cos, div, div_no_nan, divide,  # noqa: A004
                       divide_no_nan, equal, erf, exp, expm1, floor, floordiv, floormod,
                       greater, greater_equal, less, less_equal, log, log1p, logical_and,
                       logical_not, logical_or, matmul, maximum, minimum, mod, multiply,
                       negative, not_equal, pow, realdiv, reciprocal, rsqrt, scalar_mul,
                       select, sigmoid, sign, sin, sqrt, square, squared_difference, subtract,
                       tan, tanh, truediv, truncatemod, where, where_v2)
from .ops.array import (broadcast_to, concat, expand_dims, fill, gather, identity, identity_n,
                        ones, ones_like, rank, reshape, shape, size, slice, squeeze, stack,  # noqa: A004
                        stop_gradient, strided_slice, tile, transpose, unsorted_segment_sum,
                        unstack, zeros, zeros_like)
from .ops.reduce import (cumprod, cumsum, reduce_max, reduce_mean, reduce_min, reduce_prod,
                         reduce_sum)
from .ops.control import group, no_op, tuple  # noqa: A004
from .ops.array_extra import (argmax, argmin, argsort, boolean_mask, einsum, gather_nd, lin_space, linspace, meshgrid, one_hot, pad, placeholder_with_default, range, repeat, reverse, reverse_v2, roll, scatter_nd, sequence_mask, sort, split, tensor_scatter_nd_add, tensor_scatter_nd_update, tensordot)  # noqa: A004,E501
from .control import TensorArray, case, cond, foldl, foldr, map_fn, scan, while_loop
from .ops.math import (acos, acosh, asin, asinh, atan, atan2, atanh, ceil, cosh, digamma,  # noqa: A004
                       erfc, is_finite, is_inf, is_nan, lgamma, polygamma, rint, round, sinh,
                       zeta)
from .ops.math_extra import (count_nonzero, cross, logical_xor, norm, reduce_all, reduce_any,
                             reduce_logsumexp, segment_max, segment_mean, segment_min,
                             segment_prod, segment_sum, unsorted_segment_max,
                             unsorted_segment_mean, unsorted_segment_min, unsorted_segment_prod)
from .ops.complex import angle, complex, conj, imag, real  # noqa: A004
from .ops.math_extra import log_sigmoid
from .ops.aliases import (accumulate_n, arg_max, arg_min, dimension_value, floor_div,  # noqa: E402
                          is_tensor, tensor_scatter_add, tensor_scatter_nd_sub,
                          tensor_scatter_sub, tensor_scatter_update, to_bfloat16,
                          to_complex64, to_complex128, to_double, to_float, to_int32, to_int64)
from .graph import atomic as _atomic


def _make_op_builders_atomic():
    """Every public op builder undoes its ops if it fails (see graph.atomic).  Done before the
    Tensor operators and ng.nn bind them, and in the defining modules, so all callers see it."""
    import types
    from .ops import array, control, core, math, math_extra, nn as ops_nn, nn_extra, reduce
    g, done = globals(), {}
    every = (math, math_extra, nn_extra)   # all their own public builders (ng.math, ng.nn)
    for mod in (core, math, array, reduce, ops_nn, control, math_extra, nn_extra):
        for name, fn in list(vars(mod).items()):
            if (isinstance(fn, types.FunctionType) and not name.startswith("_")
                    and (fn.__module__ == mod.__name__ and (name in g and g[name] is fn
                                                            or mod in every)
                         or mod is ops_nn and fn.__module__ in (ops_nn.__name__, math.__name__))):
                wrapped = done.get(fn) or done.setdefault(fn, _atomic(fn))
                setattr(mod, name, wrapped)
                if g.get(name) is fn:
                    g[name] = wrapped


_make_op_builders_atomic()
from .ops import overloads as _overloads  # noqa: F401,E402  (Tensor operators)
from . import nn
from . import math_ns as math  # noqa: E402  (ng.math: the tf.math names)
from .gradients import (AggregationMethod, NoGradient, NotDifferentiable, RegisterGradient,
                        UnconnectedGradients, gradients, hessians, no_gradient)
from .jacobians import batch_jacobian, hvp, jacobian, jvp
from .variables import (AUTO_REUSE, GraphKeys, Variable, VariableScope, VariableV1,
                        add_to_collection, add_to_collections, all_variables, assign, assign_add,
                        assign_sub, get_collection, get_collection_ref, get_variable,
                        get_variable_scope, global_variables, global_variables_initializer,
                        initialize_all_variables, initialize_local_variables,
                        is_variable_initialized, local_variables, local_variables_initializer,
                        model_variables, report_uninitialized_variables, trainable_variables,
                        variable_scope, variables_initializer)
from .gradients.custom import custom_gradient
from .init_ops import (constant_initializer, glorot_normal_initializer,
                       glorot_uniform_initializer, ones_initializer,
                       orthogonal_initializer, random_normal_initializer,
                       random_uniform_initializer, truncated_normal_initializer,
                       variance_scaling_initializer, zeros_initializer)
from .random_ops import (get_seed, multinomial, random_normal, random_shuffle, random_uniform,
                         set_random_seed, truncated_normal)
from . import contrib, initializers, random  # noqa: E402  (ng.random: the tf.random names)
from .ops.linalg import (cholesky, cholesky_solve, diag, diag_part, eye, matrix_band_part,  # noqa: E402
                         matrix_determinant, matrix_diag, matrix_diag_part, matrix_inverse,
                         matrix_set_diag, matrix_solve, matrix_solve_ls, matrix_transpose,
                         matrix_triangular_solve, qr, self_adjoint_eig, self_adjoint_eigvals,
                         svd, trace)
from . import linalg  # noqa: E402
from . import scaleout  # noqa: E402  (ng.Session(target=dask client); dask imported only then)
from .session_options import ConfigProto, GPUOptions, GraphOptions, OptimizerOptions
from . import tf_logging as logging
from .session import InteractiveSession, Session, get_default_session
from . import test
from . import train
from .clip_ops import clip_by_global_norm, clip_by_norm, global_norm
from .threads import get_num_threads, set_num_threads
from .explain import explain
from .function import function
from .graph_tools import to_dot
from . import summary  # noqa: E402  (tf.summary; ng.summary(...) still describes a graph)
from .summary_proto import Summary  # noqa: E402  (tf.Summary, for Python values)
from .diagnostics import (RunOptions, add_check_numerics_ops, check_numerics,
                          find_first_non_finite, verify_tensor_all_finite, why_none)

from . import layers, losses  # noqa: E402  (tf.compat.v1.layers, .losses)
from .ops.py_func import numpy_function, py_func  # noqa: E402
from .printing import Print, print_v2 as print  # noqa: E402,A004  (tf.print)
from .asserts import (Assert, assert_equal, assert_greater, assert_greater_equal,  # noqa: E402
                      assert_less, assert_less_equal, assert_negative, assert_non_negative,
                      assert_non_positive, assert_none_equal, assert_positive, assert_rank,
                      assert_rank_at_least, assert_type)
from . import debugging, metrics  # noqa: E402
from .template import make_template  # noqa: E402
from . import compat  # noqa: E402  (ng.compat.v1: every name, as tf.compat.v1)
from .compat import (disable_control_flow_v2, disable_resource_variables,  # noqa: E402
                     disable_tensor_equality, disable_v2_behavior, disable_v2_tensorshape,
                     enable_v2_behavior)

bool = bool_  # noqa: A001  (ng.bool, like tf.bool)
newaxis = None  # (tf.newaxis, for indexing)
__version__ = "0.1.0"
