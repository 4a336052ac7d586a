"""ng.summary: tf.compat.v1.summary's scalar, histogram, merge, merge_all and FileWriter.

As in TF, a summary op's value is an encoded ``Summary`` protocol buffer, ready for
``FileWriter.add_summary``; numgrad has no string dtype, so the value is a vector of its byte
values (int32, 0..255: ``bytes(value.astype(np.uint8))`` gives TF's string).  The encoding
has a fixed length for a given tag (numgrad/summary_proto.py), so summary ops have static
shapes and the cpu backend compiles the graphs that fetch them.  ``merge`` concatenates
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
from .summary_proto import histogram_value, scalar_value
from .summary_writer import FileWriter  # noqa: F401  (ng.summary.FileWriter)
from .tensor_shape import TensorShape
from .variables import GraphKeys, add_to_collections, get_collection

__all__ = ["scalar", "histogram", "merge", "merge_all", "FileWriter"]


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


def _merge_infer(inputs, attrs):
    n = 0
    for t in inputs:
        if t.dtype != _dt.int32 or t.shape.ndims != 1 or t.shape.as_list()[0] is None:
            raise TypeError(f"merge: inputs must be summary op values, got {t}")
        n += t.shape.as_list()[0]
    return [(_dt.int32, TensorShape([n]))]


register_op("ScalarSummary", _scalar_infer, _scalar_compute, kind="opaque")
register_op("HistogramSummary", _histogram_infer, _histogram_compute, kind="opaque")
register_op("MergeSummary", _merge_infer,
            lambda values, attrs: [np.concatenate([np.asarray(v, np.int32) for v in values])],
            kind="opaque")
for _t in ("ScalarSummary", "HistogramSummary", "MergeSummary"):
    NotDifferentiable(_t)
    batching.NOT_BATCHABLE.setdefault(_t, "not differentiable: no seed-dependent tensor "
                                          "reaches it in a backward graph")


def _clean_tag(name):
    return re.sub(r"[^-/\w\.]", "_", name).lstrip("/") if name else name


def _summary_op(op_type, name, values, collections, family):
    name, family = _clean_tag(name), _clean_tag(family)
    graph = get_default_graph()
    with graph._transaction():
        with name_scope(name if family is None else f"{family}/{name}") as scope:
            x = convert_to_tensor(values)
        scope = scope.rstrip("/")
        tag = scope if family is None else f"{family}/{scope}"
        # the op is named as its scope ("loss"), as TF names it
        out = graph.create_op(op_type, [x], {"tag": tag}, scope,
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


def _tags(t):
    """The tags in summary value `t`, from the ops that made it."""
    op = t.op
    if op.type in ("ScalarSummary", "HistogramSummary"):
        return [op.attrs["tag"]]
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
