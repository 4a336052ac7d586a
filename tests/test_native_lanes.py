"""Native lanes (backends/cpu_native.py): a plan with matmuls run whole in nogil Numba
functions calling NumPy's own BLAS (kernels/cpu/blas_call.py), bit for bit the step runner's
results, with the step runner as the fallback."""
import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from budget import SLOW
from pinn_case import matmul_plan, small_pinn

import numgrad as ng
from numgrad import config, threads
from numgrad.backends import cpu_native
from numgrad.compiler import emit_lane
from numgrad.kernels.cpu import blas_call

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

needs_blas = pytest.mark.skipif(not blas_call.available(), reason=blas_call.describe())

# (a shape, b shape, transpose_a, transpose_b): W6's kinds of product, gemm and gemv
PRODUCTS = [((40, 2), (2, 8), False, False), ((40, 8), (8, 8), False, True),
            ((40, 8), (40, 8), True, False), ((40, 8), (8, 1), False, False),
            ((40, 8), (40, 1), True, False), ((6, 5), (1, 5), False, True)]


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_into_is_numpys_matmul_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    for a_shape, b_shape, ta, tb in PRODUCTS:
        a = rng.standard_normal(a_shape).astype(dtype)
        b = rng.standard_normal(b_shape).astype(dtype)
        assert blas_call.supported(a_shape, b_shape, dtype, ta, tb)
        want = np.matmul(a.T if ta else a, b.T if tb else b)
        got = np.full(want.shape, np.nan, dtype)
        # read-only operands, as every caller hands them (blas_call's docstring)
        blas_call.matmul_into(blas_call.operand(a), blas_call.operand(b), got, ta, tb)
        assert np.array_equal(got, want), (a_shape, b_shape, ta, tb)


@needs_blas
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_acc_into_adds_the_product(dtype):
    rng = np.random.default_rng(5)
    for a_shape, b_shape, ta, tb in PRODUCTS:
        a = rng.standard_normal(a_shape).astype(dtype)
        b = rng.standard_normal(b_shape).astype(dtype)
        prod = np.matmul(a.T if ta else a, b.T if tb else b)
        start = rng.standard_normal(prod.shape).astype(dtype)
        got = start.copy()
        ra, rb = blas_call.operand(a), blas_call.operand(b)
        blas_call.matmul_acc_into(ra, rb, got, ta, tb)
        blas_call.matmul_acc_into(ra, rb, got, ta, tb)
        np.testing.assert_allclose(got, start + 2 * prod, rtol=1e-5 if dtype == np.float32
                                   else 1e-12, atol=1e-5 if dtype == np.float32 else 1e-12)


def test_supported_leaves_numpys_other_routines_to_numpy():
    f32 = np.float32
    assert not blas_call.supported((1, 8), (8, 8), f32, False, False)     # a row: gemv
    assert not blas_call.supported((8, 1), (1, 8), f32, False, False)     # k = 1: no BLAS
    assert not blas_call.supported((8, 0), (0, 8), f32, False, False)
    assert not blas_call.supported((8, 8), (8, 8), np.int32, False, False)
    assert not blas_call.supported((2, 8, 8), (8, 8), f32, False, False)
    assert blas_call.supported((8, 3), (3, 8), f32, False, False)


def test_lookup_reports_the_missing_symbol():
    class NoCblas:                      # a BLAS without NumPy's prefixed CBLAS names
        pass
    found, why = blas_call.lookup(NoCblas())
    assert found is None and "scipy_cblas_sgemm64_" in why


def _pinn(n=48, layers=(2, 5, 1), dtype=np.float32, seed=0):
    """A small W6's loss and gradients: (fetches, feed_dict)."""
    return small_pinn(n, layers, dtype, seed)[:2]



@pytest.fixture(scope="module")
def pinn():
    """One small W6 graph and a cpu Session (its kernels compile once for the module)."""
    graph = ng.Graph()
    with graph.as_default():
        fetches, feed = _pinn()
        sess = ng.Session(backend="cpu", graph=graph)
        sess.run(ng.global_variables_initializer())
    with config.override(NUMGRAD_NATIVE_PLAN="off", NUMGRAD_INTERPRET_CALLS=0):
        stepped = sess.run(fetches, feed)
    return sess, fetches, feed, stepped


