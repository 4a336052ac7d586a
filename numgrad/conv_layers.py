"""ng.layers' convolution and pooling layers: tf.compat.v1.layers.conv1d / conv2d (Conv1D /
Conv2D) and max/average_pooling1d/2d, on numgrad's nn.conv* and pool ops.

A convolution layer's variables are ``<name>/kernel`` [*kernel_size, in_channels, filters]
(glorot-uniform by default, whose fans count the receptive field) and ``<name>/bias``
[filters], made as ng.layers.Dense makes its own (see numgrad/layers.py).  `padding` is
'valid' or 'same' (any case); `data_format` 'channels_last' (NWC / NHWC) or 'channels_first'
(NCW / NCHW).
"""
import numbers

from .init_ops import zeros_initializer
from .layers import Layer
from .ops import array as _array
from .ops import conv as _conv
from .ops import math as _math
from .ops import nn_extra as _nn_extra
from .ops import pool as _pool

__all__ = ["Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
           "AveragePooling2D", "conv1d", "conv2d", "max_pooling1d", "max_pooling2d",
           "average_pooling1d", "average_pooling2d"]


def _tuple(value, n, what):
    if isinstance(value, numbers.Integral):
        return (int(value),) * n
    value = tuple(int(v) for v in value)
    if len(value) != n:
        raise ValueError(f"The `{what}` argument must be a tuple of {n} integers. Received: "
                         f"{value}")
    return value


def _padding(padding):
    p = str(padding).upper()
    if p not in ("VALID", "SAME"):
        raise ValueError("The `padding` argument must be one of 'valid', 'same'. Received: "
                         f"{padding}")
    return p


def _channels_first(data_format):
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError("The `data_format` argument must be one of \"channels_first\", "
                         f"\"channels_last\". Received: {data_format}")
    return data_format == "channels_first"


