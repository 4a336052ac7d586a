"""The cpu backend's Numba kernels for the segment reductions, TopKV2 and AvgPool/AvgPoolGrad
(numgrad/kernels/cpu/segment_reduce.py, top_k.py, pool_avg.py) against the ops' NumPy
references: the same bits (NaN, signed zeros and ties included), None (so that the reference
runs and raises its error) where a kernel does not cover a case, and gradients through the
ops on the cpu backend against finite differences.

The arrays are small and share shapes, so each kernel compiles once per dtype."""
import os

import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import InvalidArgumentError
from numgrad.kernels.cpu import OPAQUE
from numgrad.ops.conv import conv_attrs
from numgrad.ops.math_extra import SEGMENT_OPS, UNSORTED_SEGMENT_OPS
from numgrad.ops.pool import pool_attrs
from numgrad.ops.registry import get_op_def
from test_conv_ops import CONV_CASES, _padding_arg, pool_loops

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

DTYPES = [np.float32, np.float64, np.int32, np.int64]
SORTED = [t for t, _, _ in SEGMENT_OPS]
UNSORTED = [t for t, _, _ in UNSORTED_SEGMENT_OPS]


def _both(op_type, values, attrs=None):
    """(reference outputs, kernel outputs or None) of one op on `values`."""
    attrs = {} if attrs is None else attrs
    with np.errstate(all="ignore"):
        return get_op_def(op_type).compute(values, attrs), OPAQUE[op_type](values, attrs)


def _assert_same_bits(want, got):
    assert got is not None
    assert len(want) == len(got)
    for w, g in zip(want, got):
        w, g = np.asarray(w), np.asarray(g)
        assert w.dtype == g.dtype and w.shape == g.shape
        np.testing.assert_array_equal(g.view(np.uint8), w.view(np.uint8))


def _data(rng, shape, dtype):
    """Values with repeats; floats also with NaN, +-inf and both zeros."""
    x = rng.integers(-4, 5, shape).astype(dtype)
    if np.dtype(dtype).kind == "f":
        x = x * dtype(1.5)
        flat = x.reshape(-1)
        flat[::7] = -0.0
        flat[3:4] = np.nan
        flat[5:6] = np.inf
        flat[11:12] = -np.inf
    return x


