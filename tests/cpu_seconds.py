"""``--cpu-seconds DIR``: where the suite's CPU time goes, per test file.

Each test's CPU seconds (user + system, of its process and of the subprocesses it waited for,
from its setup to its teardown), wall seconds and start time (seconds since the epoch) go to
``DIR/<worker>.tsv`` (one table per pytest-xdist worker, ``main.tsv`` without workers); at the
end the run prints the files that took the most CPU and the worker that ran each, and when each
worker ran its first test and finished its last, in seconds from the run's start (start-up and
collection before the first test; the tail: how long one worker went on alone).  CPU seconds
are what compares between runs on a busy machine.  With an empty NUMGRAD_CACHE_DIR it counts
the cold compiles that CI pays for (give the directory after ``=``: pytest would take a
separate word for a test path when it looks for the project's root, before it knows the
option):

    NUMGRAD_CACHE_DIR=$(mktemp -d) python -m pytest -n 2 --dist loadfile --cpu-seconds=/tmp/cpu
"""
import collections
import pathlib
import resource
import time

SHOWN = 25          # files in the summary


def pytest_addoption(parser):
    parser.addoption("--cpu-seconds", metavar="DIR", default=None,
                     help="write each test's CPU and wall seconds to DIR/<worker>.tsv and print "
                          "the test files that took the most CPU (tests/cpu_seconds.py)")


class _Recorder:
    def __init__(self, table):
        self.table = table
        self.started = {}

    def pytest_runtest_logstart(self, nodeid):
        self.started[nodeid] = (_cpu(), time.perf_counter(), time.time())

    def pytest_runtest_logfinish(self, nodeid):
        cpu, wall, start = self.started.pop(nodeid)
        with open(self.table, "a", encoding="utf-8") as f:
            f.write(f"{nodeid}\t{_cpu() - cpu:.3f}\t{time.perf_counter() - wall:.3f}"
                    f"\t{start:.3f}\n")


def _cpu():
    own, children = (resource.getrusage(who)
                     for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _distributing(config):
    """Whether this process hands the tests to pytest-xdist workers (it sees them run too)."""
    return bool(getattr(config.option, "numprocesses", None)) and not _is_worker(config)


def _is_worker(config):
    return hasattr(config, "workerinput")


_STARTED = time.time()       # when pytest imported this plugin: the run's start, near enough


def pytest_configure(config):
    out = config.getoption("cpu_seconds")
    if out is None:
        return
    out = pathlib.Path(out)
    if not _is_worker(config):          # a fresh table for this run
        out.mkdir(parents=True, exist_ok=True)
        for old in out.glob("*.tsv"):
            old.unlink()
    if not _distributing(config):
        worker = config.workerinput["workerid"] if _is_worker(config) else "main"
        config.pluginmanager.register(_Recorder(out / f"{worker}.tsv"), "cpu_seconds_recorder")


def pytest_terminal_summary(terminalreporter, config):
    out = config.getoption("cpu_seconds")
    if out is None or _is_worker(config):
        return
    files = collections.defaultdict(lambda: [0.0, 0.0, 0, set()])
    spans = {}
    for table in sorted(pathlib.Path(out).glob("*.tsv")):
        for line in table.read_text(encoding="utf-8").splitlines():
            nodeid, cpu, wall, start = line.split("\t")
            first, last = spans.get(table.stem, (float(start), 0.0))
            spans[table.stem] = (min(first, float(start)), max(last, float(start) + float(wall)))
            row = files[nodeid.split("::")[0]]
            row[0] += float(cpu)
            row[1] += float(wall)
            row[2] += 1
            row[3].add(table.stem)
    total = sum(row[0] for row in files.values())
    terminalreporter.section(f"CPU seconds per test file: {total:.0f} s in all ({out})")
    terminalreporter.write_line(f"{'cpu s':>8} {'wall s':>8} {'tests':>6}  worker  file")
    for name, (cpu, wall, n, workers) in sorted(files.items(), key=lambda kv: -kv[1][0])[:SHOWN]:
        terminalreporter.write_line(
            f"{cpu:8.1f} {wall:8.1f} {n:6d}  {','.join(sorted(workers)):6s}  {name}")
    if spans:
        origin = _STARTED
        end = max(last for _, last in spans.values())
        for worker, (first, last) in sorted(spans.items()):
            terminalreporter.write_line(
                f"{worker}: first test at {first - origin:.1f} s, last done at {last - origin:.1f}"
                f" s ({end - last:.1f} s before the last worker)")
