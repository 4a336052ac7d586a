"""The cpu backend's UnsortedSegmentSum kernel (numgrad/kernels/cpu/segment.py) against the
op's NumPy reference (np.add.at): bit-identical results, the reference's errors."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import InvalidArgumentError
from numgrad.kernels.cpu import segment
from numgrad.ops.registry import get_op_def

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _reference(data, ids, num):
    return get_op_def("UnsortedSegmentSum").compute([data, ids, np.array(num)], {})[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.int64])
@pytest.mark.parametrize("ids_shape, tail", [((40,), (3,)), ((5, 8), (2, 3)), ((30,), ()),
                                             ((0,), (4,)), ((6,), (0,))])
def test_matches_np_add_at_bit_for_bit(dtype, ids_shape, tail, rng):
    num = 7
    ids = rng.integers(-2, num, ids_shape).astype(np.int64)        # repeats and negatives
    data = (rng.standard_normal(ids_shape + tail) * 100).astype(dtype)
    out, = segment.unsorted_segment_sum([data, ids.astype(np.int32), np.array(num)], {})
    ref = _reference(data, ids, num)
    assert out.dtype == ref.dtype and out.shape == ref.shape
    np.testing.assert_array_equal(out, ref)


def test_strided_data_and_nan():
    data = np.arange(24.0).reshape(6, 4)[:, ::2].copy()
    data[1, 0] = np.nan
    view = np.arange(48.0).reshape(6, 8)[:, ::4]                 # not contiguous
    ids = np.array([0, 0, 2, 1, 2, 0])
    for d in (data, view):
        out, = segment.unsorted_segment_sum([d, ids, np.array(3)], {})
        np.testing.assert_array_equal(out, _reference(d, ids, 3))


def test_cases_left_to_the_reference():
    ids = np.array([0, 3])
    assert segment.unsorted_segment_sum([np.ones((2, 2)), ids, np.array(3)], {}) is None
    assert segment.unsorted_segment_sum([np.ones(2, np.complex128), ids, np.array(5)], {}) is None
    assert segment.unsorted_segment_sum([np.ones(2), ids, np.array(-1)], {}) is None


def test_session_uses_it_and_raises_the_references_error(rng, monkeypatch):
    calls = []
    real = segment._add_rows
    monkeypatch.setattr(segment, "_add_rows", lambda *a: calls.append(1) or real(*a))
    data = ng.placeholder(ng.float32, [50, 8])
    ids = ng.placeholder(ng.int32, [50])
    out = ng.unsorted_segment_sum(data, ids, 20)
    d = rng.standard_normal((50, 8)).astype(np.float32)
    i = rng.integers(0, 20, 50).astype(np.int32)
    for backend in ("cpu", "numpy"):
        s = ng.Session(backend=backend)
        np.testing.assert_array_equal(s.run(out, {data: d, ids: i}), _reference(d, i, 20))
        bad = i.copy()
        bad[3] = 20
        with pytest.raises(InvalidArgumentError, match="segment id 20 is not in"):
            s.run(out, {data: d, ids: bad})
        assert len(calls) == 1      # the cpu run used the kernel; the numpy one did not
