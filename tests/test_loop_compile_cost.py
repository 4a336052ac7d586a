"""What keeps native loop functions (compiler/emit_loop.py) cheap to compile: no slice
assignments (Numba compiles the string code of their shape check's message into the
function), no slices or NumPy view methods, no ``np.empty`` / ``np.zeros`` overloads and no
``for`` loops of element copies (the range iterator is most of a small loop's front-end
cost), but the inline helpers of kernels/cpu/views.py; a recording loop is one function,
``loop_into``, without a njit wrapper that would compile it all again.  Checked on the
helpers against NumPy, on the emitted sources of loops with every native single (rolls, row
gathers and their gradients, TensorArray reads and writes, a recorded history)
and on their results against the NumPy backend; an out-of-range gather still raises."""
import re

import numpy as np
import pytest
from loop_cases import decay_graph, gather_sum, run_three, tanh_rnn
from numba import njit

import numgrad as ng
from numgrad import config
from numgrad.control import native_loop
from numgrad.errors import InvalidArgumentError
from numgrad.kernels.cpu.views import c_copy, c_empty, c_part, c_view, c_zero

pytestmark = pytest.mark.backend_independent         # see tests/conftest.py
F64 = ng.float64


@njit(cache=False)
def _helpers(a, b32, i):
    row = c_part(a, i * 4, (2, 2))              # row i of a (3, 4) array seen as 2 x 2
    head = c_part(a, 0, (2, 4))                 # its first two rows
    e = c_empty((2, 3), np.float64)
    c_zero(e)
    c_copy(e, 1, b32, 2, 3)                     # float32 elements into a float64 array
    z = c_view(c_part(a, 5, (1,)), ())          # a 0-d view of one element
    f = c_empty((), np.int32)
    f[()] = 7
    return row, head, e, z, f


def test_the_inline_helpers_are_numpys_views_copies_and_allocations():
    a = np.arange(12.0).reshape(3, 4)
    b32 = np.linspace(0.5, 3.0, 6).astype(np.float32)
    row, head, e, z, f = _helpers(a, b32, 2)
    assert np.array_equal(row, a[2].reshape(2, 2)) and row.flags.c_contiguous
    assert np.array_equal(head, a[:2]) and head.strides == a[:2].strides
    want = np.zeros((2, 3))
    want.reshape(-1)[1:4] = b32[2:5]
    assert e.dtype == np.float64 and np.array_equal(e, want)
    assert z.shape == () and z[()] == 5.0
    assert f.dtype == np.int32 and f.shape == () and f[()] == 7
    row[0, 0] = -1.0                            # views: writes reach the array
    assert a[2, 0] == -1.0


@njit(cache=False)
def _zeroed_ints(n):
    x = c_empty((n, 2), np.int64)
    c_zero(x)
    return x


def test_c_zero_zeroes_every_byte():
    assert np.array_equal(_zeroed_ints(5), np.zeros((5, 2), np.int64))


# slice assignments (``a[..:..] = b``), slices, NumPy's views, allocations and copy loops
_SLOW = {"slice": re.compile(r"\[[^\]\n]*:[^\]\n]*\]"), "reshape": re.compile(r"\.reshape\("),
         "view": re.compile(r"\.view\("), "np.empty": re.compile(r"np\.empty\("),
         "np.zeros": re.compile(r"np\.zeros\("), "copy loop": re.compile(r"for q\w* in range")}


def _sources(graph):
    """The emitted sources of the native loops of every While of `graph`."""
    out = []
    for op in graph.get_operations():
        if op.type == "While":
            out += [lp.source for lp in native_loop._LOOPS.get(op.get_attr("body_graph"),
                                                                {}).values()
                    if isinstance(lp, native_loop._NativeLoop)]
    return out


def _check_sources(graph, want):
    sources = _sources(graph)
    assert sources
    for src in sources:
        body = src[src.index("@njit"):]
        for what, pattern in _SLOW.items():
            assert not pattern.search(body), (what, pattern.search(body).group(0))
        # a recording loop is loop_into alone (its callers allocate its history buffers)
        assert ("def loop_into(" in src) != ("def loop(" in src)
    text = "\n".join(sources)
    for piece in want:
        assert piece in text, piece
    return text


