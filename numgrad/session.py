"""Session: run fetches of a graph with feeds, through a backend (tf.compat.v1.Session)."""
import threading

import numpy as np

from . import config
from .backends import get_backend
from .errors import FeedSignatureMiss, is_allocation_failure, resource_exhausted
from .graph import Operation, Tensor, executing_eagerly, get_default_graph
from .fetch_mapper import FetchMapper, compile_source
from .indexed_slices import IndexedSlices
from .run_keys import guarded_call, run_key
from .session_options import apply_config
from .session_state import SessionState, StatefulRun, analyse

__all__ = ["Session", "InteractiveSession", "get_default_session"]

_SESSION_STACK = threading.local()


def _session_stack():
    s = getattr(_SESSION_STACK, "stack", None)
    if s is None:
        s = _SESSION_STACK.stack = []
    return s


def get_default_session():
    """The innermost default session of this thread (`with sess:`, `sess.as_default()` or an open
    InteractiveSession), or None (tf.compat.v1.get_default_session)."""
    s = _session_stack()
    return s[-1] if s else None


def _result(v):
    """What run() returns for a backend's array: a scalar for 0-d, else an array the caller
    owns.  Backends return arrays they allocated (no base, or memory owned by Numba) or
    arrays that may alias feeds/constants (views of ndarrays, read-only): those are copied."""
    v = np.asarray(v)
    if v.ndim == 0:
        return v[()]
    if not v.flags.writeable or isinstance(v.base, np.ndarray):
        return np.array(v)
    return v


def _results(out, fed, tensors=None):
    """_result of each of a plan's outputs; an output that IS a fed array is copied too."""
    fed_ids = {id(a) for a in fed}
    try:
        return [_result(np.array(v) if id(v) in fed_ids else v) for v in out]
    except (MemoryError, ValueError) as e:      # copying a huge broadcast view for the caller
        if not is_allocation_failure(e):
            raise
        i = max(range(len(out)), key=lambda i: np.asarray(out[i]).nbytes)   # the culprit
        v = out[i]
        what = f"the result for '{tensors[i].name}'" if tensors else "a fetched result"
        raise resource_exhausted(what, np.shape(v), np.asarray(v).dtype) from e


def check_feed(t, value):
    """The array fed for `t`, converted to t's dtype; TypeError/ValueError naming `t`."""
    if type(value) is np.ndarray and value.dtype == t._dtype._np and value.flags.aligned:
        dims = t._shape._dims                                         # fast path
        if dims is None or (len(dims) == value.ndim and all(
                d is None or d == s for d, s in zip(dims, value.shape))):
            return value
    if isinstance(value, (Tensor, Operation)):
        raise TypeError(f"The value of a feed cannot be a Tensor (feeding '{t.name}'). "
                        "Acceptable feed values include Python scalars, lists and NumPy arrays.")
    try:
        arr = np.asarray(value)
    except (ValueError, TypeError) as e:
        raise TypeError(f"Cannot convert the value fed for '{t.name}' to an array: {e}") from None
    dt = t.dtype
    kind = arr.dtype.kind
    if kind not in "biufc":
        raise TypeError(f"Cannot feed a value of dtype {arr.dtype} for Tensor '{t.name}' of "
                        f"dtype {dt.name}")
    if ((dt.is_integer and kind in "fc") or (dt.is_bool and kind != "b")
            or (kind == "c" and not dt.is_complex)):
        raise TypeError(f"Cannot feed a value of dtype {arr.dtype} for Tensor '{t.name}' of "
                        f"dtype {dt.name} (it would lose information)")
    if arr.dtype != dt.np:
        arr = arr.astype(dt.np)
    if not arr.flags.aligned:
        # an array at an odd byte offset (np.frombuffer, a network frame, a memory map):
        # compiled loops over it would be another, much slower, specialisation
        arr = np.require(arr, requirements="A")
    if not t.shape.is_compatible_with(arr.shape):
        raise ValueError(f"Cannot feed value of shape {arr.shape} for Tensor '{t.name}', which "
                         f"has shape {t.shape}")
    return arr


