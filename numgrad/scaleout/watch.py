"""Waiting for a phase's result without hanging for ever on a cluster that cannot run it.

A Dask worker *pauses* while its process's memory is above a fraction of its memory limit
(``distributed.worker.memory.pause``, 0.8 by default): it starts no new task until its memory
falls again.  When every worker is paused and none is executing a task, nothing will lower
the memory, and Dask waits for ever without a word.  In-process workers
(``LocalCluster(processes=False)``) get there easily: the memory they measure is the whole
client process's, the client's own arrays included.

`wait_result(client, future)` returns ``future.result()``, waiting for it one
`PauseWatch.interval` at a time (at most a second); after each interval without the result it
asks the scheduler for its workers' states (nothing when the result comes within the first
one).  Once every worker has been paused and idle for a few seconds it logs one warning; when
that has lasted the grace period (``NUMGRAD_DASK_PAUSE_GRACE`` seconds, counted from the first
look that found them so; 0 waits for ever, as Dask does) it raises `ClusterPaused`, which
names the workers, their memory use and limits, and the ways out.  The caller cancels the
future.  Nothing here imports dask.
"""
import asyncio
import logging
import time

from .. import config

__all__ = ["ClusterPaused", "PauseWatch", "paused_workers", "wait_result", "GRACE_SWITCH"]

log = logging.getLogger("numgrad.scaleout")
GRACE_SWITCH = "NUMGRAD_DASK_PAUSE_GRACE"


class ClusterPaused(RuntimeError):
    """Every worker of the cluster stayed paused (its memory above its pause threshold) for
    the grace period, so the run could not make progress; its tasks were cancelled.
    `workers`: address -> the scheduler's information about the worker."""

    def __init__(self, workers, waited):
        self.workers = dict(workers)
        self.waited = waited
        super().__init__(_message(self.workers, waited))

    def __reduce__(self):   # unpickled from its fields, not from the message alone
        return type(self), (self.workers, self.waited)


def paused_workers(workers):
    """`workers` (address -> the scheduler's information, as ``scheduler_info()["workers"]``)
    if there is at least one and every one is paused with no task executing, else {}."""
    if not workers:
        return {}
    for info in workers.values():
        if info.get("status") != "paused":
            return {}
        counts = (info.get("metrics") or {}).get("task_counts") or {}
        if counts.get("executing", 0):
            return {}
    return dict(workers)


class PauseWatch:
    """Tells, from repeated looks at the workers, when every one has been paused for the
    grace period.  `workers()`: the scheduler's workers now (address -> information)."""

    def __init__(self, workers, grace, clock=time.monotonic):
        self.workers = workers
        self.grace = grace
        self.interval = min(1.0, grace / 4)         # seconds between looks
        self.warn_after = min(3.0, grace / 2)
        self.clock = clock
        self.since = None       # when a look first found every worker paused (this stretch)
        self.warned = False

    def check(self):
        """One look: log the warning or raise `ClusterPaused` when it is time."""
        try:
            stuck = paused_workers(self.workers())
        except Exception as e:      # the scheduler did not answer: Dask's own business
            log.debug("numgrad: could not ask the scheduler about its workers: %s", e)
            stuck = {}
        now = self.clock()
        if not stuck:
            self.since = None
            return
        if self.since is None:
            self.since = now
        waited = now - self.since
        if waited >= self.grace:
            raise ClusterPaused(stuck, waited)
        if waited >= self.warn_after and not self.warned:
            self.warned = True
            log.warning("numgrad: every Dask worker has been paused for %.0f s (memory above "
                        "its pause threshold), so the run is not progressing; giving up after "
                        "%s s (%s).%s", waited, self.grace, GRACE_SWITCH, _worker_lines(stuck))


def wait_result(client, future):
    """``future.result()``, raising `ClusterPaused` when every worker of `client`'s cluster
    stays paused for the grace period."""
    grace = config.get(GRACE_SWITCH)
    if not grace:
        return future.result()
    watch = PauseWatch(lambda: _scheduler_workers(client), grace)
    while not future.done():
        try:
            return future.result(timeout=watch.interval)
        except asyncio.TimeoutError:    # distributed's TimeoutError (the builtin on 3.11+)
            if future.done():           # done meanwhile, or the task's own TimeoutError:
                break                   # result() below returns or raises it
            watch.check()
    return future.result()


def _scheduler_workers(client):
    try:
        info = client.scheduler_info(n_workers=-1)
    except TypeError:           # a distributed without the argument returns every worker
        info = client.scheduler_info()
    return info.get("workers") or {}


def _mb(n):
    return f"{n / 1e6:,.0f} MB"


def _worker_lines(workers):
    lines = []
    for addr, info in workers.items():
        limit = info.get("memory_limit") or 0
        used = (info.get("metrics") or {}).get("memory")
        use = "memory use unknown" if used is None else f"process memory {_mb(used)}"
        if limit:
            share = f" ({100 * used / limit:.0f}% of it)" if used is not None else ""
            lines.append(f"\n  {addr}: memory limit {_mb(limit)}, {use}{share}")
        else:
            lines.append(f"\n  {addr}: no memory limit, {use}")
    return "".join(lines)


def _message(workers, waited):
    lines = [f"every worker of the Dask cluster has been paused for {waited:.0f} s, so this run "
             f"cannot make progress: a paused worker starts no task until its process memory "
             f"falls below the pause fraction (the dask setting "
             f"distributed.worker.memory.pause, 0.8 by default) of its memory limit."
             f"{_worker_lines(workers)}"]
    if any(str(a).startswith("inproc://") for a in workers):
        lines.append("These are in-process workers (processes=False): the memory each one "
                     "measures is the whole client process's, the client's own arrays "
                     "included.")
    lines.append("Give the workers a larger memory_limit, use process workers "
                 "(LocalCluster(processes=True)), or raise or disable the pause threshold "
                 "(dask.config.set({'distributed.worker.memory.pause': False}) before the "
                 "cluster starts).  The run's tasks were cancelled; the session can run "
                 f"again.  {GRACE_SWITCH} sets how long to wait (0: for ever).")
    return "\n".join(lines)
