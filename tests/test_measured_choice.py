"""measured_choice.MeasuredChoice: the rules that choose between the plain and the bold way
of a step (one thread or threads), driven with made-up seconds instead of a clock."""
import pytest

from numgrad import measured_choice as mc
from numgrad.measured_choice import MeasuredChoice

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _run(choice, seconds, calls, key=2):
    """Make `calls` runs the way `choice` picks; seconds(bold, i) is run i's time.  Returns
    the ways taken (True: bold)."""
    ways = []
    for i in range(calls):
        bold = choice.pick(key)
        ways.append(bold)
        choice.done(bold, seconds(bold, i))
    return ways


def _trial():
    """The ways of a whole trial, in order."""
    return [mc.ORDER[i % len(mc.ORDER)] for i in range(2 * mc.TRIALS)]


def _fixed(plain, bold):
    return lambda b, i: bold if b else plain


def test_a_trial_runs_the_ways_in_pairs_plain_first_and_keeps_the_faster_way():
    choice = MeasuredChoice()
    ways = _run(choice, _fixed(1.0, 0.5), 2 * mc.TRIALS + 4)
    assert ways[:2 * mc.TRIALS] == _trial()
    assert _trial()[:6] == [False, True, True, False, False, True]
    assert _trial().count(True) == mc.TRIALS
    assert ways[2 * mc.TRIALS:] == [True] * 4
    assert choice.verdict == (2, True) and choice.last_trial == (1.0, 0.5)


def test_a_tie_keeps_the_plain_way():
    # threads within MARGIN of one thread lose: a busy core would make them wait
    choice = MeasuredChoice()
    _run(choice, _fixed(1.0, (mc.MARGIN + 1.0) / 2), 2 * mc.TRIALS)
    assert choice.verdict == (2, False)
    choice = MeasuredChoice()
    _run(choice, _fixed(1.0, mc.MARGIN * 0.99), 2 * mc.TRIALS)
    assert choice.verdict == (2, True)


def test_one_noisy_sample_of_each_way_decides_nothing():
    # the fastest of each way's runs decides: one slow plain run and one slow bold run change
    # nothing
    slow = {0: 5.0, 1: 9.0}         # run 0 (plain) and run 1 (bold) land in a noisy moment
    choice = MeasuredChoice()
    _run(choice, lambda b, i: slow.get(i, 0.5 if b else 1.0), 2 * mc.TRIALS)
    assert choice.verdict == (2, True) and choice.last_trial == (1.0, 0.5)


def test_two_very_slow_bold_runs_end_the_trial_at_once():
    choice = MeasuredChoice()
    ways = _run(choice, _fixed(1.0, mc.SLOWER * 1.5), 8)
    assert ways == [False, True, True] + [False] * 5
    assert choice.verdict == (2, False)
    # ... but one does not
    choice = MeasuredChoice()
    _run(choice, lambda b, i: (9.0 if i == 1 else 0.5) if b else 1.0, 2 * mc.TRIALS)
    assert choice.verdict == (2, True)


@pytest.mark.parametrize("bold_wins", [True, False])
def test_a_verdict_is_measured_again_sooner_while_young(bold_wins):
    # either verdict, taken in a noisy moment, is measured again after RECHECK_FIRST runs;
    # each repeated verdict doubles the wait, up to RECHECK
    choice = MeasuredChoice()
    seconds = _fixed(1.0, 0.5) if bold_wins else _fixed(0.5, 1.0)
    _run(choice, seconds, 2 * mc.TRIALS)
    assert choice.recheck_after == mc.RECHECK_FIRST and choice.trials == 1
    waits = [choice.recheck_after]
    for _ in range(8):
        ways = _run(choice, seconds, choice.recheck_after + 2 * mc.TRIALS)
        # the verdict's way until the wait is over, then a trial: plain first, alternately
        assert ways[:-2 * mc.TRIALS] == [bold_wins] * (len(ways) - 2 * mc.TRIALS)
        assert ways[-2 * mc.TRIALS:] == _trial()
        waits.append(choice.recheck_after)
    assert choice.trials == 9
    assert waits == [min(mc.RECHECK, mc.RECHECK_FIRST << k) for k in range(9)]


def test_a_wrong_young_verdict_is_put_right():
    # a noisy trial: every plain run slowed, so threads won; the plain way is faster after
    choice = MeasuredChoice()
    _run(choice, _fixed(3.0, 1.0), 2 * mc.TRIALS)
    assert choice.verdict == (2, True)
    _run(choice, _fixed(0.5, 1.0), mc.RECHECK_FIRST + 2 * mc.TRIALS)
    assert choice.verdict == (2, False) and choice.recheck_after == mc.RECHECK_FIRST


