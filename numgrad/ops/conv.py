"""Issue 17, convolutions: Conv2D and DepthwiseConv2dNative with their two backprop ops each,
and the tf.compat.v1.nn builders on them (conv2d, conv1d, conv2d_transpose,
conv2d_backprop_input/filter, depthwise_conv2d(_native)).

Six opaque ops, as TF has them, so that gradients are TF's graphs: the gradient of Conv2D is a
Conv2DBackpropInput and a Conv2DBackpropFilter op, whose own gradients are again these ops
(gradients/rules/conv.py).  Shapes and TF's errors are checked while the graph is built; the
values come from ops/conv_reference.py (NumPy) or, on cpu, kernels/cpu/conv.py.  NCHW is
computed by transposing to NHWC and back inside the op, for every dtype and backend (TF's
CPU Conv2D kernel itself only takes NHWC: TF runs float32 NCHW through its layout optimizer
and rejects float64 NCHW when the graph runs).  Grouped
convolution (input depth a multiple of the filter's), which TF's CPU kernel computes, is
rejected while building.
"""
from ..errors import InvalidArgumentError
from ..graph import atomic, name_scope
from ..tensor_shape import TensorShape
from . import array as _array
from . import conv_reference as ref
from .conv_common import (channel_index, check_float_pair, from_nhwc, from_nhwc_shape,
                          geometry, get_sequence, nhwc_shape, rank4, to_nhwc,
                          window_attrs)
from .core import convert_to_tensor, make_op, shape_tensor_value
from .common import format_shape
from .registry import register_op

# op family -> (forward op, backprop-input op, backprop-filter op, NumPy references)
FAMILIES = {
    "conv": ("Conv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter",
             (ref.conv2d, ref.conv2d_backprop_input, ref.conv2d_backprop_filter)),
    "depthwise": ("DepthwiseConv2dNative", "DepthwiseConv2dNativeBackpropInput",
                  "DepthwiseConv2dNativeBackpropFilter",
                  (ref.depthwise_conv2d, ref.depthwise_backprop_input,
                   ref.depthwise_backprop_filter)),
}
FAMILY_OF = {t: fam for fam, types in FAMILIES.items() for t in types[:3]}


def _out_channels(family, fs):
    if family == "conv":
        return fs[3]
    return None if fs[2] is None or fs[3] is None else fs[2] * fs[3]


def _static_shape(t, what):
    """A shape-valued input (input_sizes / filter_sizes) as 4 static-or-None dims."""
    if t.dtype.name not in ("int32", "int64"):
        raise TypeError(f"{what} '{t.name}' must be int32 or int64, got {t.dtype.name}")
    if t.shape.rank is not None and (t.shape.rank != 1 or t.shape[0] not in (None, 4)):
        raise ValueError(f"{what} '{t.name}' must be a 1-D tensor of 4 elements, got shape "
                         f"{format_shape(t.shape)}")
    v = shape_tensor_value(t)
    if v is None or isinstance(v, TensorShape):
        return [None] * 4
    return [None if d is None or d < 0 else int(d) for d in v]


def _check(op_type, family, attrs, xs, fs, ys):
    """TF's static checks of one convolution: x (NHWC dims), filter and output (NHWC dims) must
    agree.  Returns the output's NHWC dims with what is known."""
    xc, fc = xs[3], fs[2]
    if xc is not None and fc is not None:
        if family == "conv" and xc % fc:
            raise ValueError(f"{op_type}: Depth of input ({xc}) is not a multiple of input "
                             f"depth of filter ({fc})")
        if xc != fc:
            raise ValueError(f"{op_type}: input depth ({xc}) must equal the filter's input "
                             f"depth ({fc})" + (" (grouped convolution is not supported)"
                                                 if family == "conv" else ""))
    known = fs[0] is not None and fs[1] is not None
    g = geometry(op_type, nhwc_attrs(attrs), (xs[1], xs[2]), (fs[0], fs[1])) if known else None
    out = [xs[0], None if g is None else g.out[0], None if g is None else g.out[1],
           _out_channels(family, fs)]
    names = ("batch", "rows", "columns", "depth")
    for i in range(4):
        if ys[i] is not None and out[i] is not None and ys[i] != out[i]:
            raise ValueError(f"{op_type}: size of out_backprop doesn't match computed: "
                             f"{names[i]} is {ys[i]}, computed {out[i]}")
        out[i] = out[i] if out[i] is not None else ys[i]
    return out


