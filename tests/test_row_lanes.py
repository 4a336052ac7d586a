"""Row-block plans (backends/cpu_rowblock.py, compiler/emit_rowblock.py): a plan's steps over
its rows run in blocks, taken in turn by every thread, with per-block partial sums; results
within float32 rounding of the NumPy backend and of finite differences, the same from call to
call and for any number of threads; blocks kept column by column (compiler/row_transpose.py)
or row by row alike."""
import numpy as np
import pytest
from pinn_case import small_pinn

import numgrad as ng
from numgrad import config, threads
from numgrad.backends import cpu_rowblock
from numgrad.compiler import emit_rowblock, row_blocks, row_transpose
from numgrad.kernels.cpu import blas_call, lane_sync

pytestmark = [pytest.mark.backend_independent,          # see tests/conftest.py
              pytest.mark.skipif(not blas_call.available(), reason=blas_call.describe())]

ROWS = 50               # in blocks of 8: six whole blocks and one of 2 rows
ROWS_ON = dict(NUMGRAD_ROW_LANES="on", NUMGRAD_NATIVE_PLAN="off", NUMGRAD_INTERPRET_CALLS=0)
OFF = dict(NUMGRAD_ROW_LANES="off", NUMGRAD_NATIVE_PLAN="off", NUMGRAD_INTERPRET_CALLS=0)


def _pinn(n=ROWS, layers=(2, 5, 1), seed=0):
    return small_pinn(n, layers, seed=seed)


def _choice(sess):
    """The row-block choice of the session's plan with matmuls."""
    plan, = [cp for p in sess._plans.values() for cp in p._compiled.values()
             if any(st.kind == "single" and st.node.type == "MatMul"
                    for st in getattr(cp, "steps", ()))]
    return plan, plan._native.rows


@pytest.fixture(scope="module")
def pinn():
    graph = ng.Graph()
    with graph.as_default():
        fetches, feed, params = _pinn()
        sess = ng.Session(backend="cpu", graph=graph)
        sess.run(ng.global_variables_initializer())
    with ng.Session(backend="numpy", graph=graph) as ref:
        ref.run(ng.global_variables_initializer())
        want = ref.run(fetches, feed)
    return sess, fetches, feed, params, want


def _run(sess, fetches, feed, n_threads, block=None, monkeypatch=None):
    old = threads.get_num_threads()
    threads.set_num_threads(n_threads)
    try:
        with config.override(**ROWS_ON):
            if block is not None:
                monkeypatch.setattr(cpu_rowblock, "BLOCK_ROWS", block)
                if sess._plans:
                    for p in sess._plans.values():
                        for cp in p._compiled.values():
                            rows = getattr(getattr(cp, "_native", None), "rows", None)
                            if rows is not None:
                                rows.lanes = None           # rebuilt for the new block
            return sess.run(fetches, feed), sess.run(fetches, feed)
    finally:
        threads.set_num_threads(old)


def _close(got, want, rtol=2e-4, atol=2e-6):
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=rtol, atol=atol)


def test_a_w6_like_plan_runs_as_row_blocks_matching_numpy(pinn, monkeypatch):
    sess, fetches, feed, _, want = pinn
    first, again = _run(sess, fetches, feed, 2, block=8, monkeypatch=monkeypatch)
    plan, choice = _choice(sess)
    assert choice.reason is None and choice.native is not None, choice.describe_own()
    made = choice.native
    assert made.completed == 2                  # neither call fell back to the steps
    assert (made.block, made.blocks, made.threads) == (8, 7, 2)
    assert "row blocks: 2 thread(s) over 50 rows in 7 blocks of 8" in plan.summary()
    _close(first, want)
    for a, b in zip(first, again):              # deterministic from call to call
        assert np.array_equal(a, b)
    with threads.limited(1):                    # one thread: its partial sums alone
        with config.override(**ROWS_ON):
            alone = sess.run(fetches, feed)
    assert choice.native.threads == 1
    for a, b in zip(alone, first):              # the same blocks, added in the same order
        assert np.array_equal(a, b)


def _row_groups(plan):
    found = row_blocks.analyse(plan)
    return found, [i for i, (st, role) in enumerate(zip(plan.steps, found.roles))
                   if st.kind == "group" and role in (row_blocks.ROW, row_blocks.REDUCE)]


