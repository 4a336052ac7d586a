"""The cpu backend's compiler: same results as the NumPy reference, fusion as designed,
deterministic reductions, thread- and fork-safety, and the on-disk kernel cache."""
import os
import shutil
import subprocess
import sys
import textwrap
import threading

import numpy as np
import pytest

import numgrad as ng
from numgrad.compiler.layout import PARALLEL_MIN

from budget import cover, examples
from plan_checks import check_plan

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def both(fetches, feed_dict=None):
    """Run with the numpy reference and the cpu backend; return both results."""
    ref = ng.Session(backend="numpy").run(fetches, feed_dict)
    out = ng.Session(backend="cpu").run(fetches, feed_dict)
    return ref, out


def assert_same(ref, out, rtol):
    if isinstance(ref, (list, tuple)):
        for r, o in zip(ref, out):
            assert_same(r, o, rtol)
        return
    r, o = np.asarray(ref), np.asarray(out)
    assert r.shape == o.shape and r.dtype == o.dtype
    np.testing.assert_allclose(o, r, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(r), initial=0))))


def w1_graph(dtype):
    x, w, b = (ng.placeholder(dtype, [None]) for _ in range(3))
    loss = ng.reduce_sum(ng.tanh(x * w + b) ** 2 + ng.exp(-x * x) * ng.sin(w))
    return [loss] + ng.gradients(loss, [x, w, b]), (x, w, b)


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("n", [7, PARALLEL_MIN + 13])
def test_w1_matches_reference(dtype, rtol, n, rng):
    fetches, (x, w, b) = w1_graph(dtype)
    feed = {x: rng.random(n).astype(dtype), w: rng.random(n).astype(dtype),
            b: rng.random(n).astype(dtype)}
    ref, out = both(fetches, feed)
    assert_same(ref, out, rtol)


def test_w1_forward_and_backward_fuse_into_one_kernel():
    fetches, (x, w, b) = w1_graph(np.float64)
    check_plan(fetches, {x: np.ones(10), w: np.ones(10), b: np.ones(10)}, steps=1, kernels=1,
               has_kernel=dict(reductions=1, outputs=3))


_REDUCES = [ng.reduce_sum, ng.reduce_mean, ng.reduce_max, ng.reduce_min, ng.reduce_prod]
_REDUCE_AXES = [(None, False), (0, False), (1, True), ((0, 2), False), (-1, False), ([], False)]
# Each cell compiles its own forward and gradient kernels: the default run takes each reduction
# on two of the axis lists and each axis list on one or two reductions (10 of 30 cells;
# tests/test_gradients_numeric.py checks every reduction's gradient on every axis list against
# finite differences), NUMGRAD_SLOW=1 every cell.
_REDUCE_CELLS = [(r, a, k) for r, (a, k) in cover(_REDUCES, _REDUCE_AXES, per_row=2)]


@pytest.mark.parametrize("reduce,axis,keepdims", _REDUCE_CELLS,
                         ids=[f"{r.__name__}-{a}-{k}" for r, a, k in _REDUCE_CELLS])