def _stencil_graph():
    """A periodic stencil (axis-0 rolls of a [5, 2] state) forced by one row of a table per
    step, its loss and gradients w.r.t. the state and the table (the gradient of a one-row
    gather is a segment sum; the forward loop records its history)."""
    g = ng.Graph()
    with g.as_default():
        x0 = ng.placeholder(F64, [5, 2], name="x0")
        table = ng.placeholder(F64, [6, 5, 2], name="table")

        def body(i, x):
            lap = ng.roll(x, 1, 0) + ng.roll(x, -2, 0) - 2.0 * x
            return i + 1, x + 0.1 * lap + 0.05 * ng.sin(ng.gather(table, i))
        _, x = ng.while_loop(lambda i, x: i < 6, body, [ng.constant(0), x0])
        loss = ng.reduce_sum(x * x)
        grads = ng.gradients(loss, [x0, table])
    return g, (x0, table), [x, loss] + grads


def _close(results):
    first = results[0]
    for other in results[1:]:
        for a, b in zip(first, other):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def _native_everywhere(graph):
    """Every While of `graph` whose body compiles ran a native loop."""
    for op in graph.get_operations():
        if op.type == "While" and op.get_attr("body_graph").compilable():
            assert any(kind == "native" for kind, _ in native_loop.loop_status(op)), \
                (op.name, native_loop.loop_status(op))


def test_rolls_row_gathers_and_their_gradients_compile_without_slow_constructs(rng):
    """(Also the native loops' test of rolls and row gathers: values against a NumPy loop,
    every loop native; the rolls write into buffers allocated before the loop.)"""
    g, (x0, table), fetches = _stencil_graph()
    xv, tv = rng.normal(size=(5, 2)), rng.normal(size=(6, 5, 2))
    res = run_three(g, fetches, {x0: xv, table: tv})
    _close(res)
    want = xv
    for i in range(6):
        lap = np.roll(want, 1, 0) + np.roll(want, -2, 0) - 2.0 * want
        want = want + 0.1 * lap + 0.05 * np.sin(tv[i])
    np.testing.assert_allclose(res[0][0], want, rtol=1e-12)
    np.testing.assert_allclose(res[0][1], np.sum(want * want), rtol=1e-12)
    _native_everywhere(g)
    _check_sources(g, ["c_part(", "c_copy(", "c_empty(",
                       "raise IndexError('gather index out of range')", "def loop_into("])


def test_tensor_array_reads_and_writes_compile_without_slow_constructs(rng):
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(F64, [4, 3], name="x")
        w = ng.placeholder(F64, [], name="w")
        hs = tanh_rnn(x, w)
        loss = ng.reduce_sum(hs * hs)
        fetches = [hs, loss] + ng.gradients(loss, [x, w])
    feed = {x: rng.normal(size=(4, 3)), w: 0.7}
    _close(run_three(g, fetches, feed))
    _native_everywhere(g)
    _check_sources(g, ["raise IndexError('TensorArray index out of range')", "c_copy("])


def test_a_recorded_history_and_a_second_order_gradient():
    g, (x0, a, n), fetches = decay_graph()
    # 40 steps: the history buffers (16 rows at first) grow twice
    _close(run_three(g, fetches, {x0: np.array([0.3, -1.2, 2.0]), a: 0.9, n: 40}))
    text = _check_sources(g, ["def loop_into(", "c_copy(h"])
    assert "if t == h" in text                  # the growth of a history buffer


def test_a_gather_out_of_range_in_a_native_loop_still_raises():
    g = ng.Graph()
    with g.as_default():
        table = ng.placeholder(F64, [3, 2], name="table")
        n = ng.placeholder(ng.int32, [], name="n")
        acc = gather_sum(table, n)
    tv = np.arange(6.0).reshape(3, 2)
    with config.override(NUMGRAD_FUNCTION_COMPILE_AFTER=0):
        with ng.Session(graph=g, backend="cpu") as s:
            np.testing.assert_array_equal(s.run(acc, {table: tv, n: 3}), tv.sum(axis=0))
            with pytest.raises(InvalidArgumentError, match="GatherV2|indices"):
                s.run(acc, {table: tv, n: 5})
    op, = [op for op in g.get_operations() if op.type == "While"]
    assert [kind for kind, _ in native_loop.loop_status(op)] == ["native"]
    lp, = _sources(g)
    assert "raise IndexError('gather index out of range')" in lp
