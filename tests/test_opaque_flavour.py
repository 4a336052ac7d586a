"""Opaque kernels see their inputs read-only (kernels/cpu/flavour.py): one Numba signature for a
constant's value and a fed array, the caller's arrays untouched, and no read-only view in the
outputs."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import config
from numgrad.kernels.cpu import segment
from numgrad.kernels.cpu.flavour import read_only_inputs

pytestmark = pytest.mark.backend_independent


def test_inputs_arrive_read_only_and_the_callers_arrays_stay_writeable():
    seen = []

    def kernel(values, attrs):
        seen.extend(v.flags.writeable for v in values)
        return [values[0] * 2, values[1]]       # a new array, and an input as it is

    a, b = np.arange(3.0), np.ones(2)
    out = read_only_inputs(kernel)([a, b], {})
    assert seen == [False, False]
    assert a.flags.writeable and b.flags.writeable
    np.testing.assert_array_equal(out[0], [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(out[1], b)
    assert out[1].flags.writeable and not np.shares_memory(out[1], b)   # copied, not a view
    assert read_only_inputs(lambda values, attrs: None)([a], {}) is None


def test_a_constant_and_a_fed_operand_reach_the_kernel_alike(monkeypatch):
    flags = []
    real = segment._add_rows

    def recording(out, ids, data):
        flags.append((ids.flags.writeable, data.flags.writeable))
        return real(out, ids, data)

    monkeypatch.setattr(segment, "_add_rows", recording)
    x = np.arange(18.0).reshape(6, 3)
    ids = np.array([0, 1, 0, 2, 1, 0], np.int32)
    g = ng.Graph()
    with g.as_default():
        data = ng.placeholder(ng.float64, [6, 3])
        fed_ids = ng.placeholder(ng.int32, [6])
        by_constant = ng.math.unsorted_segment_sum(data, ng.constant(ids), 3)
        by_feed = ng.math.unsorted_segment_sum(data, fed_ids, 3)
    want = np.zeros((3, 3))
    np.add.at(want, ids, x)
    with config.override(NUMGRAD_INTERPRET_CALLS=0), ng.Session(graph=g, backend="cpu") as s:
        got = s.run([by_constant, by_feed], {data: x, fed_ids: ids})
    assert flags and all(f == (False, False) for f in flags), flags
    for r in got:
        np.testing.assert_array_equal(r, want)
        assert r.flags.writeable
    assert x.flags.writeable and ids.flags.writeable
