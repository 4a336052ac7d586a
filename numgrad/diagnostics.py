"""Diagnostics beyond TensorFlow's: why a gradient is None, and which op made the first NaN.

* ``ng.why_none(ys, xs)`` explains, per x, why ``ng.gradients(ys, xs)`` gives None: there is
  no path at all, or every path is blocked (stop_gradient, an integer/bool tensor, a
  non-differentiable op, a rule returning None, a tensor in ``stop_gradients``), with one
  blocked path spelled out.
* ``ng.find_first_non_finite(fetches, feed_dict)`` and
  ``Session.run(..., options=ng.RunOptions(check_numerics=True))`` name the first op whose
  output is NaN/inf although its inputs were finite (or the feed that was not finite).
* ``ng.check_numerics`` / ``ng.add_check_numerics_ops`` are TF's ops (numgrad/ops/debug.py).
"""
import collections

import numpy as np

from .errors import InvalidArgumentError
from .fetch_mapper import graph_of_fetches, resolve_fetches
from .graph import Tensor, graph_of, executing_eagerly
from .ops.debug import (add_check_numerics_ops, check_numerics, non_finite_status,  # noqa: F401
                        verify_tensor_all_finite)

__all__ = ["why_none", "Explanation", "RunOptions", "find_first_non_finite", "NonFiniteReport",
           "check_numerics", "add_check_numerics_ops", "verify_tensor_all_finite"]


# === RunOptions ===============================================================================
class RunOptions:
    """Options for one ``Session.run`` call (tf.compat.v1.RunOptions).

    ``check_numerics=True``: if a fetched floating result holds a NaN or an infinity, raise
    InvalidArgumentError naming the first op that produced a non-finite value from finite
    inputs (or the feed that was not finite), found by re-running the fetches' subgraph with
    the NumPy reference interpreter.  Runs without options are not slowed down.

    TF's other fields (trace_level, timeout_in_ms, ...) are accepted and ignored.
    """

    NO_TRACE, SOFTWARE_TRACE, HARDWARE_TRACE, FULL_TRACE = 0, 1, 2, 3

    def __init__(self, check_numerics=False, trace_level=0, timeout_in_ms=0,
                 inter_op_thread_pool=0, output_partition_graphs=False, debug_options=None,
                 report_tensor_allocations_upon_oom=False, experimental=None):
        self.check_numerics = bool(check_numerics)
        self.trace_level = trace_level
        self.timeout_in_ms = timeout_in_ms
        self.inter_op_thread_pool = inter_op_thread_pool
        self.output_partition_graphs = output_partition_graphs
        self.debug_options = debug_options
        self.report_tensor_allocations_upon_oom = report_tensor_allocations_upon_oom
        self.experimental = experimental

    def __repr__(self):
        return f"RunOptions(check_numerics={self.check_numerics})"


# === first non-finite value ===================================================================
def _first_bad_index(a):
    bad = np.argwhere(~np.isfinite(a))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


class NonFiniteReport:
    """What `find_first_non_finite` found.

    ``op``: the first op (creation order) whose output holds NaN/inf while all its inputs
    were finite, or None; ``tensor``/``status``/``index``: that output, "NaN"/"Inf"/"Inf and
    NaN", and the index of its first bad element; ``feeds``: [(tensor, status, index)] for
    each non-finite feed; ``origins``: how many ops create non-finite values from finite ones.
    ``str(report)`` is the message Session.run raises.
    """

    def __init__(self, op, tensor, status, index, feeds, origins, inputs):
        self.op, self.tensor, self.status, self.index = op, tensor, status, index
        self.feeds, self.origins, self._inputs = feeds, origins, inputs

    def __str__(self):
        parts = []
        for t, status, index in self.feeds:
            parts.append(f"the value fed for '{t.name}' ({t.op.type} '{t.op.name}') has "
                         f"{status} values (first at index {index})")
        if self.op is not None:
            ins = ", ".join(f"'{t.name}' {t.dtype.name} {tuple(np.shape(v))}"
                            for t, v in self._inputs) or "none"
            more = (f" ({self.origins - 1} more op(s) also turn finite inputs into non-finite "
                    "values)") if self.origins > 1 else ""
            parts.append(f"the first op to produce a non-finite value from finite inputs is "
                         f"{self.op.type} op '{self.op.name}': its output '{self.tensor.name}' "
                         f"has {self.status} values (first at index {self.index}); its inputs: "
                         f"{ins}{more}")
        if not parts:
            return "no op produced a non-finite value (the NumPy reference run is all finite)"
        return "; ".join(parts)

    __repr__ = __str__


