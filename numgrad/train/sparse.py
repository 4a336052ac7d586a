"""Sparse (IndexedSlices) gradients for the optimizers: TF1's row-wise updates.

TF1 first sums the slices of repeated indices (``_deduplicate_indexed_slices``: ``unique`` then
``unsorted_segment_sum``), then its ``SparseApply*`` kernels update only the rows present.

A numgrad ``Assign`` writes a variable's whole value, so a sparse update builds the full new
value anyway.  Here the deduplicated gradient is scattered to the variable's rows at once,
``g = unsorted_segment_sum(values, indices, nrows)`` (each present row holds the sum of its
slices, added in index order as TF's deduplication does; absent rows hold 0), with a row mask
``present = unsorted_segment_sum(ones, indices, nrows) > 0``.  The optimizer's per-element
formula then runs over all rows and ``where(present, new, old)`` keeps the absent rows exactly
as they were: the same values as TF's gather / compute / scatter, no ``unique`` op needed, and
everything after the two segment sums is elementwise, so the cpu compiler fuses it with the
rest of the update.
"""
from ..graph import Tensor
from ..indexed_slices import IndexedSlices
from ..ops.array import ones_like, shape as _shape, strided_slice, unsorted_segment_sum
from ..ops.core import convert_to_tensor
from ..ops.math import greater, where

__all__ = ["dense_rows", "keep_absent_rows"]


def _num_rows(grad, var):
    n = var.shape[0] if var.shape.rank else None
    if n is not None:
        return int(n)
    if isinstance(grad.dense_shape, Tensor):
        return strided_slice(grad.dense_shape, 0)
    return strided_slice(_shape(var), 0)


def dense_rows(grad, var):
    """(summed, present) for IndexedSlices `grad` of variable `var`: `summed` has var's shape,
    row i the sum of the slices for index i (0 where none); `present` a bool [nrows] vector."""
    if not isinstance(grad, IndexedSlices):
        raise TypeError(f"expected IndexedSlices, got {grad!r}")
    values = convert_to_tensor(grad.values)
    indices = convert_to_tensor(grad.indices)
    n = _num_rows(grad, var)
    summed = unsorted_segment_sum(values, indices, n)
    count = unsorted_segment_sum(ones_like(indices, dtype=var.dtype), indices, n)
    present = greater(count, convert_to_tensor(0, dtype=var.dtype))
    return summed, present


def keep_absent_rows(present, new, old):
    """`new` on the rows in `present`, `old` elsewhere (a row select: exact)."""
    return where(present, new, old)