def _nhwc_pads(attrs):
    ex = attrs["explicit_paddings"]
    if not ex or attrs["data_format"] == "NHWC":
        return ex
    pairs = [ex[0:2], ex[2:4], ex[4:6], ex[6:8]]
    return tuple(pairs[0]) + tuple(pairs[2]) + tuple(pairs[3]) + tuple(pairs[1])


def nhwc_attrs(attrs):
    """The attrs of an op, rewritten for its NHWC form (what references and kernels see)."""
    if attrs["data_format"] == "NHWC":
        return attrs
    out = dict(attrs, data_format="NHWC", strides=nhwc_shape(attrs["strides"], attrs),
               explicit_paddings=_nhwc_pads(attrs))
    for k in ("dilations", "ksize"):
        if k in attrs:
            out[k] = nhwc_shape(attrs[k], attrs)
    return out


# --- shape rules ----------------------------------------------------------------------------------
def _infer_forward(op_type):
    family = FAMILY_OF[op_type]

    def infer(inputs, attrs):
        x, f = inputs
        check_float_pair(x, f, "input", "filter")
        xs = nhwc_shape(rank4(x, "input"), attrs)
        out = _check(op_type, family, attrs, xs, list(rank4(f, "filter")), [None] * 4)
        return [(x.dtype, TensorShape(from_nhwc_shape(out, attrs)))]
    return infer


def _infer_backprop_input(op_type):
    family = FAMILY_OF[op_type]

    def infer(inputs, attrs):
        sizes, f, dy = inputs
        check_float_pair(f, dy, "filter", "out_backprop")
        xs = nhwc_shape(_static_shape(sizes, "input_sizes"), attrs)
        ys = nhwc_shape(rank4(dy, "out_backprop"), attrs)
        _check(op_type, family, attrs, xs, list(rank4(f, "filter")), ys)
        return [(dy.dtype, TensorShape(from_nhwc_shape(xs, attrs)))]
    return infer


def _infer_backprop_filter(op_type):
    family = FAMILY_OF[op_type]

    def infer(inputs, attrs):
        x, sizes, dy = inputs
        check_float_pair(x, dy, "input", "out_backprop")
        xs = nhwc_shape(rank4(x, "input"), attrs)
        fs = _static_shape(sizes, "filter_sizes")
        ys = nhwc_shape(rank4(dy, "out_backprop"), attrs)
        _check(op_type, family, attrs, xs, fs, ys)
        return [(x.dtype, TensorShape(fs))]
    return infer


# --- NumPy references (NCHW through NHWC) ------------------------------------------------------
def run_geometry(op_type, attrs, x_shape, f_shape, y_shape=None):
    """The NHWC geometry of a run, with TF's run-time error when out_backprop's size does not
    match the computed output size."""
    a = nhwc_attrs(attrs)
    g = geometry(op_type, a, x_shape[1:3], f_shape[:2])
    if y_shape is not None and tuple(y_shape[1:3]) != tuple(g.out):
        raise InvalidArgumentError(
            f"{op_type}: Size of out_backprop doesn't match computed: actual = "
            f"{list(y_shape[1:3])}, computed = {list(g.out)} (input {list(x_shape)}, filter "
            f"{list(f_shape)}, strides {list(a['strides'])}, padding {a['padding']})")
    return g


