"""A choice between two ways of running one step, made by timing both: the plain way (one
thread) or the bold way (numgrad's threads for a fused kernel, more BLAS threads for a large
product).  Both give the same results; only their speed differs, and on a shared VM it
differs from moment to moment.

Why this shape: `python -m numgrad.bench --variants --why` on the loaded 2-core development
VM (load ~4, six fresh processes) showed W5's (1000, 1000) kernels deciding for threads in
one formulation and against them in the next, from a trial whose fastest of three one-thread
runs was 1.13 ms against 0.5 ms in every other process: all three landed while another
process held the core.  The old rules made such verdicts stick: one that threads pay held
for 1000 runs (the whole benchmark), a BLAS trial decided for one thread on a single slow
threaded run and then held for 1000 runs, and a kernel that had decided for threads kept
them however slow its runs became.  Here a verdict depends on no single sample, none is
held for long while it is young, and a steady state well above what the trial measured is
measured again:

* A trial runs the ways in the order plain, bold, bold, plain, plain, bold, ... until TRIALS
  runs of each; the bold way is kept when its fastest run takes at most MARGIN of the plain
  way's fastest (threads that only tie lose: a busy core makes them wait, the plain way
  not).  Runs in pairs, not one way then the other: the first run after a switch writes
  memory that the other way's threads wrote last, and fetching those lines from another
  vCPU's cache cost up to 2x on the development VM, in some processes and not in others
  (W5: a worker rewriting the half of a 4 MB output that the calling thread wrote the run
  before took 0.21-0.26 ms, the same worker rewriting its own half 0.11-0.15 ms; with
  numgrad's threads at real-time priority, as on a quiet machine, whole W5 calls that
  alternated serial and threaded kernels took 2.0-3.3 ms either way, runs of one way
  1.8-2.1 ms serial and 1.6-1.8 ms threaded).  Strict alternation charged that cost to
  every trial run, and W5's kernels chose one thread in such processes.  In pairs, each way
  has TRIALS // 2 runs that follow a run of the same way, and its fastest run is normally
  one of them.  Two bold runs slower than
  SLOWER times the plain way's fastest end the trial for the plain way at once (a product
  that takes 2 ms on one thread took 8-24 ms on two beside a busy core: blas_threads.py).
* A plan's kernels (`joined`, `shared`) go further: their trials run each way in a row
  (STEADY_ORDER: plain, plain, bold x 4, plain, plain), and only runs that follow a run of
  their own way decide.  W5 with our threads at real-time priority, ms by position in a run
  of one way (medians of 12 runs of 8, four processes): threads 1.72 1.41 1.43 1.34 1.33
  1.37 ..., 2.07 1.80 1.69 1.74 ..., one thread 2.20 2.43 2.31 2.33 ...: threads settle over
  two or three runs, and one thread's first run after threads is a little faster than its
  later ones (in a slow-state process, 4.4-5.3 ms against 1.7-2.0 after its own way).  The
  pairs measured threads by their second run at best, which the window of the chosen way
  then beat by over DRIFT: 0-7 trials for nothing per process in the warm-ups of W5's three
  formulations (~300 calls; bench --variants).
* Threads that won the last trial keep winning ties, up to HOLD (1.0) instead of MARGIN:
  where W5's ways were within ~10% of each other its verdict flipped with each trial's noise
  (one process's trial minima 1.38-1.76 ms threaded, 1.65-2.23 one thread: 8 trials, 5 flips), and
  each flip restarts the recheck schedule at RECHECK_FIRST.
* A verdict is measured again after RECHECK_FIRST runs, twice as many after each repeated
  verdict, up to RECHECK.  A true verdict costs a trial's few runs of the slower way each
  time; a wrong one, taken in a noisy moment, is put right within RECHECK_FIRST runs.
* Drift: the chosen way's fastest run of its last WINDOW runs is compared with its fastest
  trial run.  Threads over DRIFT times slower: a core they need got busy.  Either way FASTER
  times faster (1.5: on the loaded VM the fastest of 8 W5 runs beat the fastest of a
  trial's 2-3 by 1.24-1.55x, and at DRIFT that started a trial every few windows): the
  trial ran in a noisy moment (W5's 6 trial runs are ~15 ms, one time slice of another
  process: a kernel chose threads from 5.5 ms serial against 3.3 ms
  threaded runs, then ran 1.2 ms threaded beside 1.1 ms serial in the other formulations),
  or the machine got quieter.  Both start a new trial.  One thread slower than in its trial
  is not: it slows when another process shares its core, and threads would wait for a core
  then too.  (At DRIFT 1.5 a W2 kernel whose threaded trial took 13.1 ms kept threads at
  19.6-20 ms a run, while the serial kernel of the other formulations ran in 16.8.)
* Two threaded runs in a row slower than SLOWER times the one-thread trial time start a new
  trial at once: W3's large product chose two BLAS threads in a quiet moment (1.3 against
  2.1 ms), then took 20-50 ms a run beside a busy core, and a window of 8 such runs was
  most of the benchmark's calls.
"""
TRIALS = 4               # runs of each way per trial (ORDER)
MARGIN = 0.9
HOLD = 1.0               # MARGIN for a bold way that won the last trial
SLOWER = 2.0
RECHECK_FIRST = 25
RECHECK = 1000
WINDOW = 8
DRIFT = 1.25
FASTER = 1.5             # the DRIFT of a steady state faster than its trial

