"""The NumPy interpreter's memory: each value is dropped after its last reader
(numpy.release_after), and the cpu backend's interpreter (first calls) sets glibc's malloc
thresholds unless its plan is cpu-stable (cpu_interpreter.ReferencePlan)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import malloc_tuning
from numgrad.backends.cpu_interpreter import ReferencePlan
from numgrad.backends.numpy import NumpyPlan, release_after

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _graph():
    x = ng.placeholder(ng.float64, [4], name="x")
    a = ng.multiply(x, 2.0, name="a")
    b = ng.add(a, 1.0, name="b")
    parts = ng.split(b, 2, name="parts")         # parts[1] is never read
    c = ng.multiply(parts[0], ng.reduce_sum(a, name="s"), name="c")
    return x, a, b, parts, c


def test_each_value_is_released_by_its_last_reader_and_fetches_and_feeds_never():
    with ng.Graph().as_default():
        x, a, b, parts, c = _graph()
        plan = NumpyPlan([c, b], [], [x])
        released = {t.name: op.name for op, dead in zip(plan.ops, release_after(plan.ops, [c, b],
                                                                                [x]))
                    for t in dead}
    assert released.pop("parts:1") == "parts"            # unread: dropped where it is made
    assert released.pop("parts:0") == "c"
    assert released.pop("a:0") == "s"                    # read by b, then by the sum
    assert released.pop("s:0") == "c"
    assert all(not name.startswith(("x:", "b:", "c:")) for name in released)


def test_the_interpreter_gives_the_same_values_with_the_releases():
    with ng.Graph().as_default():
        x, a, b, parts, c = _graph()
        plan = NumpyPlan([c, b, a], [], [x])
        v = np.arange(4.0)
        got_c, got_b, got_a = plan([v])
    want_b = 2 * v + 1
    np.testing.assert_array_equal(got_b, want_b)
    np.testing.assert_array_equal(got_a, 2 * v)
    np.testing.assert_array_equal(got_c, want_b[:2] * (2 * v).sum())


@pytest.mark.parametrize("stable, tuned", [(False, True), (True, False)])
def test_the_first_calls_interpreter_tunes_malloc_unless_stable(monkeypatch, stable, tuned):
    seen = []
    monkeypatch.setattr(malloc_tuning, "tune_once", lambda *a: seen.append(1) or True)
    with ng.Graph().as_default():
        x, a, b, parts, c = _graph()
        plan = ReferencePlan([c], [], [x], stable=stable)
        plan([np.ones(4)])
    assert bool(seen) == tuned
