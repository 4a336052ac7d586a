"""Combining per-chunk partial results into whole-data values, in a fixed order.

Partials are combined pairwise as a balanced tree over chunk indices: (0, 1), (2, 3), ...,
then the pairs' results, and so on.  The tree depends only on the number of chunks, never on
which worker finished first, so a result is bit-identical for any number of workers.
A mean's partial is the chunk's mean times its row count (a sum); the root is divided by the
total row count.
"""
import numpy as np

__all__ = ["COMBINE", "combine_pair", "tree", "finish"]

COMBINE = {
    "sum": np.add, "mean": np.add, "max": np.maximum, "min": np.minimum,
    "prod": np.multiply, "all": np.logical_and, "any": np.logical_or,
}


def prepare(value, combine, rows):
    """A chunk's partial as it enters the tree (a mean becomes a sum of `rows` rows)."""
    if combine == "mean":
        return np.asarray(value, dtype=np.float64) * rows
    return np.asarray(value)


def combine_pair(a, b, combines):
    """Combine two lists of partials, one entry per reduction."""
    return [COMBINE[c](x, y) for x, y, c in zip(a, b, combines)]


def tree(items, pair):
    """Reduce `items` (one per chunk, in chunk order) with `pair` as a balanced binary tree;
    `pair(a, b)` may build a lazy task instead of computing."""
    level = list(items)
    if not level:
        raise ValueError("no chunks to combine")
    while len(level) > 1:
        nxt = [pair(level[i], level[i + 1]) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


def finish(values, combines, dtypes, total_rows):
    """The whole-data value of each reduction from its tree root."""
    out = []
    for v, c, dt in zip(values, combines, dtypes):
        if c == "mean":
            v = v / total_rows
        out.append(np.asarray(v).astype(dt, copy=False))
    return out
