"""numgrad/bench_small_matmul.py: every Numba loop computes what BLAS (or the unfused plan)
computes, at sizes that leave partial row blocks, and the table has its rows and columns."""
import functools

import numpy as np
import pytest

from numgrad import bench_small_matmul as bsm

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def test_columns_agree_and_are_timed(monkeypatch):
    # bsm._kernels makes new dispatchers on every call: the table's run() below then reuses
    # the loops compiled here instead of compiling all eight again (cold, CPU s of the pytest
    # process: 12.2, 10.0 -> 9.4, 8.6)
    monkeypatch.setattr(bsm, "_kernels", functools.lru_cache(maxsize=None)(bsm._kernels))
    rows = 2 * bsm.BLOCK + 3                        # a partial block at the end
    calls, result = bsm._cases(rows, 3, 5)
    for name, columns in calls.items():
        for call in columns.values():
            call()
        first = result(name, next(iter(columns)))
        assert np.isfinite(first).all() and np.abs(first).max() > 0
        for column in columns:
            np.testing.assert_allclose(result(name, column), first, rtol=1e-5, atol=1e-5)
    table = bsm.run(rows, 3, 5, repeats=2)
    assert list(table) == list(calls)
    for name, cols in table.items():
        assert list(cols) == list(calls[name])
        assert all(0 < lo <= med for lo, med in cols.values())
