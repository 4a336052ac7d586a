"""FuncGraph: the graph a cond branch or a while_loop body/cond is traced into (TF 2's design).

A tensor of an enclosing graph used inside is *captured*: the FuncGraph gets a Placeholder
for it and records (outer tensor, placeholder); the functional op (If, While) takes the outer
tensors as inputs and feeds them to those placeholders when it runs the function graph: with
the NumPy interpreter, or on the cpu backend, after its first calls, as a compiled cpu plan
(FuncGraph.run).  Ops built while a FuncGraph is the default graph land in it even when
all their inputs come from an enclosing graph (see Graph.create_op and graph._inner_default).
"""
import contextlib

from .. import config
from .. import graph as _graph
from ..backends import function_backend
from ..graph import Graph, Tensor
from . import stateful

__all__ = ["FuncGraph", "flatten", "pack_sequence_as", "assert_same_structure", "copy_ops"]

# state sources built inside a function are made in the outermost graph (TF's init_scope)
_LIFTED = ("IsVariableInitialized", "RandomCounter")
# The cpu backend's function graphs: interpreted for this many calls, then compiled.
COMPILE_AFTER = config.get("NUMGRAD_FUNCTION_COMPILE_AFTER")


class FuncGraph(Graph):
    """A function body: explicit argument placeholders (`args`), captured outer tensors
    (`captures`: (outer tensor, placeholder) pairs), and its flat `outputs`."""

    def __init__(self, name, outer_graph):
        super().__init__()
        self.name = name
        self.outer_graph = outer_graph
        self.seed = outer_graph.seed
        self.args = []
        self.captures = []
        self._capture_map = {}
        self.outputs = []
        self._plan = None
        self._cpu_plan = None
        self._calls = 0
        self.state = stateful.FunctionState()

    def __repr__(self):
        return f"<ng.FuncGraph '{self.name}' with {len(self._ops)} ops>"

    def _encloses(self, graph):
        g = self
        while g is not None:
            if g is graph:
                return True
            g = getattr(g, "outer_graph", None)
        return False

    @contextlib.contextmanager
    def as_default(self):
        _graph._TRACING[0] += 1
        try:
            with Graph.as_default(self):
                yield self
        finally:
            _graph._TRACING[0] -= 1

    def create_op(self, op_type, inputs, attrs=None, name=None, exact_name=False):
        if op_type in _LIFTED:
            with stateful.lifted(self) as root:
                return root.create_op(op_type, inputs, attrs, name, exact_name)
        if op_type == "VariableV2":
            raise ValueError(f"a VariableV2 op cannot be built inside the control-flow function "
                             f"{self.name}: create variables with ng.Variable/get_variable, "
                             "which make them in the outermost graph")
        op = super().create_op(op_type, inputs, attrs, name, exact_name)
        if op_type == "Assign":
            stateful.note_write(self, op)
        return op

    def capture(self, t, state=False):
        """The placeholder standing for `t` (a tensor of this graph or an enclosing one); with
        `state`, a variable's value now in this function (what ops built here read)."""
        if t.graph is self:
            return t
        return self._capture(t, "capture") if state else self._plain_capture(t, "capture")

    def _capture(self, t, op_type):
        if t.op.type == "VariableV2":       # a variable: its value now, in this function
            return stateful.read_variable(self, t, self._plain_capture(t, op_type))
        return self._plain_capture(t, op_type)

    def _plain_capture(self, t, op_type):
        hit = self._capture_map.get(t)
        if hit is not None:
            return hit
        outer = self.outer_graph
        if not outer._encloses(t.graph):
            raise ValueError(f"{op_type}: input tensor '{t.name}' must be from the same graph "
                             f"as the op being created or a graph enclosing '{self.name}'")
        outer_t = t if t.graph is outer else outer._capture(t, op_type)
        hit = self._capture_map.get(outer_t)
        if hit is None:
            with self.as_default(), self.control_dependencies(None), self.name_scope(None):
                hit = Graph.create_op(self, "Placeholder", [],
                                      {"dtype": t.dtype, "shape": t.shape},
                                      "capture").outputs[0]
            self.captures.append((outer_t, hit))
            self._capture_map[outer_t] = hit
        self._capture_map[t] = hit
        return hit

    # --- running -------------------------------------------------------------------------
    @property
    def feeds(self):
        return list(self.args) + [ph for _, ph in self.captures]

    def run(self, values):
        """The outputs for the given argument values then capture values (NumPy arrays).

        Under a cpu plan (function_backend() == "cpu") a function whose arguments have static
        shapes is interpreted for its first COMPILE_AFTER calls and then runs as a compiled cpu
        plan (one Numba dispatch per call where the plan allows): a loop body is called once
        per iteration.  Otherwise, and on the other backends, the NumPy interpreter runs it."""
        if function_backend() == "cpu" and self.compilable():
            self._calls += 1
            if self._calls > COMPILE_AFTER:
                return self.cpu_plan()(values)
        plan = self._plan
        if plan is None:
            from ..backends.numpy import NumpyPlan
            plan = self._plan = NumpyPlan(self.outputs, [], self.feeds)
        return plan(values)

    @property
    def calls(self):
        """How many times run() was called under a cpu plan (the compiling count)."""
        return self._calls

    def cpu_plan(self):
        """The cpu backend's FunctionPlan of this function (made on first use)."""
        plan = self._cpu_plan
        if plan is None:
            from ..backends.cpu import FunctionPlan
            plan = self._cpu_plan = FunctionPlan(self.outputs, [], self.feeds)
        return plan

    def compilable(self):
        """Whether the arguments' shapes are static (a loop body's do not change between
        iterations; a capture's shape is fixed for one run of the loop, and FunctionPlan
        compiles only a few signatures)."""
        ok = getattr(self, "_static_args", None)
        if ok is None:
            ok = self._static_args = all(t.shape.is_fully_defined() for t in self.args)
        return ok


