"""Initializers (tf.compat.v1.*_initializer): callables ``init(shape, dtype=None,
partition_info=None) -> Tensor`` that build a variable's initial value in the graph.

The random ones build random ops (numgrad/random_ops.py): running a variable's initializer
again in the same Session draws new values, as in TF."""
import math

import numpy as np

from . import dtypes as _dt
from .ops.core import constant, make_op
from .ops.registry import register_op
from .tensor_shape import TensorShape

__all__ = ["Initializer", "Constant", "Zeros", "Ones", "RandomNormal", "RandomUniform",
           "TruncatedNormal", "VarianceScaling", "Orthogonal", "Identity", "GlorotUniform",
           "GlorotNormal", "constant_initializer", "zeros_initializer", "ones_initializer",
           "random_normal_initializer", "random_uniform_initializer",
           "truncated_normal_initializer", "variance_scaling_initializer",
           "orthogonal_initializer", "identity_initializer", "glorot_uniform_initializer",
           "glorot_normal_initializer", "he_normal", "he_uniform", "lecun_normal",
           "lecun_uniform"]


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


def _float_dtype(dtype):
    dtype = _dt.as_dtype(dtype)
    if not dtype.is_floating:
        raise ValueError(f"Expected floating point type, got {dtype.name}.")
    return dtype


def _shape_list(shape):
    shape = TensorShape(shape) if not isinstance(shape, TensorShape) else shape
    if not shape.is_fully_defined():
        raise ValueError(f"initializer: shape {shape} must be fully defined")
    return shape.as_list()


class RandomNormal(Initializer):
    """Normal values with `mean` and `stddev` (tf.compat.v1.random_normal_initializer)."""

    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=_dt.float32):
        self.mean, self.stddev, self.seed = mean, stddev, seed
        self.dtype = _float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        from .random_ops import random_normal
        return random_normal(_shape_list(shape), self.mean, self.stddev,
                             _dtype(dtype, self.dtype), seed=self.seed)

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed,
                "dtype": self.dtype.name}


class TruncatedNormal(Initializer):
    """Normal values with `mean` and `stddev`, redrawn beyond two standard deviations
    (tf.compat.v1.truncated_normal_initializer)."""

    def __init__(self, mean=0.0, stddev=1.0, seed=None, dtype=_dt.float32):
        self.mean, self.stddev, self.seed = mean, stddev, seed
        self.dtype = _float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        from .random_ops import truncated_normal
        return truncated_normal(_shape_list(shape), self.mean, self.stddev,
                                _dtype(dtype, self.dtype), seed=self.seed)

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed,
                "dtype": self.dtype.name}


class RandomUniform(Initializer):
    """Uniform values in [minval, maxval) (tf.compat.v1.random_uniform_initializer); maxval
    defaults to 1 for floats and is required for integer dtypes."""

    def __init__(self, minval=0.0, maxval=None, seed=None, dtype=_dt.float32):
        self.minval, self.maxval, self.seed = minval, maxval, seed
        self.dtype = _dt.as_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        from .random_ops import random_uniform
        dtype = _dtype(dtype, self.dtype)
        minval = self.minval
        if dtype.is_integer and isinstance(minval, float) and minval == int(minval):
            minval = int(minval)
        return random_uniform(_shape_list(shape), minval, self.maxval, dtype, seed=self.seed)

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed,
                "dtype": self.dtype.name}


def _compute_fans(shape):
    """(fan_in, fan_out) of a weight of `shape`, as TF: a conv kernel [..., in, out] counts its
    receptive field (the product of the leading dims) in both."""
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return int(shape[0]), int(shape[0])
    if len(shape) == 2:
        return int(shape[0]), int(shape[1])
    receptive = 1
    for d in shape[:-2]:
        receptive *= d
    return int(shape[-2] * receptive), int(shape[-1] * receptive)


# stddev of a standard normal truncated to (-2, 2)
_TRUNC_STD = .87962566103423978


class VarianceScaling(Initializer):
    """tf.compat.v1.variance_scaling_initializer: values with variance ``scale / n``, n the
    fan-in, fan-out or their mean (`mode`).

    `distribution`: "truncated_normal" (or "normal", its v1 alias: stddev
    ``sqrt(scale / n) / .8796...`` before truncation at two stddev), "untruncated_normal"
    (stddev ``sqrt(scale / n)``) or "uniform" (limits ``+-sqrt(3 scale / n)``)."""

    def __init__(self, scale=1.0, mode="fan_in", distribution="truncated_normal", seed=None,
                 dtype=_dt.float32):
        if scale <= 0.:
            raise ValueError("`scale` must be positive float.")
        if mode not in {"fan_in", "fan_out", "fan_avg"}:
            raise ValueError(f"Invalid `mode` argument: {mode}")
        distribution = distribution.lower()
        if distribution not in {"normal", "uniform", "truncated_normal", "untruncated_normal"}:
            raise ValueError(f"Invalid `distribution` argument: {distribution}")
        self.scale, self.mode, self.distribution, self.seed = scale, mode, distribution, seed
        self.dtype = _float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        from .random_ops import random_normal, random_uniform, truncated_normal
        dtype = _float_dtype(_dtype(dtype, self.dtype))
        shape = _shape_list(shape)
        scale_shape = shape
        if partition_info is not None and getattr(partition_info, "full_shape", None):
            scale_shape = list(partition_info.full_shape)
        fan_in, fan_out = _compute_fans(scale_shape)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.}[self.mode]
        scale = self.scale / max(1., n)
        if self.distribution in ("normal", "truncated_normal"):
            return truncated_normal(shape, 0.0, math.sqrt(scale) / _TRUNC_STD, dtype,
                                    seed=self.seed)
        if self.distribution == "untruncated_normal":
            return random_normal(shape, 0.0, math.sqrt(scale), dtype, seed=self.seed)
        limit = math.sqrt(3.0 * scale)
        return random_uniform(shape, -limit, limit, dtype, seed=self.seed)

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"scale": self.scale, "mode": self.mode, "distribution": self.distribution,
                "seed": self.seed, "dtype": self.dtype.name}


