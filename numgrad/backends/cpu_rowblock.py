"""Row-block plans: a cpu plan's steps over its many rows run in blocks of rows, each thread
on its own share of them, with per-thread partial sums added once at the end.

Why: W6 (bench_train.py) spends its time streaming (10000, 20) intermediates between ~190
small steps.  compiler/row_blocks.py classifies every step of such a plan from its ops'
declarations: row-local, a sum over the rows, or outside the rows.  When no step is anything
else, compiler/emit_rowblock.py writes three nogil Numba functions: `pre` (the steps outside
the rows that the loop reads), `rows` (the block loop over one thread's rows, its
intermediates in block-sized scratch arrays that stay in cache) and `post` (the blocks'
partial sums added in block order, then the remaining steps).  A call runs `pre` on the
calling thread, `rows` on every thread (the calling one and numgrad's pool), each taking the
next block not yet taken until none is left (a thread whose core another process takes
holds up no other), then `post`.  numgrad/bench_rowblock.py measured the same layout
written by hand for W6: 15 ms on one thread and ~8 ms on two, against 14-24 ms.

The results are the step runner's within rounding (the sums over the rows are added per
block, then block after block): the same from call to call and for any number of threads.

`NUMGRAD_ROW_LANES` (config.py): ``auto`` (default) builds a row-block plan where one can
run, with the machinery of native lanes (backends/cpu_native.py: compile workers, then
measured trials), and runs it when its calls are faster than the step runner's; the plan's
native lanes are built only if the row blocks lose (NativeChoice._other); ``on`` compiles
it in the calling process and always runs it where it can; ``off`` never.

Blocks are kept column by column where every step over the rows allows
(compiler/row_transpose.py, `NUMGRAD_ROW_COLUMNS`): W6's products then run ~35% faster.
"""
import threading

import numba
import numpy as np

from .. import config, threads
from ..compiler import emit_rowblock, row_blocks, row_transpose
from ..compiler.emit_cpu import emit_group
from ..kernels.cpu import lane_sync
from . import cpu_native
from .cpu_runners import GroupRunner

MODE = config.get("NUMGRAD_ROW_LANES")
# blocks column by column where every step over the rows allows (compiler/row_transpose.py)
COLUMNS = config.get("NUMGRAD_ROW_COLUMNS")
# rows per block: the block's intermediates (W6: ~40 live (B, 20) float32 arrays) stay in
# a core's L2 (measured: docs/benchmarks.md "W6: row-block plans")
BLOCK_ROWS = 512
MAX_THREADS = 16


def why_not(plan):
    """None when `plan` (a CompiledPlan that native lanes can run) can run as row blocks,
    else the reason."""
    found = row_blocks.analyse(plan)
    return emit_rowblock.why_not(plan, plan.runners, found)


