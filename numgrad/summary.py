"""ng.summary: tf.compat.v1.summary's scalar, histogram, image, merge, merge_all and FileWriter.

As in TF, a summary op's value is an encoded ``Summary`` protocol buffer, ready for
``FileWriter.add_summary``; numgrad has no string dtype, so the value is a vector of its byte
values (int32, 0..255: ``bytes(value.astype(np.uint8))`` gives TF's string).  The encoding
has a fixed length for a given tag (and image shape: images are stored as uncompressed
PNGs; numgrad/summary_proto.py), so summary ops have static shapes and the cpu backend
compiles the graphs that fetch them (an image summary of images whose shape is unknown has an
unknown length: a plan fetching it is interpreted with NumPy).  ``merge`` concatenates
encoded summaries, which merges them.  Tags are the summary's name scope (``loss``,
``train/loss``, ``loss_1`` for a second ``loss``), prefixed by `family` if given, as in TF; a
tag that two merged summaries share is refused when the graph is built.

``ng.summary(...)`` itself (calling the module) still describes a graph: see
numgrad/graph_tools.py.
"""
import re
import sys
import types

import numpy as np

from . import batching
from . import dtypes as _dt
from .errors import InvalidArgumentError
from .graph import get_default_graph, name_scope
from .gradients.registry import NotDifferentiable
from .graph_tools import summary as _describe
from .ops.core import convert_to_tensor
from .ops.registry import register_op
from .summary_proto import Summary, histogram_value, image_value, scalar_value  # noqa: F401
from .summary_writer import FileWriter  # noqa: F401  (ng.summary.FileWriter)
from .tensor_shape import TensorShape
from .variables import GraphKeys, add_to_collections, get_collection

__all__ = ["scalar", "histogram", "image", "merge", "merge_all", "FileWriter", "Summary"]


def _bytes_vector(data):
    return np.frombuffer(data, np.uint8).astype(np.int32)


def _scalar_infer(inputs, attrs):
    x = inputs[0]
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"scalar summary '{attrs['tag']}': the value must be real, got "
                        f"{x.dtype.name}")
    if x.shape.ndims not in (None, 0):
        raise ValueError(f"scalar summary '{attrs['tag']}': the value must be a scalar, got "
                         f"shape {x.shape}")
    return [(_dt.int32, TensorShape([len(scalar_value(attrs["tag"], 0.0))]))]


def _scalar_compute(values, attrs):
    x = np.asarray(values[0])
    if x.size != 1:
        raise InvalidArgumentError(f"tags and values are not the same shape: [] != "
                                   f"{list(x.shape)} (tag '{attrs['tag']}')")
    return [_bytes_vector(scalar_value(attrs["tag"], x.reshape(())))]


def _histogram_infer(inputs, attrs):
    x = inputs[0]
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"histogram summary '{attrs['tag']}': the values must be real, got "
                        f"{x.dtype.name}")
    return [(_dt.int32, TensorShape([len(histogram_value(attrs["tag"], []))]))]


def _histogram_compute(values, attrs):
    v = np.asarray(values[0], np.float64)
    if np.isnan(v).any():
        raise InvalidArgumentError(f"Nan in summary histogram for: {attrs['tag']}")
    if np.isinf(v).any():
        raise InvalidArgumentError(f"Infinity in summary histogram for: {attrs['tag']}")
    return [_bytes_vector(histogram_value(attrs["tag"], v))]


def _image_tags(tag, count, max_outputs):
    return [f"{tag}/image/{i}" if max_outputs > 1 else f"{tag}/image" for i in range(count)]


