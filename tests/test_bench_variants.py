"""Every formulation variant of W1-W5 (numgrad/bench_variants.py) computes its workload's loss
and gradients: checked on the numpy backend against the workload's NumPy reference (the
timed comparison is `python -m numgrad.bench --variants`, not a test)."""
import pytest

import numgrad as ng
from numgrad import bench as B
from numgrad import bench_variants as V

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

CASES = [(w, label, build) for w, vs in V.VARIANTS.items() for label, build in vs]


@pytest.mark.parametrize("workload, label, build", CASES,
                         ids=[f"{w}-{label}" for w, label, _ in CASES])
def test_variant_computes_the_workload(workload, label, build):
    ng.reset_default_graph()
    fetches, feeds, data = build(ng)
    with ng.Session(backend="numpy") as s:
        got = s.run(fetches, dict(zip(feeds, data)))
    B.check(got, V._reference(workload, data), 1e-3 if workload in ("W2", "W3") else 1e-8)


def test_every_workload_has_at_least_two_more_formulations():
    for w, vs in V.VARIANTS.items():
        assert len(vs) >= 3, w


def test_interleaved_rounds_rotate_and_time_every_call():
    # a fake clock: each call of callable i takes i + 1 units; the log records the order
    now, log = [0.0], []

    def make(i):
        def fn(tag):
            log.append(tag)
            now[0] += i + 1
        return fn, (i,)
    seconds = V.interleaved([make(0), make(1), make(2)], seconds=20.0, min_rounds=2,
                            clock=lambda: now[0])
    # rounds of one call each, starting one later each round, until 3 * 20 units passed
    assert log[:9] == [0, 1, 2, 1, 2, 0, 2, 0, 1]
    assert len(log) == 3 * 10 and [len(s) for s in seconds] == [10, 10, 10]
    assert [set(s) for s in seconds] == [{1.0}, {2.0}, {3.0}]
    # at least min_rounds, however long the calls take
    log.clear()
    V.interleaved([make(0), make(1)], seconds=0.0, min_rounds=4, clock=lambda: now[0])
    assert log == [0, 1, 1, 0, 0, 1, 1, 0]