def _compute_forward(op_type):
    fn = FAMILIES[FAMILY_OF[op_type]][3][0]

    def compute(v, attrs):
        x, f = to_nhwc(v[0], attrs), v[1]
        return [from_nhwc(fn(x, f, run_geometry(op_type, attrs, x.shape, f.shape)), attrs)]
    return compute


def _compute_backprop_input(op_type):
    fn = FAMILIES[FAMILY_OF[op_type]][3][1]

    def compute(v, attrs):
        sizes = nhwc_shape([int(d) for d in v[0]], attrs)
        f, dy = v[1], to_nhwc(v[2], attrs)
        g = run_geometry(op_type, attrs, sizes, f.shape, dy.shape)
        return [from_nhwc(fn(sizes, f, dy, g), attrs)]
    return compute


def _compute_backprop_filter(op_type):
    fn = FAMILIES[FAMILY_OF[op_type]][3][2]

    def compute(v, attrs):
        x, dy = to_nhwc(v[0], attrs), to_nhwc(v[2], attrs)
        sizes = tuple(int(d) for d in v[1])
        g = run_geometry(op_type, attrs, x.shape, sizes, dy.shape)
        return [fn(x, sizes, dy, g)]
    return compute


for _fam, (_fwd, _bin, _bfi, _) in FAMILIES.items():
    register_op(_fwd, _infer_forward(_fwd), _compute_forward(_fwd), kind="opaque")
    register_op(_bin, _infer_backprop_input(_bin), _compute_backprop_input(_bin), kind="opaque")
    register_op(_bfi, _infer_backprop_filter(_bfi), _compute_backprop_filter(_bfi),
                kind="opaque")


# --- builders -------------------------------------------------------------------------------------
def _one_of(new, new_name, old, old_name):
    if new is not None and old is not None:
        raise ValueError(f"Cannot specify both '{new_name}' and '{old_name}'")
    return new if new is not None else old


def conv_attrs(op_type, strides, padding, data_format, dilations):
    return window_attrs(op_type, strides, padding, data_format, "dilations", dilations)


def _sizes(t):
    return t if hasattr(t, "op") else convert_to_tensor(t, dtype="int32")


def _float_pair(x, f):
    x = convert_to_tensor(x)
    return x, (f if hasattr(f, "op") else convert_to_tensor(f, dtype=x.dtype))


@atomic
def conv2d(input, filter=None, strides=None, padding=None, use_cudnn_on_gpu=True,
           data_format="NHWC", dilations=[1, 1, 1, 1], name=None, filters=None):
    """tf.compat.v1.nn.conv2d: the 2-D cross-correlation of an NHWC (or NCHW) `input` with a
    [rows, cols, in_depth, out_depth] `filter`.  `strides`/`dilations`: an int or a list of 1,
    2 or 4; `padding`: 'SAME', 'VALID' or a list of four (before, after) pairs."""
    filter = _one_of(filters, "filters", filter, "filter")
    attrs = conv_attrs("Conv2D", strides, padding, data_format, dilations)
    x, f = _float_pair(input, filter)
    return make_op("Conv2D", [x, f], attrs, name).outputs[0]


@atomic
def conv2d_backprop_input(input_sizes, filter=None, out_backprop=None, strides=None,
                          padding=None, use_cudnn_on_gpu=True, data_format="NHWC",
                          dilations=[1, 1, 1, 1], name=None, filters=None):
    """tf.compat.v1.nn.conv2d_backprop_input: the gradient of conv2d in its input, of shape
    `input_sizes` (4 ints), for the gradient `out_backprop` of its output."""
    filter = _one_of(filters, "filters", filter, "filter")
    attrs = conv_attrs("Conv2DBackpropInput", strides, padding, data_format, dilations)
    dy, f = _float_pair(out_backprop, filter)
    return make_op("Conv2DBackpropInput", [_sizes(input_sizes), f, dy], attrs,
                   name).outputs[0]


