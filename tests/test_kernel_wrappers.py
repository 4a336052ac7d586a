"""The Numba wrappers of the functions numgrad compiles (compiler/njit_options.py): no C-ABI
(cfunc) wrapper on any of them, no CPython wrapper on those only njit code calls (a plan
function's kernels, the opaque kernels' inner helpers), and a runner that refuses to call
such a kernel from Python instead of crashing."""
import sys

import numpy as np
import pytest

import numgrad as ng
from numgrad.backends import cpu
from numgrad.backends.cpu_runners import GroupRunner
from numgrad.compiler.emit_cpu import emit_group
from numgrad.kernels.cpu import softmax

from two_processes import run_twice

pytestmark = pytest.mark.skipif(ng.backends.default_backend_name() != "cpu",
                                reason="cpu backend only")


def _wrappers(dispatcher):
    """[(has a cfunc wrapper, has a CPython wrapper)] of each compiled or loaded overload."""
    out = []
    for cres in dispatcher.overloads.values():
        lib, fd = cres.library, cres.fndesc
        out.append((bool(lib.get_pointer_to_function(fd.llvm_cfunc_wrapper_name)),
                    bool(lib.get_pointer_to_function(fd.llvm_cpython_wrapper_name))))
    return out


def _graph(n=16):
    a = ng.placeholder(ng.float64, [n], name="a")
    b = ng.placeholder(ng.float64, [n], name="b")
    loss = ng.reduce_sum(ng.tanh(a * b + 1.0) ** 2 + ng.exp(-a * a) * ng.sin(b))
    return a, b, [loss] + ng.gradients(loss, [a, b])


def _plans(sess):
    return [cp for p in sess._plans.values() for cp in p._compiled.values()
            if isinstance(cp, cpu.CompiledPlan)]


def _reference(fetches, feed):
    return ng.Session(backend="numpy").run(fetches, feed)


def test_step_kernels_keep_the_cpython_wrapper_only(switches, rng):
    # the step kernels Numba compiles (NUMGRAD_LLVM_KERNELS=0, or a kernel the translator
    # refuses; translated ones have no Numba wrappers at all: tests/test_llvm_kernels.py)
    switches(INTERPRET_CALLS=0, FUSED_CALL_AFTER=1000, BACKGROUND_COMPILE=False,
             LLVM_KERNELS=False)
    a, b, fetches = _graph()
    feed = {a: rng.standard_normal(16), b: rng.standard_normal(16)}
    sess = ng.Session(backend="cpu")
    got = sess.run(fetches, feed)
    for g, r in zip(got, _reference(fetches, feed)):
        np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)
    runners = [r for cp in _plans(sess) for r in cp.runners if isinstance(r, GroupRunner)]
    assert runners
    for run in runners:
        assert "no_cfunc_wrapper=True" in run._source
        assert "no_cpython_wrapper" not in run._source
        assert _wrappers(run.kernel) == [(False, True)]


def test_plan_function_kernels_have_no_python_wrapper(switches, rng):
    """The hot kernels a plan function calls are compiled without either wrapper; the plan
    function itself (called from Python) keeps its CPython wrapper; the results are the
    interpreter's."""
    switches(INTERPRET_CALLS=0, FUSED_CALL_AFTER=1, BACKGROUND_COMPILE=False)
    a, b, fetches = _graph()
    feed = {a: rng.standard_normal(16), b: rng.standard_normal(16)}
    sess = ng.Session(backend="cpu")
    outs = [sess.run(fetches, feed) for _ in range(3)]
    cp, = _plans(sess)
    assert cp.fused_call
    fn = cp.fused_call[0]
    assert _wrappers(fn) == [(False, True)]
    kernels = [v for name, v in vars(sys.modules[fn.py_func.__module__]).items()
               if name.startswith("k") and hasattr(v, "overloads")]
    assert kernels
    for k in kernels:
        source = open(k.py_func.__code__.co_filename).read()
        assert "no_cfunc_wrapper=True, no_cpython_wrapper=True" in source
        assert all(w == (False, False) for w in _wrappers(k))
    ref = _reference(fetches, feed)
    for out in outs:
        for g, r in zip(out, ref):
            np.testing.assert_allclose(g, r, rtol=1e-12, atol=1e-14)


def test_runner_refuses_to_call_an_njit_only_kernel():
    x = ng.placeholder(ng.float64, [8])
    y = ng.tanh(x) * 2.0 + x
    sess = ng.Session(backend="cpu")
    feed = {x: np.linspace(-1, 1, 8)}
    sess.run(y, feed)
    cp, = _plans(sess)
    step = next(st for st in cp.steps if st.kind == "group")
    spec = emit_group(step, hot=True, njit_only=True)
    assert spec.python_callable is False
    assert emit_group(step, hot=True).python_callable is True
    runner = GroupRunner(step, spec)
    env = {v.id: np.linspace(-1, 1, 8) for v in step.loads}
    with pytest.raises(RuntimeError, match="njit callers only"):
        runner(env)
    assert runner._kernel is None           # never loaded, never called


def test_opaque_inner_helpers_have_no_python_wrapper(rng):
    x = rng.standard_normal((5, 7))
    out = np.empty_like(x)
    softmax.softmax_rows(x, out)
    e = np.exp(x - x.max(1, keepdims=True))
    np.testing.assert_allclose(out, e / e.sum(1, keepdims=True), rtol=1e-12)
    # (other tests in this process may have compiled more signatures)
    assert _wrappers(softmax.softmax_rows)
    assert all(w == (False, True) for w in _wrappers(softmax.softmax_rows))
    # compiled as softmax_rows' callee (none where softmax_rows was loaded from the cache)
    assert all(w == (False, False) for w in _wrappers(softmax._shifted_exp))


_PROGRAM = """
import sys
import numpy as np
import numgrad as ng
from numgrad import config
with config.switches(INTERPRET_CALLS=0, FUSED_CALL_AFTER=1, BACKGROUND_COMPILE=False):
    exec(sys.argv[1])
    s = ng.Session(backend="cpu")
    for _ in range(3):
        out = s.run(fetches, feed)
    cp, = [cp for p in s._plans.values() for cp in p._compiled.values()]
    assert cp.fused_call
    print(repr([np.asarray(o).tobytes().hex() for o in out]))
"""

_SOURCE = """
a = ng.placeholder(ng.float64, [16], name="a")
b = ng.placeholder(ng.float64, [16], name="b")
loss = ng.reduce_sum(ng.tanh(a * b + 0.5) ** 2 + ng.exp(-a * a) * ng.cos(b))
fetches = [loss] + ng.gradients(loss, [a, b])
feed = {a: np.linspace(-2, 2, 16), b: np.linspace(1, -1, 16)}
"""


def test_plan_function_and_its_kernels_load_from_the_cache(tmp_path):
    """A second process loads the plan function (whose kernels have no CPython wrapper) from
    the cache the first one filled, with the same results."""
    first, second = run_twice(_PROGRAM, _SOURCE, tmp_path)
    assert first == second
