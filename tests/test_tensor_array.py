"""ng.TensorArray (numgrad/control/tensor_array.py): TF 2.21's tf.compat.v1.TensorArray in graph
mode.  The values written as literals below are what TF gives for the same programs; gradients
are also checked against finite differences.  Sessions use NUMGRAD_BACKEND."""
import numpy as np
import pytest

import numgrad as ng
from batching_rows import assert_rule_matches_rows

F32, F64 = ng.float32, ng.float64


def _grad_error(x, x0, y):
    return ng.test.compute_gradient_error(x, list(x0.shape), y, y.shape.as_list(),
                                          x_init_value=x0, delta=1e-6)


# === writes, reads and stack ======================================================================
def test_write_read_stack(sess):
    ta = ng.TensorArray(F32, size=3).write(0, 1.0).write(1, 2.0).write(2, 3.0)
    assert ta.element_shape == []
    np.testing.assert_array_equal(sess.run(ta.stack()), [1.0, 2.0, 3.0])
    assert sess.run(ta.read(1)) == 2.0
    assert sess.run(ta.size()) == 3


def test_unwritten_elements_read_as_zeros(sess):
    ta = ng.TensorArray(F32, size=3).write(0, [1.0, 2.0])
    assert ta.element_shape == [2]
    np.testing.assert_array_equal(sess.run(ta.read(1)), [0.0, 0.0])
    np.testing.assert_array_equal(sess.run(ta.stack()), [[1, 2], [0, 0], [0, 0]])


def test_writes_have_value_semantics_and_overwrite(sess):
    """TF 2's TensorArray: writing an index twice keeps the last value (no error); the old
    array is unchanged; the overwritten value gets a zero gradient."""
    a, b = ng.constant(2.0), ng.constant(3.0)
    ta0 = ng.TensorArray(F32, size=3, element_shape=[])
    ta1 = ta0.write(0, a)
    ta2 = ta1.write(0, b)
    np.testing.assert_array_equal(sess.run(ta1.stack()), [2, 0, 0])
    np.testing.assert_array_equal(sess.run(ta2.stack()), [3, 0, 0])
    np.testing.assert_array_equal(sess.run(ta0.stack()), [0, 0, 0])
    assert sess.run(ng.gradients(ng.reduce_sum(ta2.stack()), [a, b])) == [0.0, 1.0]


def test_gradients_of_write_and_read():
    a, b = ng.constant(2.0), ng.constant(3.0)
    ta = ng.TensorArray(F32, size=3).write(0, a).write(2, b * b)
    ga, gb = ng.gradients(ng.reduce_sum(ta.stack() * [1.0, 2.0, 3.0]), [a, b])
    x = ng.constant([1.0, 2.0])
    rt = ng.TensorArray(F32, size=2).unstack(x)
    gx, = ng.gradients(rt.read(0) * rt.read(0) + 3.0 * rt.read(1), [x])
    with ng.Session() as sess:
        assert sess.run([ga, gb]) == [1.0, 18.0]                       # TF's values
        np.testing.assert_array_equal(sess.run(gx), [2.0, 3.0])


