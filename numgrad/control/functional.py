"""map_fn, scan, foldl, foldr: while_loops over the first dimension of `elems`.

Per-step results are written into preallocated [n, ...] accumulators with TensorArrayWrite (the
op behind ng.TensorArray: the accumulator with row i replaced).  In a native loop the write
is in place (compiler/emit_loop.in_place_writes), so a call costs O(n); interpreted, and in
the NumPy backend, each write copies the accumulator.  Under a gradient the recording loop
keeps the counter (and a scan's state), not the accumulators, which the backward iteration
never reads (gradients/rules/control.py): O(n) memory.  The first dimension of `elems` must be known
when the graph is built.
"""

from ..graph import graph_of
from ..ops import array as _array
from ..ops import math as _math
from ..ops.core import constant, convert_to_tensor
from ..ops.tensor_array_ops import tensor_array_write
from .func_graph import FuncGraph, branch_outputs, flatten, pack_sequence_as
from .while_loop import marked_while_loop, while_loop

__all__ = ["map_fn", "scan", "foldl", "foldr", "INDEPENDENT_ROWS", "INDEPENDENT_ROWS_GRAD"]

# The attr map_fn puts on its While: the number of elements n.  Its loop vars are the index i
# and the [n, ...] accumulators, and iteration i only reads elems[i] (and captures) and writes
# row i: the iterations are independent, so a native loop may run ranges of i at once on
# numgrad's threads (control/native_map.py).  A loop with state never gets that far
# (control/stateful.py: it runs one plan call per iteration).
INDEPENDENT_ROWS = "independent_rows"
# The attr the gradient of such a loop puts on its backward While: (n, m).  Its loop vars are
# the step t (counting down: iteration t handles row t - 1), then m gradients of the
# accumulators, of which iteration t reads and zeroes row t - 1 only, then the captured
# tensors' gradients, which every iteration adds to (gradients/rules/control.py).  Ranges of
# t may run at once, each summing the captures' gradients from zeros (native_map.py).
INDEPENDENT_ROWS_GRAD = "independent_rows_grad"


def _elems(elems, what):
    flat = [convert_to_tensor(e) for e in flatten(elems)]
    if not flat:
        raise ValueError(f"{what}: elems must be a Tensor or a (possibly nested) sequence of "
                         "tensors; got an empty structure")
    ns = {t.shape[0] if t.shape.rank else None for t in flat}
    if any(t.shape.rank == 0 for t in flat):
        raise ValueError(f"{what}: elements in elems must be 1+ dimensional")
    if len(ns) != 1 or None in ns:
        raise NotImplementedError(f"{what}: the first dimension of every element of elems must "
                                  f"be the same and known when the graph is built, got {ns}")
    return flat, ns.pop()


def _write(acc, i, value, n):
    """acc with row i replaced by value."""
    return tensor_array_write(acc, i, value)


def _probe(fn, graph, structure, specs, what):
    """Trace fn once into a throwaway FuncGraph, on placeholders of the given (dtype, shape)
    specs packed as `structure`: fn's result structure and its (dtype, shape) per leaf."""
    from ..ops.core import placeholder
    fg = FuncGraph(what, graph)
    with fg.as_default():
        res = fn(pack_sequence_as(structure, [placeholder(d, s) for d, s in specs]))
    outs = branch_outputs(fg, res, what)
    return res, [(t.dtype, t.shape) for t in outs]


def map_fn(fn, elems, dtype=None, parallel_iterations=None, back_prop=True, swap_memory=False,
           infer_shape=True, name=None, fn_output_signature=None):
    """tf.compat.v1.map_fn: stack fn(elems[i]) over i (elems may be a nest; fn's result may
    be a nest of another structure).  `dtype` is checked against fn's result dtypes."""
    flat, n = _elems(elems, "map_fn")
    graph = graph_of(flat)
    with graph.as_default(), graph.name_scope(name or "map"):
        res, specs = _probe(fn, graph, elems, [(t.dtype, t.shape[1:]) for t in flat], "map_fn")
        for _, s in specs:
            if not s.is_fully_defined():
                raise NotImplementedError(f"map_fn: fn's result shapes must be known when the "
                                          f"graph is built, got {s}")
        accs = [_array.zeros([n] + s.as_list(), dtype=d) for d, s in specs]

        def body(i, *accs):
            x = pack_sequence_as(elems, [_array.gather(t, i) for t in flat])
            y = [convert_to_tensor(v) for v in flatten(fn(x))]
            return [i + 1] + [_write(a, i, v, n) for a, v in zip(accs, y)]

        out = marked_while_loop(lambda i, *a: _math.less(i, n), body,
                                [constant(0)] + accs, back_prop=back_prop,
                                return_same_structure=True, marks={INDEPENDENT_ROWS: n})
        return pack_sequence_as(res, out[1:])


def scan(fn, elems, initializer=None, parallel_iterations=10, back_prop=True, swap_memory=False,
         infer_shape=True, reverse=False, name=None):
    """tf.compat.v1.scan: a = fn(a, elems[i]) over i (from the end if `reverse`), stacking
    every a; without `initializer`, a starts as elems[0] (and the scan runs over the rest)."""
    return _scan(fn, elems, initializer, back_prop, reverse, name or "scan", stack=True)


def foldl(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """tf.compat.v1.foldl: the last a of a = fn(a, elems[i]) over i."""
    return _scan(fn, elems, initializer, back_prop, False, name or "foldl", stack=False)


def foldr(fn, elems, initializer=None, parallel_iterations=10, back_prop=True,
          swap_memory=False, name=None):
    """tf.compat.v1.foldr: foldl from the end."""
    return _scan(fn, elems, initializer, back_prop, True, name or "foldr", stack=False)


def _scan(fn, elems, initializer, back_prop, reverse, name, stack):
    flat, n = _elems(elems, name)
    graph = graph_of(flat)
    with graph.as_default(), graph.name_scope(name):
        if initializer is None:
            first = n - 1 if reverse else 0
            a_struct = pack_sequence_as(elems, [_array.gather(t, first) for t in flat])
            start, count = (0 if reverse else 1), n - 1
        else:
            a_struct = initializer
            start, count = 0, n
        a_flat = [convert_to_tensor(v) for v in flatten(a_struct)]
        a_struct = pack_sequence_as(a_struct, a_flat)
        steps = count
        accs = [_array.zeros([n] + a.shape.as_list(), dtype=a.dtype) for a in a_flat] \
            if stack else []
        if stack and any(not a.shape.is_fully_defined() for a in a_flat):
            raise NotImplementedError(f"{name}: the accumulator's shape must be known when the "
                                      "graph is built")
        if stack and initializer is None:       # elems[first] is the first result
            first = n - 1 if reverse else 0
            accs = [_write(acc, constant(first), a, n) for acc, a in zip(accs, a_flat)]
        na = len(a_flat)

        def body(k, *state):
            a = pack_sequence_as(a_struct, list(state[:na]))
            i = (n - 1 - start) - k if reverse else start + k
            x = pack_sequence_as(elems, [_array.gather(t, i) for t in flat])
            new = [convert_to_tensor(v) for v in flatten(fn(a, x))]
            rest = [_write(acc, i, v, n) for acc, v in zip(state[na:], new)] if stack else []
            return [k + 1] + new + rest

        out = while_loop(lambda k, *s: _math.less(k, steps), body,
                         [constant(0)] + a_flat + accs, back_prop=back_prop,
                         return_same_structure=True)
        if stack:
            return pack_sequence_as(a_struct, out[1 + na:])
        return pack_sequence_as(a_struct, out[1:1 + na])
