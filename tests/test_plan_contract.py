"""The plan contract (numgrad/backends/plan.py): every backend's plans implement it, and a
Session needs nothing beyond it -- a backend whose plans define only the abstract methods
runs, makes callables, keeps variables and explains itself through the contract's defaults.
"""
import inspect

import numpy as np
import pytest

import numgrad as ng
from numgrad import backends
from numgrad.backends import cpu, numpy as numpy_backend
from numgrad.backends.plan import Plan, SignaturePlan

pytestmark = pytest.mark.backend_independent


def _classes():
    """(plan classes, signature plan classes) of the backends that can be imported here."""
    plans = [numpy_backend.NumpyPlan, cpu.CpuPlan, cpu.FunctionPlan]
    signature = [numpy_backend.NumpyPlan, cpu.CompiledPlan]
    try:
        from numgrad.backends import cuda
    except ImportError:         # no numba.cuda: the cuda classes are checked where it imports
        return plans, signature
    return plans + [cuda.CudaPlan], signature + [cuda.CudaCompiledPlan]


def test_every_backend_class_implements_the_contract():
    plans, signature = _classes()
    for cls in plans:
        assert issubclass(cls, Plan), cls
        assert not inspect.isabstract(cls), f"{cls.__name__} leaves abstract methods"
    for cls in signature:
        assert issubclass(cls, SignaturePlan), cls
        assert not inspect.isabstract(cls), f"{cls.__name__} leaves abstract methods"


def test_the_contract_names_what_session_uses():
    # Plan: __call__ is required; compiled, keeps_state_on_device and recycle have defaults
    assert Plan.__abstractmethods__ == frozenset({"__call__"})
    assert SignaturePlan.__abstractmethods__ == frozenset({"__call__"})
    assert Plan.keeps_state_on_device is False and SignaturePlan.fast is None

    class Bare(Plan, SignaturePlan):
        def __call__(self, feed_values):
            return list(feed_values)

    bare = Bare()
    assert bare.compiled([np.zeros(2)]) is None and bare.summary() is None
    arrays = [np.zeros(2)]
    assert bare.recycle(arrays) is None and len(arrays) == 1     # nothing taken


@pytest.mark.parametrize("name", ["numpy", "cpu", "cpu-stable"])
def test_prepared_plans_follow_the_contract(name):
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float64, [3], name="x")
        y = x * 2.0 + 1.0
    xv = np.array([1.0, 2.0, 3.0])
    plan = backends.get_backend(name).prepare(g, [y], [], [x])
    assert isinstance(plan, Plan)
    np.testing.assert_array_equal(plan([xv])[0], xv * 2.0 + 1.0)
    run = plan.compiled([xv])
    if name == "numpy":
        assert run is None                  # interprets every call: nothing per signature
        return
    assert isinstance(run, SignaturePlan)
    np.testing.assert_array_equal(run([xv])[0], xv * 2.0 + 1.0)
    assert isinstance(run.summary(), str)
    assert run.fast is None or callable(run.fast)


# --- a backend with nothing but the abstract methods -----------------------------------------
class _Run(SignaturePlan):
    def __init__(self, inner):
        self.inner, self.calls = inner, 0

    def __call__(self, feed_values):
        self.calls += 1
        return self.inner(feed_values)


class _MinimalPlan(Plan):
    """Interprets with the NumPy plan; `per_signature`: compiled() returns one _Run per
    signature (the contract's default returns None)."""

    def __init__(self, fetches, targets, feeds, per_signature):
        self.inner = numpy_backend.NumpyPlan(fetches, targets, feeds)
        self.runs = {} if per_signature else None

    def __call__(self, feed_values):
        run = self.compiled(feed_values)
        return (run or self.inner)(feed_values)

    def compiled(self, feed_values):
        if self.runs is None:               # the contract's default: no per-signature plans
            return super().compiled(feed_values)
        sig = tuple((a.shape, a.dtype) for a in feed_values)
        return self.runs.setdefault(sig, _Run(self.inner))


class _MinimalBackend:
    def __init__(self, name, per_signature):
        self.name, self.per_signature = name, per_signature

    def prepare(self, graph, fetches, targets, feeds):
        return _MinimalPlan(fetches, targets, feeds, self.per_signature)


@pytest.fixture(params=[False, True], ids=["no-signatures", "per-signature"])
def minimal(request, monkeypatch):
    name = f"minimal-{request.param}"
    monkeypatch.setitem(backends._FACTORIES, name,
                        lambda: _MinimalBackend(name, request.param))
    return name, request.param


def test_session_runs_on_the_contract_alone(minimal):
    name, per_signature = minimal
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float64, [2], name="x")
        v = ng.Variable(np.array([1.0, 1.0]), name="v")
        y = x * v
        step = ng.assign_add(v, x)
        init = ng.global_variables_initializer()
    xv = np.array([2.0, 3.0])
    with ng.Session(graph=g, backend=name) as s:
        s.run(init)
        np.testing.assert_array_equal(s.run(y, {x: xv}), [2.0, 3.0])
        s.run(step, {x: xv})                                # state written back on the host
        np.testing.assert_array_equal(s.run(v), [3.0, 4.0])
        f = s.make_callable(y, [x])
        for _ in range(3):                                  # the hot path after the first call
            np.testing.assert_array_equal(f(xv), [6.0, 12.0])
        z = x + 1.0
        g2 = s.make_callable(z, [x])
        for _ in range(3):
            np.testing.assert_array_equal(g2(xv), [3.0, 4.0])
        text = s.plan_summary(z, {x: xv})
        if per_signature:
            assert text == "the graph's shapes depend on data: interpreted with NumPy"
            runs = [r for p in s._plans.values() if p.runs for r in p.runs.values()]
            assert runs and all(r.calls for r in runs)      # the callables used them
        else:
            assert text == f"backend '{name}' interprets the graph op by op (no compiled plan)"
