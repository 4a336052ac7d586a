"""Inter-op parallelism (backends/cpu_schedule.py): a plan's independent steps run at once on
numgrad's threads, with the serial order's results bit for bit; whether that pays is measured
per plan, and measured again when a core gets busy."""
import threading

import numpy as np
import pytest

import numgrad as ng
from numgrad import config, threads
from numgrad.backends import cpu_schedule as cs
from numgrad.errors import InvalidArgumentError

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _pinn(n=48, layers=(2, 6, 6, 1), seed=0):
    """A small W6: an MLP u(t, x), u_x by ng.gradients, a residual and the loss's gradients
    with respect to the weights (feeds, fetches, feed_dict)."""
    rng = np.random.default_rng(seed)
    t = ng.placeholder(ng.float64, [None, 1])
    x = ng.placeholder(ng.float64, [None, 1])
    params = [(ng.constant(rng.normal(size=(a, b)) / np.sqrt(a)),
               ng.constant(0.1 * rng.normal(size=(1, b))))
              for a, b in zip(layers[:-1], layers[1:])]
    h = ng.concat([t, x], 1)
    for w, b in params[:-1]:
        h = ng.tanh(ng.matmul(h, w) + b)
    u = ng.matmul(h, params[-1][0]) + params[-1][1]
    u_x = ng.gradients(u, x)[0]
    loss = ng.reduce_mean(ng.square(u * u_x + 0.1 * u))
    fetches = [loss] + ng.gradients(loss, [p for pair in params for p in pair])
    feed = {t: rng.uniform(0, 1, (n, 1)), x: rng.uniform(-1, 1, (n, 1))}
    return fetches, feed


def _plan(sess):
    plan, = [cp for p in sess._plans.values() for cp in p._compiled.values()]
    return plan


def test_dispatched_runs_are_bit_identical_to_the_serial_order(two_threads, monkeypatch):
    # (which threads take which steps depends on timing: test_run_steps_runs_independent_steps_
    # at_once_and_drops_dead_values shows that independent steps do run at once)
    monkeypatch.setattr(cs, "HELPER_MIN_SECONDS", 0.0)     # the helper takes small steps too
    dispatched = []
    real = cs.run_steps

    def run_steps(dispatch, runners, env, n_lanes):
        dispatched.append(n_lanes)
        return real(dispatch, runners, env, n_lanes)
    monkeypatch.setattr(cs, "run_steps", run_steps)
    fetches, feed = _pinn()
    ref = ng.Session(backend="numpy").run(fetches, feed)
    with config.override(NUMGRAD_INTEROP="off"):
        serial = ng.Session(backend="cpu").run(fetches, feed)
    assert dispatched == []
    with config.override(NUMGRAD_INTEROP="on"):
        sess = ng.Session(backend="cpu")
        outs = [sess.run(fetches, feed) for _ in range(4)]
    assert dispatched == [2] * 4
    for out in outs:
        for a, b in zip(serial, out):
            assert np.array_equal(a, b)
    for r, a in zip(ref, serial):
        np.testing.assert_allclose(a, r, rtol=1e-9, atol=1e-12)


def test_the_measured_choice_keeps_results_identical(two_threads):
    fetches, feed = _pinn()
    with config.override(NUMGRAD_INTEROP="off"):
        serial = ng.Session(backend="cpu").run(fetches, feed)
    sess = ng.Session(backend="cpu")
    with config.override(NUMGRAD_INTEROP="auto"):
        for _ in range(1 + cs.PROFILE_RUNS + 2 * cs.TRIALS + 2):
            out = sess.run(fetches, feed)
            assert all(np.array_equal(a, b) for a, b in zip(serial, out))
    choice = _plan(sess)._interop
    assert choice.profiled == cs.PROFILE_RUNS and choice.lanes == 2
    assert choice.verdict is not None, choice.describe()


def test_one_thread_runs_the_serial_order(monkeypatch):
    fetches, feed = _pinn()
    old = threads.get_num_threads()
    threads.set_num_threads(1)
    try:
        with config.override(NUMGRAD_INTEROP="on"):
            sess = ng.Session(backend="cpu")
            sess.run(fetches, feed)
    finally:
        threads.set_num_threads(old)
    assert _plan(sess)._interop.dispatch is None


def test_a_failed_step_raises_the_serial_error_and_the_plan_still_runs(two_threads):
    params = ng.placeholder(ng.float64, [8, 3])
    idx = ng.placeholder(ng.int32, [4])
    other = ng.reduce_sum(ng.matmul(params, ng.transpose(params)))
    picked = ng.reduce_sum(ng.gather(params, idx) * 2.0)
    p = np.arange(24.0).reshape(8, 3)
    with config.override(NUMGRAD_INTEROP="on"):
        sess = ng.Session(backend="cpu")
        with pytest.raises(InvalidArgumentError, match="indices contain 9"):
            sess.run([other, picked], {params: p, idx: [0, 9, 1, 2]})
        got = sess.run([other, picked], {params: p, idx: [0, 7, 1, 2]})
    assert got[0] == np.sum(p @ p.T) and got[1] == 2 * p[[0, 7, 1, 2]].sum()


