"""What a cold first call compiles besides the kernels themselves: the generated kernels'
scratch buffers and block bounds are lowered in place (kernels/vecmath.py ``_empty``,
``_imin``) instead of through Numba's ``np.empty`` and ``min`` overloads, each compiled on
first use in a process."""
import numpy as np
import pytest
from numba import njit

import numgrad as ng
import numgrad.kernels.vecmath as vm
from numgrad.backends import cpu
from numgrad.backends.cpu_runners import GroupRunner

pytestmark = pytest.mark.skipif(ng.backends.default_backend_name() != "cpu",
                                reason="cpu backend only")


@njit(cache=False)
def _scratch(n, fill):
    a = vm._empty(n, np.float32)
    b = vm._empty(n + 1, np.int64)
    c = vm._empty(n, np.bool_)
    d = vm._empty(n, np.complex128)
    for i in range(n):
        a[i] = fill + i
        b[i] = i
        c[i] = i % 2 == 0
        d[i] = complex(i, -i)
    b[n] = -1
    return a, b, c, d


def test_empty_is_numpys_empty():
    a, b, c, d = _scratch(300, 0.5)
    assert (a.dtype, a.shape, a.flags.c_contiguous, a.flags.writeable) == (
        np.float32, (300,), True, True)
    assert (b.dtype, b.shape, c.dtype, d.dtype) == (np.int64, (301,), np.bool_, np.complex128)
    np.testing.assert_array_equal(a, np.arange(300, dtype=np.float32) + np.float32(0.5))
    np.testing.assert_array_equal(b[:-1], np.arange(300))
    assert b[-1] == -1 and c.sum() == 150 and d[7] == 7 - 7j
    for x in (a, b, c, d):          # NumPy's alignment for the dtype (Numba's allocator)
        assert x.ctypes.data % x.dtype.alignment == 0
    e, f, _, _ = _scratch(0, 1.0)
    assert e.shape == (0,) and f.tolist() == [-1]


@njit(cache=False)
def _mins(a, b):
    return vm._imin(a, b), vm._imin(a, 256), vm._imin(np.int32(7), b)


@pytest.mark.parametrize("a, b", [(0, 0), (3, 7), (7, 3), (-5, 2), (2**40, -(2**41)),
                                  (256, 300), (300, 256)])
def test_imin_is_min(a, b):
    assert _mins(a, b) == (min(a, b), min(a, 256), min(7, b))


def _step_sources(fetches, feed):
    sess = ng.Session(backend="cpu")
    got = sess.run(fetches, feed)
    plans = [cp for p in sess._plans.values() for cp in p._compiled.values()
             if isinstance(cp, cpu.CompiledPlan)]
    runners = [r for cp in plans for r in cp.runners if isinstance(r, GroupRunner)]
    return got, [r._source for r in runners]


@pytest.mark.parametrize("shape, axis", [((64, 700), 0), ((4096, 20), 0)])
def test_blocked_kernels_use_in_place_buffers(switches, rng, shape, axis):
    """A column sum with a block-buffered inner loop (and a row-blocked one): no np.empty or
    min in the kernel, the sums NumPy's to rounding."""
    switches(INTERPRET_CALLS=0, FUSED_CALL_AFTER=1000, BACKGROUND_COMPILE=False)
    x = ng.placeholder(ng.float32, shape)
    b = ng.placeholder(ng.float32, shape[1:])
    y = ng.tanh(x + b)
    fetches = [y, ng.reduce_sum(y * y, axis=axis)]
    feed = {x: rng.standard_normal(shape).astype(np.float32),
            b: rng.standard_normal(shape[1:]).astype(np.float32)}
    got, sources = _step_sources(fetches, feed)
    assert sources
    text = "\n".join(sources)
    assert "vm._empty(" in text
    assert "np.empty(" not in text and " min(" not in text
    ref = ng.Session(backend="numpy").run(fetches, feed)
    for g, r in zip(got, ref):
        np.testing.assert_allclose(g, r, rtol=2e-5, atol=1e-4)


