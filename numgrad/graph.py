"""Graph, Operation and Tensor: the data structure everything else builds on.

Names follow TF: ``scope/Type``, made unique with ``_1``, ``_2`` suffixes.  A Graph can
open a *transaction* (``graph._transaction()``): every op and name created inside is undone
if the block raises, so a failed ``gradients()`` or composite op never leaves half-built
ops behind.
"""
import contextlib
import functools
import threading

from . import dtypes as _dtypes
from .tensor_shape import as_shape

__all__ = ["Graph", "Operation", "Tensor", "get_default_graph", "reset_default_graph",
           "name_scope", "control_dependencies", "enable_eager_execution",
           "disable_eager_execution", "executing_eagerly"]


class Tensor:
    """One output of an Operation: (op, index, dtype, static shape)."""

    __slots__ = ("_op", "_index", "_dtype", "_shape", "_consumers", "_value",
                 "_is_zeros_tensor", "__weakref__")

    def __init__(self, op, index, dtype, shape):
        self._op = op
        self._index = index
        self._dtype = dtype
        self._shape = as_shape(shape)
        self._consumers = []
        self._value = None          # eager mode only
        self._is_zeros_tensor = False

    op = property(lambda self: self._op, doc="The Operation that produces this tensor.")
    value_index = property(lambda self: self._index,
                           doc="The index of this tensor among its op's outputs.")
    dtype = property(lambda self: self._dtype, doc="The DType of the elements.")
    graph = property(lambda self: self._op.graph, doc="The Graph of the producing op.")
    name = property(lambda self: f"{self._op.name}:{self._index}",
                    doc="'op_name:output_index', as get_tensor_by_name, feeds and fetches take it.")
    shape = property(lambda self: self._shape,
                     doc="The static TensorShape (rank or dims None where unknown until run time).")
    device = property(lambda self: "", doc="Always '' (numgrad places no devices).")

    def get_shape(self):
        """The static TensorShape; the same as `.shape` (tf.Tensor.get_shape)."""
        return self._shape

    def set_shape(self, shape):
        """Refine the static shape; ValueError if it contradicts what is known."""
        shape = as_shape(shape)
        if not self._shape.is_compatible_with(shape):
            raise ValueError(f"Tensor '{self.name}' has shape {self._shape}, which is "
                             f"incompatible with the requested shape {shape}")
        self._shape = self._shape.merge_with(shape)

    def consumers(self):
        """The Operations that take this tensor as an input (a new list, in creation order)."""
        return list(self._consumers)

    def eval(self, feed_dict=None, session=None):
        """This tensor's value, computed by `session` (default: the default session) with
        `feed_dict` as Session.run does (tf.Tensor.eval); ValueError if there is no session."""
        from .session import get_default_session
        session = session or get_default_session()
        if session is None:
            raise ValueError("Cannot evaluate tensor using `eval()`: No default session is "
                             "registered. Use `with sess.as_default()` or pass session=")
        return session.run(self, feed_dict=feed_dict)

    def numpy(self):
        """The value computed in eager mode; ValueError for a symbolic (graph-mode) tensor."""
        if self._value is None:
            raise ValueError(f"Tensor '{self.name}' is symbolic (graph mode); use Session.run")
        return self._value

    @property
    def ndim(self):
        """The rank, or None if it is unknown."""
        return self._shape.rank

    def __array__(self, dtype=None, copy=None):
        import numpy as np
        if self._value is None:
            raise TypeError(f"Cannot convert symbolic Tensor '{self.name}' to a NumPy array; "
                            "evaluate it with Session.run")
        return np.asarray(self._value, dtype=dtype)

    def __bool__(self):
        raise TypeError("Using a Tensor as a Python `bool` is not allowed in graph mode. "
                        "Use ng.where / ng.cond-style ops instead.")

    def __len__(self):
        raise TypeError(f"len is not well defined for symbolic Tensors ('{self.name}'). "
                        "Use ng.shape or .shape.")

    def __iter__(self):
        n = self._shape[0] if self._shape.rank else None
        if n is None:
            raise TypeError(f"Cannot iterate over Tensor '{self.name}' of shape {self._shape}")
        return (self[i] for i in range(n))

    __hash__ = object.__hash__

    def __repr__(self):
        if self._value is not None:
            return f"<ng.Tensor: shape={self._shape}, dtype={self._dtype.name}, numpy={self._value!r}>"
        return f"<ng.Tensor '{self.name}' shape={self._shape} dtype={self._dtype.name}>"

    # Operators (+, *, @, [], ...) are attached in ops/overloads.py once the ops exist.