def test_reductions_over_any_axes_match(reduce, axis, keepdims, rng):
    v = rng.random((5, 4, 3)) + 0.5
    x = ng.placeholder(ng.float64, [None, 4, 3])
    y = reduce(ng.exp(x) * 2.0, axis=axis, keepdims=keepdims)
    g, = ng.gradients(ng.reduce_sum(y * y), x)
    ref, out = both([y, g], {x: v})
    assert_same(ref, out, 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_large_reduction_over_dim0_parallel_is_deterministic(dtype, rng):
    # float32 sums go through block buffers, float64 ones accumulate in vector registers
    # (vecmath._radd): both give the same bits whatever the number of threads.
    v = rng.standard_normal((PARALLEL_MIN // 8, 16)).astype(dtype)
    x = ng.placeholder(dtype, v.shape)
    y = [ng.reduce_sum(x * x, axis=0), ng.reduce_max(x, axis=1), ng.reduce_mean(x),
         ng.reduce_sum(ng.exp(x), axis=1), ng.reduce_sum(ng.reshape(x, [-1]) * 0.5)]
    sess = ng.Session(backend="cpu")
    results = []
    try:
        for n in (1, 2, 3):
            ng.set_num_threads(n)
            results.append(sess.run(y, {x: v}))
    finally:
        ng.set_num_threads(os.cpu_count() or 1)
    for r in results[1:]:
        for a, b in zip(results[0], r):
            np.testing.assert_array_equal(a, b)
    assert_same(ng.Session(backend="numpy").run(y, {x: v}), results[0],
                1e-5 if dtype == np.float32 else 1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_big_sums_accumulate_in_vector_registers(dtype, rng, switches):
    # A float64 sum over a big loop is accumulated with vecmath._radd (a reassociable add:
    # the loop vectorises with partial sums in registers); a float32 one accumulates a
    # float32 partial sum per block the same way, added to its float64 accumulator after
    # each block, so the loop keeps its 8-wide vectors.  No block buffers.  Both agree with
    # NumPy, and with the block buffers of NUMGRAD_REGISTER_SUMS=0 to a few ulp.
    import inspect
    v = rng.standard_normal((64, PARALLEL_MIN // 32)).astype(dtype)
    x = ng.placeholder(dtype, v.shape)
    y = [ng.reduce_sum(ng.tanh(x) * x), ng.reduce_mean(x * x, axis=1)]
    sess = ng.Session(backend="cpu")
    out = sess.run(y, {x: v})
    (plan,) = [cp for p in sess._plans.values() for cp in p._compiled.values()]
    source = "".join(inspect.getsource(r.kernel.py_func) for r in plan.runners
                     if hasattr(r, "kernel"))
    assert ("= vm._radd(r" in source) == (dtype == np.float64), source
    assert ("= vm._radd(x" in source) == (dtype == np.float32), source
    assert "np.empty(256" not in source, source
    switches(REGISTER_SUMS=False)
    buffered = ng.Session(backend="cpu").run(y, {x: v})
    ref = ng.Session(backend="numpy").run(y, {x: v})
    eps = np.finfo(dtype).eps
    for o, b, r in zip(out, buffered, ref):
        assert_same([r], [o], 1e-5 if dtype == np.float32 else 1e-12)
        np.testing.assert_allclose(o, b, rtol=64 * eps)


def test_broadcasting_and_int_and_bool_ops(rng):
    a = ng.placeholder(ng.float64, [None, 1, 3])
    b = ng.placeholder(ng.float64, [4, 1])
    i = ng.placeholder(ng.int32, [None])
    c = ng.where_v2(a > b, ng.maximum(a, b), ng.minimum(a, -b))
    s = ng.reduce_sum(c, axis=[0, 2])
    ints = [i // 3, ng.truncatemod(i, 3), i * i - 7, ng.reduce_max(i), ng.reduce_mean(i),
            ng.cast(i, ng.float32) * 0.5, ng.logical_and(i > 0, i < 5)]
    feed = {a: rng.standard_normal((2, 1, 3)), b: rng.standard_normal((4, 1)),
            i: np.array([-7, -1, 0, 4, 9], np.int32)}
    ref, out = both([c, s] + ints + ng.gradients(s, [a, b]), feed)
    assert_same(ref, out, 1e-12)


def test_nan_and_inf_propagate_like_numpy():
    x = ng.placeholder(ng.float64, [None])
    ys = [ng.maximum(x, 0.0), ng.minimum(x, 0.0), ng.reduce_max(x), ng.reduce_min(x),
          ng.nn.relu(x), ng.sign(x), ng.exp(x), ng.log(x), ng.tanh(x), ng.sqrt(x)]
    v = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -2.0])
    ref, out = both(ys, {x: v})
    for r, o in zip(ref, out):
        np.testing.assert_array_equal(np.isnan(o), np.isnan(r))
        np.testing.assert_array_equal(np.where(np.isnan(r), 0, o), np.where(np.isnan(r), 0, r))


def test_data_dependent_shapes_fall_back_to_numpy():
    x = ng.placeholder(ng.float64, [None])
    idx = ng.where(x > 0)
    ref, out = both([idx, ng.reduce_sum(x)], {x: np.array([1.0, -1.0, 2.0])})
    np.testing.assert_array_equal(ref[0], out[0])


def test_feeding_new_shapes_replans(rng):
    x = ng.placeholder(ng.float64, [None, None])
    y = ng.reduce_sum(ng.sin(x), axis=1)
    sess = ng.Session(backend="cpu")
    for shape in [(2, 3), (5, 1), (0, 4), (3, 3)]:
        v = rng.random(shape)
        np.testing.assert_allclose(sess.run(y, {x: v}), np.sin(v).sum(axis=1), rtol=1e-12)


def test_one_session_shared_by_eight_threads(rng):
    x = ng.placeholder(ng.float64, [None])
    fetches = [ng.reduce_sum(ng.exp(x)), ng.gradients(ng.reduce_sum(ng.tanh(x) ** 2), x)[0],
               ng.reduce_max(x * 3.0), x * x]
    expected = [lambda v: np.exp(v).sum(), lambda v: 2 * np.tanh(v) * (1 - np.tanh(v) ** 2),
                lambda v: (v * 3).max(), lambda v: v * v]
    sess = ng.Session(backend="cpu")
    errors = []

    def worker(k):
        r = np.random.default_rng(k)
        try:
            for it in range(15):
                j = (k + it) % len(fetches)
                v = r.random(PARALLEL_MIN + 100 * k if it % 3 == 0 else 50)
                np.testing.assert_allclose(sess.run(fetches[j], {x: v}), expected[j](v),
                                           rtol=1e-10)
        except Exception as e:   # noqa: BLE001  (reported below)
            errors.append(e)
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_uses_parent_session():
    x = ng.placeholder(ng.float64, [None])
    y = ng.reduce_sum(ng.exp(x))
    sess = ng.Session(backend="cpu")
    v = np.linspace(0, 1, PARALLEL_MIN + 1)
    parent = sess.run(y, {x: v})
    pid = os.fork()
    if pid == 0:   # child: a parallel kernel must run and agree
        try:
            ok = abs(sess.run(y, {x: v}) - parent) <= 1e-9 * abs(parent)
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0


def _run_script(code, cache_dir):
    env = dict(os.environ, NUMGRAD_CACHE_DIR=str(cache_dir), NUMGRAD_BACKEND="cpu")
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, env=env, timeout=300)


_CACHE_SCRIPT = """
    import numpy as np, numgrad as ng
    x = ng.placeholder(ng.float64, [None])
    ys = [ng.reduce_sum(ng.square(x) * 3.0 + 1.25), ng.reduce_max(ng.exp(-x) * 2.0)]
    for y in ys[:KERNELS]:
        s = ng.Session()
        value = s.run(y, {x: np.arange(5.0)})
        plan = list(s._plans.values())[0].compiled([np.arange(5.0)])
        kernel = plan.runners[0].kernel
        stats = kernel.stats
        print(repr(float(value)), sum(stats.cache_hits.values()),
              sum(stats.cache_misses.values()), kernel.py_func.__module__)
"""
_CACHE_VALUES = (3.0 * 30 + 1.25 * 5, 2.0)


def _cache_script(kernels=2):
    """_CACHE_SCRIPT running its first `kernels` graphs."""
    return _CACHE_SCRIPT.replace("KERNELS", str(kernels))


def _cache_lines(out, kernels=2):
    """[(value, hits, misses, kernel module)] of _CACHE_SCRIPT's kernels."""
    assert out.returncode == 0, out.stderr
    rows = [line.split() for line in out.stdout.splitlines()[:kernels]]
    return [(float(v), int(h), int(m), mod) for v, h, m, mod in rows]


@pytest.fixture(scope="module")
def _compiled_cache(tmp_path_factory):
    """A cache directory _CACHE_SCRIPT compiled its two kernels into, in a process of its own;
    (directory, the kernels' module names)."""
    cache_dir = tmp_path_factory.mktemp("compiled_cache")
    lines = _cache_lines(_run_script(_cache_script(), cache_dir))
    assert [v for v, _, _, _ in lines] == list(_CACHE_VALUES)
    assert [(h, m) for _, h, m, _ in lines] == [(0, 1), (0, 1)]   # compiled, nothing to load
    return cache_dir, [mod for _, _, _, mod in lines]


def test_second_process_loads_kernels_and_rebuilds_a_corrupt_entry(_compiled_cache, tmp_path):
    # One process: the first kernel's entry is intact (loaded from the disk cache, nothing
    # compiled), the second's is truncated (rebuilt, the right value).
    compiled, modules = _compiled_cache
    cache_dir = shutil.copytree(compiled, tmp_path / "cache")
    assert all(p.name.startswith("numgrad_k_") for p in cache_dir.glob("*.py"))
    corrupt = cache_dir / f"{modules[1]}.py"
    whole = corrupt.read_text()
    corrupt.write_text(whole[:40])                  # truncated entry
    (value, hits, misses, _), (rebuilt, _, _, _) = _cache_lines(_run_script(_cache_script(),
                                                                            cache_dir))
    assert value == _CACHE_VALUES[0] and (hits, misses) == (1, 0)
    assert rebuilt == _CACHE_VALUES[1]
    assert corrupt.read_text() == whole


def test_unusable_cache_dir_warns_and_still_runs(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    out = _run_script(_cache_script(kernels=1), blocker / "cache")
    assert [v for v, _, _, _ in _cache_lines(out, kernels=1)] == [_CACHE_VALUES[0]]
    assert "unusable" in out.stderr


def test_set_num_threads_validates():
    with pytest.raises(ValueError):
        ng.set_num_threads(0)
    old = ng.get_num_threads()
    ng.set_num_threads(1)
    assert ng.get_num_threads() == 1
    ng.set_num_threads(old)


# --- random elementwise/reduction graphs: compiled == reference --------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_UNARY = [ng.tanh, ng.sin, ng.exp, lambda t: ng.log1p(t * t), ng.sigmoid, ng.square, ng.negative]
_BINARY = [ng.add, ng.subtract, ng.multiply, ng.maximum, lambda a, b: a / (1.5 + ng.abs(b))]


@st.composite
def _programs(draw):
    big = draw(st.booleans())
    rows = draw(st.sampled_from([3, 64])) if not big else 300
    cols = draw(st.sampled_from([1, 5, 128]))
    steps = draw(st.lists(st.tuples(st.integers(0, len(_UNARY) - 1),
                                    st.integers(0, len(_BINARY) - 1),
                                    st.integers(0, 10 ** 6)), min_size=1, max_size=5))
    reduce_axis = draw(st.sampled_from([None, 0, 1, (0, 1)]))
    return rows, cols, steps, reduce_axis


@settings(max_examples=examples(6, 12), deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(_programs())
def test_random_fused_graphs_match_reference(program):
    rows, cols, steps, axis = program
    ng.reset_default_graph()
    x = ng.placeholder(ng.float64, [None, cols])
    v = ng.placeholder(ng.float64, [cols])
    terms = [x, v * 1.0]
    for u, b, pick in steps:
        a = terms[pick % len(terms)]
        c = terms[(pick // 7) % len(terms)]
        terms.append(_BINARY[b](_UNARY[u](a), c))
    y = terms[-1] + x * 0.0
    loss = ng.reduce_sum(ng.reduce_mean(y, axis=axis) ** 2)
    fetches = [loss, ng.reduce_max(y, axis=axis)] + [g for g in ng.gradients(loss, [x, v]) if g is not None]
    r = np.random.default_rng(len(steps))
    feed = {x: r.standard_normal((rows, cols)), v: r.standard_normal(cols)}
    ref, out = both(fetches, feed)
    assert_same(ref, out, 1e-9)


def test_hot_small_plan_becomes_one_fused_call(switches, rng):
    switches(FUSED_CALL_AFTER=2)
    a = ng.placeholder(ng.float64, [8])
    b = ng.placeholder(ng.float64, [8])
    t = ng.tanh(a * b) + ng.sigmoid(a - b) * 0.5
    loss = ng.reduce_sum(t * t) + ng.reduce_mean(ng.exp(-b * b))
    fetches = [loss, ng.ones_like(a)] + ng.gradients(loss, [a, b])
    sess = ng.Session(backend="cpu")
    f = sess.make_callable(fetches, [a, b])
    ref = ng.Session(backend="numpy").make_callable(fetches, [a, b])
    for _ in range(5):
        va, vb = rng.standard_normal(8), rng.standard_normal(8)
        assert_same(ref(va, vb), f(va, vb), 1e-12)
    compiled = [cp for plan in sess._plans.values() for cp in plan._compiled.values()]
    assert any(cp.fused_call for cp in compiled), "the plan should switch to one fused call"
    # The hot kernels use vecmath (vectorised) instead of libm; still the reference numbers.
    va, vb = rng.standard_normal(8), rng.standard_normal(8)
    assert_same(ref(va, vb), f(va, vb), 1e-12)


def test_make_callable_fast_path_returns_owned_fresh_results(switches, rng):
    switches(FUSED_CALL_AFTER=2)
    x = ng.placeholder(ng.float64, [None])
    y = ng.exp(x) * 2.0
    fetches = [ng.reduce_sum(y), y, ng.identity(x), ng.reshape(x, [-1, 1])]
    f = ng.Session(backend="cpu").make_callable(fetches, [x])
    ref = ng.Session(backend="numpy").make_callable(fetches, [x])
    for n in (3, 3, 3, 3, 5, 5, 5, 3):
        vx = rng.standard_normal(n)
        out = f(vx)
        assert_same(ref(vx), out, 1e-12)
        assert np.ndim(out[0]) == 0 and not isinstance(out[0], np.ndarray)
        assert not np.shares_memory(out[2], vx) and not np.shares_memory(out[3], vx)
        out[1][:] = 0.0                                   # the caller owns its results
        assert_same(ref(vx), f(vx), 1e-12)
    # Feeds the fast path does not take (lists, other dtypes, strided views) still work.
    assert_same(ref([1.0, 2.0, 3.0]), f([1.0, 2.0, 3.0]), 1e-12)
    assert_same(ref(np.arange(3, dtype=np.float32)), f(np.arange(3, dtype=np.float32)), 1e-6)
    strided = rng.standard_normal(6)[::2]
    assert_same(ref(strided), f(strided), 1e-12)
    with pytest.raises(ValueError, match="Placeholder"):
        f(np.ones((2, 2)))


def test_hot_plan_fills_output_arrays_its_caller_allocates(switches, rng):
    # A hot plan function fills the fetched arrays it computes instead of returning them
    # (Numba's boxing of a returned array costs more than NumPy allocating it): 2-D, bool,
    # int and float outputs, a view of one fetched beside it, one fetched twice (the same array
    # twice, as TF returns it), an output that a later kernel also reads.  Every call gets new
    # arrays of its own, on both the make_callable and the run paths.
    switches(FUSED_CALL_AFTER=2)
    x = ng.placeholder(ng.float64, [3, 4])
    k = ng.placeholder(ng.int32, [3, 4])
    y = ng.exp(x) * 2.0
    s = ng.reduce_sum(y, axis=1)
    fetches = [y, ng.reshape(y, [12]), x > 0.5, k * 3, s, s * s, ng.reduce_max(k), k * 3]
    sess = ng.Session(backend="cpu")
    f = sess.make_callable(fetches, [x, k])
    ref = ng.Session(backend="numpy").make_callable(fetches, [x, k])
    seen = []
    for i in range(6):
        vx = rng.standard_normal((3, 4))
        vk = rng.integers(-9, 9, (3, 4)).astype(np.int32)
        for out in (f(vx, vk), sess.run(fetches, {x: vx, k: vk})):
            want = ref(vx, vk)
            assert_same(want, out, 1e-12)
            assert [o.dtype for o in out] == [w.dtype for w in want]
            for o in out:
                if isinstance(o, np.ndarray):
                    assert o.flags.writeable and not any(np.shares_memory(o, p) for p in seen)
            seen.extend(o for o in out if isinstance(o, np.ndarray))
            out[0][:] = 0.0         # the caller owns its results
    compiled = [cp for plan in sess._plans.values() for cp in plan._compiled.values()]
    fused = [cp.fused_call for cp in compiled if cp.fused_call]
    assert fused and len(fused[0][3]) >= 3, "the fetched arrays should be given to the plan"


def test_two_fetched_tensors_that_cse_merges_are_still_two_arrays(switches, rng):
    # k * 3 written twice is one value in the plan; the NumPy backend computes two arrays and
    # so must every path of the cpu backend (a caller writing into one must not change the
    # other).  The same tensor fetched twice is one array, as in TF and the NumPy backend.
    switches(FUSED_CALL_AFTER=3)
    k = ng.placeholder(ng.int32, [40000])       # above PARALLEL_MIN: the step runner
    small = ng.placeholder(ng.int32, [4])       # a fused plan function once hot
    for feed in (k, small):
        a, b = feed * 3, feed * 3
        sess = ng.Session(backend="cpu")
        f = sess.make_callable([a, b, a], [feed])
        for _ in range(6):
            v = rng.integers(-9, 9, feed.shape.as_list()).astype(np.int32)
            for out in (f(v), sess.run([a, b, a], {feed: v})):
                np.testing.assert_array_equal(out[0], v * 3)
                np.testing.assert_array_equal(out[1], v * 3)
                assert not np.shares_memory(out[0], out[1])
                assert out[2] is out[0]


@pytest.mark.backend_independent(False)    # ng.function runs on NUMGRAD_BACKEND
def test_function_plugs_into_scipy_minimize():
    optimize = pytest.importorskip("scipy.optimize")
    x = ng.placeholder(ng.float64, [2])
    a, b = x[0], x[1]
    loss = (1.0 - a) ** 2 + 100.0 * (b - a * a) ** 2
    grad, = ng.gradients(loss, x)
    f = ng.function([x], (loss, grad))
    value, g = f(np.array([-1.2, 1.0]))
    np.testing.assert_allclose(g, [-215.6, -88.0], rtol=1e-12)
    res = optimize.minimize(f, np.array([-1.2, 1.0]), jac=True, method="BFGS")
    np.testing.assert_allclose(res.x, [1.0, 1.0], atol=1e-4)


@pytest.mark.parametrize("inner", [1, 3, 8, 9])
def test_tiny_innermost_dims_pairwise_like_lennard_jones(inner):
    # Pairwise (i, j, xyz) spaces big enough to run chunked: the innermost dim is unrolled
    # with a literal trip count (<= 8), and reductions over each axis must still be exact.
    n = 120
    r = np.random.default_rng(inner)
    p = ng.placeholder(ng.float64, [n, inner])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    r2 = ng.reduce_sum(d * d, axis=2) + 1.0
    e = ng.reduce_sum(1.0 / r2)
    fetches = [e, ng.reduce_sum(d * r2[:, :, None], axis=0), ng.reduce_max(d, axis=1),
               ng.reduce_sum(d, axis=[0, 1]), ng.gradients(e, p)[0]]
    ref, out = both(fetches, {p: r.standard_normal((n, inner))})
    assert_same(ref, out, 1e-11)


def test_commutative_products_are_one_value_and_big_constant_math_is_folded(rng):
    n = 5000                                            # above the small-fold limit
    a = ng.placeholder(ng.float64, [n])
    b = ng.placeholder(ng.float64, [n])
    mask = ng.constant(np.eye(1, n)[0])             # eye(n)'s first row
    y = ng.reduce_sum(a * b + b * a * (1.0 - mask))
    feed = {a: rng.standard_normal(n), b: rng.standard_normal(n)}
    # b*a is a*b; (1 - mask) is computed once, when planning.
    check_plan(y, feed, has_kernel=dict(loads=3, outputs=0, reductions=1, stages=1, lanes=None,
                                        gathers=0, ops=["Mul", "Mul", "AddV2", "Sum"]))
    ref, out = both(y, feed)
    assert_same(ref, out, 1e-12)


@pytest.mark.parametrize("case", ["recomputed_input_not_stored", "recompute_order"])
def test_recomputed_producers_match_numpy(case):
    # Producers recomputed in later fused groups (fuse._recomputable): found by the examples.
    m = ng.placeholder(ng.float64, [2], name="m")
    ls = ng.placeholder(ng.float64, [2], name="ls")
    x = ng.placeholder(ng.float64, [3], name="x")
    if case == "recomputed_input_not_stored":
        # was: AttributeError 'NoneType' object has no attribute 'shape' (x - m never stored)
        z = ng.expand_dims(x, 1) - m + 0 * ls
        y = ng.reduce_sum(ng.log(ng.reduce_sum(z * z, axis=1)))
    else:
        # was: gradients halved (a recomputed Mul read its recomputed Sub input before it ran)
        z = (ng.expand_dims(x, 1) - m) * ng.exp(-ls)
        y = ng.reduce_sum(ng.log(ng.reduce_sum(ng.exp(-0.5 * z * z), axis=1)))
    fetches = [y, z] + ng.gradients(y, [m, ls])
    feed = {m: np.array([0.5, -1.0]), ls: np.array([0.1, -0.2]), x: np.array([1.0, 2.0, 3.0])}
    want = ng.Session(backend="numpy").run(fetches, feed)
    got = ng.Session(backend="cpu").run(fetches, feed)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)


def test_kernel_source_does_not_depend_on_what_was_emitted_before():
    # The cache key is the source: the same structure must give the same module, however
    # many kernels (with vecmath calls) the process emitted before it.
    from numgrad.compiler.emit_cpu import emit_group
    sources = []
    for n in (5000, 6000, 5000):
        ng.reset_default_graph()
        fetches, (x, w, b) = w1_graph(np.float32)
        sess = ng.Session(backend="cpu")
        feed = {x: np.ones(n, np.float32), w: np.ones(n, np.float32), b: np.ones(n, np.float32)}
        sess.run(fetches, feed)
        plan = next(iter(sess._plans.values())).compiled(list(feed.values()))
        sources.append(emit_group(plan.steps[0]).source)
    assert "vmc.tanh_f32(" in sources[0]      # the vectorisable vecmath is called
    assert sources[0] == sources[1] == sources[2]


def test_kernels_index_arrays_with_unsigned_counters():
    # A signed index makes Numba emit a wraparound select per access, which made LLVM guard
    # the loop with whole-array alias checks: kernels ran 2-6x slower whenever two arrays
    # were adjacent in memory (benchmarks/output_alloc_anomaly.py).  Every array subscript
    # in an emitted kernel must use the unsigned counters u<k>, never the loop variables.
    import re
    from numgrad.compiler.emit_cpu import emit_group
    n = PARALLEL_MIN + 13
    x = ng.placeholder(ng.float64, [n // 13, 13])
    y = ng.reduce_sum(ng.exp(x) * ng.reduce_mean(x, axis=1, keepdims=True), axis=0)
    fetches = [y] + ng.gradients(ng.reduce_sum(y), [x])
    sess = ng.Session(backend="cpu")
    feed = np.ones((n // 13, 13))
    sess.run(fetches, {x: feed})
    plan = next(iter(sess._plans.values())).compiled([feed])
    groups = [s for s in plan.steps if s.kind == "group"]
    assert groups
    for g in groups:
        src = emit_group(g).source
        subscripts = re.findall(r"\b[awqpb]\d+\[([^\]]*)\]", src)
        assert subscripts, src
        for sub in subscripts:
            signed = re.sub(r"np\.uint64\([^()]*\)", "", sub)
            assert not re.search(r"\bi\d+\b", signed), f"signed loop counter in [{sub}]:\n{src}"


def test_adjacent_feeds_and_row_reductions_match_numpy(rng):
    # Feeds that are neighbouring slices of one buffer (what once took the slow path), and
    # row reductions of every kind, which store each output element once (no identity fill).
    rows, cols = 300, 257
    buf = rng.standard_normal(2 * rows * cols + 3)
    buf[5] = np.nan
    buf[rows * cols + 7] = -0.0
    a_val = buf[:rows * cols].reshape(rows, cols)
    b_val = buf[rows * cols:2 * rows * cols].reshape(rows, cols)
    a = ng.placeholder(ng.float64, [rows, cols])
    b = ng.placeholder(ng.float64, [rows, cols])
    z = a * b - 0.5
    fetches = [ng.reduce_sum(z, axis=1), ng.reduce_max(z, axis=1), ng.reduce_min(z, axis=1),
               ng.reduce_prod(z * 0.1 + 1.0, axis=1), ng.reduce_mean(z, axis=1, keepdims=True),
               a * b, ng.reduce_sum(ng.reshape(z, [rows, cols, 1]) * ng.ones([1, 1, 2],
                                                                     ng.float64), axis=2)]
    ref, out = both(fetches, {a: a_val, b: b_val})
    for r, o in zip(ref, out):
        np.testing.assert_allclose(o, r, rtol=1e-12, equal_nan=True)


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int32])
def test_lane_folded_block_reductions_match_numpy(dtype, rng):
    # Block-buffered reductions fold in 8 lanes plus a tail (emit_cpu._lane_combine): sizes
    # that are not multiples of 8 or of the block, NaN landing in one lane, every kind.
    for rows, cols in [(PARALLEL_MIN // 300 + 1, 300), (3, PARALLEL_MIN + 13)]:
        x_val = (rng.standard_normal((rows, cols)) * 3).astype(dtype)
        if dtype != np.int32:
            x_val[1, 13] = np.nan
        x = ng.placeholder(dtype, [rows, cols])
        y = x * 1 if dtype == np.int32 else x * 0.5 + 1.0
        small = ng.cast(ng.abs(x) < 2, dtype) * y + 1 if dtype == np.int32 else \
            ng.tanh(x) * 0.001 + 1.0      # a product of 30K factors: keep it normal
        fetches = [ng.reduce_sum(y, axis=1), ng.reduce_max(y, axis=1), ng.reduce_min(y, axis=1),
                   ng.reduce_mean(y, axis=1), ng.reduce_prod(small, axis=1), ng.reduce_sum(y)]
        ref, out = both(fetches, {x: x_val})
        rtol = 1e-5 if dtype == np.float32 else 1e-12
        for r, o in zip(ref, out):
            assert r.dtype == o.dtype
            np.testing.assert_allclose(o, r, rtol=rtol, equal_nan=True)


def test_make_callable_lean_fast_path_and_its_fallbacks(switches, rng):
    # All fetches fresh arrays of the plan function, in order: the lean path returns its list
    # directly (scalars for 0-d).  Anything not exactly the compiled types goes the
    # validating way: other dtypes, byte orders, strides, lists, new shapes.
    switches(FUSED_CALL_AFTER=2)
    x = ng.placeholder(ng.float64, [None])
    w = ng.placeholder(ng.float64, [None])
    y = ng.tanh(x * w)
    for fetches in ([ng.reduce_sum(y), y * 3.0], {"loss": ng.reduce_sum(y), "g": y * 3.0}):
        f = ng.Session(backend="cpu").make_callable(fetches, [x, w])
        ref = ng.Session(backend="numpy").make_callable(fetches, [x, w])
        def as_list(r):
            return [r["loss"], r["g"]] if isinstance(fetches, dict) else r
        for _ in range(6):
            vx, vw = rng.standard_normal(4), rng.standard_normal(4)
            got, want = f(vx, vw), ref(vx, vw)
            assert isinstance(got, type(fetches))
            got, want = as_list(got), as_list(want)
            assert np.ndim(got[0]) == 0 and not isinstance(got[0], np.ndarray)
            assert_same(want, got, 1e-12)
        vx, vw = rng.standard_normal(4), rng.standard_normal(4)
        for bx in (vx.astype(">f8"), vx.astype(np.float32).astype(np.float64), list(vx),
                   np.repeat(vx, 2)[::2], vx):
            got = f(bx, vw)
            assert_same(as_list(ref(np.asarray(bx, np.float64), vw)), as_list(got), 1e-12)
        assert_same(as_list(ref(np.ones(7), np.ones(7))), as_list(f(np.ones(7), np.ones(7))), 1e-12)
        with pytest.raises(ValueError):
            f(np.ones(3), np.ones(4))


@pytest.mark.parametrize("dtype,rtol", [(np.float64, 1e-12), (np.float32, 2e-5)])
def test_native_softmax_kernels_match_numpy(dtype, rtol, rng):
    # numgrad/kernels/cpu/softmax.py replaces the NumPy computes of Softmax, LogSoftmax and
    # SoftmaxCrossEntropyWithLogits on the cpu backend (last axis); rows with inf, -inf and
    # NaN must come out as NumPy's do, other axes fall back, and gradients agree.
    from numgrad.kernels.cpu import OPAQUE
    assert {"Softmax", "LogSoftmax", "SoftmaxCrossEntropyWithLogits"} <= set(OPAQUE)
    v = (rng.standard_normal((6, 2, 7)) * 3).astype(dtype)
    v[0, 0, 3] = np.inf
    v[1, 1, :] = -np.inf
    v[2, 0, 5] = np.nan
    v[3, 1, 0] = -np.inf
    labels = rng.random((12, 7)).astype(dtype)
    labels /= labels.sum(axis=1, keepdims=True)
    x = ng.placeholder(dtype, v.shape)
    flat = ng.reshape(x, [12, 7])
    xent = ng.nn.softmax_cross_entropy_with_logits_v2(labels=ng.constant(labels), logits=flat)
    fetches = [ng.nn.softmax(x), ng.nn.log_softmax(x), ng.nn.softmax(x, axis=1), xent]
    ref, out = both(fetches, {x: v})
    for r, o in zip(ref, out):
        assert r.dtype == o.dtype and r.shape == o.shape
        np.testing.assert_allclose(o, r, rtol=rtol, atol=rtol, equal_nan=True)
    finite = np.where(np.isfinite(v), v, 0.5)
    loss = ng.reduce_sum(xent) + ng.reduce_sum(ng.nn.softmax(x) * ng.nn.log_softmax(x))
    ref, out = both([loss] + ng.gradients(loss, [x]), {x: finite})
    assert_same(ref, out, rtol * 10)


def test_diagonal_constants_become_a_shared_mask(rng):
    # eye(n) and 1 - eye(n) (and folded products of them) read by elementwise ops become
    # where(mask, d, o) over one boolean eye mask; a matmul's eye, a NaN diagonal and other
    # patterns stay as they are.  Values always match the reference.
    from numgrad.compiler.lower import DIAGONAL_MIN
    n = int(np.sqrt(DIAGONAL_MIN)) + 3
    x = ng.placeholder(ng.float64, [n, n])
    eye = np.eye(n)
    nan_diag = np.ones((n, n))
    np.fill_diagonal(nan_diag, np.nan)
    not_diag = np.eye(n)
    not_diag[0, 1] = 2.0
    y = ng.reduce_sum((x + eye) * (1.0 - eye) * 3.0)
    fetches = [y, ng.gradients(y, x)[0], x * nan_diag, x * not_diag, ng.matmul(x, eye)]
    v = rng.standard_normal((n, n))
    ref, out = both(fetches, {x: v})
    for r, o in zip(ref, out):
        np.testing.assert_allclose(o, r, rtol=1e-12, equal_nan=True)
    sess = ng.Session(backend="cpu")
    sess.run(fetches, {x: v})
    plan = next(iter(sess._plans.values())).compiled([v])
    groups = [s for s in plan.steps if s.kind == "group"]
    loaded = [u for g in groups for u in g.loads if u.const is not None and u.shape == (n, n)]
    masks = [u for u in loaded if u.dtype == np.bool_]
    assert len(masks) == 1                                  # one shared eye mask
    floats = [u for u in loaded if u.dtype == np.float64]
    assert len(floats) == 2, [u.name for u in floats]       # the NaN and the 2.0 patterns
    assert any(s.kind == "single" and s.node.type == "MatMul" and
               s.node.inputs[1].const is not None for s in plan.steps)


# n = 120: 120 * 120 * 3 >= PARALLEL_MIN, chunked.  Each cell compiles its own kernels: the
# default run takes float64 serial and float32 chunked, NUMGRAD_SLOW=1 all four.
_TINY_INNER_CELLS = [(n, dtype, rtol) for (dtype, rtol), n in
                     cover([(np.float64, 1e-12), (np.float32, 1e-5)], [7, 120])]


@pytest.mark.parametrize("n,dtype,rtol", _TINY_INNER_CELLS,
                         ids=[f"{d.__name__}-{n}" for n, d, _ in _TINY_INNER_CELLS])
def test_sums_keeping_a_tiny_inner_dim_accumulate_in_lane_registers(n, dtype, rtol, rng):
    # W5's force sums: over j of f(i, j) * d[i, j, xyz].  The xyz loop is unrolled in the
    # source and each coordinate accumulates in a register (r<j>_<lane>), not in memory.
    from numgrad.compiler.emit_cpu import emit_group
    p = ng.placeholder(dtype, [n, 3])
    d = ng.expand_dims(p, 1) - ng.expand_dims(p, 0)
    w = ng.reduce_sum(d * d, axis=2, keepdims=True)
    f1 = ng.reduce_sum(d * ng.tanh(w), axis=1)               # keeps i, xyz
    f0 = ng.reduce_max(d * w, axis=0)                         # keeps j, xyz
    fxyz = ng.reduce_sum(ng.expand_dims(p, 0) * ng.sin(w), axis=[0, 1])   # keeps xyz only
    loss = ng.reduce_sum(f1 * f1) + ng.reduce_sum(f0) + ng.reduce_sum(fxyz)
    fetches = [f1, f0, fxyz] + ng.gradients(loss, [p])
    feed = {p: rng.standard_normal((n, 3)).astype(dtype)}
    ref, out = both(fetches, feed)
    assert_same(ref, out, rtol)
    sess = ng.Session(backend="cpu")
    sess.run(fetches, feed)
    plan = next(iter(sess._plans.values())).compiled([feed[p]])
    sources = [emit_group(s).source for s in plan.steps if s.kind == "group"]
    assert any("r0_2 = " in src or "r1_2 = " in src for src in sources), "\n".join(sources)


def test_plan_function_checks_its_own_feeds_so_hot_calls_skip_python_checks(switches, rng):
    # The fused plan function has an explicit signature (no new specialisations) and checks
    # its feed shapes; make_callable then calls it first with no Python-side checks and falls
    # back to the validating path on FeedSignatureMiss (other shapes) or TypeError (other
    # types), which also stops the unchecked first try for good.
    from numgrad.errors import FeedSignatureMiss
    switches(FUSED_CALL_AFTER=2)
    x = ng.placeholder(ng.float64, [None])
    w = ng.placeholder(ng.float64, [None])
    loss = ng.reduce_sum(ng.tanh(x * w) * x)
    fetches = [loss] + ng.gradients(loss, [x, w])
    sess = ng.Session(backend="cpu")
    f = sess.make_callable(fetches, [x, w])
    ref = ng.Session(backend="numpy").make_callable(fetches, [x, w])
    vx, vw = rng.standard_normal(5), rng.standard_normal(5)
    for _ in range(4):
        assert_same(ref(vx, vw), f(vx, vw), 1e-12)
    plan_fn, _, out_ids, out_allocs = [cp for p in sess._plans.values()
                                       for cp in p._compiled.values() if cp.fused_call][0].fused_call
    # The two gradients are output arrays the caller allocates; the loss comes back.
    assert [s for s, _ in out_allocs] == [(5,), (5,)]
    assert out_ids[0][0] == 0 and sorted(i for i, _, _, _ in out_ids[1:]) == [-3, -2]
    outs = [np.empty(s, d) for s, d in out_allocs]
    with pytest.raises(FeedSignatureMiss):
        plan_fn(np.ones(6), np.ones(6), *outs)
    with pytest.raises(TypeError):
        plan_fn(np.ones(5, np.float32), np.ones(5), *outs)
    with pytest.raises(TypeError):
        plan_fn(np.ones(10)[::2], np.ones(5), *outs)
    loss_value, = plan_fn(vx, vw, *outs)
    got = [np.float64(loss_value)] + [outs[-2 - i] for i, _, _, _ in out_ids[1:]]
    assert_same(ref(vx, vw), got, 1e-12)
    assert len(plan_fn.signatures) == 1
    read_only = vx.copy()
    read_only.flags.writeable = False
    raw = np.zeros(5 * 8 + 1, np.uint8)
    unaligned = raw[1:].view(np.float64)
    unaligned[:] = vx
    assert not unaligned.flags.aligned
    # new shapes, back, read-only, unaligned, then other dtypes/strides, then the hot shape
    for a, b in [(np.ones(3), np.ones(3)), (vx, vw), (np.ones(3), np.ones(3)), (read_only, vw),
                 (unaligned, vw), (vx, vw), (vx.astype(np.float32), vw), (vx[::-1][::-1], vw),
                 (list(vx), vw), (np.repeat(vx, 2)[::2], vw), (vx, vw)]:
        assert_same(ref(np.asarray(a, np.float64), b), f(a, b), 1e-12)
    with pytest.raises(ValueError, match="Placeholder"):
        f(np.ones(3), np.ones((3, 1)))
    assert_same(ref(vx, vw), f(vx, vw), 1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_division_of_a_negative_constant_shares_the_positive_one(dtype, rng):
    # (-c) / y is planned as -(c / y), exact in IEEE arithmetic, so with c / y already in
    # the graph (the gradient of c / y is ((-c) / y) / y) one division goes.  Results are
    # bit-identical to NumPy's, zeros, infinities and NaNs included.
    y = ng.placeholder(dtype, [40])
    inv = 2.0 / (y * y)
    loss = ng.reduce_sum(inv) + ng.reduce_sum(-3.0 / y) + ng.reduce_sum(3.0 / y)
    fetches = [inv, -2.0 / y, ng.gradients(loss, y)[0], ng.constant(np.full(40, -5.0, dtype)) / y]
    v = rng.standard_normal(40).astype(dtype)
    v[:4] = [0.0, -0.0, np.inf, np.nan]
    sess = ng.Session(backend="cpu")
    out = sess.run(fetches, {y: v})
    ref = ng.Session(backend="numpy").run(fetches, {y: v})
    for r, o in zip(ref, out):
        assert r.dtype == o.dtype
        np.testing.assert_array_equal(o, r)
    plan = next(iter(sess._plans.values())).compiled([v])
    divisions = [n for s in plan.steps if s.kind == "group" for n in s.nodes
                 if n.type == "RealDiv"]
    # 2 / y^2 (shared by the gradient's -2 / y^2), 2 / y (for -2 / y), 3 / y (shared by
    # -3 / y and by the gradient of -3 / y), 5 / y, and the gradients' second divisions
    # (-(2 / y^2)) / y^2, (3 / y) / y and (-(3 / y)) / y: 7, where 9 were written.
    assert len(divisions) == 7, [n.name for n in divisions]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_of_a_reciprocal_squares_it_instead_of_dividing_again(dtype, rng):
    # TF's gradient of 1 / y is ((-1) / y) / y; the plan computes it as -((1 / y)**2) from the
    # forward pass's 1 / y: one division per element where there were two.  Within 2 ulp of
    # NumPy's two divisions, and equal on every special value (zeros, subnormals whose
    # reciprocal overflows, infinities, NaN, huge values whose square underflows).
    y = ng.placeholder(dtype, [64])
    r3 = y * y * y
    inv = 1.0 / r3
    loss = ng.reduce_sum(inv * inv - inv)
    fetches = [inv, ng.gradients(loss, y)[0], (1.0 / y) / y, -(1.0 / y) / y]
    info = np.finfo(dtype)
    v = (rng.standard_normal(64) + 2.0).astype(dtype)
    v[:10] = [0.0, -0.0, np.inf, -np.inf, np.nan, info.tiny / 8, -info.tiny / 8,
              info.max / 2, np.sqrt(info.max), 1.0 / np.sqrt(info.tiny)]
    sess = ng.Session(backend="cpu")
    out = sess.run(fetches, {y: v})
    ref = ng.Session(backend="numpy").run(fetches, {y: v})
    ulp = info.eps
    for r, o in zip(ref, out):
        assert r.dtype == o.dtype
        np.testing.assert_array_equal(np.isnan(o), np.isnan(r))
        np.testing.assert_array_equal(np.isinf(o) * np.sign(o), np.isinf(r) * np.sign(r))
        np.testing.assert_array_equal(o == 0, r == 0)
        finite = np.isfinite(r) & (r != 0) & (np.abs(r) >= info.tiny)
        np.testing.assert_allclose(o[finite], r[finite], rtol=4 * ulp, atol=0)
    plan = next(iter(sess._plans.values())).compiled([v])
    divisions = [n for s in plan.steps if s.kind == "group" for n in s.nodes
                 if n.type == "RealDiv"]
    # 1 / y^3 and 1 / y: every other division became a square of one of them.
    assert len(divisions) == 2, [n.name for n in divisions]

def test_hot_scalar_results_keep_their_numpy_types(switches, rng):
    # The fused plan function returns fresh 0-d results as Python scalars (cheaper to box);
    # callers still get NumPy scalars of the fetch's dtype, on every path.
    switches(FUSED_CALL_AFTER=2)
    x = ng.placeholder(ng.float32, [6])
    k = ng.placeholder(ng.int32, [6])
    fetches = [ng.reduce_sum(x * x), ng.reduce_sum(k * 3), ng.greater(ng.reduce_sum(x), 3.0),
               ng.reduce_max(ng.cast(k, ng.int64)), x * 2.0]
    sess = ng.Session(backend="cpu")
    f = sess.make_callable(fetches, [x, k])
    ref = ng.Session(backend="numpy").make_callable(fetches, [x, k])
    for _ in range(5):
        vx, vk = rng.random(6).astype(np.float32), rng.integers(-9, 9, 6).astype(np.int32)
        for got in (f(vx, vk), sess.run(fetches, {x: vx, k: vk})):
            want = ref(vx, vk)
            for g, w in zip(got, want):
                assert type(g) is type(w), (type(g), type(w))
                np.testing.assert_allclose(g, w, rtol=1e-6)
    assert any(cp.fused_call for p in sess._plans.values() for cp in p._compiled.values())
