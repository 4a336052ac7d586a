"""W6 against its peers (numgrad/bench_w6.py): the parts that need no peer installed.

The peers themselves (benchmarks/bench_w6_peers.py) need PyTorch, TensorFlow or JAX, which CI
does not install: here stand-in peers check the checks, the cells and the ratios, and one
small real run checks the process per thread count with numgrad alone."""
import importlib.util
import json
import pathlib
import sys

import numpy as np
import pytest

import numgrad as ng
from numgrad import bench, bench_w6

SMALL = dict(n_f=32, layers=(2, 6, 6, 1))       # tests/test_bench_train.py's network


def test_parse_args():
    a = bench_w6.parse_args([])
    assert a.threads == [1, 2] and a.peers is None and not a.worker and not a.quick
    assert a.layers is None and a.n_f is None
    a = bench_w6.parse_args(["--threads", "2", "--peers", "tf-xla,jax", "--quick",
                             "--layers", "2,6,1", "--n-f", "40"])
    assert a.threads == [2] and a.peers == ["tf-xla", "jax"] and a.quick
    assert a.layers == (2, 6, 1) and a.n_f == 40
    assert bench_w6.parse_args(["--no-peers", "--peers", "jax"]).peers == []
    assert bench_w6.parse_args(["--peers", ""]).peers == []


def test_worker_command_and_its_environment(tmp_path):
    cmd = bench_w6.worker_command(1, ["torch", "jax"], True, tmp_path / "r.json",
                                  n_f=32, layers=(2, 6, 1))
    assert cmd[:3] == [sys.executable, "-m", "numgrad.bench_w6"]
    args = bench_w6.parse_args(cmd[3:])
    assert args.worker and args.threads == [1] and args.peers == ["torch", "jax"]
    assert args.quick and args.n_f == 32 and args.layers == (2, 6, 1)
    env = bench_w6.thread_env(3, {"PATH": "/bin", "OMP_NUM_THREADS": "8"})
    assert env == {"PATH": "/bin", "OMP_NUM_THREADS": "3", "OPENBLAS_NUM_THREADS": "3",
                   "MKL_NUM_THREADS": "3"}


class _Scaled:
    """Stand-in peer: numgrad's own calls, its gradients scaled by `factor` (1: right)."""

    def __init__(self, calls, factor):
        self.calls, self.factor = calls, factor
        self.train = calls.train
        self.to_numpy = calls.to_numpy

    def grads(self):
        loss, *g = self.calls.grads()
        return [loss] + [self.factor * x for x in g]


@pytest.fixture
def restore_threads():
    before = ng.get_num_threads()
    yield
    ng.set_num_threads(before)


def test_worker_checks_times_and_flags_its_stand_in_peers(restore_threads):
    made = []

    def make_peer(name, weights, data):
        made.append(name)
        if name == "broken":
            raise RuntimeError("no double backward\nsecond line")
        return _Scaled(bench_w6._NumgradCalls(weights, data), {"good": 1.0, "wrong": 1.1}[name])
    result = bench_w6.worker(1, ["good", "broken", "wrong"], quick=True, make_peer=make_peer,
                             **SMALL)
    assert made == ["good", "broken", "wrong"]
    assert result["threads"] == 1 and result["numgrad_threads"] == 1 and result["n_f"] == 32
    assert " -> " in result["load"]
    systems = result["systems"]
    assert list(systems) == ["numgrad", "good", "broken", "wrong"]
    assert systems["broken"] == "fails: RuntimeError: no double backward"
    assert systems["wrong"].startswith("fails: AssertionError: wrong's gradient 0 differs")
    for name in ("numgrad", "good"):
        for call in bench_w6.CALLS:
            e = systems[name][call]
            assert 0 < e["min_ms"] <= e["med_ms"] and e["cpu"] > 0
            assert e["over_limit"] == (e["cpu"] > bench_w6.OVER_LIMIT)
    rows, cols = bench_w6.table_rows([result])
    assert cols == ["threads", "call", "numgrad", "good", "broken", "wrong",
                    "best_peer_over_numgrad"]
    assert [(r["threads"], r["call"]) for r in rows] == [("1", "grads"), ("1", "train")]
    for r in rows:
        e, g = systems["numgrad"][r["call"]], systems["good"][r["call"]]
        lo, med = (float(x) for x in r["best_peer_over_numgrad"].split(" / "))
        assert lo == pytest.approx(g["min_ms"] / e["min_ms"], abs=6e-3)
        assert med == pytest.approx(g["med_ms"] / e["med_ms"], abs=6e-3)
        assert r["broken"] == systems["broken"]


def _entry(ms, cpu, threads):
    times = {c: [ms / 1e3, 2 * ms / 1e3, 3 * ms / 1e3] for c in bench_w6.CALLS}
    for c in bench_w6.CALLS:
        times[c + "_wall"] = 1.0
        times[c + "_cpu"] = cpu
    return bench_w6.summarise(times, threads)


