"""ng.random: the tf.compat.v1.random names (normal, uniform, truncated_normal, shuffle,
categorical, multinomial, set_random_seed, get_seed); see numgrad/random_ops.py."""
from .random_ops import (categorical, get_seed, multinomial, random_normal as normal,  # noqa: F401
                         random_shuffle as shuffle, random_uniform as uniform,
                         set_random_seed, truncated_normal)

__all__ = ["normal", "uniform", "truncated_normal", "shuffle", "categorical", "multinomial",
           "set_random_seed", "get_seed"]
