"""Batching rules (numgrad/batching.py) of the convolution and pooling ops.

The jacobian batch m is folded into a dimension the op already treats independently, the op is
built once, and the result is split again:

* an activation batched alone (Conv2D's input, a backprop-input op's out_backprop, every pool
  op) folds m into the batch dimension N: (m, N, ...) -> (m*N, ...);
* a convolution filter batched alone folds m into the channels its result keeps apart: Conv2D
  into the output channels, Conv2DBackpropInput into the input channels (its output's);
* Conv2DBackpropFilter's out_backprop folds m into the output channels, its input into the
  input channels: the result is split from those channels.

The depthwise ops fold m into the channel multiplier (a batched filter or out_backprop) or
into the input channels (a batched input, the unbatched out_backprop repeated m times).  Both
operands of one convolution batched have no rule: `ng.jacobian` falls back to its loop and
says so.  Shapes other than the batch dimension N must be static.
"""
from .. import batching as B
from . import array as A
from . import math as M
from .conv import FAMILIES
from .core import constant_value, convert_to_tensor, make_op


def _dims(op, t):
    """The static dims of `t` with at most one unknown, written -1 (for reshape)."""
    if t.shape.rank is None:
        raise B.NoBatchingRule(op, f"{op.type}: '{t.name}' has unknown rank")
    dims = [-1 if d is None else d for d in t.shape.as_list()]
    if dims.count(-1) > 1:
        raise B.NoBatchingRule(op, f"{op.type}: '{t.name}' needs static dims besides one")
    return dims


def _fold(op, t, axis):
    """(m, d0, ..., dr) -> d0, ..., m*d_axis, ...: m moved before dim `axis` and merged."""
    dims = _dims(op, t)
    m, rest = dims[0], dims[1:]
    perm = list(range(1, axis + 1)) + [0] + list(range(axis + 1, len(dims)))
    t = A.transpose(t, perm) if axis else t
    merged = -1 if rest[axis] == -1 else m * rest[axis]
    return A.reshape(t, rest[:axis] + [merged] + rest[axis + 1:])


def _split(op, t, axis, m):
    """The inverse of `_fold` for op's output `t`: (..., m*d_axis, ...) -> (m, ..., d_axis,
    ...), with the dims of op's own (unbatched) output."""
    dims = _dims(op, op.outputs[0])
    t = A.reshape(t, dims[:axis] + [m] + dims[axis:])
    if not axis:
        return t
    perm = [axis] + [i for i in range(len(dims) + 1) if i != axis]
    return A.transpose(t, perm)


def _times_m(sizes, axis, m):
    """A 4-element shape tensor with entry `axis` multiplied by m (a constant when known)."""
    v = constant_value(sizes)
    if v is not None:
        v = [int(d) for d in v]
        v[axis] *= m
        return convert_to_tensor(v, dtype=sizes.dtype)
    scale = [1] * 4
    scale[axis] = m
    return M.multiply(sizes, convert_to_tensor(scale, dtype=sizes.dtype))


def _channel(op):
    return 3 if op.get_attr("data_format") == "NHWC" else 1


def _build(ctx, op, inputs):
    return make_op(op.type, inputs, dict(op.attrs), graph=ctx.graph).outputs[0]


def _forward(ctx, op, inputs, batched):
    x, f = inputs
    if batched[0] and not batched[1]:
        return [_split(op, _build(ctx, op, [_fold(op, x, 0), f]), 0, ctx.m)]
    if batched[1] and not batched[0]:
        y = _build(ctx, op, [x, _fold(op, f, 3)])
        if op.type == "Conv2D":
            return [_split(op, y, _channel(op), ctx.m)]
        return [_split_multiplier(op, y, _channel(op), f, ctx.m)]
    raise B.NoBatchingRule(op, f"{op.type}: no rule for batched inputs {batched}")


