"""Lowering: the pruned graph + concrete feed shapes -> IR with every shape known.

This is where the *simplify* stage lives, applied op by op as the IR is built:
constant folding (small results; splats for zeros/ones/fill/broadcast of a scalar), identity
removal (Identity, StopGradient, x*1, x+0, x-0, x/1, broadcast/sum-to-shape to the same shape,
single-input add_n), reshape chains folded to one view, and common-subexpression elimination.
A graph whose shapes depend on data (e.g. `where(c)`) raises Unsupported: the backend then
interprets it with NumPy.
"""
import numpy as np

from ..errors import InvalidArgumentError, OpError
from ..graph import Tensor
from ..ops.registry import get_op_def
from ..tensor_shape import TensorShape
from .ir import Node, Value

FOLD_LIMIT = 1 << 12   # fold ops whose result has at most this many elements
# Elementwise ops of constants fold up to this size: the plan then loads one constant
# instead of recomputing it from others on every call (W5's `1 - eye(n)` mask).
ELEMENTWISE_FOLD_LIMIT = 1 << 21

_ALIASES = {"Identity", "StopGradient"}
_VIEWS = {"Reshape", "ExpandDims", "Squeeze"}


# Two-input ops whose result is bit-identical with the inputs swapped (not Maximum/Minimum:
# NumPy's maximum(-0.0, 0.0) and maximum(0.0, -0.0) differ in the sign of zero).
_COMMUTATIVE = frozenset({"Mul", "AddV2", "Equal", "NotEqual", "LogicalAnd", "LogicalOr"})


class Unsupported(Exception):
    """The graph cannot be planned statically; interpret it instead."""


def _fake_tensor(op, index, value):
    t = Tensor.__new__(Tensor)
    t._op, t._index = op, index
    t._dtype = op.outputs[index].dtype if index < len(op.outputs) else None
    t._shape = TensorShape(value.shape)
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


def _is_scalar_const(v, number):
    return v.const is not None and v.const.size >= 1 and (
        v.const.ndim == 0 or v.const.size == 1 or np.all(v.const == v.const.reshape(-1)[0])) \
        and v.const.reshape(-1)[0] == number


def _is_negative_scalar(v):
    """Whether `v` is one negative (finite or not, non-NaN) float everywhere."""
    if v.const is None or v.const.size == 0 or v.const.dtype.kind != "f":
        return False
    c = v.const.reshape(-1)[0]
    return bool(c < 0) and (v.const.size == 1 or bool(np.all(v.const == c)))


class Lowering:
    def __init__(self):
        self.values = []
        self.nodes = []
        self._cse = {}
        self._consts = {}

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

    # --- nodes -----------------------------------------------------------------------------
    def node(self, op_type, attrs, inputs, out_specs, name, op_def=None):
        ids = tuple(v.id for v in inputs)
        if op_type in _COMMUTATIVE:     # a*b and b*a are one value (IEEE: exactly equal)
            ids = tuple(sorted(ids))
        key = (op_type, ids, _freeze(attrs))
        hit = self._cse.get(key)
        if hit is not None:
            return hit.outputs
        op_def = op_def or get_op_def(op_type)
        n = Node(len(self.nodes), op_type, attrs, inputs, op_def.kind, op_def.template, name)
        for i, (shape, dtype) in enumerate(out_specs):
            n.outputs.append(self._value(shape, dtype, node=n, index=i, name=f"{name}:{i}"))
        self.nodes.append(n)
        self._cse[key] = n
        return n.outputs


def lower(ops, fetches, feeds, feed_signature):
    """Build the IR; returns (Lowering, fetch Values, feed Values)."""
    L = Lowering()
    env = {}
    feed_values = []
    for i, (t, (shape, dtype)) in enumerate(zip(feeds, feed_signature)):
        v = L._value(shape, dtype, feed=i, name=t.name)
        env[t] = v
        feed_values.append(v)
    for op in ops:
        if op.type == "NoOp":
            continue
        if op.outputs and all(t in env for t in op.outputs):
            continue
        if op.type == "Placeholder":
            p = op.outputs[0]
            raise InvalidArgumentError(f"You must feed a value for placeholder tensor '{op.name}' "
                                       f"with dtype {p.dtype.name} and shape {p.shape}", op)
        ins = [env[t] for t in op.inputs]
        outs = _lower_op(L, op, ins)
        for t, v in zip(op.outputs, outs):
            if t not in env:
                env[t] = v
    fetch_values = [env[t] for t in fetches]
    _diagonal_constants(L, fetch_values)
    return L, fetch_values, feed_values


DIAGONAL_MIN = 1 << 12


