"""Issue 17, pooling: MaxPool, AvgPool and their gradient ops, with the tf.compat.v1.nn
builders max_pool(2d), avg_pool(2d) and pool.

As in TF the gradient of MaxPool is a MaxPoolGrad op (each output's gradient goes to the input
element holding the window's first maximum, row-major), whose gradient is a MaxPoolGradGrad op
(the incoming gradient read at those elements), whose gradient is MaxPoolGrad again; AvgPool's
gradient is AvgPoolGrad, whose gradient is AvgPool.  SAME padding never wins a max and is not
counted in an average, as in TF.  Windows over the batch or depth dimensions are rejected
while the graph is built (TF supports depth-only max pooling; numgrad does not).
"""
from ..graph import atomic, name_scope
from ..tensor_shape import TensorShape
from . import array as _array
from . import conv_reference as ref
from .conv import nhwc_attrs
from .conv_common import (check_float_pair, from_nhwc, from_nhwc_shape, geometry, nhwc_shape,
                          rank4, to_nhwc, window_attrs)
from .core import convert_to_tensor, make_op, shape_tensor_value
from .common import FLOAT, check_dtype, format_shape
from .registry import register_op


def pool_geometry(op_type, attrs, in_hw):
    a = nhwc_attrs(attrs)
    return geometry(op_type, a, in_hw, (a["ksize"][1], a["ksize"][2]), window_name="ksize")


def _static_output(op_type, attrs, x_shape):
    """NHWC dims of the pool's output for the (NHWC, static-or-None) input dims."""
    g = pool_geometry(op_type, attrs, (x_shape[1], x_shape[2]))
    return [x_shape[0], g.out[0], g.out[1], x_shape[3]]


def _check_same(a, b, what):
    if not TensorShape(a).is_compatible_with(TensorShape(b)):
        raise ValueError(f"{what}: shapes {format_shape(TensorShape(a))} and "
                         f"{format_shape(TensorShape(b))} must be equal")


def _infer_pool(op_type):
    def infer(inputs, attrs):
        x, = inputs
        check_dtype(x.dtype, FLOAT, f"input '{x.name}'")
        xs = nhwc_shape(rank4(x, "input"), attrs)
        return [(x.dtype, TensorShape(from_nhwc_shape(_static_output(op_type, attrs, xs),
                                                      attrs)))]
    return infer


def _infer_max_grad(op_type, result):
    """MaxPoolGrad (result 0: orig_input's shape) and MaxPoolGradGrad (1: orig_output's)."""
    def infer(inputs, attrs):
        x, y, g = inputs
        check_float_pair(x, y, "orig_input", "orig_output")
        check_float_pair(x, g, "orig_input", "grad")
        xs = nhwc_shape(rank4(x, "orig_input"), attrs)
        ys = nhwc_shape(rank4(y, "orig_output"), attrs)
        _check_same(_static_output(op_type, attrs, xs), ys, f"{op_type} orig_output")
        _check_same(rank4(g, "grad"), (x, y)[1 - result].shape, f"{op_type} grad")
        return [(x.dtype, (x, y)[result].shape)]
    return infer


def _infer_avg_grad(inputs, attrs):
    sizes, g = inputs
    check_dtype(g.dtype, FLOAT, f"grad '{g.name}'")
    v = shape_tensor_value(sizes)
    xs = [None] * 4 if v is None or isinstance(v, TensorShape) or len(v) != 4 else \
        [None if d is None or d < 0 else int(d) for d in v]
    out = _static_output("AvgPoolGrad", attrs, nhwc_shape(xs, attrs))
    _check_same(from_nhwc_shape(out, attrs), rank4(g, "grad"), "AvgPoolGrad grad")
    return [(g.dtype, TensorShape(xs))]


def _forward(op_type, fn):
    def compute(v, attrs):
        x = to_nhwc(v[0], attrs)
        return [from_nhwc(fn(x, pool_geometry(op_type, attrs, x.shape[1:3])), attrs)]
    return compute


def _max_grad(op_type, fn):
    def compute(v, attrs):
        x, g = to_nhwc(v[0], attrs), to_nhwc(v[2], attrs)
        return [from_nhwc(fn(x, g, pool_geometry(op_type, attrs, x.shape[1:3])), attrs)]
    return compute


def _avg_grad(v, attrs):
    sizes = nhwc_shape([int(d) for d in v[0]], attrs)
    g = to_nhwc(v[1], attrs)
    return [from_nhwc(ref.avg_pool_grad(sizes, g, pool_geometry("AvgPoolGrad", attrs,
                                                                 sizes[1:3])), attrs)]


register_op("MaxPool", _infer_pool("MaxPool"), _forward("MaxPool", ref.max_pool))
register_op("AvgPool", _infer_pool("AvgPool"), _forward("AvgPool", ref.avg_pool))
register_op("MaxPoolGrad", _infer_max_grad("MaxPoolGrad", 0),
            _max_grad("MaxPoolGrad", ref.max_pool_grad))
register_op("MaxPoolGradGrad", _infer_max_grad("MaxPoolGradGrad", 1),
            _max_grad("MaxPoolGradGrad", ref.max_pool_grad_grad))
register_op("AvgPoolGrad", _infer_avg_grad, _avg_grad)


# --- builders -------------------------------------------------------------------------------------
def pool_attrs(op_type, ksize, strides, padding, data_format):
    if isinstance(ksize, (list, tuple)) and any(k == 0 for k in ksize) or ksize == 0:
        raise ValueError(f"`ksize` cannot be zero. Received: ksize={ksize}")
    if op_type.startswith("AvgPool") and isinstance(padding, (list, tuple)):
        raise ValueError(f"{op_type}: padding must be 'SAME' or 'VALID', got {padding}")
    return window_attrs(op_type, strides, padding, data_format, "ksize", ksize)


