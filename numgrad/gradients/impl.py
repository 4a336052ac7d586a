"""gradients() and hessians(): TensorFlow's algorithm (gradients_util.py), step for step.

1. Reached ops: forward from the xs' ops through consumers of differentiable outputs.
2. Between ops: reached ops also reachable backward from the ys; pending counts = consumer
   edges inside that set.
3. Seeds (grad_ys) go in; ops run in reverse topological order as their pending counts reach
   zero; each op's output gradients are aggregated, its rule called, results checked.
4. Each x gets its aggregated gradient, or None / zeros when unconnected.

The whole call runs inside a graph transaction: if anything raises, no op it created stays.
"""
import collections
import enum

import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor, graph_of, executing_eagerly
from ..indexed_slices import IndexedSlices
from ..ops import array as _array
from ..ops import control as _control
from ..ops import math as _math
from ..ops.core import convert_to_tensor
from .registry import get_gradient_function

__all__ = ["gradients", "hessians", "UnconnectedGradients", "AggregationMethod"]


class UnconnectedGradients(enum.Enum):
    """What gradients() returns for an x that the ys do not depend on
    (tf.compat.v1.UnconnectedGradients): NONE gives None (the default), ZERO gives zeros_like(x).
    The strings 'none' and 'zero' are accepted too."""
    NONE = "none"
    ZERO = "zero"


class AggregationMethod:
    """How gradients() sums the gradients reaching one tensor along several paths
    (tf.compat.v1.AggregationMethod). ADD_N (= DEFAULT): one add_n of all of them; EXPERIMENTAL_TREE
    and EXPERIMENTAL_ACCUMULATE_N: a chain of two-input add_n ops. When all of them are
    IndexedSlices they are concatenated into one, whatever the method."""
    ADD_N = 0
    DEFAULT = ADD_N
    EXPERIMENTAL_TREE = 1
    EXPERIMENTAL_ACCUMULATE_N = 2


_VALID_AGGREGATION = (AggregationMethod.ADD_N, AggregationMethod.EXPERIMENTAL_TREE,
                      AggregationMethod.EXPERIMENTAL_ACCUMULATE_N)


def _as_list(x):
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _is_backpropagatable(t):
    return t.dtype.is_differentiable


def _convert(values, what):
    out = []
    for v in values:
        if isinstance(v, (Tensor, IndexedSlices)):
            out.append(v)
        else:
            try:
                out.append(convert_to_tensor(v, name=what))
            except (TypeError, ValueError) as e:
                raise TypeError(f"gradients(): cannot convert {what} {v!r} to a Tensor: {e}") from None
    return out


def unconnected_enum(value):
    """UnconnectedGradients member of `value` (a member or its string value, "none" or
    "zero"); ValueError for anything else (gradients and the jacobian functions share it)."""
    if isinstance(value, UnconnectedGradients):
        return value
    for member in UnconnectedGradients:
        if value == member.value:
            return member
    raise ValueError(f"Unknown value for unconnected_gradients: '{value}'")


def gradients(ys, xs, grad_ys=None, name="gradients", colocate_gradients_with_ops=False,
              gate_gradients=False, aggregation_method=None, stop_gradients=None,
              unconnected_gradients=UnconnectedGradients.NONE):
    """Symbolic derivatives of sum(ys) with respect to each x in xs (tf.compat.v1.gradients).

    Returns a list with one entry per x: a Tensor, an IndexedSlices (sparse, e.g. through
    gather), or None (unconnected; zeros with unconnected_gradients='zero').
    """
    if executing_eagerly():
        raise RuntimeError("ng.gradients is not supported when eager execution is enabled. "
                           "Use graph mode (ng.disable_eager_execution()).")
    unconnected = unconnected_enum(unconnected_gradients)
    ys = _as_list(ys)
    xs = _as_list(xs)
    stop_gradients = _as_list(stop_gradients)
    grad_ys = [None] * len(ys) if grad_ys is None else _as_list(grad_ys)
    graph = graph_of([v for v in ys + xs + grad_ys + stop_gradients if v is not None])
    with graph.as_default(), graph._transaction():
        with graph.name_scope(name or "gradients") as scope:
            ys = _convert(ys, "y")
            xs = _convert(xs, "x")
            stop_gradients = _convert(stop_gradients, "stop_gradient")
            graph_of(ys + xs + stop_gradients + [g for g in grad_ys if isinstance(g, Tensor)])
            return _gradients_helper(ys, xs, grad_ys, scope, gate_gradients,
                                     aggregation_method, stop_gradients, unconnected)


