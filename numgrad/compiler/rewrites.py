"""Named rewrites: the simplifications lowering applies, one named rule each.

Lowering (compiler/lower.py) builds the IR op by op; before it lowers an op it offers the op
to the *op rules* below, in table order, and the first rule that returns values replaces the
op by them (the values may be new IR nodes, built through ``L.node`` and so shared by CSE).
After the whole graph is lowered the *graph rules* run over the IR once.  Every rule is a
function with a one-line docstring saying what it does (``x*1 -> x``), registered in RULES
in the order it is tried.

Any rule can be turned off by name, for an A/B comparison or to rule a rewrite out when a
result looks wrong: ``NUMGRAD_DISABLE_REWRITES="mul_one,pow_integer"`` (read each time a
plan is lowered), ``with rewrites.disabled_rules("mul_one"): ...`` in tests, or
``lower(..., disabled=("mul_one",))``.  A disabled rule leaves the op to plain lowering (or
to the next rule), so results stay NumPy's, only the plan changes.

Power rules (`x ** c` for a constant c, float dtypes) and their accuracy against
``np.power`` are described in docs/cpu-backend.md ("Named rewrites").
"""
import contextlib
from dataclasses import dataclass

import numpy as np

from .. import config
from ..errors import InvalidArgumentError, OpError
from ..ops.registry import find_op_def

FOLD_LIMIT = 1 << 12   # fold ops whose result has at most this many elements
# Elementwise ops of constants fold up to this size: the plan then loads one constant
# instead of recomputing it from others on every call (W5's `1 - eye(n)` mask).
ELEMENTWISE_FOLD_LIMIT = 1 << 21
DIAGONAL_MIN = 1 << 12
POW_MAX = 8             # x ** c with |c| up to this becomes multiplications



@dataclass(frozen=True)
class Rule:
    """One named rewrite: `fn(site)` returns the op's values, or None (not applicable).

    `ops`: the op types it looks at, or `select`: a test of their declarations (OpDef), such
    as "a view" (none: every op); `when`: "op" (after shape inference), "early" (before it: the
    op's output is one of its inputs) or "graph" (`fn(L, fetch_values)`, once)."""
    name: str
    fn: object
    ops: tuple = ()
    when: str = "op"
    select: object = None

    @property
    def doc(self):
        """The docstring's first paragraph, on one line."""
        return " ".join((self.fn.__doc__ or "").strip().split("\n\n")[0].split())

    def looks_at(self, op_type):
        if self.ops:
            return op_type in self.ops
        if self.select is not None:
            op_def = find_op_def(op_type)
            return op_def is not None and bool(self.select(op_def))
        return True


RULES = []


def rule(name, ops=(), when="op", select=None):
    def register(fn):
        assert name not in names(), name
        RULES.append(Rule(name, fn, tuple(ops), when, select))
        return fn
    return register


# what the rules below select by (the facts declared with each op: ops/registry.py)
def _is_view(op_def):
    return op_def.kind == "shape_view"


def _is_identity(op_def):
    return op_def.has_trait("identity")


def _fills_like(op_def):
    return "like_value" in op_def.extra


def _is_matmul(op_def):
    return op_def.has_trait("matmul")


def _made_by(v, trait):
    """Whether IR value `v` is the output of a node whose op has `trait`."""
    if v.node is None:
        return False
    op_def = find_op_def(v.node.type)
    return op_def is not None and op_def.has_trait(trait)


def _is_view_value(v):
    """Whether IR value `v` is the one output of a view node (lowering makes every view a
    Reshape node)."""
    return v.node is not None and v.node.kind == "shape_view" and len(v.node.outputs) == 1


def names():
    return [r.name for r in RULES]


def table():
    """(name, when, one-line description) of every rule, in the order they are tried."""
    return [(r.name, r.when, r.doc) for r in RULES]


def disabled_names(text=None):
    """The set of disabled rule names: `text`, else NUMGRAD_DISABLE_REWRITES now.  An
    unknown name raises ValueError (a typo would otherwise silently disable nothing)."""
    if text is None:
        text = config.get("NUMGRAD_DISABLE_REWRITES") or ""
    out = {s.strip() for s in text.split(",") if s.strip()}
    unknown = out - set(names())
    if unknown:
        raise ValueError(f"NUMGRAD_DISABLE_REWRITES names unknown rewrites "
                         f"{sorted(unknown)}; known: {', '.join(names())}")
    return out