def _diagonal_constants(L, fetch_values):
    """Square constants of >= DIAGONAL_MIN elements holding one value on the diagonal and
    another off it (eye(n), 1 - eye(n), and what folding made of them), read only by
    elementwise ops, become ``where(mask, d, o)`` over one shared boolean eye mask: a fused
    loop recomputes them from 1 byte per element instead of reading 8 (W5 read four 8 MB
    masks per call)."""
    consumers = {}
    for node in L.nodes:
        for v in node.inputs:
            consumers.setdefault(v.id, []).append(node)
    fetched = {v.id for v in fetch_values}
    diagonal_masks = {}
    for v in list(L.values):
        c = v.const
        if c is None or c.ndim != 2 or c.shape != v.shape or c.shape[0] != c.shape[1] \
                or c.size < DIAGONAL_MIN or c.dtype.kind not in "fiu" or v.id in fetched:
            continue
        users = consumers.get(v.id, [])
        if not users or any(u.kind != "elementwise" for u in users):
            continue
        d, o = c[0, 0], c[0, 1]
        diagonal = np.diagonal(c)
        if not (diagonal == d).all():
            continue
        off = c.copy()
        np.fill_diagonal(off, o)
        if not (off == o).all():                    # (NaN never qualifies)
            continue
        mask = diagonal_masks.get(c.shape[0])
        if mask is None:        # one boolean mask per size, shared by every such constant
            mask = diagonal_masks[c.shape[0]] = L.const(np.eye(c.shape[0], dtype=np.bool_),
                                                       name="diagonal_mask")
        value = L.node("SelectV2", {}, [mask, L.splat(d, (), c.dtype), L.splat(o, (), c.dtype)],
                       [(c.shape, c.dtype)], f"{v.name}/where")[0]
        # The new node (or the one CSE found) must come before the first reader.
        pos = min(L.nodes.index(u) for u in users)
        i = L.nodes.index(value.node)
        if i > pos:
            L.nodes.insert(pos, L.nodes.pop(i))
        for u in users:
            u.inputs = [value if x is v else x for x in u.inputs]


def _infer(op, ins):
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
        if not shape.is_fully_defined():
            raise Unsupported(f"{op.type} op '{op.name}' has a data-dependent shape {shape}")
        if not t.shape.is_compatible_with(shape):
            raise InvalidArgumentError(f"{op.type} op '{op.name}' would produce shape "
                                       f"{tuple(shape.as_list())} for '{t.name}', which contradicts "
                                       f"its static shape {t.shape}", op)
        out.append((tuple(shape.as_list()), t.dtype.np))
    return out, op_def


def _fold(L, op, ins, op_def, specs):
    args = [v.const_array() for v in ins]
    try:
        with np.errstate(all="ignore"):
            res = op_def.compute(args, op.attrs)
    except OpError as e:                    # an op's own run-time error (CheckNumerics)
        if e.op is None:
            e.op = op
        raise
    except (ValueError, IndexError, TypeError, ZeroDivisionError) as e:
        raise InvalidArgumentError(f"{op.type} op '{op.name}' failed: {e}", op) from e
    return [L.const(np.asarray(r, dtype=dt).reshape(shape), name=op.name)
            for r, (shape, dt) in zip(res, specs)]