def flatten(s):
    """The leaves of a nest of lists, tuples (namedtuples) and dicts (sorted by key)."""
    if isinstance(s, dict):
        return [x for k in sorted(s) for x in flatten(s[k])]
    if isinstance(s, (list, tuple)):
        return [x for v in s for x in flatten(v)]
    return [s]


def is_nested(s):
    return isinstance(s, (list, tuple, dict))


def pack_sequence_as(structure, flat):
    """`flat` (a list) shaped like `structure`."""
    it = iter(flat)

    def pack(s):
        if isinstance(s, dict):
            vals = {k: pack(s[k]) for k in sorted(s)}
            return type(s)((k, vals[k]) for k in s)
        if isinstance(s, (list, tuple)):
            vals = [pack(v) for v in s]
            if hasattr(s, "_fields"):
                return type(s)(*vals)
            return type(s)(vals)
        return next(it)
    return pack(structure)


def _same(a, b):
    if isinstance(a, dict) or isinstance(b, dict):
        return (isinstance(a, dict) and isinstance(b, dict) and sorted(a) == sorted(b)
                and all(_same(a[k], b[k]) for k in a))
    if is_nested(a) or is_nested(b):
        return (type(a) is type(b) and len(a) == len(b)
                and all(_same(x, y) for x, y in zip(a, b)))
    return True


def assert_same_structure(a, b, exc=ValueError):
    """TF's nest.assert_same_structure message."""
    if not _same(a, b):
        raise exc("The two structures don't have the same nested structure.\n\n"
                  f"First structure: type={type(a).__name__} str={a!r}\n\n"
                  f"Second structure: type={type(b).__name__} str={b!r}")


def copy_ops(fg, mapping, fetches):
    """Copy the ops of FuncGraph `fg` that compute `fetches` into the default graph, with the
    tensors in `mapping` (its placeholders) replaced by the given tensors; returns the copies
    of `fetches`."""
    from ..backends.numpy import prune
    target = _graph.get_default_graph()
    env = dict(mapping)
    op_map = {}
    for op in prune([t for t in fetches if t not in env], [], list(env)):
        if op.type == "Placeholder":
            raise ValueError(f"copy_ops: placeholder '{op.name}' of {fg!r} is not mapped")
        ins = [env[t] for t in op.inputs]
        ctrl = [op_map[c] for c in op.control_inputs if c in op_map]
        typ, attrs = op.type, op.attrs
        if typ == "Assign":     # a copy computes values only: the assigned value, no gradient
            typ, attrs = "StopGradient", {}
        with target.control_dependencies(ctrl):
            new = target.create_op(typ, ins, attrs, op.name.replace("/", "_"))
        new._gradient_op_type = op._gradient_op_type     # a gradient override goes along
        op_map[op] = new
        env.update(zip(op.outputs, new.outputs))
    return [env[t] for t in fetches]


def branch_outputs(fg, result, what):
    """The flat output tensors of a traced function's `result`, made tensors of `fg`."""
    from ..indexed_slices import IndexedSlices
    from ..ops.array import densify
    from ..ops.core import convert_to_tensor
    from ..graph import Operation
    out = []
    with fg.as_default():
        for v in flatten(result):
            if isinstance(v, Operation):
                raise TypeError(f"{what} returned the Operation '{v.name}'; control-flow "
                                "functions must return tensors (or nests of them)")
            if isinstance(v, IndexedSlices):
                v = densify(v)
            if v is None:
                raise ValueError(f"{what} returned None inside its result {result!r}")
            t = v if isinstance(v, Tensor) else convert_to_tensor(v)
            out.append(fg.capture(t, state=True))
    return out