ORDER = (False, True, True, False)       # a trial's ways, repeated (True: bold)
# the trial order of a plan's kernels (`joined`): runs of one way in a row, of which those
# that follow a run of their own way decide (MeasuredChoice's `steady`)
STEADY_ORDER = (False, False, True, True, True, True, False, False)

__all__ = ["MeasuredChoice", "joined", "shared", "forget", "TRIALS", "ORDER", "STEADY_ORDER",
           "MARGIN", "HOLD", "SLOWER", "RECHECK_FIRST", "RECHECK", "WINDOW", "DRIFT", "FASTER"]


class MeasuredChoice:
    """Per step: whether the bold way runs it.  A caller asks `pick(key)`, runs the way it
    says (True: bold), and reports that run's seconds to `done(bold, seconds)`.  `key` is what
    a verdict holds for (a thread count): another key starts a new trial.

    verdict: None (measuring) or (key, whether the bold way was faster).  last_trial: the
    fastest (plain, bold) seconds of the last finished trial, None before one.

    Runs of one step from several threads at once (one Session used by many threads) share
    it without a lock, as the choices before it did: a race can only misplace a sample."""

    __slots__ = ("verdict", "key", "plain", "bold", "runs", "recheck_after", "repeats",
                 "expected", "window", "seen", "last_trial", "trials", "kind", "slow", "prev",
                 "steady", "order")

    def __init__(self, order=ORDER, steady=False):
        self.order = order                  # the trial's ways, repeated
        self.verdict = None
        self.key = None
        self.plain, self.bold = [], []      # the running trial's seconds
        self.runs = 0                       # runs since the verdict
        self.recheck_after = RECHECK_FIRST
        self.repeats = 0                    # verdicts in a row that agreed
        self.expected = 0.0                 # the chosen way's fastest trial run
        self.window, self.seen = float("inf"), 0    # fastest of the chosen way's recent runs
        self.last_trial = None
        self.trials = 0                     # trials finished (tests, the bench's --why)
        self.kind = None                    # the last verdict's way, kept across trials
        self.slow = 0                       # threaded runs in a row over SLOWER x one thread
        self.prev = None                    # the way of the last run reported
        # steady: the trial's runs that followed one of their way (decide, when kept: `steady`)
        self.steady = ([], []) if steady else None

    def pick(self, key):
        """Whether the next run takes the bold way."""
        if key != self.key:
            self.key, self.verdict, self.repeats = key, None, 0
            self._new_trial()
        elif self.verdict is not None:
            self.runs += 1
            if self.runs <= self.recheck_after:
                return self.verdict[1]
            self.verdict = None             # measured again
        order = self.order
        return order[(len(self.plain) + len(self.bold)) % len(order)]

    def done(self, bold, seconds):
        """Record a run that `pick` asked for."""
        verdict = self.verdict
        switched, self.prev = bold != self.prev, bold
        if verdict is None:
            (self.bold if bold else self.plain).append(seconds)
            if not switched and self.steady is not None:
                self.steady[1 if bold else 0].append(seconds)
            plain, boldly = self.plain, self.bold
            if not plain:
                return          # (another thread's run ended the trial meanwhile)
            if len(boldly) >= 2 and min(boldly) > SLOWER * min(plain):
                self._decide(False, plain, boldly)
            elif len(plain) >= TRIALS and len(boldly) >= TRIALS:
                # the fastest of the runs that followed a run of their own way
                if self.steady is not None:
                    plain, boldly = self.steady[0] or plain, self.steady[1] or boldly
                # threads that tie lose, unless they won the last trial (HOLD)
                margin = HOLD if self.kind else MARGIN
                self._decide(min(boldly) <= margin * min(plain), plain, boldly)
            return
        if bold and seconds > SLOWER * self.last_trial[0]:
            self.slow += 1
            if self.slow >= 2:          # threads slower than twice one thread, twice in a row
                self.verdict = None
                self._new_trial()
                return
        else:
            self.slow = 0
        if seconds < self.window:
            self.window = seconds
        self.seen += 1
        if self.seen >= WINDOW:
            fastest, expected = self.window, self.expected
            # threads slower than in their trial (a core they need got busy), or either way
            # faster than in its trial (the trial ran in a noisy moment, or the machine got
            # quieter): measured again.  One thread slower than in its trial is load, which
            # threads would not beat.
            if fastest * FASTER < expected or bold and fastest > DRIFT * expected:
                self.verdict = None
                self._new_trial()
            self.window, self.seen = float("inf"), 0

    def _new_trial(self):
        self.plain, self.bold = [], []
        if self.steady is not None:
            self.steady = ([], [])

    def _decide(self, bold, plain, boldly):
        self.repeats = self.repeats + 1 if self.kind == bold else 1
        self.kind = bold
        self.last_trial = (min(plain), min(boldly))
        self.expected = self.last_trial[1 if bold else 0]
        self.recheck_after = min(RECHECK, RECHECK_FIRST << min(self.repeats - 1, 16))
        self.runs, self.window, self.seen, self.slow = 0, float("inf"), 0, 0
        self._new_trial()
        self.trials += 1
        self.verdict = (self.key, bold)     # last: a run in another thread reads the rest