def active(disabled=None):
    """The enabled rules grouped by `when`: {"early": [...], "op": [...], "graph": [...]}."""
    off = disabled_names() if disabled is None else disabled_names(",".join(disabled))
    out = {"early": [], "op": [], "graph": []}
    for r in RULES:
        if r.name not in off:
            out[r.when].append(r)
    return out


@contextlib.contextmanager
def disabled_rules(*rule_names):
    """Disable these rules (besides any already disabled) for a block: tests and A/B runs."""
    disabled_names(",".join(rule_names))                  # validate first
    before = disabled_names()
    with config.override(NUMGRAD_DISABLE_REWRITES=",".join(sorted(before | set(rule_names)))):
        yield


class Site:
    """What an op rule sees: the lowering `L`, the graph `op`, its input Values `ins`, and
    (after inference) its output `specs` [(shape, dtype)], `shape`/`dtype` of output 0 and
    its `op_def`."""
    __slots__ = ("L", "op", "type", "ins", "specs", "shape", "dtype", "op_def")

    def __init__(self, L, op, ins, specs=None, op_def=None):
        self.L, self.op, self.type, self.ins = L, op, op.type, ins
        self.specs, self.op_def = specs, op_def
        self.shape, self.dtype = specs[0] if specs else ((), None)


def apply(rules, site, checked=False):
    """The values of the first rule in `rules` that applies to `site`, or None; `checked`:
    every rule in `rules` looks at the site's op type already (:func:`looking_at`)."""
    for r in rules:
        if not checked and not r.looks_at(site.type):
            continue
        out = r.fn(site)
        if out is not None:
            return out
    return None


def looking_at(rules, op_type):
    """The rules of `rules` that look at `op_type`, in order."""
    return [r for r in rules if r.looks_at(op_type)]


# --- helpers ------------------------------------------------------------------------------

def is_scalar_const(v, number):
    return v.const is not None and v.const.size >= 1 and (
        v.const.ndim == 0 or v.const.size == 1 or np.all(v.const == v.const.reshape(-1)[0])) \
        and v.const.reshape(-1)[0] == number


def _is_negative_scalar(v):
    """Whether `v` is one negative (finite or not, non-NaN) float everywhere."""
    if v.const is None or v.const.size == 0 or v.const.dtype.kind != "f":
        return False
    c = v.const.reshape(-1)[0]
    return bool(c < 0) and (v.const.size == 1 or bool(np.all(v.const == c)))


def fold(L, op, ins, op_def, specs):
    """The op computed now by its NumPy reference, as constants."""
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


# --- op rules, in the order they are tried ------------------------------------------------

@rule("identity", when="early", select=_is_identity)
def _identity(s):
    """Identity(x), StopGradient(x) -> x; IdentityN(x, y, ...) -> x, y, ..."""
    return list(s.ins)


@rule("like_splat", select=_fills_like)
def _like_splat(s):
    """zeros_like(x), ones_like(x) -> a splat of 0 / 1"""
    return [s.L.splat(s.op_def.extra["like_value"], s.shape, s.dtype, s.op.name)]


@rule("fill_splat", ("Fill",))
def _fill_splat(s):
    """fill(shape, c) -> a splat of c"""
    if s.ins[1].const is not None:
        return [s.L.splat(s.ins[1].const.reshape(()), s.shape, s.dtype, s.op.name)]


@rule("broadcast_same_shape", ("BroadcastTo",))
def _broadcast_same_shape(s):
    """broadcast_to(x, x.shape) -> x"""
    if s.ins[0].shape == s.shape:
        return [s.ins[0]]


@rule("broadcast_scalar_splat", ("BroadcastTo",))
def _broadcast_scalar_splat(s):
    """broadcast_to(c, shape) of a one-element constant -> a splat of c"""
    x = s.ins[0]
    if x.const is not None and (x.const.ndim == 0 or x.const.size == 1):
        return [s.L.splat(x.const.reshape(()), s.shape, s.dtype, s.op.name)]


@rule("view_same_shape", select=_is_view)
def _view_same_shape(s):
    """reshape / expand_dims / squeeze of x to x's own shape -> x"""
    if s.ins[0].shape == s.shape:
        return [s.ins[0]]


@rule("view_of_const", select=_is_view)
def _view_of_const(s):
    """reshape / expand_dims / squeeze of a constant -> the reshaped constant (or splat)"""
    x = s.ins[0]
    if x.const is not None:
        if x.const.ndim == 0:
            return [s.L.splat(x.const, s.shape, s.dtype, s.op.name)]
        return [s.L.const(x.const.reshape(s.shape), name=s.op.name)]


