"""The PyTorch / JAX / PyTensor peers of the benchmark table compute what the NumPy references
compute.

Each peer is optional: its tests skip when its package is not installed (CI installs none).
torch.compile's first compile in a process takes 10-20 s (Inductor start-up, then about 1-2 s a
workload), so its tests are marked ``slow`` and run only with NUMGRAD_SLOW=1.  PyTensor's
compilations are cached on disk (``~/.pytensor``): with an empty cache its tests take 1-10 s each
(W3 in the C backend the longest), with a warm one well under 1 s.
"""
import functools
import subprocess
import sys

import numpy as np
import pytest

import numgrad as ng
from numgrad import bench, config

bench_peers = bench.peers_module()      # benchmarks/bench_peers.py of this checkout

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


@functools.lru_cache(maxsize=None)
def _available():
    return tuple(bench_peers.available_peers())


def _require(peer):
    if peer not in _available():
        pytest.skip(f"{peer} is not installed here")


# workload name -> (small inputs, rtol); the peer implementation is chosen by the name's prefix
SMALL = {
    "W1 f64 1e6": (lambda: bench.w1(ng, 1000, np.float64)[2], 1e-9),
    "W1 f32 1e6": (lambda: bench.w1(ng, 1000, np.float32)[2], 1e-4),
    "W2": (lambda: [a.astype(np.float32) for a in _small_data("W2")], 1e-4),
    "W3": (lambda: bench.w3(ng)[2], 1e-4),
    "W4": (lambda: bench.w4(ng)[2], 1e-9),
    "W5": (lambda: bench.w5(ng, n=27)[2], 1e-9),
}

slow_compile = [
    pytest.mark.slow,
    pytest.mark.skipif(not config.get("NUMGRAD_SLOW"),
                       reason="torch.compile compiles for 10-20 s; set NUMGRAD_SLOW=1 to run"),
]
PEERS = ["torch", "jax", pytest.param("torch.compile", marks=slow_compile),
         "pytensor", "pytensor-numba", "numba-hand"]


def _check_peer(peer, name):
    _require(peer)
    ng.reset_default_graph()
    make_data, rtol = SMALL[name]
    data = make_data()
    ref = bench.WORKLOADS[name][1](*data)
    fn = bench_peers.make_peer(peer, name, data)
    out = bench_peers.to_numpy(peer, fn())
    assert len(out) == len(ref)
    for o, r in zip(out, ref):
        assert np.shape(o) == np.shape(r)
        assert np.asarray(o).dtype == np.asarray(data[0]).dtype
    bench.check(out, ref, rtol)
    # a second call (what the timings repeat) gives the same values
    bench.check(bench_peers.to_numpy(peer, fn()), ref, rtol)


# The hand-written Numba peer's W2 and W3 kernels compile for 6-8 CPU s each (cold): the
# default run checks that peer on the other workloads, NUMGRAD_SLOW=1 on all (a benchmark run
# checks every peer's values against the NumPy reference as well).
slow_hand = [
    pytest.mark.slow,
    pytest.mark.skipif(not config.get("NUMGRAD_SLOW"),
                       reason="a long Numba compile of a benchmark peer; NUMGRAD_SLOW=1 runs it"),
]


def _peer_cells():
    cells = []
    for peer in PEERS:              # a name, or a pytest.param of one with its marks
        peer, marks = (peer.values[0], list(peer.marks)) if hasattr(peer, "values") else (peer, [])
        for name in SMALL:
            slow = slow_hand if peer == "numba-hand" and name in ("W2", "W3") else []
            cells.append(pytest.param(peer, name, marks=marks + slow, id=f"{peer}-{name}"))
    return cells


@pytest.mark.parametrize("peer,name", _peer_cells())
def test_peer_matches_numpy_by_hand(peer, name):
    _check_peer(peer, name)


@pytest.mark.parametrize("peer", PEERS)
def test_first_call_seconds(peer, monkeypatch):
    _require(peer)
    data = bench.w4(ng)[2]
    firsts = []
    real_make = bench_peers.make_peer

    def make_peer(*args):                   # the call it times computes W4
        fn = real_make(*args)

        def first():
            firsts.append(bench_peers.to_numpy(peer, fn()))
            return firsts[-1]
        return first
    monkeypatch.setattr(bench_peers, "make_peer", make_peer)
    seconds = bench_peers.peer_compile_seconds(peer, "W4", data)
    assert 0 < seconds < 600 and len(firsts) == 1
    bench.check(firsts[0], bench.w4_numpy(*data), 1e-9)


