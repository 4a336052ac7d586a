"""Lowering: the pruned graph + concrete feed shapes -> IR with every shape known.

This is where the *simplify* stage lives, applied op by op as the IR is built: each
simplification is a named rule of compiler/rewrites.py (constant folding, splats for
zeros/ones/fill/broadcast of a scalar, identity removal, reshape chains, power algebra, ...),
tried in table order before the op is lowered, and each can be turned off by name
(NUMGRAD_DISABLE_REWRITES).  Common-subexpression elimination is part of building a node
(``Lowering.node``).  A graph whose shapes depend on data (e.g. `where(c)`) raises
Unsupported: the backend then interprets it with NumPy.

One exception, where the backend asks for it (``runtime_sized``: the cpu backend): a loop op
(trait ``loop``: a While) may output arrays with one dim only known when it runs (a
gradient's recording copy of a loop outputs every iteration's values of the loop vars its
backward reads, as many rows as the loop ran).  Their Values carry ir.RUNTIME for those dims; only loop ops (single steps,
which take any array) may read them, so no kernel's size depends on them.  The graph around
a loop gradient then compiles like any other; any other reader raises Unsupported.
"""
import numpy as np

from ..errors import InvalidArgumentError
from ..graph import Tensor
from ..ops.registry import get_op_def
from ..tensor_shape import TensorShape
from . import rewrites
from .ir import RUNTIME, Node, Value
# re-exported: older code and tests read them from here
from .rewrites import DIAGONAL_MIN, ELEMENTWISE_FOLD_LIMIT, FOLD_LIMIT  # noqa: F401

class Unsupported(Exception):
    """The graph cannot be planned statically; interpret it instead."""


def _fake_tensor(op, index, value):
    t = Tensor.__new__(Tensor)
    t._op, t._index = op, index
    t._dtype = op.outputs[index].dtype if index < len(op.outputs) else None
    t._shape = TensorShape([None if d == RUNTIME else d for d in value.shape])
    t._consumers = []
    t._value = value.const_array() if value.const is not None else None
    t._is_zeros_tensor = False
    return t


def _freeze(v):
    if isinstance(v, np.ndarray):
        return ("arr", v.shape, v.dtype.str, v.tobytes())
    if isinstance(v, (list, tuple)):
        return tuple(_freeze(x) for x in v)
    if isinstance(v, slice):
        return ("slice", v.start, v.stop, v.step)
    if isinstance(v, dict):
        return tuple(sorted((k, _freeze(x)) for k, x in v.items()))
    return v


class Lowering:
    def __init__(self, rules=None, runtime_sized=False):
        self.values = []
        self.nodes = []
        self._cse = {}
        self._consts = {}
        self.rules = rewrites.active() if rules is None else rules   # by `when`
        self._rules_for = {}
        self.runtime_sized = runtime_sized      # loop ops may output RUNTIME dims

    # --- values ----------------------------------------------------------------------------
    def _value(self, shape, dtype, **kw):
        v = Value(len(self.values), shape, dtype, **kw)
        self.values.append(v)
        return v

    def const(self, arr, shape=None, name=""):
        arr = np.asarray(arr)
        shape = arr.shape if shape is None else tuple(shape)
        if arr.size <= FOLD_LIMIT:
            key = (shape, arr.dtype.str, arr.shape, arr.tobytes())
            hit = self._consts.get(key)
            if hit is not None:
                return hit
        v = self._value(shape, arr.dtype, const=arr, name=name)
        if arr.size <= FOLD_LIMIT:
            self._consts[key] = v
        return v

    def splat(self, scalar, shape, dtype, name=""):
        return self.const(np.asarray(scalar, dtype=dtype).reshape(()), shape, name)

    def reshape(self, v, shape, name):
        """`v` with `shape`: itself if it has it, a reshaped constant (or splat), else a
        Reshape node."""
        if v.shape == tuple(shape):
            return v
        if v.const is not None:
            if v.const.ndim == 0:
                return self.splat(v.const, shape, v.dtype, name)
            return self.const(v.const.reshape(shape), name=name)
        return self.node("Reshape", {"shape": tuple(shape)}, [v], [(tuple(shape), v.dtype)],
                         name)[0]

    def rules_for(self, when, op_type):
        """The rules of `when` that look at `op_type` (asked once per op type: a graph has
        many ops of few types, and a rule's test of an op's declaration is not free)."""
        key = (when, op_type)
        found = self._rules_for.get(key)
        if found is None:
            found = self._rules_for[key] = rewrites.looking_at(self.rules[when], op_type)
        return found

    # --- nodes -----------------------------------------------------------------------------
    def node(self, op_type, attrs, inputs, out_specs, name, op_def=None):
        ids = tuple(v.id for v in inputs)
        op_def = op_def or get_op_def(op_type)
        if op_def.has_trait("commutative"):     # a*b and b*a are one value (IEEE: exactly equal)
            ids = tuple(sorted(ids))
        key = (op_type, ids, _freeze(attrs))
        hit = self._cse.get(key)
        if hit is not None:
            return hit.outputs
        n = Node(len(self.nodes), op_type, attrs, inputs, op_def.kind, op_def.template, name)
        for i, (shape, dtype) in enumerate(out_specs):
            n.outputs.append(self._value(shape, dtype, node=n, index=i, name=f"{name}:{i}"))
        self.nodes.append(n)
        self._cse[key] = n
        return n.outputs

    def existing(self, op_type, attrs, inputs):
        """The outputs of the node that node() would return for these arguments if one is
        built already, else None (rules that reuse a value another rule made)."""
        ids = tuple(v.id for v in inputs)
        if get_op_def(op_type).has_trait("commutative"):
            ids = tuple(sorted(ids))
        hit = self._cse.get((op_type, ids, _freeze(attrs)))
        return None if hit is None else hit.outputs