def _second_derivative_mlp(seed=3):
    """A PINN's op types on the smallest graph: a one-input tanh MLP u(x), u_x and u_xx by
    ng.gradients, the mean square of u_xx + u u_x; (loss, feed)."""
    rng = np.random.default_rng(seed)
    x = ng.placeholder(np.float32, [ROWS, 1])
    w0, b0, w1 = (ng.Variable((scale * rng.normal(size=shape)).astype(np.float32))
                  for shape, scale in (((1, 5), 1.0), ((1, 5), 0.1), ((5, 1), 1.0)))
    u = ng.matmul(ng.tanh(ng.matmul(x, w0) + b0), w1)
    u_x = ng.gradients(u, x)[0]
    u_xx = ng.gradients(u_x, x)[0]
    loss = ng.reduce_mean(ng.square(u_xx + u * u_x))
    return loss, {x: rng.uniform(-1, 1, (ROWS, 1)).astype(np.float32)}


def test_blocks_kept_column_by_column_match_blocks_kept_row_by_row():
    # the PINN's op types (matmuls over the rows, tanh and its first and second derivatives,
    # a sum over the rows) in both layouts, on a graph whose two row-block plan functions
    # compile in 6.7 CPU s cold; the PINN's own loss-and-gradients plan row by row took 11
    # (the slow test below)
    graph = ng.Graph()
    with graph.as_default():
        loss, feed = _second_derivative_mlp()
        sess = ng.Session(backend="cpu", graph=graph)
        sess.run(ng.global_variables_initializer())
    with ng.Session(backend="numpy", graph=graph) as ref:
        ref.run(ng.global_variables_initializer())
        want = ref.run(loss, feed)
    got = {}
    old = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        for columns in (True, False):
            with config.override(**ROWS_ON, NUMGRAD_ROW_COLUMNS=columns):
                got[columns] = sess.run(loss, feed)
            plan, choice = _choice(sess)
            made = choice.native
            assert made is not None and made.completed == 1, choice.describe_own()
            assert made.columns == columns
            found, groups = _row_groups(plan)
            two_d = [i for i in groups if len(plan.steps[i].space) == 2]
            assert two_d and sorted(made.transposed) == (two_d if columns else [])
            np.testing.assert_allclose(got[columns], want, rtol=2e-4)
            choice.native, choice.lanes = None, None    # rebuilt in the other layout
    finally:
        threads.set_num_threads(old)
    np.testing.assert_allclose(got[True], got[False], rtol=2e-5)   # the sums in another order


@pytest.mark.slow
@pytest.mark.skipif(not config.get("NUMGRAD_SLOW"), reason="the row-by-row layout of the "
                    "PINN's residual is compared above; NUMGRAD_SLOW=1 compiles the fixture's")
def test_the_pinn_gradients_kept_row_by_row_match_column_by_column(pinn, monkeypatch):
    sess, fetches, feed, _, want = pinn
    got, _ = _run(sess, fetches, feed, 2, block=8, monkeypatch=monkeypatch)
    plan, choice = _choice(sess)
    by_columns = choice.native
    found, groups = _row_groups(plan)
    assert by_columns.columns and sorted(by_columns.transposed) == [
        i for i in groups if len(plan.steps[i].space) == 2]
    with config.override(NUMGRAD_ROW_COLUMNS=False):
        by_rows = cpu_rowblock.RowPlan(plan, 2, block=8)
    assert not by_rows.columns and not by_rows.transposed
    old = threads.get_num_threads()
    threads.set_num_threads(2)
    choice.native = by_rows
    try:
        with config.override(**ROWS_ON):
            rows_got = sess.run(fetches, feed)
    finally:
        choice.native = by_columns
        threads.set_num_threads(old)
    assert by_rows.completed == 1
    _close(rows_got, want)
    _close(got, rows_got, rtol=2e-5, atol=1e-7)     # the same sums in another order


def test_a_transposed_group_runs_over_columns_then_rows(pinn):
    sess, *_ = pinn
    plan, _ = _choice(sess)
    found, groups = _row_groups(plan)
    rows = found.rows
    summed = [i for i in groups if plan.steps[i].reductions]
    assert summed                               # the bias gradients: sums over the rows
    for i in groups:
        st = plan.steps[i]
        tr = row_transpose.transpose_group(st)
        g = tr.group
        assert g.space == (st.space[1], rows)
        assert [tr.plan_value[v.id] for v in g.loads] == list(st.loads)
        assert [tr.plan_value[v.id] for v in g.outputs] == list(st.outputs)
        for v in g.loads:
            want = tr.plan_value[v.id].shape
            want = (1,) + want if len(want) == 1 else want
            assert v.shape == want[::-1]
        for r, t in zip(st.reductions, g.reductions):
            assert tr.plan_value[t.outputs[0].id] is r.outputs[0]
            if r.attrs.get("axis") is not None:     # over the rows: now the last axis
                assert r.attrs["axis"] == (0,) and t.attrs["axis"] == (1,)
        assert len(g.nodes) == len(st.nodes)


