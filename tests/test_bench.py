"""The benchmark table runs (so it cannot rot) and its workloads agree with NumPy by hand."""
import json
import pathlib
import sys

import numpy as np
import pytest

import numgrad as ng
from numgrad import bench


@pytest.fixture(autouse=True)
def short_timings(monkeypatch):
    """The table's timings as short as they go (its `repeat` calls, no minimum seconds; a 24 MB
    triad instead of 480 MB): these tests check the table, not the times (the file's CPU s,
    cold cache: 6.5, 6.5 -> 4.8, 4.1)."""
    monkeypatch.setattr(bench, "MIN_TIME", 0.0)
    monkeypatch.setattr(bench, "TRIAD_N", 10 ** 6)


@pytest.mark.parametrize("name", ["W4", "W5"])
def test_workload_matches_numpy_by_hand(name):
    ng.reset_default_graph()
    fetches, feeds, data = bench.WORKLOADS[name][0](ng)
    if name == "W5":     # a smaller cluster keeps the test fast
        fetches, feeds, data = bench.w5(ng, n=27)
    out = ng.Session().run(fetches, dict(zip(feeds, data)))
    ref = bench.WORKLOADS[name][1](*data)
    bench.check(out, ref, 1e-9)


def _table(text, first_column):
    """{column: cell} of the table row starting with `first_column`, from printed `text`."""
    lines = text.splitlines()
    head = next(i for i, ln in enumerate(lines) if ln.split("|")[0].strip() == "workload")
    cols = [c.strip() for c in lines[head].split("|")]
    row = next(ln for ln in lines[head + 1:] if ln.split("|")[0].strip() == first_column)
    return dict(zip(cols, (c.strip() for c in row.split("|"))))


def test_bench_table_prints(capsys, tmp_path, monkeypatch):
    checked = []
    real_check = bench.check

    def check(out, ref, rtol):              # the table's numbers are of right results
        checked.append((len(out), len(ref), rtol))
        return real_check(out, ref, rtol)
    monkeypatch.setattr(bench, "check", check)
    path = tmp_path / "w4.json"
    bench.main(["--only", "W4", "--no-compile", "--quick", "--no-peers", "--json", str(path)])
    text = capsys.readouterr().out
    assert checked == [(3, 3, 1e-8)]        # loss and both gradients against NumPy by hand
    result = json.loads(path.read_text())
    row, = result["rows"]
    assert row["workload"] == "W4"
    bw = float(text.split("Numba triad bandwidth:")[1].split("GB/s")[0])
    assert bw == pytest.approx(result["triad_GBps"], abs=0.051) and 0.1 < bw < 10000
    cells = _table(text, "W4")
    for col in ["numpy_ms", "numgrad_ms", "speedup_vs_numpy", "peak_temp_MB", "temp_over_io"]:
        assert float(cells[col]) == pytest.approx(row[col], rel=1e-2, abs=1e-3), col
    for col in ["x_bound", "cold_s", "warm_s", "first_call_ms"]:
        assert cells[col] == "-", col       # not W1; --no-compile
    # a W4 call takes microseconds, not nothing, not seconds; the ratio is of the two times
    assert 1e-4 < row["numgrad_ms"] < 100 and 1e-4 < row["numpy_ms"] < 100
    assert row["speedup_vs_numpy"] == pytest.approx(row["numpy_ms"] / row["numgrad_ms"])
    assert row["peak_temp_MB"] >= 0 and row["temp_over_io"] >= 0


def test_w4_first_call_with_defaults_runs_in_a_fresh_process(tmp_path):
    # W4 is a small plan: with the defaults its first call is interpreted (no compile), so
    # this is cheap; the compile columns set NUMGRAD_INTERPRET_CALLS=0 in their processes.
    # (interpreted: well under the seconds a compile takes)
    assert 0 < bench.first_call_seconds("W4", str(tmp_path), compile_at_once=False) < 1.0
    # nothing was compiled, nor even written to the cache
    assert not list(tmp_path.rglob("*.py")) and not list(tmp_path.rglob("*.nbi"))


def test_warm_up_reaches_the_plan_function(switches):
    switches(INTERPRET_CALLS=100)    # the default, which conftest turns off
    ng.reset_default_graph()
    fetches, feeds, data = bench.WORKLOADS["W4"][0](ng)
    sess = ng.Session(backend="cpu")
    bench.warm_up(sess.make_callable(fetches, feeds), data)
    plans = [cp for p in sess._plans.values() for cp in p._compiled.values()]
    assert len(plans) == 1 and plans[0].fused_call