def test_a_plan_with_effects_runs_in_the_serial_order(two_threads, capsys):
    x = ng.placeholder(ng.float64, [3])
    y = ng.Print(ng.exp(x), [x], message="x=")
    z = ng.sin(x)
    with config.override(NUMGRAD_INTEROP="on"):
        sess = ng.Session(backend="cpu")
        sess.run([y, z], {x: [1.0, 2.0, 3.0]})
    choice = _plan(sess)._interop
    assert choice.serial_only and choice.dispatch is None


# --- the dispatcher on synthetic steps -------------------------------------------------------

# Two independent chains a0 -> a1 -> a2 and b0 -> b1, joined by the last step.
READS = [[0], [1], [2], [0], [4], [3, 5]]
WRITES = [[1], [2], [3], [4], [5], [6]]


def test_dependencies_and_priorities():
    d = cs.Dispatch(READS, WRITES, [1.0, 1.0, 1.0, 1.0, 1.0, 1.0], droppable={1, 2, 3, 4, 5})
    assert d.deps == [[], [0], [1], [], [3], [2, 4]]
    assert d.priority[0] > d.priority[3]        # a0 heads the longer chain
    assert d.readers == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1}


def test_simulate_runs_the_chains_side_by_side_and_the_longest_on_the_caller():
    d = cs.Dispatch(READS, WRITES, [1.0] * 6)
    seconds, lane_of = d.simulate(2)
    assert lane_of[:3] == [0, 0, 0] and lane_of[3:5] == [1, 1]
    assert seconds == pytest.approx(4 * (1.0 + cs.STEP_SECONDS), rel=1e-9)    # a0, a1, a2, join
    assert d.simulate(1)[0] == pytest.approx(d.serial_seconds())


def test_helpers_leave_short_steps_to_the_caller():
    short = cs.HELPER_MIN_SECONDS / 4
    d = cs.Dispatch(READS, WRITES, [1.0, 1.0, 1.0, short, short, 1.0])
    seconds, lane_of = d.simulate(2)
    assert lane_of == [0] * 6                   # b0, b1 are mostly Python: not worth a lane
    assert seconds == pytest.approx(d.serial_seconds())


def test_run_steps_runs_independent_steps_at_once_and_drops_dead_values():
    d = cs.Dispatch(READS, WRITES, [1.0] * 6, droppable={1, 2, 4, 5})
    meet = threading.Barrier(2, timeout=10)     # a1 and b1 only pass it together
    seen = {}

    def step(i, met=False):
        def run(env):
            if met:
                meet.wait()
            seen[i] = (threading.get_ident(), [env[v] is None for v in READS[i]])
            env[WRITES[i][0]] = sum(env[v] for v in READS[i]) + 1
        return run
    runners = [step(0), step(1, True), step(2), step(3), step(4, True), step(5)]
    env = [0] + [None] * 6
    cs.run_steps(d, runners, env, 2)
    assert env[6] == (3 + 2) + 1
    assert seen[1][0] != seen[4][0]             # on two threads
    assert not any(any(dead) for _, dead in seen.values())      # nothing dropped before a read
    assert env[1] is env[2] is env[4] is env[5] is None and env[3] == 3    # 3 is kept


def test_run_steps_stops_every_lane_when_a_step_fails():
    d = cs.Dispatch(READS, WRITES, [1.0] * 6)
    ran = []

    def ok(i):
        def run(env):
            ran.append(i)
        return run

    def bad(env):
        raise ValueError("boom")
    runners = [ok(0), ok(1), ok(2), bad, ok(4), ok(5)]
    with pytest.raises(cs.StepFailed) as info:
        cs.run_steps(d, runners, [0] * 7, 2)
    assert isinstance(info.value.__cause__, ValueError)
    assert 4 not in ran and 5 not in ran


# --- the measured choice, on a fake clock ----------------------------------------------------

class _FakeRuns:
    """serial/dispatched calls for InteropChoice.call that advance a fake clock."""

    def __init__(self, monkeypatch, serial_cost, dispatched_cost):
        self.now = 0.0
        self.costs = {"serial": serial_cost, "dispatched": dispatched_cost}
        self.log = []
        monkeypatch.setattr(cs, "_clock", lambda: self.now)

    def _run(self, how):
        self.now += self.costs[how]
        self.log.append(how)
        return how

    def call(self, choice, n_threads=2):
        return choice.call(n_threads, lambda: self._run("serial"),
                           lambda: (self._run("serial"), [0.001] * len(READS)),
                           lambda dispatch, lanes: self._run("dispatched"))


def _choice():
    return cs.InteropChoice(READS, WRITES, set(), [1] * len(READS))