@needs_blas
def test_a_w6_like_plan_runs_every_step_natively(pinn):
    sess, fetches, feed, _ = pinn
    plan = matmul_plan(sess)
    assert cpu_native.why_not(plan) is None
    kinds = {st.node.type for st in plan.steps if st.kind == "single"}
    assert "MatMul" in kinds and kinds <= {"MatMul", "ConcatV2", "SplitV", "Reshape"}
    deps = cpu_native.dependencies(plan)
    for n_lanes in (1, 2):
        lanes = cpu_native.schedule(deps, cpu_native.estimated_costs(plan), n_lanes)
        assert sorted(s for lane in lanes for s in lane) == list(range(len(plan.steps)))
        assert all(lanes), "a lane without steps"
        # every lane's order is the order of a serial run in which no lane waits for a
        # step that is not yet done: the steps' start times of the schedule sort them
        done, pos = set(), [0] * n_lanes
        while len(done) < len(plan.steps):
            moved = False
            for k, lane in enumerate(lanes):
                while pos[k] < len(lane) and set(deps[lane[pos[k]]]) <= done:
                    done.add(lane[pos[k]])
                    pos[k] += 1
                    moved = True
            assert moved, "the lanes wait for each other"


# Each lane count compiles the PINN's lanes anew (cold: 7 CPU s one lane, 14 two).  The default
# run takes two lanes, where values cross between them; one lane, NUMGRAD_SLOW=1.  The steps'
# code in a lane does not depend on the lane count, and a one-lane plan is compared bit for bit
# with the step runner by test_blocked_wgrad.py (one and two lanes) and scheduled here by
# test_a_w6_like_plan_runs_every_step_natively.
@needs_blas
@pytest.mark.parametrize("n_threads", [1, 2] if SLOW else [2])
def test_native_lanes_give_the_step_runners_results_bit_for_bit(pinn, n_threads):
    sess, fetches, feed, stepped = pinn
    old = threads.get_num_threads()
    threads.set_num_threads(n_threads)
    try:
        with config.override(NUMGRAD_NATIVE_PLAN="on", NUMGRAD_INTERPRET_CALLS=0):
            native = sess.run(fetches, feed)
            again = sess.run(fetches, feed)
    finally:
        threads.set_num_threads(old)
    choice = matmul_plan(sess)._native
    assert choice.native is not None and len(choice.native.lanes) == n_threads
    if n_threads == 2:
        assert choice.native.layout.arena_bytes > 0     # values cross between the lanes
    for a, b, c in zip(stepped, native, again):
        assert a.dtype == b.dtype and a.shape == b.shape
        assert np.array_equal(a, b) and np.array_equal(a, c)


@needs_blas
def test_cpu_native_lanes_match_the_numpy_backend(pinn):
    sess, fetches, feed, _ = pinn
    with config.override(NUMGRAD_NATIVE_PLAN="on", NUMGRAD_INTERPRET_CALLS=0):
        native = sess.run(fetches, feed)
    with ng.Session(backend="numpy", graph=sess.graph) as ref_sess:
        ref_sess.run(ng.global_variables_initializer())
        want = ref_sess.run(fetches, feed)
    for a, b in zip(native, want):
        np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6)


def test_without_native_blas_plans_keep_the_step_runner(pinn):
    sess, fetches, feed, stepped = pinn
    graph = ng.Graph()
    with graph.as_default():
        fetches2, feed2 = _pinn(seed=0)
        sess2 = ng.Session(backend="cpu", graph=graph)
        sess2.run(ng.global_variables_initializer())
    try:
        with config.override(NUMGRAD_NATIVE_BLAS=False, NUMGRAD_NATIVE_PLAN="on",
                             NUMGRAD_INTERPRET_CALLS=0):
            assert not blas_call.find()     # as if NumPy's BLAS had no such symbols
            got = sess2.run(fetches2, feed2)
            choice = matmul_plan(sess2)._native
            assert choice.reason is not None and "NUMGRAD_NATIVE_BLAS=0" in choice.reason
            assert choice.native is None
            assert "native lanes: no" in matmul_plan(sess2).summary()
    finally:
        blas_call.find()
    for a, b in zip(stepped, got):
        assert np.array_equal(a, b)


