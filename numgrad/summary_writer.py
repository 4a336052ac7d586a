"""tf.compat.v1.summary.FileWriter: TensorBoard event files, written without TensorFlow.

An event file (``events.out.tfevents.<time>.<host>``) is a TFRecord file: each record is

    uint64 length | uint32 masked_crc(length) | data | uint32 masked_crc(data)

(little-endian; ``masked_crc(x) = rotate_right(crc32c(x), 15) + 0xa282ead8``), and each record's
data is an encoded Event (numgrad/summary_proto.py).  The first event names the format
(``brain.Event:2``); then come the graph (``add_graph``) and the summaries (``add_summary``).
Records are appended as they are added; ``flush`` pushes them to the file.
"""
import os
import socket
import struct
import threading
import time

import numpy as np

from . import summary_proto

__all__ = ["FileWriter", "crc32c", "masked_crc32c", "tfrecord"]


def _crc_table():
    table = np.zeros(256, np.uint32)
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1      # Castagnoli, reflected
        table[i] = c
    return [int(x) for x in table]


_TABLE = _crc_table()


def crc32c(data):
    """CRC-32C (Castagnoli) of `data`."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for b in bytes(data):
        crc = table[(crc ^ b) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data):
    """TFRecord's masked CRC of `data`."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


def tfrecord(data):
    """One TFRecord holding `data`."""
    header = struct.pack("<Q", len(data))
    return (header + struct.pack("<I", masked_crc32c(header)) + bytes(data)
            + struct.pack("<I", masked_crc32c(data)))


def _summary_bytes(summary):
    """The encoded Summary in `summary`: what a summary op returned (a vector of byte values),
    bytes, or an object with SerializeToString (a protobuf Summary)."""
    if hasattr(summary, "SerializeToString"):
        return summary.SerializeToString()
    if isinstance(summary, (bytes, bytearray)):
        return bytes(summary)
    a = np.asarray(summary)
    if a.ndim != 1 or a.dtype.kind not in "iu" or (a.size and (a.min() < 0 or a.max() > 255)):
        raise TypeError("add_summary: expected the value of a summary op (a vector of byte "
                        f"values), bytes or a Summary protobuf, got {type(summary).__name__} "
                        f"of shape {a.shape}")
    return a.astype(np.uint8).tobytes()


class FileWriter:
    """tf.compat.v1.summary.FileWriter: writes summaries (and the graph) to an event file in
    `logdir` for TensorBoard."""

    def __init__(self, logdir, graph=None, max_queue=10, flush_secs=120, graph_def=None,
                 filename_suffix=None, session=None):
        self._logdir = str(logdir)
        os.makedirs(self._logdir, exist_ok=True)
        now = time.time()
        name = f"events.out.tfevents.{int(now):010d}.{socket.gethostname()}"
        self._path = os.path.join(self._logdir, name + (filename_suffix or ""))
        self._file = open(self._path, "ab")
        self._lock = threading.Lock()
        self._closed = False
        self._write(summary_proto.event(now, file_version="brain.Event:2"))
        if graph is not None or graph_def is not None:
            self.add_graph(graph, graph_def=graph_def)

    def get_logdir(self):
        """The directory the event file is in."""
        return self._logdir

    def _write(self, event_bytes):
        with self._lock:
            if self._closed:
                raise RuntimeError("FileWriter is closed; call reopen() to write again")
            self._file.write(tfrecord(event_bytes))

    def add_summary(self, summary, global_step=None):
        """Write `summary` (the value of a summary op, or of merge / merge_all) for step
        `global_step`."""
        self._write(summary_proto.event(time.time(), step=global_step or 0,
                                        summary=_summary_bytes(summary)))

    def add_graph(self, graph, global_step=None, graph_def=None):
        """Write `graph`'s structure (op names, types and inputs) for TensorBoard's graph
        view; `graph_def` bytes (an encoded GraphDef) are written as they are."""
        if graph_def is None:
            if graph is None:
                raise ValueError("add_graph: give a graph or a graph_def")
            graph_def = summary_proto.graph_def(graph)
        elif hasattr(graph_def, "SerializeToString"):
            graph_def = graph_def.SerializeToString()
        self._write(summary_proto.event(time.time(), step=global_step or 0,
                                        graph_def=bytes(graph_def)))

    def flush(self):
        """Push what was written to the file."""
        with self._lock:
            if not self._closed:
                self._file.flush()

    def close(self):
        """Flush and close the event file."""
        with self._lock:
            if not self._closed:
                self._file.close()
                self._closed = True

    def reopen(self):
        """Append to the event file again after close()."""
        with self._lock:
            if self._closed:
                self._file = open(self._path, "ab")
                self._closed = False

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