def _image_infer(inputs, attrs):
    x = inputs[0]
    if not (x.dtype.is_floating or x.dtype.is_integer):
        raise TypeError(f"image summary '{attrs['tag']}': the images must be real, got "
                        f"{x.dtype.name}")
    dims = x.shape.as_list() if x.shape.ndims is not None else None
    if dims is not None and (len(dims) != 4 or dims[3] not in (None, 1, 3, 4)):
        raise ValueError(f"image summary '{attrs['tag']}': the images must be 4-D [batch, "
                         f"height, width, channels] with 1, 3 or 4 channels, got shape "
                         f"{x.shape}")
    if dims is None or any(d is None for d in dims):
        return [(_dt.int32, TensorShape([None]))]
    count = min(dims[0], attrs["max_outputs"])
    blank = np.zeros(dims[1:], np.uint8)
    n = sum(len(image_value(t, blank)) for t in _image_tags(attrs["tag"], count,
                                                             attrs["max_outputs"]))
    return [(_dt.int32, TensorShape([n]))]


def _to_uint8(img):
    """TF's scaling of one image to 0..255: non-negative images so that the largest value is
    255; others so that 0 is 128 and the largest magnitude 127; non-finite values red."""
    if img.dtype.kind in "iu":
        return np.clip(img, 0, 255).astype(np.uint8)
    img = img.astype(np.float32)
    finite = np.isfinite(img)
    vals = img[finite]
    lo, hi = (vals.min(), vals.max()) if vals.size else (0.0, 0.0)
    if lo < 0:
        m = max(abs(lo), abs(hi))
        scale, offset = (0.0 if m < 1e-6 else 127.0 / m), 128.0
    else:
        scale, offset = (0.0 if hi < 1e-6 else 255.0 / hi), 0.0
    with np.errstate(invalid="ignore"):
        out = np.where(finite, img * np.float32(scale) + np.float32(offset), 0).astype(np.uint8)
    bad = ~finite.all(axis=-1)
    red = np.array([255, 0, 0, 255][:img.shape[-1]] if img.shape[-1] > 1 else [255], np.uint8)
    out[bad] = red
    return out


def _image_compute(values, attrs):
    x = np.asarray(values[0])
    count = min(x.shape[0], attrs["max_outputs"])
    tags = _image_tags(attrs["tag"], count, attrs["max_outputs"])
    return [_bytes_vector(b"".join(image_value(t, _to_uint8(x[i]))
                                   for i, t in enumerate(tags)))]


def _merge_infer(inputs, attrs):
    n = 0
    for t in inputs:
        if t.dtype != _dt.int32 or t.shape.ndims != 1 or t.shape.as_list()[0] is None:
            raise TypeError(f"merge: inputs must be summary op values, got {t}")
        n += t.shape.as_list()[0]
    return [(_dt.int32, TensorShape([n]))]


def _merge_infer_any(inputs, attrs):
    for t in inputs:
        if t.dtype != _dt.int32 or t.shape.ndims != 1:
            raise TypeError(f"merge: inputs must be summary op values, got {t}")
    if any(t.shape.as_list()[0] is None for t in inputs):
        return [(_dt.int32, TensorShape([None]))]
    return _merge_infer(inputs, attrs)


register_op("ScalarSummary", _scalar_infer, _scalar_compute, kind="opaque")
register_op("HistogramSummary", _histogram_infer, _histogram_compute, kind="opaque")
register_op("ImageSummary", _image_infer, _image_compute, kind="opaque")
register_op("MergeSummary", _merge_infer_any,
            lambda values, attrs: [np.concatenate([np.asarray(v, np.int32) for v in values])],
            kind="opaque")
for _t in ("ScalarSummary", "HistogramSummary", "ImageSummary", "MergeSummary"):
    NotDifferentiable(_t)
    batching.NOT_BATCHABLE.setdefault(_t, "not differentiable: no seed-dependent tensor "
                                          "reaches it in a backward graph")


def _clean_tag(name):
    return re.sub(r"[^-/\w\.]", "_", name).lstrip("/") if name else name


