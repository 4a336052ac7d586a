"""A plan's parallel kernels take threads or one thread together (measured_choice.joined):
with some threaded and some not, each call moves the arrays' halves between the cores'
caches.  Results are bit-identical either way."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import threads
from numgrad.backends import cpu_runners
from numgrad.compiler.layout import PARALLEL_MIN

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


@pytest.fixture
def two_threads():
    threads.set_num_threads(2)
    yield
    threads.set_num_threads(threads._default_threads())


def _parallel_runners(sess):
    return [r for p in sess._plans.values() for cp in p._compiled.values()
            for r in cp.runners if isinstance(r, cpu_runners.GroupRunner) and r.parallel]


def test_a_plans_parallel_kernels_choose_together(two_threads, monkeypatch):
    n = 256
    p = ng.placeholder(ng.float64, [n, 3])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    r2 = ng.reduce_sum(d * d, axis=2) + np.eye(n)
    energy = ng.reduce_sum(1.0 / (r2 * r2 * r2))
    force = ng.gradients(energy, p)[0]
    x = np.random.default_rng(0).standard_normal((n, 3))
    sess = ng.Session(backend="cpu")
    first = sess.run([energy, force], {p: x})        # compiles
    runners = _parallel_runners(sess)
    assert len(runners) >= 2 and n * n >= PARALLEL_MIN
    ways, decided = [], []
    real = threads.run_chunks

    def run_chunks(kernel, n_chunks, args):
        ways[-1].append(True)
        real(kernel, n_chunks, args)
    monkeypatch.setattr(threads, "run_chunks", run_chunks)
    for _ in range(4 * len(runners) + 30):
        ways.append([])
        out = sess.run([energy, force], {p: x})
        for a, b in zip(out, first):
            np.testing.assert_array_equal(a, b)
        # a call threads all its parallel kernels or none
        assert len(ways[-1]) in (0, len(runners)), ways[-1]
        verdicts = {r.threads_pay for r in runners}
        assert len(verdicts) == 1, verdicts
        decided.append(runners[0].threads_pay is not None)
    assert any(decided)         # (a later trial may be under way at the end)
