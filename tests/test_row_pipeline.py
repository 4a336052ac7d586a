"""Row pipelines (numgrad/compiler/pipeline.py): a kernel that reads row reductions of an
earlier kernel over the same space becomes a later stage of it, row by row.

Every graph here is checked three ways: against the NumPy reference backend, to within a few
ulp against the cpu backend with the pass turned off (in the default run W2's softplus in both
sizes, layer norm in the serial size and log-sum-exp in the chunked one; every graph in every
size with NUMGRAD_SLOW=1), and (where it pipelines) by the plan's shape: one kernel with N row
stages instead of N kernels.
"""
import numpy as np
import pytest

import numgrad as ng
from numgrad import config
from numgrad.compiler.layout import PARALLEL_MIN
from numgrad.compiler import pipeline

from budget import SLOW, cover, examples
from plan_checks import plan_of

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def run_three_ways(fetches, feed, pass_off=SLOW):
    """The cpu backend's results against the NumPy reference's and, with `pass_off`, against the
    cpu backend's with the pass off (its own kernels: a third of this file's cold compiles).
    The graphs the pass is for (W2's softplus, layer norm, log-sum-exp) compare with the pass
    off in the default run (softplus in both sizes, the other two in one size each: serial
    and chunked between them); every graph in every size does with NUMGRAD_SLOW=1."""
    ref = ng.Session(backend="numpy").run(fetches, feed)
    out = ng.Session(backend="cpu").run(fetches, feed)
    plan = plan_of(fetches, feed)
    plain = out
    if pass_off:
        with config.switches(ROW_PIPELINES=False):
            plain = ng.Session(backend="cpu").run(fetches, feed)
    for r, o, p in zip(ref, out, plain):
        assert o.shape == r.shape and o.dtype == r.dtype
        rtol = 1e-12 if r.dtype == np.float64 else 1e-5
        scale = max(1.0, float(np.max(np.abs(r), initial=0)))
        np.testing.assert_allclose(o, r, rtol=rtol, atol=rtol * scale)
        # Same loop bodies; float64 sums accumulate in vector registers (vecmath._radd),
        # in an order that depends on how LLVM vectorises each loop, so the pipeline may move
        # a result by an ulp or so, no more.
        eps = np.finfo(r.dtype).eps if r.dtype.kind == "f" else 0
        np.testing.assert_allclose(o, p, rtol=16 * eps, atol=16 * eps * scale)
    return plan     # tests/plan_checks.py: plan.stages, the kernels' row-stage counts