def _default_grad_ys(grad_ys, ys, connected=None):
    """grad_ys with the defaults (ones) filled in.  A shape that cannot match its y is an
    error only for ys whose op is in `connected` (reached from the xs): TF never checks the
    shape, and the gradient of an unconnected y is never used (zeros for 'zero')."""
    if len(grad_ys) != len(ys):
        raise ValueError(f"Length mismatch. Passed {len(grad_ys)} grad_ys for {len(ys)} ys")
    out = []
    for i, (y, gy) in enumerate(zip(ys, grad_ys)):
        if gy is None:
            if y.dtype.is_complex:
                raise TypeError(f"Gradients of complex tensors ('{y.name}') must set grad_ys "
                                f"(y.dtype = {y.dtype.name})")
            one = convert_to_tensor(np.ones((), y.dtype.np))
            out.append(_array.fill(_array.shape(y), one, name=f"grad_ys_{i}"))
            continue
        if not isinstance(gy, (Tensor, IndexedSlices)):
            try:
                gy = convert_to_tensor(gy, name="grad_y")
            except (TypeError, ValueError) as e:
                raise TypeError(f"gradients(): cannot convert grad_ys[{i}] {gy!r} to a Tensor: {e}") from None
        if y.dtype.is_floating or y.dtype.is_integer:
            if not (gy.dtype.is_floating or gy.dtype.is_integer):
                raise TypeError(f"Gradient type {gy.dtype.name} generated for real or "
                                f"integer-valued tensor {y.name} with type {y.dtype.name} "
                                "must be real or integer")
        elif y.dtype.is_complex:
            if not gy.dtype.is_complex:
                raise TypeError(f"Gradient type {gy.dtype.name} generated for complex-valued "
                                f"tensor {y.name} with type {y.dtype.name} must be complex")
        else:
            raise TypeError(f"Tensor {y.name} with type {y.dtype.name} must be numeric to "
                            "obtain a default gradient")
        gv = gy.values if isinstance(gy, IndexedSlices) else gy
        if gv.dtype != y.dtype and (connected is None or y.op in connected):
            # TF fails too (the first gradient op that mixes the two dtypes raises); a
            # gradient of another dtype than x's must never come back
            raise TypeError(f"grad_ys[{i}] '{gv.name}' has dtype {gv.dtype.name}, but y "
                            f"'{y.name}' has dtype {y.dtype.name}; they must match")
        if isinstance(gy, Tensor) and gy.shape.rank is not None and y.shape.rank is not None \
                and not gy.shape.is_compatible_with(y.shape) \
                and (connected is None or y.op in connected):
            raise ValueError(f"grad_ys[{i}] '{gy.name}' has shape {gy.shape}, incompatible with "
                             f"the shape {y.shape} of y '{y.name}'")
        out.append(_array.identity(gy, name=f"grad_ys_{i}"))
    return out


def _mark_reached(from_ops):
    reached = set()
    queue = collections.deque(from_ops)
    while queue:
        op = queue.popleft()
        if op in reached:
            continue
        reached.add(op)
        for out in op.outputs:
            if _is_backpropagatable(out):
                queue.extend(out.consumers())
    return reached


