"""numgrad/bench_compile.py: first calls in fresh processes (no timings are checked)."""
import pytest

from numgrad import bench_compile

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def test_every_workload_has_a_first_call_script():
    assert list(bench_compile.BUILD) == ["W1 f64 1e6", "W2", "W3", "W4", "W5", "W6", "W7"]
    for name, code in bench_compile.BUILD.items():
        compile(code + bench_compile.TIMED, name, "exec")


def test_first_call_in_a_fresh_process_and_its_row(tmp_path):
    # W4 with the defaults is interpreted: no compile, so this stays cheap
    seconds, cpu = bench_compile.first_call("W4", bench_compile.HERE, str(tmp_path), False,
                                            cpu=True)
    assert seconds > 0 and cpu > 0
    assert not list(tmp_path.glob("numgrad_k_*.py"))      # nothing compiled nor cached
    row = bench_compile._row("W4", "/x/main", [(1.0, 0.1, seconds), (3.0, 0.3, seconds)], True)
    cells = [c.split() for c in row.split("|")]
    assert cells[0] == ["W4"] and cells[1] == ["main"]
    assert cells[2] == ["1.00", "2.00"] and cells[3] == ["0.10", "0.20"]


def test_cold_kernels_cache_keeps_only_the_vecmath_wrappers(tmp_path):
    src, dst = tmp_path / "src", tmp_path / "dst"
    (src / "__pycache__").mkdir(parents=True)
    dst.mkdir()
    (src / "numgrad_k_aa.py").write_text("def tanh_f64(x):\n    vm._always_inline()\n")
    (src / "numgrad_k_bb.py").write_text("def kernel(x):\n    return vmc.tanh_f64(x)\n")
    for stem in ("numgrad_k_aa", "numgrad_k_bb"):
        (src / "__pycache__" / f"{stem}.f-1.py311.nbi").write_text("index")
    bench_compile._copy_vecmath_wrappers(str(src), str(dst))
    assert sorted(p.name for p in dst.iterdir()) == ["__pycache__", "numgrad_k_aa.py"]
    assert [p.name for p in (dst / "__pycache__").iterdir()] == ["numgrad_k_aa.f-1.py311.nbi"]


def test_the_warm_rows_give_wall_and_cpu_of_both_warm_columns():
    samples = [((1.0, 0.5), (0.2, 0.1)), ((3.0, 1.5), (0.4, 0.3))]
    row = bench_compile._warm_row("W6", "/x/warm1", samples, True)
    cells = [c.split() for c in row.split("|")]
    assert cells[:2] == [["W6"], ["warm1"]]
    assert cells[2:] == [["1.000", "2.000"], ["0.500", "1.000"], ["0.200", "0.300"],
                         ["0.100", "0.200"]]


def test_measure_gives_cpu_seconds_with_cpu(monkeypatch):
    calls = []

    def first_call(name, root, cache_dir, compile_at_once, cpu=False):
        calls.append((compile_at_once, cpu))
        return (2.0, 0.5) if cpu else 2.0

    monkeypatch.setattr(bench_compile, "first_call", first_call)
    monkeypatch.setattr(bench_compile, "_copy_vecmath_wrappers", lambda src, dst: None)
    assert bench_compile.measure("W4", "/x", cpu=True) == (0.5,) * 5
    assert bench_compile.measure("W4", "/x") == (2.0,) * 5
    assert [c[1] for c in calls] == [True] * 5 + [False] * 5
