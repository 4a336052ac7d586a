"""Native while loops on the cpu backend: a ``While`` op whose cond and body plans a plan
function can hold runs as one Numba function (compiler/emit_loop.py), the loop itself native.

Before, each iteration was two plan calls from Python (the cond's and the body's, ~15-20 us
with the dispatch around them): W7 (1000 RK4 steps of a 40-variable ODE, forward and gradient:
three loops) spent ~45 ms per call, nearly all of it there, while its arithmetic is well under
a microsecond per iteration.  Natively its forward loop (recording history) takes ~0.20 ms and
its backward loop ~0.42 ms per call (a loaded 2-core VM, minimum of 300-500; 0.32 and 0.6
before their kernels were inlined, compiler/emit_cpu.py emit_group's `inline`, and their
views made inline, kernels/cpu/views.py).

From a compiled plan: a cpu plan whose every step a plan function can run, its While steps
included where their loops are native and loaded (plan_call), is one plan function that
calls the loops' functions itself (compiler/emit_plan.py loop_call_lines): a W7 call is then
one compiled call.  The loop's `box` (last trip count, calls) is shared by its calls from
Python and from plan functions.

When: under a cpu plan (the While runs its function graphs with cpu plans), with
NUMGRAD_NATIVE_LOOPS on, once the loop body has run NUMGRAD_FUNCTION_COMPILE_AFTER iterations
(interpreted, as before): the iterations left of that call and every later call then run
natively.  A small loop run a few times never waits for Numba.  Where a worker process
compiles the function (compile_workers.py), the loop goes on in Python, checking at every
iteration whether it is done (Candidate.due), its cond and body plans held to their
interpreter meanwhile (_hold: no workers of their own compiling the same kernels).

What: the loop vars' shapes must be static (their shape invariants fully defined), and every
step of the cond and body plans must be a serial fused kernel, a view, a native single
(compiler/emit_plan.py), an If whose branch plans are made of the same (emitted as a
native if/else: only the taken branch runs) or a While that runs natively itself (a call of
its native function; a recording loop, the gradient of a loop inside this one, writes its
history into buffers this function keeps, compiler/emit_loop.py recorded_call_lines).  Otherwise (a parallel-sized kernel, an opaque op, shapes that depend
on data) the loop runs in Python, a plan call per iteration, and ``explain`` (loop_report)
says why.

Memory: arrays that do not outlive an iteration are allocated once, before the loop.  A
recording loop (the copy a gradient runs; attr ``history``: the loop vars its backward body
reads) writes each iteration's recorded vars into one buffer per var, sized by this loop's
previous trip count (at most maximum_iterations) and doubled when full: iterations x
recorded elements, reported by loop_report.  A While and its
gradient's history copy run one loop per Session run (_Memo).

One native function per (cond, body, recorded vars, signature); a capture read only by one-row
gathers (the gradient loop's recorded history) is keyed without its length, so a backward loop
compiles once whatever the trip count.  An index out of range inside the native loop hands
the call back to the interpreter, which raises TF's error.
"""
import time
import weakref

import numpy as np

from .. import cache, config
from ..backends import function_backend
from ..compiler.ir import RUNTIME
from ..compiler.plan_singles import registered
from ..ops.registry import has_trait
from . import stateful

__all__ = ["candidate", "plan_call", "WAIT", "loop_status", "loop_report", "NATIVE_LOOPS"]

NATIVE_LOOPS = config.get("NUMGRAD_NATIVE_LOOPS")
_NO_MAX = 1 << 62
# body FuncGraph -> {key: _NativeLoop or the reason (str) it runs in Python}
_LOOPS = weakref.WeakKeyDictionary()
# body FuncGraph -> the While capture indices read only as one-row gathers (_row_rows)
_ROWS = weakref.WeakKeyDictionary()


def _row_read_only(ph):
    """Whether placeholder `ph` is read only as the params of one-row gathers/reads (ops whose
    plan-function form is a row_read: its length then appears nowhere in the emitted code)."""
    cons = ph.consumers()
    return bool(cons) and all(_row_reader(op.type) and op.inputs[0] is ph
                              and op.inputs[1] is not ph for op in cons)


def _row_reader(op_type):
    form = registered(op_type)
    return form is not None and form.row_read