def test_gc_paused_nests_and_restores():
    import gc
    from numgrad import numba_gc
    assert gc.isenabled()
    with numba_gc.paused():
        assert not gc.isenabled()
        with numba_gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    assert gc.isenabled()
    gc.disable()
    try:
        with numba_gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()       # it was off: left off
    finally:
        gc.enable()


def _gc_probe():
    """(an intrinsic that records whether the collector is on while it is typed, a list)"""
    import gc
    from numba import types
    from numba.extending import intrinsic
    seen = []

    @intrinsic
    def probe(typingctx):
        seen.append(gc.isenabled())

        def codegen(context, builder, sig, args):
            return context.get_dummy_value()

        return types.none(), codegen

    return probe, seen


def test_numgrads_compiles_run_without_the_collector():
    """A function of a numgrad kernel module compiles with the collector off; a user's
    function as Numba compiles it; the collector is on again afterwards."""
    import gc
    from numgrad import numba_gc, numba_start
    numba_start.start()
    numba_gc.install()
    probe_k, seen_k = _gc_probe()
    probe_u, seen_u = _gc_probe()

    def kernel_fn():
        probe_k()

    def user_fn():
        probe_u()

    kernel_fn.__module__ = "numgrad_k_probe"
    njit(kernel_fn)()
    njit(user_fn)()
    assert seen_k == [False] and seen_u == [True]
    assert gc.isenabled()


# -- the lean CPython wrapper of generated kernels (numba_wrapper.py) --

_KERNEL = '''
def kernel(n, k32, u8, x, x32, flag, z, a, b, c, ro, m, out, out32):
    if flag and n < 0:
        raise ValueError("negative n")
    t = z[()] + x + x32 + k32 + u8
    for i in range(n):
        for j in range(a.shape[1]):
            out[i, j] = a[i, j] * b[j] + c[i, j] + ro[j] + (1.0 if m[i] else 0.0) + t
    out32[0] = np.float32(x32) * 2
'''


def _compiled(lean, module):
    """The kernel above, of a numgrad kernel module, compiled with (`lean`) or without the
    lean wrapper."""
    from numgrad import numba_start, numba_wrapper
    numba_start.start()
    numba_wrapper.install()
    g = {"__name__": module, "np": np}
    exec(_KERNEL, g)
    old = numba_wrapper.ENABLED
    numba_wrapper.ENABLED = lean
    try:
        k = njit(nogil=True, no_cfunc_wrapper=True)(g["kernel"])
        k.compile(_SIG)
    finally:
        numba_wrapper.ENABLED = old
    return k


_SIG = None


def _args(rng):
    a = rng.standard_normal((6, 5))
    c = rng.standard_normal((6, 10))[:, ::2]            # not contiguous: layout 'A'
    ro = rng.standard_normal(5)
    ro.flags.writeable = False
    return [6, np.int32(-3), np.uint8(200), 0.25, np.float32(1.5), True, np.array(2.0),
            a, rng.standard_normal(5), c, ro, rng.standard_normal(6) > 0,
            np.zeros((6, 5)), np.zeros(1, np.float32)]


def test_lean_wrapper_calls_as_numbas(rng):
    from numba import typeof
    global _SIG
    args = _args(rng)
    _SIG = tuple(typeof(v) for v in args)
    lean, numbas = _compiled(True, "numgrad_k_lean_a"), _compiled(False, "numgrad_k_lean_b")
    for k in (lean, numbas):
        assert k.overloads[_SIG].fndesc.modname.startswith("numgrad_k_lean")
    ir_lean = lean.inspect_llvm(_SIG)
    assert "NRT_adapt_ndarray_from_python" not in ir_lean
    assert "NRT_adapt_ndarray_from_python" in numbas.inspect_llvm(_SIG)
    a1, a2 = _args(np.random.default_rng(1)), _args(np.random.default_rng(1))
    assert lean(*a1) is None and numbas(*a2) is None
    np.testing.assert_array_equal(a1[-2], a2[-2])
    np.testing.assert_array_equal(a1[-1], a2[-1])
    assert a1[-1][0] == 3.0
    # errors: the kernel's exception, a bad argument count, an unconvertible integer
    a1[0] = -1
    with pytest.raises(ValueError, match="negative n"):
        lean(*a1)
    with pytest.raises(TypeError):
        lean.overloads[_SIG].entry_point(*a1[:-1])
    with pytest.raises(OverflowError):
        lean.overloads[_SIG].entry_point(2 ** 70, *a1[1:])
    assert sys_refcount_stable(lean, a2)