@rule("reshape_chain", select=_is_view)
def _reshape_chain(s):
    """reshape(reshape(x)) -> reshape(x) (any chain of views: one Reshape of its source, or
    the source where the chain ends at its shape)"""
    x = s.ins[0]
    if x.const is not None or not _is_view_value(x):
        return None
    while _is_view_value(x):
        x = x.node.inputs[0]
    if x.shape == s.shape:      # back to the source's own shape: the source itself
        return [x]
    return s.L.node("Reshape", {"shape": s.shape}, [x], [(s.shape, s.dtype)], s.op.name)


# --- views of reductions: keep a row reduction's rows where a later loop reads them ---------
# `m = reduce_mean(X, 1)` used as `m[:, None]` or `expand_dims(m, 1)`, or `reduce_sum(X, 1) / n`
# viewed likewise, is the keepdims reduction `reduce_mean(X, 1, keepdims=True)` up to views.
# Without these rules the (n0,) value and the view between the reduction and its (n0, n1)
# reader split W2's row pipeline (compiler/pipeline.py) into three kernels, each a pass over
# X (W2's formulations were 1.3x apart); with them every formulation is one kernel.


def _is_reduction(n, keepdims):
    """Whether IR node `n` reduces its one input over static axes (attrs axis, keepdims)
    with keepdims as given."""
    return (n is not None and n.kind == "reduce" and len(n.inputs) == 1
            and "axis" in n.attrs and bool(n.attrs.get("keepdims")) == keepdims)


def _kept_reduction(L, x, shape, name):
    """reduce(y, axes) of `x`'s node as the keepdims reduction of `shape` (one new node), or
    None when `shape` is not its keepdims shape."""
    n = x.node
    if not _is_reduction(n, False) or len(n.outputs) != 1:
        return None
    y = n.inputs[0]
    axes = range(len(y.shape)) if n.attrs["axis"] is None else n.attrs["axis"]
    kept = tuple(1 if k in axes else d for k, d in enumerate(y.shape))
    if kept != tuple(shape):
        return None
    return L.node(n.type, dict(n.attrs, keepdims=True), [y], [(kept, x.dtype)], name)[0]


def _free_view(L, x, shape, name):
    """`x` as `shape` without a Reshape step: the source of x's view chain where it has that
    shape, or the keepdims form of a reduction; None if neither."""
    src = x
    while src.node is not None and src.node.kind == "shape_view" and len(src.node.outputs) == 1:
        src = src.node.inputs[0]
    if src.shape == tuple(shape) and src is not x:
        return src
    return _kept_reduction(L, x, shape, name)


def _cheap_view(L, x, shape, name):
    """`x` as `shape`: _free_view, else _through_scalar_op, else a view (_view)."""
    return (_free_view(L, x, shape, name) or _through_scalar_op(L, x, shape, name)
            or _view(L, x, shape, name))


@rule("view_of_reduction", select=_is_view)
def _view_of_reduction(s):
    """reshape(reduce(y, a)) to reduce's keepdims shape -> reduce(y, a, keepdims=True)"""
    r = _kept_reduction(s.L, s.ins[0], s.shape, s.op.name)
    if r is not None:
        return [r]


def _takes_everything(spec, in_shape, out_shape):
    """Whether x[spec] keeps every element of x in order (unit steps, as many elements):
    then it only adds or drops dims of size 1, a view."""
    size = int(np.prod(in_shape))
    steps_ok = all(k.step in (None, 1) for k in spec if isinstance(k, slice))
    return steps_ok and size > 0 and size == int(np.prod(out_shape))


@rule("slice_of_everything", ("StridedSlice",))
def _slice_of_everything(s):
    """x[spec] that keeps every element (x[:, None], x[..., 0] of a size-1 dim) -> a view of
    x (the keepdims reduction where x is a reduction)"""
    x = s.ins[0]
    if _takes_everything(s.op.attrs["spec"], x.shape, s.shape):
        return [_cheap_view(s.L, x, s.shape, s.op.name)]


@rule("slice_grad_of_everything", ("StridedSliceGrad",))
def _slice_grad_of_everything(s):
    """the gradient of a slice that keeps every element -> a view of the incoming gradient"""
    dy = s.ins[1]
    if _takes_everything(s.op.attrs["spec"], s.shape, dy.shape):
        return [_cheap_view(s.L, dy, s.shape, s.op.name)]