def _key(attrs, loop, caps):
    """The cache key of a While call: its functions, recorded vars (None: not a recording
    loop), and the signature (a capture only row-gathered contributes its dims after the
    first)."""
    return _key_of(attrs, [_shape_dtype(v) for v in loop], [_shape_dtype(v) for v in caps])


def _key_of(attrs, loop, caps):
    """_key from the (shape, dtype string) of each loop var and capture."""
    rows = _row_rows(attrs)
    sig = tuple(loop)
    for k, (shape, dtype) in enumerate(caps):
        sig += (((None,) + shape[1:] if k in rows else shape, dtype),)
    return (id(attrs["cond_graph"]), recorded_vars(attrs), sig)


def recorded_vars(attrs):
    """The loop vars a While records (a tuple of indices; its attr ``history``), or None where
    it records nothing (history=False)."""
    h = attrs["history"]
    return None if h is False else tuple(h)


def _shape_dtype(v):
    if isinstance(v, np.ndarray):
        return v.shape, v.dtype.str
    return np.shape(v), np.asarray(v).dtype.str


def _row_rows(attrs):
    """Indices of the captures that cond and body read only as one-row gathers."""
    got = _ROWS.get(attrs["body_graph"])
    if got is None:
        cond_fg, body_fg = attrs["cond_graph"], attrs["body_graph"]
        users = {}
        for fg, idx in ((cond_fg, attrs["cond_idx"]), (body_fg, attrs["body_idx"])):
            for k, (_, ph) in zip(idx, fg.captures):
                users.setdefault(k, []).append(ph)
        got = frozenset(k for k, phs in users.items() if all(_row_read_only(p) for p in phs))
        _ROWS[attrs["body_graph"]] = got
    return got