def _first_non_finite(tensors, targets, feeds, values):
    """Re-run the subgraph with the NumPy reference interpreter, keeping every op's outputs,
    and find where the non-finite values start.  Returns a NonFiniteReport."""
    from .backends.numpy import NumpyPlan, prune
    fed = set(feeds)
    ops = prune(tensors, targets, feeds)
    everything = [t for op in ops for t in op.outputs if t not in fed]
    results = NumpyPlan(everything, [], feeds)(values) if everything else []
    env = dict(zip(everything, results))
    env.update(zip(feeds, values))

    def status(t):
        return non_finite_status(env[t]) if t in env else None

    bad_feeds = []
    for t, v in zip(feeds, values):
        s = non_finite_status(v)
        if s is not None:
            bad_feeds.append((t, s, _first_bad_index(np.asarray(v))))
    first, origins = None, 0
    for op in sorted(ops, key=lambda o: o._id):     # creation order is a topological order
        bad_out = next((t for t in op.outputs if status(t) is not None), None)
        if bad_out is None or any(status(t) is not None for t in op.inputs):
            continue
        origins += 1
        if first is None:
            first = (op, bad_out)
    if first is None:
        return NonFiniteReport(None, None, None, None, bad_feeds, 0, [])
    op, t = first
    return NonFiniteReport(op, t, status(t), _first_bad_index(np.asarray(env[t])), bad_feeds,
                           origins, [(i, env[i]) for i in op.inputs])


def find_first_non_finite(fetches, feed_dict=None):
    """Evaluate the subgraph computing `fetches` op by op with the NumPy reference
    interpreter; return a NonFiniteReport naming the first op (creation order) whose output
    holds NaN/inf while its inputs were finite and any feed that was not finite, or None if
    every value is finite.  The graph is not changed."""
    graph = graph_of_fetches(fetches)
    tensors, targets, feeds, values = resolve_fetches(graph, fetches, feed_dict)
    report = _first_non_finite(tensors, targets, feeds, values)
    return None if report.op is None and not report.feeds else report


def check_run_results(tensors, targets, feeds, values, results):
    """Session.run's ``RunOptions(check_numerics=True)`` hook: InvalidArgumentError naming
    where the non-finite values start if a fetched floating result is not finite."""
    bad = []
    for t, r in zip(tensors, results):
        s = non_finite_status(r)
        if s is not None:
            bad.append(f"'{t.name}' ({s})")
    if not bad:
        return
    report = _first_non_finite(tensors, targets, feeds, values)
    op = report.op or (report.feeds[0][0].op if report.feeds else None)
    raise InvalidArgumentError(
        f"RunOptions(check_numerics=True): fetched tensor(s) {', '.join(bad)} hold non-finite "
        f"values; {report}", op)


# === why_none ==================================================================================
class Explanation(str):
    """``why_none``'s answer: a string (exactly ``"connected"`` when the gradient is not
    None) with attributes ``connected`` (bool), ``reason`` ("connected", "no_path",
    "blocked", "error" or "unexplained"), ``blockers`` ([(op, why)]) and ``path`` (op names
    of one blocked path, from x's op to y's op)."""

    def __new__(cls, text, connected, reason, blockers=(), path=()):
        self = super().__new__(cls, text)
        self.connected = connected
        self.reason = reason
        self.blockers = list(blockers)
        self.path = list(path)
        return self


