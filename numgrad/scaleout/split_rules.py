"""How each op type behaves when its inputs are split into row chunks along axis 0.

A tensor is *batched* when its axis 0 runs over the rows of a chunked feed (each chunk holds
some of the rows), and *global* otherwise (the same value for every chunk).  For an op with a
batched input, its rule in ``SPLIT_RULES`` says what the op does chunk by chunk:

- ``BATCHED``: the op acts on rows independently and its outputs are batched (elementwise
  math, a matmul by a global right operand, reductions over other axes, reshapes that keep
  axis 0, gathers on other axes, ...);
- ``Reduce(combine)``: the op reduces over the batch axis; applied to one chunk it gives a
  *partial* result, and the partials of all chunks are combined by ``combine`` ("sum",
  "mean", "max", "min", "prod", "all", "any") into the op's value on the whole data;
- anything else raises ``Unsplittable`` with the reason (cumsum along the batch axis, a
  reshape that merges it with another axis, ...).

``rule(op, batched) -> BATCHED | Reduce``, where ``batched[i]`` says whether input i is batched.
``SHAPE_INPUTS`` lists the inputs of each op type that are shapes rather than data: a shape
derived from a batched tensor's shape is evaluated per chunk (it has the chunk's row count),
while data derived from it (a mean's 1/N) takes the whole data's value.
"""
from ..ops.registry import get_op_def

__all__ = ["BATCHED", "Reduce", "Unsplittable", "SPLIT_RULES", "SHAPE_INPUTS", "split_rule",
           "SHAPE_OF"]

BATCHED = "batched"


class Reduce:
    """The op reduces over the batch axis; per-chunk partials are combined by ``combine``."""

    __slots__ = ("combine",)

    def __init__(self, combine):
        self.combine = combine

    def __repr__(self):
        return f"Reduce({self.combine!r})"


class Unsplittable(ValueError):
    """An op of the graph cannot be computed chunk by chunk along the batch axis."""

    def __init__(self, op, reason):
        self.op = op
        self.reason = reason
        super().__init__(f"cannot split op '{op.name}' ({op.type}) along the batch axis of "
                         f"the chunked feed: {reason}")


# Inputs that are shapes (sizes, dims), not data, by op type.
SHAPE_INPUTS = {
    "BroadcastTo": (1,), "Fill": (0,), "Reshape": (1,), "SumToShape": (1,), "Range": (0, 1, 2),
    "OneHot": (1,), "ReducedShape": (0, 1),
    "Conv2DBackpropInput": (0,), "DepthwiseConv2dNativeBackpropInput": (0,),
    "Conv2DBackpropFilter": (1,), "DepthwiseConv2dNativeBackpropFilter": (1,),
    "AvgPoolGrad": (0,),
}

# Shape ops: of a batched tensor they give a value that depends on the number of rows.
SHAPE_OF = ("Shape", "Size", "Rank")

SPLIT_RULES = {}


def _rank(t):
    r = t.shape.rank
    if r is None:
        raise ValueError(f"tensor '{t.name}' has unknown rank")
    return r


def _norm(axis, rank):
    return axis + rank if axis < 0 else axis


def _attr(op, name, default=None):
    return op.attrs.get(name, default)


def _fail(op, reason):
    raise Unsplittable(op, reason)


def _elementwise(op, batched):
    out_rank = _rank(op.outputs[0])
    skip = SHAPE_INPUTS.get(op.type, ())
    for i, (t, b) in enumerate(zip(op.inputs, batched)):
        if i in skip:
            continue
        r = _rank(t)
        if b and r != out_rank:
            if op.type == "Select" and r == 1:     # v1 Select: a row condition
                continue
            _fail(op, f"batched input '{t.name}' of rank {r} broadcasts to rank {out_rank}, "
                      "which moves its batch axis off axis 0")
        if not b and r == out_rank:
            d0 = t.shape.dims[0] if r else None
            if d0 != 1:
                _fail(op, f"global input '{t.name}' of shape {t.shape} spans the batch axis "
                          "(its axis 0 must have size 1 or be absent)")
    return BATCHED


def _axes(op, rank):
    axis = op.get_attr("axis")
    if axis is None:
        return set(range(rank))
    if isinstance(axis, int):
        axis = (axis,)
    return {_norm(a, rank) for a in axis}


def _reduction(combine):
    def rule(op, batched):
        if 0 in _axes(op, _rank(op.inputs[0])):
            return Reduce(combine)
        return BATCHED
    return rule


def _sum_to_shape(op, batched):
    x, out = op.inputs[0], op.outputs[0]
    if _rank(out) < _rank(x) or (out.shape.dims and out.shape.dims[0] == 1):
        return Reduce("sum")
    return BATCHED