def _lower_op(L, op, ins):
    typ = op.type
    if typ == "Const":
        return [L.const(op.attrs["value"], name=op.name)]
    if typ in _ALIASES:
        return [ins[0]]
    alias = get_op_def(typ).extra.get("alias")
    if alias is not None:           # an op that passes one input through (Assign)
        return [ins[alias]]
    if typ in ("Shape", "Size", "Rank"):
        x = ins[0]
        if typ == "Shape":
            return [L.const(np.array(x.shape, op.attrs["out_type"].np), name=op.name)]
        if typ == "Size":
            return [L.const(np.array(x.size, op.attrs["out_type"].np), name=op.name)]
        return [L.const(np.array(len(x.shape), np.int32), name=op.name)]
    specs, op_def = _infer(op, ins)
    (shape0, dt0) = specs[0] if specs else ((), None)
    # splats: zeros/ones/fill/broadcast of one scalar value
    if typ in ("ZerosLike", "OnesLike"):
        return [L.splat(0 if typ == "ZerosLike" else 1, shape0, dt0, op.name)]
    if typ == "Fill" and ins[1].const is not None:
        return [L.splat(ins[1].const.reshape(()), shape0, dt0, op.name)]
    if typ == "BroadcastTo":
        x = ins[0]
        if x.shape == shape0:
            return [x]
        if x.const is not None and (x.const.ndim == 0 or x.const.size == 1):
            return [L.splat(x.const.reshape(()), shape0, dt0, op.name)]
    if typ in _VIEWS:
        x = ins[0]
        if x.shape == shape0:
            return [x]
        if x.const is not None:
            if x.const.ndim == 0:
                return [L.splat(x.const, shape0, dt0, op.name)]
            return [L.const(x.const.reshape(shape0), name=op.name)]
        while x.node is not None and x.node.type == "Reshape" and len(x.node.outputs) == 1:
            x = x.node.inputs[0]          # reshape(reshape(v)) == reshape(v)
        return L.node("Reshape", {"shape": shape0}, [x], [(shape0, dt0)], op.name)
    if typ == "SumToShape" or typ == "AddN" and len(ins) == 1:
        if ins[0].shape == shape0:
            return [ins[0]]
    # scalar-valued constants (splats) fold to a splat, whatever their size
    if ins and all(v.const is not None and v.const.size == 1 for v in ins) and len(specs) == 1 \
            and op_def.kind == "elementwise":
        folded = _fold(L, op, [L.const(v.const.reshape(())) for v in ins], op_def,
                       [((), dt0)])[0]
        return [L.splat(folded.const.reshape(()), shape0, dt0, op.name)]
    # constant folding of small results (and of elementwise ops up to a larger size)
    limit = ELEMENTWISE_FOLD_LIMIT if op_def.kind == "elementwise" else FOLD_LIMIT
    if all(v.const is not None for v in ins) and all(
            int(np.prod(s, dtype=np.int64)) <= limit for s, _ in specs) and typ != "Placeholder":
        return _fold(L, op, ins, op_def, specs)
    # algebraic identities
    if typ in ("Mul", "AddV2", "Sub", "RealDiv") and shape0:
        x, y = ins
        unit = 1 if typ in ("Mul", "RealDiv") else 0
        if _is_scalar_const(y, unit) and x.shape == shape0 and x.dtype == dt0:
            return [x]
        if typ in ("Mul", "AddV2") and _is_scalar_const(x, unit) and y.shape == shape0 and y.dtype == dt0:
            return [y]
    if typ == "RealDiv" and dt0.kind == "f" and _is_negative_scalar(ins[0]):
        # (-c) / y == -(c / y) bit for bit (IEEE division rounds symmetrically), and c / y
        # is usually there already: TF's gradient of c / y is ((-c) / y) / y.  Sharing it
        # saves one of three divisions per pair in W5 (divisions bound that kernel).
        x, y = ins
        c = L.splat(-x.const.reshape(-1)[0], x.shape, x.dtype, op.name + "/negated")
        q, = L.node("RealDiv", {}, [c, y], specs, op.name + "/abs")
        return L.node("Neg", {}, [q], specs, op.name)
    if typ == "RealDiv" and dt0.kind == "f":
        square = _reciprocal_over_same(L, ins, shape0, specs, op.name)
        if square is not None:
            return square
    if typ == "Pow" and _is_scalar_const(ins[1], 1) and ins[0].shape == shape0:
        return [ins[0]]
    if typ == "Pow" and _is_scalar_const(ins[1], 2) and ins[0].shape == shape0:
        return L.node("Square", {}, [ins[0]], specs, op.name)
    if typ == "Select" and len(ins[0].shape) == 1 and len(shape0) > 1:
        c = ins[0]
        c2 = _lower_reshape(L, c, (c.shape[0],) + (1,) * (len(shape0) - 1), op.name + "/cond")
        return L.node("SelectV2", {}, [c2, ins[1], ins[2]], specs, op.name)
    if typ == "SumToShape":
        g = ins[0]
        target = shape0
        lead = len(g.shape) - len(target)
        axes = tuple(range(lead)) + tuple(lead + i for i, d in enumerate(target)
                                          if d == 1 and g.shape[lead + i] != 1)
        kept = tuple(1 if i in axes else d for i, d in enumerate(g.shape))
        s, = L.node("Sum", {"axis": axes, "keepdims": True}, [g], [(kept, dt0)], op.name)
        return [_lower_reshape(L, s, target, op.name + "/reshape")]
    return L.node(typ, dict(op.attrs), ins, specs, op.name, op_def)


def _lower_reshape(L, v, shape, name):
    if v.shape == tuple(shape):
        return v
    if v.const is not None:
        if v.const.ndim == 0:
            return L.splat(v.const, shape, v.dtype, name)
        return L.const(v.const.reshape(shape), name=name)
    return L.node("Reshape", {"shape": tuple(shape)}, [v], [(tuple(shape), v.dtype)], name)[0]


def _reciprocal_over_same(L, ins, shape0, specs, name):
    """(1 / y) / y as (1 / y)**2, and (-(1 / y)) / y as -((1 / y)**2), or None.

    TF's gradient of 1 / y is ((-1) / y) / y (the -1 / y shared with 1 / y, see above), so
    every 1/r-type potential (Coulomb, Lennard-Jones) pays a second division per element
    for it.  Squaring the reciprocal the forward pass has already computed is the form TF
    itself uses for Reciprocal's gradient.  The two differ by rounding only (at most about
    2 ulp: both are 1/y^2 from two correctly rounded steps), and agree on every special
    value: y = +-0, subnormal (1 / y overflows), +-inf, nan.  W5's pair kernel: one of its
    two divisions, which dominate it on CPUs without a wide divider."""
    x, y = ins
    negate = x.node is not None and x.node.type == "Neg"
    q = x.node.inputs[0] if negate else x
    if q.node is None or q.node.type != "RealDiv" or q.shape != shape0 or q.dtype != x.dtype:
        return None
    one, divisor = q.node.inputs
    if divisor.id != y.id or not _is_scalar_const(one, 1):
        return None
    sq = L.node("Square", {}, [q], specs, name + "/reciprocal_squared")
    return L.node("Neg", {}, sq, specs, name) if negate else sq
