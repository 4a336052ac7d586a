"""SegmentSum/Mean/Max/Min/Prod (sorted ids) and UnsortedSegmentMax/Min/Prod on cpu.

The NumPy references (ops/math_extra.py) reduce with `np.add.at`, `np.maximum.at` and the
like, which go through NumPy's generic indexed loop one element at a time.  These kernels make
the same combinations in the same order (each segment's rows in row order, from the same
start value: 0, 1, or the dtype's lowest/highest finite value), so the results are
bit-identical, NaN and signed zeros included (a tie keeps the later value, as np.maximum).
Work is split by segment: a chunk of segments is one thread's, its rows found from the sorted
ids' offsets (Segment*) or by scanning all ids (UnsortedSegment*), so no two threads write one
output row and any split gives the same bits.

Milliseconds, min / median of 11 interleaved runs (python -m numgrad.bench_opaque; one
process, the 2-core VM loaded by other jobs; the kernel on numgrad's threads where they paid):

    op, float32 data -> segments         reference          kernel
    SegmentSum (100000, 64) -> 1000       200 / 208        1.5 / 1.6
    SegmentMean                           199 / 212        1.6 / 1.6
    SegmentMax                            363 / 387        1.5 / 1.6
    SegmentProd                           169 / 176        1.4 / 1.6
    UnsortedSegmentMax                    387 / 398        2.7 / 11
    UnsortedSegmentProd                   167 / 184        2.6 / 11
    SegmentSum (1000, 16) -> 50          0.17 / 0.18      0.02 / 0.03
    SegmentMax                           0.31 / 0.32      0.03 / 0.03
    UnsortedSegmentMax                   0.29 / 0.29      0.02 / 0.03

A Segment* op's output shape depends on its ids, so the cpu backend interprets a plan that
holds one with the NumPy references (backends/cpu_interpreter.py): these kernels run where an
interpreter consults OPAQUE, and UnsortedSegment* ops with a constant count run compiled.

Dtypes float32, float64, int32 and int64 (int32/int64 ids); anything else (float16), and ids
the reference rejects (out of range, unsorted, a wrong length), return None so that the
reference runs and raises its error.
"""
import numpy as np
from numba import njit

from ...ops.math_extra import SEGMENT_OPS, UNSORTED_SEGMENT_OPS, mean_from_sums
from . import threaded

# no cfunc wrapper (nothing calls these through a C pointer; it costs compile time),
# and none for the Python calls of the helpers only njit code calls (_inner)
_jit = dict(cache=True, nogil=True, no_cfunc_wrapper=True)
_inner = dict(_jit, no_cpython_wrapper=True)
_DTYPES = {np.dtype(t) for t in (np.float32, np.float64, np.int32, np.int64)}
_ID_DTYPES = {np.dtype(np.int32), np.dtype(np.int64)}
SUM, MEAN, MAX, MIN, PROD = range(5)
_KINDS = {"sum": SUM, "mean": MEAN, "max": MAX, "min": MIN, "prod": PROD}


def _start(kind, dtype):
    """The reference's start value of a segment, which an empty one keeps (but a Segment*
    max/min, which is 0)."""
    if kind == MAX or kind == MIN:
        info = np.finfo(dtype) if dtype.kind == "f" else np.iinfo(dtype)
        return dtype.type(info.min if kind == MAX else info.max)
    return dtype.type(1 if kind == PROD else 0)


@njit(**_inner)
def _combine_row(kind, out, r, data, i):
    """out[r] = out[r] (op) data[i], element by element, as the reference's ufunc.at does
    (max/min: np.maximum/np.minimum, whose NaN wins and whose tie keeps the new value)."""
    o, d = out[r], data[i]
    if kind == SUM or kind == MEAN:
        for t in range(o.shape[0]):
            o[t] += d[t]
    elif kind == PROD:
        for t in range(o.shape[0]):
            o[t] *= d[t]
    elif kind == MAX:
        for t in range(o.shape[0]):
            a, b = o[t], d[t]
            o[t] = a if (a > b or a != a) else b
    else:
        for t in range(o.shape[0]):
            a, b = o[t], d[t]
            o[t] = a if (a < b or a != a) else b