def test_gather_scatter_concat_split_values_and_tf_gradients(sess):
    x = ng.constant([1.0, 2.0, 3.0])
    got = ng.TensorArray(F32, size=3).unstack(x).gather([2, 0])
    gg, = ng.gradients(ng.reduce_sum(ng.TensorArray(F32, size=3).unstack(x).gather([2, 2, 0])
                                     * [1.0, 2.0, 3.0]), [x])
    y = ng.constant([1.0, 2.0])
    sc = ng.TensorArray(F32, size=3).scatter([2, 0], y).stack()
    gs, = ng.gradients(ng.reduce_sum(sc * [1.0, 2.0, 3.0]), [y])
    a, b = ng.constant([2.0, 5.0]), ng.constant([3.0, 4.0])
    cat = ng.TensorArray(F32, size=2).write(0, a).write(1, b).concat()
    ga, gb = ng.gradients(ng.reduce_sum(cat * [1.0, 2.0, 3.0, 4.0]), [a, b])
    z = ng.constant([1.0, 2.0, 3.0, 4.0])
    sp = ng.TensorArray(F32, size=2).split(z, [2, 2])
    gz, = ng.gradients(sp.read(1)[1] * 5.0, [z])
    out = sess.run([got, gg, sc, gs, cat, ga, gb, sp.read(1), gz])
    # TF's values except gg: TF 2.21 gives [3, 0, 2], keeping only the last of the duplicate
    # indices (its gather gradient is a scatter); numgrad sums them, the true gradient
    # (test_gather_gradient_sums_duplicates checks it against finite differences).
    want = [[3, 1], [3, 0, 3], [2, 0, 1], [3, 1], [2, 5, 3, 4], [1, 2], [3, 4], [3, 4],
            [0, 0, 0, 5]]
    for g, w in zip(out, want):
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("method", ["gather", "scatter", "concat", "split", "write"])
def test_gradients_against_finite_differences(method):
    x = ng.placeholder(F64, [4, 2])
    ta = ng.TensorArray(F64, size=4).unstack(ng.sin(x))
    w = np.arange(1.0, 9.0).reshape(4, 2)
    y = {"gather": lambda: ta.gather([3, 1, 3]) * w[:3],
         "scatter": lambda: ta.scatter([2, 0], x[1:3] * x[:2]).stack() * w,
         "concat": lambda: ta.write(1, x[0] ** 2).concat() * w.reshape(-1),
         "split": lambda: ng.TensorArray(F64, size=2).split(ng.reshape(x * x, [8]), [4, 4])
         .read(1) * w[0, 0],
         "write": lambda: ta.write(2, ta.read(0) * x[3]).stack() * w}[method]()
    loss = ng.reduce_sum(y * y)
    with ng.Session():
        err = _grad_error(x, np.random.default_rng(2).normal(size=(4, 2)), loss)
    assert err < 1e-6


def test_dynamic_size_grows(sess):
    ta = ng.TensorArray(F32, size=0, dynamic_size=True).write(5, 1.0)
    np.testing.assert_array_equal(sess.run(ta.stack()), [0, 0, 0, 0, 0, 1])
    assert sess.run(ta.size()) == 6


def test_size_is_the_declared_size_after_unstack(sess):
    """TF 2.21: size() of a fixed-size array is its declared size, whatever unstack gave it."""
    assert sess.run(ng.TensorArray(F32, size=2).unstack([1.0, 2.0, 3.0]).size()) == 2


def test_close_identity_clear_after_read(sess):
    ta = ng.TensorArray(F32, size=1, clear_after_read=True).write(0, 1.0)
    assert isinstance(ta.close(), ng.Operation)
    assert sess.run([ta.read(0), ta.read(0)]) == [1.0, 1.0]        # reads do not clear
    np.testing.assert_array_equal(sess.run(ta.identity().stack()), [1.0])
    assert ta.handle is None and ta.dtype == F32 and not ta.dynamic_size


def test_flow_rebuilds_an_array(sess):
    ta = ng.TensorArray(F64, size=2).write(1, 4.0)
    again = ng.TensorArray(F64, flow=ta.flow)
    assert again.element_shape == []
    assert sess.run(again.read(1)) == 4.0


# === in while_loop ================================================================================
def test_loop_writes_then_stack_and_gradients():
    x = ng.constant([1.0, 2.0, 3.0], F64)
    ta = ng.TensorArray(F64, size=3)

    def body(i, ta):
        return i + 1, ta.write(i, ng.gather(x, i) ** 2)
    _, ta = ng.while_loop(lambda i, ta: i < 3, body, [0, ta])
    s = ta.stack()
    assert s.shape == [3] and isinstance(ta, ng.TensorArray)
    y = ng.reduce_sum(s * [1.0, 10.0, 100.0])
    g, = ng.gradients(y, [x])
    h, = ng.gradients(g, [x])                          # d2y/dx2 (diagonal): 2 w
    with ng.Session() as sess:
        np.testing.assert_array_equal(sess.run(s), [1, 4, 9])
        np.testing.assert_array_equal(sess.run(g), [2, 40, 600])      # TF's values
        np.testing.assert_array_equal(sess.run(h), [2, 20, 200])
    assert _grad_error(x, np.array([1.0, 2.0, 3.0]), y) < 1e-6


def test_loop_reads_a_captured_array():
    x = ng.placeholder(F64, [3])
    ta_in = ng.TensorArray(F64, size=3).unstack(x)
    _, acc = ng.while_loop(lambda i, a: i < 3,
                           lambda i, a: (i + 1, a + ng.sin(ta_in.read(i)) * ta_in.read(i)),
                           [0, ng.constant(0.0, F64)])
    g, = ng.gradients(acc, [x])
    xv = np.array([0.3, -1.2, 2.0])
    with ng.Session() as sess:
        np.testing.assert_allclose(sess.run(g, {x: xv}), np.sin(xv) + xv * np.cos(xv))
    assert _grad_error(x, xv, acc) < 1e-6


