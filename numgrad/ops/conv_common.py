"""What the convolution and pooling ops share: TF's argument forms, the attrs they become, and
the output-size rule with TF's errors.

Attrs of every windowed op (Conv2D, DepthwiseConv2dNative, MaxPool, AvgPool and their gradient
ops) are tuples in the op's `data_format` order: `strides` (4), `padding` ('SAME', 'VALID' or
'EXPLICIT'), `explicit_paddings` (8: before/after per dimension), `data_format` ('NHWC' or
'NCHW'), and `dilations` (4) or `ksize` (4).  `geometry` turns them and the input/filter sizes
into the NHWC spatial `Geometry` the NumPy references (ops/conv_reference.py) and the cpu
kernels use.
"""
import numpy as np

from ..tensor_shape import TensorShape
from .conv_reference import Geometry
from .common import FLOAT, check_dtype, format_shape

FORMATS = ("NHWC", "NCHW")


def get_sequence(value, channel_index, name, n=2):
    """TF's _get_sequence: an int, or a list of 1, n or n + 2 ints, as n + 2 ints with 1 at the
    batch and channel dims."""
    if value is None:
        return (1,) * (n + 2)
    if isinstance(value, (int, np.integer)):
        value = [int(value)]
    else:
        value = [int(v) for v in value]
    if len(value) == n + 2:
        return tuple(value)
    if len(value) == 1:
        value = value * n
    elif len(value) != n:
        raise ValueError(f"{name} should be of length 1, {n} or {n + 2}. "
                         f"Received: {name}={value} of length {len(value)}")
    return tuple([1] + value + [1]) if channel_index == n + 1 else tuple([1, 1] + value)


def convert_padding(padding, expected_length=4):
    """TF's convert_padding: ('SAME' | 'VALID', ()) or ('EXPLICIT', 8 ints) for a list of four
    (before, after) pairs.  The string itself is checked by `check_attrs`."""
    if isinstance(padding, str) and padding == "EXPLICIT":
        raise ValueError("'EXPLICIT' is not a valid value for `padding`. To use explicit "
                         "padding, `padding` must be a list.")
    if isinstance(padding, (list, tuple)):
        flat = []
        for i, pair in enumerate(padding):
            if not isinstance(pair, (list, tuple)) or len(pair) != 2:
                raise ValueError(f"When `padding` is a list, each element of `padding` must be "
                                 f"a list/tuple of size 2. Received: padding={padding} with "
                                 f"element at index {i} of {pair!r}")
            flat.extend(int(p) for p in pair)
        if len(padding) != expected_length:
            raise ValueError(f"When padding is a list, it must be of size {expected_length}. "
                             f"Received: padding={padding} of size {len(padding)}")
        return "EXPLICIT", tuple(flat)
    return padding, ()


def channel_index(data_format):
    return 1 if data_format is not None and data_format.startswith("NC") else 3


def window_attrs(op_type, strides, padding, data_format, window_name, window):
    """The attrs dict of a windowed op, checked (TF's attr errors, raised while building)."""
    if data_format is None:
        data_format = "NHWC"
    if data_format not in FORMATS:
        raise ValueError(f"{op_type}: data_format must be one of {list(FORMATS)}, got "
                         f"'{data_format}'")
    ci = channel_index(data_format)
    padding, explicit = convert_padding(padding)
    attrs = {"strides": get_sequence(strides, ci, "strides"), "padding": padding,
             "explicit_paddings": explicit, "data_format": data_format,
             window_name: get_sequence(window, ci, window_name)}
    check_attrs(op_type, attrs, window_name)
    return attrs