def lower(ops, fetches, feeds, feed_signature, disabled=None):
    """Build the IR with every rewrite (op rules, then graph rules) not in `disabled` (None:
    NUMGRAD_DISABLE_REWRITES); returns (Lowering, fetch Values, feed Values)."""
    rules = rewrites.active(disabled)
    L, fetch_values, feed_values = lower_ops(ops, fetches, feeds, feed_signature, rules)
    rewrites.apply_graph(rules["graph"], L, fetch_values)
    return L, fetch_values, feed_values


def lower_ops(ops, fetches, feeds, feed_signature, rules=None, runtime_sized=False):
    """The IR of `ops` with the op rules of `rules` (rewrites.active()) applied as it is
    built; the graph rules are left to the caller (rewrites.apply_graph).  `runtime_sized`:
    loop ops may output dims known only at run time (see the module docstring)."""
    L = Lowering(rules, runtime_sized)
    env = {}
    feed_values = []
    for i, (t, (shape, dtype)) in enumerate(zip(feeds, feed_signature)):
        v = L._value(shape, dtype, feed=i, name=t.name)
        env[t] = v
        feed_values.append(v)
    for op in ops:
        if op.outputs and all(t in env for t in op.outputs):
            continue
        op_def = get_op_def(op.type)
        if op_def.kind == "control":        # no data (NoOp)
            continue
        if op_def.has_trait("placeholder"):     # not fed
            p = op.outputs[0]
            raise InvalidArgumentError(f"You must feed a value for placeholder tensor '{op.name}' "
                                       f"with dtype {p.dtype.name} and shape {p.shape}", op)
        ins = [env[t] for t in op.inputs]
        _check_runtime_readers(op, op_def, ins)
        outs = _lower_op(L, op, ins, op_def)
        for t, v in zip(op.outputs, outs):
            if t not in env:
                env[t] = v
    return L, [env[t] for t in fetches], feed_values


def _check_runtime_readers(op, op_def, ins):
    """Unsupported where `op` reads a value of run-time size and is not a loop op."""
    if op_def.has_trait("loop"):
        return
    for t, v in zip(op.inputs, ins):
        if v.runtime_sized:
            raise Unsupported(f"{op.type} op '{op.name}' reads '{t.name}', whose shape "
                              f"{t.shape} is only known when the graph runs")


def _runtime_shape(L, op, op_def, shape):
    """`shape` (not fully defined) with RUNTIME for its unknown dim where `op` may output
    such a value (a loop op, under a Lowering that allows them; one unknown dim, which the
    step's reshape of its result can take as -1), else Unsupported."""
    if L.runtime_sized and op_def.has_trait("loop") and shape.rank is not None \
            and shape.as_list().count(None) == 1:
        return tuple(RUNTIME if d is None else d for d in shape.as_list())
    raise Unsupported(f"{op.type} op '{op.name}' has a data-dependent shape {shape}")


def _infer(L, op, ins):
    op_def = get_op_def(op.type)
    fakes = [_fake_tensor(t.op, t.value_index, v) for t, v in zip(op.inputs, ins)]
    try:
        specs = op_def.infer(fakes, op.attrs)
    except (ValueError, TypeError) as e:
        raise InvalidArgumentError(f"{op.type} op '{op.name}' got incompatible run-time shapes "
                                   f"{[v.shape for v in ins]}: {e}", op) from None
    out = []
    for t, (dtype, shape) in zip(op.outputs, specs):
        shape = TensorShape(shape) if not isinstance(shape, TensorShape) else shape
        if not t.shape.is_compatible_with(shape):
            raise InvalidArgumentError(f"{op.type} op '{op.name}' would produce shape "
                                       f"{tuple(shape.as_list())} for '{t.name}', which contradicts "
                                       f"its static shape {t.shape}", op)
        dims = (tuple(shape.as_list()) if shape.is_fully_defined()
                else _runtime_shape(L, op, op_def, shape))
        out.append((dims, t.dtype.np))
    return out, op_def


def _static_value(op, op_def, ins):
    """The value of a `static_value` op (Const, Shape, ...): its NumPy reference run on
    zero-strided stand-ins of its inputs' shapes (their values are never read)."""
    stand_ins = [np.broadcast_to(np.zeros((), np.bool_), v.shape) for v in ins]
    return op_def.compute(stand_ins, op.attrs)[0]


def _lower_op(L, op, ins, op_def):
    if op_def.has_trait("static_value"):
        return [L.const(_static_value(op, op_def, ins), name=op.name)]
    out = rewrites.apply(L.rules_for("early", op.type), rewrites.Site(L, op, ins), True)
    if out is not None:
        return out
    alias = op_def.extra.get("alias")
    if alias is not None:           # an op that passes one input through (Assign)
        return [ins[alias]]
    specs, op_def = _infer(L, op, ins)
    out = rewrites.apply(L.rules_for("op", op.type), rewrites.Site(L, op, ins, specs, op_def),
                         True)
    if out is not None:
        return out
    (shape0, dt0) = specs[0] if specs else ((), None)
    if "like_value" in op_def.extra:     # ZerosLike/OnesLike (like_splat off): the full constant
        return [L.const(np.full(shape0, op_def.extra["like_value"], dt0), name=op.name)]
    if op_def.kind == "shape_view":     # every view is one Reshape
        return L.node("Reshape", {"shape": shape0}, [ins[0]], [(shape0, dt0)], op.name)
    lower_fn = op_def.extra.get("lower")     # declared with the op (Select, SumToShape)
    if lower_fn is not None:
        out = lower_fn(L, op, ins, specs)
        if out is not None:
            return out
    return L.node(op.type, dict(op.attrs), ins, specs, op.name, op_def)