def test_loop_accumulates_a_recurrence():
    """An RNN-like recurrence h = tanh(w h + x_t), every h written: gradients w.r.t. w and the
    inputs against finite differences."""
    w = ng.placeholder(F64, [2, 2])
    xs = ng.placeholder(F64, [4, 2])
    inputs = ng.TensorArray(F64, size=4).unstack(xs)

    def body(t, h, out):
        h = ng.tanh(ng.squeeze(ng.matmul(w, h[:, None]), 1) + inputs.read(t))
        return t + 1, h, out.write(t, h)
    _, _, out = ng.while_loop(lambda t, h, out: t < 4, body,
                              [0, ng.zeros([2], F64), ng.TensorArray(F64, size=4)])
    loss = ng.reduce_sum(out.stack() * np.arange(8.0).reshape(4, 2))
    rng = np.random.default_rng(3)
    wv, xv = rng.normal(size=(2, 2)), rng.normal(size=(4, 2))
    with ng.Session():
        assert ng.test.compute_gradient_error(w, [2, 2], loss, [], x_init_value=wv,
                                              delta=1e-6, extra_feed_dict={xs: xv}) < 1e-6
        assert ng.test.compute_gradient_error(xs, [4, 2], loss, [], x_init_value=xv,
                                              delta=1e-6, extra_feed_dict={w: wv}) < 1e-6


def test_loop_with_dynamic_size(sess):
    ta = ng.TensorArray(F32, size=0, dynamic_size=True)
    _, ta = ng.while_loop(lambda i, ta: i < 4,
                          lambda i, ta: (i + 1, ta.write(i, ng.cast(i, F32))), [0, ta])
    assert ta.stack().shape.as_list() == [None]
    np.testing.assert_array_equal(sess.run(ta.stack()), [0, 1, 2, 3])
    assert sess.run(ta.size()) == 4


def test_loop_needs_a_known_element_shape():
    x = ng.placeholder(F32, [None])
    ta = ng.TensorArray(F32, size=2)
    n = len(ng.get_default_graph().get_operations())
    with pytest.raises(ValueError, match="give the TensorArray an element_shape"):
        ng.while_loop(lambda i, ta: i < 2, lambda i, ta: (i + 1, ta.write(i, x)), [0, ta])
    assert len(ng.get_default_graph().get_operations()) == n


def test_loop_body_must_return_the_array():
    ta = ng.TensorArray(F32, size=2, element_shape=[])
    with pytest.raises(TypeError, match="loop variable 1 is a TensorArray"):
        ng.while_loop(lambda i, ta: i < 2, lambda i, ta: (i + 1, ta.stack()), [0, ta])


# === errors (TF's messages) =======================================================================
@pytest.mark.parametrize("build, message", [
    (lambda: ng.TensorArray(F32, size=3).write(0, 1.0).read(4),
     "Trying to access element 4 in a list with 3 elements."),
    (lambda: ng.TensorArray(F32, size=3).write(5, 1.0).stack(),
     "Trying to modify element 5 in a list with 3 elements."),
    (lambda: ng.TensorArray(F32, size=3).write(-1, 1.0).stack(),
     "Trying to modify element -1 in a list with 3 elements."),
], ids=["read", "write", "write_negative"])
def test_index_out_of_range_at_run_time(sess, build, message):
    out = build()
    with pytest.raises(ng.errors.InvalidArgumentError, match=message):
        sess.run(out)


def _ta(size=3, **kw):
    return lambda: ng.TensorArray(F32, size=size, **kw)