def _through_scalar_op(L, x, shape, name):
    """f(v, c) of `shape` for x = f(v, c), an elementwise f of one array v and splat
    constants c, where _free_view gives v as `shape` without a view step; else None."""
    f = x.node
    if f is None or f.kind != "elementwise" or len(f.outputs) != 1:
        return None
    op_def = find_op_def(f.type)
    if op_def is None or op_def.data_inputs is not None:    # (Fill, BroadcastTo: shapes)
        return None
    arrays = [v for v in f.inputs if not (v.const is not None and v.const.ndim == 0)]
    if len(arrays) != 1 or arrays[0].shape != x.shape:
        return None
    v = arrays[0]
    src = _free_view(L, v, shape, name + "/operand")
    if src is None:
        return None
    ins = [src if u is v else L.splat(u.const, shape, u.dtype, u.name) for u in f.inputs]
    return L.node(f.type, dict(f.attrs), ins, [(tuple(shape), x.dtype)], name)[0]


@rule("view_through_scalar_op", select=_is_view)
def _view_through_scalar_op(s):
    """reshape(f(v, c)) -> f(v', c) for an elementwise f of one array v and splat constants
    c, where v' is v as the target shape without a view step (the source of v's view chain,
    or a reduction's keepdims form): `reduce_sum(X, 1) / n` viewed as (n0, 1), and its
    gradient, stay in the row pipeline"""
    r = _through_scalar_op(s.L, s.ins[0], s.shape, s.op.name)
    if r is not None:
        return [r]


@rule("sum_to_same_shape", ("SumToShape",))
def _sum_to_same_shape(s):
    """sum_to_shape(g, g.shape) -> g"""
    if s.ins[0].shape == s.shape:
        return [s.ins[0]]


@rule("single_add_n", ("AddN",))
def _single_add_n(s):
    """add_n([x]) -> x"""
    if len(s.ins) == 1 and s.ins[0].shape == s.shape:
        return [s.ins[0]]


@rule("splat_fold")
def _splat_fold(s):
    """an elementwise op of one-value constants (splats) -> a splat of its value, any size"""
    ins = s.ins
    if s.op_def.data_inputs is not None:    # a one-element operand there is a shape
        return None
    if ins and all(v.const is not None and v.const.size == 1 for v in ins) \
            and len(s.specs) == 1 and s.op_def.kind == "elementwise":
        L = s.L
        folded = fold(L, s.op, [L.const(v.const.reshape(())) for v in ins], s.op_def,
                      [((), s.dtype)])[0]
        return [L.splat(folded.const.reshape(()), s.shape, s.dtype, s.op.name)]


@rule("constant_fold")
def _constant_fold(s):
    """an op of constants -> its result as a constant (elementwise up to 2^21 elements,
    others up to 2^12)"""
    limit = ELEMENTWISE_FOLD_LIMIT if s.op_def.kind == "elementwise" else FOLD_LIMIT
    if all(v.const is not None for v in s.ins) and all(
            int(np.prod(shape, dtype=np.int64)) <= limit for shape, _ in s.specs) \
            and not s.op_def.has_trait("placeholder"):
        return fold(s.L, s.op, s.ins, s.op_def, s.specs)


def _unit_operand(s, unit, commutes):
    """The other operand when one of the two is the constant `unit` everywhere (and the
    other already has the result's shape and dtype), else None."""
    if not s.shape:
        return None
    x, y = s.ins
    if is_scalar_const(y, unit) and x.shape == s.shape and x.dtype == s.dtype:
        return [x]
    if commutes and is_scalar_const(x, unit) and y.shape == s.shape and y.dtype == s.dtype:
        return [y]
    return None


@rule("mul_one", ("Mul",))
def _mul_one(s):
    """x*1 -> x, 1*x -> x"""
    return _unit_operand(s, 1, True)


@rule("div_one", ("RealDiv",))
def _div_one(s):
    """x/1 -> x"""
    return _unit_operand(s, 1, False)


@rule("add_zero", ("AddV2",))
def _add_zero(s):
    """x+0 -> x, 0+x -> x"""
    return _unit_operand(s, 0, True)


@rule("sub_zero", ("Sub",))
def _sub_zero(s):
    """x-0 -> x"""
    return _unit_operand(s, 0, False)


