"""measured_choice.shared: the plans of a process whose parallel kernels have the same
iteration spaces (formulations of one computation) share one threads choice, so that they
take the same way.  Driven with made-up seconds; the Session tests check which plans share."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import measured_choice as mc, threads
from numgrad.backends import cpu_runners
from numgrad.compiler.layout import PARALLEL_MIN

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


@pytest.fixture(autouse=True)
def _forget():
    mc.forget()
    yield
    mc.forget()


def _call(members, seconds, key=2):
    """One call of a plan whose joined choice is `members`: each member runs the way the
    first picked and takes seconds(bold) of it.  Returns the way."""
    way = members[0].pick(key)
    for m in members[1:]:
        assert m.pick(key) == way
    for m in members:
        m.done(way, seconds(way))
    return way


def _trial():
    return [mc.STEADY_ORDER[i % len(mc.STEADY_ORDER)] for i in range(2 * mc.TRIALS)]


def _fixed(plain, bold):
    return lambda b: bold if b else plain


def test_a_later_plan_of_the_same_key_starts_from_the_verdict_without_a_trial():
    a = mc.joined(3, "W5")
    ways = [_call(a, _fixed(1.0, 0.5)) for _ in range(2 * mc.TRIALS)]
    assert ways == _trial() and a[0].verdict == (2, True) and a[0].trials == 1
    b = mc.joined(3, "W5")          # another formulation, made later
    assert [_call(b, _fixed(1.2, 0.6)) for _ in range(5)] == [True] * 5
    assert b[0].verdict == (2, True) and b[0].trials == 1      # no trial of its own
    c = mc.joined(3, "other")       # other kernels: a choice of their own
    assert [_call(c, _fixed(1.0, 0.5)) for _ in range(2 * mc.TRIALS)] == _trial()
    assert a[0].trials == 1 and c[0].trials == 1


def test_plans_called_in_turn_always_take_the_same_way_and_recheck_as_one():
    # three formulations called in turn (bench --variants): the shared choice's runs are
    # the plans' calls in the order they are made; a trial's pairs span the plans
    plans = [mc.joined(3, "W5") for _ in range(3)]
    costs = [_fixed(1.0, 0.5), _fixed(1.1, 0.55), _fixed(1.05, 0.6)]
    ways, verdicts = [], set()
    n = mc.RECHECK_FIRST + 4 * mc.TRIALS + 10
    for i in range(n):
        j = i % 3
        ways.append(_call(plans[j], costs[j]))
        verdicts.add(plans[0][0].verdict)
        assert plans[0][0].verdict == plans[1][0].verdict == plans[2][0].verdict
    assert ways[:2 * mc.TRIALS] == _trial()
    assert verdicts == {None, (2, True)}
    # one trial, then a recheck after RECHECK_FIRST calls of all the plans together
    assert plans[0][0].trials == 2
    assert ways.count(False) == 2 * mc.TRIALS         # the trials' plain runs only
    # the fastest runs of each way that followed a run of their own way decided, whichever
    # plan made them: the trial's steady plain runs were plan 1's (3.3), its steady bold
    # runs plans 0, 1 and 2's (plan 0: 1.5)
    assert plans[2][1].last_trial == (pytest.approx(3.3), 1.5)


def test_a_verdict_changed_by_one_plan_holds_for_the_others_at_once():
    a, b = mc.joined(2, "W5"), mc.joined(2, "W5")
    for _ in range(2 * mc.TRIALS):
        _call(a, _fixed(1.0, 0.5))
    assert b[0].verdict == (2, True)
    # threads got slow (another process took a core): two very slow threaded runs of plan
    # `a` start a trial, which ends for one thread; plan `b` follows at once
    slow = _fixed(1.0, mc.SLOWER * 3.0)
    ways = [_call(a, slow) for _ in range(6)]
    assert ways == [True, True, False, False, True, True]
    assert b[0].verdict == (2, False)
    assert [_call(b, slow) for _ in range(4)] == [False] * 4


def test_forget_drops_what_was_learned():
    a = mc.joined(2, "W5")
    for _ in range(2 * mc.TRIALS):
        _call(a, _fixed(1.0, 0.5))
    mc.forget()
    b = mc.joined(2, "W5")
    assert b[0].verdict is None
    assert [_call(b, _fixed(0.5, 1.0)) for _ in range(2 * mc.TRIALS)] == _trial()
    assert b[0].verdict == (2, False) and a[0].verdict == (2, True)


def test_one_kernel_with_a_key_is_a_shared_member():
    a, = mc.joined(1, "W1")
    b, = mc.joined(1, "W1")
    for _ in range(2 * mc.TRIALS):
        _call([a], _fixed(1.0, 0.5))
    assert b.verdict == (2, True) and b.last_trial == (1.0, 0.5)
    assert type(mc.joined(1)[0]) is mc.MeasuredChoice        # no key: a choice of its own


@pytest.fixture
def two_threads():
    threads.set_num_threads(2)
    yield
    threads.set_num_threads(threads._default_threads())


def _lj(n, cube, dtype=ng.float64):
    """Lennard-Jones-like energy and forces, the inverse sixth power written two ways."""
    p = ng.placeholder(dtype, [n, 3])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    r2 = ng.reduce_sum(d * d, axis=2) + np.eye(n)
    inv6 = 1.0 / (r2 * r2 * r2) if cube else (1.0 / r2) ** 3
    energy = ng.reduce_sum(inv6 * inv6 - inv6)
    return p, [energy, ng.gradients(energy, p)[0]]


def _runners(sess):
    return [r for p in sess._plans.values() for cp in p._compiled.values()
            for r in cp.runners if isinstance(r, cpu_runners.GroupRunner) and r.parallel]


def test_formulations_in_one_process_share_their_plans_choice(two_threads):
    n = 256
    assert n * n >= PARALLEL_MIN
    x = np.random.default_rng(0).standard_normal((n, 3)) * 3
    p1, f1 = _lj(n, True)
    s1 = ng.Session(backend="cpu")
    first = s1.run(f1, {p1: x})                     # compiles
    r1 = _runners(s1)
    assert r1
    # a trial takes 2 * TRIALS of the kernels' runs; calls that another measured choice of
    # the plan sends elsewhere (native lanes, on a busy machine) run none of them
    for _ in range(50 * mc.TRIALS):
        if r1[0].threads_pay is not None:           # decided
            break
        s1.run(f1, {p1: x})
    assert r1[0].threads_pay is not None
    ng.reset_default_graph()
    p2, f2 = _lj(n, False)
    s2 = ng.Session(backend="cpu")
    s2.run(f2, {p2: x})
    r2 = _runners(s2)
    assert [r.space for r in r2] == [r.space for r in r1]
    # the later plan runs the verdict at once, and every kernel of both holds the same one
    assert {r.threads_pay for r in r1 + r2} == {r1[0].threads_pay}
    trials = r1[0].choice.trials
    out = s2.run(f2, {p2: x})
    assert r2[0].choice.trials == trials
    for a, b in zip(out, first):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    # the same shapes in float32: another computation, a choice of its own
    ng.reset_default_graph()
    p3, f3 = _lj(n, True, ng.float32)
    s3 = ng.Session(backend="cpu")
    s3.run(f3, {p3: x.astype(np.float32)})
    r3 = _runners(s3)
    assert [r.space for r in r3] == [r.space for r in r1]
    assert all(r.threads_pay is None for r in r3)