class _NativeLoop:
    """The compiled loop of one While signature."""

    def __init__(self, attrs, loop, caps):
        from ..compiler.emit_loop import loop_source
        t0 = time.perf_counter()
        n = attrs["n_vars"]
        cond_fg, body_fg = attrs["cond_graph"], attrs["body_graph"]
        cond_idx, body_idx = attrs["cond_idx"], attrs["body_idx"]
        self._branch_plans = {}
        self.branches = 0
        self.inner_loops = []
        plans = []
        for fg, idx, what in ((cond_fg, cond_idx, "cond"), (body_fg, body_idx, "body")):
            plans.append(self._plan(fg, list(loop) + [caps[k] for k in idx], f"its {what}"))
        cond_plan, body_plan = plans
        c = cond_plan._fetch_values[0]
        if c.shape != ():
            raise _NotNative(f"its cond returns shape {c.shape}")
        self.history = recorded_vars(attrs)       # None, or the recorded vars
        # (elements, dtype) of each recorded var: a row of its history buffer (_Recording)
        self._recorded = [(int(np.prod(v.shape, dtype=np.int64)), v.dtype) for v in
                          (body_plan._feed_values[i] for i in self.history or ())]
        runners = [_runners(cond_plan), _runners(body_plan)]
        source, self.consts = loop_source(
            cond_plan, runners[0], body_plan, runners[1], n,
            cond_idx, body_idx, len(caps), self.history, self._branches, self._inner)
        runners += [v[1] for v in self._branch_plans.values() if isinstance(v, tuple)]
        self.source, self.fn = source, None
        # the sources a process loads, in order, to import the function by name (a plan
        # function calling it compiles in a worker, backends/cpu.py)
        self.sources = [s for inner in self.inner_loops for s in inner.sources] + [
            r._source for rs in runners for r in rs if hasattr(r, "_source")] + [source]
        self.job = _start_background(source, runners, body_plan, self.inner_loops)
        if self.job is None:
            self.fn = self._load()
        else:
            _hold([cond_plan, body_plan] + [v[0] for v in self._branch_plans.values()
                                            if isinstance(v, tuple)], self.job)
        self.shapes = [np.shape(v) for v in loop]
        self.kernels = cond_plan.kernels + body_plan.kernels + sum(
            v[0].kernels for v in self._branch_plans.values() if isinstance(v, tuple)) + sum(
            v.kernels for v in self.inner_loops)
        self.steps = len(cond_plan.steps) + len(body_plan.steps)
        feeds = body_plan._feed_values
        self.row_bytes = sum(int(np.prod(feeds[i].shape, dtype=np.int64))
                             * feeds[i].dtype.itemsize for i in self.history or ())
        # [trip count of the last call (-1: none yet), calls made by plan functions]: the plan
        # functions that call this loop (plan_call) read and write it, as __call__ does
        self.box = np.array([-1, 0], np.int64)
        self._calls = 0                 # calls from Python (__call__, run_rows)
        self.threads = 1                # threads the last call ran on (native_map.py)
        self.build_seconds = time.perf_counter() - t0

    def _plan(self, fg, vals, what):
        """The cpu plan of function graph `fg` for `vals` (their shapes and dtypes), checked
        step by step: every step must fit a native loop (an If step: both its branches)."""
        from ..backends.cpu import CompiledPlan
        from ..compiler.emit_plan import emittable
        plan = fg.cpu_plan().compiled(vals)
        if not isinstance(plan, CompiledPlan):
            raise _NotNative(f"{what} has no compiled plan for these shapes (they depend on "
                             "data, or it has been compiled for too many)")
        for i, (st, run) in enumerate(zip(plan.steps, plan.runners)):
            if st.kind == "single" and has_trait(st.node.type, "loop"):
                self._inner(st.node, f"{what}'s step {i} (While '{st.node.name}')")
            elif st.kind == "single" and has_trait(st.node.type, "control_flow"):
                self._branches(st.node, f"{what}'s step {i} (If '{st.node.name}')")
            elif not emittable(st, getattr(run, "parallel", False)):
                raise _NotNative(f"{what}'s step {i} ({_step_text(st, run)}) cannot "
                                 "run inside a native loop")
        return plan

    def _inner(self, node, what=None):
        """(module of the native function, its constant arguments) of the While step `node`
        (a loop in this loop's body), for compiler/emit_loop.py while_lines."""
        attrs = node.attrs
        n, has_max = attrs["n_vars"], attrs["has_max"]
        key = (id(node), "while")
        got = self._branch_plans.get(key)
        if got is None:
            if not (attrs["body_graph"].compilable() and attrs["cond_graph"].compilable()):
                raise _NotNative(f"{what}: its loop vars' shapes are not static")
            if attrs["history"] is not False and not config.get("NUMGRAD_NATIVE_NESTED_GRAD"):
                raise _NotNative(f"{what} records its history (a loop's gradient inside this "
                                 "loop; NUMGRAD_NATIVE_NESTED_GRAD=0)")
            if _runtime_sized(attrs, node.inputs):
                raise _NotNative(f"{what}: an input's size is known only at run time")
            # a run-time-sized dim (a recorded history, read row by row: not part of the
            # inner function's signature) given one row
            vals = [np.zeros([1 if d == RUNTIME else d for d in v.shape], v.dtype)
                    for v in node.inputs]
            loop, caps = vals[:n], vals[n + has_max:]
            got = _native_for(attrs, loop, caps)
            if got is None:
                reason = _LOOPS.get(attrs["body_graph"], {}).get(_key(attrs, loop, caps))
                raise _NotNative(f"{what} does not run natively: {reason}")
            if got.fn is None:          # its worker's function, needed by name now
                got.job.wait()
                got.ready()
            self._branch_plans[key] = got
            self.inner_loops.append(got)
        return got.module, got.consts

    def _branches(self, node, what=None):
        """((plan, runners, capture index) of the then branch, ... of the else branch) of the
        If step `node`, for compiler/emit_loop.py if_lines."""
        got = []
        for g, i in (("then_graph", "then_idx"), ("else_graph", "else_idx")):
            key = (id(node), g)
            if key not in self._branch_plans:
                idx = node.attrs[i]
                vals = [np.zeros(node.inputs[1 + k].shape, node.inputs[1 + k].dtype) for k in idx]
                plan = self._plan(node.attrs[g], vals, f"{what}, its {g[:4]} branch,")
                if [v.shape for v in plan._fetch_values] != [v.shape for v in node.outputs]:
                    raise _NotNative(f"{what}: its branches give shapes that differ")
                self._branch_plans[key] = (plan, _runners(plan), idx)
                self.branches += 1
            got.append(self._branch_plans[key])
        return got

    @property
    def last_trips(self):
        t = int(self.box[0])
        return None if t < 0 else t

    @property
    def calls(self):
        return self._calls + int(self.box[1])

    def ready(self):
        """Whether the loop's function is loaded: False while a worker process still
        compiles it (the loop runs in Python meanwhile)."""
        if self.fn is None:
            if self.job.running():
                return False
            self.fn = self._load()      # compiles here if the worker failed
        return True

    @property
    def module(self):
        """The name of the module of the loop's function (loaded)."""
        fn = self.fn.into if isinstance(self.fn, _Recording) else self.fn
        return fn.py_func.__module__

    def _load(self):
        """The loop's function, loaded: ``fn(maxit, cap, *loop vars, *captures, *consts)`` ->
        (loop vars, history blocks (the rows written; a recording loop's), trip count)."""
        if self.history is None:
            return cache.load(self.source, "loop")
        return _Recording(cache.load(self.source, "loop_into"), self._recorded)

    def __call__(self, loop, caps, maxit):
        """(final loop vars, history blocks or None, trip count)."""
        cap = self.last_trips if self.last_trips is not None else 16
        cap = max(1, min(cap, maxit))
        res = self.fn(maxit, cap, *[_contiguous(v) for v in loop],
                      *[_contiguous(v) for v in caps], *self.consts)
        n = len(loop)
        t = res[-1]
        self.box[0] = t
        self._calls += 1
        self.threads = 1
        out = list(res[:n])
        hist = None
        if self.history is not None:
            r = len(self.history)
            hist = [h.reshape((t,) + self.shapes[i])
                    for h, i in zip(res[n:n + r], self.history)]
        return out, hist, t

    def run_rows(self, loop, caps, bounds, attrs):
        """(final loop vars, history blocks or None, trip count) of a map_fn loop run over
        the ranges of its index `bounds` at once, one thread each (native_map.py)."""
        from .native_map import run_rows
        out, hist, t = run_rows(self.fn, self.consts, [_contiguous(v) for v in loop],
                                [_contiguous(v) for v in caps], bounds, attrs)
        self.box[0], self.threads = t, len(bounds) - 1
        self._calls += 1
        if hist is not None:
            hist = [h.reshape((t,) + self.shapes[i]) for h, i in zip(hist, self.history)]
        return out, hist, t


