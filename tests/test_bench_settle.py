"""bench_timing.settle: a benchmark's warm-up rounds go on until two rounds in a row compiled
nothing (no compile worker left running, no Numba compile in the process)."""
import pytest

from numgrad.bench_timing import settle

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _script(busy, compiled=()):
    """run_round, wait and compiles for rounds whose wait_all returns busy[i] and in which
    Numba compiled if i is in `compiled`."""
    state = {"round": 0, "compiles": 0}

    def run_round():
        if state["round"] in compiled:
            state["compiles"] += 1
        state["round"] += 1

    def wait():
        i = state["round"] - 1
        return busy[i] if i < len(busy) else 0
    return run_round, wait, lambda: state["compiles"], state


def test_rounds_go_on_while_workers_run():
    # the first calls start the kernels' workers, the next ones (compiled kernels, timed
    # steps) start the lanes' workers: two quiet rounds after those
    run_round, wait, compiles, state = _script([2, 0, 2, 0, 0, 0])
    assert settle(run_round, wait, compiles) == 5
    assert state["round"] == 5


def test_a_compile_in_the_process_is_not_quiet():
    run_round, wait, compiles, state = _script([1], compiled={1, 3})
    assert settle(run_round, wait, compiles) == 6


def test_it_gives_up_after_max_rounds():
    run_round, wait, compiles, state = _script([1] * 100)
    assert settle(run_round, wait, compiles, max_rounds=7) is None
    assert state["round"] == 7


def test_numba_compiles_are_counted_by_default():
    from numba import njit
    made = []

    def run_round():
        if len(made) < 2:           # a new function compiled in each of the first two rounds
            f = njit(lambda x, k=len(made): x + k)
            f(1.0)
            made.append(f)
    assert settle(run_round, wait=lambda: 0) == 4