_RUN_CALLABLES_MAX = 256    # distinct run() calls remembered per session
RUN_GUARDS = config.get("NUMGRAD_RUN_GUARDS")     # the last call recognised by a check
_MISS = object()            # a guarded call's answer for a call it does not recognise


def _no_hot_call(fetches, feed_dict):
    return _MISS


# make_callable's function; RESULT: the flat results `v`, or the expression rebuilding the
# fetch structure from them.
_CALL_SOURCE = """
def call(*args, **kwargs):      # kwargs: TF's options/run_metadata, ignored
    if session._closed:
        raise RuntimeError("Attempted to use a closed Session.")
    if len(args) != n:
        raise TypeError(f"This callable takes {n} feed values ({[t.name for t in feeds]}), "
                        f"got {len(args)}")
    fast = lean[0]
    if fast is not None:
        try:
            v = fast(args)
        except FeedSignatureMiss:           # other shapes: maybe another hot plan
            return checked(args)
        except TypeError:                   # not the compiled types
            lean[:] = [None, False]
            return checked(args)
        return RESULT
    return checked(args)
"""


class Session:
    """Runs graphs.  ``backend``: "numpy" (reference) or a compiled backend; the default comes
    from the NUMGRAD_BACKEND environment variable."""

    def __init__(self, target="", graph=None, config=None, backend=None):
        if executing_eagerly():
            raise RuntimeError("Session is not compatible with eager execution; call "
                               "ng.disable_eager_execution() first.")
        self._graph = graph if graph is not None else get_default_graph()
        self._backend = get_backend(backend)
        apply_config(config)            # intra_op_parallelism_threads; the rest is ignored
        self._config = config
        self._plans = {}
        self._state = SessionState()    # variable values and random counters of this session
        self._stateful = {}             # (fetches, targets, feeds) -> StatefulRun or None
        self._run_callables = {}        # run()'s common calls: (make_callable function, guarded)
        self._hot_call = _no_hot_call   # the guarded call of the last of them run
        self._lock = threading.Lock()
        self._closed = False
        self._dask = None               # a DaskRunner when target names a Dask cluster
        if target not in ("", None, "local"):
            from .scaleout.runner import DaskRunner, is_dask_target
            if not is_dask_target(target):
                raise ValueError(f"Session target {target!r} is not supported: pass '' for a "
                                 "local session, or a dask.distributed Client or a Dask "
                                 "scheduler address ('tcp://host:8786') to run on a cluster")
            self._dask = DaskRunner(self, target)

    graph = property(lambda self: self._graph, doc="The Graph this session runs.")
    backend = property(lambda self: self._backend.name,
                       doc="The name of the backend that runs the graph ('numpy', 'cpu', ...).")

    # --- context management -------------------------------------------------------------
    def __enter__(self):
        self._ctx = self._graph.as_default()
        self._ctx.__enter__()
        _session_stack().append(self)
        return self

    def __exit__(self, *exc):
        _session_stack().remove(self)
        self._ctx.__exit__(*exc)
        self.close()
        return False

    def as_default(self):
        """Context manager making this session the default (for Tensor.eval, Operation.run); unlike
        `with sess:` it does not close the session at the end."""
        session = self

        class _Default:
            def __enter__(self):
                _session_stack().append(session)
                return session

            def __exit__(self, *exc):
                _session_stack().remove(session)
                return False
        return _Default()

    def close(self):
        """Free the cached plans; run() and make_callable's functions then raise RuntimeError."""
        self._closed = True
        if self._dask is not None:
            self._dask.close()
        self._plans.clear()
        self._stateful.clear()
        self._run_callables.clear()
        self._hot_call = _no_hot_call
        self._state.clear()

    # --- running ------------------------------------------------------------------------
    def _feed_tensor(self, key):
        if isinstance(key, str):
            try:
                key = self._graph.as_graph_element(key)
            except (KeyError, ValueError) as e:
                raise ValueError(f"Cannot interpret feed_dict key {key!r} as Tensor: {e}") from None
        if isinstance(key, Operation) or not isinstance(key, Tensor):
            raise TypeError(f"Cannot interpret feed_dict key {key!r} as a Tensor: feed keys "
                            "must be Tensors or tensor names")
        if key.graph is not self._graph:
            raise ValueError(f"Cannot interpret feed_dict key as Tensor: Tensor '{key.name}' "
                             "is not an element of this graph.")
        return key

    def _runner(self, tensors, targets, feeds):
        """What runs (tensors, targets) fed `feeds`: the backend's plan, or a StatefulRun around
        it when the run reads or writes variables (or random counters)."""
        key = (tuple(tensors), tuple(targets), tuple(feeds))
        try:
            stateful = self._stateful[key]
        except KeyError:
            analysis = analyse(tensors, targets, feeds)
            stateful = None if analysis is None else StatefulRun(self, tensors, targets, feeds,
                                                                 analysis)
            with self._lock:
                self._stateful[key] = stateful
        return stateful or self._plan(tensors, targets, feeds)

    def _plan(self, tensors, targets, feeds):
        key = (tuple(tensors), tuple(targets), tuple(feeds))
        plan = self._plans.get(key)
        if plan is None:
            plan = self._backend.prepare(self._graph, tensors, targets, feeds)
            with self._lock:
                self._plans[key] = plan
        return plan

    def run(self, fetches, feed_dict=None, options=None, run_metadata=None):
        """Evaluate `fetches` with `feed_dict` (tf.compat.v1.Session.run).

        `fetches` is a Tensor, Operation, IndexedSlices or their name, or a nested
        list/tuple/namedtuple/dict of them; the result has the same structure, with NumPy arrays
        (NumPy scalars for 0-d tensors), None for Operations and IndexedSlicesValue for
        IndexedSlices (a None among the fetches is a TypeError, as in TF). `feed_dict` maps
        Tensors (or names) to values, converted to the tensor's dtype and checked against its
        static shape. ``options=ng.RunOptions(check_numerics=True)`` names the op that first
        made a NaN/inf; run_metadata is ignored."""
        if options is None:
            # the call run last, recognised without building its key (run_keys.py)
            result = self._hot_call(fetches, feed_dict)
            if result is not _MISS:
                return result
        if self._closed:
            raise RuntimeError("Attempted to use a closed Session.")
        if self._dask is not None and feed_dict and self._dask_feeds(feed_dict):
            return self._dask_run(fetches, feed_dict)
        key = run_key(fetches, feed_dict)
        if key is not None and (options is None or not getattr(options, "check_numerics", False)):
            # A call fed by Tensor keys, repeated in a loop: run it as the make_callable
            # function of that call, which flattens the fetch structure, makes its rebuilding
            # function and plans once instead of every time (W4: ~40 -> ~3 us; a nested
            # [loss, grads] costs what the flat [loss] + grads costs).
            entry = self._run_callables.get(key)
            if entry is None:
                entry = self._remember_call(key, fetches, feed_dict)
            call, hot = entry
            self._hot_call = hot
            return call(*feed_dict.values()) if feed_dict else call()
        mapper = FetchMapper(self._graph, fetches)
        feeds, values = [], []
        for k, v in (feed_dict or {}).items():
            if isinstance(k, IndexedSlices):
                raise TypeError("Feeding an IndexedSlices is not supported; feed its parts")
            t = self._feed_tensor(k)
            feeds.append(t)
            values.append(check_feed(t, v))
        plan = self._runner(mapper.tensors, mapper.targets, feeds)
        out = plan(values)
        if options is not None and getattr(options, "check_numerics", False):
            from .diagnostics import check_run_results     # ng.RunOptions(check_numerics=True)
            check_run_results(mapper.tensors, mapper.targets, feeds, values, out)
        return mapper.build(_results(out, values, mapper.tensors))

    def _remember_call(self, key, fetches, feed_dict):
        """(make_callable function, its guarded call) for run()'s calls with `key`."""
        call = self.make_callable(fetches, list(feed_dict) if feed_dict else [])
        hot = None
        if RUN_GUARDS and self._dask is None:   # (dask-array feeds: the cluster runs them)
            hot = guarded_call(fetches, feed_dict, call, _MISS)
        entry = call, hot or _no_hot_call
        with self._lock:
            if len(self._run_callables) >= _RUN_CALLABLES_MAX:
                self._run_callables.clear()
            self._run_callables[key] = entry
        return entry

    @staticmethod
    def _dask_feeds(feed_dict):
        from .scaleout.runner import is_dask_array
        return any(is_dask_array(v) for v in feed_dict.values())

    def _dask_parts(self, fetches, feed_dict):
        """(fetch mapper, {tensor: value}) of a run with dask-array feeds; NumPy feeds checked."""
        from .scaleout.runner import is_dask_array
        mapper = FetchMapper(self._graph, fetches)
        feeds = {}
        for k, v in feed_dict.items():
            t = self._feed_tensor(k)
            feeds[t] = v if is_dask_array(v) else check_feed(t, v)
        return mapper, feeds

    def _dask_run(self, fetches, feed_dict):
        """run() with dask-array feeds: map-reduce phases on the session's Dask cluster."""
        from .scaleout.runner import is_dask_array
        mapper, feeds = self._dask_parts(fetches, feed_dict)
        out = self._dask.run(mapper.tensors, mapper.targets, feeds)
        return mapper.build([o if is_dask_array(o) else _result(o) for o in out])

    def _dask_explain(self, fetches, feed_dict):
        mapper, feeds = self._dask_parts(fetches, feed_dict)
        return self._dask.explain(mapper.tensors, mapper.targets, feeds)

    def plan_summary(self, fetches, feed_dict=None):
        """Run `fetches` once and describe the compiled plan (cpu backend).  The run is real:
        assignments among the fetches (a train op) take effect."""
        cp = self._compiled_plan(fetches, feed_dict)
        text = cp if isinstance(cp, str) else cp.summary()
        from .backends.numpy import prune
        from .control.native_loop import loop_report
        mapper = FetchMapper(self._graph, fetches)
        loops = loop_report(prune(mapper.tensors, mapper.targets,
                                  [self._feed_tensor(k) for k in (feed_dict or {})]))
        return "\n".join([text, "loops:"] + loops) if loops else text

    def _compiled_plan(self, fetches, feed_dict=None):
        """Run `fetches` once; the backend's SignaturePlan for this feed signature (the cpu
        backend's CompiledPlan: what plan_summary describes, and what tests/plan_checks.py
        checks), or a string saying why there is none (backends/plan.py)."""
        self.run(fetches, feed_dict)
        mapper = FetchMapper(self._graph, fetches)
        feeds, values = [], []
        for k, v in (feed_dict or {}).items():
            t = self._feed_tensor(k)
            feeds.append(t)
            values.append(check_feed(t, v))
        plan = self._runner(mapper.tensors, mapper.targets, feeds)
        if isinstance(plan, StatefulRun):       # the plan inside, fed with the state it reads
            plan, values = plan.plan, plan.plan_inputs(values)
        cp = plan.compiled(values)
        if cp is None:
            return f"backend '{self.backend}' interprets the graph op by op (no compiled plan)"
        if cp.summary() is None:
            return "the graph's shapes depend on data: interpreted with NumPy"
        return cp

    def make_callable(self, fetches, feed_list=None, accept_options=False):
        """A function of the feed values (positionally, in `feed_list` order) returning what
        ``run(fetches, ...)`` would; validation and planning are done once, here.

        Per call, feeds that are C-contiguous arrays of the placeholder's exact dtype and of
        shapes already validated skip check_feed, and the backend's plan for those shapes is
        looked up once per shape: a hot call is a tuple build, a dict lookup and the plan.
        """
        mapper = FetchMapper(self._graph, fetches)
        feeds = [self._feed_tensor(k) for k in (feed_list or [])]
        local = self._local_callable(mapper, feeds)
        if self._dask is None:
            return local
        from .scaleout.runner import is_dask_array

        def dask_call(*args, **kwargs):     # dask-array feeds: the cluster; else local
            if len(args) == len(feeds) and any(is_dask_array(a) for a in args):
                return self._dask_run(fetches, dict(zip(feeds, args)))
            return local(*args, **kwargs)
        return dask_call

    def _local_callable(self, mapper, feeds):
        """make_callable's function for runs in this process."""
        plan = self._runner(mapper.tensors, mapper.targets, feeds)
        if isinstance(plan, StatefulRun):
            return self._stateful_callable(mapper, feeds, plan)
        n = len(feeds)
        dtypes = [np.dtype(t.dtype.np) for t in feeds]     # the builtin singletons
        resolve = plan.compiled     # feeds -> its SignaturePlan, or None (backends/plan.py)
        hot = {}                    # validated feed shapes -> SignaturePlan
        build, flat, tensors = mapper.build, mapper.flat, mapper.tensors
        ndarray = np.ndarray

        # The fast function of the plan last run from `hot`: it checks its own argument
        # types (its dispatcher compiles nothing new) and shapes, so a call that repeats the
        # last types and shapes skips every Python-side check.  Cleared for good the first
        # time it meets arguments of other types (a TypeError costs Numba ~0.1 ms to build).
        lean = [None, True]                         # [fast function or None, allowed]

        def slow(args):
            values = [check_feed(t, v) for t, v in zip(feeds, args)]
            exact = all(type(a) is ndarray and a.dtype is d and a.flags.c_contiguous and
                        a.flags.aligned for a, d in zip(args, dtypes))
            run = resolve(values) if exact else None
            if run is not None:
                with self._lock:
                    hot[tuple([a.shape for a in args])] = run
            return build(_results(plan(values), values, tensors))

        def checked(args):
            try:
                run = hot[tuple([a.shape for a in args])]
            except (KeyError, AttributeError):      # new shapes, or not arrays
                return slow(args)
            # The plan was compiled for exactly these types (dtype singletons compare by
            # identity; anything else takes the validating path).
            for a, d in zip(args, dtypes):
                if type(a) is not ndarray or a.dtype is not d:
                    return slow(args)
                f = a.flags
                if not (f.c_contiguous and f.aligned):
                    return slow(args)
            fast = run.fast
            if fast is not None:
                if lean[1]:
                    lean[0] = fast
                return fast(args) if flat else build(fast(args))
            return build(_results(run(args), args, tensors))

        # The function itself is generated with the structure's rebuilding expression inline
        # (a nested [loss, grads] costs a list display more than the flat list, no call).
        names = dict(mapper.build_names, session=self, n=n, feeds=feeds, lean=lean,
                     checked=checked, FeedSignatureMiss=FeedSignatureMiss)
        source = _CALL_SOURCE.replace("RESULT", "v" if flat else mapper.build_source)
        return compile_source(source, "exec", names)["call"]


    def _stateful_callable(self, mapper, feeds, run):
        """make_callable's function for a run that reads or writes session state."""
        n, build, tensors = len(feeds), mapper.build, mapper.tensors

        def call(*args, **kwargs):      # kwargs: TF's options/run_metadata, ignored
            if self._closed:
                raise RuntimeError("Attempted to use a closed Session.")
            if len(args) != n:
                raise TypeError(f"This callable takes {n} feed values ({[t.name for t in feeds]}), "
                                f"got {len(args)}")
            values = [check_feed(t, v) for t, v in zip(feeds, args)]
            return build(_results(run(values), values, tensors))
        return call


class InteractiveSession(Session):
    """A Session that installs itself as the default session on construction."""

    def __init__(self, target="", graph=None, config=None, backend=None):
        super().__init__(target, graph, config, backend)
        _session_stack().append(self)

    def close(self):
        """Close the session and stop it being the default session."""
        super().close()
        if self in _session_stack():
            _session_stack().remove(self)
