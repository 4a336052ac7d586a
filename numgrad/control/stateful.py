"""State inside control-flow functions: variables read and assigned in a cond branch or a
while_loop's cond/body, random ops drawing new numbers every iteration, variables created there.

State becomes data flow while the functions are traced, so backends still never see it:

* every function graph keeps, per *state key* (a variable's ``VariableV2`` op, or ``DRAW``), an
  *entry* placeholder (the value when the function is entered) and the latest value written
  (``FunctionState``).  Inside a function, reads and assignments take effect in the order the
  Python code builds them (as in a ``tf.function``): a read sees the entry value or the last
  assignment built before it.
* a while_loop carries every key its body writes as an extra loop variable (initial value: the
  value outside; the body returns its last write), so iteration k reads what iteration k-1
  assigned; keys only read are fed like captures.  A cond's branches both return, per key
  either writes, their last write or their entry value, so the branch not taken changes nothing.
* at the top level the extra outputs go to ``Assign`` ops made with the While/If
  (``state_assigns``): the Session runs them whenever it runs the op and stores the values once
  the run has succeeded, like any assignment (a failed run changes no variable).
* a read is ``StateRead(value, variable)``: its value is the current one, its gradient goes to
  the variable (every read of it, in every iteration, adds up, as TF's reads of a resource).
* ``DRAW`` numbers the executions of random ops inside loops: each iteration of any loop adds
  one, so a random op in a body gets a new Philox stream per iteration (numgrad/random_ops.py).
* variables (and ``IsVariableInitialized``, ``RandomCounter``) built inside a function are made
  in the outermost graph, as TF's ``init_scope`` does.
"""
import contextlib
import weakref

import numpy as np

from .. import batching
from .. import dtypes as _dt
from ..errors import FailedPreconditionError
from ..graph import Graph
from ..ops.registry import register_op
from ..tensor_shape import TensorShape

__all__ = ["DRAW", "FunctionState", "root_graph", "lifted", "read_variable", "note_write",
           "draw_index", "prepare_loop", "prepare_cond", "write_back", "state_assigns",
           "interpreted_reason", "uninitialized_marker", "check_initialized"]

DRAW = "draw"           # the state key of the random-op draw index
_ASSIGNS = weakref.WeakKeyDictionary()      # top-level While/If op -> its Assign ops
_MARKERS = weakref.WeakValueDictionary()    # id -> array fed for an uninitialised variable


def _state_read_grad(op, grad):
    return [None, grad]


register_op("StateRead", lambda inputs, attrs: [(inputs[0].dtype, inputs[0].shape)],
            lambda vals, attrs: [np.asarray(vals[0])], kind="opaque", alias=0,
            gradient=_state_read_grad)
batching.NOT_BATCHABLE.setdefault(
    "StateRead", "a variable read inside a control-flow function (If/While are not batchable)")


class FunctionState:
    """A function graph's state keys: entry placeholders, latest writes, its reads."""

    def __init__(self):
        self.args = {}          # key -> placeholder: the value when the function is entered
        self.writes = {}        # key -> the latest value written (build order)
        self.reads = {}         # (current, handle) -> StateRead output (one per pair)
        self.stateful = False   # assigns, draws random numbers, or holds such functions


def _is_function(graph):
    return getattr(graph, "outer_graph", None) is not None


def root_graph(graph):
    """The outermost graph enclosing `graph`."""
    while _is_function(graph):
        graph = graph.outer_graph
    return graph


@contextlib.contextmanager
def lifted(fg):
    """Build in the outermost graph (no control dependencies), under the function's name
    scope: TF's init_scope."""
    root = root_graph(fg)
    scope = fg.get_name_scope()
    with root.as_default(), root.control_dependencies(None), \
            root.name_scope(scope + "/" if scope else ""):
        yield root


def _spec(key):
    if key is DRAW:
        return _dt.int64, TensorShape([])
    t = key.outputs[0]
    return t.dtype, t.shape


def _entry(fg, key):
    ph = fg.state.args.get(key)
    if ph is None:
        dtype, shape = _spec(key)
        with fg.as_default(), fg.control_dependencies(None), fg.name_scope(None):
            ph = Graph.create_op(fg, "Placeholder", [], {"dtype": dtype, "shape": shape},
                                 "state").outputs[0]
        fg.state.args[key] = ph
    return ph


def _current(fg, key):
    w = fg.state.writes.get(key)
    return w if w is not None else _entry(fg, key)


def read_variable(fg, var, handle):
    """The value of variable `var` read now inside `fg` (`handle`: its plain capture, which the
    read's gradient goes to)."""
    cur = _current(fg, var.op)
    hit = fg.state.reads.get((cur, handle))
    if hit is None:
        with fg.as_default(), fg.control_dependencies(None), fg.name_scope(None):
            hit = Graph.create_op(fg, "StateRead", [cur, handle], {"variable": var.op},
                                  var.op.name.replace("/", "_") + "_read").outputs[0]
        fg.state.reads[(cur, handle)] = hit
    return hit


