"""Row blocks (numgrad/compiler/emit_cpu.py, NUMGRAD_ROW_BLOCKS): a big 2-D elementwise loop
nest over (rows, n1) with a short n1 that is not a whole number of vectors runs flat over
blocks of rows, reading rows broadcast along dim 0 from a replicated buffer.  Checked against
the NumPy backend with the switch on and off, and in plans: which kernels run that way."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import config

from ab_switch import assert_close, run_with_switch
from budget import SLOW
from plan_checks import plan_of

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

# 9000 rows: 256 chunks of 35-36 rows, each a full block of 32 and a partial one
ROWS, N1 = 9000, 20


def _layer(dtype, rng, n1=N1, rows=ROWS):
    """A W6-like layer and its derivative stream: h = tanh(x * w + b) with w, b of shape
    (1, n1), d = (1 - h^2) * y * c with c of shape (rows, 1), sums and means of them over the
    rows; integers: x * w + b,
    (x - b) * y and its sum over the rows."""
    x = ng.placeholder(dtype, [None, n1])
    y = ng.placeholder(dtype, [None, n1])
    if np.dtype(dtype).kind == "f":
        w = ng.constant(rng.uniform(0.5, 1.5, (1, n1)).astype(dtype))
        b = ng.constant(rng.normal(size=(1, n1)).astype(dtype))
        c = ng.placeholder(dtype, [None, 1])        # a column, as u_x is in W6
        h = ng.tanh(x * w + b)
        d = (1.0 - h * h) * y * c
        # a bias gradient (a sum over the rows) and a mean over them, in the same loop
        fetches = [h, d, ng.reduce_sum(d, axis=0), ng.reduce_mean(h * y, axis=0, keepdims=True)]
        feed = {x: rng.normal(size=(rows, n1)).astype(dtype),
                y: rng.normal(size=(rows, n1)).astype(dtype),
                c: rng.normal(size=(rows, 1)).astype(dtype)}
    else:
        w = ng.constant(rng.integers(-3, 4, (1, n1)).astype(dtype))
        b = ng.constant(rng.integers(-9, 10, (1, n1)).astype(dtype))
        fetches = [x * w + b, (x - b) * y, ng.reduce_sum((x - b) * y, axis=0)]
        feed = {x: rng.integers(-50, 50, (rows, n1)).astype(dtype),
                y: rng.integers(-50, 50, (rows, n1)).astype(dtype)}
    return fetches, feed


def _row_blocked_kernels(sess, fetches, feed):
    return [k.row_blocks for k in plan_of(fetches, feed, sess).kernels]


# rtol against NumPy: float32 sums of 9000 terms differ from NumPy's pairwise float32 sums
# (numgrad accumulates in float64); against the switch off (the same float64 accumulators,
# another order) the results are one rounding apart.  The switch-off kernel (a plain one,
# its own compile) is compared with for float32, where NumPy's tolerance is loose, and with
# NUMGRAD_SLOW=1 for every dtype; float64 and int32 are held to NumPy at 1e-13 and exactly.
@pytest.mark.parametrize("dtype, rtol, rtol_off", [(np.float32, 1e-5, 1e-6),
                                                   (np.float64, 1e-13, 1e-14), (np.int32, 0, 0)])
def test_layer_runs_as_row_blocks(dtype, rtol, rtol_off, rng):
    fetches, feed = _layer(dtype, rng)
    if dtype != np.float32 and not SLOW:
        ref = ng.Session(backend="numpy").run(fetches, feed)
        with config.override(NUMGRAD_ROW_BLOCKS=True):
            sess = ng.Session(backend="cpu")
            outs = {True: (sess.run(fetches, feed), _row_blocked_kernels(sess, fetches, feed))}
    else:
        ref, outs = run_with_switch(fetches, feed, "NUMGRAD_ROW_BLOCKS",
                                    lambda sess: _row_blocked_kernels(sess, fetches, feed))
        assert outs[False][1] == [False]
        assert_close(outs[False][0], outs[True][0], rtol_off)
    assert outs[True][1] == [True]              # one kernel, row-blocked
    for out, _ in outs.values():
        assert_close(ref, out, rtol)


@pytest.mark.parametrize("case", ["inner_multiple_of_vector", "long_inner", "row_reduction",
                                  "small"])
def test_other_nests_keep_their_loops(case, rng):
    n1 = {"inner_multiple_of_vector": 32, "long_inner": 100}.get(case, N1)
    rows = 100 if case == "small" else ROWS         # 2000 elements: one serial pass
    x = ng.placeholder(ng.float64, [None, n1])
    b = ng.constant(rng.normal(size=(1, n1)))
    feed = {x: rng.normal(size=(rows, n1))}
    if case == "row_reduction":
        out = [ng.tanh(x + b), ng.reduce_sum(ng.tanh(x + b), axis=1)]
    else:
        out = [ng.tanh(x + b)]
    ref = ng.Session(backend="numpy").run(out, feed)
    sess = ng.Session(backend="cpu")
    assert_close(ref, sess.run(out, feed), 1e-13)
    assert not any(_row_blocked_kernels(sess, out, feed))

