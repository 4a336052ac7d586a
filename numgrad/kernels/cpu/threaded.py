"""Whether an opaque kernel's chunks run on numgrad's threads (numgrad/threads.py) or serially
on the calling thread, chosen by measuring, per call site (op type and shapes).

A kernel here is a Numba function `kernel(mode, c0, c1, *args)` (compiled with nogil=True)
that does chunks c0..c1 of its work; the chunks must write disjoint outputs, so that any
split gives the same bits.  Used by conv.py, pool_avg.py, segment_reduce.py and top_k.py.
"""
import time

from ... import measured_choice, threads


class ThreadChoice:
    """Whether numgrad's threads pay for one kernel at one shape, measured as for the fused
    kernels (cpu_runners.py): the first runs take the two ways in pairs (measured_choice.ORDER:
    the first run after a switch fetches what the other way's threads wrote) until TRIALS of
    each, the faster way is kept, and the choice is measured again every RECHECK runs.  On a machine whose
    other processes keep the cores busy, waking a worker costs more than the work it takes
    (W9 on the 2-core VM under load: 99-147 ms a step serial, 134-223 ms threaded)."""

    TRIALS, RECHECK = measured_choice.TRIALS, 500
    __slots__ = ("serial", "threaded", "pays", "runs")

    def __init__(self):
        self.serial, self.threaded, self.pays, self.runs = [], [], None, 0

    def run(self, kernel, count, args):
        n = min(threads.get_num_threads(), count)
        if n <= 1:
            kernel(0, 0, count, *args)
            return
        self.runs += 1
        if self.pays is not None and self.runs <= self.RECHECK:
            if self.pays:
                threads.run_chunks(kernel, count, args)
            else:
                kernel(0, 0, count, *args)
            return
        order = measured_choice.ORDER
        serial = not order[(len(self.serial) + len(self.threaded)) % len(order)]
        t0 = time.perf_counter()
        if serial:
            kernel(0, 0, count, *args)
        else:
            threads.run_chunks(kernel, count, args)
        (self.serial if serial else self.threaded).append(time.perf_counter() - t0)
        if len(self.threaded) >= self.TRIALS and len(self.serial) >= self.TRIALS:
            self.pays = min(self.threaded) < min(self.serial)
            self.serial, self.threaded, self.runs = [], [], 0


_CHOICES = {}


def run(site, kernel, count, *args):
    """kernel(mode, c0, c1, *args) over chunks 0..count, serially or on numgrad's threads as
    measured for `site` (a hashable key: op type and shapes)."""
    choice = _CHOICES.get(site)
    if choice is None:
        choice = _CHOICES.setdefault(site, ThreadChoice())
    choice.run(kernel, count, args)
