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
    fn = malloc_tuning._glibc_mallopt()
    assert fn is None or callable(fn)