@needs_blas
def test_a_failing_lane_falls_back_to_the_step_runner():
    # x.T @ x of one buffer is NumPy's syrk case: the native matmul refuses it at run time,
    # the other lane stops at its next wait, and the step runner computes the call
    rng = np.random.default_rng(3)
    graph = ng.Graph()
    with graph.as_default():
        x = ng.placeholder(ng.float32, [32, 4])
        y = ng.tanh(ng.matmul(x, x, transpose_a=True))
        z = ng.matmul(ng.sin(x), ng.ones([4, 4]))
        out = [ng.reduce_sum(y), ng.reduce_sum(z * 2.0)]
        sess = ng.Session(backend="cpu", graph=graph)
    xv = rng.standard_normal((32, 4)).astype(np.float32)
    old = threads.get_num_threads()
    threads.set_num_threads(2)
    try:
        with config.override(NUMGRAD_NATIVE_PLAN="on", NUMGRAD_INTERPRET_CALLS=0):
            got = sess.run(out, {x: xv})
    finally:
        threads.set_num_threads(old)
    with ng.Session(backend="numpy", graph=graph) as ref:
        want = ref.run(out, {x: xv})
    np.testing.assert_allclose(got, want, rtol=1e-5)
    assert matmul_plan(sess)._native.native is not None


def test_lane_sources_name_every_step_once(pinn):
    sess = pinn[0]
    plan = matmul_plan(sess)
    if cpu_native.why_not(plan) is not None:
        pytest.skip(cpu_native.why_not(plan))
    lanes = cpu_native.schedule(cpu_native.dependencies(plan),
                                cpu_native.estimated_costs(plan), 2)
    lane_of = {s: k for k, lane in enumerate(lanes) for s in lane}
    layout = emit_lane.Layout(plan, [lane_of[i] for i in range(len(plan.steps))])
    sources = emit_lane.lane_sources(plan, plan.runners, lanes, layout)
    n_matmuls = sum(st.kind == "single" and st.node.type == "MatMul" for st in plan.steps)
    assert sum(src.count("matmul_into(") for src in sources.values()) == n_matmuls
    signalled = {s for s in range(len(plan.steps)) if f"mark_done(flags, np.int64({s})," in
                 "".join(sources.values())}
    waited = {s for s in range(len(plan.steps)) if f"wait_for(flags, np.int64({s})," in
              "".join(sources.values())}
    assert waited and waited <= signalled


@needs_blas
def test_the_native_matmuls_call_the_library_numgrads_blas_policy_controls():
    # blas_threads.begin() (one BLAS thread in numgrad's runs, issue 21) sets threadpoolctl's
    # controllers: the library native lanes call must be one of them
    from numgrad import blas_threads
    paths = [lc.filepath for lc in blas_threads.controllers()]
    assert blas_call.LIBRARY in paths
    blas_threads.begin()
    try:
        lc = next(lc for lc in blas_threads.controllers() if lc.filepath == blas_call.LIBRARY)
        assert lc.get_num_threads() == 1 or blas_threads.SETTING is not None
    finally:
        blas_threads.end()