def test_lean_wrapper_keeps_float_scalars_bits():
    """Float scalars pass through the lean wrapper bit for bit: -0.0 stays negative (an
    unboxing written as ``x + 0.0`` would turn it into +0.0), NaN stays NaN, infinities."""
    from numgrad import numba_start, numba_wrapper
    numba_start.start()
    numba_wrapper.install()
    g = {"__name__": "numgrad_k_lean_bits"}
    exec("def kernel(x, x32, out, out32):\n    out[0] = x\n    out32[0] = x32\n", g)
    old = numba_wrapper.ENABLED
    numba_wrapper.ENABLED = True
    try:
        k = njit(no_cfunc_wrapper=True)(g["kernel"])
        k.compile("(float64, float32, float64[::1], float32[::1])")
    finally:
        numba_wrapper.ENABLED = old
    assert "NRT_adapt_ndarray_from_python" not in k.inspect_llvm(k.signatures[0])
    for x in (-0.0, 0.0, np.inf, -np.inf, np.nan, -1.0, 5e-324, -3e38):
        out, out32 = np.full(1, 7.0), np.full(1, 7.0, np.float32)
        k(x, np.float32(x), out, out32)
        assert out.tobytes() == np.float64(x).tobytes() or (np.isnan(x) and np.isnan(out[0]))
        assert out32.tobytes() == np.float32(x).tobytes() or (np.isnan(x) and np.isnan(out32[0]))


def sys_refcount_stable(kernel, args):
    """Whether calling `kernel` leaves its array arguments' reference counts as they were
    (the lean wrapper holds no reference after the call)."""
    import sys
    arrays = [a for a in args if isinstance(a, np.ndarray)]
    before = [sys.getrefcount(a) for a in arrays]
    for _ in range(100):
        kernel(*args)
    return [sys.getrefcount(a) for a in arrays] == before


def test_lean_wrapper_only_for_numgrad_kernels():
    from numba.core import types
    from numgrad.numba_wrapper import lean_ok

    class Desc:
        def __init__(self, modname, argtypes, restype=types.none):
            self.modname, self.argtypes, self.restype = modname, argtypes, restype

    arr = types.Array(types.float64, 2, "C")
    assert lean_ok(Desc("numgrad_k_x", [types.int64, arr, types.boolean, types.float32]))
    assert not lean_ok(Desc("mymodule", [types.int64, arr]))
    assert not lean_ok(Desc("numgrad_k_x", [types.int64], types.float64))
    assert not lean_ok(Desc("numgrad_k_x", [types.UniTuple(types.int64, 2)]))
    assert not lean_ok(Desc("numgrad_k_x", [types.Array(types.complex128, 1, "C")]))


_STEPS = """
import sys
import numpy as np
import numgrad as ng
from numgrad import config
with config.switches(INTERPRET_CALLS=0, FUSED_CALL_AFTER=1000, BACKGROUND_COMPILE=False):
    x = ng.placeholder(ng.float32, [300, 700])
    b = ng.placeholder(ng.float32, [700])
    y = ng.tanh(x + b)
    loss = ng.reduce_sum(y * y)
    fetches = [loss] + ng.gradients(loss, [x, b])
    feed = {x: np.linspace(-2, 2, 300 * 700, dtype=np.float32).reshape(300, 700),
            b: np.linspace(1, -1, 700, dtype=np.float32)}
    out = ng.Session(backend="cpu").run(fetches, feed)
    print(repr([np.asarray(o).tobytes().hex()[:4000] for o in out]))
"""


def test_step_kernels_with_lean_wrappers_load_from_the_cache(tmp_path):
    """Step kernels compiled with lean wrappers in one process load and give the same bits
    in the next."""
    from two_processes import run_twice
    first, second = run_twice(_STEPS, "", tmp_path)
    assert first == second
