"""Variables (tf.compat.v1.Variable, get_variable, variable_scope) and the collections of them.

A Variable *is* the output tensor of its ``VariableV2`` op (a Tensor subclass), so it goes
anywhere a tensor goes: ops, ``gradients``, fetches, feeds (feeding a variable overrides its
value for that run, as in TF).  Its value lives in each Session (numgrad/session_state.py):
``initializer`` is an ``Assign`` of the initial value, and ``assign``/``assign_add``/
``assign_sub`` build more of them.

Reads follow TF1's resource-variable rule: every read in one ``run`` sees the value from
before that run's assignments, unless the reading op is ordered after the assignment by
``control_dependencies`` (``read_value()`` inside the block).
"""
import contextlib
import threading

import numpy as np

from . import dtypes as _dt
from .graph import Tensor, get_default_graph
from .ops.core import convert_to_tensor
from .tensor_shape import TensorShape, as_shape

__all__ = ["Variable", "VariableV1", "GraphKeys", "get_variable", "variable_scope",
           "get_variable_scope", "VariableScope", "AUTO_REUSE", "global_variables",
           "trainable_variables", "local_variables", "model_variables", "all_variables",
           "get_collection", "get_collection_ref", "add_to_collection", "add_to_collections",
           "global_variables_initializer", "initialize_all_variables", "variables_initializer",
           "local_variables_initializer", "initialize_local_variables",
           "report_uninitialized_variables", "is_variable_initialized", "assign", "assign_add",
           "assign_sub"]


class GraphKeys:
    """Standard collection names (tf.compat.v1.GraphKeys)."""
    GLOBAL_VARIABLES = "variables"
    LOCAL_VARIABLES = "local_variables"
    MODEL_VARIABLES = "model_variables"
    TRAINABLE_VARIABLES = "trainable_variables"
    GLOBAL_STEP = "global_step"
    TRAIN_OP = "train_op"
    LOSSES = "losses"
    REGULARIZATION_LOSSES = "regularization_losses"
    UPDATE_OPS = "update_ops"
    SUMMARIES = "summaries"
    INIT_OP = "init_op"
    LOCAL_INIT_OP = "local_init_op"
    SAVERS = "savers"
    VARIABLES = GLOBAL_VARIABLES


class _AutoReuse:
    def __repr__(self):
        return "AUTO_REUSE"


AUTO_REUSE = _AutoReuse()


def _session_or_default(session):
    from .session import get_default_session
    session = session or get_default_session()
    if session is None:
        raise ValueError("Cannot use a variable's value: no default session is registered. "
                         "Use `with sess.as_default():` or pass session=")
    return session


