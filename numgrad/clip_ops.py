"""clip_by_norm, clip_by_global_norm and global_norm (tensorflow/python/ops/clip_ops.py).

numgrad has no l2_loss op: global_norm sums reduce_sum(t * t) * 0.5 per tensor, then
sqrt(sum * 2), as TF's l2_loss-based formula.
"""
from .graph import Tensor, get_default_graph
from .indexed_slices import IndexedSlices
from .ops.array import identity, ones_like, stack
from .ops.core import constant, convert_to_tensor
from .ops.math import cast, greater, maximum, minimum, sqrt, where
from .ops.reduce import reduce_sum

__all__ = ["clip_by_norm", "clip_by_global_norm", "global_norm"]


def _values(t, name):
    return convert_to_tensor(t.values if isinstance(t, IndexedSlices) else t, name=name)


def _check_list(t_list):
    if not isinstance(t_list, (list, tuple)):
        raise TypeError(f"`t_list` should be a sequence of tensors. Received {type(t_list)}.")
    return list(t_list)


def clip_by_norm(t, clip_norm, axes=None, name=None):
    """t * clip_norm / max(l2norm(t), clip_norm), the norm over `axes` (default: all); an
    IndexedSlices is clipped by the norm of its values."""
    with get_default_graph().name_scope(name or "clip_by_norm"):
        values = _values(t, "t")
        clip_norm = convert_to_tensor(clip_norm, dtype=values.dtype, name="clip_norm") \
            if not isinstance(clip_norm, Tensor) else clip_norm
        l2sum = reduce_sum(values * values, axes, keepdims=True)
        pred = greater(l2sum, 0)
        # the two-tap where: no NaN gradient at a zero norm
        l2sum_safe = where(pred, l2sum, ones_like(l2sum))
        l2norm = where(pred, sqrt(l2sum_safe), l2sum)
        intermediate = values * clip_norm
        if not values.shape.is_compatible_with(intermediate.shape):
            raise ValueError(f"clip_by_norm: clip_norm of shape {clip_norm.shape} broadcasts "
                             f"the values of shape {values.shape} to {intermediate.shape}")
        values_clip = identity(intermediate / maximum(l2norm, clip_norm))
    if isinstance(t, IndexedSlices):
        return IndexedSlices(values_clip, t.indices, t.dense_shape)
    return values_clip


def global_norm(t_list, name=None):
    """sqrt(sum of the squares of all entries of the tensors in `t_list`); None entries are
    skipped, an IndexedSlices counts its values."""
    t_list = _check_list(t_list)
    with get_default_graph().name_scope(name or "global_norm"):
        values = [_values(t, f"t_{i}") if t is not None else None for i, t in enumerate(t_list)]
        half_squared_norms = [reduce_sum(v * v) * 0.5 for v in values if v is not None]
        if not half_squared_norms:
            raise ValueError("global_norm: t_list has no tensors (only None entries)")
        half_squared_norm = reduce_sum(stack(half_squared_norms))
        return sqrt(half_squared_norm * constant(2.0, dtype=half_squared_norm.dtype),
                    name="global_norm")


def clip_by_global_norm(t_list, clip_norm, use_norm=None, name=None):
    """(list_clipped, global_norm): each t * clip_norm / max(global_norm, clip_norm) (as TF:
    clip_norm * min(1 / norm, 1 / clip_norm)); NaN everywhere if the norm is not finite."""
    t_list = _check_list(t_list)
    if use_norm is None:
        use_norm = global_norm(t_list, name)
    with get_default_graph().name_scope(name or "clip_by_global_norm"):
        one = constant(1.0, dtype=use_norm.dtype)
        scale_for_finite = clip_norm * minimum(1.0 / use_norm, one / clip_norm)
        scale = scale_for_finite + (use_norm - use_norm)
        values = [_values(t, f"t_{i}") if t is not None else None for i, t in enumerate(t_list)]
        clipped = []
        for i, v in enumerate(values):
            if v is None:
                clipped.append(None)
            else:
                s = scale if scale.dtype == v.dtype else cast(scale, v.dtype)
                clipped.append(identity(v * s, name=f"clip_by_global_norm_{i}"))
        out = [IndexedSlices(c, t.indices, t.dense_shape) if isinstance(t, IndexedSlices) else c
               for c, t in zip(clipped, t_list)]
    return out, use_norm