class _Rollback(Exception):
    pass


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def why_none(ys, xs, stop_gradients=None):
    """Why ``ng.gradients(ys, xs, stop_gradients=...)`` is None for each x.

    Returns one Explanation (a str) per x, or a single one when `xs` is one tensor:
    ``"connected"`` when the gradient is not None; otherwise either "no path" (nothing in ys
    depends on x) or "blocked", naming every op where the gradient stops (a StopGradient op,
    an integer or bool tensor on the path such as a Cast to int32, an op declared
    NotDifferentiable, an op whose gradient rule returns None for that input, a tensor listed
    in `stop_gradients`) and spelling out one blocked path as ``x -> op1 -> op2 -> y``.  If
    gradients() itself would raise (e.g. an op without a gradient rule), the answer says so.

    The verdict is gradients()' own: it is built inside a graph transaction and rolled back,
    like the rules probed for the explanation, so the graph is left as it was (a finalized
    graph is opened for that time).  Do not build ops in the same graph from another thread
    meanwhile.
    """
    if executing_eagerly():
        raise RuntimeError("why_none needs graph mode (ng.disable_eager_execution()).")
    single = not isinstance(xs, (list, tuple))
    ys, xs, stops = _as_list(ys), _as_list(xs), _as_list(stop_gradients)
    for what, seq in (("ys", ys), ("xs", xs), ("stop_gradients", stops)):
        for t in seq:
            if not isinstance(t, Tensor):
                raise TypeError(f"why_none: {what} must be Tensors, got {t!r}")
    graph = graph_of(ys + xs + stops)
    finalized = graph._finalized
    graph._finalized = False          # the probes below are rolled back before we return
    try:
        answers = _explain_all(graph, ys, xs, stops)
    finally:
        graph._finalized = finalized
    return answers[0] if single else answers


def _explain_all(graph, ys, xs, stops):
    from .gradients import gradients
    regions = [_region(x, ys) for x in xs]    # before any probe adds consumers
    answers = []
    try:
        with graph.as_default(), graph._transaction():
            try:
                grads = gradients(ys, xs, stop_gradients=stops or None)
                truth, error = [g is not None for g in grads], None
            except (LookupError, ValueError, TypeError) as e:
                truth, error = None, e
            probe = _RuleProbe(graph, ys, stops)
            for x, region in zip(xs, regions):
                answers.append(_explain(x, ys, region, probe, truth and truth[len(answers)],
                                        error))
            raise _Rollback
    except _Rollback:
        pass
    return answers


def _region(x, ys):
    """Tensors on some path from x to a y (all dtypes, ignoring any blocking)."""
    down, queue = {x}, collections.deque([x])
    while queue:
        for op in queue.popleft().consumers():
            for o in op.outputs:
                if o not in down:
                    down.add(o)
                    queue.append(o)
    up, queue = set(), collections.deque(t for t in ys if t in down)
    up.update(queue)
    while queue:
        for i in queue.popleft().op.inputs:
            if i in down and i not in up:
                up.add(i)
                queue.append(i)
    return up


