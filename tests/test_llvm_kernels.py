"""Fused kernels translated straight to LLVM IR (compiler/llvm_translate.py, backends/cpu_llvm.py)
against the same kernels compiled by Numba: the same results, bit for bit, except sums a
vectorised loop accumulates in registers (their partial sums' order is the loop's interleave,
which the two compilers may choose differently: last bits)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import cache
from numgrad.backends import cpu_llvm, cpu_runners
from numgrad.compiler import llvm_translate

# the cpu backend's kernels, whatever NUMGRAD_BACKEND says (tests/conftest.py)
pytestmark = [pytest.mark.skipif(not cpu_llvm.usable(), reason="LLVM kernels switched off"),
              pytest.mark.backend_independent]


def _numba_kernel(source):
    return cache.load(source, "kernel")


@pytest.fixture
def compared(monkeypatch):
    """Every fused kernel call also runs the Numba kernel on copies of its arguments; yields
    the list of (source, llvm args, numba args) to check."""
    seen = []
    original = cpu_runners.GroupRunner._run_kernel

    def run(self, args):
        full = list(self.head) + list(args)
        copies = [a.copy() if isinstance(a, np.ndarray) else a for a in full]
        original(self, args)
        assert isinstance(self.kernel, cpu_llvm.Kernel)
        _numba_kernel(self._source)(*copies)
        seen.append((self._source, self.kernel, full, copies))

    monkeypatch.setattr(cpu_runners.GroupRunner, "_run_kernel", run)
    return seen


def _params(source):
    import ast
    fn = next(n for n in ast.parse(source).body if isinstance(n, ast.FunctionDef))
    return [a.arg for a in fn.args.args]


def _check(seen, translated_at_least=1):
    """Outputs equal bit for bit; register sums (`vm._radd`) to a few ulp."""
    n_translated = 0
    for source, kernel, ours, theirs in seen:
        n_translated += any(fn is not None for fn in kernel._by_types.values())
        params = _params(source)
        names = params if len(params) == len(ours) else ["mode", "c0", "c1"] + params[3:]
        register_sums = "vm._radd" in source
        for name, a, b in zip(names, ours, theirs):
            if not isinstance(a, np.ndarray):
                continue
            if register_sums and name[0] in "qp" and a.dtype.kind == "f":
                eps = np.finfo(a.dtype).eps
                np.testing.assert_allclose(a, b, rtol=64 * eps,
                                           atol=64 * eps * float(np.abs(b).max(initial=0)),
                                           err_msg=f"{name} of\n{source}")
            else:
                assert a.tobytes() == b.tobytes(), f"{name} differs: {a} vs {b}\n{source}"
    assert n_translated >= translated_at_least


BIG = 40000          # above PARALLEL_MIN / VECTOR_MIN: chunked, vectorised kernels


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_vecmath_elementwise_and_reductions_match_numba(compared, dtype):
    rng = np.random.default_rng(1)
    x = ng.placeholder(dtype, [200, BIG // 200])
    y = ng.placeholder(dtype, [BIG // 200])
    z = x * y - ng.reduce_mean(x, axis=1, keepdims=True)
    fetches = [ng.tanh(z) + ng.exp(-z * z), ng.log(1 + ng.exp(z)), ng.sigmoid(z) / (1 + x * x),
               ng.reduce_sum(ng.sin(z), axis=0), ng.reduce_max(z, axis=1),
               ng.reduce_sum(ng.sqrt(ng.abs(z)) * ng.cos(x)), ng.erf(z) - ng.atan(z)]
    fetches += ng.gradients(ng.reduce_sum(ng.log1p(ng.exp(z)) * ng.expm1(-ng.abs(x))), [x, y])
    xv = rng.standard_normal(x.shape.as_list()).astype(dtype)
    yv = rng.standard_normal(y.shape.as_list()).astype(dtype)
    with ng.Session(backend="cpu") as s:
        s.run(fetches, {x: xv, y: yv})
    _check(compared)


@pytest.mark.parametrize("shape", [(7,), (5, 9), (BIG,)])
def test_integer_bool_and_select_kernels_match_numba(compared, shape):
    rng = np.random.default_rng(2)
    a = ng.placeholder(ng.int32, shape)
    b = ng.placeholder(ng.int64, shape)
    f = ng.placeholder(ng.float32, shape)
    fetches = [ng.floordiv(ng.cast(a, ng.int64), b), ng.floormod(ng.cast(a, ng.int64), b),
               ng.where(f > 0.5, ng.cast(a, ng.float32) * f, -f),
               ng.cast(ng.logical_and(f > 0.2, a < 3), ng.float32) + f,
               ng.reduce_sum(a), ng.reduce_prod(ng.cast(b, ng.float64) * 0.5 + 1.0),
               ng.cast(f * 7.9, ng.int32) + a, ng.reduce_min(f), ng.maximum(f, 0.3) - ng.minimum(f, 0.6)]
    av = rng.integers(-9, 9, shape).astype(np.int32)
    bv = rng.integers(1, 5, shape) * rng.choice([-1, 1], shape)
    fv = rng.standard_normal(shape).astype(np.float32)
    fv.reshape(-1)[:3] = [np.nan, np.inf, -0.0]
    with ng.Session(backend="cpu") as s:
        for fetch in fetches:           # a kernel each (the translator may refuse one)
            s.run(fetch, {a: av, b: bv, f: fv})
    _check(compared, translated_at_least=5)


def test_workloads_match_numba(compared):
    import numgrad.bench as b
    for name in ("W2", "W5"):
        ng.reset_default_graph()
        fetches, feeds, data = b.WORKLOADS[name][0](ng)
        ng.Session(backend="cpu").make_callable(fetches, feeds)(*data)
    _check(compared, translated_at_least=5)


# --- the translator alone, on hand-written kernels -------------------------------------------
_HEADER = ("import math\n\nimport numpy as np\nfrom numba import njit\n\n"
           "import numgrad.kernels.vecmath as vm\n\n\n@njit(cache=False, error_model='numpy')\n")


def _both(body, *args):
    """(translated, Numba) results of the kernel `body` on copies of `args`."""
    source = _HEADER + body
    k = cpu_llvm.Kernel(source)
    ours = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    theirs = [a.copy() if isinstance(a, np.ndarray) else a for a in args]
    tys = tuple(llvm_translate.numba_type_of(a) for a in ours)
    assert k.for_types(tys) is not None, "the translator refused it"
    k(*ours)
    ns = {}
    exec(compile(source, "<kernel>", "exec"), ns)
    ns["kernel"](*theirs)
    return ours, theirs


def test_python_semantics_of_integers_and_floats():
    body = '''def kernel(n, a, b, out, fo):
    for i in range(n):
        x = a[i]
        y = b[i]
        out[i, 0] = x // y
        out[i, 1] = x % y
        out[i, 2] = (x >> 1) + (x << 2) - (x & 6) + (x | 1) + (x ^ 3)
        out[i, 3] = abs(x) if x < y else -x
        fo[i, 0] = x / y
        fo[i, 1] = np.float32(x) * 2 + 0.5
        z = 0.0
        for k in range(5, 0, -2):
            z = z + k * fo[i, 0]
        fo[i, 2] = z
        t = 1
        if x > 0:
            t = 2.5
        fo[i, 3] = t
        fo[i, 4] = np.uint64(i) + np.int64(1)
'''
    a = np.array([7, -7, 7, -7, 0, np.iinfo(np.int64).min, 5], np.int64)
    b = np.array([2, 2, -2, -2, 3, -1, 0], np.int64)
    ours, theirs = _both(body, len(a), a, b, np.zeros((7, 4), np.int64), np.zeros((7, 5)))
    for x, y in zip(ours[3:], theirs[3:]):
        np.testing.assert_array_equal(x, y)


def test_nan_comparisons_casts_bool_arrays_and_scratch_buffers():
    body = '''def kernel(n, x, m, out, flags):
    buf = vm._empty(n, np.float32)
    for i in range(n):
        v = x[i]
        buf[np.uint64(i)] = v * np.float32(3)
        flags[i] = (v != v) | (v > 1.0)
        out[i, 0] = vm._sel(m[i], v, -v)
        out[i, 1] = np.float32(np.int64(v)) if v == v else v
        out[i, 2] = math.copysign(1.5, v)
    total = np.float32(0)
    for i in range(n):
        total = vm._radd(total, buf[i])
    out[0, 3] = total
'''
    x = np.array([0.5, -2.0, np.nan, np.inf, -0.0, 3.25], np.float32)
    m = np.array([True, False, True, False, True, True])
    ours, theirs = _both(body, len(x), x, m, np.zeros((6, 4), np.float32), np.zeros(6, bool))
    for a, b in zip(ours[3:], theirs[3:]):
        assert a.tobytes() == b.tobytes()


def test_what_the_translator_refuses_runs_in_numba():
    body = '''def kernel(n, x, out):
    i = 0
    while i < n:
        out[i] = np.exp(x[i])
        i += 1
'''
    source = _HEADER + body
    x = np.linspace(-1, 1, 5)
    out = np.zeros(5)
    k = cpu_llvm.Kernel(source)
    with pytest.raises(llvm_translate.Unsupported):
        llvm_translate.translate(source, tuple(llvm_translate.numba_type_of(a)
                                               for a in (5, x, out)), "k")
    k(5, x, out)
    np.testing.assert_array_equal(out, np.exp(x))


def test_a_non_contiguous_array_runs_the_numba_kernel():
    body = '''def kernel(n, x, out):
    for i in range(n):
        out[i] = x[i] * 2.0
'''
    k = cpu_llvm.Kernel(_HEADER + body)
    x = np.arange(10.0)
    out = np.zeros(5)
    k(5, x[:5].copy(), out)
    assert any(fn is not None for fn in k._by_types.values())
    out2 = np.zeros(5)
    k(5, x[::2], out2)                      # strided: not C-contiguous
    np.testing.assert_array_equal(out2, x[::2] * 2)


def test_a_big_plan_translates_its_kernels_in_a_thread_while_it_interprets(switches, tmp_path):
    """No worker processes: a thread translates the kernels while the first calls run the
    NumPy interpreter; then the plan runs them, and a new plan of the same kernels starts
    no job at all (the cache says they are compiled)."""
    from numgrad.backends import cpu
    switches(INTERPRET_CALLS=3, BACKGROUND_COMPILE=True, CACHE_DIR=str(tmp_path))
    n = 40000
    a = ng.placeholder(ng.float64, [n])
    b = ng.placeholder(ng.float64, [n])
    loss = ng.reduce_sum(a * b * b + 0.5 * a * a - ng.exp(-b * b))
    fetches = [loss] + ng.gradients(loss, [a, b])
    rng = np.random.default_rng(3)
    va, vb = rng.standard_normal(n), rng.standard_normal(n)

    def plans(sess):
        return [cp for p in sess._plans.values() for cp in p._compiled.values()
                if isinstance(cp, cpu.CompiledPlan)]

    sess = ng.Session(backend="cpu")
    fn = sess.make_callable(fetches, [a, b])
    first = fn(va, vb)
    cp, = plans(sess)
    job = cp.compile_job
    assert isinstance(job, cpu_llvm.CompileJob) and job.procs == []
    assert job.wait(120) and not job.failed
    from numgrad import compile_workers
    assert compile_workers.wait_all() == 0          # a finished job is no longer counted
    compiled = fn(va, vb)
    runners = [r for r in cp.runners if isinstance(r, cpu_runners.GroupRunner)]
    assert runners and all(r.compiled for r in runners)
    assert all(isinstance(r.kernel, cpu_llvm.Kernel) and
               any(f is not None for f in r.kernel._by_types.values()) for r in runners)
    for x, y in zip(first, compiled):           # the two tiers agree to rounding
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-12)
    assert all(cpu_llvm.compiled(r._source) for r in runners)
    sess2 = ng.Session(backend="cpu")
    sess2.make_callable(fetches, [a, b])(va, vb)
    cp2, = plans(sess2)
    assert cp2.compile_job is False
