"""ng.while_loop: the functional `While` op (TF 2's while_v2, with TF 1's API).

``While`` takes [loop vars..., maximum_iterations (if given), captures...]; its attrs hold the
cond and body FuncGraphs.  Running it iterates in Python, each step one call of the cond's and
the body's plans (FuncGraph.run: NumPy plans, or on the cpu backend compiled ones once a
function has been called often), until, on the cpu backend, the loop can continue as one
native Numba function (native_loop.py).  A TensorArray loop variable is carried as its flow.
A While built with attr ``history`` (a tuple of loop-var indices, the *recorded* vars; False
for none) also outputs, per recorded var, the stack of its values at the start of every
iteration, and the trip count: the gradient rule (numgrad/gradients/rules/control.py) builds
such a copy of the forward loop, recording only the vars its backward body reads, and runs
the body's gradient backwards over those stacks as another While, so its gradient (second
derivatives) comes from the same rule.  A map_fn's accumulator, an (n, ...) buffer its
backward body never reads, is then not recorded: n copies of it were O(n^2) memory.
"""
import weakref

import numpy as np

from .. import batching
from .. import dtypes as _dt
from ..graph import Tensor, graph_of, executing_eagerly
from ..ops.core import convert_to_tensor, placeholder
from ..ops.registry import register_op
from ..tensor_shape import TensorShape, as_shape
from . import native_loop, stateful
from .tensor_array import TensorArray
from .func_graph import (FuncGraph, assert_same_structure, branch_outputs, flatten, is_nested,
                         pack_sequence_as)

__all__ = ["while_loop"]


def _while_infer(inputs, attrs):
    return list(attrs["out_specs"])


def _while_compute(vals, attrs):
    n = attrs["n_vars"]
    loop = list(vals[:n])
    pos = n
    maxit = None
    if attrs["has_max"]:
        maxit = int(np.asarray(vals[n]))
        pos += 1
    caps = vals[pos:]
    cond_fg, body_fg = attrs["cond_graph"], attrs["body_graph"]
    cond_caps = [caps[k] for k in attrs["cond_idx"]]
    body_caps = [caps[k] for k in attrs["body_idx"]]
    history = attrs["history"]            # False, or the recorded vars (maybe none)
    recording = history is not False
    stacks = [[] for _ in history] if recording else None
    tails = None                # history blocks of the iterations run natively
    native = native_loop.candidate(attrs, loop, caps)
    t = 0
    while maxit is None or t < maxit:
        if native is not None and native.due():
            done = native.finish(loop, t, maxit)
            native = None
            if done is not None:
                loop, tails, t = done
                break
        c = np.asarray(cond_fg.run(loop + cond_caps)[0])
        if c.ndim != 0:
            raise ValueError(f"while_loop: the cond must return a scalar, got shape {c.shape}")
        if not c:
            break
        if recording:
            for s, i in zip(stacks, history):
                s.append(loop[i])
        loop = body_fg.run(loop + body_caps)
        t += 1
    if not recording:
        return loop
    initial = [vals[i] for i in history]
    return loop + _history(stacks, tails, initial, history) + [np.array(t, np.int32)]


def _history(stacks, tails, initial, recorded):
    """Per recorded loop var (its index in `recorded`), the stack of its values at the start
    of every iteration: those recorded in Python (`stacks`), then the blocks the native loop
    recorded (`tails`, or None)."""
    hist = []
    for r, (s, v0, i) in enumerate(zip(stacks, initial, recorded)):
        if not s and tails is not None:         # the whole loop ran natively
            hist.append(tails[r])
            continue
        v0 = np.asarray(v0)
        shapes = {np.shape(v) for v in s}
        if len(shapes) > 1:
            raise ValueError(f"the gradient of while_loop needs loop variable {i} to keep one "
                             f"shape, but it took shapes {sorted(shapes)} (varying shapes under "
                             "shape_invariants are not supported by the gradient yet)")
        head = np.stack(s) if s else np.empty((0,) + v0.shape, v0.dtype)
        hist.append(head if tails is None else
                    tails[r] if not s else np.concatenate([head, tails[r]]))
    return hist


def _while_lower(L, op, ins, specs):
    """How a compiled plan lowers a While (compiler/lower.py): a While without history whose
    gradient's recording copy (history: the vars it records, the same functions, the same
    inputs) is in the IR already is that copy's first outputs, so a plan call runs the loop
    once, not twice (the interpreter runs both, the second taking the first's results:
    native_loop._recall).  Not for a loop with state: its two runs assign and draw twice, as
    the interpreter's do."""
    attrs = op.attrs
    if attrs["history"] is not False or stateful.interpreted_reason(attrs):
        return None
    for recorded in sorted(recordings(attrs["body_graph"])):
        outs = L.existing(op.type, recording_attrs(attrs, recorded), ins)
        if outs is not None:
            return outs[:attrs["n_vars"]]
    return None


