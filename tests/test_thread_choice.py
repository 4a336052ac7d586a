"""The cpu backend measures, per parallel kernel, whether threads make it faster (its first
runs alternate between threads and one thread), then runs it the faster way.  Either way the
kernel runs the same chunks combined in the same order, so results are bit-identical."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import measured_choice, threads
from numgrad.backends import cpu_runners
from numgrad.backends.cpu_summary import measured_choices
from numgrad.compiler.layout import PARALLEL_MIN

from plan_checks import describe

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _graph(n=PARALLEL_MIN * 2):
    x = ng.placeholder(ng.float64, [n // 64, 64])
    loss = ng.reduce_sum(ng.sin(x) * x)
    col = ng.reduce_sum(ng.exp(-x * x), axis=0)        # a reduction over dim 0 (chunk partials)
    return x, [loss, col] + ng.gradients(loss, [x])


def _runners(sess):
    return [r for p in sess._plans.values() for cp in p._compiled.values()
            for r in cp.runners if isinstance(r, cpu_runners.GroupRunner) and r.parallel]


def _fake_costs(monkeypatch, sess, serial_cost, parallel_cost):
    """Make the trial clock see serial runs take serial_cost and parallel ones parallel_cost;
    returns the list of parallel launches."""
    now = [0.0]
    launches = []
    monkeypatch.setattr(cpu_runners, "_clock", lambda: now[0])
    real = threads.run_chunks

    def run_chunks(kernel, n_chunks, args):
        now[0] += parallel_cost
        launches.append(n_chunks)
        real(kernel, n_chunks, args)

    monkeypatch.setattr(threads, "run_chunks", run_chunks)
    for r in _runners(sess):
        kernel = r.kernel

        def timed(mode, *args, kernel=kernel):
            if mode == 7:
                now[0] += serial_cost
            return kernel(mode, *args)

        timed.stats = kernel.stats                      # for the plan summary
        r.kernel = timed
    return launches


@pytest.mark.parametrize("threads_faster", [True, False])
def test_the_faster_way_is_chosen_and_results_do_not_change(threads_faster, two_threads,
                                                           monkeypatch, rng):
    x, fetches = _graph()
    v = rng.standard_normal((PARALLEL_MIN * 2 // 64, 64))
    sess = ng.Session(backend="cpu")
    first = sess.run(fetches, {x: v})                  # compiles (serially)
    runners = _runners(sess)
    assert runners and all(r.threads_pay is None for r in runners)
    costs = (2.0, 1.0) if threads_faster else (1.0, 2.0)
    launches = _fake_costs(monkeypatch, sess, *costs)
    outs = [sess.run(fetches, {x: v}) for _ in range(2 * cpu_runners.THREAD_TRIALS)]
    assert len(launches) == cpu_runners.THREAD_TRIALS * len(runners)     # the trials alternate
    assert all(r.threads_pay == (2, threads_faster) for r in runners)
    plan, = [cp for p in sess._plans.values() for cp in p._compiled.values()]
    kernels = describe(plan).kernels                # what the plan summary reports
    assert kernels and all(k.parallel and k.threads_pay[0] == 2 and
                           k.threads_faster is threads_faster for k in kernels), kernels
    # bench --variants --why: each kernel's choice with its trial's fastest runs
    chosen = [(choice, trial) for what, choice, trial in measured_choices(plan)
              if "kernel" in what]
    assert len(chosen) == len(runners) and all(
        ("faster" if threads_faster else "slower") in choice and trial == costs
        for choice, trial in chosen), chosen
    del launches[:]
    outs += [sess.run(fetches, {x: v}) for _ in range(3)]
    assert len(launches) == (3 * len(runners) if threads_faster else 0)
    for out in outs:                                   # bit-identical, threads or not
        for a, b in zip(out, first):
            np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(first[1], np.exp(-v * v).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(first[2], np.cos(v) * v + np.sin(v), rtol=1e-12)


def test_a_new_thread_count_is_measured_again(two_threads, rng):
    x, fetches = _graph()
    v = rng.standard_normal((PARALLEL_MIN * 2 // 64, 64))
    sess = ng.Session(backend="cpu")
    for _ in range(1 + 2 * cpu_runners.THREAD_TRIALS):
        sess.run(fetches, {x: v})
    assert all(r.threads_pay is not None and r.threads_pay[0] == 2 for r in _runners(sess))
    threads.set_num_threads(1)          # one thread: nothing to measure, runs serially
    sess.run(fetches, {x: v})
    assert all(r.threads_pay[0] == 2 for r in _runners(sess))
    threads.set_num_threads(3)
    for _ in range(2 * cpu_runners.THREAD_TRIALS):
        sess.run(fetches, {x: v})
    assert all(r.threads_pay[0] == 3 for r in _runners(sess))


def _noisy_moment(monkeypatch, runners):
    """A fake clock under which a parallel run of `runners`' kernels takes 3 units and a
    serial one 2 while the returned flag's [0] is True, and a parallel run 1 unit after."""
    now, slow = [0.0], [True]
    monkeypatch.setattr(cpu_runners, "_clock", lambda: now[0])
    real = threads.run_chunks

    def run_chunks(kernel, n_chunks, args):
        now[0] += 3.0 if slow[0] else 1.0
        real(kernel, n_chunks, args)

    monkeypatch.setattr(threads, "run_chunks", run_chunks)
    for r in runners:
        kernel = r.kernel

        def timed(mode, *args, kernel=kernel):
            if mode == 7:
                now[0] += 2.0
            return kernel(mode, *args)

        timed.stats = kernel.stats
        r.kernel = timed
    return slow