@pytest.mark.parametrize("make, fail, exc, message", [
    (lambda: (ng.TensorArray(F32, size=3), ng.constant(1, ng.int32)),
     lambda a: a[0].write(0, a[1]), TypeError,
     "Invalid data types; op elements int32 but list elements float32"),
    (lambda: ng.TensorArray(F32, size=3).write(0, [1.0]), lambda ta: ta.write(1, [1.0, 2.0]),
     ValueError, r"Inconsistent shapes: saw \(2,\) but expected \(1,\)"),
    (_ta(element_shape=[2]), lambda ta: ta.write(0, [1.0]), ValueError, "Inconsistent shapes"),
    (lambda: ng.TensorArray(F32, size=3).unstack([1.0, 2.0]), lambda ta: ta.stack(),
     ng.errors.InvalidArgumentError, "expected a list with 3 elements but got a list with 2"),
    (_ta(2), lambda ta: ta.unstack(1.0), ng.errors.InvalidArgumentError,
     "Tensor must be at least a vector"),
    (_ta(4), lambda ta: ta.scatter([3, 1], [[1.0], [2.0], [3.0]]),
     ng.errors.InvalidArgumentError,
     r"Expected len\(indices\) == tensor.shape\[0\], but saw: 2 vs. 3"),
    (_ta(2), lambda ta: ta.split([1.0, 2.0, 3.0], [1, 1]), ng.errors.InvalidArgumentError,
     "Unused values in tensor. Length of tensor: 3 Values used: 2"),
    (_ta(), lambda ta: ta.read(1), ng.errors.InvalidArgumentError,
     "Trying to read an uninitialized tensor but element_shape is not fully defined"),
    (_ta(0), lambda ta: ta.stack(), ng.errors.InvalidArgumentError,
     "Tried to stack elements of an empty list with non-fully-defined element_shape"),
    (lambda: None, lambda _: ng.TensorArray(F32), ValueError,
     "Argument `size` must be provided if argument `flow` is not provided."),
    (lambda: ng.zeros([2]), lambda z: ng.TensorArray(F32, size=2, flow=z), ValueError,
     "Cannot provide both `flow` and `size`"),
    (_ta(2, infer_shape=False), lambda ta: ta.split([1.0, 2.0, 3.0], [1, 2]),
     NotImplementedError, "holds elements of one shape"),
], ids=["dtype", "shape", "element_shape", "unstack_size", "unstack_scalar", "scatter",
        "split", "read_uninitialized", "stack_empty", "no_size", "flow_and_size", "ragged"])
def test_build_time_errors_leave_the_graph_unchanged(make, fail, exc, message):
    base = make()
    before = [op.name for op in ng.get_default_graph().get_operations()]
    with pytest.raises(exc, match=message):
        fail(base)
    assert [op.name for op in ng.get_default_graph().get_operations()] == before


# === batching rules (ng.jacobian stays vectorised) ================================================
ROW_CASES = {
    "TensorArrayRead": lambda s: ng.TensorArray(F64, size=2).unstack(s).read(1) * s,
    "TensorArrayWrite": lambda s: ng.TensorArray(F64, size=3).unstack(ng.concat([s, s[:1]], 0))
    .write(1, s[0] * 2.0).stack()[:2] + ng.TensorArray(F64, size=2, element_shape=[3])
    .write(0, s[1]).stack(),
}


@pytest.mark.parametrize("op_type", sorted(ROW_CASES))
def test_batching_rule_matches_rows(op_type):
    assert_rule_matches_rows(op_type, ROW_CASES[op_type])


def test_jacobian_through_an_array(sess):
    x = ng.placeholder(F64, [3])
    ta = ng.TensorArray(F64, size=3).write(2, x[0] * x[1]).write(0, ng.sin(x[2]))
    y = ta.stack() + ta.read(2) * x
    jac = ng.jacobian(y, x)
    xv = np.array([0.4, -1.1, 0.7])
    want = np.zeros((3, 3))
    want[0, 2] = np.cos(xv[2])
    want[2, :2] = [xv[1], xv[0]]
    want += np.outer(xv, [xv[1], xv[0], 0.0]) + np.diag([xv[0] * xv[1]] * 3)
    np.testing.assert_allclose(sess.run(jac, {x: xv}), want, rtol=1e-12)


def test_cond_returns_an_array():
    x = ng.placeholder(F64, [])
    ta = ng.TensorArray(F64, size=2, element_shape=[])
    out = ng.cond(x > 0.0, lambda: ta.write(0, x * x), lambda: ta.write(1, ng.sin(x)))
    assert isinstance(out, ng.TensorArray)
    s = out.stack()
    g, = ng.gradients(ng.reduce_sum(s), [x])
    with ng.Session() as sess:
        sv, gv = sess.run([s, g], {x: 1.5})
        np.testing.assert_allclose(sv, [2.25, 0.0])
        assert gv == 3.0
        sv, gv = sess.run([s, g], {x: -0.5})
        np.testing.assert_allclose(sv, [0.0, np.sin(-0.5)])
        np.testing.assert_allclose(gv, np.cos(-0.5))
    with pytest.raises(TypeError, match="one branch returned a TensorArray"):
        ng.cond(x > 0.0, lambda: ta.write(0, x), lambda: ta.write(0, x).stack())