def test_a_steady_state_well_above_its_trial_starts_a_new_trial():
    choice = MeasuredChoice()
    _run(choice, _fixed(1.0, 0.5), 2 * mc.TRIALS)
    # single slow runs (the fastest of a window stays near the trial's) change nothing
    assert 3 * mc.WINDOW <= mc.RECHECK_FIRST       # (no recheck in between)
    ways = _run(choice, lambda b, i: 5.0 if i % 2 else 0.5, 2 * mc.WINDOW)
    assert ways == [True] * (2 * mc.WINDOW) and choice.trials == 1
    # a window whose every run is over DRIFT times the trial's: measured again
    ways = _run(choice, lambda b, i: (mc.DRIFT * 0.5 * 1.1) if b else 0.6,
                mc.WINDOW + 2 * mc.TRIALS)
    assert ways[:mc.WINDOW] == [True] * mc.WINDOW
    assert ways[mc.WINDOW:] == _trial()
    assert choice.trials == 2 and choice.verdict == (2, False)
    assert choice.last_trial == (0.6, mc.DRIFT * 0.5 * 1.1)


def test_another_key_starts_a_new_trial():
    choice = MeasuredChoice()
    _run(choice, _fixed(1.0, 0.5), 2 * mc.TRIALS + 3)
    assert choice.verdict == (2, True)
    ways = _run(choice, _fixed(0.5, 1.0), 2 * mc.TRIALS, key=3)
    assert ways == _trial() and choice.verdict == (3, False)


def test_a_slower_plain_way_starts_no_trial():
    # one thread slower than its trial means load, which threads would not beat either
    choice = MeasuredChoice()
    _run(choice, _fixed(0.5, 1.0), 2 * mc.TRIALS)
    ways = _run(choice, _fixed(5.0, 1.0), 2 * mc.WINDOW)
    assert ways == [False] * (2 * mc.WINDOW) and choice.trials == 1


@pytest.mark.parametrize("bold_wins", [True, False])
def test_runs_well_below_a_noisy_trial_start_a_new_trial(bold_wins):
    # every trial run slowed 5x by another process: the way chosen then runs 5x faster after
    choice = MeasuredChoice()
    plain, bold = (1.0, 0.5) if bold_wins else (0.5, 1.0)
    _run(choice, _fixed(5 * plain, 5 * bold), 2 * mc.TRIALS)
    assert choice.verdict == (2, bold_wins)
    ways = _run(choice, _fixed(plain, bold), mc.WINDOW + 2 * mc.TRIALS)
    assert ways[:mc.WINDOW] == [bold_wins] * mc.WINDOW
    assert ways[mc.WINDOW:] == _trial()
    assert choice.trials == 2 and choice.last_trial == (plain, bold)
    # ... and runs as fast as their trial start none
    assert _run(choice, _fixed(plain, bold), 2 * mc.WINDOW) == [bold_wins] * (2 * mc.WINDOW)
    assert choice.trials == 2


def test_two_very_slow_threaded_runs_in_a_row_start_a_new_trial():
    choice = MeasuredChoice()
    _run(choice, _fixed(1.0, 0.5), 2 * mc.TRIALS)
    slow = mc.SLOWER * 1.5
    # one very slow run among fast ones changes nothing ...
    assert _run(choice, lambda b, i: slow if i in (1, 3) else 0.5, 6) == [True] * 6
    assert choice.trials == 1
    # ... two in a row start a trial, which two more end for one thread
    ways = _run(choice, lambda b, i: slow if b else 1.0, 2 + 6)
    assert ways == [True, True, False, True, True, False, False, False]
    assert choice.trials == 2 and choice.verdict == (2, False)


def test_a_switch_cost_is_not_charged_to_every_trial_run():
    # the first run after the other way pays for lines the other way's threads wrote last
    # (2x on the development VM); runs in pairs leave each way runs that follow their own
    switch, plain, bold = 0.5, 1.0, 0.6          # bold wins by more than MARGIN, steady
    choice = MeasuredChoice()
    last = [False]          # (before the trial: serial runs, the kernel's first)

    def seconds(b, i):
        cost = (bold if b else plain) + (switch if b != last[0] else 0.0)
        last[0] = b
        return cost
    _run(choice, seconds, 2 * mc.TRIALS)
    assert choice.verdict == (2, True) and choice.last_trial == (plain, bold)
    # (strictly alternating, every bold run would have paid: 1.1 against 1.0, one thread)


def test_joined_members_take_the_first_ones_way_and_report_the_calls_sum():
    a, b, c = mc.joined(3)
    ways = []
    for call in range(2 * mc.TRIALS):
        way = a.pick(2)
        assert b.pick(2) == way and c.pick(2) == way
        ways.append(way)
        cost = 0.5 if way else 1.0            # each kernel: threads take half the time
        for m in (a, b, c):
            m.done(way, cost)
    assert ways == _steady_trial()
    assert a.verdict == b.verdict == c.verdict == (2, True)
    assert c.last_trial == (3.0, 1.5) and a.trials == 1       # the call's sums decided
    # a verdict's way for every member
    assert [m.pick(2) for m in (a, b, c)] == [True] * 3