register_op("While", _while_infer, _while_compute, kind="opaque",
            traits=("control_flow", "loop", "serial"), lower=_while_lower)
batching.NOT_BATCHABLE.setdefault(
    "While", "control flow: its body is a whole graph; jacobian falls back to a loop of "
    "gradients")


def history_specs(attrs):
    """The output specs of a recording While: the loop vars', one stack per recorded var
    (its iterations first), the trip count's."""
    n = attrs["n_vars"]
    specs = list(attrs["out_specs"][:n])
    return specs + [(specs[i][0], TensorShape([None]).concatenate(specs[i][1]))
                    for i in attrs["history"]] + [(_dt.int32, TensorShape([]))]


# body FuncGraph -> the `history` attrs of the recording copies gradients made of its loops
_RECORDINGS = weakref.WeakKeyDictionary()


def recording_attrs(attrs, recorded):
    """The attrs of the recording copy of a While (`attrs`) that records the loop vars
    `recorded` (a tuple of indices), noted for _while_lower's twin matching."""
    recorded = tuple(sorted(recorded))
    _RECORDINGS.setdefault(attrs["body_graph"], set()).add(recorded)
    out = dict(attrs, history=recorded)
    out["out_specs"] = tuple(history_specs(out))
    return out


def recordings(body_fg):
    """The recorded-var tuples of the recording copies made of loops with body `body_fg`."""
    return _RECORDINGS.get(body_fg, ())


def _less_specific(inv, shape):
    """Whether shape invariant `inv` admits `shape` (each dim None or equal)."""
    if inv.rank is None:
        return True
    if shape.rank is None or shape.rank != inv.rank:
        return False
    return all(a is None or a == b for a, b in zip(inv.as_list(), shape.as_list()))


def _fmt(shape):
    if shape.rank is None:
        return "<unknown>"
    return str(tuple(shape.as_list()))


def while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
               back_prop=True, swap_memory=False, name=None, maximum_iterations=None,
               return_same_structure=False):
    """tf.compat.v1.while_loop: repeat `loop_vars = body(*loop_vars)` while `cond(*loop_vars)`.

    `loop_vars` is a list/tuple (nests allowed); `cond` and `body` are traced once, into
    FuncGraphs, and run as one While op.  The loop calls the plans of cond and body once per
    iteration (compiled on the cpu backend after their first calls), or on the cpu backend
    runs as one native Numba function where its shapes are static and its plans allow it
    (docs/control-flow.md).  TensorArrays may be loop vars.
    A loop var may change shape only within its `shape_invariants` entry (TF's ValueError
    otherwise).  `maximum_iterations` bounds the trip count.  Gradients (TF 2's, second
    derivatives included) flow to the initial loop vars and to outer tensors the functions
    use; `back_prop=False` gives None.  The gradient re-runs the forward loop to record every
    iteration's loop vars.  `parallel_iterations` and `swap_memory` are accepted and ignored.
    """
    return marked_while_loop(cond, body, loop_vars, shape_invariants, parallel_iterations,
                             back_prop, name, maximum_iterations, return_same_structure)