def _pending_count(to_ops, from_ops):
    reached = _mark_reached(from_ops)
    reachable_to_ops = {op for op in to_ops if op in reached}
    between, between_list = set(), []
    queue = collections.deque(to_ops)
    while queue:
        op = queue.popleft()
        if op in reached:
            between.add(op)
            between_list.append(op)
            reached.remove(op)
            queue.extend(t.op for t in op.inputs)
    pending = collections.defaultdict(int)
    for op in between_list:
        for t in op.inputs:
            if t.op in between:
                pending[t.op] += 1
    return reachable_to_ops, pending


def _stop_ops(from_ops, stop_gradient_ops, pending):
    stop = {op for op in from_ops if all(pending[t.op] <= 0 for t in op.inputs)}
    stop.update(stop_gradient_ops)
    return stop


def _set_grad(grads, t, grad):
    op_grads = grads.setdefault(t.op, [[] for _ in t.op.outputs])
    op_grads[t.value_index].append(grad)


def _aggregate(grads, op, aggregation_method):
    if aggregation_method is None:
        aggregation_method = AggregationMethod.DEFAULT
    if aggregation_method not in _VALID_AGGREGATION:
        raise ValueError(f"Invalid aggregation_method specified {aggregation_method}.")
    out_grads = grads.get(op) or [[] for _ in op.outputs]
    grads[op] = out_grads
    for i, out_grad in enumerate(out_grads):
        out_grad = [g for g in out_grad if g is not None]
        if len(out_grad) < 2:
            out_grads[i] = out_grad[0] if out_grad else None
        elif any(isinstance(g, Tensor) for g in out_grad):
            dense = [_array.densify(g) for g in out_grad]
            if aggregation_method == AggregationMethod.ADD_N:
                out_grads[i] = _math.add_n(dense)
            else:
                with op.graph.name_scope(op.name + "_gradient_sum"):
                    running = dense[0]
                    for g in dense[1:]:
                        running = _math.add_n([running, g])
                    out_grads[i] = running
        else:
            out_grads[i] = IndexedSlices(
                _array.concat([g.values for g in out_grad], 0),
                _array.concat([_to_common_index(g.indices, out_grad) for g in out_grad], 0),
                out_grad[0].dense_shape)
    return out_grads


def _to_common_index(indices, slices):
    if any(s.indices.dtype == _dt.int64 for s in slices):
        return _math.cast(indices, _dt.int64)
    return indices


def _verify_generated(in_grads, op):
    if len(in_grads) != len(op.inputs):
        raise ValueError(f"Num gradients {len(in_grads)} generated for op {op.name} do not "
                         f"match num inputs {len(op.inputs)}")