# A tiny plan with matmuls in a fresh process, NUMGRAD_NATIVE_PLAN=auto with its size limit
# lifted: after BUILD_AFTER step-runner calls it has compile workers build its lanes.  The
# argument names what the process does besides (EXPLAIN, WORKERS): "off", first run the plan
# in a session of its own with NUMGRAD_BACKGROUND_COMPILE off (OFF_EXPLAIN, OFF_WORKERS);
# "wait", wait for the workers and run it again (AFTER); "new", then run a plan of other
# shapes, whose lanes no process compiled yet (NEW_EXPLAIN, NEW_WORKERS), and exit.
AUTO_SCRIPT = """
import sys, time
import numpy as np
import numgrad as ng
from numgrad import compile_workers, config
from numgrad.backends import cpu_native
cpu_native.AUTO_MIN_SECONDS = 0.0

def graph(rows):
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float32, [rows, 3])
        w = ng.constant(np.linspace(-1, 1, 12, dtype=np.float32).reshape(3, 4))
        y = ng.reduce_sum(ng.square(ng.matmul(ng.tanh(ng.matmul(x, w)), ng.transpose(w))))
    xv = np.linspace(0, 1, rows * 3, dtype=np.float32).reshape(rows, 3)
    return g, {x: xv}, y

def run(rows=16):
    g, feed, y = graph(rows)
    sess = ng.Session(backend="cpu", graph=g)
    for _ in range(cpu_native.BUILD_AFTER + 1):
        first = sess.run(y, feed)
    choice, = [cp._native for p in sess._plans.values() for cp in p._compiled.values()
               if getattr(cp, "_native", None) is not None]
    return lambda: sess.run(y, feed), first, choice

def show(prefix, choice):
    print(prefix + "EXPLAIN", choice.describe().replace("\\n", " |"))
    print(prefix + "WORKERS", [proc.pid for job in choice.jobs for proc, _ in job.procs])

if "off" in sys.argv[1]:
    with config.override(NUMGRAD_BACKGROUND_COMPILE=False):
        show("OFF_", run()[2])
again, first, choice = run()
show("", choice)
if "wait" in sys.argv[1]:
    compile_workers.wait_all()
    assert again() == first
    print("AFTER", choice.describe().replace("\\n", " |"))
if "new" in sys.argv[1]:
    show("NEW_", run(rows=24)[2])
print("EXIT", time.time(), flush=True)
"""


def _auto(cache_dir, how, row_lanes="off"):
    env = {**os.environ, "NUMGRAD_CACHE_DIR": str(cache_dir), "NUMGRAD_NATIVE_PLAN": "auto",
           "NUMGRAD_INTERPRET_CALLS": "0", "NUMGRAD_BACKGROUND_COMPILE": "1",
           "NUMGRAD_ROW_LANES": row_lanes,
           "PYTHONPATH": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(AUTO_SCRIPT), how],
                         capture_output=True, text=True, env=env, timeout=300)
    ended = time.time()
    assert out.returncode == 0, out.stdout + out.stderr
    lines = dict(line.split(" ", 1) for line in out.stdout.splitlines())
    return lines, ended - float(lines["EXIT"])


@needs_blas
def test_auto_compiles_lanes_in_workers_and_never_holds_up_an_exiting_script(tmp_path):
    # NUMGRAD_BACKGROUND_COMPILE off: auto compiles no lane (and starts no worker)
    out, _ = _auto(tmp_path, "off+wait")
    assert "not compiled (NUMGRAD_BACKGROUND_COMPILE=0" in out["OFF_EXPLAIN"], out
    assert out["OFF_WORKERS"] == "[]"
    # on, in the same process: the workers fill the cache and the plan loads the lanes ...
    assert out["EXPLAIN"].startswith("native lanes: compiling in a worker"), out
    assert eval(out["WORKERS"]), out
    assert " lane(s) of " in out["AFTER"], out
    # ... where a second process finds them at once, starting no worker
    out, exit_seconds = _auto(tmp_path, "new")
    assert " lane(s) of " in out["EXPLAIN"] and out["WORKERS"] == "[]", out
    # and a plan of other shapes has workers compile its lanes; the script ends meanwhile:
    # the workers die with it, no wait at exit
    assert out["NEW_EXPLAIN"].startswith("native lanes: compiling in a worker"), out
    workers = eval(out["NEW_WORKERS"])
    assert workers and exit_seconds < 30, (out, exit_seconds)
    for pid in workers:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