@pytest.mark.parametrize("lanes_faster", [True, False])
def test_the_faster_way_is_chosen(monkeypatch, lanes_faster):
    runs = _FakeRuns(monkeypatch, 2.0, 1.0 if lanes_faster else 3.0)
    choice = _choice()
    with config.override(NUMGRAD_INTEROP="auto"):
        for _ in range(1 + cs.PROFILE_RUNS + 2 * cs.TRIALS):
            runs.call(choice)
        trial = runs.log[1 + cs.PROFILE_RUNS:]
        assert trial == ["serial", "dispatched"] * cs.TRIALS     # the trial alternates
        assert choice.verdict == (2, lanes_faster)
        assert {runs.call(choice) for _ in range(5)} == {
            "dispatched" if lanes_faster else "serial"}


def test_a_busy_core_starts_a_new_trial(monkeypatch):
    runs = _FakeRuns(monkeypatch, 2.0, 1.0)
    choice = _choice()
    with config.override(NUMGRAD_INTEROP="auto"):
        for _ in range(1 + cs.PROFILE_RUNS + 2 * cs.TRIALS):
            runs.call(choice)
        assert choice.verdict == (2, True)
        runs.costs["dispatched"] = 1.0 + cs.SLOWER       # a lane now waits for a busy core
        runs.call(choice)
        assert choice.verdict is None
        runs.log.clear()
        for _ in range(2 * cs.TRIALS):
            runs.call(choice)
        assert runs.log == ["serial", "dispatched"] * cs.TRIALS
        assert choice.verdict == (2, False)               # serial while the core is busy


def test_a_serial_verdict_is_measured_again_sooner(monkeypatch):
    runs = _FakeRuns(monkeypatch, 2.0, 3.0)
    choice = _choice()
    with config.override(NUMGRAD_INTEROP="auto"):
        for _ in range(1 + cs.PROFILE_RUNS + 2 * cs.TRIALS):
            runs.call(choice)
        assert choice.verdict == (2, False) and choice.recheck_after == cs.SERIAL_RECHECK
        runs.costs["dispatched"] = 1.0                    # the noisy moment has passed
        for _ in range(cs.SERIAL_RECHECK + cs.PROFILE_RUNS + 2 * cs.TRIALS + 1):
            runs.call(choice)
        assert choice.verdict == (2, True)


def test_no_promised_gain_means_no_trial(monkeypatch):
    runs = _FakeRuns(monkeypatch, 2.0, 1.0)
    chain = cs.InteropChoice([[0], [1], [2]], [[1], [2], [3]], set(), [1, 1, 1])
    with config.override(NUMGRAD_INTEROP="auto"):
        for _ in range(10):
            chain.call(2, lambda: runs._run("serial"),
                       lambda: (runs._run("serial"), [0.001] * 3),
                       lambda dispatch, lanes: runs._run("dispatched"))
    assert "dispatched" not in runs.log and chain.verdict == (2, False)


def test_the_switch_parses():
    assert config.SWITCHES["NUMGRAD_INTEROP"].parse("off") == "off"
    with pytest.raises(ValueError, match="NUMGRAD_INTEROP"):
        config.SWITCHES["NUMGRAD_INTEROP"].parse("sometimes")


def test_an_interrupt_in_a_lane_is_not_run_again(monkeypatch):
    runs = _FakeRuns(monkeypatch, 2.0, 1.0)
    choice = _choice()

    def interrupted(dispatch, lanes):
        runs.log.append("dispatched")
        raise cs.StepFailed() from KeyboardInterrupt()
    with config.override(NUMGRAD_INTEROP="on"):
        with pytest.raises(KeyboardInterrupt):
            choice.call(2, lambda: runs._run("serial"), None, interrupted)
    assert runs.log == ["dispatched"]


def test_auto_after_on_schedules_on_measured_times(monkeypatch):
    runs = _FakeRuns(monkeypatch, 2.0, 1.0)
    choice = _choice()
    with config.override(NUMGRAD_INTEROP="on"):
        runs.call(choice)
        estimated = choice.dispatch
    with config.override(NUMGRAD_INTEROP="auto"):
        for _ in range(1 + cs.PROFILE_RUNS + 1):
            runs.call(choice)
    assert choice.dispatch is not estimated
    assert choice.dispatch.costs == [0.001 + cs.STEP_SECONDS] * len(READS)


def test_a_helper_that_never_started_is_not_waited_for(two_threads):
    d = cs.Dispatch(READS, WRITES, [1.0] * 6)
    gate = threading.Event()
    blocker = threads.pool().submit(gate.wait, 10)     # the pool's one worker is busy
    ran_on = []

    def step(env):
        ran_on.append(threading.get_ident())
    try:
        cs.run_steps(d, [step] * 6, [0] * 7, 2)
        assert ran_on == [threading.get_ident()] * 6     # all on the caller's lane
        assert not blocker.done()       # returned without waiting for the queued helper
    finally:
        gate.set()
        blocker.result()