def block_rows(rows, n_threads):
    """The block size for `rows` rows on `n_threads` threads: BLOCK_ROWS, or fewer so that
    every thread has a block."""
    return max(1, min(BLOCK_ROWS, -(-rows // n_threads)))


class RowPlan:
    """The three functions of one CompiledPlan's row-block form for `n_threads` threads,
    and their buffers (the same interface as cpu_native.NativePlan)."""

    def __init__(self, plan, n_threads, load=True, block=None):
        self.plan = plan
        found = row_blocks.analyse(plan)
        rows = found.rows
        self.block = block or block_rows(rows, n_threads)
        self.layout_rows = rl = emit_rowblock.RowLayout(plan, found)
        self.layout = rl.layout
        self.transposed, runners = {}, plan.runners
        self.columns = COLUMNS and row_transpose.why_not(plan, found, set(rl.layout.given)) \
            is None
        if self.columns:
            self.transposed, runners = transposed_runners(plan, found)
        self.sources = emit_rowblock.sources(plan, runners, rl,
                                             self.transposed if self.columns else None)
        self.runners = runners
        self.arena = np.empty(self.layout.arena_bytes, np.uint8)
        self.blocks = -(-rows // self.block)
        # each block's partial sums, added in block order by `post`
        self.works = np.zeros((self.blocks, max(emit_rowblock.ALIGN, rl.work_bytes)), np.uint8)
        self.counter = np.zeros(1, np.int64)        # the next block to take
        # each thread's scratch buffer (emit_rowblock's block-sized arrays), made once
        size = lane_sync.slot_offsets.py_func(
            self.block, np.array(rl.scratch_row_bytes, np.int64))[-1] \
            if rl.scratch_row_bytes else 0
        self.scratch = [np.empty(size, np.uint8) for _ in range(n_threads)]
        self.threads = n_threads
        self.consts = [a for _, a in plan.consts]
        self.fetch = [self.layout.given[v.id] for v in plan._fetch_values]
        self.lock = threading.Lock()
        base = ([np.empty(v.shape, v.dtype) for v in plan._feed_values] + self.consts +
                [np.empty(shape, dtype) for shape, dtype in self.layout.out_allocs] +
                [self.arena])
        i64 = np.int64(0)
        samples = {"pre": base, "rows": base + [self.works, self.counter, i64,
                                                self.scratch[0]],
                   "post": base + [self.works]}
        self.signatures = {name: tuple(numba.typeof(a) for a in args)
                           for name, args in samples.items()}
        self.functions = None
        self.completed = 0              # calls run to the end (the rest fell back)
        if load:
            self.load()

    def kernel_sources(self):
        extra = [self.runners[i]._source for i in sorted(self.transposed)]
        return cpu_native.kernel_sources(self.plan) + [s for k, s in enumerate(extra)
                                                       if s not in extra[:k]]

    def compile_items(self):
        return [(self.sources[name], [self.signatures[name]]) for name in ("pre", "rows", "post")
                if name in self.sources]

    def cached(self):
        from .. import cache
        srcs = list(self.sources.values())
        return len(cache.compiled(srcs)) == len(srcs)

    def load(self):
        from .. import cache
        functions = {}
        for name, src in self.sources.items():
            fn = cache.load(src, "kernel")
            fn.compile(self.signatures[name])
            functions[name] = fn
        self.functions = functions

    def __call__(self, feed_values):
        """The fetched results, or None when the caller must run the steps (a call of this
        plan already running in another thread, or a function raised)."""
        if not self.lock.acquire(blocking=False):
            return None
        try:
            outs, base = cpu_native.call_arguments(self.layout, feed_values, self.consts)
            base.append(self.arena)
            if not self._run(base):
                return None
            self.completed += 1
            return [outs[k] for k in self.fetch]
        finally:
            self.lock.release()

    def _run(self, base):
        fns = self.functions
        try:
            if "pre" in fns:
                with threads.limited(1):
                    fns["pre"](*base)
            self.counter[0] = 0
            run = (fns["rows"], base, self.works, self.counter, self.block)
            helpers = [threads.pool().submit(_rows, *run, self.scratch[k])
                       for k in range(1, self.threads)]
            ok = _rows(*run, self.scratch[0])
            for f in helpers:
                ok = f.result() and ok
            if not ok:
                return False
            with threads.limited(1):
                fns["post"](*base, self.works)
        except Exception:  # noqa: BLE001  (the step runner runs the call again and raises)
            return False
        return True


def transposed_runners(plan, found):
    """({step index: row_transpose.Transposed}, the plan's runners with those steps' runners
    replaced by their transposed groups' kernels)."""
    transposed, runners = {}, list(plan.runners)
    for i, (st, role) in enumerate(zip(plan.steps, found.roles)):
        if st.kind == "group" and role in (row_blocks.ROW, row_blocks.REDUCE) and \
                row_transpose.needs_transposing(st, found.rows):
            tr = row_transpose.transpose_group(st)
            transposed[i] = tr
            runners[i] = GroupRunner(tr.group, emit_group(tr.group))
    return transposed, runners


def _rows(fn, base, works, counter, block, scratch):
    try:
        with threads.limited(1):
            return fn(*base, works, counter, np.int64(block), scratch)
    except Exception:  # noqa: BLE001  (reported as a failed call: the step runner reruns it)
        return False


class RowChoice(cpu_native.NativeChoice):
    """Per CompiledPlan: its RowPlan (built, compiled and measured as cpu_native.NativeChoice
    does native lanes) and whether its calls beat the plan's other ways (NUMGRAD_ROW_LANES);
    `call(feed_values, other)` runs either the row blocks or `other()`."""

    native_first = False    # trials start with the other way (the step runner)

    def __init__(self, plan):
        super().__init__(plan, with_rows=False)
        if self.reason is None:
            self.reason = why_not(plan)

    @staticmethod
    def mode():
        return MODE

    @staticmethod
    def width():
        return max(1, min(MAX_THREADS, threads.get_num_threads()))

    def make(self, costs, n, load):
        return RowPlan(self.plan, n, load)

    def describe_own(self):
        if self.reason is not None:
            return f"row blocks: no ({self.reason})"
        if self.mode() == "off":
            return "row blocks: possible, off (NUMGRAD_ROW_LANES=off)"
        if self.native is None and self.mode() == "auto" and \
                self.estimate < cpu_native.AUTO_MIN_SECONDS:
            return "row blocks: possible, not worth compiling (as native lanes)"
        if self.native is None:
            return "row blocks: possible, " + ("compiling in a worker" if self.pending else
                                               self.held or "not built yet")
        how = {None: "being measured", True: "measured faster", False:
               "measured slower: the plan runs otherwise"}[self.verdict]
        if self.mode() == "on":
            how = "NUMGRAD_ROW_LANES=on"
        made = self.native
        return (f"row blocks: {made.threads} thread(s) over {made.layout_rows.rows} rows in "
                f"{made.blocks} blocks of {made.block}, "
                f"{'column' if made.columns else 'row'} by {'column' if made.columns else 'row'} "
                f"({how})")