class _Conv(Layer):
    """A rank-1 or rank-2 convolution layer (TF's Conv base)."""

    _RANK = 2

    def __init__(self, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, activation=None, use_bias=True,
                 kernel_initializer=None, bias_initializer=zeros_initializer(),
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        if not isinstance(filters, numbers.Integral) or filters <= 0:
            raise ValueError(f"{type(self).__name__}: filters must be a positive integer, got "
                             f"{filters!r}")
        if kernel_constraint is not None or bias_constraint is not None:
            raise NotImplementedError(f"{type(self).__name__}: kernel_constraint / "
                                      "bias_constraint are not supported")
        n = self._RANK
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.strides = _tuple(strides, n, "strides")
        self.dilation_rate = _tuple(dilation_rate, n, "dilation_rate")
        self.padding = _padding(padding)
        self.channels_first = _channels_first(data_format)
        self.activation, self.use_bias = activation, use_bias
        self._inits = (kernel_initializer, bias_initializer)
        self._regs = (kernel_regularizer, bias_regularizer)
        self.activity_regularizer = activity_regularizer
        self.kernel = self.bias = None

    def build(self, input_shape):
        """Make ``kernel`` [*kernel_size, in_channels, filters] and ``bias`` [filters]."""
        want = self._RANK + 2
        if input_shape.ndims is not None and input_shape.ndims != want:
            raise ValueError(f"Input 0 of layer {self.name} is incompatible with the layer: "
                             f"expected ndim={want}, found ndim={input_shape.ndims}. Full "
                             f"shape received: {input_shape}")
        dims = input_shape.as_list() if input_shape.ndims is not None else [None] * want
        channels = dims[1] if self.channels_first else dims[-1]
        if channels is None:
            raise ValueError("The channel dimension of the inputs should be defined. Found "
                             "`None`.")
        self.kernel = self.add_weight("kernel", list(self.kernel_size) + [channels,
                                                                          self.filters],
                                      self.dtype, self._inits[0], self._regs[0])
        if self.use_bias:
            self.bias = self.add_weight("bias", [self.filters], self.dtype, self._inits[1],
                                        self._regs[1])

    def call(self, inputs):
        """The convolution (+ bias), then the activation."""
        if inputs.dtype != self.dtype:
            inputs = _math.cast(inputs, self.dtype)
        if self._RANK == 1:
            out = _conv.conv1d(inputs, self.kernel, stride=self.strides[0],
                               padding=self.padding,
                               data_format="NCW" if self.channels_first else "NWC",
                               dilations=self.dilation_rate[0])
        else:
            fmt = "NCHW" if self.channels_first else "NHWC"
            out = _conv.conv2d(inputs, self.kernel, strides=list(self.strides),
                               padding=self.padding, data_format=fmt,
                               dilations=list(self.dilation_rate))
        if self.use_bias:
            out = _nn_extra.bias_add(out, self.bias,
                                     data_format="NCHW" if self.channels_first else None)
        if self.activation is not None:
            out = self.activation(out)
        if self.activity_regularizer is not None:
            self._add_loss(self.activity_regularizer(out))
        return out


class Conv1D(_Conv):
    """tf.compat.v1.layers.Conv1D: a 1-D convolution layer over (batch, width, channels)."""
    _RANK = 1
    _BASE_NAME = "conv1d"


class Conv2D(_Conv):
    """tf.compat.v1.layers.Conv2D: a 2-D convolution layer over (batch, rows, cols,
    channels)."""
    _RANK = 2
    _BASE_NAME = "conv2d"


class _Pooling(Layer):
    """A rank-1 or rank-2 max or average pooling layer."""

    _RANK, _MAX = 2, True

    def __init__(self, pool_size, strides, padding="valid", data_format="channels_last",
                 name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.pool_size = _tuple(pool_size, self._RANK, "pool_size")
        self.strides = _tuple(strides, self._RANK, "strides")
        self.padding = _padding(padding)
        self.channels_first = _channels_first(data_format)

    def call(self, inputs):
        """The pooled inputs."""
        pool = _pool.max_pool if self._MAX else _pool.avg_pool
        fmt = "NCHW" if self.channels_first else "NHWC"
        if self._RANK == 2:
            return pool(inputs, [1, 1] + list(self.pool_size) if self.channels_first
                        else [1] + list(self.pool_size) + [1],
                        [1, 1] + list(self.strides) if self.channels_first
                        else [1] + list(self.strides) + [1], self.padding, data_format=fmt)
        axis = 2 if self.channels_first else 1        # a unit row dimension, as TF
        x = _array.expand_dims(inputs, axis)
        k, s = self.pool_size[0], self.strides[0]
        ksize = [1, 1, 1, k] if self.channels_first else [1, 1, k, 1]
        strides = [1, 1, 1, s] if self.channels_first else [1, 1, s, 1]
        return _array.squeeze(pool(x, ksize, strides, self.padding, data_format=fmt), [axis])


class MaxPooling1D(_Pooling):
    """tf.compat.v1.layers.MaxPooling1D."""
    _RANK, _MAX, _BASE_NAME = 1, True, "max_pooling1d"


class MaxPooling2D(_Pooling):
    """tf.compat.v1.layers.MaxPooling2D."""
    _RANK, _MAX, _BASE_NAME = 2, True, "max_pooling2d"


class AveragePooling1D(_Pooling):
    """tf.compat.v1.layers.AveragePooling1D."""
    _RANK, _MAX, _BASE_NAME = 1, False, "average_pooling1d"


class AveragePooling2D(_Pooling):
    """tf.compat.v1.layers.AveragePooling2D."""
    _RANK, _MAX, _BASE_NAME = 2, False, "average_pooling2d"


def _conv_fn(cls):
    def layer_fn(inputs, filters, kernel_size, strides=1, padding="valid",
                 data_format="channels_last", dilation_rate=1, activation=None,
                 use_bias=True, kernel_initializer=None, bias_initializer=zeros_initializer(),
                 kernel_regularizer=None, bias_regularizer=None, activity_regularizer=None,
                 kernel_constraint=None, bias_constraint=None, trainable=True, name=None,
                 reuse=None):
        return cls(filters, kernel_size, strides=strides, padding=padding,
                   data_format=data_format, dilation_rate=dilation_rate,
                   activation=activation, use_bias=use_bias,
                   kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                   kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                   activity_regularizer=activity_regularizer,
                   kernel_constraint=kernel_constraint, bias_constraint=bias_constraint,
                   trainable=trainable, name=name, _reuse=reuse)(inputs)
    layer_fn.__name__ = layer_fn.__qualname__ = cls._BASE_NAME
    layer_fn.__doc__ = (f"tf.compat.v1.layers.{cls._BASE_NAME}: ``{cls.__name__}(filters, "
                        "kernel_size, ...)(inputs)`` with variables ``<name>/kernel`` and "
                        "``<name>/bias``.")
    return layer_fn


def _pool_fn(cls):
    def layer_fn(inputs, pool_size, strides, padding="valid", data_format="channels_last",
                 name=None):
        return cls(pool_size, strides, padding=padding, data_format=data_format,
                   name=name)(inputs)
    layer_fn.__name__ = layer_fn.__qualname__ = cls._BASE_NAME
    layer_fn.__doc__ = (f"tf.compat.v1.layers.{cls._BASE_NAME}: ``{cls.__name__}(pool_size, "
                        "strides, padding, data_format)(inputs)``.")
    return layer_fn


conv1d = _conv_fn(Conv1D)
conv2d = _conv_fn(Conv2D)
max_pooling1d = _pool_fn(MaxPooling1D)
max_pooling2d = _pool_fn(MaxPooling2D)
average_pooling1d = _pool_fn(AveragePooling1D)
average_pooling2d = _pool_fn(AveragePooling2D)
