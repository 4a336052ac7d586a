"""What keeps the whole-plan functions (row-block plans, native lanes) cheap to compile:
their views made inline (kernels/cpu/carve.py, c_view), no slice assignments (Numba compiles
its string formatting for their shape-mismatch message), the blocks' partial sums added run by
run (compiler/emit_rowblock._combine).  Checked on the sources, on carve against NumPy's
views, and on a row-block plan whose sums over the rows have two dtypes (two runs) against
the NumPy backend."""
import re

import numpy as np
import pytest
from numba import njit
from pinn_case import matmul_plan, small_pinn

import numgrad as ng
from numgrad import config
from numgrad.backends import cpu_native, cpu_rowblock
from numgrad.kernels.cpu import blas_call
from numgrad.kernels.cpu.carve import carve

pytestmark = [pytest.mark.backend_independent,          # see tests/conftest.py
              pytest.mark.skipif(not blas_call.available(), reason=blas_call.describe())]

ROWS_ON = dict(NUMGRAD_ROW_LANES="on", NUMGRAD_NATIVE_PLAN="off", NUMGRAD_INTERPRET_CALLS=0)


@njit(cache=False)
def _carved(buf, offset, rows, cols):
    a = carve(buf, offset, (rows, cols), np.float32)
    b = carve(buf, offset, (rows * cols,), np.float32)
    return a, b


def test_carve_is_numpys_view_of_the_bytes():
    buf = np.arange(256, dtype=np.uint8)
    a, b = _carved(buf, 64, 3, 4)
    want = buf[64:64 + 48].view(np.float32).reshape(3, 4)
    assert a.flags.c_contiguous and a.strides == want.strides
    assert np.array_equal(a.view(np.uint32), want.view(np.uint32))
    assert np.array_equal(b.view(np.uint32), want.reshape(12).view(np.uint32))
    a[1, 2] = 7.5                               # a view: writes reach the buffer
    assert buf[64:64 + 48].view(np.float32)[6] == 7.5


def test_carve_keeps_a_read_only_buffer_read_only():
    buf = np.zeros(64, np.uint8)
    buf.flags.writeable = False
    assert not _carved(buf, 0, 2, 2)[0].flags.writeable



@pytest.fixture(scope="module")
def pinn_plan():
    graph = ng.Graph()
    with graph.as_default():
        fetches, feed, _ = small_pinn(24)
        sess = ng.Session(backend="cpu", graph=graph)
        sess.run(ng.global_variables_initializer())
    with config.override(NUMGRAD_NATIVE_PLAN="off", NUMGRAD_ROW_LANES="off",
                         NUMGRAD_INTERPRET_CALLS=0):
        sess.run(fetches, feed)
    return matmul_plan(sess)


# a slice assignment (``a[...] = b`` with a slice in the index), an in-place array operation,
# or NumPy's reshape / view methods
_SLOW = [re.compile(r"\[[^\]]*:[^\]]*\]\s*(\+|-|\*)?=(?!=)"), re.compile(r"\.reshape\("),
         re.compile(r"\.view\(")]


def _body(src):
    return src[src.index("@njit"):]


@pytest.mark.parametrize("columns", [True, False])
def test_row_block_sources_make_views_inline_and_copy_element_by_element(pinn_plan, columns,
                                                                         monkeypatch):
    monkeypatch.setattr(cpu_rowblock, "COLUMNS", columns)
    made = cpu_rowblock.RowPlan(pinn_plan, 2, load=False)
    assert made.columns == columns
    for name, src in made.sources.items():
        for pattern in _SLOW:
            assert not pattern.search(_body(src)), (name, pattern.pattern)
    assert "carve(" in made.sources["rows"]


def test_lane_sources_make_views_inline_and_copy_element_by_element(pinn_plan):
    made = cpu_native.NativePlan(pinn_plan, cpu_native.estimated_costs(pinn_plan), 2,
                                 load=False)
    for src in made.sources.values():
        for pattern in _SLOW:
            assert not pattern.search(_body(src)), pattern.pattern


def test_sums_over_the_rows_of_two_dtypes_add_up_per_run(rng, monkeypatch):
    """float32 and int32 sums over the rows in one row-block plan: two runs of partials,
    each added block by block (40 rows in blocks of 8 on two threads)."""
    n = 40
    x = ng.placeholder(ng.float32, [n, 3])
    k = ng.placeholder(ng.int32, [n, 2])
    w = ng.constant(rng.normal(size=(3, 4)).astype(np.float32))
    h = ng.matmul(x, w)
    fetches = [ng.reduce_sum(h * h, axis=0), ng.reduce_sum(k * 3, axis=0),
               ng.reduce_sum(ng.tanh(h), axis=0), ng.reduce_sum(k, axis=0)]
    feed = {x: rng.normal(size=(n, 3)).astype(np.float32),
            k: rng.integers(-9, 10, size=(n, 2)).astype(np.int32)}
    want = ng.Session(backend="numpy").run(fetches, feed)
    sess = ng.Session(backend="cpu")
    monkeypatch.setattr(cpu_rowblock, "BLOCK_ROWS", 8)
    with config.override(**ROWS_ON):
        got = sess.run(fetches, feed)
        again = sess.run(fetches, feed)
    plan = matmul_plan(sess)
    rows = plan._native.rows
    assert rows.reason is None and rows.native is not None, rows.describe_own()
    assert rows.native.completed == 2 and rows.native.blocks == 5
    dtypes = {plan._values[vid].dtype for vid in rows.native.layout_rows.partials}
    assert dtypes == {np.dtype(np.float32), np.dtype(np.int32)}
    for g, a, r in zip(got, again, want):
        assert g.dtype == r.dtype and np.array_equal(g, a)
        if r.dtype.kind == "i":
            assert np.array_equal(g, r)
        else:
            np.testing.assert_allclose(g, r, rtol=1e-5, atol=1e-5)