@rule("negated_dividend", ("RealDiv",))
def _negated_dividend(s):
    """(-c)/y -> -(c/y) for a negative constant c (bit-identical; shares c/y)

    IEEE division rounds symmetrically, and c / y is usually there already: TF's gradient of
    c / y is ((-c) / y) / y.  Sharing it saves one of three divisions per pair in W5
    (divisions bound that kernel)."""
    if s.dtype.kind != "f" or not _is_negative_scalar(s.ins[0]):
        return None
    x, y = s.ins
    L, name = s.L, s.op.name
    c = L.splat(-x.const.reshape(-1)[0], x.shape, x.dtype, name + "/negated")
    q, = L.node("RealDiv", {}, [c, y], s.specs, name + "/abs")
    return L.node("Neg", {}, [q], s.specs, name)


@rule("reciprocal_squared", ("RealDiv",))
def _reciprocal_squared(s):
    """(1/y)/y -> (1/y)**2, (-(1/y))/y -> -((1/y)**2)  (<= ~2 ulp apart)

    TF's gradient of 1 / y is ((-1) / y) / y (the -1 / y shared with 1 / y, see
    negated_dividend), so every 1/r-type potential (Coulomb, Lennard-Jones) pays a second
    division per element for it.  Squaring the reciprocal the forward pass has already
    computed is the form TF itself uses for Reciprocal's gradient.  The two differ by
    rounding only (at most about 2 ulp: both are 1/y^2 from two correctly rounded steps),
    and agree on every special value: y = +-0, subnormal (1 / y overflows), +-inf, nan.
    W5's pair kernel: one of its two divisions, which dominate it on CPUs without a wide
    divider."""
    if s.dtype.kind != "f":
        return None
    x, y = s.ins
    negate = _made_by(x, "negation")
    q = x.node.inputs[0] if negate else x
    # q is the same division as this one (the rule looks at RealDiv only)
    if q.node is None or q.node.type != s.type or q.shape != s.shape or q.dtype != x.dtype:
        return None
    one, divisor = q.node.inputs
    if divisor.id != y.id or not is_scalar_const(one, 1):
        return None
    L, name = s.L, s.op.name
    sq = L.node("Square", {}, [q], s.specs, name + "/reciprocal_squared")
    return L.node("Neg", {}, sq, s.specs, name) if negate else sq


# --- softplus and its gradient share exp(-|x|) ---------------------------------------------
# TF's gradient of softplus(x) is g / (exp(-x) + 1): a second exp per element besides the one
# in softplus's own log1p(exp(-|x|)).  W2 written with nn.softplus paid it (1.15-1.3x the
# log(1 + exp(z)) form, which shares exp(z) between loss and gradient).

@rule("softplus_terms", ("Softplus",))
def _softplus_terms(s):
    """softplus(x) -> maximum(x, 0) + log1p(exp(-|x|)) as nodes (the template's formula), so
    that its gradient can reuse exp(-|x|) (sigmoid_of_shared_exp)"""
    if s.dtype.kind != "f":
        return None
    x = s.ins[0]
    L, name, specs = s.L, s.op.name, s.specs
    pos, = L.node("Maximum", {}, [x, L.splat(0, x.shape, x.dtype, name + "/zero")], specs,
                  name + "/positive_part")
    a, = L.node("Abs", {}, [x], specs, name + "/abs")
    na, = L.node("Neg", {}, [a], specs, name + "/neg_abs")
    e, = L.node("Exp", {}, [na], specs, name + "/exp_neg_abs")
    tail, = L.node("Log1p", {}, [e], specs, name + "/log1p")
    return L.node("AddV2", {}, [pos, tail], specs, name)


def _built(L, op_type, inputs, value):
    """Whether `value` is the output of the op_type node of `inputs` (no attributes)."""
    out = L.existing(op_type, {}, inputs)
    return out is not None and len(out) == 1 and out[0] is value


def _exp_neg_abs(L, x):
    """exp(-|x|) if the IR has it already (softplus_terms made it), else None."""
    a = L.existing("Abs", {}, [x])
    na = a and L.existing("Neg", {}, a)
    e = na and L.existing("Exp", {}, na)
    return e[0] if e else None


