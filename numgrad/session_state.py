"""What a Session does about state around one run: feeds variables, commits assignments.

Backends know nothing of state.  For a run that touches it, ``StatefulRun`` prunes the graph
once and finds

* the *state sources* it reads (``VariableV2``, ``IsVariableInitialized``, ``RandomCounter``):
  they become extra feeds, filled from the Session's state on each call (a variable's buffer
  itself, no copy);
* the ``Assign`` ops it runs: their outputs become extra fetches, and after the plan has run
  without error the Session stores them as the variables' new values, all at once.  A failed
  run changes no variable.  A random op's counter advances when the run starts (under the
  session's lock, so overlapping runs draw different numbers), as TF's random kernels advance
  their state even if a later op of the run fails.

A While or If whose functions assign variables comes with Assign ops of its final values
(numgrad/control/stateful.py); the run brings them along, so they are stored like the others.

Ordering (the resource-variable semantics of TF1 graph mode): every read in one run sees the
value from before that run's assignments, unless the reading op runs after an assignment to
the same variable through ``control_dependencies`` (``with ng.control_dependencies([a]):
y = v.read_value()``).  Such assignments run first, as an earlier *stage*, and are committed
before the rest runs (their outputs are then fed, so they are not run twice).  Two
unordered assignments to one variable in one run are racy in TF; here the later one in the
graph's topological order wins.
"""
import secrets

import numpy as np

from .backends.numpy import prune
from .errors import FailedPreconditionError
from .ops.state import state_kind

__all__ = ["SessionState", "StatefulRun", "analyse"]


class SessionState:
    """A Session's variable values and random counters (keyed by their ops)."""

    def __init__(self):
        self.values = {}        # VariableV2 op -> ndarray (owned by the session)
        self.counters = {}      # RandomCounter op -> int

    def read(self, op, kind):
        if kind in ("variable", "branch_variable"):
            try:
                return self.values[op]
            except KeyError:
                # read only inside cond branches: the branch that reads it raises when it runs
                marker = _marker(op) if kind == "branch_variable" else None
                if marker is not None:
                    return marker
                raise FailedPreconditionError(
                    f"Attempting to use uninitialized value {op.name}", op) from None
        if kind == "initialized":
            return np.array(op.attrs["variable"] in self.values)
        count = self.counters.get(op)
        if count is None:           # an unseeded random op: each Session its own stream
            count = secrets.randbits(48) if op.attrs.get("random_start") else 0
            self.counters[op] = count
        return np.array(count, dtype=np.int64)

    def set_value(self, var_op, value):
        """Store `value` (already of the variable's dtype) as the value of `var_op`."""
        self.values[var_op] = value

    def clear(self):
        self.values.clear()
        self.counters.clear()


def _owned(v, taken):
    """`v` if the session may keep it as a variable's buffer, else a copy: a read-only array
    (a constant), a view, or an array already handed out (a feed, a fetched result, another
    variable's buffer) is copied."""
    v = np.asarray(v)
    if not v.flags.writeable or v.base is not None and isinstance(v.base, np.ndarray) \
            or id(v) in taken or not v.flags.c_contiguous:
        v = np.array(v, order="C")
    taken.add(id(v))
    return v


def _marker(op):
    from .control.stateful import uninitialized_marker
    return uninitialized_marker(op)


def _state_assigns(op):
    """The Assign ops storing what a top-level While/If assigned inside its functions."""
    if op.type not in ("While", "If"):
        return ()
    from .control.stateful import state_assigns
    return state_assigns(op)


def analyse(tensors, targets, feeds):
    """(sources, assigns, early_assigns) of the run, or None when it touches no state.

    A While/If that assigns variables inside its functions brings its Assign ops along.  A
    variable read only inside cond branches (an If's input, not fetched) is a
    ``branch_variable`` source: uninitialised, it is fed a stand-in, and only a branch that
    runs and reads it raises (``Variable.initialized_value``)."""
    ops = prune(tensors, targets, feeds)
    sources, assigns = [], []
    in_run = set(ops)
    fetched = set(tensors)
    for op in ops:
        kind = state_kind(op)
        if kind == "assign":
            assigns.append(op)
        elif kind == "variable" and op.outputs[0] not in fetched and all(
                c.type == "If" for c in op.outputs[0].consumers() if c in in_run):
            sources.append((op, "branch_variable"))
        elif kind is not None:
            sources.append((op, kind))
        assigns.extend(a for a in _state_assigns(op) if a not in assigns)
    if not sources and not assigns:
        return None
    return sources, assigns, _early_assigns(ops, assigns)