@needs_blas
def test_auto_builds_no_lanes_while_row_blocks_are_built_or_chosen(tmp_path):
    # the same plan can run as row blocks: their workers compile, the lanes' never start
    out, _ = _auto(tmp_path, "wait", row_lanes="auto")
    assert out["EXPLAIN"].startswith("native lanes: possible, not built yet |"), out
    assert "row blocks: possible, compiling in a worker" in out["EXPLAIN"] or \
        "row blocks: 2 thread(s) over 16 rows" in out["EXPLAIN"], out
    assert out["WORKERS"] == "[]", out
    assert out["AFTER"].startswith("native lanes: possible, not built yet |"), out
    assert "row blocks: 2 thread(s) over 16 rows" in out["AFTER"], out


def test_row_blocks_take_every_step_of_a_w6_like_plan_over_its_rows(pinn):
    from numgrad.compiler import row_blocks
    sess, fetches, feed, _ = pinn
    plan = matmul_plan(sess)
    rows, roles = row_blocks.classify(plan)
    assert rows == 48 and row_blocks.OTHER not in roles
    for st, role in zip(plan.steps, roles):
        ins, outs = emit_lane.step_values(st)
        over_rows = any(v.shape and v.shape[0] == 48 for v in ins + outs)
        if emit_lane.is_matmul(st) and st.node.attrs["transpose_a"]:
            assert role == row_blocks.REDUCE            # a weight gradient X^T @ dY
        elif emit_lane.is_matmul(st):
            assert role == row_blocks.ROW               # X @ W
        elif st.kind == "group" and any(0 in (r.attrs["axis"] or (0,)) for r in
                                        st.reductions):
            assert role == row_blocks.REDUCE            # bias gradients, the loss's mean
        else:
            assert role == (row_blocks.ROW if over_rows else row_blocks.OUTSIDE), st
    # the partial weight gradients are added after the block loop
    assert roles[-1] == row_blocks.OUTSIDE


def _roles_of(build, rows=48):
    """{label: role} of the steps build(x) labels ({label: (predicate of a step)})."""
    from numgrad.compiler import row_blocks
    rng = np.random.default_rng(4)
    graph = ng.Graph()
    with graph.as_default():
        x = ng.placeholder(ng.float32, [rows, 4])
        fetches, labels = build(x, ng.constant(rng.standard_normal((4, 4)).astype(np.float32)))
        sess = ng.Session(backend="cpu", graph=graph)
        with config.override(NUMGRAD_INTERPRET_CALLS=0):
            plan = sess._compiled_plan(fetches, {x: rng.standard_normal((rows, 4)).astype(
                np.float32)})
    _, roles = row_blocks.classify(plan, rows)
    return {label: [role for st, role in zip(plan.steps, roles) if pick(st)]
            for label, pick in labels.items()}


def _product(ta, tb):
    return lambda st: emit_lane.is_matmul(st) and \
        (st.node.attrs["transpose_a"], st.node.attrs["transpose_b"]) == (ta, tb)


def test_row_blocks_leave_products_that_mix_rows_to_the_lanes():
    from numgrad.compiler import row_blocks

    def build(x, w):
        h = ng.tanh(ng.matmul(x, w))
        return [ng.reduce_sum(ng.matmul(h, h, transpose_b=True)),
                ng.matmul(h, ng.cos(h), transpose_a=True)], \
            {"xw": _product(False, False), "gram": _product(False, True),
             "partial": _product(True, False)}
    assert _roles_of(build) == {"xw": [row_blocks.ROW], "gram": [row_blocks.OTHER],
                                "partial": [row_blocks.REDUCE]}


def test_row_blocks_sum_over_rows_but_nothing_else():
    from numgrad.compiler import row_blocks

    def build(x, w):
        h = ng.tanh(ng.matmul(x, w))
        return [ng.reduce_max(ng.sin(h), 0)], {"groups": lambda st: st.kind == "group"}
    assert _roles_of(build) == {"groups": [row_blocks.OTHER]}

    def build(x, w):
        e = ng.exp(ng.matmul(x, w))
        centred = e - ng.reduce_mean(e, 0)          # reads the mean over all rows
        return [ng.reduce_sum(centred * centred, 1)], \
            {"groups": lambda st: st.kind == "group"}
    roles = _roles_of(build)["groups"]
    assert roles[-1] == row_blocks.OTHER and row_blocks.ROW not in roles, roles