class _RuleProbe:
    """Whether the gradient flows from an op's outputs into its input i, as gradients() would
    decide; rules are called on stand-in gradients (placeholders) inside the caller's
    transaction."""

    def __init__(self, graph, ys, stops):
        self.graph = graph
        self.ys = set(ys)
        self.stop_of = {t.op: t for t in stops}
        self._cache = {}

    def block(self, op, i):
        """None if the gradient reaches op.inputs[i] from op's outputs, else (blocking op,
        why)."""
        from .gradients.registry import get_gradient_function
        t = op.inputs[i]
        if not t.dtype.is_differentiable:
            maker = t.op
            if maker.type == "Cast":
                why = (f"Cast op '{maker.name}' turns {maker.inputs[0].dtype.name} into "
                       f"{t.dtype.name} '{t.name}'; integer and bool tensors carry no gradient")
            else:
                why = (f"'{t.name}' (made by {maker.type} op '{maker.name}') is "
                       f"{t.dtype.name}; integer and bool tensors carry no gradient")
            return maker, why
        if op in self.stop_of:
            return op, f"'{self.stop_of[op].name}' is listed in stop_gradients"
        if op.type in ("StopGradient", "PreventGradient"):
            return op, f"{op.type} op '{op.name}' (ng.stop_gradient) blocks the gradient"
        try:
            fn = get_gradient_function(op)
        except LookupError:
            return op, f"{op.type} op '{op.name}' has no gradient rule"
        if fn is None:
            return op, (f"{op.type} op '{op.name}' is not differentiable "
                        f"(ng.NotDifferentiable('{op.type}'))")
        flows = self._flows(op, fn)
        if isinstance(flows, Exception):
            return op, (f"the gradient rule of {op.type} op '{op.name}' raised "
                        f"{type(flows).__name__}: {flows}")
        if not flows[i]:
            if op.type == "Cast":
                return op, (f"Cast op '{op.name}' turns {t.dtype.name} into "
                            f"{op.outputs[0].dtype.name}; integer and bool tensors carry no "
                            "gradient")
            return op, (f"the gradient rule of {op.type} op '{op.name}' returns None for its "
                        f"input {i} ('{t.name}')")
        return None

    def _flows(self, op, fn):
        if op not in self._cache:
            from .ops.core import placeholder
            try:
                with self.graph.name_scope("why_none_probe"):
                    grads = [placeholder(o.dtype, o.shape)
                             if o.dtype.is_differentiable or o in self.ys else None
                             for o in op.outputs]
                    got = fn(op, *grads)
                got = list(got) if isinstance(got, (list, tuple)) else [got]
                self._cache[op] = [g is not None for g in got]
            except Exception as e:  # noqa: BLE001  (reported in the explanation)
                self._cache[op] = e
        return self._cache[op]


def _explain(x, ys, region, probe, truth, error):
    if error is not None:
        return Explanation(f"gradients() raises {type(error).__name__}: {error}", False, "error")
    if truth:
        return Explanation("connected", True, "connected")
    y_names = ", ".join(f"'{y.name}'" for y in ys)
    if x not in region:
        return Explanation(f"not connected: there is no path from '{x.name}' to {y_names} "
                           "(they do not depend on it at all)", False, "no_path")
    # Gradient-carrying tensors on x->y paths, from the ys back; and where the flow stops.
    carried = {y: None for y in ys if y in region}   # tensor -> the consumer it came from
    queue = collections.deque(carried)
    blockers = collections.OrderedDict()             # blocking op -> (why, example edge)
    while queue:
        t = queue.popleft()
        op = t.op
        for i, inp in enumerate(op.inputs):
            if inp not in region or inp in carried:
                continue
            b = probe.block(op, i)
            if b is None:
                carried[inp] = op
                queue.append(inp)
            elif b[0] not in blockers:
                blockers[b[0]] = (b[1], (inp, op))
    if x in carried or not blockers:
        return Explanation(
            f"not connected: gradients() returns None for '{x.name}', but every op on the "
            f"paths to {y_names} passes gradients on when probed alone", False, "unexplained")
    items, path = [], None
    for blocker, (why, (inp, op)) in blockers.items():
        p = _path_from(x, inp, region) + [op.name] + _path_to_y(op, carried)
        path = path or p
        items.append(f"  - {why}\n    path: {' -> '.join(p)}")
    text = (f"not connected: every path from '{x.name}' to {y_names} is blocked:\n"
            + "\n".join(items))
    return Explanation(text, False, "blocked", [(b, w) for b, (w, _) in blockers.items()], path)


def _path_from(x, t, region):
    """Op names of a path from x's op to t's op inside `region` (BFS over consumers)."""
    prev = {x: None}
    queue = collections.deque([x])
    while queue and t not in prev:
        u = queue.popleft()
        for op in u.consumers():
            for o in op.outputs:
                if o in region and o not in prev:
                    prev[o] = u
                    queue.append(o)
    names, u = [], t
    while u is not None:
        names.append(u.op.name)
        u = prev.get(u)
    return names[::-1]


def _path_to_y(op, carried):
    """Op names from `op`'s consumer chain down to a y, following the gradient's way back."""
    names = []
    t = next((o for o in op.outputs if o in carried), None)
    while t is not None and carried[t] is not None:
        names.append(carried[t].name)
        t = next((o for o in carried[t].outputs if o in carried), None)
    return names