def test_a_fetched_row_value_with_several_columns_keeps_blocks_row_by_row():
    rng = np.random.default_rng(6)
    graph = ng.Graph()
    with graph.as_default():
        x = ng.placeholder(ng.float32, [ROWS, 4])
        h = ng.tanh(ng.matmul(x, ng.constant(rng.standard_normal((4, 3)).astype(np.float32))))
        out = ng.reduce_sum(ng.matmul(h, h, transpose_a=True))
        sess = ng.Session(backend="cpu", graph=graph)
        with config.override(NUMGRAD_INTERPRET_CALLS=0):
            plan = sess._compiled_plan([out, h], {x: rng.standard_normal((ROWS, 4)).astype(
                np.float32)})
    found = row_blocks.analyse(plan)
    assert emit_rowblock.why_not(plan, plan.runners, found) is None
    fetched = {v.id for v in plan._fetch_values}
    assert row_transpose.why_not(plan, found, fetched) == \
        "a fetched row value with several columns"
    assert row_transpose.why_not(plan, found, set()) is None   # x is copied block by block


def test_a_row_reduction_without_keepdims_makes_a_row_value():
    # reduce_max(h, 1) is (rows,): a row value, so the sum over the rows that reads it is a
    # partial sum of the block loop (both layouts)
    rng = np.random.default_rng(7)
    graph = ng.Graph()
    with graph.as_default():
        x = ng.placeholder(ng.float32, [ROWS, 3])
        h = ng.tanh(ng.matmul(x, ng.constant(rng.standard_normal((3, 4)).astype(np.float32))))
        m = ng.reduce_max(h, 1)
        out = ng.reduce_sum(ng.square(m)) + ng.reduce_sum(ng.matmul(h, h, transpose_a=True))
        sess = ng.Session(backend="cpu", graph=graph)
    xv = rng.standard_normal((ROWS, 3)).astype(np.float32)
    with ng.Session(backend="numpy", graph=graph) as ref:
        want = ref.run(out, {x: xv})
    for columns in (True, False):
        with config.override(**ROWS_ON, NUMGRAD_ROW_COLUMNS=columns):
            got = sess.run(out, {x: xv})
        plan, choice = _choice(sess)
        found = row_blocks.analyse(plan)
        assert row_blocks.OTHER not in found.roles
        assert choice.native is not None and choice.native.completed >= 1, choice.describe_own()
        assert choice.native.columns == columns
        np.testing.assert_allclose(got, want, rtol=1e-5)
        choice.native, choice.lanes = None, None    # rebuilt in the other layout


def test_scratch_arrays_start_at_staggered_offsets_and_never_overlap():
    row_bytes = np.array([80] * 20 + [4, 8], np.int64)
    block = 512
    offsets = lane_sync.slot_offsets(block, row_bytes)
    starts, total = offsets[:-1], offsets[-1]
    ends = starts + block * row_bytes
    assert np.all(ends[:-1] <= starts[1:]) and ends[-1] + 64 <= total
    in_page = starts % lane_sync.PAGE
    assert len(set(in_page.tolist())) == len(starts)        # no two at one page offset
    assert np.all(in_page % 64 == 0)                        # cache-line aligned


@pytest.mark.parametrize("n_threads,block,blocks", [
    (1, 16, 4),                                 # the last block short
    (2, 64, 1),                                 # one block for two threads
    (2, 1, ROWS),                               # one row a block
])
def test_row_blocks_for_any_split_of_the_rows(pinn, monkeypatch, n_threads, block, blocks):
    sess, fetches, feed, _, want = pinn
    monkeypatch.setattr(cpu_rowblock, "block_rows", lambda rows, n: block)
    got, again = _run(sess, fetches, feed, n_threads, block=block, monkeypatch=monkeypatch)
    made = _choice(sess)[1].native
    assert made.blocks == blocks and made.completed == 2
    _close(got, want)
    for a, b in zip(got, again):
        assert np.array_equal(a, b)


def test_row_block_gradients_match_finite_differences(pinn, monkeypatch):
    sess, fetches, feed, params, _ = pinn
    got, _ = _run(sess, fetches, feed, 2, block=8, monkeypatch=monkeypatch)
    rng = np.random.default_rng(1)
    with config.override(**ROWS_ON):
        for p, grad in zip(params, got[1:]):
            value = sess.run(p)
            for idx in [tuple(rng.integers(0, d) for d in value.shape) for _ in range(2)]:
                h = 1e-2 * max(1.0, abs(float(value[idx])))
                losses = []
                for step in (h, -h):
                    moved = value.copy()
                    moved[idx] += step
                    p.load(moved, sess)
                    # the whole fetch, not the loss alone: the plan compiled above,
                    # not a second (forward-only) row-block plan to compile
                    losses.append(float(sess.run(fetches, feed)[0]))
                p.load(value, sess)
                fd = (losses[0] - losses[1]) / (2 * h)
                assert abs(fd - grad[idx]) <= 2e-2 * max(abs(fd), 1e-2), (p.name, idx, fd,
                                                                           grad[idx])


