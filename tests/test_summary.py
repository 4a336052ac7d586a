"""ng.summary: summary ops give TF's encoded Summary bytes (literals from TF 2.21), the
FileWriter writes TFRecord-framed events (checked with an independent CRC-32C and decoder)."""
import glob
import struct

import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import InvalidArgumentError
from numgrad.summary_proto import histogram_value


def _crc32c_bitwise(data):
    crc = 0xFFFFFFFF
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 & -(crc & 1))
    return crc ^ 0xFFFFFFFF


def _masked(data):
    c = _crc32c_bitwise(data)
    return (((c >> 15) | (c << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def _records(path):
    raw = open(path, "rb").read()
    out, i = [], 0
    while i < len(raw):
        header = raw[i:i + 8]
        (n,) = struct.unpack("<Q", header)
        assert struct.unpack("<I", raw[i + 8:i + 12])[0] == _masked(header)
        data = raw[i + 12:i + 12 + n]
        assert struct.unpack("<I", raw[i + 12 + n:i + 16 + n])[0] == _masked(data)
        out.append(data)
        i += 16 + n
    return out


def _fields(msg):
    """(field number, value) of a protobuf message: ints, 8-byte/4-byte raw, or bytes."""
    out, i = [], 0
    while i < len(msg):
        key, i = _read_varint(msg, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            v, i = _read_varint(msg, i)
        elif wire == 1:
            v, i = msg[i:i + 8], i + 8
        elif wire == 5:
            v, i = msg[i:i + 4], i + 4
        else:
            n, i = _read_varint(msg, i)
            v, i = msg[i:i + n], i + n
        out.append((number, v))
    return out


def _read_varint(b, i):
    shift = result = 0
    while True:
        result |= (b[i] & 0x7F) << shift
        shift += 7
        i += 1
        if not b[i - 1] & 0x80:
            return result, i


def test_crc32c_check_value():
    from numgrad.summary_writer import crc32c
    assert crc32c(b"123456789") == 0xE3069283 == _crc32c_bitwise(b"123456789")


def test_scalar_bytes_and_tags_match_tf(sess):
    x = ng.constant(np.arange(5.0, dtype=np.float32))
    with ng.name_scope("train"):
        a = ng.summary.scalar("loss", ng.reduce_mean(x))
    b = ng.summary.scalar("loss", ng.reduce_sum(x), family="fam")
    c = ng.summary.scalar("loss", ng.reduce_sum(x))
    assert ng.get_collection(ng.GraphKeys.SUMMARIES) == [a, b, c]
    got = [bytes(v.astype(np.uint8)) for v in sess.run([a, b, c])]
    assert [g.hex() for g in got] == ["0a110a0a747261696e2f6c6f73731500000040",
                                      "0a130a0c66616d2f66616d2f6c6f73731500002041",
                                      "0a0b0a046c6f73731500002041"]
    assert a.dtype == ng.int32 and a.shape.as_list() == [19]


def test_histogram_matches_tf_buckets(sess):
    values = np.array([-3.0, 0.0, 1e-13, 1.0, 2.5, 1e30], np.float32)
    h = ng.summary.histogram("hist", ng.constant(values))
    (value,) = [v for n, v in _fields(bytes(sess.run(h).astype(np.uint8))) if n == 1]
    fields = dict(_fields(value))
    assert fields[1] == b"hist"
    histo = dict(_fields(fields[5]))
    lo, hi, num, total, squares = (struct.unpack("<d", histo[k])[0] for k in range(1, 6))
    assert (lo, hi, num) == (-3.0, 1.0000000150474662e+30, 6.0)        # TF's numbers
    assert total == 1.0000000150474662e+30 and squares == pytest.approx(1.0000000300949327e+60)
    limits = np.frombuffer(histo[6], "<f8")
    counts = np.frombuffer(histo[7], "<f8")
    assert len(limits) == len(counts) == 1551
    nonzero = [(lim, cnt) for lim, cnt in zip(limits, counts) if cnt]
    np.testing.assert_allclose(nonzero, [(-2.8787120958073054, 1.0), (1e-12, 2.0),
                                         (1.0089710279437536, 1.0), (2.6170109961884593, 1.0),
                                         (1.7976931348623157e+308, 1.0)], rtol=1e-15)
    p = ng.placeholder(ng.float32, [None])
    hp = ng.summary.histogram("p", p)
    assert hp.shape.as_list() == [len(histogram_value("p", []))]   # fixed length per tag
    with pytest.raises(InvalidArgumentError, match="Nan in summary histogram for: p"):
        sess.run(hp, {p: [1.0, np.nan]})


def test_merge(sess):
    assert ng.summary.merge_all() is None
    a = ng.summary.scalar("a", 1.0)
    b = ng.summary.scalar("b", 2)
    m = ng.summary.merge_all()
    assert m.op.type == "MergeSummary"
    got = bytes(sess.run(m).astype(np.uint8))
    assert got == bytes(sess.run(a).astype(np.uint8)) + bytes(sess.run(b).astype(np.uint8))
    with pytest.raises(ValueError, match="duplicate tag 'a'"):
        ng.summary.merge([a, m])
    with pytest.raises(ValueError, match="must be a scalar"):
        ng.summary.scalar("v", ng.ones([2]))


def test_file_writer_event_file(sess, tmp_path):
    x = ng.placeholder(ng.float32, [])
    s = ng.summary.scalar("loss", x)
    with ng.summary.FileWriter(str(tmp_path / "logs"), ng.get_default_graph()) as w:
        assert w.get_logdir() == str(tmp_path / "logs")
        w.add_summary(sess.run(s, {x: 2.0}), 3)
        w.add_summary(bytes(sess.run(s, {x: 10.0}).astype(np.uint8)), global_step=300)
        with pytest.raises(TypeError, match="add_summary"):
            w.add_summary(np.float32(1.0))
    (path,) = glob.glob(str(tmp_path / "logs" / "events.out.tfevents.*"))
    first, graph, *summaries = _records(path)
    assert dict(_fields(first))[3] == b"brain.Event:2"
    nodes = [dict(_fields(n)) for k, n in _fields(dict(_fields(graph))[4]) if k == 1]
    assert [(n[1], n[2]) for n in nodes] == [(b"Placeholder", b"Placeholder"),
                                             (b"loss", b"ScalarSummary")]
    # wall_time (field 1, 8 bytes), then step and the summary: the bytes TF writes
    assert [e[9:].hex() for e in summaries] == [
        "1003" "2a0d" "0a0b0a046c6f7373150000" "0040",
        "10ac02" "2a0d" "0a0b0a046c6f7373150000" "2041"]
    with pytest.raises(RuntimeError, match="closed"):
        w.add_summary(sess.run(s, {x: 1.0}))
    w.reopen()
    w.add_summary(sess.run(s, {x: 1.0}), 4)
    w.close()
    assert len(_records(path)) == 5


def test_calling_the_module_still_describes_a_graph():
    ng.exp(ng.placeholder(ng.float32, [2]))
    assert "ops" in ng.summary()


def _decode_png(data):
    """Pixels of an 8-bit, unfiltered PNG (what summary.image writes)."""
    import zlib
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    i, idat, header = 8, b"", None
    while i < len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        kind, body = data[i + 4:i + 8], data[i + 8:i + 8 + n]
        assert struct.unpack(">I", data[i + 8 + n:i + 12 + n])[0] == zlib.crc32(kind + body)
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        i += 12 + n
    w, h, depth, color = header[:4]
    channels = {0: 1, 2: 3, 6: 4}[color]
    rows = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(h, 1 + w * channels)
    assert depth == 8 and not rows[:, 0].any()
    return rows[:, 1:].reshape(h, w, channels)


def _images(value_bytes):
    out = {}
    for _, value in _fields(value_bytes):
        f = dict(_fields(value))
        image = dict(_fields(f[4]))
        out[f[1].decode()] = ((image[1], image[2], image[3]), _decode_png(image[4]).tolist())
    return out


def test_image_pixels_match_tf(sess):
    a = np.array([[[[-1.0, 0.5, 2.0], [0.25, np.nan, -0.5]],
                   [[1.5, 1.0, 0.0], [3.0, -2.0, 0.1]]]], np.float32)
    b = np.array([[[[0.0], [0.5]], [[1.0], [2.0]]]] * 3, np.float32)
    sa = ng.summary.image("a", a, max_outputs=1)
    p = ng.placeholder(ng.float32, [None, 2, 2, 1])
    sb = ng.summary.image("b", p, max_outputs=2)
    assert sa.shape.is_fully_defined() and sb.shape.as_list() == [None]
    got = _images(bytes(sess.run(sa).astype(np.uint8)))
    got.update(_images(bytes(sess.run(sb, {p: b}).astype(np.uint8))))
    assert got == {                                   # TF 2.21's decoded pixels
        "a/image": ((2, 2, 3), [[[85, 149, 212], [255, 0, 0]], [[191, 170, 128],
                                                                [255, 43, 132]]]),
        "b/image/0": ((2, 2, 1), [[[0], [63]], [[127], [255]]]),
        "b/image/1": ((2, 2, 1), [[[0], [63]], [[127], [255]]])}
    m = ng.summary.merge_all()
    assert m.op.attrs["tags"] == ("a/image", "b/image/0", "b/image/1")
    with pytest.raises(ValueError, match="1, 3 or 4 channels"):
        ng.summary.image("c", np.zeros((1, 2, 2, 2), np.float32))


def test_python_summary_message(sess, tmp_path):
    s = ng.Summary(value=[ng.Summary.Value(tag="acc", simple_value=0.5),
                          ng.summary.Summary.Value(tag="b", simple_value=2)])
    assert s.SerializeToString().hex() == ("0a0a0a036163631500000" "03f"
                                           "0a080a01621500000040")   # TF 2.21's bytes
    with ng.summary.FileWriter(str(tmp_path)) as w:
        w.add_summary(s, 7)
    (path,) = glob.glob(str(tmp_path / "events.out.tfevents.*"))
    assert _records(path)[1][9:].hex() == "1007" "2a16" + s.SerializeToString().hex()
    with pytest.raises(NotImplementedError, match="simple_value"):
        ng.Summary.Value(tag="h", histo=None)