def _summary_op(op_type, name, values, collections, family, **attrs):
    name, family = _clean_tag(name), _clean_tag(family)
    graph = get_default_graph()
    with graph._transaction():
        with name_scope(name if family is None else f"{family}/{name}") as scope:
            x = convert_to_tensor(values)
        scope = scope.rstrip("/")
        tag = scope if family is None else f"{family}/{scope}"
        # the op is named as its scope ("loss"), as TF names it
        out = graph.create_op(op_type, [x], {"tag": tag, **attrs}, scope,
                              exact_name=scope not in graph._ops_by_name).outputs[0]
        add_to_collections(collections if collections is not None
                           else [GraphKeys.SUMMARIES], out)
    return out


def scalar(name, tensor, collections=None, family=None):
    """tf.compat.v1.summary.scalar: a summary op of the scalar `tensor` under the tag `name`
    (in the current name scope), added to `collections` (default: SUMMARIES)."""
    return _summary_op("ScalarSummary", name, tensor, collections, family)


def histogram(name, values, collections=None, family=None):
    """tf.compat.v1.summary.histogram: a summary op of the distribution of `values` (TF's
    default buckets, growing by 10% from 1e-12); NaN or infinite values raise
    InvalidArgumentError when it runs."""
    return _summary_op("HistogramSummary", name, values, collections, family)


def image(name, tensor, max_outputs=3, collections=None, family=None):
    """tf.compat.v1.summary.image: a summary of the first `max_outputs` images of `tensor`
    ([batch, height, width, channels], 1, 3 or 4 channels) as PNGs, tagged
    ``<name>/image/<i>`` (``<name>/image`` when max_outputs is 1).  Float images are scaled
    to 0..255 one at a time as TF does; integer ones are clipped.  Its length is static
    when the images' shape is."""
    if not isinstance(max_outputs, int) or max_outputs < 1:
        raise ValueError(f"summary.image: max_outputs must be a positive int, got "
                         f"{max_outputs!r}")
    return _summary_op("ImageSummary", name, tensor, collections, family,
                       max_outputs=max_outputs)


def _tags(t):
    """The tags in summary value `t`, from the ops that made it."""
    op = t.op
    if op.type in ("ScalarSummary", "HistogramSummary"):
        return [op.attrs["tag"]]
    if op.type == "ImageSummary":
        batch = t.op.inputs[0].shape.as_list()[0] if t.op.inputs[0].shape.ndims else None
        count = op.attrs["max_outputs"] if batch is None else min(batch,
                                                                   op.attrs["max_outputs"])
        return _image_tags(op.attrs["tag"], count, op.attrs["max_outputs"])
    if op.type == "MergeSummary":
        return list(op.attrs["tags"])
    return []


def merge(inputs, collections=None, name=None):
    """tf.compat.v1.summary.merge: one summary holding all of `inputs` (summary op values);
    ValueError if two of them have the same tag."""
    inputs = [convert_to_tensor(x) for x in inputs]
    tags = []
    for t in inputs:
        for tag in _tags(t):
            if tag in tags:
                raise ValueError(f"merge: duplicate tag {tag!r} in the summaries to merge")
            tags.append(tag)
    graph = get_default_graph()
    with graph._transaction(), name_scope(name, "Merge"):
        out = graph.create_op("MergeSummary", inputs, {"tags": tuple(tags)},
                              "MergeSummary").outputs[0]
        if collections:
            add_to_collections(collections, out)
    return out


def merge_all(key=GraphKeys.SUMMARIES, scope=None, name=None):
    """tf.compat.v1.summary.merge_all: merge every summary in collection `key` (optionally
    those whose names match `scope`); None if there are none."""
    summaries = get_collection(key, scope)
    if not summaries:
        return None
    return merge(summaries, name=name)


class _SummaryModule(types.ModuleType):
    """ng.summary: the tf.compat.v1.summary names, and, called, the graph description."""

    def __call__(self, graph=None, fetches=None, feed_dict=None):
        """ng.summary(graph=None, fetches=None, feed_dict=None): a readable account of a
        graph (see numgrad/graph_tools.py); ``summary(loss)`` describes loss's subgraph."""
        return _describe(graph, fetches, feed_dict)


sys.modules[__name__].__class__ = _SummaryModule
