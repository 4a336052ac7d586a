"""numgrad/bench_fetch.py: every column computes W4's loss and gradients (the nested ones as
the flat ones, in order, and as NumPy by hand), the keyed session really builds its key on each
call and the other does not, and the table and the ratios have their rows."""
import numpy as np
import pytest

from numgrad import bench, bench_fetch, run_keys, session

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def test_columns_agree_and_are_timed(monkeypatch):
    columns, results = bench_fetch.calls("cpu")
    assert list(columns) == list(results)
    _, _, data = bench.WORKLOADS["W4"][0](__import__("numgrad"))
    want = bench.w4_numpy(*data)
    for name, result in results.items():
        leaves = bench_fetch.flat_leaves(result)
        assert len(leaves) == 3, name
        for got, w in zip(leaves, want):
            np.testing.assert_allclose(got, w, rtol=1e-12, atol=1e-14)
    keyed = []
    monkeypatch.setattr(session, "run_key", lambda *a: keyed.append(1) or run_keys.run_key(*a))
    for name, call in columns.items():
        call()                      # (the session's last call was another column's)
        before = len(keyed)
        call()
        assert len(keyed) == before + name.endswith("keyed"), name
    table = bench_fetch.run(repeats=2, number=3, backend="cpu")
    assert list(table) == list(columns)
    assert all(0 < lo <= med for lo, med in table.values())
    assert len(bench_fetch.ratios(table)) == 4