def _mlp_fit(seed=2):
    """Adam fitting a one-hidden-layer tanh MLP u(t, x) to sin(3 x) t over the rows: Adam's
    step, the loss and the residual f (a fetched value over the rows); (fetches, feed,
    params).  A train plan like W6's (matmuls over the rows, sums over them, the updates after
    the block loop) without the PINN's input derivatives: the row-block plan function it
    compiles is a third smaller (12 against 18 CPU s cold)."""
    rng = np.random.default_rng(seed)
    t, x = ng.placeholder(np.float32, [ROWS, 1]), ng.placeholder(np.float32, [ROWS, 1])
    params = [ng.Variable((rng.normal(size=shape) * scale).astype(np.float32))
              for shape, scale in (((2, 5), 0.7), ((1, 5), 0.1), ((5, 1), 0.45), ((1, 1), 0.1))]
    h = ng.tanh(ng.matmul(ng.concat([t, x], 1), params[0]) + params[1])
    f = ng.matmul(h, params[2]) + params[3] - ng.sin(3.0 * x) * t
    loss = ng.reduce_mean(ng.square(f))
    feed = {t: rng.uniform(0, 1, (ROWS, 1)).astype(np.float32),
            x: rng.uniform(-1, 1, (ROWS, 1)).astype(np.float32)}
    return [ng.train.AdamOptimizer(0.01).minimize(loss), loss, f], feed, params


def test_adam_steps_as_row_blocks_match_numpy():
    graph = ng.Graph()
    with graph.as_default():
        fetches, feed, params = _mlp_fit()
        init = ng.global_variables_initializer()
        sess = ng.Session(backend="cpu", graph=graph)
        ref = ng.Session(backend="numpy", graph=graph)
    sess.run(init)
    ref.run(init)
    old = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        with config.override(**ROWS_ON):
            got = [sess.run(fetches, feed)[1:] for _ in range(3)]
    finally:
        threads.set_num_threads(old)
    _, choice = _choice(sess)
    assert choice.native is not None and choice.native.completed == 3, choice.describe_own()
    want = [ref.run(fetches, feed)[1:] for _ in range(3)]
    for (loss, f), (want_loss, want_f) in zip(got, want):
        np.testing.assert_allclose(loss, want_loss, rtol=2e-4)
        assert f.shape == (ROWS, 1)             # written block by block into the fetch
        np.testing.assert_allclose(f, want_f, rtol=2e-4, atol=1e-6)
    _close(sess.run(params), ref.run(params), rtol=2e-4, atol=1e-5)


def test_a_plan_with_another_step_over_the_rows_keeps_its_lanes():
    rng = np.random.default_rng(4)
    graph = ng.Graph()
    with graph.as_default():
        x = ng.placeholder(ng.float32, [ROWS, 4])
        w = ng.constant(rng.standard_normal((4, 4)).astype(np.float32))
        h = ng.tanh(ng.matmul(x, w))
        out = ng.reduce_sum(ng.matmul(h, h, transpose_b=True))      # mixes rows: OTHER
        sess = ng.Session(backend="cpu", graph=graph)
    xv = rng.standard_normal((ROWS, 4)).astype(np.float32)
    with config.override(**ROWS_ON):
        got = sess.run(out, {x: xv})
    _, choice = _choice(sess)
    assert choice.native is None
    assert "neither row-local nor a sum" in choice.describe_own()
    with ng.Session(backend="numpy", graph=graph) as ref:
        np.testing.assert_allclose(got, ref.run(out, {x: xv}), rtol=1e-4)


def test_a_value_made_from_a_sum_over_the_rows_is_complete_only_after_them():
    # x * rsqrt(mean(x^2, 0)): the rsqrt is outside the rows but made from their sum, so
    # the product that reads it cannot run in the same block loop
    rng = np.random.default_rng(5)
    graph = ng.Graph()
    with graph.as_default():
        x = ng.placeholder(ng.float32, [ROWS, 4])
        h = ng.matmul(x, ng.constant(rng.standard_normal((4, 4)).astype(np.float32)))
        scale = ng.math.rsqrt(ng.reduce_mean(ng.square(h), 0, keepdims=True) + 1.0)
        out = ng.matmul(h * scale, ng.ones([4, 2]))
        sess = ng.Session(backend="cpu", graph=graph)
        with config.override(NUMGRAD_INTERPRET_CALLS=0):
            plan = sess._compiled_plan([out], {x: rng.standard_normal((ROWS, 4)).astype(
                np.float32)})
    found = row_blocks.analyse(plan)
    assert row_blocks.OTHER in found.roles
    assert emit_rowblock.why_not(plan, plan.runners, found) is not None
