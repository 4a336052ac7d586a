"""ng.random: the tf.compat.v1.random names (normal, uniform, truncated_normal, shuffle,
categorical, multinomial, set_random_seed, set_seed, get_seed); see numgrad/random_ops.py."""
from .random_ops import (categorical, get_seed, multinomial, random_normal as normal,  # noqa: F401
                         random_shuffle as shuffle, random_uniform as uniform,
                         set_random_seed, truncated_normal)

__all__ = ["normal", "uniform", "truncated_normal", "shuffle", "categorical", "multinomial",
           "set_random_seed", "set_seed", "get_seed"]


def set_seed(seed):
    """tf.random.set_seed: the graph-level seed of the default graph (set_random_seed)."""
    set_random_seed(seed)