def test_w3_numpy_gradients_are_right():
    """The hand-written NumPy reference itself is checked against finite differences."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5))
    y = np.eye(3)[[0, 2, 1, 0]]
    W1, b1 = rng.standard_normal((5, 6)) * 0.3, rng.standard_normal(6) * 0.1
    W2, b2 = rng.standard_normal((6, 3)) * 0.3, rng.standard_normal(3) * 0.1
    loss, gW1, *_ = bench.w3_numpy(x, y, W1, b1, W2, b2)
    eps = 1e-6
    W1p = W1.copy()
    W1p[2, 3] += eps
    W1m = W1.copy()
    W1m[2, 3] -= eps
    fd = (bench.w3_numpy(x, y, W1p, b1, W2, b2)[0] - bench.w3_numpy(x, y, W1m, b1, W2, b2)[0]) / (2 * eps)
    assert abs(fd - gW1[2, 3]) < 1e-7


def test_cpu_steal_is_read_from_proc_stat(tmp_path, monkeypatch):
    ticks = bench.cpu_steal_ticks()
    if ticks is None:
        pytest.skip("no /proc/stat")
    steal, total = ticks
    assert 0 <= steal <= total
    import builtins
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda p, *a, **k: real_open(tmp_path / "missing") if p == "/proc/stat" else real_open(p, *a, **k))
    assert bench.cpu_steal_ticks() is None


def test_asv_call_overhead_benchmark_runs():
    # benchmarks/ is not a package on the path in CI: load it by file, as asv does.
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_workloads.py")
    spec = importlib.util.spec_from_file_location("bench_workloads_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    b = module.CallOverhead()
    b.setup()
    b.time_session_run()
    b.time_make_callable()
    b.time_session_run_nested()
    b.time_make_callable_nested()
    by_run = b.sess.run(b.fetches, b.feed_dict)
    by_callable = b.fn(*b.data)
    nested = b.sess.run(b.nested, b.feed_dict)
    nested_by_callable = b.nested_fn(*b.data)
    for r, c, n, m in zip(by_run, by_callable, [nested[0]] + nested[1],
                          [nested_by_callable[0]] + nested_by_callable[1]):
        np.testing.assert_array_equal(r, c)
        np.testing.assert_array_equal(r, n)
        np.testing.assert_array_equal(r, m)
    ref = bench.WORKLOADS["W4"][1](*b.data)
    for r, e in zip(by_run, ref):
        np.testing.assert_allclose(r, e, rtol=1e-9)


def test_peer_columns_in_the_table(monkeypatch, capsys):
    # CI installs no peer: a stand-in peer checks the table's peer columns and the ratio
    bench_peers = bench.peers_module()
    monkeypatch.setattr(bench_peers, "available_peers", lambda: ["jax", "torch"])
    monkeypatch.setattr(bench_peers, "peer_info", lambda p: {"version": "0"})

    def measure(peer, name, data, ref=None, quick=False):
        if peer == "torch":
            raise RuntimeError("unsupported here")
        return {"ms": 1.0, "first_call_s": 0.5}

    monkeypatch.setattr(bench_peers, "measure", measure)
    assert bench.peer_names("torch,pytensor") == ["torch"]
    result = bench.run(["W4"], quick=True, compile_times=False, peers=bench.peer_names())
    row, = result["rows"]
    assert row["jax_ms"] == 1.0 and row["torch_ms"] == "failed"
    assert row["best_peer_over_numgrad"] == 1.0 / row["numgrad_ms"]
    bench.print_table(result)
    text = capsys.readouterr()
    assert "jax_ms" in text.out and "failed" in text.out and "torch failed on W4" in text.err


def test_peers_module_is_the_checkouts_and_absent_when_installed(monkeypatch, tmp_path, capsys):
    mod = bench.peers_module()
    assert mod is not None and pathlib.Path(mod.__file__) == bench.PEERS_FILE
    assert bench.PEERS_FILE.parent.name == "benchmarks" and bench.peers_module() is mod
    # an installed numgrad has no benchmarks/ beside it: no peer columns, and a note saying why
    monkeypatch.delitem(sys.modules, "benchmarks.bench_peers")
    monkeypatch.setattr(bench, "PEERS_FILE", tmp_path / "benchmarks" / "bench_peers.py")
    assert bench.peers_module() is None
    assert bench.peer_names() == []
    err = capsys.readouterr().err
    assert "no peer columns" in err and "bench_peers.py is missing" in err


def test_busy_table_prints_quiet_and_busy_side_by_side(capsys, monkeypatch):
    started = []
    real_popen = bench.subprocess.Popen

    def popen(*a, **k):
        p = real_popen(*a, **k)
        started.append(p)
        return p
    monkeypatch.setattr(bench.subprocess, "Popen", popen)
    bench.main(["--busy", "--only", "W4", "--quick"])
    text = capsys.readouterr().out
    cells = {c: float(v) for c, v in _table(text, "W4").items() if c != "workload"}
    assert sorted(cells) == sorted(bench.BUSY_COLS[1:])
    for who in ("numgrad", "numpy"):
        quiet, busy = cells[f"{who}_quiet_ms"], cells[f"{who}_busy_ms"]
        assert 1e-4 < quiet < 100 and 1e-4 < busy < 100, cells     # W4: microseconds
        # the ratio column is the ratio of the two printed times (3 significant digits each)
        assert cells[f"{who}_busy_over_quiet"] == pytest.approx(busy / quiet, rel=2e-2)
    assert len(started) == 1 and started[0].poll() is not None     # the spinner is gone


def test_asv_busy_core_benchmark_runs():
    import importlib.util
    import os
    path = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "bench_workloads.py")
    spec = importlib.util.spec_from_file_location("bench_workloads_busy_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    b = module.BusyCore()
    b.setup("W3")
    try:
        assert b.spinner.proc.poll() is None            # spinning
        b.time_numgrad_busy("W3")
    finally:
        b.teardown("W3")
    assert b.spinner.proc.poll() is not None