def _early_assigns(ops, assigns):
    """Assign ops that some reader of the same variable must run after (via control inputs)."""
    if not assigns:
        return []
    by_var = {}
    for a in assigns:
        by_var.setdefault(a.attrs["variable"], []).append(a)
    early = []
    memo = {}
    for op in ops:
        if not op.control_inputs:
            continue
        read = {t.op for t in op.inputs if t.op in by_var}
        if not read:
            continue
        before = _control_ancestors(op, memo)
        for var in read:
            for a in by_var[var]:
                if a in before and a not in early:
                    early.append(a)
    return early


def _control_ancestors(op, memo):
    """Every op that must run before `op` because of a control dependency on the way."""
    if op in memo:
        return memo[op]
    out = set()
    stack = list(op.control_inputs)
    seen = set()
    while stack:
        c = stack.pop()
        if c in seen:
            continue
        seen.add(c)
        out.add(c)
        out.update(_state_assigns(c))       # a While/If ordered first: its assignments too
        stack.extend(c.control_inputs)
        stack.extend(t.op for t in c.inputs)
    for t in op.inputs:                 # ordered before an input's producer: before op too
        if t.op.control_inputs:
            out |= _control_ancestors(t.op, memo)
    memo[op] = out
    return out


class StatefulRun:
    """Runs (tensors, targets) with user feeds, reading and writing the session's state."""

    def __init__(self, session, tensors, targets, feeds, analysis):
        sources, assigns, early = analysis
        self.state = session._state
        self.lock = session._lock
        self.n = len(tensors)
        self.n_feeds = len(feeds)
        self.stage = None
        self.early = list(early)
        early_out = []
        if early:
            outs = [a.outputs[0] for a in early]
            sub = analyse(outs, [], feeds)
            self.stage = StatefulRun(session, outs, [], feeds, sub)
            early_out = outs
            sources, assigns, _ = analyse(tensors, targets, list(feeds) + outs) or ([], [], [])
        self.sources = [(op, kind) for op, kind in sources]
        self.counters = [op for op, kind in sources if kind == "counter"]
        late = [a for a in assigns if a not in early]
        self.assign_vars = [a.attrs["variable"] for a in late]
        fetch = list(tensors) + [a.outputs[0] for a in late]
        self.plan = session._plan(fetch, list(targets),
                                  list(feeds) + [op.outputs[0] for op, _ in sources] + early_out)
        # a backend that keeps variables on its device (cuda) gets them back there
        self.on_device = self.plan.keeps_state_on_device

    def plan_inputs(self, values):
        """What the inner plan is fed for user feeds `values` (state read now; an earlier
        stage's outputs stood in for by its variables' current values, same shapes)."""
        extra = []
        if self.stage is not None:
            extra = [self.state.values[a.attrs["variable"]] for a in self.early]
        return list(values) + [self.state.read(op, kind) for op, kind in self.sources] + extra

    def __call__(self, values):
        state = self.state
        extra = []
        if self.stage is not None:
            extra = self.stage(values)
        if self.counters:
            with self.lock:     # each run its own counter values, also when runs overlap
                src = [state.read(op, kind) for op, kind in self.sources]
                for op in self.counters:
                    state.counters[op] += 1
        else:
            src = [state.read(op, kind) for op, kind in self.sources]
        if self.on_device:          # cuda: assigned values come back as device arrays
            out = self.plan(list(values) + src + extra,
                            device_out=range(self.n, self.n + len(self.assign_vars)))
        else:
            out = self.plan(list(values) + src + extra)
        results = list(out[:self.n])
        state_ids = {id(v) for v in src}
        if self.assign_vars:
            taken = {id(v) for v in values}
            taken.update(id(v) for v in src)
            new = {}
            for var, v in zip(self.assign_vars, out[self.n:]):
                new[var] = v if self.on_device else _owned(v, taken)
            with self.lock:
                replaced = [state.values.get(var) for var in new] if self.on_device else None
                state.values.update(new)
            if replaced:            # device buffers no run holds any more go back to the pool
                src = extra = out = None
                self.plan.recycle(replaced)
            # a fetched result must never be a buffer the session keeps
            kept = {id(v) for v in new.values()}
            results = [np.array(r) if id(r) in kept else r for r in results]
        return [np.array(r) if id(r) in state_ids else r for r in results]