def _value(value, input):
    if value is not None and input is not None:
        raise ValueError("Cannot specify both 'input' and 'value'")
    return convert_to_tensor(value if value is not None else input)


@atomic
def max_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):
    """tf.compat.v1.nn.max_pool: the maximum over each window.  `ksize`/`strides`: an int or a
    list of 1, 2 or 4; `padding`: 'SAME', 'VALID' or a list of four (before, after) pairs."""
    attrs = pool_attrs("MaxPool", ksize, strides, padding, data_format)
    return make_op("MaxPool", [_value(value, input)], attrs, name).outputs[0]


@atomic
def avg_pool(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):
    """tf.compat.v1.nn.avg_pool: the mean over each window of the input elements in it."""
    attrs = pool_attrs("AvgPool", ksize, strides, padding, data_format)
    return make_op("AvgPool", [_value(value, input)], attrs, name).outputs[0]


def max_pool2d(input, ksize, strides, padding, data_format="NHWC", name=None):
    """tf.compat.v1.nn.max_pool2d (max_pool on a 4-D input)."""
    return max_pool(input, ksize, strides, padding, data_format=data_format, name=name)


def avg_pool2d(value, ksize, strides, padding, data_format="NHWC", name=None, input=None):
    """tf.compat.v1.nn.avg_pool2d (avg_pool on a 4-D input)."""
    return avg_pool(value, ksize, strides, padding, data_format=data_format, name=name,
                    input=input)


@atomic
def max_pool_grad(orig_input, orig_output, grad, ksize, strides, padding,
                  data_format="NHWC", explicit_paddings=(), name=None):
    """The MaxPoolGrad op (tf.raw_ops.MaxPoolGrad): `grad` sent to each window's first
    maximum of `orig_input`."""
    attrs = pool_attrs("MaxPoolGrad", ksize, strides, _padding(padding, explicit_paddings),
                       data_format)
    return make_op("MaxPoolGrad", [convert_to_tensor(t) for t in (orig_input, orig_output,
                                                                  grad)], attrs,
                   name).outputs[0]


@atomic
def max_pool_grad_grad(orig_input, orig_output, grad, ksize, strides, padding,
                       data_format="NHWC", name=None):
    """The MaxPoolGradGrad op: `grad` (orig_input's shape) read at each window's maximum."""
    attrs = pool_attrs("MaxPoolGradGrad", ksize, strides, padding, data_format)
    return make_op("MaxPoolGradGrad", [convert_to_tensor(t) for t in (orig_input, orig_output,
                                                                      grad)], attrs,
                   name).outputs[0]


@atomic
def avg_pool_grad(orig_input_shape, grad, ksize, strides, padding, data_format="NHWC",
                  name=None):
    """The AvgPoolGrad op: each output's gradient shared equally by its window's inputs."""
    attrs = pool_attrs("AvgPoolGrad", ksize, strides, padding, data_format)
    sizes = orig_input_shape if hasattr(orig_input_shape, "op") else convert_to_tensor(
        orig_input_shape, dtype="int32")
    return make_op("AvgPoolGrad", [sizes, convert_to_tensor(grad)], attrs, name).outputs[0]


def _padding(padding, explicit):
    """A padding attr and explicit_paddings back as the builders' padding argument."""
    if padding != "EXPLICIT":
        return padding
    return [list(explicit[i:i + 2]) for i in range(0, 8, 2)]


@atomic
def pool(input, window_shape, pooling_type, padding, dilation_rate=None, strides=None,
         name=None, data_format=None, dilations=None):
    """tf.compat.v1.nn.pool for 1 or 2 spatial dimensions without dilation: max_pool or
    avg_pool (1-D through a unit rows dimension, as TF)."""
    if dilations is not None and dilation_rate is not None:
        raise ValueError("Cannot specify both 'dilations' and 'dilation_rate'")
    rate = dilations if dilations is not None else dilation_rate
    window_shape = [int(w) for w in window_shape]
    n = len(window_shape)
    if n not in (1, 2):
        raise ValueError(f"pool: numgrad supports 1 or 2 spatial dimensions, got "
                         f"window_shape={window_shape}")
    if rate is not None and any(int(r) != 1 for r in rate):
        raise ValueError(f"pool: dilation_rate other than 1 is not supported, got {list(rate)}")
    if pooling_type not in ("MAX", "AVG"):
        raise ValueError(f"pooling_type must be 'MAX' or 'AVG', got {pooling_type!r}")
    strides = [1] * n if strides is None else [int(s) for s in strides]
    if len(strides) != n:
        raise ValueError(f"strides must have {n} elements, got {strides}")
    nc = data_format is not None and data_format.startswith("NC")
    fn = max_pool if pooling_type == "MAX" else avg_pool
    fmt = "NCHW" if nc else "NHWC"
    with name_scope(name, f"{pooling_type.lower()}_pool", [input]) as scope:
        x = convert_to_tensor(input)
        if n == 2:
            return fn(x, window_shape, strides, padding, data_format=fmt, name=scope)
        axis = 2 if nc else 1
        y = fn(_array.expand_dims(x, axis), [1] + window_shape, [1] + strides, padding,
               data_format=fmt)
        return _array.squeeze(y, [axis], name=scope)


from . import conv_batching  # noqa: E402,F401  (registers the batching rules)

__all__ = ["max_pool", "max_pool2d", "avg_pool", "avg_pool2d", "pool", "max_pool_grad",
           "max_pool_grad_grad", "avg_pool_grad", "pool_geometry"]