class _NumpyNS:
    """The array namespace the peer workloads are written against, in NumPy."""
    def __getattr__(self, name):
        return getattr(np, name)

    @staticmethod
    def sigmoid(x):
        return 1 / (1 + np.exp(-x))

    @staticmethod
    def log_softmax(x, axis):
        m = np.max(x, axis=axis, keepdims=True)
        return x - m - np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))


def _small_data(name):
    if name.startswith("W1"):
        return bench.w1(ng, 1000, np.float32 if "f32" in name else np.float64)[2]
    if name == "W2":
        rng = np.random.default_rng(0)
        return [rng.standard_normal((8, 6)), rng.standard_normal(6)]
    return SMALL[name][0]()


def test_every_workload_has_a_peer_implementation():
    # each workload's peer loss, run in NumPy, is the NumPy reference's loss
    for name in bench.WORKLOADS:
        loss, argnums, consts, finish = bench_peers._spec(name)   # KeyError when one is missing
        ng.reset_default_graph()
        data = [np.asarray(d, np.float64) for d in _small_data(name)]
        ref = bench.WORKLOADS[name][1](*data)
        assert len(ref) == (1 + len(argnums)), name
        got = loss(_NumpyNS(), *data, *(consts(data) if consts else []))
        np.testing.assert_allclose(got, ref[0], rtol=1e-10, err_msg=name)
        assert finish([1.0, 2.0]) in ([1.0, 2.0], [-1.0, -2.0])


def test_unknown_peer_is_an_error():
    with pytest.raises(ValueError):
        bench_peers.make_peer("tensorflow", "W4", [np.zeros(16), np.zeros(16)])


def test_import_needs_neither_torch_nor_jax_nor_pytensor():
    # importing imports none of them; with all unimportable, only hand-written Numba (numgrad's
    # own dependency) is available, and there is no error
    code = ("import sys\n"
            "from numgrad import bench\n"
            "bp = bench.peers_module()\n"
            "assert not {'torch', 'jax', 'pytensor'} & set(sys.modules)\n"
            "sys.modules['torch'] = sys.modules['jax'] = sys.modules['pytensor'] = None\n"
            "assert bp.available_peers() == ['numba-hand'], bp.available_peers()\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


@pytest.mark.parametrize("peer", ["pytensor", "pytensor-numba"])
def test_pytensor_peer_info(peer):
    _require(peer)
    info = bench_peers.peer_info(peer)
    assert info["mode"] == {"pytensor": "CVM", "pytensor-numba": "NUMBA"}[peer]
    assert info["version"]


@pytest.mark.parametrize("peer", ["pytensor", "pytensor-numba"])
def test_pytensor_compiles_on_the_first_call(peer):
    # make_peer only converts; graph, gradients and compilation happen in the first call, which
    # peer_compile_seconds times
    _require(peer)
    import pytensor
    made = []
    real = pytensor.function

    def spy(*args, **kwargs):
        made.append(kwargs.get("mode"))
        return real(*args, **kwargs)
    data = bench.w4(ng)[2]
    try:
        pytensor.function = spy
        fn = bench_peers.make_peer(peer, "W4", data)
        assert made == []
        fn()
        fn()
    finally:
        pytensor.function = real
    assert made == [{"pytensor": "CVM", "pytensor-numba": "NUMBA"}[peer]]


def test_numba_hand_keeps_the_fastest_of_its_kernels():
    # the parallel and serial builds (and W5's pairs-once form) are timed on the data; the
    # call says which it kept
    data = SMALL["W5"][0]()
    fn = bench_peers.make_peer("numba-hand", "W5", data)
    assert fn.choice[0] in ("w5", "w5_pairs_once") and fn.choice[1] in ("parallel", "serial")
    bench.check(bench_peers.to_numpy("numba-hand", fn()), bench.w5_numpy(*data), 1e-9)