def note_write(fg, assign_op):
    """Record an Assign built inside `fg` as the variable's latest value there."""
    fg.state.writes[assign_op.attrs["variable"]] = assign_op.outputs[0]
    fg.state.stateful = True


def draw_index(fg):
    """The int64 draw index of random ops in `fg` (one more per loop iteration)."""
    fg.state.stateful = True
    return _current(fg, DRAW)


def _outer_value(graph, key):
    """The value of `key` in `graph` now: a function's current value, the variable itself at
    the top level (the Session feeds it), draw index 0 there."""
    if _is_function(graph):
        return _current(graph, key)
    if key is DRAW:
        from ..ops.core import convert_to_tensor
        with graph.as_default(), graph.control_dependencies(None):
            return convert_to_tensor(np.int64(0), name="draw_start")
    return key.outputs[0]


def _feed_reads(graph, fg, skip):
    """The keys `fg` only reads are fed from `graph` like captures."""
    for key, ph in list(fg.state.args.items()):
        if key not in skip and not any(p is ph for _, p in fg.captures):
            fg.captures.append((_outer_value(graph, key), ph))


def prepare_loop(graph, cond_fg, body_fg):
    """The state a While built in `graph` carries: (keys, initial values, shape invariants);
    the keys' entry placeholders are appended to both functions' args and the body's last
    writes to its outputs."""
    if any(k is not DRAW for k in cond_fg.state.writes):
        raise ValueError("while_loop: the cond assigns variables; assign them in the body")
    if DRAW in cond_fg.state.args or DRAW in body_fg.state.args or DRAW in body_fg.state.writes:
        from ..ops import math as _math
        with body_fg.as_default(), body_fg.control_dependencies(None):
            body_fg.state.writes[DRAW] = _math.add(_current(body_fg, DRAW),
                                                   np.int64(1), name="next_draw")
    keys = list(body_fg.state.writes)
    inits, invs = [], []
    for key in keys:
        inits.append(_outer_value(graph, key))
        invs.append(_spec(key)[1])
        body_fg.args.append(_entry(body_fg, key))
        cond_fg.args.append(_entry(cond_fg, key))
        body_fg.outputs.append(body_fg.state.writes[key])
    for fg in (cond_fg, body_fg):
        _feed_reads(graph, fg, keys)
    _mark_outer(graph, cond_fg, body_fg, keys)
    return keys, inits, invs


def prepare_cond(graph, then_fg, else_fg):
    """The keys an If built in `graph` writes; each branch gets one more output per key."""
    keys = list(dict.fromkeys(list(then_fg.state.writes) + list(else_fg.state.writes)))
    for fg in (then_fg, else_fg):
        fg.outputs.extend(_current(fg, k) for k in keys)
    for fg in (then_fg, else_fg):
        _feed_reads(graph, fg, ())
    _mark_outer(graph, then_fg, else_fg, keys)
    return keys


def _mark_outer(graph, a, b, keys):
    if (a.state.stateful or b.state.stateful or keys) and _is_function(graph):
        graph.state.stateful = True


def write_back(graph, op, keys, values):
    """The While/If `op`'s final values of state `keys`: the latest writes of the enclosing
    function, or at the top level Assign ops the Session runs with `op`."""
    assigns = []
    for key, value in zip(keys, values):
        if _is_function(graph):
            graph.state.writes[key] = value
        elif key is not DRAW:
            with graph.as_default(), graph.control_dependencies(None):
                assigns.append(Graph.create_op(graph, "Assign", [value],
                                               {"variable": key, "validate_shape": True},
                                               key.name.replace("/", "_") + "_assign"))
    if assigns:
        _ASSIGNS[op] = assigns


def state_assigns(op):
    """The Assign ops that store what the top-level While/If `op` assigned ([] if none)."""
    return _ASSIGNS.get(op, [])


def interpreted_reason(attrs):
    """Why a While with these attrs must run in Python (one plan call per iteration), or None:
    its functions assign variables or draw random numbers."""
    for key in ("cond_graph", "body_graph"):
        fg = attrs.get(key)
        if fg is not None and fg.state.stateful:
            return ("its functions assign variables or draw random numbers, which runs one "
                    "iteration at a time")
    return None


def uninitialized_marker(op):
    """A zero array standing for uninitialised variable `op` read only inside cond branches
    (a branch that runs raises; the other never looks), or None where its shape is unknown."""
    t = op.outputs[0]
    if not t.shape.is_fully_defined():
        return None
    arr = np.zeros(t.shape.as_list(), t.dtype.np)
    _MARKERS[id(arr)] = arr
    return arr


def check_initialized(fg, values):
    """FailedPreconditionError where a branch about to run reads an uninitialised variable."""
    for (outer, _), v in zip(fg.captures, values):
        if outer.op.type == "VariableV2" and _MARKERS.get(id(v)) is v:
            raise FailedPreconditionError(
                f"Attempting to use uninitialized value {outer.op.name}", outer.op)