class _Recording:
    """A recording loop's function ``loop_into`` (compiler/emit_loop.py) called as ``loop``
    is: ``(maxit, cap, *args)`` -> (loop vars, the history blocks of the rows written, trip
    count), on new history buffers of `cap` rows (at least one).  `feeds`: (elements, dtype)
    of each recorded var."""

    def __init__(self, into, feeds):
        self.into, self.feeds = into, feeds

    def __call__(self, maxit, cap, *args):
        rows = max(cap, 1)
        res = self.into(maxit, *[np.empty((rows, k), d) for k, d in self.feeds], *args)
        t = res[-1]
        n = len(res) - 1 - len(self.feeds)
        return (*res[:n], *[h[:t] for h in res[n:-1]], t)


def _start_background(source, runners, body_plan, inner_loops):
    """A worker process compiling the loop's function and the kernel modules it imports into
    the cache (compile_workers.py), where the body's plan compiles in the background
    (NUMGRAD_BACKGROUND_COMPILE: not for cpu-stable plans) and the function is not cached
    yet; None where the caller compiles it now.  A loop holding an inner native loop
    compiles now: its source names the inner function's loaded module."""
    from .. import compile_workers
    if inner_loops or not body_plan.in_background or cache.compiled([source]) \
            or not cache.writable():
        return None
    items = [(r._source, []) for rs in runners for r in rs if hasattr(r, "_source")]
    return compile_workers.start(items + [(source, [])], cache.cache_dir(), workers=1)


def _hold(plans, job):
    """Have `plans` (the cpu plans of the loop's functions, which run its iterations in Python
    until its native function is ready) interpret while `job` compiles that function and
    their kernels: they would otherwise start workers of their own to compile their plan
    functions, the same kernels again (W7's cold first call started seven workers, not two)."""
    for plan in plans:
        if plan.compile_job is None and plan.fused_call is None:
            plan.background, plan.compile_job = True, job


def _runners(plan):
    from ..backends.cpu_plan_function import hot_runners
    return hot_runners(plan, inline=True)      # called every iteration: inlined


def _contiguous(a):
    """`a` as a C-contiguous array (np.ascontiguousarray would make a 0-d array 1-d)."""
    a = np.asarray(a)
    return a if a.flags.c_contiguous else np.array(a, order="C")


class _NotNative(Exception):
    pass


