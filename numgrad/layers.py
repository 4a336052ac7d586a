"""ng.layers: tf.compat.v1.layers' Dense, Dropout, Flatten and BatchNormalization, as classes
and as the functions TF1 scripts call (``ng.layers.dense(x, 64, activation=ng.nn.relu)``).

A layer's variables are made with ``get_variable`` inside a ``variable_scope`` named after
the layer (``dense/kernel``, ``dense_1/bias``, ``batch_normalization/moving_mean``), so
``reuse=True`` (or an enclosing scope's reuse) shares them exactly as in TF1.  A layer object
calls ``build`` on its first call and re-enters the same scope with reuse afterwards.

Regularizers are applied once, when a variable is created: ``regularizer(var)`` goes to the
REGULARIZATION_LOSSES collection (``ng.losses.get_regularization_loss`` sums it).  Batch
normalization's moving-average assignments go to the UPDATE_OPS collection; run them with the
train op (``with ng.control_dependencies(ng.get_collection(ng.GraphKeys.UPDATE_OPS))``).
"""
import numbers

import numpy as np

from . import dtypes as _dt
from .init_ops import ones_initializer, zeros_initializer
from .ops import array as _array
from .ops import math as _math
from .ops import nn_extra as _nn_extra
from .ops.core import convert_to_tensor
from .random_ops import dropout as _nn_dropout
from .variables import (GraphKeys, add_to_collection, add_to_collections, get_collection,
                        get_variable, variable_scope)

__all__ = ["Layer", "Dense", "Dropout", "Flatten", "BatchNormalization", "dense", "dropout",
           "flatten", "batch_normalization"]


class Layer:
    """The base of ng.layers' classes (tf.compat.v1.layers.Layer): variables in a variable
    scope named after the layer, made on the first call (``build``) and shared after it."""

    _BASE_NAME = "layer"

    def __init__(self, trainable=True, name=None, dtype=None, _reuse=None, **kwargs):
        unknown = set(kwargs) - {"_scope", "input_shape", "batch_input_shape"}
        if unknown:
            raise TypeError(f"{type(self).__name__}: unexpected keyword argument(s) "
                            f"{sorted(unknown)}")
        self.trainable = bool(trainable)
        self.built = False
        self.dtype = _dt.as_dtype(dtype) if dtype is not None else None
        self._name = name
        self._reuse = _reuse
        self._scope = None
        self._variables = []
        self.updates = []
        self.losses = []

    @property
    def name(self):
        """The layer's scope name ('dense_1') once called, else the name it was given."""
        return self._scope.name if self._scope is not None else (self._name or self._BASE_NAME)

    @property
    def variables(self):
        """Every variable of the layer, in creation order."""
        return list(self._variables)

    @property
    def trainable_variables(self):
        """The layer's variables that optimizers train by default."""
        return [v for v in self._variables if v.trainable]

    @property
    def non_trainable_variables(self):
        """The layer's other variables (batch normalization's moving statistics)."""
        return [v for v in self._variables if not v.trainable]

    weights = variables
    trainable_weights = trainable_variables
    non_trainable_weights = non_trainable_variables

    def build(self, input_shape):
        """Make the layer's variables for inputs of `input_shape` (a TensorShape)."""
        self.built = True

    def call(self, inputs, **kwargs):
        """The layer's computation on `inputs` (inside its scope)."""
        return inputs

    def add_weight(self, name, shape, dtype=None, initializer=None, regularizer=None,
                   trainable=True):
        """get_variable(`name`) in the layer's scope; `regularizer(var)` joins
        REGULARIZATION_LOSSES when the variable is created (not when it is reused)."""
        before = {id(v) for v in get_collection(GraphKeys.GLOBAL_VARIABLES)}
        var = get_variable(name, shape=shape, dtype=dtype or self.dtype or _dt.float32,
                           initializer=initializer, trainable=trainable and self.trainable)
        if id(var) not in before and regularizer is not None:
            self._add_loss(regularizer(var))
        if all(var is not v for v in self._variables):
            self._variables.append(var)
        return var

    def _add_loss(self, loss):
        if loss is None:
            return
        loss = convert_to_tensor(loss)
        self.losses.append(loss)
        add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)

    def __call__(self, inputs, *args, **kwargs):
        """Build on the first call, then apply the layer to `inputs`."""
        if self._scope is None:
            ctx = variable_scope(self._name, default_name=self._BASE_NAME, reuse=self._reuse)
        else:
            ctx = variable_scope(self._scope, reuse=True)
        with ctx as scope:
            if self._scope is None:
                self._scope = scope
            inputs = convert_to_tensor(inputs)
            if self.dtype is None:
                self.dtype = inputs.dtype if inputs.dtype.is_floating else _dt.float32
            if not self.built:
                self.build(inputs.shape)
                self.built = True
            return self.call(inputs, *args, **kwargs)

    apply = __call__


