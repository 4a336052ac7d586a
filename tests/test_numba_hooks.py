"""numba_hooks: what numgrad's hooks into Numba share."""
import threading

import pytest

from numgrad import numba_hooks

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def test_numgrads_prefixes():
    assert numba_hooks.numgrads("numgrad_k_0123abcd")
    assert numba_hooks.numgrads("numgrad.kernels.cpu.softmax")
    assert not numba_hooks.numgrads("numgradient_tools")
    assert not numba_hooks.numgrads("users_model")
    assert not numba_hooks.numgrads(None)


def test_once_runs_once_across_threads():
    calls = []
    started = threading.Barrier(8)

    @numba_hooks.once
    def install():
        calls.append(threading.get_ident())

    def call():
        started.wait()
        install()

    workers = [threading.Thread(target=call) for _ in range(8)]
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    install()
    assert len(calls) == 1
    assert install.__name__ == "install"


def test_once_does_not_count_a_call_that_raised():
    calls = []

    @numba_hooks.once
    def install():
        calls.append(None)
        if len(calls) == 1:
            raise RuntimeError("first try fails")

    with pytest.raises(RuntimeError):
        install()
    install()
    install()
    assert len(calls) == 2
