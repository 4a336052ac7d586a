"""The row test of a batching rule, shared by the op families' test modules: vectorising an
op over 4 rows (numgrad.batching) gives what running it row by row gives.

``tests/`` has no ``__init__.py``: pytest puts this directory on ``sys.path``, so test modules
import this file as ``batching_rows``."""
import numpy as np

import numgrad as ng
from numgrad import batching


def assert_rule_matches_rows(op_type, build, rtol=1e-12, atol=1e-14):
    """`build(s)` uses op `op_type` on a float64 [2, 3] placeholder `s`."""
    s = ng.placeholder(ng.float64, [2, 3])
    y = build(s)
    assert any(op.type == op_type for op in ng.get_default_graph().get_operations())
    rows = np.random.default_rng(9).uniform(-1, 1, size=(4, 2, 3))
    batched, = batching.vectorize(s, ng.constant(rows), [y])
    with ng.Session(backend="numpy") as sess:
        got = sess.run(batched)
        want = np.stack([sess.run(y, {s: r}) for r in rows])
    np.testing.assert_allclose(got, want, rtol=rtol, atol=atol)