# (rows, cols): serial single pass, and chunked/threaded with block-buffered reductions
SIZES = [(12, 20), (96, PARALLEL_MIN // 96 + 7)]


# Each cell compiles its own kernels: the default run takes float32 on the small size and
# float64 on the chunked one, NUMGRAD_SLOW=1 all four.
_SOFTPLUS_CELLS = [(rows, cols, dtype) for dtype, (rows, cols) in
                   cover([np.float32, np.float64], SIZES)]


@pytest.mark.parametrize("rows,cols,dtype", _SOFTPLUS_CELLS,
                         ids=[f"{r}-{c}-{d.__name__}" for r, c, d in _SOFTPLUS_CELLS])
def test_softplus_of_centred_rows_is_one_kernel(rows, cols, dtype, rng):
    # W2's graph: mean -> main pass -> gradient fix-up, three kernels without the pass
    X = ng.placeholder(dtype, [rows, cols])
    v = ng.placeholder(dtype, [cols])
    loss = ng.reduce_sum(ng.log(1 + ng.exp(X * v - ng.reduce_mean(X, axis=1, keepdims=True))))
    fetches = [loss] + ng.gradients(loss, [X, v])
    feed = {X: rng.standard_normal((rows, cols)).astype(dtype),
            v: rng.standard_normal(cols).astype(dtype)}
    plan = run_three_ways(fetches, feed, pass_off=True)
    assert plan.stages == [3], plan
    assert plan.kernels[0].row_buffers == 1, plan   # d loss / d(X*v) never reaches memory


def _mean_then_view(ng, X):
    return ng.expand_dims(ng.reduce_mean(X, 1), 1)


def _sum_over_n_sliced(ng, X):
    return (ng.reduce_sum(X, axis=1) / float(X.shape[1]))[:, None]


@pytest.mark.parametrize("centre", [_mean_then_view, _sum_over_n_sliced])
def test_softplus_of_centred_rows_written_other_ways_is_one_kernel(centre, rng):
    # W2's other formulations (bench_variants.py): the row mean as a (rows,) value and a view
    # of it, or a sum over n sliced with [:, None].  The rewrites view_of_reduction,
    # slice_of_everything, slice_grad_of_everything and view_through_scalar_op give the
    # keepdims form, so they pipeline as the keepdims formulation does.
    rows, cols = SIZES[0]
    X = ng.placeholder(ng.float32, [rows, cols])
    v = ng.placeholder(ng.float32, [cols])
    loss = ng.reduce_sum(ng.nn.softplus(X * v - centre(ng, X)))
    fetches = [loss] + ng.gradients(loss, [X, v])
    feed = {X: rng.standard_normal((rows, cols)).astype(np.float32),
            v: rng.standard_normal(cols).astype(np.float32)}
    plan = run_three_ways(fetches, feed)
    assert len(plan.stages) == 1 and plan.stages[0] >= 3, plan
    assert plan.opaque == [], plan      # no StridedSlice or StridedSliceGrad step


@pytest.mark.backend_independent(False)    # its finite differences run on NUMGRAD_BACKEND
@pytest.mark.parametrize("rows,cols", SIZES)
def test_layer_norm_forward_and_backward(rows, cols, rng):
    x = ng.placeholder(ng.float64, [rows, cols])
    gamma = ng.placeholder(ng.float64, [cols])
    beta = ng.placeholder(ng.float64, [cols])
    mu = ng.reduce_mean(x, axis=1, keepdims=True)
    var = ng.reduce_mean(ng.square(x - mu), axis=1, keepdims=True)
    y = (x - mu) * ng.rsqrt(var + 1e-5) * gamma + beta
    loss = ng.reduce_sum(ng.tanh(y))
    fetches = [loss] + ng.gradients(loss, [x, gamma, beta])
    feed = {x: rng.standard_normal((rows, cols)), gamma: rng.standard_normal(cols),
            beta: rng.standard_normal(cols)}
    plan = run_three_ways(fetches, feed, pass_off=SLOW or (rows, cols) == SIZES[0])
    assert max(plan.stages) >= 3, plan
    if rows * cols < 500:       # and the symbolic gradient itself, against finite differences
        # (its hundreds of calls would compile a plan function, which this file does not test)
        with config.override(NUMGRAD_FUSED_CALL_AFTER=10 ** 9):
            err = ng.test.compute_gradient_error(x, [rows, cols], loss, [],
                                                 x_init_value=feed[x],
                                                 extra_feed_dict={gamma: feed[gamma],
                                                                  beta: feed[beta]})
        assert err < 1e-5


@pytest.mark.parametrize("rows,cols", SIZES)
def test_log_sum_exp_by_hand_with_max(rows, cols, rng):
    x = ng.placeholder(ng.float32, [rows, cols])
    w = ng.placeholder(ng.float32, [rows, 1])
    m = ng.reduce_max(x, axis=1, keepdims=True)
    lse = m + ng.log(ng.reduce_sum(ng.exp(x - m), axis=1, keepdims=True))
    loss = ng.reduce_sum(lse * w)
    fetches = [loss, lse] + ng.gradients(loss, [x, w])
    data = rng.standard_normal((rows, cols)).astype(np.float32) * 4
    data[1, 3] = np.nan          # a NaN row: max propagates it, like NumPy
    data[2, :] = -np.inf         # an all -inf row
    feed = {x: data, w: rng.standard_normal((rows, 1)).astype(np.float32)}
    with np.errstate(invalid="ignore"):
        plan = run_three_ways(fetches, feed, pass_off=SLOW or (rows, cols) == SIZES[1])
    assert max(plan.stages) >= 2, plan


def test_a_fetched_intermediate_is_still_written(rng):
    # y is read by the next stage (a row-buffer candidate) and fetched: it must be stored
    x = ng.placeholder(ng.float64, [40, 30])
    y = ng.exp(x - ng.reduce_max(x, axis=1, keepdims=True))
    p = y / ng.reduce_sum(y, axis=1, keepdims=True)
    feed = {x: rng.standard_normal((40, 30))}
    plan = run_three_ways([p, y], feed)
    assert plan.stages == [3], plan


def test_integer_row_reductions(rng):
    x = ng.placeholder(ng.int32, [20, 17])
    s = x * 3 - ng.reduce_sum(x, axis=1, keepdims=True)            # pipelined
    m = x - ng.reduce_mean(x, axis=1, keepdims=True)               # integer mean: not
    feed = {x: rng.integers(-50, 50, (20, 17)).astype(np.int32)}
    run_three_ways([s, m], feed)


@pytest.mark.parametrize("axis,pipelined", [(2, True), (1, False), (0, False)])
def test_which_reductions_are_row_reductions(axis, pipelined, rng):
    # a 3-D space reduced over its last axis coalesces to rows x inner; reductions that keep
    # an inner dim (axis 1) or the row dim out (axis 0) finish only after every row
    x = ng.placeholder(ng.float64, [6, 5, 40])
    y = ng.sin(x) - ng.reduce_sum(ng.cos(x), axis=axis, keepdims=True)
    loss = ng.reduce_sum(y * y)
    fetches = [loss, y] + ng.gradients(loss, [x])
    feed = {x: rng.standard_normal((6, 5, 40))}
    plan = run_three_ways(fetches, feed)
    assert (max(plan.stages) > 1) == pipelined, plan


def test_rows_too_big_for_cache_are_not_pipelined(rng):
    cols = pipeline.ROW_BYTES // 8
    x = ng.placeholder(ng.float64, [3, cols])
    y = x - ng.reduce_mean(x, axis=1, keepdims=True)
    plan = run_three_ways([y], {x: rng.standard_normal((3, cols))})
    assert plan.stages == [1, 1], plan


def test_hot_small_pipeline_called_often(rng):
    # a small plan called often is re-emitted `hot` as one plan function: same numbers
    x = ng.placeholder(ng.float32, [8, 10])
    m = ng.reduce_max(x, axis=1, keepdims=True)
    e = ng.exp(x - m)
    p = e / ng.reduce_sum(e, axis=1, keepdims=True)
    loss = ng.reduce_sum(p * p)
    fetches = [loss] + ng.gradients(loss, [x])
    fn = ng.Session(backend="cpu").make_callable(fetches, [x])
    ref = ng.Session(backend="numpy").make_callable(fetches, [x])
    for _ in range(130):
        data = rng.standard_normal((8, 10)).astype(np.float32)
        for o, r in zip(fn(data), ref(data)):
            np.testing.assert_allclose(o, r, rtol=1e-5, atol=1e-6)


# --- random row-structured graphs -------------------------------------------------------------
# The generic fuzz (test_random_graphs.py) rarely builds row pipelines (3 graphs in 400), so
# here every graph is a chain over (rows, cols) mixing full-size ops, keepdims row reductions
# and per-row scalar ops, which is what pipelines are made of.
from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_FULL_UNARY = [lambda a: ng.exp(ng.clip_by_value(a, -3.0, 3.0)), ng.tanh, ng.sin, ng.square]
_ROW_UNARY = [lambda r: ng.rsqrt(r * r + 1.0), ng.tanh, lambda r: r * 0.5 + 1.0]
_REDUCE = [ng.reduce_sum, ng.reduce_mean, ng.reduce_max, ng.reduce_min, ng.reduce_prod]
_BINARY = [lambda a, b: a * b, lambda a, b: a - b, lambda a, b: a + b]


@st.composite
def row_programs(draw):
    shape = draw(st.sampled_from([(5, 7), (3, 1, 9), (40, 900)]))
    steps = draw(st.lists(st.tuples(st.integers(0, 4), st.integers(0, 4), st.integers(0, 1000)),
                          min_size=2, max_size=8))
    return shape, steps


def build_row_program(shape, steps):
    x = ng.placeholder(ng.float64, shape)
    v = ng.placeholder(ng.float64, shape[-1:])
    full, rows = [x, x * v], []
    for kind, which, pick in steps:
        a = full[pick % len(full)]
        if kind == 0:
            full.append(_FULL_UNARY[which % len(_FULL_UNARY)](a))
        elif kind == 1:                         # a row reduction (keepdims)
            red = _REDUCE[which % len(_REDUCE)]
            rows.append(red(ng.tanh(a) if red is ng.reduce_prod else a, axis=-1,
                            keepdims=True))
        elif kind == 2 and rows:                # per-row scalar work
            rows.append(_ROW_UNARY[which % len(_ROW_UNARY)](rows[pick % len(rows)]))
        elif kind == 3 and rows:                # a row value broadcast back over its row
            full.append(_BINARY[which % len(_BINARY)](a, rows[pick % len(rows)]))
        else:
            full.append(_BINARY[which % len(_BINARY)](a, full[(pick // 7) % len(full)]))
    loss = ng.reduce_sum(full[-1] * full[-1]) + sum(ng.reduce_sum(r) for r in rows)
    return [loss, full[-1]] + ng.gradients(loss, [x, v]), x, v


@settings(max_examples=examples(6, 12), deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(row_programs())
def test_random_row_programs(program):
    shape, steps = program
    g = ng.Graph()
    with g.as_default():
        fetches, x, v = build_row_program(shape, steps)
        rng = np.random.default_rng(len(steps))
        feed = {x: rng.uniform(-1.5, 1.5, shape), v: rng.uniform(-1.5, 1.5, shape[-1:])}
        run_three_ways([f for f in fetches if f is not None], feed)


@pytest.mark.parametrize("shape", [(0, 6), (4, 0), (1, 9)])
def test_empty_and_single_row_spaces(shape):
    x = ng.placeholder(ng.float64, shape)
    y = x - ng.reduce_mean(x, axis=1, keepdims=True)
    z = y * ng.reduce_max(y, axis=1, keepdims=True)
    loss = ng.reduce_sum(z)
    fetches = [loss, z] + ng.gradients(loss, [x])
    feed = {x: np.arange(np.prod(shape), dtype=np.float64).reshape(shape)}
    with np.errstate(invalid="ignore", divide="ignore"):
        run_three_ways(fetches, feed)