@rule("sigmoid_of_shared_exp", ("RealDiv",))
def _sigmoid_of_shared_exp(s):
    """g / (exp(-x) + 1) -> g * where(x >= 0, r, e * r), r = 1 / (1 + e), where e = exp(-|x|)
    is computed already (softplus's gradient without a second exp; <= ~3 ulp apart)

    The stable sigmoid: no exp of a positive argument, so no overflow; at x = +-inf, NaN and
    +-0 it gives TF's values (g, 0, NaN, g / 2)."""
    if s.dtype.kind != "f":
        return None
    g, d = s.ins
    if d.node is None or len(d.node.inputs) != 2:
        return None
    a, b = d.node.inputs
    if is_scalar_const(a, 1):
        a, b = b, a
    if not is_scalar_const(b, 1) or a.node is None or len(a.node.inputs) != 1:
        return None
    n = a.node.inputs[0]
    if n.node is None or len(n.node.inputs) != 1:
        return None
    x = n.node.inputs[0]
    L = s.L     # d is exp(-x) + 1 when CSE built those very nodes from x
    if not (_built(L, "Neg", [x], n) and _built(L, "Exp", [n], a)
            and _built(L, "AddV2", [a, b], d)):
        return None
    if not (g.shape == x.shape == s.shape and x.dtype == s.dtype):
        return None
    e = _exp_neg_abs(s.L, x)
    if e is None:
        return None
    L, name, specs = s.L, s.op.name, s.specs
    one = L.splat(1, x.shape, x.dtype, name + "/one")
    r, = L.node("Reciprocal", {}, L.node("AddV2", {}, [e, one], specs, name + "/one_plus_e"),
                specs, name + "/r")
    er, = L.node("Mul", {}, [e, r], specs, name + "/e_r")
    nonneg, = L.node("GreaterEqual", {}, [x, L.splat(0, x.shape, x.dtype, name + "/zero")],
                     [(x.shape, np.dtype(np.bool_))], name + "/nonneg")
    sig, = L.node("SelectV2", {}, [nonneg, r, er], specs, name + "/sigmoid")
    return L.node("Mul", {}, [g, sig], specs, name)


# --- power algebra: x ** c for a constant c -----------------------------------------------

def _exponent(s):
    """c when `s` is x ** c with c one constant value everywhere and x already of the
    result's shape and dtype, else None."""
    x, y = s.ins
    if y.const is None or y.const.size == 0 or x.shape != s.shape or x.dtype != s.dtype:
        return None
    c = y.const.reshape(-1)[0]
    if y.const.size > 1 and not bool(np.all(y.const == c)):
        return None
    return c


@rule("pow_one", ("Pow",))
def _pow_one(s):
    """x**1 -> x"""
    c = _exponent(s)
    if c is not None and c == 1:
        return [s.ins[0]]


@rule("pow_two", ("Pow",))
def _pow_two(s):
    """x**2 -> square(x)"""
    c = _exponent(s)
    if c is not None and c == 2:
        return s.L.node("Square", {}, [s.ins[0]], s.specs, s.op.name)


@rule("pow_zero", ("Pow",))
def _pow_zero(s):
    """x**0 -> 1 (a splat; NumPy's and TF's pow(x, 0) is 1 for every x, NaN included)"""
    c = _exponent(s)
    if c is not None and c == 0 and s.dtype.kind == "f":
        return [s.L.splat(1, s.shape, s.dtype, s.op.name)]


def _power_chain(L, x, n, specs, name):
    """x ** n (n >= 1) by square-and-multiply, most significant bit first."""
    r = x
    for k, bit in enumerate(bin(n)[3:]):
        r, = L.node("Square", {}, [r], specs, f"{name}/square{k}")
        if bit == "1":
            r, = L.node("Mul", {}, [r, x], specs, f"{name}/mul{k}")
    return r


@rule("pow_integer", ("Pow",))
def _pow_integer(s):
    """x**c -> multiplications for an integer c, 3 <= |c| <= 8 or c in (-1, -2) (floats);
    a negative c takes one reciprocal of x**|c|

    Square-and-multiply: x**3 = square(x)*x, x**8 = three squarings; x**-3 = 1/(x**3).
    Each step rounds once and a squaring doubles the error before it, so the result drifts
    from np.power (itself within 1 ulp) as |c| grows: measured on 20000 random inputs per
    case (tests/test_rewrites.py), float32 and float64 alike, <= 2 ulp for |c| = 3, <= 3
    for |c| = 4, 5, <= 5 for |c| = 7, 8, but 8-13 ulp for |c| = 15, 16 -- so POW_MAX is 8
    and larger exponents stay np.power.  Special values match np.power (0**-c = inf with
    0's sign for odd c, (-x)**c's sign, +-inf, nan), except where the intermediate x**|c| of
    a negative c overflows or is subnormal: the true result is then below the smallest
    normal (we give 0 where np.power gives a subnormal) or within a factor 4 of the largest
    float (a few more ulp)."""
    c = _exponent(s)
    if c is None or s.dtype.kind != "f" or not np.isfinite(c) or c != np.floor(c):
        return None
    n = int(c)
    if not (3 <= abs(n) <= POW_MAX or n in (-1, -2)):
        return None
    r = _power_chain(s.L, s.ins[0], abs(n), s.specs, s.op.name)
    if n > 0:
        return [r]
    return s.L.node("Reciprocal", {}, [r], s.specs, s.op.name)


