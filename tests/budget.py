"""The suite's budget: how many examples a property test tries, and which cells of a cross
product a parametrised test runs, in the default run and in the slow run (NUMGRAD_SLOW=1).

Hypothesis examples mostly build distinct graphs, so each costs fresh kernel compiles: the
default run checks each property on a few derandomized examples, the slow run on many.  The
same holds for a cross product such as op x broadcast pattern: every cell is a new kernel, so
the default run takes a covering subset (`cover`) and the slow run every cell.
"""
from numgrad import config

SLOW = config.get("NUMGRAD_SLOW")


def examples(default, slow):
    """`default` examples in the default run, `slow` with NUMGRAD_SLOW=1."""
    return slow if SLOW else default


def cover(rows, cols, per_row=1):
    """The (row, col) cells of ``rows x cols`` a test runs: every cell with NUMGRAD_SLOW=1;
    by default `per_row` consecutive columns for each row (more where there are more columns
    than rows x per_row), such that every row and every column is taken: slot k of row i is
    column (i * per_row + k) mod len(cols), so the columns rotate over the rows.  The choice
    is deterministic; the cells come in the order of the full product."""
    rows, cols = list(rows), list(cols)
    if not rows or not cols or per_row < 1:
        raise ValueError(f"cover needs rows, columns and per_row >= 1, got {len(rows)} rows, "
                         f"{len(cols)} columns, per_row={per_row}")
    if SLOW:
        return [(r, c) for r in rows for c in cols]
    per_row = max(per_row, -(-len(cols) // len(rows)))
    per_row = min(per_row, len(cols))
    taken = {(i, (i * per_row + k) % len(cols))
             for i in range(len(rows)) for k in range(per_row)}
    return [(r, c) for i, r in enumerate(rows) for j, c in enumerate(cols) if (i, j) in taken]