@atomic
def conv2d_backprop_filter(input, filter_sizes, out_backprop, strides, padding,
                           use_cudnn_on_gpu=True, data_format="NHWC",
                           dilations=[1, 1, 1, 1], name=None):
    """tf.compat.v1.nn.conv2d_backprop_filter: the gradient of conv2d in its filter, of shape
    `filter_sizes` (4 ints), for the gradient `out_backprop` of its output."""
    attrs = conv_attrs("Conv2DBackpropFilter", strides, padding, data_format, dilations)
    x, dy = _float_pair(input, out_backprop)
    return make_op("Conv2DBackpropFilter", [x, _sizes(filter_sizes), dy], attrs,
                   name).outputs[0]


@atomic
def conv2d_transpose(value=None, filter=None, output_shape=None, strides=None, padding="SAME",
                     data_format="NHWC", name=None, input=None, filters=None, dilations=None):
    """tf.compat.v1.nn.conv2d_transpose: conv2d_backprop_input of `value` with a
    [rows, cols, out_depth, in_depth] `filter`, giving `output_shape`."""
    value = _one_of(input, "input", value, "value")
    filter = _one_of(filters, "filters", filter, "filter")
    with name_scope(name, "conv2d_transpose", [value, filter, output_shape]) as scope:
        value, filter = _float_pair(value, filter)
        shape_t = _sizes(output_shape)
        ci = channel_index(data_format)
        fs, vs = filter.shape, value.shape
        if vs.rank == 4 and fs.rank == 4 and None not in (vs[ci], fs[3]) and vs[ci] != fs[3]:
            raise ValueError(f"`value` channel count must be compatible with `filter`. "
                             f"Received: value.shape={format_shape(vs)} with channel count "
                             f"{vs[ci]} and filter.shape={format_shape(fs)} with input "
                             f"channel count {fs[3]}")
        sv = shape_tensor_value(shape_t)
        if (isinstance(sv, list) and len(sv) == 4 and sv[ci] is not None and fs.rank == 4
                and fs[2] is not None and sv[ci] != fs[2]):
            raise ValueError(f"`output_shape` channel count must be compatible with `filter`."
                             f" Received: output_shape={sv} with channel count {sv[ci]} and "
                             f"filter.shape={format_shape(fs)} with output channel count "
                             f"{fs[2]}")
        return conv2d_backprop_input(shape_t, filter, value, strides, padding,
                                     data_format=data_format,
                                     dilations=[1, 1, 1, 1] if dilations is None else dilations,
                                     name=scope)


@atomic
def conv1d(value=None, filters=None, stride=None, padding=None, use_cudnn_on_gpu=None,
           data_format=None, name=None, input=None, dilations=None):
    """tf.compat.v1.nn.conv1d: conv2d on `value` (N, W, C) or, with data_format 'NCW',
    (N, C, W), with a unit row dimension added by expand_dims and removed by squeeze, as TF
    builds it."""
    value = _one_of(input, "input", value, "value")
    if data_format is None or data_format in ("NHWC", "NWC"):
        data_format, spatial, channel = "NHWC", 1, 2
    elif data_format in ("NCHW", "NCW"):
        data_format, spatial, channel = "NCHW", 2, 1
    else:
        raise ValueError(f"`data_format` must be 'NWC' or 'NCW'. Received: "
                         f"data_format={data_format}")
    with name_scope(name, "conv1d", [value, filters]) as scope:
        value, filters = _float_pair(value, filters)
        strides = [1] + list(get_sequence(stride, channel, "stride", n=1))
        dilations = [1] + list(get_sequence(dilations, channel, "dilations", n=1))
        x = _array.expand_dims(value, spatial)
        f = _array.expand_dims(filters, 0)
        y = conv2d(x, f, strides, padding, data_format=data_format, dilations=dilations)
        return _array.squeeze(y, [spatial], name=scope)


