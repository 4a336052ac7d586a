"""The BLAS helpers of native plans (kernels/cpu/blas_call.py) get one flavour of operands:
read-only arrays and plain bool flags, so Numba compiles each once per dtype whether a
generated lane or row-block function hands them a constant, a feed or an intermediate,
transposed or not, and the step runner's blocked product calls the signature the lanes call.
A lane's waits and signals (kernels/cpu/lane_sync.py) take their step as an int64, not a
literal: one signature, not one per step.
The graphs here are float32, as the other tests' plans are, so the helper signatures these
tests ask for are ones the suite compiles anyway."""
import numpy as np
import pytest
from numba import njit, typeof, types
from numba.core.compiler import run_frontend
from numba.core.registry import cpu_target
from numba.core.typed_passes import type_inference_stage

import numgrad as ng
from numgrad import config, threads
from numgrad.kernels.cpu import blas_call, lane_sync

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

needs_blas = pytest.mark.skipif(not blas_call.available(), reason=blas_call.describe())

HELPERS = (blas_call.matmul_into, blas_call.matmul_acc_into, blas_call.matmul_blocks_into,
           lane_sync.wait_for, lane_sync.mark_done)


@njit(cache=False)
def _view_and_flag(a):
    return blas_call.read_only(a), np.bool_(True)


def test_read_only_is_the_same_array_typed_read_only_and_operand_leaves_the_caller_alone():
    a = np.arange(6.0).reshape(2, 3)
    view, flag = _view_and_flag(a)
    assert np.shares_memory(view, a)        # (boxed back, Numba's arrays are writeable)
    np.testing.assert_array_equal(view, a)
    (sig,) = _view_and_flag.signatures
    assert typeof(a).mutable and sig[0] == typeof(a)
    returned = _view_and_flag.overloads[sig].signature.return_type
    assert not returned[0].mutable and returned[1] == types.boolean
    op = blas_call.operand(a)
    assert not op.flags.writeable and np.shares_memory(op, a) and a.flags.writeable
    t = blas_call.operand(a.T)                      # not C-contiguous: a C-contiguous copy
    assert t.flags.c_contiguous and not t.flags.writeable
    np.testing.assert_array_equal(t, a.T)
    assert blas_call.flag_source(1) == "np.bool_(True)"


def _helper_calls(fn, sig):
    """{helper's name: {argument types}} of the helper calls in generated function `fn`
    typed for `sig`: Numba's type inference of its code, what a compile would ask each
    helper for (whether or not `fn` itself came from the disk cache)."""
    cpu_target.typing_context.refresh()     # the intrinsics registered since (carve, ...)
    cpu_target.target_context.refresh()
    typed = type_inference_stage(cpu_target.typing_context, cpu_target.target_context,
                                 run_frontend(fn.py_func), sig, None)
    calls = {}
    for expr, call_sig in typed.calltypes.items():
        if getattr(expr, "op", None) != "call":
            continue
        fnty = typed.typemap.get(expr.func.name)
        if isinstance(fnty, types.Dispatcher) and fnty.dispatcher in HELPERS:
            calls.setdefault(fnty.dispatcher.py_func.__name__, set()).add(call_sig.args)
    return calls


def _merge(into, calls):
    for name, sigs in calls.items():
        into.setdefault(name, set()).update(sigs)


def _one_flavour(calls):
    for name, sigs in calls.items():
        assert len(sigs) == 1, (name, sigs)
        if name in ("wait_for", "mark_done"):
            assert next(iter(sigs))[1] == types.int64, (name, sigs)
            continue
        a, b, out, ta, tb = next(iter(sigs))[:5]
        assert not a.mutable and not b.mutable and out.mutable, (name, sigs)
        assert ta == tb == types.boolean, (name, sigs)


def _only_plan(sess):
    plan, = [cp for p in sess._plans.values() for cp in p._compiled.values()]
    return plan


@needs_blas
def test_a_constant_a_feed_and_intermediates_reach_each_helper_in_one_signature():
    rng = np.random.default_rng(0)
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float32, [48, 4])
        v = ng.placeholder(ng.float32, [3, 4])
        w = ng.constant(rng.standard_normal((4, 4)).astype(np.float32))    # read-only
        h = ng.tanh(ng.matmul(x, w))
        y = ng.matmul(h, v, transpose_b=True)           # a fed operand, transposed
        z = ng.matmul(x, h, transpose_a=True)           # over the rows: a partial sum
        fetches = [ng.reduce_sum(ng.sin(y)), z]
    feed = {x: rng.standard_normal((48, 4)).astype(np.float32),
            v: rng.standard_normal((3, 4)).astype(np.float32)}
    with ng.Session(backend="numpy", graph=g) as s:
        want = s.run(fetches, feed)
    calls = {}
    for native, rows in (("on", "off"), ("off", "on")):
        with config.override(NUMGRAD_INTERPRET_CALLS=0, NUMGRAD_NATIVE_PLAN=native,
                             NUMGRAD_ROW_LANES=rows), ng.Session(backend="cpu", graph=g) as s, \
                threads.limited(2):             # two lanes: waits and signals between them
            got = s.run(fetches, feed)
            made = _only_plan(s)._native
            if native == "on":
                made = made.native
                assert made is not None and len(made.lanes) == 2
                for fn in made.functions:
                    _merge(calls, _helper_calls(fn, made.signature))
            else:
                made = made.rows.native
                assert made is not None
                for name, fn in made.functions.items():
                    _merge(calls, _helper_calls(fn, made.signatures[name]))
        for a, b in zip(got, want):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    assert sorted(calls) == ["mark_done", "matmul_acc_into", "matmul_into", "wait_for"]
    _one_flavour(calls)


@needs_blas
def test_the_step_runner_calls_the_blocked_product_as_the_lanes_do(monkeypatch):
    # a weight gradient in blocks of its inner dimension (blas_call.block_for), its left
    # operand a constant: the step runner calls matmul_blocks_into from Python
    # (backends/cpu_runners.blocked_matmul_runner), the native lanes from their code
    rng = np.random.default_rng(1)
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float32, [4096, 20])
        z = ng.matmul(ng.constant(rng.standard_normal((4096, 20)).astype(np.float32)),
                      ng.tanh(x), transpose_a=True)
    feed = {x: rng.standard_normal((4096, 20)).astype(np.float32)}
    real, seen = blas_call.matmul_blocks_into, []

    def recording(*args):
        seen.append(tuple(typeof(a) for a in args))
        return real(*args)

    with ng.Session(backend="cpu", graph=g) as s:
        with monkeypatch.context() as m, config.override(
                NUMGRAD_INTERPRET_CALLS=0, NUMGRAD_NATIVE_PLAN="off", NUMGRAD_ROW_LANES="off"):
            m.setattr(blas_call, "matmul_blocks_into", recording)
            stepped = s.run(z, feed)
        with config.override(NUMGRAD_INTERPRET_CALLS=0, NUMGRAD_NATIVE_PLAN="on",
                             NUMGRAD_ROW_LANES="off"):
            native = s.run(z, feed)
        made = _only_plan(s)._native.native
        assert made is not None
        calls = {}
        for fn in made.functions:
            _merge(calls, _helper_calls(fn, made.signature))
    assert np.array_equal(stepped, native)          # the same call, the same bits
    assert "matmul_blocks_into" in calls and "matmul_into" not in calls
    _one_flavour(calls)
    assert seen and set(seen) == calls["matmul_blocks_into"], (seen, calls)