def _step_text(st, run):
    if st.kind == "group":
        return f"a kernel over {st.space}" + (" large enough for threads"
                                              if getattr(run, "parallel", False) else "")
    return f"{st.node.type} '{st.node.name}'"


class Candidate:
    """A While call that may switch to its native loop (see _while_compute): due() says when
    to, finish() runs the rest of the loop natively."""

    def __init__(self, attrs, loop, caps):
        self.attrs, self.loop0, self.caps = attrs, loop, caps
        self.body = attrs["body_graph"]
        self.start = self.body.calls        # body.calls still equal to it: iteration 0
        self.native = None                  # the _NativeLoop to use, once resolved

    def due(self):
        """Whether to call finish() now: once the body has run COMPILE_AFTER iterations, when
        the native function is ready (it compiles in a worker meanwhile: the call checks
        again at every iteration, and switches in the middle of the loop when it is), or at
        once where the loop cannot run natively or a twin's results may serve (_recall)."""
        from .func_graph import COMPILE_AFTER
        if self.body.calls < COMPILE_AFTER:
            return False
        if self.body.calls == self.start and self.body in _MEMOS:
            return True
        native = self._resolve()
        return native is None or native.ready()

    def _resolve(self):
        """The _NativeLoop this call runs, or None where the loop cannot run natively.  A
        While without history whose gradient's history copy has a native loop on these
        shapes (and that has none of its own) uses that one: it records the history, which
        spares the copy its loop (_recall), and one native function compiles, not two."""
        if self.native is None:
            attrs, loop, caps = self.attrs, self.loop0, self.caps
            table = _LOOPS.get(self.body, {})
            try:
                key = _key(attrs, loop, caps)
            except (TypeError, ValueError):
                self.native = False
                return None
            if key[1] is None and table:
                own = table.get(key)
                twin = next((v for k, v in table.items() if k[0] == key[0]
                             and k[1] is not None and k[2] == key[2]
                             and isinstance(v, _NativeLoop)), None)
                if not isinstance(own, _NativeLoop) and isinstance(twin, _NativeLoop):
                    self.native = twin
            if self.native is None:
                self.native = _native_for(attrs, loop, caps, key) or False
        return self.native or None

    def finish(self, loop, t, maxit):
        """Run iterations t.. natively: (loop vars, history blocks or None, trip count), or
        None when this loop cannot run natively or an index was out of range (the caller
        carries on interpreting, which raises TF's error)."""
        history = self.attrs["history"] is not False
        whole = t == 0
        if whole:
            hit = _recall(self.body, self.attrs, loop, self.caps, maxit)
            if hit is not None:
                return hit[0], (hit[1] if history else None), hit[2]
        from .native_map import split_rows
        native = self._resolve()
        if native is None or not native.ready():
            return None
        left = _NO_MAX if maxit is None else maxit - t
        # (the attrs of the loop `native` runs: a twin's records)
        attrs = dict(self.attrs, history=False if native.history is None else native.history)
        bounds = split_rows(attrs, loop, left)
        try:
            if bounds is None:
                out, hist, k = native(loop, self.caps, left)
            else:
                out, hist, k = native.run_rows(loop, self.caps, bounds, attrs)
        except IndexError:
            return None
        if whole and hist is not None:
            _remember(self.body, self.attrs, loop, self.caps, maxit, out, hist, k,
                      native.history)
        return out, (hist if history else None), t + k


class _Memo:
    """A native loop's last whole call that recorded history: the op that ran it (its attrs),
    its inputs (copies), final loop vars, history (of the loop vars `recorded`) and trip
    count."""

    def __init__(self, attrs, inputs, maxit, out, hist, t, recorded):
        self.attrs, self.inputs, self.maxit = attrs, inputs, maxit
        self.out, self.hist, self.t, self.recorded = out, hist, t, recorded


# body FuncGraph -> _Memo: a While and the history copy its gradient made run the same loop on
# the same inputs in one Session run; the second of them takes the first's results.
_MEMOS = weakref.WeakKeyDictionary()
MEMO_BYTES = 1 << 20        # inputs larger than this are not compared, nor remembered


def _same(a, b):
    a = np.asarray(a)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _remember(body, attrs, loop, caps, maxit, out, hist, t, recorded):
    inputs = [np.array(v) for v in list(loop) + list(caps)]
    if sum(a.nbytes for a in inputs) <= MEMO_BYTES:
        _MEMOS[body] = _Memo(attrs, inputs, maxit, out, hist, t, recorded)