def check_attrs(op_type, attrs, window_name):
    padding = attrs["padding"]
    if padding not in ("SAME", "VALID", "EXPLICIT"):
        raise ValueError(f"Attr 'padding' of '{op_type}' Op passed string '{padding}' not in: "
                         f"\"SAME\", \"VALID\", \"EXPLICIT\".")
    ci = channel_index(attrs["data_format"])
    for name in ("strides", window_name):
        v = attrs[name]
        if len(v) != 4:
            raise ValueError(f"{op_type}: {name} must have 4 elements, got {list(v)}")
        if any(e < 1 for e in v):
            raise ValueError(f"{op_type}: {name} must be >= 1 in every dimension, got "
                             f"{list(v)}")
        if v[0] != 1 or v[ci] != 1:
            what = {"strides": "strides", "dilations": "dilations",
                    "ksize": "pooling"}[name]
            raise ValueError(f"{op_type}: current implementation does not yet support {what} "
                             f"in the batch and depth dimensions ({name}={list(v)}).")
    ex = attrs["explicit_paddings"]
    if padding == "EXPLICIT":
        if len(ex) != 8 or any(p < 0 for p in ex):
            raise ValueError(f"{op_type}: explicit_paddings must be 8 non-negative ints, got "
                             f"{list(ex)}")
        if ex[0] or ex[1] or ex[2 * ci] or ex[2 * ci + 1]:
            raise ValueError(f"{op_type}: Nonzero explicit padding in the batch or depth "
                             f"dimensions is not supported (explicit_paddings={list(ex)})")
    elif ex:
        raise ValueError(f"{op_type}: explicit_paddings must be empty when padding is "
                         f"'{padding}', got {list(ex)}")


def hw(attrs):
    """Indices of the two spatial dimensions in the op's data_format."""
    return (1, 2) if attrs["data_format"] == "NHWC" else (2, 3)


def output_size(op_type, size, k, s, d, padding, before, after):
    """(output size, pad before, pad after) of one spatial axis, TF's rule; ValueError as TF
    when the window does not fit.  `size` None gives (None, None, None)."""
    eff = (k - 1) * d + 1
    if size is None:
        return None, None, None
    if padding == "SAME":
        out = (size + s - 1) // s
        total = max((out - 1) * s + eff - size, 0)
        return out, total // 2, total - total // 2
    if padding == "VALID":
        before = after = 0
    padded = size + before + after
    if padded < eff:
        raise ValueError(f"{op_type}: Negative dimension size caused by subtracting {eff} from "
                         f"{padded}" + (f" (input {size} padded by {before}+{after})"
                                        if padding == "EXPLICIT" else ""))
    return (padded - eff) // s + 1, before, after


def geometry(op_type, attrs, in_hw, k_hw, window_name="dilations"):
    """The NHWC `Geometry` for spatial input sizes `in_hw` and window sizes `k_hw` (ints)."""
    rows, cols = hw(attrs)
    s = (attrs["strides"][rows], attrs["strides"][cols])
    d = (attrs["dilations"][rows], attrs["dilations"][cols]) if window_name == "dilations" \
        else (1, 1)
    ex = attrs["explicit_paddings"] or (0,) * 8
    out, pad = [], []
    for a, axis in enumerate((rows, cols)):
        o, b, e = output_size(op_type, in_hw[a], k_hw[a], s[a], d[a], attrs["padding"],
                              ex[2 * axis], ex[2 * axis + 1])
        out.append(o)
        pad.append((b, e))
    return Geometry(tuple(k_hw), s, d, tuple(pad), tuple(in_hw), tuple(out))


# --- layout conversion ---------------------------------------------------------------------------
def to_nhwc(x, attrs):
    return x if attrs["data_format"] == "NHWC" else np.transpose(x, (0, 2, 3, 1))


def from_nhwc(x, attrs):
    return x if attrs["data_format"] == "NHWC" else np.ascontiguousarray(
        np.transpose(x, (0, 3, 1, 2)))


def nhwc_shape(shape, attrs):
    """A 4-element shape (list, tuple or TensorShape) in NHWC order."""
    n, a, b, c = list(shape)
    return (n, a, b, c) if attrs["data_format"] == "NHWC" else (n, b, c, a)


def from_nhwc_shape(shape, attrs):
    n, h, w, c = shape
    return [n, h, w, c] if attrs["data_format"] == "NHWC" else [n, c, h, w]


# --- static checks --------------------------------------------------------------------------------
def check_float_pair(a, b, what_a, what_b):
    check_dtype(a.dtype, FLOAT, f"{what_a} '{a.name}'")
    if b.dtype != a.dtype:
        raise TypeError(f"{what_b} '{b.name}' has dtype {b.dtype.name} but {what_a} '{a.name}' "
                        f"has dtype {a.dtype.name}")


def rank4(t, what):
    if t.shape.rank is not None and t.shape.rank != 4:
        raise ValueError(f"Shape must be rank 4 but is rank {t.shape.rank} for {what} "
                         f"'{t.name}' (shape {format_shape(t.shape)})")
    return TensorShape([None] * 4) if t.shape.rank is None else t.shape

