"""ng.cond and ng.case: the functional `If` op (TF 2's cond_v2, with TF 1's API).

``If`` takes [pred] + the tensors either branch captures; its attrs hold the two branch
FuncGraphs and, per branch, which inputs feed its capture placeholders.  Running it runs only
the taken branch (FuncGraph.run: the NumPy interpreter, or on the cpu backend a compiled plan
after the branch's first calls; the plans are cached on the branch graph).  Its gradient (numgrad/gradients/rules/control.py) is another If on the same
pred, so second derivatives follow from the same rule.
"""
import numpy as np

from .. import batching
from .. import dtypes as _dt
from ..graph import Operation, Tensor, graph_of, executing_eagerly
from ..ops.core import convert_to_tensor
from ..ops.registry import register_op
from ..tensor_shape import TensorShape
from .func_graph import (FuncGraph, assert_same_structure, branch_outputs, flatten,
                         pack_sequence_as)
from . import stateful
from .tensor_array import TensorArray

__all__ = ["cond", "case"]


def most_specific_compatible_shape(a, b):
    if a.rank is None or b.rank is None or a.rank != b.rank:
        return TensorShape(None)
    return TensorShape([x if x == y else None for x, y in zip(a.as_list(), b.as_list())])


def _if_infer(inputs, attrs):
    p = inputs[0]
    if p.dtype != _dt.bool_:
        raise TypeError(f"Input 'pred' of 'If' Op has type {p.dtype.name} that does not match "
                        "expected type of bool.")
    if p.shape.rank not in (None, 0):
        raise ValueError(f"Shape must be rank 0 but is rank {p.shape.rank} for 'If' with input "
                         f"shapes: {p.shape}.")
    return list(attrs["out_specs"])


def _if_compute(vals, attrs):
    p = np.asarray(vals[0])
    if p.ndim != 0:
        raise ValueError(f"The pred input must be a scalar, but it has shape {list(p.shape)}")
    if p:
        fg, idx = attrs["then_graph"], attrs["then_idx"]
    else:
        fg, idx = attrs["else_graph"], attrs["else_idx"]
    args = [vals[1 + k] for k in idx]
    stateful.check_initialized(fg, args)
    return fg.run(args)


register_op("If", _if_infer, _if_compute, kind="opaque", traits=("control_flow", "serial"))
batching.NOT_BATCHABLE.setdefault(
    "If", "control flow: its branches are whole graphs; jacobian falls back to a loop of "
    "gradients")


def build_if(pred, then_fg, else_fg, name="If"):
    """The If op running `then_fg` or `else_fg` (traced, outputs set); returns its outputs."""
    inputs, index = [], {}
    for fg in (then_fg, else_fg):
        for outer_t, _ in fg.captures:
            if outer_t not in index:
                index[outer_t] = len(inputs)
                inputs.append(outer_t)
    specs = []
    for a, b in zip(then_fg.outputs, else_fg.outputs):
        specs.append((a.dtype, most_specific_compatible_shape(a.shape, b.shape)))
    attrs = {"then_graph": then_fg, "else_graph": else_fg,
             "then_idx": tuple(index[t] for t, _ in then_fg.captures),
             "else_idx": tuple(index[t] for t, _ in else_fg.captures),
             "out_specs": tuple(specs)}
    graph = then_fg.outer_graph
    return list(graph.create_op("If", [pred] + inputs, attrs, name).outputs)


def _trace(fn, what, graph, pred):
    fg = FuncGraph(what, graph)
    with fg.as_default():
        result = fn()
        if isinstance(result, Operation) and result.graph is fg:
            # TF: a branch returning an op (tf.group, no_op) returns pred, after the op
            from ..ops.array import identity
            with fg.control_dependencies([result]):
                result = identity(pred)
    if result is None:
        return fg, None
    with fg.as_default():               # a TensorArray is returned as its flow
        flat = [v.flow if isinstance(v, TensorArray) else v for v in flatten(result)]
    fg.outputs = branch_outputs(fg, flat, what)
    return fg, result


def _arrays_back(outs, then_res, else_res):
    """The If's outputs with a TensorArray again wherever both branches returned one."""
    back = []
    for out, a, b in zip(outs, flatten(then_res), flatten(else_res)):
        if isinstance(a, TensorArray) != isinstance(b, TensorArray):
            raise TypeError(f"cond: one branch returned a TensorArray where the other returned "
                            f"{b if isinstance(a, TensorArray) else a!r}")
        back.append(a.with_flow(out) if isinstance(a, TensorArray) else out)
    return back


def _unpack_singleton(x):
    if isinstance(x, (list, tuple)) and len(x) == 1:
        return x[0]
    return x


