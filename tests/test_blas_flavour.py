"""The BLAS helpers of native plans (kernels/cpu/blas_call.py) get one flavour of operands:
read-only arrays and plain bool flags, so Numba compiles each once per dtype whether the
generated code hands them a constant, a feed or an intermediate, transposed or not."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from numba import njit, typeof, types

from numgrad.kernels.cpu import blas_call

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

needs_blas = pytest.mark.skipif(not blas_call.available(), reason=blas_call.describe())


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
    assert not _view_and_flag.overloads[sig].signature.return_type[0].mutable
    assert _view_and_flag.overloads[sig].signature.return_type[1] == types.boolean
    assert a.flags.writeable
    op = blas_call.operand(a)
    assert not op.flags.writeable and np.shares_memory(op, a) and a.flags.writeable
    t = blas_call.operand(a.T)                      # not C-contiguous: a C-contiguous copy
    assert t.flags.c_contiguous and not t.flags.writeable
    np.testing.assert_array_equal(t, a.T)
    assert blas_call.flag_source(1) == "np.bool_(True)"


# Run in a fresh process: a Numba dispatcher's signatures are those asked for in its process
# (compiled, or loaded from the disk cache), so another test's direct calls cannot count here.
SCRIPT = """
import numpy as np
import numgrad as ng
from numgrad import config
from numgrad.kernels.cpu import blas_call

rng = np.random.default_rng(0)
g = ng.Graph()
with g.as_default():
    x = ng.placeholder(ng.float64, [48, 4])
    v = ng.placeholder(ng.float64, [3, 4])
    h = ng.tanh(ng.matmul(x, ng.constant(rng.standard_normal((4, 4)))))  # a constant's value
    y = ng.matmul(h, v, transpose_b=True)           # a fed operand, transposed
    z = ng.matmul(x, h, transpose_a=True)           # a sum over the rows of two row values
    fetches = [ng.reduce_sum(ng.sin(y)), z]
feed = {x: rng.standard_normal((48, 4)), v: rng.standard_normal((3, 4))}
with ng.Session(backend="numpy", graph=g) as s:
    want = s.run(fetches, feed)
for how in [dict(NUMGRAD_NATIVE_PLAN="on", NUMGRAD_ROW_LANES="off"),
            dict(NUMGRAD_NATIVE_PLAN="off", NUMGRAD_ROW_LANES="on")]:
    with config.override(NUMGRAD_INTERPRET_CALLS=0, **how), \\
            ng.Session(backend="cpu", graph=g) as s:
        got = s.run(fetches, feed)
        plan, = [cp for p in s._plans.values() for cp in p._compiled.values()]
        made = plan._native.native if how["NUMGRAD_ROW_LANES"] == "off" else \\
            plan._native.rows.native
        print("BUILT", made is not None)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
for f in (blas_call.matmul_into, blas_call.matmul_acc_into):
    print("SIGS", f.__name__, "; ".join(map(str, f.signatures)))
"""


@needs_blas
def test_constants_feeds_and_intermediates_reach_each_helper_in_one_signature():
    env = {**os.environ, "PYTHONPATH": os.path.dirname(os.path.dirname(
        os.path.abspath(__file__)))}
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT)], capture_output=True,
                         text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert lines.count("BUILT True") == 2, out.stdout      # native lanes, then row blocks
    sigs = dict(line.split(" ", 2)[1:] for line in lines if line.startswith("SIGS "))
    one = ("(Array(float64, 2, 'C', True, aligned=True), Array(float64, 2, 'C', True, "
           "aligned=True), Array(float64, 2, 'C', False, aligned=True), bool, bool)")
    assert sigs == {"matmul_into": one, "matmul_acc_into": one}, out.stdout