def _backprop_input(ctx, op, inputs, batched):
    sizes, f, dy = inputs
    B._require_unbatched(op, batched, 0)
    if batched[2] and not batched[1]:
        dx = _build(ctx, op, [_times_m(sizes, 0, ctx.m), f, _fold(op, dy, 0)])
        return [_split(op, dx, 0, ctx.m)]
    if batched[1] and not batched[2]:
        c = _channel(op)
        if op.type != "Conv2DBackpropInput":        # channel mi*C + c meets dy's c*M + k
            dy = _tile_channels(dy, c, ctx.m)
        dx = _build(ctx, op, [_times_m(sizes, c, ctx.m), _fold(op, f, 2), dy])
        return [_split(op, dx, c, ctx.m)]
    raise B.NoBatchingRule(op, f"{op.type}: no rule for batched inputs {batched}")


def _backprop_filter(ctx, op, inputs, batched):
    x, sizes, dy = inputs
    B._require_unbatched(op, batched, 1)
    if batched[0] == batched[2]:
        raise B.NoBatchingRule(op, f"{op.type}: no rule for batched inputs {batched}")
    c = _channel(op)
    depthwise = op.type != "Conv2DBackpropFilter"
    if batched[2]:
        dy = _fold_multiplier(op, dy, c, op.outputs[0]) if depthwise else _fold(op, dy, c)
        df = _build(ctx, op, [x, _times_m(sizes, 3, ctx.m), dy])
        return [_split(op, df, 3, ctx.m)]
    if depthwise:
        dy = _tile_channels(dy, c, ctx.m)
    df = _build(ctx, op, [_fold(op, x, c), _times_m(sizes, 2, ctx.m), dy])
    return [_split(op, df, 2, ctx.m)]


# --- the depthwise channel layout: output channel c*M + k of input channel c ---------------------
def _fold_multiplier(op, t, axis, filt):
    """A batched (m, ..., C*M, ...) activation as (..., C*m*M, ...): m folded into the channel
    multiplier (C, M from the filter or filter gradient `filt`)."""
    dims = _dims(op, t)
    c, mult = filt.shape[2], filt.shape[3]
    if c is None or mult is None:
        raise B.NoBatchingRule(op, f"{op.type}: needs a static filter shape")
    ca = axis + 1
    t = A.reshape(t, dims[:ca] + [c, mult] + dims[ca + 1:])
    t = A.transpose(t, list(range(1, ca + 1)) + [0] + list(range(ca + 1, len(dims) + 1)))
    return A.reshape(t, dims[1:ca] + [c * dims[0] * mult] + dims[ca + 1:])


def _split_multiplier(op, t, axis, f, m):
    """The inverse of `_fold_multiplier` for op's output `t` (C*m*M channels)."""
    dims = _dims(op, op.outputs[0])
    c, mult = op.inputs[1].shape[2], op.inputs[1].shape[3]
    if c is None or mult is None:
        raise B.NoBatchingRule(op, f"{op.type}: needs a static filter shape")
    t = A.reshape(t, dims[:axis] + [c, m, mult] + dims[axis + 1:])
    t = A.transpose(t, [axis + 1] + [i for i in range(len(dims) + 2) if i != axis + 1])
    return A.reshape(t, [m] + dims)


def _tile_channels(t, axis, m):
    reps = [1] * 4
    reps[axis] = m
    return A.tile(t, reps)


def _pool(ctx, op, inputs, batched):
    """MaxPool, AvgPool, MaxPoolGrad, MaxPoolGradGrad: every operand batched (the unbatched
    ones repeated m times), m folded into N."""
    ins = [_fold(op, t if b else B._broadcast_batch(ctx, t), 0)
           for t, b in zip(inputs, batched)]
    return [_split(op, _build(ctx, op, ins), 0, ctx.m)]


def _avg_pool_grad(ctx, op, inputs, batched):
    sizes, g = inputs
    B._require_unbatched(op, batched, 0)
    dx = _build(ctx, op, [_times_m(sizes, 0, ctx.m), _fold(op, g, 0)])
    return [_split(op, dx, 0, ctx.m)]


for _fwd, _bin, _bfi, _ in FAMILIES.values():
    B.BATCH_RULES.setdefault(_fwd, _forward)
    B.BATCH_RULES.setdefault(_bin, _backprop_input)
    B.BATCH_RULES.setdefault(_bfi, _backprop_filter)
for _t in ("MaxPool", "AvgPool", "MaxPoolGrad", "MaxPoolGradGrad"):
    B.BATCH_RULES.setdefault(_t, _pool)
B.BATCH_RULES.setdefault("AvgPoolGrad", _avg_pool_grad)