@atomic
def depthwise_conv2d_native(input, filter, strides, padding, data_format="NHWC",
                            dilations=[1, 1, 1, 1], name=None):
    """tf.compat.v1.nn.depthwise_conv2d_native: each input channel c convolved with its own
    filters filter[:, :, c, :] (channel multiplier M); output depth in_depth * M, channel
    c * M + m."""
    attrs = conv_attrs("DepthwiseConv2dNative", strides, padding, data_format, dilations)
    x, f = _float_pair(input, filter)
    return make_op("DepthwiseConv2dNative", [x, f], attrs, name).outputs[0]


@atomic
def depthwise_conv2d(input, filter, strides, padding, rate=None, name=None, data_format=None,
                     dilations=None):
    """tf.compat.v1.nn.depthwise_conv2d: depthwise_conv2d_native with `rate` (or `dilations`,
    2 ints) as its dilations.  TF builds a rate > 1 with space_to_batch around the native op;
    numgrad passes it to the op as dilations (the same values).  A rate > 1 with strides > 1,
    which TF only warns about, is an error."""
    rate = _one_of(dilations, "dilations", rate, "rate")
    rate = [1, 1] if rate is None else [int(r) for r in rate]
    if len(rate) != 2:
        raise ValueError(f"rate must be a list of 2 ints, got {rate}")
    spatial = get_sequence(strides, channel_index(data_format), "strides")
    if max(rate) > 1 and max(spatial) > 1:
        # TF warns and computes something else than a strided dilated convolution here
        raise ValueError(f"depthwise_conv2d: when dilation rate is greater than 1, all values "
                         f"of strides must be 1. Received: rate {rate} and strides "
                         f"{list(spatial)} (depthwise_conv2d_native takes both as "
                         f"`strides` and `dilations`)")
    with name_scope(name, "depthwise", [input, filter]) as scope:
        x, f = _float_pair(input, filter)
        if f.shape.rank is not None and f.shape.rank != 4:
            raise ValueError(f"Shape must be rank 4 but is rank {f.shape.rank} for filter "
                             f"'{f.name}' (shape {format_shape(f.shape)})")
        return depthwise_conv2d_native(x, f, strides, padding, data_format=data_format or "NHWC",
                                       dilations=rate, name=scope)


@atomic
def depthwise_conv2d_native_backprop_input(input_sizes, filter, out_backprop, strides,
                                           padding, data_format="NHWC",
                                           dilations=[1, 1, 1, 1], name=None):
    """tf.compat.v1.nn.depthwise_conv2d_native_backprop_input."""
    attrs = conv_attrs("DepthwiseConv2dNativeBackpropInput", strides, padding, data_format,
                       dilations)
    dy, f = _float_pair(out_backprop, filter)
    return make_op("DepthwiseConv2dNativeBackpropInput", [_sizes(input_sizes), f, dy], attrs,
                   name).outputs[0]


@atomic
def depthwise_conv2d_native_backprop_filter(input, filter_sizes, out_backprop, strides,
                                            padding, data_format="NHWC",
                                            dilations=[1, 1, 1, 1], name=None):
    """tf.compat.v1.nn.depthwise_conv2d_native_backprop_filter."""
    attrs = conv_attrs("DepthwiseConv2dNativeBackpropFilter", strides, padding, data_format,
                       dilations)
    x, dy = _float_pair(input, out_backprop)
    return make_op("DepthwiseConv2dNativeBackpropFilter", [x, _sizes(filter_sizes), dy], attrs,
                   name).outputs[0]


__all__ = ["conv2d", "conv1d", "conv2d_transpose", "conv2d_backprop_input",
           "conv2d_backprop_filter", "depthwise_conv2d", "depthwise_conv2d_native",
           "depthwise_conv2d_native_backprop_input", "depthwise_conv2d_native_backprop_filter",
           "conv_attrs", "nhwc_attrs", "run_geometry", "FAMILIES", "FAMILY_OF"]