class GlorotUniform(VarianceScaling):
    """Glorot/Xavier uniform: limits ``+-sqrt(6 / (fan_in + fan_out))``
    (tf.compat.v1.glorot_uniform_initializer; get_variable's default for floats)."""

    def __init__(self, seed=None, dtype=_dt.float32):
        super().__init__(1.0, "fan_avg", "uniform", seed, dtype)

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"seed": self.seed, "dtype": self.dtype.name}


class GlorotNormal(VarianceScaling):
    """Glorot/Xavier normal: truncated normal with stddev
    ``sqrt(2 / (fan_in + fan_out)) / .8796...`` (tf.compat.v1.glorot_normal_initializer)."""

    def __init__(self, seed=None, dtype=_dt.float32):
        super().__init__(1.0, "fan_avg", "truncated_normal", seed, dtype)

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"seed": self.seed, "dtype": self.dtype.name}


# Q of the QR decomposition of a tall matrix, columns signed so that diag(R) > 0 (TF multiplies
# by sign(diag(R)); a zero diagonal entry, probability zero, keeps its column here).
def _orthogonal_q_infer(inputs, attrs):
    a = inputs[0]
    if not a.dtype.is_floating:
        raise TypeError(f"expected a float matrix, got {a.dtype.name}")
    if a.shape.rank not in (None, 2):
        raise ValueError(f"expected a matrix, got shape {a.shape}")
    if a.shape.rank == 2 and None not in a.shape.as_list() and a.shape[0] < a.shape[1]:
        raise ValueError(f"expected rows >= columns, got shape {a.shape}")
    return [(a.dtype, a.shape)]


def _orthogonal_q_compute(vals, attrs):
    a = np.asarray(vals[0])
    q, r = np.linalg.qr(a.astype(np.float64) if a.dtype == np.float16 else a, mode="reduced")
    d = np.diagonal(r)
    q = q * np.where(d < 0, -1, 1).astype(q.dtype)
    return [q.astype(a.dtype)]


register_op("OrthogonalQ", _orthogonal_q_infer, _orthogonal_q_compute, kind="opaque")


def _declare_orthogonal_q():
    from . import batching
    from .gradients import NotDifferentiable
    NotDifferentiable("OrthogonalQ")
    batching.NOT_BATCHABLE.setdefault("OrthogonalQ", "initializer op: not differentiable")


_declare_orthogonal_q()


class Orthogonal(Initializer):
    """tf.compat.v1.orthogonal_initializer: a (semi-)orthogonal matrix times `gain`, from the QR
    decomposition of a normal matrix of shape (prod(shape[:-1]), shape[-1]) (transposed when
    it is wide), with TF's sign correction; then reshaped to `shape`."""

    def __init__(self, gain=1.0, seed=None, dtype=_dt.float32):
        self.gain, self.seed = gain, seed
        self.dtype = _float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        from .ops import array as _array
        from .ops import math as _math
        from .random_ops import random_normal
        dtype = _float_dtype(_dtype(dtype, self.dtype))
        shape = _shape_list(shape)
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional")
        num_rows = 1
        for d in shape[:-1]:
            num_rows *= d
        num_cols = shape[-1]
        flat = (num_cols, num_rows) if num_rows < num_cols else (num_rows, num_cols)
        a = random_normal(list(flat), dtype=dtype, seed=self.seed)
        q = make_op("OrthogonalQ", [a]).outputs[0]
        if num_rows < num_cols:
            q = _array.transpose(q)
        return _math.multiply(constant(self.gain, dtype=dtype), _array.reshape(q, shape))

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"gain": self.gain, "seed": self.seed, "dtype": self.dtype.name}


class Identity(Initializer):
    """`gain` times the identity matrix (2-D shapes only; tf.compat.v1.initializers.identity)."""

    def __init__(self, gain=1.0, dtype=_dt.float32):
        self.gain = gain
        self.dtype = _float_dtype(dtype)

    def __call__(self, shape, dtype=None, partition_info=None):
        dtype = _float_dtype(_dtype(dtype, self.dtype))
        shape = _shape_list(shape)
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices.")
        return constant(self.gain * np.eye(*shape), dtype=dtype)

    def get_config(self):
        """The constructor arguments, as a dict."""
        return {"gain": self.gain, "dtype": self.dtype.name}


random_normal_initializer = RandomNormal
random_uniform_initializer = RandomUniform
truncated_normal_initializer = TruncatedNormal
variance_scaling_initializer = VarianceScaling
orthogonal_initializer = Orthogonal
identity_initializer = Identity
glorot_uniform_initializer = GlorotUniform
glorot_normal_initializer = GlorotNormal


def he_normal(seed=None):
    """He normal: truncated normal with stddev sqrt(2 / fan_in) (before truncation)."""
    return VarianceScaling(2., "fan_in", "truncated_normal", seed)


def he_uniform(seed=None):
    """He uniform: limits +-sqrt(6 / fan_in)."""
    return VarianceScaling(2., "fan_in", "uniform", seed)


def lecun_normal(seed=None):
    """LeCun normal: truncated normal with stddev sqrt(1 / fan_in) (before truncation)."""
    return VarianceScaling(1., "fan_in", "truncated_normal", seed)


def lecun_uniform(seed=None):
    """LeCun uniform: limits +-sqrt(3 / fan_in)."""
    return VarianceScaling(1., "fan_in", "uniform", seed)
