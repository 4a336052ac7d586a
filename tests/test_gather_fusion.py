"""Gathers fused into their readers' loops (compiler/fuse.py virtual_gathers, cpu backend): a
gather (axis 0) read only by fused loops is not copied out; the loops read
params[indices[i], ...] in place.  Checked against the NumPy backend, with the fusion on and
off, on shapes that stress the layout (index ranks, tails, broadcasting, threads)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.backends import cpu
from numgrad.errors import InvalidArgumentError

from ab_switch import assert_close, run_with_switch

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


def _plans(sess):
    return [cp for p in sess._plans.values() for cp in p._compiled.values()
            if isinstance(cp, cpu.CompiledPlan)]


def _gather_steps(sess):
    """(fused gathers, GatherV2 steps left) over the session's plans."""
    fused = sum(len(st.gathered) for cp in _plans(sess) for st in cp.steps if st.kind == "group")
    left = sum(1 for cp in _plans(sess) for st in cp.steps
               if st.kind == "single" and st.node.type == "GatherV2")
    return fused, left


def _run_all(fetches, feed):
    return run_with_switch(fetches, feed, "NUMGRAD_FUSE_GATHERS", _gather_steps)


@pytest.mark.parametrize("dtype, index_dtype, index_shape, tail", [
    (np.float64, np.int32, (50,), (16,)),
    (np.float32, np.int64, (50,), (16,)),
    (np.float64, np.int64, (7, 9), (16,)),
    (np.float64, np.int32, (40,), ()),            # 1-D params: a gather of scalars
    (np.float32, np.int32, (6, 5), (3, 4)),       # 2-D tail
    (np.float64, np.int32, (4096,), (16,)),       # big enough for threads
    (np.float32, np.int32, (4096,), (16,)),       # ... with float32 block sums
])
def test_gather_fused_into_its_readers(dtype, index_dtype, index_shape, tail, rng):
    rows = 100
    W = ng.placeholder(dtype, [rows, *tail])
    idx = ng.placeholder(index_dtype, list(index_shape))
    x = ng.placeholder(dtype, list(index_shape) + list(tail))
    e = ng.gather(W, idx)
    loss = ng.reduce_sum(ng.tanh(e * x) ** 2 + ng.exp(-e * e))
    gW, gx = ng.gradients(loss, [W, x])
    fetches = [loss, gx, ng.convert_to_tensor(gW)]
    feed = {W: rng.standard_normal((rows, *tail)).astype(dtype),
            idx: rng.integers(0, rows, index_shape).astype(index_dtype),   # with repeats
            x: rng.standard_normal(index_shape + tail).astype(dtype)}
    ref, outs = _run_all(fetches, feed)
    rtol = 1e-5 if dtype == np.float32 else 1e-12
    for on, (out, (fused, left)) in outs.items():
        assert_close(ref, out, rtol)
        assert (fused, left) == ((1, 0) if on else (0, 1)), on


def test_gather_broadcast_in_its_readers_space(rng):
    # params (rows, 1): the gathered column broadcasts over the readers' last dim; and the
    # gathered rows broadcast over a leading batch dim
    W = ng.placeholder(ng.float64, [30, 1])
    V = ng.placeholder(ng.float64, [30, 5])
    idx = ng.placeholder(ng.int32, [8])
    x = ng.placeholder(ng.float64, [8, 5])
    b = ng.placeholder(ng.float64, [3, 8, 5])
    y = ng.gather(W, idx) * x + ng.gather(V, idx) * b
    loss = ng.reduce_sum(ng.sin(y))
    grads = ng.gradients(loss, [x, b])
    feed = {W: rng.standard_normal((30, 1)), V: rng.standard_normal((30, 5)),
            idx: rng.integers(0, 30, 8).astype(np.int32), x: rng.standard_normal((8, 5)),
            b: rng.standard_normal((3, 8, 5))}
    ref, outs = _run_all([loss] + grads, feed)
    for on, (out, (fused, left)) in outs.items():
        assert_close(ref, out, 1e-12)
    fused, left = outs[True][1]
    assert left == 0 and fused >= 2         # (a gather read by two loops is read by both)


def test_gradient_through_a_fused_gather_matches_finite_differences(rng):
    W = ng.placeholder(ng.float64, [10, 3])
    idx = ng.constant(np.array([1, 4, 4, 9, 0], np.int32))
    loss = ng.reduce_sum(ng.exp(ng.gather(W, idx) * 0.5))
    gW = ng.convert_to_tensor(ng.gradients(loss, [W])[0])
    w = rng.standard_normal((10, 3))
    sess = ng.Session(backend="cpu")
    g = sess.run(gW, {W: w})
    assert _gather_steps(sess)[0] == 1
    eps, fd = 1e-6, np.zeros_like(w)
    for i in np.ndindex(w.shape):
        d = np.zeros_like(w)
        d[i] = eps
        fd[i] = (sess.run(loss, {W: w + d}) - sess.run(loss, {W: w - d})) / (2 * eps)
    np.testing.assert_allclose(g, fd, rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("bad", [100, -1])
def test_index_out_of_range_is_the_gathers_error(bad, rng):
    W = ng.placeholder(ng.float64, [100, 4], name="table")
    idx = ng.placeholder(ng.int32, [5], name="ids")
    e = ng.gather(W, idx, name="lookup")
    loss = ng.reduce_sum(e * e)
    w = rng.standard_normal((100, 4))
    good = np.array([0, 5, 99, 5, 7], np.int32)
    sess = ng.Session(backend="cpu")
    first = sess.run(loss, {W: w, idx: good})
    errors = []
    for backend in ("cpu", "numpy"):
        s = sess if backend == "cpu" else ng.Session(backend="numpy")
        with pytest.raises(InvalidArgumentError) as e_info:
            s.run(loss, {W: w, idx: np.array([0, bad, 3, 4, 5], np.int32)})
        errors.append(str(e_info.value))
    assert "lookup" in errors[0] and f"indices contain {bad}" in errors[0] and "[0, 100)" in errors[0]
    assert errors[0].split("\n")[0] == errors[1].split("\n")[0]
    assert _gather_steps(sess)[0] == 1
    assert sess.run(loss, {W: w, idx: good}) == first       # nothing half-changed


def test_gather_read_elsewhere_is_copied_out(rng):
    # a matmul (opaque) or a fetch reads the gathered rows: they are materialised as before
    W = ng.placeholder(ng.float64, [20, 4])
    M = ng.placeholder(ng.float64, [4, 3])
    idx = ng.placeholder(ng.int32, [6])
    e = ng.gather(W, idx)
    loss = ng.reduce_sum(ng.tanh(ng.matmul(e, M))) + ng.reduce_sum(e * e)
    feed = {W: rng.standard_normal((20, 4)), M: rng.standard_normal((4, 3)),
            idx: rng.integers(0, 20, 6).astype(np.int32)}
    sess = ng.Session(backend="cpu")
    out = sess.run([loss, e], feed)
    ref = ng.Session(backend="numpy").run([loss, e], feed)
    assert_close(ref, out, 1e-12)
    assert _gather_steps(sess) == (0, 1)