def marked_while_loop(cond, body, loop_vars, shape_invariants=None, parallel_iterations=10,
                      back_prop=True, name=None, maximum_iterations=None,
                      return_same_structure=False, marks=None):
    """while_loop whose While op also carries the attrs `marks` (a dict: map_fn marks its
    loop's iterations independent, control/functional.py)."""
    if not callable(cond):
        raise TypeError("'cond' must be callable.")
    if not callable(body):
        raise TypeError("'body' must be callable.")
    if not isinstance(parallel_iterations, int) or isinstance(parallel_iterations, bool) \
            or parallel_iterations <= 0:
        raise TypeError("'parallel_iterations' must be a positive integer.")
    single = not isinstance(loop_vars, (list, tuple, dict))
    structure = [loop_vars] if single else loop_vars
    flat_in = flatten(structure)
    if not flat_in:
        raise ValueError("No loop variables provided")
    if executing_eagerly():
        return _eager_loop(cond, body, structure, single, maximum_iterations,
                           return_same_structure)
    graph = graph_of([v.flow if isinstance(v, TensorArray) and v.has_flow else v
                      for v in flat_in if isinstance(v, (Tensor, TensorArray))])
    with graph.as_default(), graph._transaction(), graph.name_scope(name or "while"):
        tas = [v if isinstance(v, TensorArray) else None for v in flat_in]
        flat = [None if ta is not None else convert_to_tensor(v) for v, ta in zip(flat_in, tas)]
        invariants = _invariants(flat, structure, single, shape_invariants)
        if any(ta is not None and not ta.has_flow for ta in tas):
            tas = _learn_element_shapes(body, graph, structure, flat, invariants, tas)
        for k, ta in enumerate(tas):
            if ta is not None:
                flat[k], invariants[k] = ta.flow, ta.loop_shape()
        maxit = None
        if maximum_iterations is not None:
            maxit = convert_to_tensor(maximum_iterations, dtype=_dt.int32,
                                      name="maximum_iterations")
            if maxit.shape.rank not in (None, 0):
                raise ValueError(f"maximum_iterations must be a scalar, saw shape: {maxit.shape}")

        def trace(fn, what):
            fg = FuncGraph(what, graph)
            with fg.as_default():
                fg.args = [placeholder(t.dtype, inv, name="loop_var")
                           for t, inv in zip(flat, invariants)]
                args = [ph if ta is None else ta.with_flow(ph) for ph, ta in zip(fg.args, tas)]
                res = fn(*pack_sequence_as(structure, args))
            return fg, res

        cond_fg, c = trace(cond, "cond")
        if is_nested(c) or c is None:
            raise TypeError(f"while_loop: cond must return a boolean scalar, got {c!r}")
        cond_fg.outputs = branch_outputs(cond_fg, c, "cond")
        c = cond_fg.outputs[0]
        if c.dtype != _dt.bool_ or c.shape.rank not in (None, 0):
            raise TypeError(f"while_loop: cond must return a boolean scalar, got {c.dtype.name} "
                            f"of shape {c.shape}")
        body_fg, res = trace(body, "body")
        res = _body_result(res, structure)
        with body_fg.as_default():
            res_flat = _flows(flatten(res), tas)
        body_fg.outputs = branch_outputs(body_fg, res_flat, "body")
        for t, out, inv in zip(flat, body_fg.outputs, invariants):
            if out.dtype != t.dtype:
                raise TypeError(f"Loop var {t.name} enters the loop with type {t.dtype!r} but "
                                f"has type {out.dtype!r} after 1 iteration. {t.name} type "
                                "should remain constant.")
            if not _less_specific(inv, out.shape):
                raise ValueError(
                    f"Input tensor '{t.name}' enters the loop with shape {_fmt(t.shape)}, but has "
                    f"shape {_fmt(out.shape)} after one iteration. To allow the shape to vary "
                    "across iterations, use the `shape_invariants` argument of tf.while_loop "
                    "to specify a less-specific shape.")
        keys, inits, invs = stateful.prepare_loop(graph, cond_fg, body_fg)
        outs = build_while(graph, flat + inits, invariants + invs, maxit, cond_fg, body_fg,
                           back_prop, marks)
        if keys:
            stateful.write_back(graph, outs[0].op, keys, outs[len(flat):])
        outs = [o if ta is None else ta.with_flow(o) for o, ta in zip(outs, tas)]
        packed = pack_sequence_as(structure, outs)
    if return_same_structure:
        return packed
    if single or (isinstance(packed, (list, tuple)) and len(packed) == 1):
        return packed[0]
    return packed


def _invariants(flat, structure, single, shape_invariants):
    """Each loop var's shape invariant (None for a TensorArray's, which while_loop sets);
    TF's ValueError where a given invariant does not admit the initial shape."""
    if shape_invariants is None:
        return [None if t is None else t.shape for t in flat]
    inv_struct = [shape_invariants] if single else shape_invariants
    invariants = [as_shape(_unleaf(s)) for s in flatten(_shapes_as_leaves(inv_struct))]
    if len(invariants) != len(flat):
        assert_same_structure(structure, inv_struct)
    invariants = [None if t is None else inv for t, inv in zip(flat, invariants)]
    for t, inv in zip(flat, invariants):
        if t is not None and not _less_specific(inv, t.shape):
            raise ValueError(
                f"The shape invariant specified for {t.name} is not compatible with "
                "the initial shape of the loop variable. It enters the loop with shape "
                f"{_fmt(t.shape)}, but the specified shape invariant is {_fmt(inv)}.")
    return invariants