def _serial_after_a_noisy_moment(monkeypatch, rng):
    """A plan whose threads looked slower during its first trials (a noisy moment): its
    kernels have decided to run serially.  (run, runners, slow): set slow[0] = False to end
    the noisy moment."""
    x, fetches = _graph()
    v = rng.standard_normal((PARALLEL_MIN * 2 // 64, 64))
    sess = ng.Session(backend="cpu")
    sess.run(fetches, {x: v})                          # compiles
    runners = _runners(sess)
    slow = _noisy_moment(monkeypatch, runners)
    for _ in range(2 * cpu_runners.THREAD_TRIALS):
        sess.run(fetches, {x: v})
    assert all(r.threads_pay == (2, False) for r in runners)
    return lambda: sess.run(fetches, {x: v}), runners, slow


def test_the_choice_is_measured_again_after_thread_recheck_runs(two_threads, monkeypatch, rng):
    monkeypatch.setattr(measured_choice, "RECHECK", 5)
    # threads look slower during the first trials (a noisy moment), faster later
    run, runners, slow = _serial_after_a_noisy_moment(monkeypatch, rng)
    slow[0] = False
    for _ in range(5 + 2 * cpu_runners.THREAD_TRIALS):
        run()
    assert all(r.threads_pay == (2, True) for r in runners)


def test_a_young_verdict_is_measured_again_sooner(two_threads, monkeypatch, rng):
    # threads look slower during the first trial (a noisy moment): the kernel runs serially,
    # but is measured again after SERIAL_RECHECK runs, not THREAD_RECHECK, and then uses them;
    # a new verdict (threads pay) is young again (numgrad/measured_choice.py)
    assert cpu_runners.SERIAL_RECHECK < cpu_runners.THREAD_RECHECK
    run, runners, slow = _serial_after_a_noisy_moment(monkeypatch, rng)
    assert all(r.recheck_after == cpu_runners.SERIAL_RECHECK for r in runners)
    slow[0] = False
    for _ in range(cpu_runners.SERIAL_RECHECK + 2 * cpu_runners.THREAD_TRIALS):
        run()
    assert all(r.threads_pay == (2, True) for r in runners)
    assert all(r.recheck_after == cpu_runners.SERIAL_RECHECK for r in runners)