@njit(**_jit)
def _sorted_offsets(ids):
    """offsets[s]..offsets[s + 1] = the rows of segment s, for ids sorted and >= 0; None when
    they are not (the reference raises)."""
    n = ids.shape[0]
    num = np.int64(ids[n - 1]) + 1 if n else 0
    if n and ids[0] < 0:
        return None
    for i in range(1, n):
        if ids[i] < ids[i - 1]:
            return None
    offsets = np.empty(num + 1, np.int64)
    i = 0
    for s in range(num + 1):
        while i < n and ids[i] < s:
            i += 1
        offsets[s] = i
    return offsets


@njit(**_jit)
def _sorted_segments(mode, s0, s1, kind, offsets, data, out, start):
    """Segments s0..s1 of a Segment* op (`mode` is threads.run_chunks' argument, unused)."""
    for s in range(s0, s1):
        out[s] = start
        for i in range(offsets[s], offsets[s + 1]):
            _combine_row(kind, out, s, data, i)
        if offsets[s + 1] == offsets[s] and (kind == MAX or kind == MIN):
            out[s] = 0              # TF: an empty segment's max/min is 0


@njit(**_jit)
def _unsorted_segments(mode, s0, s1, kind, ids, data, out, start):
    """Segments s0..s1 of an UnsortedSegment* op: every id scanned, rows of ids outside
    s0..s1 (negative ones included) skipped."""
    out[s0:s1] = start
    for i in range(ids.shape[0]):
        r = ids[i]
        if s0 <= r < s1:
            _combine_row(kind, out, r, data, i)


def _rows(data, lead):
    """data as a C-contiguous (rows, width) array, rows = the product of its first `lead`
    dims."""
    tail = data.shape[lead:]
    shape = (int(np.prod(data.shape[:lead], dtype=np.int64)),
             int(np.prod(tail, dtype=np.int64)))
    return np.ascontiguousarray(data).reshape(shape), tail


def _run(op_type, segment_kernel, kind, num, index, data, lead):
    """The op's output, its segments split across threads where they pay (measured per data
    shape: a Segment* op's count of segments changes with its ids)."""
    rows, tail = _rows(data, lead)
    out = np.empty((num, rows.shape[1]), data.dtype)
    if num:
        threaded.run((op_type, rows.shape), segment_kernel, num, kind, index, rows, out,
                     _start(kind, data.dtype))
    return [out.reshape((num,) + tail)]


def segment_op(op_type, kind):
    """The OPAQUE entry of a Segment* op (sorted ids; `kind` 'sum', 'mean', 'max', 'min',
    'prod')."""
    kind = _KINDS[kind]

    def run(values, attrs):
        data, ids = (np.asarray(v) for v in values)
        if (data.dtype not in _DTYPES or ids.dtype not in _ID_DTYPES or ids.ndim != 1
                or data.ndim < 1 or ids.shape[0] != data.shape[0]):
            return None
        offsets = _sorted_offsets(np.ascontiguousarray(ids))
        if offsets is None:
            return None
        out = _run(op_type, _sorted_segments, kind, offsets.shape[0] - 1, offsets, data, 1)
        if kind == MEAN:        # the sums divided by the counts as the reference divides them
            out = [mean_from_sums(out[0], np.diff(offsets), data.dtype)]
        return out
    run.__name__ = run.__qualname__ = op_type
    return run


def unsorted_segment_op(op_type, kind):
    """The OPAQUE entry of an UnsortedSegment{Max,Min,Prod} op."""
    kind = _KINDS[kind]

    def run(values, attrs):
        data, ids, num = (np.asarray(v) for v in values)
        if (data.dtype not in _DTYPES or ids.dtype not in _ID_DTYPES or num.size != 1
                or data.shape[:ids.ndim] != ids.shape):
            return None
        n = int(num.reshape(-1)[0])
        if n < 0 or (ids.size and ids.max() >= n):
            return None
        flat = np.ascontiguousarray(ids).reshape(-1)
        return _run(op_type, _unsorted_segments, kind, n, flat, data, ids.ndim)
    run.__name__ = run.__qualname__ = op_type
    return run


OPAQUE = {t: segment_op(t, k) for t, _, k in SEGMENT_OPS}
OPAQUE.update({t: unsorted_segment_op(t, k) for t, _, k in UNSORTED_SEGMENT_OPS})