class Variable(Tensor):
    """A tensor whose value is kept, per Session, between runs (tf.compat.v1.Variable)."""

    __slots__ = ("_trainable", "_initializer_op", "_initial_value")

    def __init__(self, initial_value=None, trainable=None, collections=None, validate_shape=True,
                 caching_device=None, name=None, variable_def=None, dtype=None,
                 expected_shape=None, import_scope=None, constraint=None, use_resource=None,
                 synchronization=None, aggregation=None, shape=None):
        if variable_def is not None:
            raise NotImplementedError("Variable(variable_def=...) (protocol buffers) is not "
                                      "supported")
        if initial_value is None:
            raise ValueError("initial_value must be specified.")
        trainable = True if trainable is None else bool(trainable)
        with _outermost(initial_value, name) as graph:
            self._build(graph, initial_value, trainable, collections, validate_shape, name,
                        dtype, shape)

    def _build(self, graph, initial_value, trainable, collections, validate_shape, name, dtype,
               shape):
        with graph._transaction(), graph.control_dependencies(None):
            base = graph.unique_name(name or "Variable")
            with graph.name_scope(base + "/"):
                if callable(initial_value):
                    with graph.name_scope("Initializer"):
                        initial_value = initial_value()
                value = convert_to_tensor(initial_value, dtype=dtype, name="initial_value")
            if shape is not None:
                var_shape = as_shape(shape)
                if not var_shape.is_compatible_with(value.shape):
                    raise ValueError(f"Variable '{base}': shape {var_shape} is incompatible with "
                                     f"the initial value's shape {value.shape}")
            elif validate_shape:
                var_shape = value.shape
                if not var_shape.is_fully_defined():
                    raise ValueError(f"initial_value must have a shape specified: {value} "
                                     f"(variable '{base}'); pass validate_shape=False or shape=")
            else:
                var_shape = TensorShape(None)
            op = graph.create_op("VariableV2", [], {"dtype": value.dtype, "shape": var_shape},
                                 name=base, exact_name=True)
            Tensor.__init__(self, op, 0, value.dtype, var_shape)
            op._outputs = (self,)
            self._trainable = trainable
            self._initial_value = value
            with graph.name_scope(base + "/"):
                self._initializer_op = _make_assign(self, value, "Assign",
                                                    validate_shape=validate_shape).op
            if collections is None:
                collections = [GraphKeys.GLOBAL_VARIABLES]
            collections = [collections] if isinstance(collections, str) else list(collections)
            if trainable and GraphKeys.TRAINABLE_VARIABLES not in collections:
                collections.append(GraphKeys.TRAINABLE_VARIABLES)
            graph.add_to_collections(collections, self)

    # --- properties -------------------------------------------------------------------------
    trainable = property(lambda self: self._trainable,
                         doc="Whether optimizers train it by default (TRAINABLE_VARIABLES).")
    initializer = property(lambda self: self._initializer_op,
                           doc="The op that assigns the initial value.")
    initial_value = property(lambda self: self._initial_value,
                             doc="The tensor the initializer assigns.")

    def initialized_value(self):
        """TF1's ``cond(is_variable_initialized(v), v.read_value, lambda: v.initial_value)``:
        the current value once the session has initialised the variable, the initial value
        before (to initialise another variable from this one in either order)."""
        from .control.cond import cond
        graph = self.graph
        with graph.as_default(), graph.control_dependencies(None), \
                graph.name_scope(self.op.name + "/"):
            return cond(is_variable_initialized(self), self.read_value,
                        lambda: self._initial_value, name="initialized_value")

    def value(self):
        """A tensor holding the value (the variable itself)."""
        return self

    def read_value(self):
        """A new read of the value, ordered by the enclosing control dependencies."""
        from .ops.array import identity
        return identity(self, name="read")

    def set_shape(self, shape):
        """A variable's shape is fixed: always raises ValueError."""
        raise ValueError(f"Cannot set the shape of variable '{self.name}'")

    # --- state --------------------------------------------------------------------------
    def assign(self, value, use_locking=None, name=None, read_value=True):
        """Assign `value` (converted to the variable's dtype); the new value, or the op with
        read_value=False."""
        t = _make_assign(self, value, name or "Assign")
        return t if read_value else t.op

    def assign_add(self, delta, use_locking=None, name=None, read_value=True):
        """Add `delta` to the value."""
        return self._update(delta, "AssignAdd", name, read_value, lambda a, b: a + b)

    def assign_sub(self, delta, use_locking=None, name=None, read_value=True):
        """Subtract `delta` from the value."""
        return self._update(delta, "AssignSub", name, read_value, lambda a, b: a - b)

    def _update(self, delta, kind, name, read_value, fn):
        graph = self.graph
        with graph._transaction(), graph.name_scope(name or kind) as scope:
            delta = convert_to_tensor(delta, dtype=self.dtype, name="delta")
            t = _make_assign(self, fn(self, delta), "Assign")
        del scope
        return t if read_value else t.op

    def load(self, value, session=None):
        """Store `value` as this variable's value in `session` (default: the default session)."""
        session = _session_or_default(session)
        arr = np.array(value, dtype=self.dtype.np)
        if not self.shape.is_compatible_with(arr.shape):
            raise ValueError(f"Cannot load a value of shape {arr.shape} into variable "
                             f"'{self.op.name}' of shape {self.shape}")
        if session.graph is not self.graph:
            raise ValueError(f"Variable '{self.op.name}' is not an element of the session's graph")
        with session._lock:
            session._state.set_value(self.op, arr)

    def get_shape(self):
        """The static TensorShape."""
        return self.shape

    def __repr__(self):
        return (f"<ng.Variable '{self.name}' shape={self.shape} dtype={self.dtype.name}>")


VariableV1 = Variable


def _make_assign(var, value, name, validate_shape=True):
    with var.graph._transaction():          # a failed assign leaves no converted value behind
        value = convert_to_tensor(value, dtype=var.dtype, name="value")
        op = var.graph.create_op("Assign", [value], {"variable": var.op,
                                                     "validate_shape": validate_shape},
                                 name=name)
        if op.graph is not var.graph:       # inside a cond/while_loop function: TF's value
            return op.graph.capture(var, state=True)    # is a read of the variable
        return op.outputs[0]