def _plus_zero_and_neg_inf(s):
    """(x + 0, x == -inf): adding +0 turns -0 into +0 (pow(-0, 0.5) is +0, sqrt(-0) -0);
    and pow(-inf, c) is inf (c > 0) or 0 (c < 0) where sqrt(-inf) is NaN."""
    L, x, name = s.L, s.ins[0], s.op.name
    z, = L.node("AddV2", {}, [x, L.splat(0, x.shape, x.dtype, name + "/zero")], s.specs,
                name + "/plus_zero")
    is_neg_inf, = L.node("Equal", {}, [x, L.splat(-np.inf, x.shape, x.dtype, name + "/ninf")],
                         [(s.shape, np.dtype(np.bool_))], name + "/is_neg_inf")
    return z, is_neg_inf


def _select_neg_inf(s, is_neg_inf, value_there, elsewhere):
    L, name = s.L, s.op.name
    there = L.splat(value_there, s.shape, s.dtype, name + "/at_neg_inf")
    return L.node("SelectV2", {}, [is_neg_inf, there, elsewhere], s.specs, name)


@rule("pow_half", ("Pow",))
def _pow_half(s):
    """x**0.5 -> sqrt(x)  (bit-identical: np.power itself takes sqrt for an exponent of 0.5,
    so -0 -> -0 and -inf -> nan, where C's pow gives +0 and inf)"""
    c = _exponent(s)
    if c is None or s.dtype.kind != "f" or c != 0.5:
        return None
    return s.L.node("Sqrt", {}, [s.ins[0]], s.specs, s.op.name)


@rule("pow_minus_half", ("Pow",))
def _pow_minus_half(s):
    """x**-0.5 -> rsqrt(x + 0), 0 where x = -inf  (1/sqrt(x): <= 2 ulp from np.power;
    special values as np.power: +-0 -> inf, -inf -> 0, inf -> 0, x < 0 -> nan)"""
    c = _exponent(s)
    if c is None or s.dtype.kind != "f" or c != -0.5:
        return None
    z, is_neg_inf = _plus_zero_and_neg_inf(s)
    root, = s.L.node("Rsqrt", {}, [z], s.specs, s.op.name + "/rsqrt")
    return _select_neg_inf(s, is_neg_inf, 0, root)


@rule("pow_three_halves", ("Pow",))
def _pow_three_halves(s):
    """x**1.5 -> (x + 0) * sqrt(x + 0), inf where x = -inf  (<= 2 ulp from np.power;
    special values as np.power: -0 -> +0, -inf -> inf, x < 0 -> nan)"""
    c = _exponent(s)
    if c is None or s.dtype.kind != "f" or c != 1.5:
        return None
    z, is_neg_inf = _plus_zero_and_neg_inf(s)
    root, = s.L.node("Sqrt", {}, [z], s.specs, s.op.name + "/sqrt")
    prod, = s.L.node("Mul", {}, [z, root], s.specs, s.op.name + "/times_sqrt")
    return _select_neg_inf(s, is_neg_inf, np.inf, prod)


def _view(L, x, shape, name):
    """`x` reshaped to `shape`: a reshaped constant, or a Reshape node (a view)."""
    if x.const is not None:
        return L.const(x.const_array().reshape(shape), name=name)
    return L.node("Reshape", {"shape": shape}, [x], [(shape, x.dtype)], name)[0]