def cond(pred, true_fn=None, false_fn=None, strict=False, name=None, fn1=None, fn2=None):
    """tf.compat.v1.cond: `true_fn()` if `pred` else `false_fn()`, as one If op.

    Both functions are traced (each into a FuncGraph); only the taken one runs.  They must
    return the same structure (nests of lists/tuples/dicts) of tensors with the same dtypes;
    a shape that differs between them becomes unknown in that dimension.  A branch returning
    an Operation (``ng.group(...)``, ``ng.no_op``) returns `pred` once the op has run (TF's
    conditional update idiom).  Unless `strict`,
    a one-element list/tuple result is unpacked (TF 1).  Gradients are TF 2's (an If of the
    branch gradients); the gradient of an input used only by the branch not taken is zeros.
    """
    if fn1 is not None:
        if true_fn is not None:
            raise TypeError("cond(): 'true_fn' and 'fn1' may not be set simultaneously.")
        true_fn = fn1
    if fn2 is not None:
        if false_fn is not None:
            raise TypeError("cond(): 'false_fn' and 'fn2' may not be set simultaneously.")
        false_fn = fn2
    if true_fn is None:
        raise TypeError("cond(): 'true_fn' argument required")
    if false_fn is None:
        raise TypeError("cond(): 'false_fn' argument required")
    if not callable(true_fn):
        raise TypeError("'true_fn' must be callable.")
    if not callable(false_fn):
        raise TypeError("'false_fn' must be callable.")
    if isinstance(pred, (bool, np.bool_)):
        raise TypeError("pred must not be a Python bool")
    if executing_eagerly():
        p = convert_to_tensor(pred)
        res = true_fn() if bool(np.asarray(p.numpy())) else false_fn()
        return res if strict else _unpack_singleton(res)
    graph = graph_of([pred]) if isinstance(pred, Tensor) else graph_of([])
    with graph.as_default(), graph._transaction(), graph.name_scope(name or "cond"):
        pred = convert_to_tensor(pred)
        if pred.dtype != _dt.bool_:
            raise TypeError(f"Input 'pred' of 'If' Op has type {pred.dtype.name} that does not "
                            "match expected type of bool.")
        if pred.shape.rank not in (None, 0):
            raise ValueError(f"Shape must be rank 0 but is rank {pred.shape.rank} for "
                             f"'{graph.get_name_scope()}/If' (op: 'If') with input shapes: "
                             f"{pred.shape}.")
        then_fg, then_res = _trace(true_fn, "true_fn", graph, pred)
        else_fg, else_res = _trace(false_fn, "false_fn", graph, pred)
        if then_res is None:
            raise ValueError("'true_fn' must have a return value.")
        if else_res is None:
            raise ValueError("'false_fn' must have a return value.")
        assert_same_structure(then_res, else_res)
        for a, b in zip(then_fg.outputs, else_fg.outputs):
            if a.dtype != b.dtype:
                raise ValueError("Outputs of 'true_fn' and 'false_fn' must have the same "
                                 f"type(s). Received {a.dtype.name} from 'true_fn' and "
                                 f"{b.dtype.name} from 'false_fn'.")
        n = len(then_fg.outputs)
        keys = stateful.prepare_cond(graph, then_fg, else_fg)
        outs = build_if(pred, then_fg, else_fg)
        if keys:
            stateful.write_back(graph, outs[0].op, keys, outs[n:])
        outs = outs[:n]
        res = pack_sequence_as(then_res, _arrays_back(outs, then_res, else_res))
    return res if strict else _unpack_singleton(res)


def case(pred_fn_pairs, default=None, exclusive=False, strict=False, name="case"):
    """tf.compat.v1.case: the fn of the first true pred (else `default`), as nested conds.

    Without `default` the last pair's fn is the default.  `exclusive=True` is accepted but
    not checked at run time (TF raises if several preds are true): noted limitation."""
    if isinstance(pred_fn_pairs, dict):
        pairs = list(pred_fn_pairs.items())
    else:
        pairs = list(pred_fn_pairs)
    for entry in pairs:
        if not isinstance(entry, tuple) or len(entry) != 2:
            raise TypeError(f"Each entry in 'pred_fn_pairs' must be a 2-tuple. Received {entry}.")
        pred, fn = entry
        if not isinstance(pred, Tensor) or pred.dtype != _dt.bool_:
            raise TypeError(f"pred must be Tensor of type bool: {getattr(pred, 'name', pred)}")
        if not callable(fn):
            raise TypeError(f"fn for pred {pred.name} must be callable.")
    if default is None:
        if not pairs:
            raise ValueError("case(): pred_fn_pairs is empty and there is no default")
        pairs, (_, default) = pairs[:-1], pairs[-1]
    elif not callable(default):
        raise TypeError("default must be callable.")
    if not pairs:
        return default()
    graph = graph_of([p for p, _ in pairs])

    def chain(i):
        if i == len(pairs):
            return default
        pred, fn = pairs[i]
        return lambda: cond(pred, fn, chain(i + 1), strict=True, name="cond")

    with graph.as_default(), graph.name_scope(name or "case"):
        res = chain(0)()
    return res if strict else _unpack_singleton(res)