def _matmul(op, batched):
    ta = _attr(op, "transpose_a") or _attr(op, "adjoint_a")
    tb = _attr(op, "transpose_b") or _attr(op, "adjoint_b")
    ba, bb = batched
    if ba and not bb and not ta:
        return BATCHED                      # rows of the output are rows of a
    if ba and bb and ta and not tb:
        return Reduce("sum")                # a^T b contracts the batch axis (a weight gradient)
    _fail(op, "only x @ W (x batched, W global) and x^T @ y (both batched, contracting the "
              "batch axis) can be split")


def _batch_matmul(op, batched):
    if _rank(op.outputs[0]) <= 2:
        attrs = {"transpose_a": _attr(op, "adj_x"), "transpose_b": _attr(op, "adj_y")}
        ba, bb = batched
        if ba and not bb and not attrs["transpose_a"]:
            return BATCHED
        if ba and bb and attrs["transpose_a"] and not attrs["transpose_b"]:
            return Reduce("sum")
        _fail(op, "a rank-2 batch matmul splits only as x @ W or x^T @ y")
    out_rank = _rank(op.outputs[0])
    for t, b in zip(op.inputs, batched):
        if b and _rank(t) != out_rank:
            _fail(op, f"batched input '{t.name}' does not keep the batch axis at axis 0")
    return BATCHED


def _axis_attr_not0(attr="axis", extra_rank=0):
    def rule(op, batched):
        rank = _rank(op.inputs[0]) + extra_rank
        a = op.get_attr(attr)
        if a is None or _norm(a, rank) == 0:
            _fail(op, f"it works along axis {a} = the batch axis")
        return BATCHED
    return rule


def _all_batched(base):
    def rule(op, batched):
        if not all(batched):
            names = [t.name for t, b in zip(op.inputs, batched) if not b]
            _fail(op, f"it joins batched and global tensors ({names} are global)")
        return base(op, batched)
    return rule


def _keeps_axis0(attr, ok):
    def rule(op, batched):
        if not ok(op.get_attr(attr)):
            _fail(op, f"its {attr}={op.get_attr(attr)!r} changes the batch axis")
        return BATCHED
    return rule


def _strided_slice(op, batched):
    spec = op.get_attr("spec")
    if not isinstance(spec, tuple):
        spec = (spec,)
    if not spec:
        return BATCHED
    first = spec[0]
    if first is Ellipsis:
        named = sum(1 for s in spec if s is not None and s is not Ellipsis)
        if named < _rank(op.inputs[0]):
            return BATCHED
    if isinstance(first, slice) and first.start in (None, 0) and first.stop is None and \
            first.step in (None, 1):
        return BATCHED
    _fail(op, f"the slice {first!r} on axis 0 selects rows of the whole data")


def _gather(op, batched):
    params_b, indices_b = batched[0], batched[1]
    axis = _norm(op.get_attr("axis"), _rank(op.inputs[0]))
    if _attr(op, "batch_dims"):
        _fail(op, "gather with batch_dims")
    if params_b and not indices_b and axis != 0:
        return BATCHED
    if indices_b and not params_b and axis == 0:
        return BATCHED                      # an embedding lookup: one output row per index row
    _fail(op, "a gather along the batch axis of batched params, or of batched indices into "
              "another axis")


def _gather_nd(op, batched):
    if batched[1] and not batched[0]:
        return BATCHED
    _fail(op, "gather_nd indexes batched params")


def _rows_independent(op, batched):
    return BATCHED


def _leading_batch(op, batched):
    if _rank(op.inputs[0]) < 3:
        _fail(op, "a matrix op on a rank-2 batched tensor mixes rows")
    return BATCHED


def _unsorted_segment(combine):
    def rule(op, batched):
        if batched[0] and batched[1]:
            return Reduce(combine)
        _fail(op, "unsorted segment ops need both data and segment ids batched")
    return rule


def _images_with_global(*global_positions):
    """An op over a batch of images (NHWC or NCHW: images on axis 0) whose other operands
    (a filter) must be global."""
    def rule(op, batched):
        for i in global_positions:
            if batched[i]:
                _fail(op, f"its operand '{op.inputs[i].name}' (a filter) is batched")
        return BATCHED
    return rule


def _filter_gradient(op, batched):
    if batched[0] and batched[2]:
        return Reduce("sum")        # sums over the images of the chunk: a weight gradient
    _fail(op, "a filter gradient needs both the images and the output gradient batched")


