"""numgrad/malloc_tuning.py: the first step-by-step cpu run raises glibc's mmap and trim
thresholds, both or neither, once per process, unless NUMGRAD_MALLOC_TUNING=0."""
import pytest

from numgrad import config, malloc_tuning

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


@pytest.fixture
def fresh():
    saved = malloc_tuning._done
    malloc_tuning._reset_for_tests()
    yield
    malloc_tuning._done = saved


def _recorder(ok=1):
    calls = []

    def mallopt(param, value):
        calls.append((param, value))
        return ok
    return mallopt, calls


def test_both_thresholds_are_set_once(fresh):
    mallopt, calls = _recorder()
    assert malloc_tuning.tune_once(mallopt)
    assert not malloc_tuning.tune_once(mallopt)
    assert calls == [(malloc_tuning.M_MMAP_THRESHOLD, 32 << 20),
                     (malloc_tuning.M_TRIM_THRESHOLD, 256 << 20)]


def test_the_switch_leaves_the_allocator_alone(fresh):
    mallopt, calls = _recorder()
    with config.override(NUMGRAD_MALLOC_TUNING=False):
        assert not malloc_tuning.tune_once(mallopt)
    assert calls == []


def test_a_refused_mmap_threshold_sets_no_trim_threshold(fresh):
    # one threshold alone makes things worse (the module docstring): both or neither
    mallopt, calls = _recorder(ok=0)
    assert not malloc_tuning.tune_once(mallopt)
    assert calls == [(malloc_tuning.M_MMAP_THRESHOLD, 32 << 20)]


def test_glibc_is_found_here_or_nothing_is_done():
    import platform
    fn = malloc_tuning._glibc_mallopt()
    assert fn is None or callable(fn)
    if platform.libc_ver()[0] == "glibc":       # found among the process's own symbols
        assert fn is not None


@pytest.mark.parametrize("backend, tuned", [("cpu", True), ("cpu-stable", False)])
def test_cpu_plans_tune_and_stable_ones_do_not(fresh, monkeypatch, backend, tuned):
    """A Dask worker runs cpu-stable plans, and its memory manager pauses a worker whose
    resident size stays high: freed memory kept mapped hung the Dask example."""
    import numpy as np
    import numgrad as ng
    seen = []
    monkeypatch.setattr(malloc_tuning, "tune_once", lambda *a: seen.append(1) or True)
    x = ng.placeholder(ng.float64, [100000])
    y = ng.reduce_sum(ng.sin(x) * x)
    with ng.Session(backend=backend) as s:
        s.run([y, ng.gradients(y, x)[0]], {x: np.linspace(0, 1, 100000)})
    assert bool(seen) == tuned
