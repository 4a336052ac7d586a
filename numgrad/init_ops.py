"""Initializers (tf.compat.v1.*_initializer): callables ``init(shape, dtype=None,
partition_info=None) -> Tensor`` that build a variable's initial value in the graph."""
import numpy as np

from . import dtypes as _dt
from .ops.core import constant

__all__ = ["Initializer", "Constant", "Zeros", "Ones", "constant_initializer",
           "zeros_initializer", "ones_initializer"]


class Initializer:
    """Base class: subclasses implement __call__(shape, dtype=None, partition_info=None)."""

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {}


def _dtype(dtype, default):
    return _dt.as_dtype(dtype if dtype is not None else default)


class Constant(Initializer):
    """Fills with `value`: a scalar, or anything of the variable's size (reshaped)."""

    def __init__(self, value=0, dtype=_dt.float32, verify_shape=False):
        self.value = value
        self.dtype = _dt.as_dtype(dtype)
        self.verify_shape = verify_shape

    def __call__(self, shape, dtype=None, partition_info=None, verify_shape=None):
        dtype = _dtype(dtype, self.dtype)
        verify = self.verify_shape if verify_shape is None else verify_shape
        return constant(self.value, dtype=dtype, shape=list(shape), verify_shape=verify)

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"value": self.value, "dtype": self.dtype.name}


class Zeros(Initializer):
    """Fills with zeros."""

    def __init__(self, dtype=_dt.float32):
        self.dtype = _dt.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = _dtype(dtype, self.dtype)
        return constant(np.zeros(list(shape), dtype.np))


class Ones(Initializer):
    """Fills with ones."""

    def __init__(self, dtype=_dt.float32):
        self.dtype = _dt.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = _dtype(dtype, self.dtype)
        return constant(np.ones(list(shape), dtype.np))


constant_initializer = Constant
zeros_initializer = Zeros
ones_initializer = Ones
