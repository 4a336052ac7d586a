"""ng.initializers: the tf.compat.v1.initializers names (constant, zeros, ones, random_normal,
random_uniform, truncated_normal, variance_scaling, glorot_uniform, glorot_normal, orthogonal,
identity, he_*/lecun_*, and the variable-initializer ops); see numgrad/init_ops.py."""
from .init_ops import (Constant as constant, GlorotNormal as glorot_normal,  # noqa: F401
                       GlorotUniform as glorot_uniform, Identity as identity, Ones as ones,
                       Orthogonal as orthogonal, RandomNormal as random_normal,
                       RandomUniform as random_uniform, TruncatedNormal as truncated_normal,
                       VarianceScaling as variance_scaling, Zeros as zeros, he_normal,
                       he_uniform, lecun_normal, lecun_uniform)
from .variables import (global_variables_initializer as global_variables,  # noqa: F401
                        local_variables_initializer as local_variables,
                        variables_initializer as variables)

__all__ = ["constant", "zeros", "ones", "random_normal", "random_uniform", "truncated_normal",
           "variance_scaling", "glorot_uniform", "glorot_normal", "orthogonal", "identity",
           "he_normal", "he_uniform", "lecun_normal", "lecun_uniform", "global_variables",
           "local_variables", "variables"]
