"""Combining per-chunk partial results into whole-data values, in a fixed order.

Partials are combined by a tree over chunk indices: groups of FAN_IN consecutive chunks
(0..7, 8..15, ...) are folded left to right, then groups of those results, and so on.  The
tree depends only on the number of chunks, never on which worker finished first, so a result
is bit-identical for any number of workers.
A mean's partial is the chunk's mean times its row count (a sum); the root is divided by the
total row count.
"""
import numpy as np

__all__ = ["COMBINE", "FAN_IN", "combine_group", "tree", "finish"]

FAN_IN = 8

COMBINE = {
    "sum": np.add, "mean": np.add, "max": np.maximum, "min": np.minimum,
    "prod": np.multiply, "all": np.logical_and, "any": np.logical_or,
}


def prepare(value, combine, rows):
    """A chunk's partial as it enters the tree (a mean becomes a sum of `rows` rows)."""
    if combine == "mean":
        return np.asarray(value, dtype=np.float64) * rows
    return np.asarray(value)


def combine_group(items, combines, leaves):
    """Fold lists of partials (one entry per reduction) left to right.  `leaves`: the items
    are chunk results ``(partials, batched values)`` rather than lists of partials."""
    if leaves:
        items = [it[0] for it in items]
    acc = list(items[0])
    for it in items[1:]:
        acc = [COMBINE[c](x, y) for x, y, c in zip(acc, it, combines)]
    return acc


def tree(items, group, fan_in=FAN_IN):
    """Reduce `items` (one per chunk, in chunk order) as a tree of groups of `fan_in`;
    `group(items, leaves)` may build a lazy task instead of computing.  The root is always a
    group's result (a single chunk is a group of one)."""
    level = list(items)
    if not level:
        raise ValueError("no chunks to combine")
    leaves = True
    while leaves or len(level) > 1:
        level = [group(level[i:i + fan_in], leaves) for i in range(0, len(level), fan_in)]
        leaves = False
    return level[0]


def finish(values, combines, dtypes, total_rows):
    """The whole-data value of each reduction from its tree root."""
    out = []
    for v, c, dt in zip(values, combines, dtypes):
        if c == "mean":
            v = v / total_rows
        out.append(np.asarray(v).astype(dt, copy=False))
    return out