@rule("matmul_outer", select=_is_matmul)
def _matmul_outer(s):
    """a @ b with an inner dimension of 1 -> a * b (broadcast: (..., m, 1) * (..., 1, n);
    a transposed operand is a reshape, as one of its two dims is 1)

    A sum of one product has the product's value; only a -0 product differs in sign (matmul
    sums from +0 and gives +0).  The multiply is elementwise, so its consumers' loops
    recompute it from the (m, 1) and (1, n) operands (fuse's recomputation) and the (m, n)
    array is never written.  OpenBLAS took 0.23 ms for a (10000, 1) x (1, 20) float32 outer
    product on one thread, ten times an elementwise multiply of two such arrays; with a tanh
    after it, BLAS and a kernel 0.36 ms against 0.26 ms for one loop
    (numgrad/bench_small_matmul.py).  Every network with a scalar output makes one per
    backward pass (the gradient of `h @ w` for w of shape (k, 1)); W6 three, and W6's
    loss-and-gradients call went 42.3 -> 40.9 ms (medians, interleaved A/B, loaded VM)."""
    a, b = s.ins
    ta, tb = s.op.attrs["transpose_a"], s.op.attrs["transpose_b"]
    if s.dtype.kind not in "fiu" or len(a.shape) < 2 or len(b.shape) < 2 \
            or (a.shape[-2] if ta else a.shape[-1]) != 1:
        return None
    L, name = s.L, s.op.name
    if ta:
        a = _view(L, a, a.shape[:-2] + (a.shape[-1], 1), name + "/column")
    if tb:
        b = _view(L, b, b.shape[:-2] + (1, b.shape[-2]), name + "/row")
    return L.node("Mul", {}, [a, b], s.specs, name)


# --- graph rules: once, over the lowered IR ------------------------------------------------

@rule("diagonal_constants", when="graph")
def diagonal_constants(L, fetch_values):
    """a big square constant with one value on its diagonal and another off it -> where(eye
    mask, d, o) over one shared boolean mask

    Square constants of >= DIAGONAL_MIN elements holding one value on the diagonal and
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


@rule("kept_reduction_shared", when="graph")
def kept_reduction_shared(L, fetch_values):
    """reduce(y, a) beside reduce(y, a, keepdims=True) -> a view of the keepdims one

    view_of_reduction (and the slice rules) build the keepdims form of a reduction that may
    have other readers too; the two would be two accumulators over the same loop.  The
    keepdims node moves up to the earlier of the two places (it reads only y), the plain one's
    readers read a view of it, and unused_nodes drops the plain one."""
    kept = {}
    for n in L.nodes:
        if _is_reduction(n, True):
            kept.setdefault((n.type, n.inputs[0].id, n.attrs["axis"]), n)
    if not kept:
        return
    fetched = {v.id for v in fetch_values}
    for n in list(L.nodes):
        if not _is_reduction(n, False):
            continue
        k = kept.get((n.type, n.inputs[0].id, n.attrs["axis"]))
        old = n.outputs[0]
        if k is None or old.id in fetched or k.outputs[0].dtype != old.dtype:
            continue
        view = L.node("Reshape", {"shape": old.shape}, [k.outputs[0]],
                      [(old.shape, old.dtype)], old.name + "/of_kept")[0]
        # k reads only y, which comes before both: k goes to the earlier of its place and
        # n's, the view (new, or an existing one CSE returned) right after it
        L.nodes.remove(view.node)
        if L.nodes.index(k) > L.nodes.index(n):
            L.nodes.remove(k)
            L.nodes.insert(L.nodes.index(n), k)
        L.nodes.insert(L.nodes.index(k) + 1, view.node)
        for u in L.nodes:
            if u is not view.node:
                u.inputs = [view if x is old else x for x in u.inputs]


_PURE_KINDS = ("elementwise", "reduce", "shape_view")


@rule("unused_nodes", when="graph")
def unused_nodes(L, fetch_values):
    """an elementwise, reduction or view node that nothing reads -> dropped

    Op rules that build a new form of a value (view_of_reduction, view_through_scalar_op)
    leave the old form in the IR when the view was its only reader; fuse() would still
    compute it (W2's `reduce_sum(X, 1)` a second time).  Only elementwise and reduction
    nodes and Reshape views are dropped: they have no effects besides their outputs."""
    fetched = {v.id for v in fetch_values}
    readers = {}
    for n in L.nodes:
        for v in n.inputs:
            readers[v.id] = readers.get(v.id, 0) + 1
    keep = [True] * len(L.nodes)
    for i in range(len(L.nodes) - 1, -1, -1):
        n = L.nodes[i]
        if n.kind not in _PURE_KINDS:
            continue
        if any(readers.get(v.id) or v.id in fetched for v in n.outputs):
            continue
        keep[i] = False
        for v in n.inputs:
            readers[v.id] -= 1
    if not all(keep):
        L.nodes[:] = [n for n, k in zip(L.nodes, keep) if k]


def apply_graph(rules, L, fetch_values):
    """Run the graph rules in `rules` (active()["graph"]) over the lowered IR."""
    for r in rules:
        r.fn(L, fetch_values)