def _training_value(training):
    """A Python bool for a constant `training`, else the boolean tensor."""
    if isinstance(training, (bool, np.bool_, numbers.Integral)):
        return bool(training)
    t = convert_to_tensor(training)
    if t.dtype != _dt.bool_ or t.shape.ndims not in (None, 0):
        raise ValueError(f"training must be a Python bool or a scalar bool tensor, got {t}")
    return t


class Dense(Layer):
    """tf.compat.v1.layers.Dense: ``activation(inputs @ kernel + bias)``, the kernel contracted
    with the last axis of inputs of any rank >= 2."""

    _BASE_NAME = "dense"

    def __init__(self, units, activation=None, use_bias=True, kernel_initializer=None,
                 bias_initializer=zeros_initializer(), kernel_regularizer=None,
                 bias_regularizer=None, activity_regularizer=None, kernel_constraint=None,
                 bias_constraint=None, trainable=True, name=None, **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        if not isinstance(units, numbers.Integral) or units <= 0:
            raise ValueError(f"Dense: units must be a positive integer, got {units!r}")
        if kernel_constraint is not None or bias_constraint is not None:
            raise NotImplementedError("Dense: kernel_constraint / bias_constraint are not "
                                      "supported")
        self.units = int(units)
        self.activation = activation
        self.use_bias = use_bias
        self.kernel_initializer = kernel_initializer
        self.bias_initializer = bias_initializer
        self.kernel_regularizer = kernel_regularizer
        self.bias_regularizer = bias_regularizer
        self.activity_regularizer = activity_regularizer
        self.kernel = self.bias = None

    def build(self, input_shape):
        """Make ``kernel`` [last dim, units] and ``bias`` [units]."""
        if input_shape.ndims is not None and input_shape.ndims < 2:
            raise ValueError(f"Input 0 of layer {self.name} is incompatible with the layer: "
                             f"expected min_ndim=2, found ndim={input_shape.ndims}. Full shape "
                             f"received: {input_shape}")
        last = None if input_shape.ndims is None else input_shape.as_list()[-1]
        if last is None:
            raise ValueError("The last dimension of the inputs to `Dense` should be defined. "
                             "Found `None`.")
        self.kernel = self.add_weight("kernel", [last, self.units], self.dtype,
                                      self.kernel_initializer, self.kernel_regularizer)
        if self.use_bias:
            self.bias = self.add_weight("bias", [self.units], self.dtype, self.bias_initializer,
                                        self.bias_regularizer)

    def call(self, inputs):
        """inputs @ kernel (+ bias), then the activation."""
        if inputs.dtype != self.dtype:
            inputs = _math.cast(inputs, self.dtype)
        rank = inputs.shape.ndims
        if rank == 2:
            out = _math.matmul(inputs, self.kernel)
        else:
            out = _matmul_last_axis(inputs, self.kernel, self.units)
        if self.use_bias:
            out = _nn_extra.bias_add(out, self.bias)
        if self.activation is not None:
            out = self.activation(out)
        if self.activity_regularizer is not None:
            self._add_loss(self.activity_regularizer(out))
        return out


def _matmul_last_axis(x, kernel, units):
    """x [..., d] @ kernel [d, units] -> [..., units] (TF's tensordot over the last axis),
    through a [-1, d] reshape so the leading dimensions may be unknown."""
    shape = x.shape.as_list()
    flat = _array.reshape(x, [-1, shape[-1]])
    out = _math.matmul(flat, kernel)
    if all(d is not None for d in shape[:-1]):
        return _array.reshape(out, shape[:-1] + [units])
    lead = _array.shape(x)[:len(shape) - 1]
    out = _array.reshape(out, _array.concat([lead, [units]], 0))
    out.set_shape(shape[:-1] + [units])
    return out


class Dropout(Layer):
    """tf.compat.v1.layers.Dropout: ``nn.dropout(inputs, rate)`` when training, else the
    inputs unchanged; `training` may be a bool tensor (both are built, one is selected)."""

    _BASE_NAME = "dropout"

    def __init__(self, rate=0.5, noise_shape=None, seed=None, name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.rate, self.noise_shape, self.seed = rate, noise_shape, seed

    def call(self, inputs, training=False):
        """Dropout while `training`, the identity otherwise."""
        training = _training_value(training)
        if training is False:
            return _array.identity(inputs)
        dropped = _nn_dropout(inputs, noise_shape=self.noise_shape, seed=self.seed,
                              rate=self.rate)
        if training is True:
            return dropped
        return _math.where_v2(training, dropped, inputs)


class Flatten(Layer):
    """tf.compat.v1.layers.Flatten: [batch, ...] -> [batch, product of the rest] (channels
    moved last first for ``data_format='channels_first'``); a vector becomes [batch, 1]."""

    _BASE_NAME = "flatten"

    def __init__(self, data_format="channels_last", name=None, **kwargs):
        super().__init__(name=name, **kwargs)
        if data_format not in ("channels_last", "channels_first"):
            raise ValueError("The `data_format` argument must be one of \"channels_first\", "
                             f"\"channels_last\". Received: {data_format}")
        self.data_format = data_format

    def call(self, inputs):
        """The flattened inputs."""
        shape = inputs.shape.as_list() if inputs.shape.ndims is not None else None
        if shape is None:
            raise ValueError(f"Flatten: the rank of the inputs {inputs.name} must be known")
        if self.data_format == "channels_first" and len(shape) > 2:
            perm = [0] + list(range(2, len(shape))) + [1]
            inputs = _array.transpose(inputs, perm)
            shape = [shape[i] for i in perm]
        if len(shape) <= 1:
            return _array.expand_dims(inputs, 1)
        rest = shape[1:]
        if all(d is not None for d in rest):
            return _array.reshape(inputs, [-1 if shape[0] is None else shape[0],
                                           int(np.prod(rest, dtype=np.int64))])
        batch = _array.shape(inputs)[:1]
        return _array.reshape(inputs, _array.concat([batch, [-1]], 0))


class BatchNormalization(Layer):
    """tf.compat.v1.layers.BatchNormalization over `axis` (the features; the statistics are
    taken over every other axis).

    Training: normalise with the batch mean and (biased) variance and add to UPDATE_OPS
    ``moving -= (moving - batch) * (1 - momentum)`` for both moving statistics.  As TF's fused
    kernel (used by TF for 4-D inputs normalised over axis 1 or 3), the moving variance of a
    4-D input averages the unbiased batch variance (times n / (n - 1)).  Inference: the moving
    statistics.  `training` may be a bool tensor: the batch or moving statistics are selected
    and the update is zero when it is False.
    """

    _BASE_NAME = "batch_normalization"

    def __init__(self, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                 beta_initializer=zeros_initializer(), gamma_initializer=ones_initializer(),
                 moving_mean_initializer=zeros_initializer(),
                 moving_variance_initializer=ones_initializer(), beta_regularizer=None,
                 gamma_regularizer=None, beta_constraint=None, gamma_constraint=None,
                 renorm=False, renorm_clipping=None, renorm_momentum=0.99, fused=None,
                 trainable=True, virtual_batch_size=None, adjustment=None, name=None,
                 **kwargs):
        super().__init__(trainable=trainable, name=name, **kwargs)
        if renorm or virtual_batch_size is not None or adjustment is not None \
                or beta_constraint is not None or gamma_constraint is not None:
            raise NotImplementedError("BatchNormalization: renorm, virtual_batch_size, "
                                      "adjustment and constraints are not supported")
        self.axis = axis
        self.momentum, self.epsilon = momentum, epsilon
        self.center, self.scale, self.fused = center, scale, fused
        self._inits = (gamma_initializer, beta_initializer, moving_mean_initializer,
                       moving_variance_initializer)
        self._regs = (gamma_regularizer, beta_regularizer)
        self.gamma = self.beta = self.moving_mean = self.moving_variance = None

    def build(self, input_shape):
        """Make gamma, beta, moving_mean and moving_variance over the feature axis."""
        if input_shape.ndims is None:
            raise ValueError(f"Input has undefined rank: {input_shape}")
        ndims = input_shape.ndims
        axis = self.axis if isinstance(self.axis, numbers.Integral) else None
        if axis is None or not -ndims <= axis < ndims:
            raise ValueError(f"Invalid axis: {self.axis!r} (input shape {input_shape})")
        self._axis = axis % ndims
        depth = input_shape.as_list()[self._axis]
        if depth is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined dimension "
                             f"but the layer received an input with shape {input_shape}.")
        self._ndims = ndims
        g_init, b_init, mm_init, mv_init = self._inits
        if self.scale:
            self.gamma = self.add_weight("gamma", [depth], self.dtype, g_init, self._regs[0])
        if self.center:
            self.beta = self.add_weight("beta", [depth], self.dtype, b_init, self._regs[1])
        self.moving_mean = self.add_weight("moving_mean", [depth], self.dtype, mm_init,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", [depth], self.dtype, mv_init,
                                               trainable=False)

    def _unbiased_moving_variance(self):
        return self._ndims == 4 and self._axis in (1, 3) and self.fused is not False

    def call(self, inputs, training=False):
        """The normalised inputs; in training, the moving statistics' updates are added to
        UPDATE_OPS (and ``self.updates``)."""
        training = _training_value(training)
        reduce_axes = [i for i in range(self._ndims) if i != self._axis]
        bshape = [1] * self._ndims
        bshape[self._axis] = -1

        def b(v):           # a [depth] vector broadcast against the inputs
            return v if self._axis == self._ndims - 1 or v is None else _array.reshape(v, bshape)

        mean, var = self.moving_mean, self.moving_variance
        if training is not False:
            batch_mean, batch_var = _nn_extra.moments(inputs, reduce_axes)
            if training is True:
                mean, var = batch_mean, batch_var
            else:
                mean = _math.where_v2(training, batch_mean, mean)
                var = _math.where_v2(training, batch_var, var)
            self._add_updates(inputs, batch_mean, batch_var, reduce_axes, training)
        return _nn_extra.batch_normalization(inputs, b(mean), b(var), b(self.beta),
                                             b(self.gamma), self.epsilon)

    def _add_updates(self, inputs, batch_mean, batch_var, reduce_axes, training):
        if self._unbiased_moving_variance():
            shape = inputs.shape.as_list()
            if all(shape[i] is not None for i in reduce_axes):
                n = float(np.prod([shape[i] for i in reduce_axes]))
                factor = n / max(n - 1.0, 1.0)
            else:
                n = _math.cast(_array.size(inputs), self.dtype) / float(
                    self.moving_variance.shape.as_list()[0])
                factor = n / _math.maximum(n - 1.0, 1.0)
            batch_var = batch_var * factor
        decay = convert_to_tensor(1.0 - self.momentum, dtype=self.dtype)
        if training is not True:
            decay = _math.where_v2(training, decay, _array.zeros_like(decay))
        updates = []
        for var, value, name in ((self.moving_mean, batch_mean, "AssignMovingAvg"),
                                 (self.moving_variance, batch_var, "AssignMovingAvg_1")):
            updates.append(var.assign_sub((var - value) * decay, name=name))
        self.updates.extend(updates)
        for u in updates:
            add_to_collections([GraphKeys.UPDATE_OPS], u)


def dense(inputs, units, activation=None, use_bias=True, kernel_initializer=None,
          bias_initializer=zeros_initializer(), kernel_regularizer=None, bias_regularizer=None,
          activity_regularizer=None, kernel_constraint=None, bias_constraint=None,
          trainable=True, name=None, reuse=None):
    """tf.compat.v1.layers.dense: ``Dense(units, ...)(inputs)`` with variables
    ``<name>/kernel`` (glorot-uniform by default) and ``<name>/bias``."""
    layer = Dense(units, activation=activation, use_bias=use_bias,
                  kernel_initializer=kernel_initializer, bias_initializer=bias_initializer,
                  kernel_regularizer=kernel_regularizer, bias_regularizer=bias_regularizer,
                  activity_regularizer=activity_regularizer, kernel_constraint=kernel_constraint,
                  bias_constraint=bias_constraint, trainable=trainable, name=name,
                  _reuse=reuse)
    return layer(inputs)


def dropout(inputs, rate=0.5, noise_shape=None, seed=None, training=False, name=None):
    """tf.compat.v1.layers.dropout: dropout with `rate` when `training` (a bool or a bool
    tensor), the identity otherwise (the default: training=False)."""
    return Dropout(rate, noise_shape=noise_shape, seed=seed, name=name)(inputs,
                                                                       training=training)


def flatten(inputs, name=None, data_format="channels_last"):
    """tf.compat.v1.layers.flatten: [batch, ...] -> [batch, -1]."""
    return Flatten(data_format=data_format, name=name)(inputs)


def batch_normalization(inputs, axis=-1, momentum=0.99, epsilon=1e-3, center=True, scale=True,
                        beta_initializer=zeros_initializer(),
                        gamma_initializer=ones_initializer(),
                        moving_mean_initializer=zeros_initializer(),
                        moving_variance_initializer=ones_initializer(),
                        beta_regularizer=None, gamma_regularizer=None, beta_constraint=None,
                        gamma_constraint=None, training=False, trainable=True, name=None,
                        reuse=None, renorm=False, renorm_clipping=None, renorm_momentum=0.99,
                        fused=None, virtual_batch_size=None, adjustment=None):
    """tf.compat.v1.layers.batch_normalization (see BatchNormalization); in training the
    moving-statistics updates are in ``ng.get_collection(ng.GraphKeys.UPDATE_OPS)``."""
    layer = BatchNormalization(
        axis=axis, momentum=momentum, epsilon=epsilon, center=center, scale=scale,
        beta_initializer=beta_initializer, gamma_initializer=gamma_initializer,
        moving_mean_initializer=moving_mean_initializer,
        moving_variance_initializer=moving_variance_initializer,
        beta_regularizer=beta_regularizer, gamma_regularizer=gamma_regularizer,
        beta_constraint=beta_constraint, gamma_constraint=gamma_constraint, renorm=renorm,
        renorm_clipping=renorm_clipping, renorm_momentum=renorm_momentum, fused=fused,
        trainable=trainable, virtual_batch_size=virtual_batch_size, adjustment=adjustment,
        name=name, _reuse=reuse)
    return layer(inputs, training=training)


# The convolution and pooling layers live in numgrad/conv_layers.py (built on Layer above).
from .conv_layers import (AveragePooling1D, AveragePooling2D, Conv1D, Conv2D,  # noqa: E402
                          MaxPooling1D, MaxPooling2D, average_pooling1d, average_pooling2d,
                          conv1d, conv2d, max_pooling1d, max_pooling2d)

__all__ += ["Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D",
            "AveragePooling2D", "conv1d", "conv2d", "max_pooling1d", "max_pooling2d",
            "average_pooling1d", "average_pooling2d"]