def joined(n, key=None):
    """`n` stand-ins for MeasuredChoice that decide together: the steps of one call that they
    govern (a plan's parallel kernels, in plan order) all take the way the first one picks,
    and the last one reports the sum of their seconds.  One choice for all, because the
    kernels of a plan read what the kernels before them wrote: with some threaded and some
    not, each call moves the arrays' halves between the vCPUs' caches.  W5 (three parallel
    kernels, our threads at real-time priority, as on a quiet machine; min ms of 21 calls
    per way, four processes): one thread for all 1.99-2.63, threads for all 1.41-1.80, the
    six mixed ways 1.43-3.12 and in the three processes where another vCPU's lines cost 2x,
    2.18-3.12, every one slower than both.  Per kernel, the choices came out mixed.

    `key` (hashable; the plan's parallel kernels' iteration spaces, in order): the plans of
    this process with an equal key share one MeasuredChoice (`shared`), so formulations of
    one computation take the same way, from the trials of all of them (see `shared`)."""
    if n <= 0:
        return []
    if key is None and n == 1:
        return [MeasuredChoice()]
    choice = MeasuredChoice(STEADY_ORDER, True) if key is None else shared(key)
    group = _Joined(choice)
    return [_Member(group, i == 0, i == n - 1) for i in range(n)]


_SHARED = {}        # key -> the MeasuredChoice of the process's plans of that key (`shared`)


def shared(key):
    """The process's one MeasuredChoice for `key` (made on first use).

    Why: each plan choosing for itself let formulations of one computation take different
    ways in one process.  W5's three formulations (bench --variants, timed call by call in
    turn; numgrad at real-time priority, 16 fresh processes): in 4 the plans' calls ran
    different ways (threaded / one-thread timed calls 22/1, 0/23, 19/4 and the like), and
    the worst formulation took 1.43-1.89x the best, against 1.01-1.12 in the others.  Each
    call then also follows another plan's call of the other way (malloc hands the next plan
    the arrays the last one freed, whose lines may sit in the other vCPU's cache), and a
    one-thread run right after threads took up to 2.5x its time after one thread.  Shared,
    a plan made later starts from the verdict the earlier ones reached and needs no trial
    of its own, the rechecks of all its plans together are as frequent as one plan's, and a
    trial's runs (STEADY_ORDER, in the order the process makes its calls) come from
    whichever plans run meanwhile.  The plans' own seconds may differ a little (W5's
    formulations by up to ~10% on one thread); the fastest run of each way then comes from
    the cheapest plan alike, and a drift beyond DRIFT (FASTER) measures again.
    docs/benchmarks.md has the measurements."""
    got = _SHARED.get(key)
    if got is None:
        got = _SHARED.setdefault(key, MeasuredChoice(STEADY_ORDER, True))
    return got


def forget():
    """Drop the shared choices (`shared`): plans made after this measure from scratch (the
    test suite calls it between tests)."""
    _SHARED.clear()


class _Joined:
    """One plan's call state over its (possibly shared) choice: the way its first member
    picked and the seconds of its members so far."""
    __slots__ = ("choice", "way", "total")

    def __init__(self, choice):
        self.choice, self.way, self.total = choice, None, 0.0


class _Member:
    """One step's view of a joined choice (`joined`): pick and done as MeasuredChoice's, its
    other attributes (verdict, last_trial, trials, ...) the shared choice's.  Runs of one plan
    from several threads at once can only misplace a sample, as for MeasuredChoice."""

    __slots__ = ("group", "first", "last")

    def __init__(self, group, first, last):
        self.group, self.first, self.last = group, first, last

    def pick(self, key):
        group = self.group
        if self.first:
            group.way, group.total = group.choice.pick(key), 0.0
        return bool(group.way)

    def done(self, bold, seconds):
        group = self.group
        group.total += seconds
        if self.last and group.way is not None and bold == group.way:
            group.choice.done(bold, group.total)
            group.way = None

    def __getattr__(self, name):
        return getattr(self.group.choice, name)
