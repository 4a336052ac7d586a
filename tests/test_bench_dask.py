"""W10 (numgrad/bench_dask.py) runs end to end at a tiny size and its columns agree (the bench
checks every column's loss and gradient against the local numgrad run).

One worker, four chunks: every column still splits the rows into phases of several chunks and
combines their partials; a second worker process would only start Python, Dask and numgrad and
load the kernels once more (cold, CPU s of the run: 7.8, 8.4 with two workers against 4.8, 5.1
with one).  tests/test_scaleout_dask.py checks that one and two workers give the same bits."""
import pytest
from lazy_module import installed


@pytest.mark.skipif(not installed("dask", "distributed"), reason="needs dask and distributed")
def test_bench_dask_small():
    from numgrad import bench_dask
    lines = []
    times = bench_dask.run(rows=4000, chunk=1000, workers=1, repeats=1, out=lines.append)
    assert set(times) == {"numgrad local", "numgrad dask", "dask.array by hand",
                          "phase overhead"}
    assert all(t > 0 for t in times.values())
    assert lines[0].startswith("W10") and len(lines) == 7