def test_a_joined_member_without_a_call_in_progress_runs_plainly():
    a, b = mc.joined(2)
    assert b.pick(2) is False           # (the first member has not picked)
    b.done(False, 1.0)
    assert a.trials == 0 and a.verdict is None
    assert type(mc.joined(1)[0]) is MeasuredChoice and mc.joined(0) == []


def _steady():
    """A choice of a plan's kernels (measured_choice.joined): runs of one way in a row, the
    runs that follow a run of their own way decide."""
    return MeasuredChoice(mc.STEADY_ORDER, True)


def _steady_trial():
    return [mc.STEADY_ORDER[i % len(mc.STEADY_ORDER)] for i in range(2 * mc.TRIALS)]


def test_a_steady_trial_runs_each_way_in_a_row_and_keeps_the_faster_way():
    choice = _steady()
    ways = _run(choice, _fixed(1.0, 0.5), 2 * mc.TRIALS + 4)
    assert ways[:2 * mc.TRIALS] == _steady_trial()
    assert _steady_trial() == [False, False, True, True, True, True, False, False]
    assert ways[2 * mc.TRIALS:] == [True] * 4
    assert choice.verdict == (2, True) and choice.last_trial == (1.0, 0.5)
    # two very slow bold runs end it at once, as a trial in pairs
    choice = _steady()
    assert _run(choice, _fixed(1.0, mc.SLOWER * 1.5), 8) == [False, False, True, True] + [False] * 4
    assert choice.verdict == (2, False)


def test_runs_after_a_switch_are_left_out_of_the_fastest():
    # W5 under our threads at real-time priority, ms by position in a run of one way (medians
    # of 12 runs of 8, four processes): threads 1.72 1.41 1.43 1.34 1.33 ..., one thread
    # 2.20 2.43 2.31 2.33 ...: threads settle over two or three runs, and one thread's
    # first run after threads is a little faster than its later ones
    def seconds_by_position(bold, k):
        if bold:
            return (1.5, 0.9)[k] if k < 2 else 0.6
        return 0.8 if k == 0 else 1.0

    def run(choice):
        last, k = [None], [0]

        def seconds(b, i):
            k[0] = k[0] + 1 if b == last[0] else 0
            last[0] = b
            return seconds_by_position(b, k[0])
        _run(choice, seconds, 2 * mc.TRIALS)
        return choice
    steady = run(_steady())
    assert steady.verdict == (2, True) and steady.last_trial == (1.0, 0.6)
    paired = run(MeasuredChoice())          # (the pairs see threads' second runs at best)
    assert paired.verdict == (2, False) and paired.last_trial == (0.8, 0.9)


def test_threads_that_won_keep_a_tie():
    # ratios between MARGIN and HOLD: threads do not win from one thread, and keep winning
    # once they won (a close call does not flip with each recheck's noise)
    tie = (mc.MARGIN + mc.HOLD) / 2
    assert mc.MARGIN < tie < mc.HOLD
    choice = MeasuredChoice()
    _run(choice, _fixed(1.0, tie), 2 * mc.TRIALS + mc.RECHECK_FIRST + 2 * mc.TRIALS)
    assert choice.trials == 2 and choice.verdict == (2, False)
    choice = MeasuredChoice()
    _run(choice, _fixed(1.0, 0.5), 2 * mc.TRIALS)
    assert choice.verdict == (2, True)
    ways = _run(choice, _fixed(1.0, tie), mc.RECHECK_FIRST + 2 * mc.TRIALS + 3)
    assert choice.trials == 2 and choice.verdict == (2, True) and ways[-3:] == [True] * 3
    # ... until one thread is faster
    _run(choice, _fixed(1.0, 1.05), 2 * mc.RECHECK_FIRST + 2 * mc.TRIALS)
    assert choice.trials == 3 and choice.verdict == (2, False)


def test_a_steady_state_somewhat_faster_than_its_trial_starts_no_trial():
    # the few steady runs of a trial are slower than a window of the chosen way's runs by
    # up to ~1.4x on the development VM; only FASTER times faster measures again
    for faster, trials in ((mc.FASTER * 0.9, 1), (mc.FASTER * 1.1, 2)):
        choice = MeasuredChoice()
        _run(choice, _fixed(1.0, 0.5), 2 * mc.TRIALS)
        ways = _run(choice, _fixed(1.0 / faster, 0.5 / faster), mc.WINDOW + 1)
        assert choice.trials == 1
        assert ways[:mc.WINDOW] == [True] * mc.WINDOW
        assert ways[mc.WINDOW] is (trials == 1)       # a trial's first run is the plain way