def test_cells_ratios_and_the_thread_limit_flag(capsys):
    results = [{"threads": 1, "n_f": 10000, "numgrad_threads": 1, "blas_threads": [1],
                "limits": {}, "versions": {},
                "systems": {"numgrad": _entry(10.0, 1.0, 1), "fast": _entry(20.0, 1.6, 1),
                            "slow": _entry(40.0, 0.9, 1), "gone": "fails: X: y"}},
               {"threads": 2, "n_f": 10000, "numgrad_threads": 2, "blas_threads": [2],
                "limits": {}, "versions": {},
                "systems": {"numgrad": _entry(5.0, 1.9, 2), "fast": _entry(25.0, 2.0, 2),
                            "slow": _entry(30.0, 1.0, 2), "gone": "fails: X: y"}}]
    fast = results[0]["systems"]["fast"]["grads"]
    assert fast["min_ms"] == pytest.approx(20.0) and fast["med_ms"] == pytest.approx(40.0)
    assert fast["cpu"] == pytest.approx(1.6) and fast["over_limit"]
    assert not results[1]["systems"]["fast"]["grads"]["over_limit"]     # 2.0 at 2 threads
    rows, cols = bench_w6.table_rows(results)
    assert rows[0]["fast"] == "20 / 40 !" and rows[0]["slow"] == "40 / 80"
    assert rows[0]["gone"] == "fails: X: y"
    assert rows[0]["best_peer_over_numgrad"] == "2.00 / 2.00"      # fast, against 10 / 20
    assert rows[2]["best_peer_over_numgrad"] == "5.00 / 5.00"      # fast 25 / 50, 5 / 10
    bench_w6.print_table(results)
    out, err = capsys.readouterr()
    assert "20 / 40 !" in out and "cpu / wall at 1 threads" in out
    assert "W6 at 1 threads: fast used more than 1 threads" in err
    assert "at 2 threads" not in err


def test_run_makes_one_process_per_thread_count_numgrad_alone():
    results = bench_w6.run(threads=(1,), peers=(), quick=True, **SMALL)
    r, = results
    assert r["threads"] == 1 and r["numgrad_threads"] == 1 and list(r["systems"]) == ["numgrad"]
    assert r["blas_threads"] in (None, [], [1]) or set(r["blas_threads"]) == {1}
    for call in bench_w6.CALLS:
        assert 0 < r["systems"]["numgrad"][call]["min_ms"]


def test_run_says_which_process_failed(monkeypatch):
    monkeypatch.setattr(bench_w6, "worker_command",
                        lambda *a: [sys.executable, "-c", "import sys; sys.exit(3)"])
    with pytest.raises(RuntimeError, match="at 2 threads failed.*exit status 3"):
        bench_w6.run(threads=(2,))


def test_bench_prints_w6_after_w1_w5_or_alone(monkeypatch, capsys, tmp_path):
    calls = []
    canned = [{"threads": 1, "n_f": 10000, "numgrad_threads": 1, "blas_threads": None,
               "limits": {}, "versions": {}, "systems": {"numgrad": _entry(10.0, 1.0, 1)}}]

    def run(threads=bench_w6.THREADS, peers=(), quick=False, n_f=None, layers=None):
        calls.append((tuple(peers), quick))
        return canned
    monkeypatch.setattr(bench_w6, "run", run)
    path = tmp_path / "w6.json"
    bench.main(["--only", "W6", "--quick", "--no-peers", "--json", str(path)])
    out = capsys.readouterr().out
    assert calls == [((), True)]
    assert "W6 (Burgers PINN" in out and "triad" not in out       # W6 alone
    assert json.loads(path.read_text())["w6"] == canned
    for argv in (["--only", "W4"], ["--no-w6"], ["--only", "W6", "--no-w6"]):
        assert not bench.wants_w6(bench.parse_args(argv)), argv
    for argv in ([], ["--only", "W4,W6"], ["--quick"]):
        assert bench.wants_w6(bench.parse_args(argv)), argv


def test_asv_peer_benchmark_skips_an_absent_peer(monkeypatch):
    path = pathlib.Path(__file__).parent.parent / "benchmarks" / "bench_workloads.py"
    spec = importlib.util.spec_from_file_location("bench_workloads_w6_under_test", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    peers = module._w6_peers()
    assert module.TrainStepPeers.params == [list(peers.PEERS), ["grads", "train"]]
    monkeypatch.setattr(peers, "available_peers", lambda: [])
    with pytest.raises(NotImplementedError, match="tf-xla is not installed"):
        module.TrainStepPeers().setup("tf-xla", "grads")


def test_peers_module_names_what_it_can_make():
    mod = bench_w6.peers_module()
    assert mod is not None and pathlib.Path(mod.__file__) == bench_w6.PEERS_FILE
    assert set(mod.available_peers()) <= set(mod.PEERS)
    assert mod.PEERS.index("torch") < mod.PEERS.index("tf1")        # torch made before TF
    with pytest.raises(ValueError, match="unknown W6 peer 'mxnet'"):
        mod.make("mxnet", None, None)
    assert mod._adam(np.float32(1), 0.0, 0.0, np.float32(2), 1e-3)[0] == \
        pytest.approx(1 - 1e-3 * 0.2 / (np.sqrt(0.001 * 4) + 1e-8))