def _recall(body, attrs, loop, caps, maxit):
    """(final loop vars (copies), history, trip count) of the remembered call of this loop by
    another While op (the twin) on inputs bitwise equal to these, taken: a memo serves one
    call, and no array of it goes to two ops.  Else None."""
    m = _MEMOS.get(body)
    vals = list(loop) + list(caps)
    want = recorded_vars(attrs)
    if m is None or m.attrs is attrs or m.maxit != maxit or len(m.inputs) != len(vals) \
            or (want is not None and want != m.recorded) \
            or not all(_same(v, a) for v, a in zip(vals, m.inputs)):
        return None
    _MEMOS.pop(body, None)
    return [np.array(v) for v in m.out], m.hist, m.t


def _native_for(attrs, loop, caps, key=None):
    if key is None:
        try:
            key = _key(attrs, loop, caps)
        except (TypeError, ValueError):
            return None
    table = _LOOPS.setdefault(attrs["body_graph"], {})
    got = table.get(key)
    if got is None:
        try:
            got = _NativeLoop(attrs, loop, caps)
        except _NotNative as e:
            got = str(e)
        table[key] = got
    return got if isinstance(got, _NativeLoop) else None


def candidate(attrs, loop, caps):
    """A Candidate for this While call, or None where it runs in Python throughout (native
    loops off, not under a cpu plan, loop vars without static shapes, or a signature already
    known not to compile)."""
    if not NATIVE_LOOPS or function_backend() != "cpu" or stateful.interpreted_reason(attrs):
        return None
    body = attrs["body_graph"]
    if not body.compilable() or not attrs["cond_graph"].compilable():
        return None
    return Candidate(attrs, loop, caps)


WAIT = "wait"       # plan_call: not yet


def plan_call(node):
    """The _NativeLoop a compiled cpu plan's plan function may call for its While step `node`
    (compiler/emit_plan.py loop_call_lines): the loop the While op itself would run natively
    for these shapes, its function loaded.  WAIT while it may become so (its body has not
    run COMPILE_AFTER iterations yet, or a worker still compiles it: the plan runs its steps
    meanwhile, the While op going native as before); None where the step stays a call of
    the op from Python: native loops or NUMGRAD_LOOPS_IN_PLAN off, a loop that runs in
    Python, a map_fn loop (or its backward loop) with rows enough for threads
    (native_map.py), or loop vars whose sizes are known only at run time."""
    attrs = node.attrs
    if not (NATIVE_LOOPS and config.get("NUMGRAD_LOOPS_IN_PLAN")) \
            or stateful.interpreted_reason(attrs) or _may_thread(attrs):
        return None
    body = attrs["body_graph"]
    if not body.compilable() or not attrs["cond_graph"].compilable():
        return None
    n = attrs["n_vars"]
    specs = [(v.shape, v.dtype.str) for v in node.inputs]
    loop, caps = specs[:n], specs[n + attrs["has_max"]:]
    if _runtime_sized(attrs, node.inputs):
        return None
    key = _key_of(attrs, loop, caps)
    table = _LOOPS.get(body, {})
    got = table.get(key)
    if key[1] is None and not isinstance(got, _NativeLoop):
        twin = next((v for k, v in table.items() if k[0] == key[0] and k[1] is not None
                     and k[2] == key[2] and isinstance(v, _NativeLoop)), None)
        if twin is not None:            # as Candidate._resolve
            got = twin
    if got is None:
        return WAIT
    if not isinstance(got, _NativeLoop):
        return None
    return got if got.ready() else WAIT


def _runtime_sized(attrs, inputs):
    """Whether a While's `inputs` (graph values) have a size known only at run time other
    than the first dim of a capture its functions read only row by row (a recorded history,
    _row_rows): such a loop cannot have one native function for every call."""
    n, has_max = attrs["n_vars"], attrs["has_max"]
    rows = _row_rows(attrs)
    return any(RUNTIME in v.shape for v in inputs[:n]) or any(
        RUNTIME in v.shape[k in rows:] for k, v in enumerate(inputs[n + has_max:]))