def _register():
    reds = {"Sum": "sum", "Mean": "mean", "Max": "max", "Min": "min", "Prod": "prod",
            "All": "all", "Any": "any"}
    for t, c in reds.items():
        SPLIT_RULES[t] = _reduction(c)
    SPLIT_RULES["SumToShape"] = _sum_to_shape
    SPLIT_RULES["MatMul"] = _matmul
    SPLIT_RULES["BatchMatMulV2"] = _batch_matmul
    SPLIT_RULES["Reshape"] = _reshape
    SPLIT_RULES["ExpandDims"] = lambda op, b: (
        _fail(op, "expand_dims at axis 0 moves the batch axis")
        if _norm(op.get_attr("axis"), _rank(op.inputs[0]) + 1) == 0 else BATCHED)
    SPLIT_RULES["Squeeze"] = _squeeze
    SPLIT_RULES["StridedSlice"] = _strided_slice
    SPLIT_RULES["StridedSliceGrad"] = _strided_slice
    SPLIT_RULES["Transpose"] = _keeps_axis0("perm", lambda p: p is not None and p[0] == 0)
    SPLIT_RULES["Tile"] = _keeps_axis0("multiples", lambda m: m is not None and m[0] == 1)
    for t in ("PadV2", "MirrorPad", "MirrorPadGrad"):
        SPLIT_RULES[t] = _keeps_axis0("paddings", lambda p: p is not None and
                                      tuple(p[0]) == (0, 0))
    SPLIT_RULES["ConcatV2"] = _all_batched(_axis_attr_not0())
    SPLIT_RULES["Pack"] = _all_batched(_axis_attr_not0(extra_rank=1))
    for t in ("Unpack", "Split", "SplitV", "Softmax", "LogSoftmax", "Cumsum", "Cumprod",
              "ArgMax", "ArgMin", "OneHot"):
        SPLIT_RULES[t] = _axis_attr_not0(extra_rank=1 if t == "OneHot" else 0)
    SPLIT_RULES["ReverseV2"] = _keeps_axis0("axis", lambda a: a is not None and 0 not in
                                            [x for x in (a if isinstance(a, (tuple, list))
                                                         else (a,)) if x >= 0])
    SPLIT_RULES["GatherV2"] = _gather
    SPLIT_RULES["GatherNd"] = _gather_nd
    for t in ("SoftmaxCrossEntropyWithLogits", "SparseSoftmaxCrossEntropyWithLogits",
              "CheckNumerics", "TopKV2"):
        SPLIT_RULES[t] = _rows_independent
    for t in ("Cholesky", "CholeskyGrad", "MatrixInverse", "MatrixDeterminant",
              "LogMatrixDeterminant", "MatrixSolve", "MatrixTriangularSolve", "MatrixDiag",
              "MatrixDiagPart", "MatrixSetDiag", "MatrixBandPart"):
        SPLIT_RULES[t] = _leading_batch
    for t in ("Conv2D", "DepthwiseConv2dNative"):
        SPLIT_RULES[t] = _images_with_global(1)
    for t in ("Conv2DBackpropInput", "DepthwiseConv2dNativeBackpropInput"):
        SPLIT_RULES[t] = _images_with_global(1)
    for t in ("Conv2DBackpropFilter", "DepthwiseConv2dNativeBackpropFilter"):
        SPLIT_RULES[t] = _filter_gradient
    for t in ("MaxPool", "AvgPool", "AvgPoolGrad", "MaxPoolGrad", "MaxPoolGradGrad"):
        SPLIT_RULES[t] = _rows_independent
    for t, c in (("UnsortedSegmentSum", "sum"), ("UnsortedSegmentMax", "max"),
                 ("UnsortedSegmentMin", "min"), ("UnsortedSegmentProd", "prod")):
        SPLIT_RULES[t] = _unsorted_segment(c)


def _reshape(op, batched):
    x, out = op.inputs[0], op.outputs[0]
    xd, od = x.shape.dims, out.shape.dims
    if xd is None or od is None or not od or od[0] is not None:
        _fail(op, f"a reshape from {x.shape} to {out.shape} does not keep the batch axis")
    rest_in, rest_out = xd[1:], od[1:]
    if None in rest_in or None in rest_out:
        _fail(op, f"a reshape from {x.shape} to {out.shape} with unknown non-batch dims")
    p_in = p_out = 1
    for d in rest_in:
        p_in *= d
    for d in rest_out:
        p_out *= d
    if p_in != p_out:
        _fail(op, f"a reshape from {x.shape} to {out.shape} merges the batch axis with "
                  "another axis")
    return BATCHED


def _squeeze(op, batched):
    axis = op.get_attr("axis") or ()
    rank = _rank(op.inputs[0])
    if 0 in {_norm(a, rank) for a in axis}:
        _fail(op, "squeeze of the batch axis")
    return BATCHED


_register()


def split_rule(op):
    """The op type's rule: its entry in SPLIT_RULES, the elementwise rule for elementwise
    ops, or None."""
    rule = SPLIT_RULES.get(op.type)
    if rule is not None:
        return rule
    try:
        kind = get_op_def(op.type).kind
    except KeyError:
        return None
    if kind == "elementwise":
        return _elementwise
    return None