def _outermost(initial_value, name):
    """The graph a new variable goes to, as a context: the default graph, or inside a
    cond/while_loop function the outermost graph (TF's init_scope), where an initial value
    computed inside the function cannot go (TF's ValueError)."""
    graph = get_default_graph()
    if getattr(graph, "outer_graph", None) is None:
        return contextlib.nullcontext(graph)
    if isinstance(initial_value, Tensor) and getattr(initial_value.graph, "outer_graph", None):
        raise ValueError(
            f"Argument `initial_value` ({initial_value}) could not be lifted out of a "
            f"`tf.function`. (Tried to create variable with name='{name}'). To avoid this "
            "error, when constructing `tf.Variable`s inside of `tf.function` you can create "
            "the `initial_value` tensor in a `tf.init_scope` or pass a callable "
            "`initial_value` (e.g., `tf.Variable(lambda : tf.truncated_normal([10, 40]))`). "
            "Please file a feature request if this restriction inconveniences you.")
    from .control.stateful import lifted
    return lifted(graph)


def _as_variable(v, what):
    if not isinstance(v, Variable):
        raise TypeError(f"{what}: expected a Variable, got {v!r}")
    return v


def assign(ref, value, validate_shape=None, use_locking=None, name=None):
    """tf.compat.v1.assign: assign `value` to variable `ref`; the new value."""
    ref = _as_variable(ref, "assign")
    return _make_assign(ref, value, name or "Assign",
                        validate_shape=True if validate_shape is None else validate_shape)


def assign_add(ref, value, use_locking=None, name=None):
    """tf.compat.v1.assign_add."""
    return _as_variable(ref, "assign_add").assign_add(value, name=name)


def assign_sub(ref, value, use_locking=None, name=None):
    """tf.compat.v1.assign_sub."""
    return _as_variable(ref, "assign_sub").assign_sub(value, name=name)


# --- collections ---------------------------------------------------------------------------
def get_collection(key, scope=None):
    """The default graph's collection `key` (a copy), filtered by name `scope` if given."""
    return get_default_graph().get_collection(key, scope)


def get_collection_ref(key):
    """The default graph's collection `key` itself."""
    return get_default_graph().get_collection_ref(key)


def add_to_collection(name, value):
    """Append `value` to the default graph's collection `name`."""
    get_default_graph().add_to_collection(name, value)


def add_to_collections(names, value):
    """Add `value` to each of the default graph's collections `names`."""
    get_default_graph().add_to_collections(names, value)


def global_variables(scope=None):
    """Variables in GLOBAL_VARIABLES (tf.compat.v1.global_variables)."""
    return get_collection(GraphKeys.GLOBAL_VARIABLES, scope)


all_variables = global_variables


def trainable_variables(scope=None):
    """Variables in TRAINABLE_VARIABLES."""
    return get_collection(GraphKeys.TRAINABLE_VARIABLES, scope)


def local_variables(scope=None):
    """Variables in LOCAL_VARIABLES."""
    return get_collection(GraphKeys.LOCAL_VARIABLES, scope)


def model_variables(scope=None):
    """Variables in MODEL_VARIABLES."""
    return get_collection(GraphKeys.MODEL_VARIABLES, scope)


def variables_initializer(var_list, name="init"):
    """An op running the initializers of `var_list` (a no-op for an empty list)."""
    from .ops.control import group, no_op
    var_list = list(var_list)
    if not var_list:
        return no_op(name=name)
    return group(*[_as_variable(v, "variables_initializer").initializer for v in var_list],
                 name=name)


def global_variables_initializer():
    """tf.compat.v1.global_variables_initializer."""
    return variables_initializer(global_variables(), name="init")


initialize_all_variables = global_variables_initializer


def local_variables_initializer():
    """An op running the initializers of the local variables."""
    return variables_initializer(local_variables(), name="init")


initialize_local_variables = local_variables_initializer


def is_variable_initialized(variable):
    """A bool scalar tensor: whether `variable` has a value in the running session."""
    v = _as_variable(variable, "is_variable_initialized")
    return v.graph.create_op("IsVariableInitialized", [], {"variable": v.op},
                             name="IsVariableInitialized").outputs[0]


def report_uninitialized_variables(var_list=None, name="report_uninitialized_variables"):
    """A 1-D tensor of the names of the uninitialised variables of `var_list` (default: global
    and local variables), as an object array when run (TF returns strings)."""
    from .ops.array import stack
    var_list = list(global_variables() + local_variables() if var_list is None else var_list)
    graph = get_default_graph()
    with graph.name_scope(name):
        flags = [is_variable_initialized(v) for v in var_list]
        stacked = stack(flags) if flags else None
    return _UninitializedReport(stacked, [v.op.name for v in var_list])


