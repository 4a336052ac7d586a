"""Worker processes that compile kernels into the on-disk cache while the caller goes on.

A big cpu plan whose kernels are not in the cache yet would make its first call wait for
Numba: W6 (a PINN's Adam step, 16 distinct kernels) waited 2.5-5 s.  Instead the plan hands
its kernels' sources and Numba signatures to :func:`start`, runs its first calls with the
NumPy interpreter, and switches to the compiled kernels once the workers have saved them
(backends/cpu_background.py, NUMGRAD_BACKGROUND_COMPILE).

Workers are separate processes (:func:`main` in a fresh Python), not threads: Numba's
typing is Python code, and a compiling thread would hold the GIL the interpreted calls need.
Each worker reads a pickled list of (source, signatures) from its stdin, loads each source
through numgrad's cache and compiles it for each signature with ``cache=True``, so that the
machine code lands in the cache directory, then exits.  What the workers leave behind is
always whole: the cache's entries are written atomically (numgrad's source files by link or
rename, Numba's index and data files by rename), so a worker killed mid-write leaves either no
entry or a complete one, never a torn one.

A worker exits when its parent does (it checks between kernels), and a process that exits
kills and reaps its running workers (atexit).  A forked child does not own its parent's
workers: in the child a job reports itself finished at once, and its plans compile what they
still need themselves.
"""
import atexit
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import time

log = logging.getLogger("numgrad.compiler")

_LOCK = threading.RLock()
_JOBS = []                  # running jobs of this process
_IN_FLIGHT = {}             # kernel source -> the running job compiling it


def worker_count(n_items):
    """Workers for `n_items` kernels: one per CPU beyond the caller's, at least one, at most
    four (each worker first spends ~0.5 s importing numgrad and starting Numba)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:      # pragma: no cover - not Linux
        cpus = os.cpu_count() or 1
    return max(1, min(n_items, cpus - 1, 4))


class Job:
    """Worker processes compiling `items` ([(source, [signature, ...]), ...]) into the cache
    directory `cache_dir`, and the jobs of this process already compiling other kernels the
    caller needs (`waits_for`): the job runs until all of them are done.  The workers' stderr
    goes to a temporary file, read when one fails."""

    def __init__(self, items, cache_dir, workers=None, waits_for=()):
        self.owner = os.getpid()
        self.started = time.perf_counter()
        self.sources = [source for source, _ in items]
        self.waits_for = list(waits_for)
        self.seconds = None         # how long the workers took, once finished
        self.failed = []            # stderr tails of workers that exited with an error
        self.procs = []
        if not items:
            return
        n = workers or worker_count(len(items))
        package_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ, NUMGRAD_CACHE_DIR=cache_dir)
        env["PYTHONPATH"] = os.pathsep.join(
            [package_root] + [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p])
        try:
            for k in range(n):
                self._spawn(items[k::n], env)
        except OSError:
            self.kill()
            raise

    def _spawn(self, share, env):
        err = tempfile.TemporaryFile()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-c", "from numgrad.compile_workers import main; main()",
                 str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=err, env=env)
        except OSError:
            err.close()
            raise
        self.procs.append((proc, err))
        try:
            proc.stdin.write(pickle.dumps(share))
            proc.stdin.close()
        except OSError:         # the worker died at once: poll() reports it
            pass

    def running(self):
        """Whether a worker still runs (False in a forked child, which does not own them)."""
        if os.getpid() != self.owner:
            return False
        if any([proc.poll() is None for proc, _ in self.procs] +
               [job.running() for job in self.waits_for]):
            return True
        self._finish()
        return False

    def wait(self, timeout=None):
        """Wait until the workers are done (at most `timeout` seconds); whether they are."""
        return poll_until_done(self.running, timeout)

    def kill(self):
        """Stop the workers now (whatever they have saved is whole; the rest compiles on
        use)."""
        if os.getpid() != self.owner:
            return
        for proc, _ in self.procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
        self._finish()

    def _finish(self):
        if self.seconds is not None:
            return
        self.seconds = time.perf_counter() - self.started
        for proc, err in self.procs:
            if proc.returncode:
                err.seek(0)
                self.failed.append(err.read()[-2000:].decode(errors="replace"))
            err.close()
        with _LOCK:
            if self in _JOBS:
                _JOBS.remove(self)
            for source in self.sources:
                if _IN_FLIGHT.get(source) is self:
                    del _IN_FLIGHT[source]
        for text in self.failed:
            log.info("numgrad: a compile worker failed (its kernels compile on use): %s", text)


def poll_until_done(running, timeout=None, interval=0.01):
    """Call `running()` every `interval` seconds until it is False or `timeout` seconds
    passed; whether it finished (a job's `wait`)."""
    end = None if timeout is None else time.perf_counter() + timeout
    while running():
        if end is not None and time.perf_counter() > end:
            return False
        time.sleep(interval)
    return True


def start(items, cache_dir, workers=None):
    """A running :class:`Job` compiling `items` (kernels that another job of this process is
    compiling already are waited for, not compiled twice), or None if no worker could be
    started."""
    with _LOCK:
        others, mine = {}, []
        for source, signatures in items:
            job = _IN_FLIGHT.get(source) if signatures else None
            if job is None:
                mine.append((source, signatures))
            else:
                others[id(job)] = job
        try:
            job = Job(mine, cache_dir, workers, others.values())
        except OSError as e:
            log.info("numgrad: no compile workers (%s); compiling on use", e)
            return None
        _JOBS.append(job)
        for source, signatures in mine:
            if signatures:          # (an item without any is only loaded, for an import)
                _IN_FLIGHT[source] = job
    return job


def track(job):
    """Count `job` (anything with running/wait/kill: backends/cpu_llvm.CompileJob) among this
    process's jobs, for wait_all and the exit; returns it."""
    with _LOCK:
        _JOBS.append(job)
    return job


def untrack(job):
    """`job` is done: no longer one of this process's jobs (as a Job leaves on finishing)."""
    with _LOCK:
        if job in _JOBS:
            _JOBS.remove(job)


def wait_all(timeout=None):
    """Wait until this process's compile workers are done (at most `timeout` seconds each);
    the number of jobs that were running.  Benchmarks call it after the calls that start
    them, so that what they time is compiled code."""
    with _LOCK:
        jobs = list(_JOBS)
    for job in jobs:
        job.wait(timeout)
    return len(jobs)


def _kill_all():
    with _LOCK:
        jobs = list(_JOBS)
    for job in jobs:
        job.kill()


def _after_fork_in_child():
    global _LOCK, _JOBS, _IN_FLIGHT
    _LOCK = threading.RLock()
    _JOBS, _IN_FLIGHT = [], {}      # the parent's workers: not ours to wait for or kill


atexit.register(_kill_all)
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def main():
    """A worker: load each (source, signatures) pickled on stdin and compile its `kernel` for
    each signature into the cache directory (NUMGRAD_CACHE_DIR), while the parent process
    (pid in argv[1]) lives.  A source without signatures is only loaded: a plan function
    (compiled as it loads, its signature explicit) imports the kernels loaded before it."""
    from . import cache
    from .compiler import vecmath_calls
    vecmath_calls.module_name()     # big kernels import the vecmath wrappers by module name
    parent = int(sys.argv[1])
    for source, signatures in pickle.loads(sys.stdin.buffer.read()):
        if os.getppid() != parent:
            return
        module = cache.load(source)
        for sig in signatures:
            module.kernel.compile(sig)
    # Numba saved each kernel as it compiled it; skip the interpreter's teardown (~1 s).
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)