# --- segment reductions ---------------------------------------------------------------------
SORTED_IDS = np.array([0, 0, 1, 4, 4, 4, 5, 7, 7, 7, 7, 9], np.int32)   # segments 2, 3, 6, 8 empty


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op_type", SORTED)
def test_segment_ops_match_the_reference_bit_for_bit(op_type, dtype, rng):
    _assert_same_bits(*_both(op_type, [_data(rng, (12, 5), dtype), SORTED_IDS]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("op_type", UNSORTED)
def test_unsorted_segment_ops_match_the_reference_bit_for_bit(op_type, dtype, rng):
    ids = rng.integers(-2, 9, (3, 4)).astype(np.int64)      # repeats, negatives dropped
    num = np.array(11, np.int32)                            # segments past the ids: empty
    _assert_same_bits(*_both(op_type, [_data(rng, (3, 4, 5), dtype), ids, num]))


@pytest.mark.parametrize("op_type", SORTED + UNSORTED)
def test_segment_edge_shapes(op_type, rng):
    """No rows, a zero-width tail, and 1-D data."""
    cases = ([(np.zeros((0, 5)), np.zeros(0, np.int32)), (np.zeros((12, 0)), SORTED_IDS),
              (_data(rng, (12,), np.float64), SORTED_IDS)])
    for data, ids in cases:
        values = [data, ids] if op_type in SORTED else [data, ids, np.array(10)]
        _assert_same_bits(*_both(op_type, values))


def test_empty_segments_take_tfs_values():
    data = np.array([[1.0, -2.0]] * 3, np.float32)
    ids = np.array([0, 2, 2], np.int32)
    out = {t: OPAQUE[t]([data, ids], {})[0][1] for t in SORTED}
    assert {t: v.tolist() for t, v in out.items()} == {
        "SegmentSum": [0, 0], "SegmentMean": [0, 0], "SegmentMax": [0, 0], "SegmentMin": [0, 0],
        "SegmentProd": [1, 1]}
    f32 = np.finfo(np.float32)
    out = {t: OPAQUE[t]([data, ids, np.array(3)], {})[0][1] for t in UNSORTED}
    assert out["UnsortedSegmentMax"].tolist() == [f32.min] * 2
    assert out["UnsortedSegmentMin"].tolist() == [f32.max] * 2
    assert out["UnsortedSegmentProd"].tolist() == [1, 1]


@pytest.mark.parametrize("op_type, ids", [
    ("SegmentSum", [0, 2, 1]),              # not sorted
    ("SegmentMax", [-1, 0, 0]),             # negative
    ("SegmentMean", [0, 0]),                # not data's length
    ("UnsortedSegmentMax", [0, 4, 1]),      # out of range [0, 4)
])
def test_bad_ids_are_left_to_the_references_error(op_type, ids):
    data = np.ones((3, 2), np.float32)
    values = [data, np.array(ids, np.int32)] + ([np.array(4)] if op_type in UNSORTED else [])
    assert OPAQUE[op_type](values, {}) is None
    with pytest.raises(InvalidArgumentError):
        get_op_def(op_type).compute(values, {})


def test_other_dtypes_are_left_to_the_reference():
    data = np.ones((3, 2), np.float16)
    assert OPAQUE["SegmentSum"]([data, np.array([0, 0, 1])], {}) is None
    assert OPAQUE["UnsortedSegmentProd"]([data, np.array([0, 0, 1]), np.array(2)], {}) is None
    assert OPAQUE["UnsortedSegmentMin"]([data.astype(np.float32), np.array([0.0, 0.0, 1.0]),
                                         np.array(2)], {}) is None
    assert OPAQUE["SegmentMin"]([data.astype(np.float32), np.array([0, 0, 1], np.uint8)],
                                {}) is None


@pytest.mark.parametrize("backend", ["cpu", "numpy"])
def test_sessions_agree_and_raise_the_same_error(backend, rng, monkeypatch):
    """The cpu backend's compiled plans run the kernels (an UnsortedSegment* op with a
    constant count has a static shape); a Segment* op's shape depends on its ids, so its
    plan is interpreted by the reference."""
    d = _data(rng, (12, 5), np.float32)
    want = [_both("UnsortedSegmentProd", [d, SORTED_IDS, np.array(10)])[0][0],
            _both("SegmentMax", [d, SORTED_IDS])[0][0]]
    calls = []
    kernel = OPAQUE["UnsortedSegmentProd"]
    monkeypatch.setitem(OPAQUE, "UnsortedSegmentProd",
                        lambda v, a: calls.append(1) or kernel(v, a))
    data = ng.placeholder(ng.float32, [12, 5])
    ids = ng.placeholder(ng.int32, [12])
    out = [ng.math.unsorted_segment_prod(data, ids, 10), ng.math.segment_max(data, ids)]
    with ng.Session(backend=backend) as s:
        got = [s.run(o, {data: d, ids: SORTED_IDS}) for o in out]
        _assert_same_bits(want, got)
        assert len(calls) == (1 if backend == "cpu" else 0)
        bad = SORTED_IDS.copy()
        bad[4] = 10
        with pytest.raises(InvalidArgumentError, match="out of range"):
            s.run(out[0], {data: d, ids: bad})
        with pytest.raises(InvalidArgumentError, match="not increasing"):
            s.run(out[1], {data: d, ids: SORTED_IDS[::-1].copy()})


# --- TopKV2 ------------------------------------------------------------------------------------
def _top_k_attrs(k, index_type=ng.int32):
    return {"k": k, "sorted": True, "index_type": index_type}


@pytest.mark.parametrize("dtype", DTYPES)
def test_top_k_matches_the_reference_bit_for_bit(dtype, rng):
    """Ties (values from a small range), NaN/inf/signed zeros; k on both of the kernel's paths
    (<= 16: a sorted buffer; 20 and all: the packed sort, 32-bit dtypes only: 64-bit ones run
    the reference for rows this short)."""
    x = _data(rng, (3, 2, 24), dtype)
    for k in (0, 1, 3, 16, 20, None):
        for index_type in (ng.int32, ng.int64):
            want, got = _both("TopKV2", [x], _top_k_attrs(k, index_type))
            if k is not None and k <= 16 or np.dtype(dtype).itemsize == 4:
                _assert_same_bits(want, got)
            else:
                assert got is None


@pytest.mark.parametrize("dtype", [np.float64, np.int64])
def test_top_k_heap_for_64_bit_dtypes_matches_the_reference(dtype, rng):
    """k > 16 of a row at least HEAP_RATIO (8) times longer: the heap path."""
    x = _data(rng, (3, 200), dtype)
    for k in (17, 25):
        _assert_same_bits(*_both("TopKV2", [x], _top_k_attrs(k)))


def test_top_k_takes_the_lower_index_on_ties():
    x = np.full((1, 20), -5.0, np.float32)
    x[0, :7] = [1.0, 3.0, np.nan, 3.0, np.inf, -0.0, 0.0]
    for k in (7, 17):           # the sorted buffer, the packed sort
        _, indices = OPAQUE["TopKV2"]([x], _top_k_attrs(k))
        assert indices[0, :7].tolist() == [2, 4, 1, 3, 0, 5, 6]     # NaN ties with +inf
    x = np.tile(np.arange(40, dtype=np.int32) % 3, (2, 1))
    _, indices = OPAQUE["TopKV2"]([x], _top_k_attrs(20))
    assert indices[1].tolist() == list(range(2, 40, 3)) + list(range(1, 20, 3))


def test_top_k_cases_left_to_the_reference():
    x = np.ones((2, 5), np.float32)
    assert OPAQUE["TopKV2"]([x], _top_k_attrs(6)) is None
    with pytest.raises(ValueError, match="at least k columns"):
        get_op_def("TopKV2").compute([x], _top_k_attrs(6))
    assert OPAQUE["TopKV2"]([x.astype(np.float16)], _top_k_attrs(2)) is None
    assert OPAQUE["TopKV2"]([x.astype(np.uint8)], _top_k_attrs(2)) is None


# --- AvgPool / AvgPoolGrad ----------------------------------------------------------------------
POOL_CASES = [((2, 2), (2, 2), "VALID"), ((3, 3), (2, 1), "SAME"), ((1, 3), (1, 2), "SAME"),
              ((3, 2), (1, 1), "VALID")]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("channels", [1, 3])
def test_avg_pool_and_grad_match_the_reference_bit_for_bit(dtype, channels, rng):
    x = (rng.standard_normal((2, 5, 7, channels)) * 10).astype(dtype)
    x[0, :2, :2] = -0.0
    for k, s, padding in POOL_CASES:
        attrs = pool_attrs("AvgPool", [1, *k, 1], [1, *s, 1], padding, "NHWC")
        want, got = _both("AvgPool", [x], attrs)
        _assert_same_bits(want, got)
        np.testing.assert_allclose(got[0], pool_loops(x, k, s, padding, "AVG"), rtol=1e-5,
                                   atol=1e-5)
        dy = (rng.standard_normal(got[0].shape) * 10).astype(dtype)
        grad_attrs = pool_attrs("AvgPoolGrad", [1, *k, 1], [1, *s, 1], padding, "NHWC")
        _assert_same_bits(*_both("AvgPoolGrad", [np.array(x.shape, np.int32), dy], grad_attrs))


def test_avg_pool_cases_left_to_the_reference():
    x = np.ones((1, 4, 4, 2), np.float32)
    nchw = pool_attrs("AvgPool", [1, 1, 2, 2], [1, 1, 2, 2], "VALID", "NCHW")
    assert OPAQUE["AvgPool"]([x], nchw) is None
    nhwc = pool_attrs("AvgPool", [1, 2, 2, 1], [1, 2, 2, 1], "VALID", "NHWC")
    assert OPAQUE["AvgPool"]([x.astype(np.float16)], nhwc) is None
    assert OPAQUE["AvgPool"]([x[:0]], nhwc) is None
    grad = pool_attrs("AvgPoolGrad", [1, 2, 2, 1], [1, 2, 2, 1], "VALID", "NHWC")
    assert OPAQUE["AvgPoolGrad"]([np.array([1, 4, 4, 2]), np.ones((1, 3, 3, 2))], grad) is None


# --- depthwise convolutions -------------------------------------------------------------------
DEPTHWISE = "DepthwiseConv2dNative"


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_ops_match_the_reference(dtype, multiplier, rng):
    """Forward and input gradient bit for bit; the filter gradient (summed in float64 by the
    kernel, in the dtype by the reference's einsum) to rounding."""
    x = rng.standard_normal((2, 6, 7, 3)).astype(dtype)
    f = rng.standard_normal((3, 2, 3, multiplier)).astype(dtype)
    for strides, dilations, padding in CONV_CASES:
        attrs = conv_attrs(DEPTHWISE, [1, *strides, 1], _padding_arg(padding), "NHWC",
                           [1, *dilations, 1])
        want, got = _both(DEPTHWISE, [x, f], attrs)
        _assert_same_bits(want, got)
        dy = rng.standard_normal(got[0].shape).astype(dtype)
        _assert_same_bits(*_both(DEPTHWISE + "BackpropInput",
                                 [np.array(x.shape, np.int32), f, dy], attrs))
        want, got = _both(DEPTHWISE + "BackpropFilter", [x, np.array(f.shape), dy], attrs)
        assert got[0].dtype == want[0].dtype and got[0].shape == want[0].shape
        np.testing.assert_allclose(got[0], want[0], rtol=1e-5 if dtype == np.float32 else 1e-12,
                                   atol=1e-5 if dtype == np.float32 else 1e-12)


def test_depthwise_padding_multiplies_zeros_as_the_reference():
    """A filter holding inf makes NaN where its tap meets SAME padding (0 * inf), in both."""
    x = np.ones((1, 4, 4, 2), np.float32)
    f = np.ones((3, 3, 2, 1), np.float32)
    f[0, 0, 1, 0] = np.inf
    attrs = conv_attrs(DEPTHWISE, [1, 1, 1, 1], "SAME", "NHWC", None)
    want, got = _both(DEPTHWISE, [x, f], attrs)
    assert np.isnan(got[0]).sum() == 7      # channel 1 of the top row and left column
    np.testing.assert_array_equal(got[0], want[0])


def test_depthwise_cases_left_to_the_reference():
    x, f = np.ones((1, 4, 4, 2), np.float32), np.ones((2, 2, 2, 1), np.float32)
    nchw = conv_attrs(DEPTHWISE, [1, 1, 1, 1], "VALID", "NCHW", None)
    assert OPAQUE[DEPTHWISE]([x, f], nchw) is None
    nhwc = conv_attrs(DEPTHWISE, [1, 1, 1, 1], "VALID", "NHWC", None)
    assert OPAQUE[DEPTHWISE]([x, f.astype(np.float64)], nhwc) is None
    assert OPAQUE[DEPTHWISE]([x.astype(np.float16), f.astype(np.float16)], nhwc) is None


# --- gradients through the ops on the cpu backend ----------------------------------------------
def _distinct(rng, shape):
    """float64 values far from each other and from 0 (no ties for max/min, no zero in a
    product), so that finite differences see one smooth piece."""
    n = int(np.prod(shape))
    return (rng.permutation(n) / n + 0.5).reshape(shape) * rng.choice([-1.0, 1.0], shape)


UNSORTED_IDS = [2, -1, 0, 2, 2, 1]
GRADIENT_CASES = {      # name: (y of x (6, 2), y's shape)
    "segment_mean": (lambda x: ng.math.segment_mean(x, SORTED_IDS[:6]), [5, 2]),
    "segment_max": (lambda x: ng.math.segment_max(x, SORTED_IDS[:6]), [5, 2]),
    "segment_prod": (lambda x: ng.math.segment_prod(x, SORTED_IDS[:6]), [5, 2]),
    "unsorted_segment_min": (lambda x: ng.math.unsorted_segment_min(x, UNSORTED_IDS, 4),
                             [4, 2]),
    "unsorted_segment_prod": (lambda x: ng.math.unsorted_segment_prod(x, UNSORTED_IDS, 4),
                              [4, 2]),
    "top_k": (lambda x: ng.nn.top_k(x, 2)[0], [6, 2]),
    "avg_pool": (lambda x: ng.nn.avg_pool(ng.reshape(x, [1, 3, 2, 2]), [1, 2, 2, 1],
                                          [1, 1, 1, 1], "SAME"), [1, 3, 2, 2]),
    "depthwise_input": (lambda x: ng.nn.depthwise_conv2d_native(
        ng.reshape(x, [1, 3, 2, 2]), np.linspace(-1, 1, 16).reshape(2, 2, 2, 2), [1, 1, 1, 1],
        "SAME"), [1, 3, 2, 4]),
    "depthwise_filter": (lambda x: ng.nn.depthwise_conv2d_native(
        np.linspace(-1, 1, 24).reshape(1, 3, 4, 2), ng.reshape(x, [2, 3, 2, 1]), [1, 1, 1, 1],
        "SAME"), [1, 3, 4, 2]),
}


@pytest.mark.parametrize("name", sorted(GRADIENT_CASES))
def test_gradients_match_finite_differences_on_cpu(name, rng):
    x = ng.placeholder(ng.float64, [6, 2])
    fn, y_shape = GRADIENT_CASES[name]
    y = fn(x)
    with ng.Session(backend="cpu").as_default():
        err = ng.test.compute_gradient_error(x, [6, 2], y, y_shape,
                                             x_init_value=_distinct(rng, (6, 2)), delta=1e-6)
    assert err < 1e-7


def test_bench_runs_every_case_small():
    from numgrad import bench_opaque
    lines = []
    best = bench_opaque.run(small=True, repeats=1, out=lines.append)
    assert len(best) == len(bench_opaque.cases(small=True)) == len(lines) - 1
    assert all(r > 0 and k > 0 for r, k in best.values())


def test_results_do_not_depend_on_the_thread_split(monkeypatch):
    """Every kernel run serially and split across 3 threads (chunks of images, rows, segments
    or channel blocks) gives the same bits."""
    from numgrad import bench_opaque, threads
    from numgrad.kernels.cpu import threaded
    calls = [(c.op_type, c.make(np.random.default_rng(5)), c.attrs)
             for c in bench_opaque.cases(small=True)]
    x, dy = (np.random.default_rng(5).standard_normal((2, 5, 5, c)) for c in (20, 40))
    calls.append((DEPTHWISE + "BackpropFilter", [x, np.array([3, 3, 20, 2]), dy],  # 3 blocks
                  conv_attrs(DEPTHWISE, [1, 1, 1, 1], "SAME", "NHWC", None)))

    def outputs(split):
        monkeypatch.setattr(threaded, "run", split)
        return [OPAQUE[op_type](values, attrs) for op_type, values, attrs in calls]
    serial = outputs(lambda site, kernel, count, *args: kernel(0, 0, count, *args))
    ng.set_num_threads(3)
    try:
        split = outputs(lambda site, kernel, count, *args: threads.run_chunks(kernel, count,
                                                                              args))
    finally:
        ng.set_num_threads(os.cpu_count() or 1)
    for want, got in zip(serial, split):
        _assert_same_bits(want, got)


def test_data_dependent_shapes_interpret_with_the_kernels(monkeypatch):
    """A Segment* output's shape depends on its ids, so the cpu backend interprets that
    signature; the interpreter it keeps for it runs the kernels (counted here), while the
    first calls' interpreter of compilable plans does not."""
    from numgrad.kernels.cpu import OPAQUE
    data = ng.placeholder(ng.float32, [None, 3])
    ids = ng.placeholder(ng.int32, [None])
    y = ng.math.segment_max(data, ids)
    calls = []
    kernel = OPAQUE["SegmentMax"]
    monkeypatch.setitem(OPAQUE, "SegmentMax",
                        lambda v, a: calls.append(1) or kernel(v, a))
    feed = {data: np.arange(12, dtype=np.float32).reshape(4, 3) - 5,
            ids: np.array([0, 0, 2, 2], np.int32)}
    with ng.Session(backend="cpu") as s:
        got = s.run(y, feed)
    with ng.Session(backend="numpy") as s:
        want = s.run(y, feed)
    assert got.tobytes() == want.tobytes() and got.shape == (3, 3)
    assert calls, "the interpreter of a data-dependent signature did not use the kernel"