def _gradients_helper(ys, xs, grad_ys, grad_scope, gate_gradients, aggregation_method,
                      stop_gradients, unconnected):
    to_ops = [t.op for t in ys]
    from_ops = [t.op for t in xs]
    stop_gradient_ops = [t.op for t in stop_gradients]
    reachable_to_ops, pending = _pending_count(to_ops, from_ops)
    grad_ys = _default_grad_ys(grad_ys, ys, reachable_to_ops)

    grads = {}
    for y, gy in zip(ys, grad_ys):
        _set_grad(grads, y, gy)

    queue = collections.deque()
    queued = set()
    for op in to_ops:
        if pending[op] == 0 and op not in queued and op in reachable_to_ops:
            queued.add(op)
            queue.append(op)

    stop_ops = _stop_ops(from_ops, stop_gradient_ops, pending)
    while queue:
        op = queue.popleft()
        out_grads = _aggregate(grads, op, aggregation_method)
        has_out_grads = any(g is not None for g in out_grads)
        grad_fn = None
        if has_out_grads and op not in stop_ops:
            grad_fn = get_gradient_function(op)
        if grad_fn is not None and has_out_grads:
            for i, g in enumerate(out_grads):
                if g is None and _is_backpropagatable(op.outputs[i]):
                    z = _array.zeros_like(op.outputs[i])
                    z._is_zeros_tensor = True
                    out_grads[i] = z
            with op.graph.name_scope(op.name + "_grad"):
                in_grads = grad_fn(op, *out_grads)
                in_grads = list(in_grads) if isinstance(in_grads, (list, tuple)) else [in_grads]
                _verify_generated(in_grads, op)
                if gate_gradients and sum(1 for g in in_grads if g is not None) > 1:
                    in_grads = _control.tuple(in_grads)
        else:
            in_grads = [None] * len(op.inputs)
        for i, (t_in, g) in enumerate(zip(op.inputs, in_grads)):
            if g is None:
                continue
            gv = g.values if isinstance(g, IndexedSlices) else g
            if gv.dtype != t_in.dtype and _is_backpropagatable(t_in):
                raise TypeError(
                    f"The gradient rule of op {op.name} ({op.type}) made a {gv.dtype.name} "
                    f"gradient for its input {i} '{t_in.name}' of dtype {t_in.dtype.name}")
            if isinstance(g, Tensor):
                if not g.shape.is_compatible_with(t_in.shape):
                    raise ValueError(
                        "Incompatible shapes between op input and calculated input gradient. "
                        f"Forward operation: {op.name}. Input index: {i}. Original input shape: "
                        f"{t_in.shape}. Calculated input gradient shape: {g.shape}")
                g.set_shape(t_in.shape)
            _set_grad(grads, t_in, g)
        for t in op.inputs:
            pending[t.op] -= 1
            if pending[t.op] == 0:
                queue.append(t.op)

    return [_get_grad(grads, x, unconnected) for x in xs]


def _get_grad(grads, t, unconnected):
    op_grads = grads.get(t.op)
    g = None
    if op_grads:
        g = op_grads[t.value_index]
        if isinstance(g, list):           # never processed: aggregate what arrived
            g = [v for v in g if v is not None]
            g = None if not g else (g[0] if len(g) == 1 else _math.add_n([_array.densify(v) for v in g]))
    if g is None and unconnected == UnconnectedGradients.ZERO:
        return _array.zeros_like(t)
    return g


def hessians(ys, xs, name="hessians", colocate_gradients_with_ops=False, gate_gradients=False,
             aggregation_method=None):
    """Second derivatives of sum(ys) for each x: a tensor of shape x.shape + x.shape.

    Built as one gradient of each element of the flattened first gradient; x's size must be
    known when the graph is built.  A None first or second derivative raises ValueError.
    """
    if executing_eagerly():
        raise RuntimeError("ng.hessians is not supported when eager execution is enabled.")
    xs = _as_list(xs)
    kwargs = dict(gate_gradients=gate_gradients, aggregation_method=aggregation_method)
    graph = graph_of([v for v in _as_list(ys) + xs if v is not None])
    out = []
    with graph.as_default(), graph._transaction(), graph.name_scope(name):
        first = gradients(ys, xs, **kwargs)
        for x, g in zip(xs, first):
            if g is None:
                raise ValueError(f"hessians(): the gradient of ys with respect to '{x.name}' is "
                                 "None (x is not connected to ys)")
            n = x.shape.num_elements()
            if n is None:
                raise ValueError(f"hessians(): '{x.name}' has shape {x.shape}; its size must be "
                                 "known when the graph is built")
            flat = _array.reshape(_array.densify(g), [-1])
            rows = []
            for j in range(n):
                row, = gradients(flat[j], x, **kwargs)
                if row is None:
                    raise ValueError(f"hessians(): the second derivative with respect to "
                                     f"'{x.name}' is None (the first derivative does not depend "
                                     "on x)")
                rows.append(_array.densify(row))
            dims = x.shape.as_list()
            if rows:
                h = _array.stack(rows)
            else:
                h = _array.zeros([0] + dims, dtype=x.dtype)
            out.append(_array.reshape(h, dims + dims))
    return out
