"""The protocol-buffer messages TensorBoard reads, encoded by hand (no protobuf dependency):
Summary (scalar and histogram values), Event, and a GraphDef of node names, types and inputs.

Only the wire format is needed: a field is a key ``(number << 3) | wire_type`` as a varint,
then a varint (type 0), 8 little-endian bytes (1), a varint length and the bytes (2) or 4
little-endian bytes (5).  Concatenating two encoded messages merges them (repeated fields
append), which is how ``merge`` joins summaries.  Fields are written even when zero, and a
histogram always lists every bucket (TF's ``preserve_zero_buckets`` form), so a summary of a
given tag always has the same length whatever the values: the summary ops have static shapes.
"""
import struct
import zlib

import numpy as np

__all__ = ["varint", "field_bytes", "scalar_value", "histogram_value", "image_value", "png",
           "event", "graph_def", "DEFAULT_BUCKET_LIMITS", "histogram_counts", "Summary"]


def varint(n):
    """`n` (>= 0, or a negative int64 as its two's complement) as a base-128 varint."""
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def _key(number, wire_type):
    return varint((number << 3) | wire_type)


def field_bytes(number, data):
    """A length-delimited field (strings, bytes, sub-messages, packed numbers)."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return _key(number, 2) + varint(len(data)) + bytes(data)


def _double(number, x):
    return _key(number, 1) + struct.pack("<d", float(x))


def _float(number, x):
    return _key(number, 5) + struct.pack("<f", float(x))


def _summary(value):
    """A Summary holding one Value (Summary.value is field 1)."""
    return field_bytes(1, value)


def scalar_value(tag, x):
    """Summary{value{tag, simple_value}} (TF's ScalarSummary)."""
    return _summary(field_bytes(1, tag) + _float(2, np.float32(x)))


def _default_limits():
    pos, v = [], 1.0e-12
    while v < 1.0e20:               # buckets growing by 10% from 1e-12 to 1e20, as TF
        pos.append(v)
        v *= 1.1
    pos.append(np.finfo(np.float64).max)
    return np.array([-x for x in reversed(pos)] + [0.0] + pos)


DEFAULT_BUCKET_LIMITS = _default_limits()


def histogram_counts(values):
    """(min, max, num, sum, sum_squares, counts per default bucket) of `values`; bucket i
    counts the values in [limit[i-1], limit[i])."""
    v = np.asarray(values, np.float64).reshape(-1)
    counts = np.bincount(np.searchsorted(DEFAULT_BUCKET_LIMITS, v, side="right"),
                         minlength=len(DEFAULT_BUCKET_LIMITS))[:len(DEFAULT_BUCKET_LIMITS)]
    if v.size == 0:
        lo, hi = DEFAULT_BUCKET_LIMITS[-1], -DEFAULT_BUCKET_LIMITS[-1]
    else:
        lo, hi = v.min(), v.max()
    return lo, hi, float(v.size), float(v.sum()), float(np.dot(v, v)), counts


def histogram_value(tag, values):
    """Summary{value{tag, histo}} (TF's HistogramSummary) over the default buckets."""
    lo, hi, num, total, squares, counts = histogram_counts(values)
    histo = (_double(1, lo) + _double(2, hi) + _double(3, num) + _double(4, total)
             + _double(5, squares)
             + field_bytes(6, DEFAULT_BUCKET_LIMITS.astype("<f8").tobytes())
             + field_bytes(7, counts.astype("<f8").tobytes()))
    return _summary(field_bytes(1, tag) + field_bytes(5, histo))


def png(pixels):
    """An 8-bit PNG of `pixels` (uint8, [height, width, channels] with 1, 3 or 4 channels),
    its data in stored (uncompressed) deflate blocks: the file's length depends only on the
    image's shape."""
    h, w, c = pixels.shape
    color_type = {1: 0, 3: 2, 4: 6}[c]
    rows = np.concatenate([np.zeros((h, 1), np.uint8),           # filter type 0 per row
                           np.ascontiguousarray(pixels, np.uint8).reshape(h, w * c)], axis=1)

    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    header = struct.pack(">IIBBBBB", w, h, 8, color_type, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 0)) + chunk(b"IEND", b""))


def image_value(tag, pixels):
    """Summary{value{tag, image{height, width, colorspace, encoded_image_string}}} of one
    uint8 [height, width, channels] image (TF's ImageSummary, one image)."""
    h, w, c = pixels.shape
    image = (_key(1, 0) + varint(h) + _key(2, 0) + varint(w) + _key(3, 0) + varint(c)
             + field_bytes(4, png(pixels)))
    return _summary(field_bytes(1, tag) + field_bytes(4, image))


def event(wall_time, step=0, file_version=None, summary=None, graph_def=None):
    """Event{wall_time, step, and one of file_version / graph_def / summary}."""
    out = _double(1, wall_time)
    if step:
        out += _key(2, 0) + varint(int(step))
    if file_version is not None:
        out += field_bytes(3, file_version)
    if graph_def is not None:
        out += field_bytes(4, graph_def)
    if summary is not None:
        out += field_bytes(5, summary)
    return out


def graph_def(graph):
    """GraphDef{node{name, op, input}, versions{producer}} of `graph`'s ops: the structure
    TensorBoard's graph view draws (control inputs as ``^name``; no attrs)."""
    out = bytearray()
    for op in graph.get_operations():
        node = field_bytes(1, op.name) + field_bytes(2, op.type)
        for t in op.inputs:
            node += field_bytes(3, t.op.name if t.value_index == 0
                                else f"{t.op.name}:{t.value_index}")
        for c in op.control_inputs:
            node += field_bytes(3, "^" + c.name)
        out += field_bytes(1, node)
    out += field_bytes(4, _key(1, 0) + varint(27))
    return bytes(out)


class Summary:
    """tf.compat.v1.Summary for values computed in Python:
    ``Summary(value=[Summary.Value(tag="acc", simple_value=0.9)])``, for
    ``FileWriter.add_summary``.  Only scalar values (`simple_value`) are supported."""

    class Value:
        """One tagged scalar of a Summary (tf.compat.v1.Summary.Value)."""

        def __init__(self, tag="", simple_value=None, **others):
            if others:
                raise NotImplementedError(f"Summary.Value: only tag and simple_value are "
                                          f"supported, got {sorted(others)}")
            self.tag = tag
            self.simple_value = 0.0 if simple_value is None else float(simple_value)

        def SerializeToString(self):  # noqa: N802  (protobuf's name)
            """The encoded Value message."""
            return field_bytes(1, self.tag) + _float(2, np.float32(self.simple_value))

    def __init__(self, value=()):
        self.value = list(value)

    def SerializeToString(self):  # noqa: N802  (protobuf's name)
        """The encoded Summary message."""
        return b"".join(field_bytes(1, v.SerializeToString()) for v in self.value)