class _UninitializedReport:
    """Fetchable through `Session.run` like a tensor: it runs as its bool flags and comes
    back as the names of the uninitialised variables (a 1-D object array)."""

    def __init__(self, flags, names):
        self.flags, self.names = flags, names

    def _fetch_parts(self):
        """(tensor to run or None, function of its value giving the result)."""
        names = self.names

        def result(flags):
            if flags is None:
                return np.array([], dtype=object)
            return np.array([n for n, ok in zip(names, flags) if not ok], dtype=object)
        return self.flags, result

    def eval(self, session=None):
        """The names of the uninitialised variables, in `session`."""
        session = _session_or_default(session)
        return session.run(self)


# --- variable scopes and get_variable -------------------------------------------------------
class VariableScope:
    """A variable scope: name prefix, reuse flag and defaults for get_variable."""

    def __init__(self, reuse, name="", initializer=None, regularizer=None, dtype=None,
                 name_scope=""):
        self._name = name
        self._reuse = reuse
        self.initializer = initializer
        self.regularizer = regularizer
        self.dtype = dtype
        self.original_name_scope = name_scope

    name = property(lambda self: self._name, doc="The scope's full name ('outer/inner').")
    reuse = property(lambda self: self._reuse, doc="False, True or AUTO_REUSE.")

    def reuse_variables(self):
        """Make get_variable in this scope reuse existing variables."""
        self._reuse = True

    def set_initializer(self, initializer):
        """Set the default initializer of get_variable in this scope."""
        self.initializer = initializer

    def set_dtype(self, dtype):
        """Set the default dtype of get_variable in this scope."""
        self.dtype = dtype

    def get_variable(self, name, *args, **kwargs):
        """get_variable inside this scope."""
        with variable_scope(self):
            return get_variable(name, *args, **kwargs)


class _ScopeStore:
    """Per graph and thread: the stack of variable scopes; per graph: variables by name."""

    _tls = threading.local()

    @classmethod
    def stack(cls, graph):
        stacks = getattr(cls._tls, "stacks", None)
        if stacks is None:
            stacks = cls._tls.stacks = {}
        key = id(graph)
        entry = stacks.get(key)
        if entry is None or entry[0]() is not graph:
            import weakref
            entry = stacks[key] = (weakref.ref(graph), [VariableScope(False)])
        return entry[1]

    @staticmethod
    def variables(graph):
        store = getattr(graph, "_variable_store", None)
        if store is None:
            store = graph._variable_store = {}
        return store

    @staticmethod
    def scope_counts(graph):
        counts = getattr(graph, "_variable_scope_counts", None)
        if counts is None:
            counts = graph._variable_scope_counts = {}
        return counts


def get_variable_scope():
    """The current VariableScope."""
    return _ScopeStore.stack(get_default_graph())[-1]


@contextlib.contextmanager
def variable_scope(name_or_scope, default_name=None, values=None, initializer=None,
                   regularizer=None, caching_device=None, partitioner=None, custom_getter=None,
                   reuse=None, dtype=None, use_resource=None, constraint=None,
                   auxiliary_name_scope=True):
    """tf.compat.v1.variable_scope: a name prefix for get_variable (and a name scope for ops),
    with `reuse` (True, AUTO_REUSE, or None to inherit) and a default initializer/dtype."""
    graph = get_default_graph()
    stack = _ScopeStore.stack(graph)
    parent = stack[-1]
    if name_or_scope is None and default_name is None:
        raise TypeError("If default_name is None then name_or_scope is required")
    if reuse is False:
        reuse = None
    if isinstance(name_or_scope, VariableScope):
        full = name_or_scope.name
        ns_ctx = graph.name_scope(name_or_scope.original_name_scope or None)
        inherit = name_or_scope
    else:
        counts = _ScopeStore.scope_counts(graph)
        prefix = parent.name + "/" if parent.name else ""
        if name_or_scope is None:
            base = prefix + default_name
            i = counts.get(base, 0)
            counts[base] = i + 1
            full = base if i == 0 else f"{base}_{i}"
            local = full[len(prefix):]
        else:
            local = str(name_or_scope)
            full = prefix + local
            counts[full] = counts.get(full, 0) + 1
        ns_ctx = graph.name_scope(local) if auxiliary_name_scope else contextlib.nullcontext("")
        inherit = parent
    if reuse is None:
        new_reuse = True if parent.reuse is True or (
            isinstance(name_or_scope, VariableScope) and name_or_scope.reuse is True) else (
            AUTO_REUSE if parent.reuse is AUTO_REUSE else False)
    else:
        new_reuse = reuse
    with ns_ctx as ns:
        scope = VariableScope(new_reuse, full,
                              initializer if initializer is not None else inherit.initializer,
                              regularizer if regularizer is not None else inherit.regularizer,
                              dtype if dtype is not None else inherit.dtype,
                              name_scope=ns if isinstance(ns, str) else "")
        stack.append(scope)
        try:
            yield scope
        finally:
            stack.pop()


