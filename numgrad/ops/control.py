"""Control ops: group, tuple (gate), no_op, with_dependencies."""
import builtins

from ..graph import Operation, Tensor, graph_of, get_default_graph, name_scope
from ..indexed_slices import IndexedSlices
from .array import identity
from .core import make_op


def no_op(name=None):
    """An Operation that does nothing (tf.compat.v1.no_op); a target that only carries control
    dependencies."""
    return get_default_graph().create_op("NoOp", [], None, name)


def group(*inputs, name=None):
    """An op that runs once all `inputs` (ops or tensors) have run."""
    ops = []
    for x in inputs:
        if isinstance(x, (list, builtins.tuple)):
            ops.extend(x)
        else:
            ops.append(x)
    ops = [x.op if isinstance(x, (Tensor, IndexedSlices)) else x for x in ops]
    for x in ops:
        if not isinstance(x, Operation):
            raise TypeError(f"group: expected Operations or Tensors, got {x!r}")
    graph = graph_of(ops) if ops else get_default_graph()
    with graph.as_default(), graph.control_dependencies(ops):
        return graph.create_op("NoOp", [], None, name or "group_deps")


def with_dependencies(dependencies, output_tensor, name=None):
    graph = output_tensor.graph
    with graph.as_default(), graph.control_dependencies(dependencies):
        return identity(output_tensor, name=name)


def tuple(tensors, name=None, control_inputs=None):  # noqa: A001  (tf.tuple)
    """Gate: each returned tensor is available only after all of `tensors` are computed."""
    present = [t for t in tensors if t is not None]
    if not present:
        return list(tensors)
    graph = graph_of(present)
    with graph.as_default(), name_scope(name, "tuple", present):
        gate = group(*present, *(control_inputs or []))
        return [None if t is None else with_dependencies([gate], t) for t in tensors]


__all__ = ["no_op", "group", "tuple", "with_dependencies", "make_op"]