def _body_result(res, structure):
    """The body's result in the loop vars' structure (TF's one-var and list/tuple leniency)."""
    if len(structure) == 1 and not isinstance(res, (list, tuple)):
        res = [res]
    if isinstance(res, (list, tuple)) and isinstance(structure, (list, tuple)) \
            and type(res) is not type(structure) and len(res) == len(structure) \
            and not hasattr(res, "_fields") and not hasattr(structure, "_fields"):
        res = type(structure)(res)              # TF accepts a tuple for a list and back
    assert_same_structure(res, structure)
    return res


def _flows(flat_res, tas):
    """The body's flat result with each TensorArray replaced by its flow; a TensorArray must
    come back where one went in, and only there."""
    out = []
    for k, (v, ta) in enumerate(zip(flat_res, tas)):
        if (ta is not None) != isinstance(v, TensorArray):
            want = "a TensorArray" if ta is not None else "a Tensor"
            raise TypeError(f"while_loop: loop variable {k} is {want}, but the body returned "
                            f"{v!r} for it")
        out.append(v.flow if ta is not None else v)
    return out


def _learn_element_shapes(body, graph, structure, flat, invariants, tas):
    """`tas` with a zero buffer for every TensorArray that enters the loop without one: the
    body is traced once, into a throwaway FuncGraph, to see the element shape it writes."""
    probe = FuncGraph("body_probe", graph)
    with probe.as_default():
        args = []
        for t, inv, ta in zip(flat, invariants, tas):
            if ta is None:
                args.append(placeholder(t.dtype, inv))
            else:
                args.append(ta if not ta.has_flow else
                            ta.with_flow(placeholder(ta.dtype, ta.loop_shape())))
        res = flatten(_body_result(body(*pack_sequence_as(structure, args)), structure))
        shapes = [v.flow.shape if isinstance(v, TensorArray) and v.has_flow else None
                  for v in res]
    out = list(tas)
    for k, ta in enumerate(tas):
        if ta is None or ta.has_flow:
            continue
        if shapes[k] is None or not shapes[k][1:].is_fully_defined():
            raise ValueError(
                f"while_loop: the TensorArray loop variable {k} enters the loop with an unknown "
                "element shape, and the body does not write elements of a fully defined shape "
                f"to it (got {shapes[k]}); give the TensorArray an element_shape")
        out[k] = ta.materialized(shapes[k][1:])
    return out


def _shapes_as_leaves(s):
    """TensorShapes are iterable: make them leaves for flatten()."""
    if isinstance(s, TensorShape):
        return _Leaf(s)
    if isinstance(s, dict):
        return {k: _shapes_as_leaves(v) for k, v in s.items()}
    if isinstance(s, (list, tuple)) and not all(isinstance(d, (int, type(None))) for d in s):
        return [_shapes_as_leaves(v) for v in s]
    return _Leaf(s)


class _Leaf:
    def __init__(self, v):
        self.v = v


def _unleaf(x):
    return x.v if isinstance(x, _Leaf) else x


def build_while(graph, flat, invariants, maxit, cond_fg, body_fg, back_prop, marks=None):
    inputs, index = [], {}
    for fg in (cond_fg, body_fg):
        for outer_t, _ in fg.captures:
            if outer_t not in index:
                index[outer_t] = len(inputs)
                inputs.append(outer_t)
    attrs = {"cond_graph": cond_fg, "body_graph": body_fg, "n_vars": len(flat),
             "has_max": maxit is not None,
             "cond_idx": tuple(index[t] for t, _ in cond_fg.captures),
             "body_idx": tuple(index[t] for t, _ in body_fg.captures),
             "back_prop": bool(back_prop), "history": False,
             "out_specs": tuple((t.dtype, inv) for t, inv in zip(flat, invariants)),
             **(marks or {})}
    ins = list(flat) + ([maxit] if maxit is not None else []) + inputs
    return list(graph.create_op("While", ins, attrs, "While").outputs)


def _as_loop_value(v):
    return v if isinstance(v, TensorArray) else convert_to_tensor(v)


def _eager_loop(cond, body, structure, single, maximum_iterations, return_same_structure):
    vals = pack_sequence_as(structure, [_as_loop_value(v) for v in flatten(structure)])
    t = 0
    while maximum_iterations is None or t < int(np.asarray(maximum_iterations)):
        if not bool(np.asarray(convert_to_tensor(cond(*vals)).numpy())):
            break
        res = body(*vals)
        if len(structure) == 1 and not is_nested(res):
            res = [res]
        vals = pack_sequence_as(structure, [_as_loop_value(v) for v in flatten(res)])
        t += 1
    if return_same_structure:
        return vals
    return vals[0] if single or len(vals) == 1 else vals