def get_variable(name, shape=None, dtype=None, initializer=None, regularizer=None,
                 trainable=None, collections=None, caching_device=None, partitioner=None,
                 validate_shape=True, use_resource=None, custom_getter=None, constraint=None,
                 synchronization=None, aggregation=None):
    """tf.compat.v1.get_variable: create, or with reuse share, the variable `scope/name`.
    `regularizer` (or the scope's) is applied when the variable is made: its loss joins the
    REGULARIZATION_LOSSES collection."""
    graph = get_default_graph()
    scope = get_variable_scope()
    full = f"{scope.name}/{name}" if scope.name else name
    root = _root(graph)
    store = _ScopeStore.variables(root)
    if full in store and root._ops_by_name.get(full) is not store[full].op:
        del store[full]         # made by a build that failed and was undone
    dtype = _dt.as_dtype(dtype) if dtype is not None else (
        _dt.as_dtype(scope.dtype) if scope.dtype is not None else None)
    shape = as_shape(shape) if shape is not None else None
    existing = store.get(full)
    if existing is not None:
        if scope.reuse is False:
            raise ValueError(f"Variable {full} already exists, disallowed. Did you mean to set "
                             "reuse=True or reuse=tf.AUTO_REUSE in VarScope?")
        if shape is not None and not shape.is_compatible_with(existing.shape):
            raise ValueError(f"Trying to share variable {full}, but specified shape {shape} and "
                             f"found shape {existing.shape}.")
        if dtype is not None and dtype != existing.dtype:
            raise ValueError(f"Trying to share variable {full}, but specified dtype "
                             f"{dtype.name} and found dtype {existing.dtype.name}.")
        return existing
    if scope.reuse is True:
        raise ValueError(f"Variable {full} does not exist, or was not created with "
                         "tf.get_variable(). Did you mean to set reuse=tf.AUTO_REUSE in VarScope?")
    if initializer is None:
        initializer = scope.initializer
    value_init = initializer is not None and (
        isinstance(initializer, (Tensor, np.ndarray, np.generic, list, tuple, int, float, bool))
        and not isinstance(initializer, type))
    if value_init:
        if shape is not None and validate_shape:
            raise ValueError("If initializer is a constant, do not specify shape.")
        init_value = initializer
        init_dtype = dtype
    else:
        if shape is None or not shape.is_fully_defined():
            raise ValueError(f"Shape of a new variable ({full}) must be fully defined, but "
                             f"instead was {shape}.")
        dtype = dtype or _dt.float32
        if initializer is None:
            from . import init_ops
            initializer = (init_ops.glorot_uniform_initializer() if dtype.is_floating
                           else init_ops.zeros_initializer())
        if isinstance(initializer, type):
            initializer = initializer()
        shape_list = shape.as_list()

        def init_value():
            return _call_initializer(initializer, shape_list, dtype)
        init_dtype = dtype
    if regularizer is None:
        regularizer = scope.regularizer
    with graph._transaction(), graph.name_scope(None):
        v = _variable_with_exact_name(full, init_value, init_dtype, trainable, collections,
                                      validate_shape)
        if regularizer is not None:         # once, when the variable is made (as TF1)
            with graph.name_scope(full + "/Regularizer/"):
                loss = regularizer(v)
            if loss is not None:
                graph.add_to_collection(GraphKeys.REGULARIZATION_LOSSES, loss)
    store[full] = v
    return v


def _root(graph):
    """The outermost graph (variables made inside cond/while_loop functions live there)."""
    while getattr(graph, "outer_graph", None) is not None:
        graph = graph.outer_graph
    return graph


def _call_initializer(initializer, shape, dtype):
    try:
        return initializer(shape, dtype=dtype)
    except TypeError:
        return initializer(shape)


def _variable_with_exact_name(full, init_value, dtype, trainable, collections, validate_shape):
    """A Variable named exactly `full` (get_variable's names ignore name scopes)."""
    graph = _root(get_default_graph())
    if full in graph._ops_by_name:
        raise ValueError(f"Variable {full} already exists (an op of that name is in the graph)")
    # name_scope('x/') re-enters 'x' as is; Variable() then names its op unique_name(full),
    # which is `full` itself unless an op took that name outside get_variable.
    return Variable(init_value, trainable=trainable, collections=collections,
                    validate_shape=validate_shape, name=full, dtype=dtype)