def _may_thread(attrs):
    """Whether a map_fn loop (or its gradient's backward loop) may run ranges of its rows on
    threads (native_map.split_rows's conditions, but for the rows left): the While op's own
    call keeps doing that."""
    from .functional import INDEPENDENT_ROWS, INDEPENDENT_ROWS_GRAD
    n, grad = attrs.get(INDEPENDENT_ROWS), attrs.get(INDEPENDENT_ROWS_GRAD)
    if grad is not None:
        n = grad[0]
    history = attrs["history"]
    if n is None or history is not False and (grad is not None
                                              or tuple(history) not in ((), (0,))):
        return False
    per = config.get("NUMGRAD_MAP_FN_THREAD_ROWS")
    return per > 0 and n // per >= 2


def loop_status(op):
    """How While `op` ran under cpu plans so far, per signature: a list of ("native", the
    compiled loop's facts as a dict) or ("python", the reason) pairs (empty before its first
    native attempt)."""
    table = _LOOPS.get(op.get_attr("body_graph"), {})
    history = op.get_attr("history") is not False
    cond = id(op.get_attr("cond_graph"))
    # a While without history runs its gradient's history copy where that compiled, and a
    # compiled plan runs only that copy (while_loop._while_lower): its reasons are this op's
    # where it has none of its own
    own = any(k[0] == cond and k[1] is None for k in table)
    out = []
    for k, v in table.items():
        if k[0] != cond or (history and k[1] is None):
            continue
        if not history and k[1] is not None and own and not isinstance(v, _NativeLoop):
            continue
        if isinstance(v, str):
            out.append(("python", v))
        else:
            out.append(("native", {"kernels": v.kernels, "steps": v.steps, "calls": v.calls,
                                   "plan_calls": int(v.box[1]),
                                   "compiling": v.fn is None and v.job.running(),
                                   "branches": v.branches, "inner_loops": len(v.inner_loops),
                                   "history": v.history is not None,
                                   "recorded": v.history, "n_vars": len(v.shapes),
                                   "last_trips": v.last_trips,
                                   "history_bytes_per_iteration": v.row_bytes,
                                   "signature": k[2], "history_copy": (k[1] is not None) != history,
                                   "threads": v.threads}))
    return out


def loop_report(ops, indent="  "):
    """Lines saying how each While op among `ops` (and the loops nested in its functions) ran:
    natively (kernels, history storage per iteration and in all) or in Python, and why."""
    lines = []
    for op in ops:
        if not has_trait(op.type, "loop"):
            continue
        lines += _op_report(op, indent)
        for key in ("cond_graph", "body_graph"):
            lines += loop_report(op.get_attr(key).get_operations(), indent + "  ")
    return lines


def _op_report(op, indent):
    head = f"{indent}While '{op.name}'"
    why = stateful.interpreted_reason(op.attrs)     # state: one iteration at a time
    if why:
        return [f"{head}: in Python, one plan call per iteration ({why})"]
    if not NATIVE_LOOPS:
        return [f"{head}: in Python, one plan call per iteration (NUMGRAD_NATIVE_LOOPS=0)"]
    if not op.get_attr("body_graph").compilable():
        return [f"{head}: in Python, one plan call per iteration (its loop vars' shapes are "
                "not static)"]
    status = loop_status(op)
    if not status:
        return [f"{head}: not native (yet): not run under a cpu plan, or its body has not "
                "run NUMGRAD_FUNCTION_COMPILE_AFTER iterations"]
    lines = []
    for kind, facts in status:
        if kind == "python":
            lines.append(f"{head}: in Python, one plan call per iteration: {facts}")
            continue
        plan = facts["plan_calls"]
        text = (f"{head}: native loop ({facts['kernels']} fused kernels, {facts['steps']} "
                f"steps inlined, {facts['calls']} calls"
                + (f", {plan} of them from a plan function" if plan else "") + ")")
        if facts["threads"] > 1:
            text += (f", its last call on {facts['threads']} threads (map_fn: ranges of its "
                     "elements at once)")
        if facts["compiling"]:
            text += " compiling in a worker process; in Python meanwhile"
        if facts["history_copy"]:
            text += (": the loop of its gradient's recording copy, whose run this While's "
                     "result is")
        if facts["history"]:
            per, trips = facts["history_bytes_per_iteration"], facts["last_trips"] or 0
            text += (f"; history: {per} bytes per iteration ({len(facts['recorded'])} of its "
                     f"{facts['n_vars']} loop vars, those its gradient reads), "
                     f"{trips * per / 2 ** 20:.2f} MiB for the last call's {trips} iterations")
        lines.append(text)
    return lines