class Operation:
    """A node: type, input tensors, attributes, output tensors, control inputs."""

    __slots__ = ("_graph", "_name", "_type", "_inputs", "_attrs", "_outputs",
                 "_control_inputs", "_id", "_gradient_op_type", "__weakref__")

    def __init__(self, graph, name, op_type, inputs, attrs, output_specs, control_inputs, op_id):
        self._graph = graph
        self._name = name
        self._type = op_type
        self._inputs = tuple(inputs)
        self._attrs = dict(attrs or {})
        self._control_inputs = tuple(control_inputs)
        self._id = op_id
        # the gradient registry name that replaces `op_type` when gradients are built
        # (Graph.gradient_override_map); kept apart from `attrs`, which the kernels read
        self._gradient_op_type = None
        self._outputs = tuple(Tensor(self, i, dt, shp) for i, (dt, shp) in enumerate(output_specs))

    graph = property(lambda self: self._graph, doc="The Graph this op belongs to.")
    name = property(lambda self: self._name,
                    doc="The op's unique name, with its name scope ('scope/MatMul_1').")
    type = property(lambda self: self._type, doc="The op type, e.g. 'MatMul'.")
    inputs = property(lambda self: self._inputs, doc="The input Tensors, as a tuple.")
    outputs = property(lambda self: self._outputs, doc="The output Tensors, as a tuple.")
    control_inputs = property(lambda self: self._control_inputs,
                              doc="The Operations that must run before this one, as a tuple.")
    attrs = property(lambda self: self._attrs,
                     doc="The op's attributes as a dict (e.g. {'axis': 0}); see get_attr.")
    device = property(lambda self: "", doc="Always '' (numgrad places no devices).")

    def get_attr(self, name):
        """The value of attribute `name`; ValueError naming the op if it has no such attribute.
        '_gradient_op_type' is the gradient override set by Graph.gradient_override_map."""
        if name == "_gradient_op_type" and self._gradient_op_type is not None:
            return self._gradient_op_type.encode()      # TF returns the attr's bytes
        try:
            return self._attrs[name]
        except KeyError:
            raise ValueError(f"Operation '{self._name}' (type {self._type}) has no attr "
                             f"named '{name}'") from None

    def values(self):
        """The output Tensors, as a tuple (the same as `outputs`)."""
        return self._outputs

    def run(self, feed_dict=None, session=None):
        """Run this op for its effect, in `session` (default: the default session) with `feed_dict`;
        returns None (tf.Operation.run); ValueError if there is no session."""
        from .session import get_default_session
        session = session or get_default_session()
        if session is None:
            raise ValueError("Cannot execute operation using `run()`: No default session is "
                             "registered. Use `with sess.as_default():` or pass session=")
        session.run(self, feed_dict=feed_dict)

    def __repr__(self):
        return f"<ng.Operation '{self._name}' type={self._type}>"


