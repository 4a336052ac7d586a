"""The cpu emitter leaves out the cast of a value whose expression Numba already types as the
value's dtype (compiler/numba_types.py).  These tests hold the rules to Numba's own typing: a
rule that said "keeps the dtype" wrongly would change a kernel's arithmetic (an int32 sum
computed in int64, a float32 product rounded as float64)."""
import re

import numpy as np
import pytest
from numba import from_dtype, njit

import numgrad as ng
from numgrad.compiler.emit_cpu import emit_group
from numgrad.compiler.numba_types import SAME_FLOAT_TYPE, keeps_dtype
from numgrad.kernels.cpu import scalar

from plan_checks import plan_of

pytestmark = pytest.mark.backend_independent

# expressions over a, b (of the dtype under test) and c (bool)
EXPRS = ["(a + b)", "(a - b)", "(a * b)", "(a / b)", "(-a)", "(a if c else b)",
         "((a * b) + (-a))", "(a * (b - a) / b)", "(a if c else -b)", "np.{dt}(c)",
         "np.{dt}((a * b))", "(a * 2)", "(a + 0.5)", "(a + (c * c))", "abs(a)", "a"]
PURE = EXPRS[:11] + ["a"]     # what the rules must let through for float and complex dtypes


@pytest.mark.parametrize("dtype", ["float32", "float64", "complex64", "complex128", "int32",
                                   "int64"])
def test_rules_agree_with_numba(dtype):
    dt = np.dtype(dtype)
    exprs = [e.format(dt=dtype) for e in EXPRS]
    typed = _numba_types(exprs, dt)
    operands = {"a": dt, "b": dt, "c": np.dtype(np.bool_)}
    for expr, numba_type in zip(exprs, typed):
        if keeps_dtype(expr, operands, dt):
            assert numba_type == from_dtype(dt), (expr, dtype, numba_type)
    if dt.kind in "fc":
        assert all(keeps_dtype(e.format(dt=dtype), operands, dt) for e in PURE)
    if dt == np.int32:      # Numba computes int32 arithmetic in int64: the cast stays
        assert not keeps_dtype("(a + b)", operands, dt)


def _numba_types(exprs, dt):
    """Numba's types of `exprs` over a, b (of `dt`) and c (bool), and the scalar helpers."""
    ns = {"np": np}
    exec("from numgrad.kernels.cpu.scalar import *\n"
         f"def f(a, b, c):\n    return ({', '.join(exprs)},)\n", ns)
    f = njit(ns["f"])
    f(dt.type(3), dt.type(2), True)
    return f.nopython_signatures[0].return_type.types


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_same_float_type_helpers_keep_the_width(dtype):
    dt = np.dtype(dtype)
    assert set(SAME_FLOAT_TYPE) <= set(scalar.__all__)
    exprs = [f"{name}(a)" for name in SAME_FLOAT_TYPE]
    operands = {"a": dt}
    assert all(keeps_dtype(e, operands, dt) for e in exprs)
    assert list(_numba_types(exprs, dt)) == [from_dtype(dt)] * len(exprs)


def test_mixed_dtypes_keep_their_cast():
    f32, f64 = np.dtype(np.float32), np.dtype(np.float64)
    assert not keeps_dtype("(a * d)", {"a": f32, "d": f64}, f64)
    assert not keeps_dtype("vmc.tanh_f64(a)", {"a": f32}, f32)
    assert not keeps_dtype("sigmoid(a)", {"a": f32}, f32)      # a scalar helper
    assert not keeps_dtype("sqrt(d)", {"d": f64}, f32)
    assert keeps_dtype("np.float32(d)", {"d": f64}, f32)        # a Cast
    assert not keeps_dtype("np.float64(d)", {"d": f64}, f32)
    assert keeps_dtype("vmc.atan2_f32(a, (-a))", {"a": f32}, f32)


def _kernel_args(group, runner):
    """Arguments of one call of `group`'s kernel, as the runner would pass them."""
    args = list(runner.head)       # (mode, chunk range,) sizes (, chunk count)
    args += [np.ones(shape, v.dtype) for (_, shape), v in zip(runner.loads, group.loads)]
    args += list(runner.scalars)
    args += [np.empty(kshape, dtype) for _, _, dtype, kshape in runner.outs_and_reds]
    args += [np.empty((runner.C,) + shape[1:], dtype) for shape, dtype in runner.parts]
    return args + list(runner.counts)


@pytest.mark.parametrize("hot", [False, True], ids=["libm", "vecmath"])
def test_kernel_values_have_their_dtypes(hot):
    """Every value a generated kernel computes (v<id>), every load and every scalar argument
    is, for Numba, exactly its value's dtype, with the casts left out where the rules allow
    (float32 with a float64 scalar, int32, int64, bool, reductions, broadcasting)."""
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float32, [6, 5])
        b = ng.placeholder(ng.float32, [1, 5])
        d = ng.placeholder(ng.float64, [6, 5])
        i = ng.placeholder(ng.int32, [6, 5])
        k = ng.placeholder(ng.int64, [6, 5])
        y = ng.tanh(x * b) + ng.sin(x) * 2.5 - ng.exp(-x * x)
        z = ng.where(x > b, y, -y)
        fetches = [ng.reduce_sum(y, 1), z, ng.reduce_mean(z), ng.reduce_max(d * d - 1.5, 0),
                   i * 3 + i, ng.reduce_sum(k * k - k), ng.identity(x) + b]
    feed = {x: np.ones((6, 5), np.float32), b: np.ones((1, 5), np.float32),
            d: np.ones((6, 5)), i: np.ones((6, 5), np.int32), k: np.ones((6, 5), np.int64)}
    plan = plan_of(fetches, feed)
    uncast = 0
    for kern in plan.kernels:
        group = kern.group
        source = emit_group(group, hot=hot).source      # names: v<value id>
        uncast += len(re.findall(r"^\s*v\d+ = [(v]", source, re.M))
        ns = {}
        exec(compile(source.replace("cache=True", "cache=False"), "<kernel>", "exec"), ns)
        kernel = ns["kernel"]
        kernel(*_kernel_args(group, kern.runner))
        typemap = next(iter(kernel.overloads.values())).type_annotation.typemap
        dtypes = {f"v{v.id}": v.dtype for n in group.nodes for v in n.outputs}
        dtypes.update({f"l{j}": v.dtype for j, v in enumerate(group.loads)})
        dtypes.update({f"s{j}": v.dtype for j, v in enumerate(group.scalars)})
        names = [n for n in typemap if n in dtypes]
        assert names
        for name in names:
            assert typemap[name] == from_dtype(dtypes[name]), (name, typemap[name], source)
    assert uncast >= 5
