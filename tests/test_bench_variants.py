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