class Graph:
    """A dataflow graph: an append-only list of Operations plus naming state."""

    def __init__(self):
        self._ops = []
        self._ops_by_name = {}
        self._names_in_use = {}
        self._name_stack = ""
        self._control_stack = []
        self._tls = threading.local()   # per thread: its open transaction's journal
        self._lock = threading.RLock()
        self._version = 0           # bumped when ops are added or removed (see version)
        self._keep_ops = True       # False for the eager-mode scratch graph
        self._finalized = False
        self._collections = {}      # name -> list (GraphKeys.GLOBAL_VARIABLES, ...)
        self.seed = None            # the graph-level random seed (ng.set_random_seed)
        self._gradient_override_map = {}    # op type -> gradient registry name

    def __getstate__(self):
        """A graph pickles (to ship it to Dask workers) without its thread-local journal and
        lock; an unpickled graph is a copy with the same op names."""
        state = self.__dict__.copy()
        del state["_tls"], state["_lock"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._tls = threading.local()
        self._lock = threading.RLock()

    @property
    def _journal(self):
        """The undo records of this thread's open transaction (None outside one).  Per thread,
        so that a failure in one thread never undoes ops another thread added meanwhile."""
        return getattr(self._tls, "journal", None)

    @_journal.setter
    def _journal(self, value):
        self._tls.journal = value

    # --- naming --------------------------------------------------------------------------
    def _set_name_count(self, key, value):
        if self._journal is not None:
            self._journal.append(("name", key, self._names_in_use.get(key)))
        self._names_in_use[key] = value

    def unique_name(self, name, mark_as_used=True):
        """`name` inside the current name scope, made unique (case-insensitively) with a '_1', '_2',
        ... suffix (tf.Graph.unique_name); mark_as_used=False does not reserve it."""
        if self._name_stack:
            name = self._name_stack + "/" + name
        key = name.lower()
        i = self._names_in_use.get(key, 0)
        if mark_as_used:
            self._set_name_count(key, i + 1)
        if i > 0:
            base = key
            while f"{base}_{i}" in self._names_in_use:
                i += 1
            if mark_as_used:
                self._set_name_count(f"{base}_{i}", 1)
            name = f"{name}_{i}"
        return name

    def get_name_scope(self):
        """The current name scope, e.g. 'outer/inner' ('' at the top level)."""
        return self._name_stack

    @contextlib.contextmanager
    def name_scope(self, name):
        """Context manager opening name scope `name` (made unique like unique_name); yields the
        prefix 'name/'. A name ending in '/' re-enters that scope as is; None or '' goes back to the
        top level (tf.Graph.name_scope)."""
        old = self._name_stack
        if name is None or name == "":
            new = ""
        elif name.endswith("/"):
            new = name[:-1]
        else:
            new = self.unique_name(name)
        self._name_stack = new
        try:
            yield (new + "/") if new else ""
        finally:
            self._name_stack = old

    # --- defaults and dependencies -------------------------------------------------------
    @contextlib.contextmanager
    def as_default(self):
        """Context manager making this graph the default graph of this thread inside the block;
        yields the graph (tf.Graph.as_default)."""
        _default_stack().append(self)
        try:
            yield self
        finally:
            _default_stack().pop()

    @contextlib.contextmanager
    def control_dependencies(self, control_inputs):
        """Context manager: ops created in the block run after `control_inputs` (Operations or
        Tensors of this graph); None clears the enclosing dependencies inside the block
        (tf.Graph.control_dependencies)."""
        if control_inputs is None:
            saved, self._control_stack = self._control_stack, []
            try:
                yield
            finally:
                self._control_stack = saved
            return
        ops = []
        for c in control_inputs:
            if isinstance(c, Tensor):
                c = c.op
            elif hasattr(c, "values") and hasattr(c, "indices"):   # IndexedSlices
                c = c.values.op
            if not isinstance(c, Operation):
                raise TypeError(f"Control input must be an Operation or Tensor, got {c!r}")
            if c.graph is not self:
                raise ValueError(f"Control input {c.name!r} is from a different graph")
            ops.append(c)
        self._control_stack.append(ops)
        try:
            yield
        finally:
            self._control_stack.pop()

    @contextlib.contextmanager
    def gradient_override_map(self, op_type_map):
        """Context manager: ops of a type in `op_type_map` created in the block are
        differentiated with the rule registered (ng.RegisterGradient) under the mapped name
        instead of their own (tf.Graph.gradient_override_map).  The name is looked up when
        gradients are built, so it may be registered later; inner blocks override outer ones."""
        if not isinstance(op_type_map, dict):
            raise TypeError("op_type_map must be a dictionary mapping strings to strings")
        saved = {}
        for op_type, mapped in op_type_map.items():
            if not (isinstance(op_type, str) and isinstance(mapped, str)):
                raise TypeError("op_type_map must be a dictionary mapping strings to strings")
        for op_type, mapped in op_type_map.items():
            if op_type in self._gradient_override_map:
                saved[op_type] = self._gradient_override_map[op_type]
            self._gradient_override_map[op_type] = mapped
        try:
            yield
        finally:
            for op_type in op_type_map:
                if op_type in saved:
                    self._gradient_override_map[op_type] = saved[op_type]
                else:
                    self._gradient_override_map.pop(op_type, None)

    # --- op creation ---------------------------------------------------------------------
    def create_op(self, op_type, inputs, attrs=None, name=None, exact_name=False):
        """Create an Operation after inferring and checking its output dtypes/shapes.

        exact_name=True takes `name` as the op's full name, outside the current name scope,
        and raises ValueError if an op of that name exists (variables are named this way)."""
        from .ops.registry import get_op_def
        if _TRACING[0]:
            inner = _inner_default(self)
            if inner is not self:       # tracing a cond/while_loop function of this graph
                return inner.create_op(op_type, inputs, attrs, name, exact_name)
        if self._finalized:
            raise RuntimeError("Graph is finalized and cannot be modified.")
        if name and name.endswith("/"):     # a name scope's name: the op takes it as is (TF)
            name, exact_name = name[:-1], True
        op_def = get_op_def(op_type)
        inputs = list(inputs)
        for i, t in enumerate(inputs):
            if not isinstance(t, Tensor):
                raise TypeError(f"{op_type}: input {i} must be a Tensor, got {type(t).__name__}")
            if t.graph is not self:
                inputs[i] = self._capture(t, op_type)
        attrs = dict(attrs or {})
        with self._lock:
            full_name = name if exact_name else self.unique_name(name or op_type, mark_as_used=False)
            try:
                specs = op_def.infer(inputs, attrs)
            except (ValueError, TypeError) as e:
                raise type(e)(f"{op_type} op '{full_name}': {e}") from None
            if exact_name:
                if name in self._ops_by_name:
                    raise ValueError(f"{op_type}: an op named '{name}' already exists")
                full_name = name
                key = name.lower()
                if not self._names_in_use.get(key):
                    self._set_name_count(key, 1)
            else:
                full_name = self.unique_name(name or op_type)
            control = []
            for group in self._control_stack:
                control.extend(c for c in group if c not in control)
            op = Operation(self, full_name, op_type, inputs, attrs,
                           [(_dtypes.as_dtype(d), s) for d, s in specs], control, len(self._ops))
            op._gradient_op_type = self._gradient_override_map.get(op_type)
            if self._keep_ops:
                self._ops.append(op)
                self._ops_by_name[full_name] = op
                for t in inputs:
                    t._consumers.append(op)
                self._version += 1
                if self._journal is not None:
                    self._journal.append(("op", op))
        if _EAGER[0] and not self._keep_ops:
            _run_eagerly(op, op_def)
        return op

    def _capture(self, t, op_type):
        """An input `t` from another graph: an error here; a FuncGraph (numgrad/control)
        captures tensors of its enclosing graphs as placeholders instead."""
        raise ValueError(f"{op_type}: input tensor '{t.name}' must be from the same "
                         "graph as the op being created (it belongs to another Graph)")

    def _encloses(self, graph):
        """Whether this graph is `graph` or a function graph traced inside it (FuncGraph)."""
        return graph is self

    @contextlib.contextmanager
    def _transaction(self):
        """Undo every op and name created in the block if it raises."""
        outer = self._journal is not None
        if not outer:
            self._journal = []
        mark = len(self._journal)
        try:
            yield
        except BaseException:
            self._undo(mark)
            raise
        finally:
            if not outer:
                self._journal = None

    def _undo(self, mark):
        journal = self._journal
        while len(journal) > mark:
            rec = journal.pop()
            if rec[0] == "name":
                _, key, old = rec
                if old is None:
                    self._names_in_use.pop(key, None)
                else:
                    self._names_in_use[key] = old
            elif rec[0] == "collection":
                _, key, value = rec
                items = self._collections.get(key, [])
                if value in items:
                    items.remove(value)
            else:
                self._ops.remove(rec[1])
                self._detach(rec[1])
                self._version += 1

    def _detach(self, op):
        self._ops_by_name.pop(op.name, None)
        for t in op.inputs:
            if op in t._consumers:
                t._consumers.remove(op)

    def _remove_ops(self, dead):
        """Remove ops nothing reads any more (scaffolding of a composite such as jacobian);
        their names stay reserved.  The caller has checked that nothing consumes them."""
        with self._lock:
            self._ops = [op for op in self._ops if op not in dead]
            for op in dead:
                self._detach(op)
            if self._journal is not None:
                self._journal[:] = [r for r in self._journal
                                    if not (r[0] == "op" and r[1] in dead)]
            self._version += 1

    # --- collections (tf.Graph.add_to_collection, get_collection, ...) --------------------
    def add_to_collection(self, name, value):
        """Append `value` to the collection `name` (undone if the enclosing transaction fails)."""
        with self._lock:
            self._collections.setdefault(name, []).append(value)
            if self._journal is not None:
                self._journal.append(("collection", name, value))

    def add_to_collections(self, names, value):
        """Add `value` to each collection in `names` (a name or a list of names), once each."""
        names = (names,) if isinstance(names, str) else set(names)
        for name in names:
            self.add_to_collection(name, value)

    def get_collection_ref(self, name):
        """The list that is collection `name` itself (created empty if missing)."""
        with self._lock:
            return self._collections.setdefault(name, [])

    def get_collection(self, name, scope=None):
        """A copy of collection `name`; with `scope`, only items whose `name` starts with it
        (matched from the start, as a regular expression, like TF)."""
        import re
        with self._lock:
            items = list(self._collections.get(name, []))
        if scope is None:
            return items
        pattern = re.compile(scope)
        return [v for v in items if hasattr(v, "name") and pattern.match(v.name)]

    def get_all_collection_keys(self):
        """The names of the non-empty collections."""
        with self._lock:
            return [k for k, v in self._collections.items() if v]

    def clear_collection(self, name):
        """Empty collection `name`."""
        with self._lock:
            self._collections.pop(name, None)

    # --- lookup --------------------------------------------------------------------------
    def get_operations(self):
        """The graph's Operations in creation order (a new list)."""
        return list(self._ops)

    def get_operation_by_name(self, name):
        """The Operation named `name`; KeyError if the graph has none."""
        try:
            return self._ops_by_name[name]
        except KeyError:
            raise KeyError(f"The name '{name}' refers to an Operation not in the graph.") from None

    def get_tensor_by_name(self, name):
        """The Tensor named 'op_name:output_index'; ValueError for a name without ':index', KeyError
        if there is no such op or output."""
        op_name, sep, idx = name.rpartition(":")
        if not sep or not idx.isdigit():
            raise ValueError(f"The name '{name}' looks like an Operation name, not a Tensor "
                             "name ('op_name:output_index').")
        op = self.get_operation_by_name(op_name)
        if int(idx) >= len(op.outputs):
            raise KeyError(f"The name '{name}' refers to a Tensor which does not exist: "
                           f"operation '{op_name}' has {len(op.outputs)} outputs.")
        return op.outputs[int(idx)]

    def as_graph_element(self, obj):
        """`obj` as a Tensor or Operation of this graph: a name ('op:0' for a tensor, 'op' for an
        op) is looked up; a Tensor/Operation of another graph raises ValueError."""
        if isinstance(obj, str):
            return self.get_tensor_by_name(obj) if ":" in obj else self.get_operation_by_name(obj)
        if isinstance(obj, (Tensor, Operation)):
            if obj.graph is not self:
                raise ValueError(f"{obj!r} is not an element of this graph.")
            return obj
        raise TypeError(f"Can not convert a {type(obj).__name__} into a Tensor or Operation.")

    def finalize(self):
        """Make the graph read-only: creating another op raises RuntimeError (tf.Graph.finalize)."""
        self._finalized = True

    @property
    def finalized(self):
        """True once finalize() has been called."""
        return self._finalized

    @property
    def version(self):
        """A counter that increases whenever ops are added or removed (tf.Graph.version).

        The Dask runner sends the graph to its workers again when it has changed.  Session's
        plan caches do not need it: a plan keys on the tensors and ops it runs, and an op does
        not change once built."""
        return self._version

    def __repr__(self):
        return f"<ng.Graph with {len(self._ops)} ops>"


def atomic(fn):
    """Wrap the public op builder `fn` so that if it raises, every op and name it made is
    undone (e.g. the Const made for a Python argument when the op itself is rejected).
    A transaction in each graph involved: the default one and those of tensor arguments."""
    def wrapper(*args, **kwargs):
        graphs = [get_default_graph()]
        for a in (*args, *kwargs.values()) if kwargs else args:
            for v in (a if isinstance(a, (list, tuple)) else (a,)):
                if isinstance(v, (Tensor, Operation)) and v.graph not in graphs:
                    graphs.append(v.graph)
        marks = []                  # (graph, where its journal was, whether we opened it)
        for g in graphs:
            j = g._journal
            if j is None:
                g._journal = []
                marks.append((g, 0, True))
            else:
                marks.append((g, len(j), False))
        try:
            return fn(*args, **kwargs)
        except BaseException:
            for g, mark, _ in marks:
                g._undo(mark)
            raise
        finally:
            for g, _, opened in marks:
                if opened:
                    g._journal = None
    return functools.wraps(fn)(wrapper)


# --- default graph, eager mode ---------------------------------------------------------
_GLOBAL_DEFAULT = [Graph()]
_THREAD = threading.local()
_EAGER = [False]
_EAGER_GRAPH = Graph()
_EAGER_GRAPH._keep_ops = False


def _default_stack():
    stack = getattr(_THREAD, "stack", None)
    if stack is None:
        stack = _THREAD.stack = []
    return stack


def get_default_graph():
    """The graph new ops go into (tf.compat.v1.get_default_graph): the innermost
    `Graph.as_default()` of this thread, else the global default graph (in eager mode, a scratch
    graph that keeps no ops)."""
    if _EAGER[0]:
        return _EAGER_GRAPH
    stack = _default_stack()
    return stack[-1] if stack else _GLOBAL_DEFAULT[0]


def reset_default_graph():
    """Replace the global default graph with a new, empty Graph (tf.compat.v1.reset_default_graph);
    AssertionError inside `with graph.as_default()`."""
    if _default_stack():
        raise AssertionError("Do not use reset_default_graph() inside a `with graph.as_default()` "
                             "block: that would leave the nested graph dangling.")
    _GLOBAL_DEFAULT[0] = Graph()


def name_scope(name, default_name=None, values=None):
    """tf.compat.v1.name_scope(name, default_name=None, values=None)."""
    graph = graph_of(values) if values else get_default_graph()
    n = name if name is not None else default_name

    @contextlib.contextmanager
    def scope():
        with graph.as_default(), graph.name_scope(n) as s:
            yield s
    return scope()


def control_dependencies(control_inputs):
    """tf.compat.v1.control_dependencies: `Graph.control_dependencies` of the default graph (a
    context manager)."""
    return get_default_graph().control_dependencies(control_inputs)


def graph_of(values):
    """The one graph that all Tensors/Operations in `values` belong to (ValueError if mixed)."""
    graph, first = None, None
    for v in values:
        g = getattr(v, "graph", None) if isinstance(v, (Tensor, Operation)) or hasattr(v, "indices") else None
        if g is None:
            continue
        if graph is None:
            graph, first = g, v
        elif g is not graph:
            raise ValueError(f"{_describe(v)} must be from the same graph as {_describe(first)} "
                             "(they belong to different Graphs).")
    if graph is None:
        return get_default_graph()
    return _inner_default(graph) if _TRACING[0] else graph


# How many FuncGraphs (numgrad/control) are being traced, over all threads: while none is,
# create_op and graph_of skip the look-up of _inner_default.
_TRACING = [0]


def _inner_default(graph):
    """`graph`, or the default graph when that is a FuncGraph traced inside `graph`: an op
    built from tensors of an enclosing graph while a cond branch or loop body is traced
    belongs to the function graph, which captures those tensors (as in TF 2)."""
    d = get_default_graph()
    if d is not graph and d._encloses(graph):
        return d
    return graph


def _describe(v):
    return f"Tensor '{v.name}'" if isinstance(v, Tensor) else repr(v)


def enable_eager_execution():
    """Eager mode, for all threads (tf.compat.v1.enable_eager_execution): each op computes its value
    at once with the NumPy reference (read it with Tensor.numpy()); Session() and gradients() raise
    RuntimeError until disable_eager_execution()."""
    _EAGER[0] = True


def disable_eager_execution():
    """Back to graph mode, the default (tf.compat.v1.disable_eager_execution)."""
    _EAGER[0] = False


def executing_eagerly():
    """True while eager execution is enabled (tf.compat.v1.executing_eagerly)."""
    return _EAGER[0]


def _run_eagerly(op, op_def):
    values = []
    for t in op.inputs:
        if t._value is None:
            raise RuntimeError(f"{op.type}: input '{t.name}' has no eager value")
        values.append(t._value)
    outs = op_def.compute(values, op.attrs)
    for t, v in zip(op.outputs, outs):
        t._value = v
        t._shape = as_shape(getattr(v, "shape", ()))
