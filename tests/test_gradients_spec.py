"""gradients(): one test (or more) per rule of its semantics (docs/gradients.md, which follows
tf.compat.v1.gradients).  Sessions use NUMGRAD_BACKEND (the `sess` fixture)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.ops import registry as op_registry
from numgrad.tensor_shape import TensorShape


# --- helpers -----------------------------------------------------------------------------------
def _op_names(graph=None):
    return [op.name for op in (graph or ng.get_default_graph()).get_operations()]


def _new_names(before, graph=None):
    return [n for n in _op_names(graph) if n not in set(before)]


def _ensure_op(op_type, infer=None, compute=None):
    """Register a user op type once per process (the op registry is global)."""
    if op_type not in op_registry.op_types():
        op_registry.register_op(
            op_type,
            infer or (lambda inputs, attrs: [(inputs[0].dtype, inputs[0].shape)]),
            compute or (lambda vals, attrs: [np.square(vals[0])]),
            kind="opaque")


def _ensure_rule(op_type, fn):
    from numgrad.gradients import registry as grad_registry
    if not grad_registry.has_rule(op_type):
        ng.RegisterGradient(op_type)(fn)


def _user_op(op_type, x, name=None):
    return ng.get_default_graph().create_op(op_type, [x], name=name).outputs[0]


# === the docstring's examples ====================================================================
def test_docstring_partial_derivatives_with_stop_gradients(sess):
    a = ng.constant(0.)
    b = 2 * a
    g = ng.gradients(a + b, [a, b], stop_gradients=[a, b])
    assert all(isinstance(t, ng.Tensor) for t in g)
    np.testing.assert_allclose(sess.run(g), [1.0, 1.0])


def test_docstring_total_derivatives(sess):
    a = ng.constant(0.)
    b = 2 * a
    g = ng.gradients(a + b, [a, b])
    np.testing.assert_allclose(sess.run(g), [3.0, 1.0])


def test_docstring_stop_gradient_op_version(sess):
    a = ng.stop_gradient(ng.constant(0.))
    b = ng.stop_gradient(2 * a)
    g = ng.gradients(a + b, [a, b])
    np.testing.assert_allclose(sess.run(g), [1.0, 1.0])


def test_stop_gradient_op_and_stop_gradients_combined(sess):
    # backprop stops at whichever is met first
    x = ng.constant(2.0)
    h = ng.stop_gradient(x * 3.0)
    k = x * x
    y = h * x + k
    g, = ng.gradients(y, x, stop_gradients=[k])
    assert sess.run(g) == pytest.approx(6.0)         # only d(h*x)/dx = h


def test_docstring_unconnected_none_and_zero(sess):
    a = ng.ones([1, 2])
    b = ng.ones([3, 1])
    assert ng.gradients([b], [a], unconnected_gradients='none') == [None]
    assert ng.gradients([b], [a]) == [None]
    g2 = ng.gradients([b], [a], unconnected_gradients='zero')
    out = sess.run(g2)
    assert isinstance(out, list) and len(out) == 1
    assert out[0].dtype == np.float32
    np.testing.assert_array_equal(out[0], np.zeros((1, 2), np.float32))


def test_unconnected_enum_values_accepted(sess):
    a = ng.ones([2])
    b = ng.ones([3])
    assert ng.gradients(b, a, unconnected_gradients=ng.UnconnectedGradients.NONE) == [None]
    g, = ng.gradients(b, a, unconnected_gradients=ng.UnconnectedGradients.ZERO)
    np.testing.assert_array_equal(sess.run(g), [0.0, 0.0])


# === argument validation ========================================================================
@pytest.mark.parametrize("bad", ["bogus", "ZERO", "None", 0, None])
def test_unknown_unconnected_gradients_value(bad):
    x = ng.constant(1.0)
    with pytest.raises(ValueError, match="Unknown value for unconnected_gradients"):
        ng.gradients(x * 2.0, x, unconnected_gradients=bad)


def test_unknown_unconnected_gradients_raised_at_once():
    # even when nothing else would be looked at (empty ys and xs)
    before = _op_names()
    with pytest.raises(ValueError, match="Unknown value for unconnected_gradients"):
        ng.gradients([], [], unconnected_gradients="everything")
    assert _op_names() == before


def test_grad_ys_length_mismatch():
    x = ng.constant([1.0, 2.0])
    y1, y2 = x * 2.0, x * 3.0
    with pytest.raises(ValueError, match=r"Length mismatch\. Passed 1 grad_ys for 2 ys"):
        ng.gradients([y1, y2], x, grad_ys=[ng.constant([1.0, 1.0])])
    with pytest.raises(ValueError, match=r"Passed 3 grad_ys for 1 ys"):
        ng.gradients(y1, x, grad_ys=[1.0, 1.0, 1.0])


def test_float_y_with_bool_grad_y_raises_type_error():
    x = ng.constant([1.0, 2.0])
    y = x * 2.0
    with pytest.raises(TypeError):
        ng.gradients(y, x, grad_ys=[ng.constant([True, False])])
    with pytest.raises(TypeError):
        ng.gradients(y, x, grad_ys=True)


def test_int_y_with_bool_grad_y_raises_type_error():
    xi = ng.constant([1, 2])
    with pytest.raises(TypeError):
        ng.gradients(xi, xi, grad_ys=[ng.constant([True, True])])


@pytest.mark.parametrize("bad", [object(), "not a tensor", {"a": 1}])
def test_unconvertible_ys_raise_type_error(bad):
    x = ng.constant(1.0)
    with pytest.raises(TypeError):
        ng.gradients(bad, [x])


def test_unconvertible_xs_raise_type_error():
    x = ng.constant(1.0)
    with pytest.raises(TypeError):
        ng.gradients(x * 2.0, [object()])


def test_tensors_from_another_graph_raise_value_error():
    g1, g2 = ng.Graph(), ng.Graph()
    with g1.as_default():
        x1 = ng.constant(1.0)
    with g2.as_default():
        x2 = ng.constant(2.0)
        y2 = x2 * 3.0
    with pytest.raises(ValueError):
        ng.gradients(y2, x1)
    with pytest.raises(ValueError):
        ng.gradients(y2, [x2, x1])
    with g2.as_default():
        with pytest.raises(ValueError):
            ng.gradients(y2, x2, stop_gradients=[x1])
        with pytest.raises(ValueError):
            ng.gradients(y2, x2, grad_ys=[x1])


def test_gradients_on_non_default_graph_builds_there(sess):
    g2 = ng.Graph()
    with g2.as_default():
        x = ng.constant(3.0)
        y = x * x
    n_default = len(ng.get_default_graph().get_operations())
    g, = ng.gradients(y, x)            # called while another graph is the default
    assert g.graph is g2
    assert len(ng.get_default_graph().get_operations()) == n_default
    with ng.Session(graph=g2) as s:
        assert s.run(g) == pytest.approx(6.0)


def test_gradients_in_eager_mode_raises_runtime_error():
    ng.enable_eager_execution()
    try:
        x = ng.constant(1.0)
        with pytest.raises(RuntimeError):
            ng.gradients(x * 2.0, x)
        with pytest.raises(RuntimeError):
            ng.hessians(x * x, x)
    finally:
        ng.disable_eager_execution()


def test_ys_xs_accept_single_values_lists_and_tuples(sess):
    x = ng.constant(2.0)
    y = x * x
    for ys, xs in [(y, x), ([y], [x]), ((y,), (x,)), (y, (x,))]:
        g = ng.gradients(ys, xs)
        assert isinstance(g, list) and len(g) == 1
        assert sess.run(g[0]) == pytest.approx(4.0)


def test_stop_gradients_single_tensor(sess):
    a = ng.constant(1.0)
    b = a * 2.0
    g = ng.gradients(a + b, [a], stop_gradients=b)
    assert sess.run(g) == [pytest.approx(1.0)]


# === seeds ======================================================================================
def test_given_seed_scales(sess):
    xs = ng.constant(1.5)
    g, = ng.gradients(xs * xs, xs, grad_ys=2.0)
    assert sess.run(g) == pytest.approx(6.0)
    x = ng.constant([1.0, 2.0])
    y = x * 3.0
    g, = ng.gradients(y, x, grad_ys=[ng.constant([1.0, -2.0])])
    np.testing.assert_allclose(sess.run(g), [3.0, -6.0])


def test_given_seed_is_identity_named_grad_ys(sess):
    x = ng.constant(1.0)
    y = x * 3.0
    ng.gradients(y, x, grad_ys=2.0)
    graph = ng.get_default_graph()
    seed = graph.get_operation_by_name("gradients/grad_ys_0")
    assert seed.type == "Identity"
    assert seed.outputs[0].dtype == ng.float32          # 2.0 converted with no hint


def test_given_int_seed_converted_without_hint(sess):
    xi = ng.constant(7)
    g, = ng.gradients(xi, xi, grad_ys=2)
    seed = ng.get_default_graph().get_operation_by_name("gradients/grad_ys_0")
    assert seed.type == "Identity"
    assert seed.outputs[0].dtype == ng.int32
    assert g.dtype == ng.int32
    assert sess.run(g) == 2


def test_default_seed_is_ones_named_grad_ys(sess):
    x = ng.placeholder(ng.float64, [None, 2], name="x")
    y1 = x * 2.0
    y2 = ng.reduce_sum(x)
    ng.gradients([y1, y2], x)
    graph = ng.get_default_graph()
    s0 = graph.get_tensor_by_name("gradients/grad_ys_0:0")
    s1 = graph.get_tensor_by_name("gradients/grad_ys_1:0")
    assert s0.dtype == ng.float64 and s1.dtype == ng.float64
    v0, v1 = sess.run([s0, s1], {x: np.zeros((3, 2))})
    np.testing.assert_array_equal(v0, np.ones((3, 2)))   # shape(y) at run time
    assert np.shape(v1) == () and v1 == 1.0


def test_none_seed_for_int_y_is_int_ones(sess):
    xi = ng.constant([[4, 5, 6]])
    g, = ng.gradients(xi, xi)
    assert g is not None
    assert g.dtype == ng.int32
    out = sess.run(g)
    np.testing.assert_array_equal(out, [[1, 1, 1]])
    assert out.dtype == np.int32


def test_none_seed_for_bool_y(sess):
    xb = ng.constant([True, False])
    g, = ng.gradients(xb, xb)
    assert g.dtype == ng.bool
    np.testing.assert_array_equal(sess.run(g), [True, True])
    # a bool y depending on a float x gives None (comparisons are not differentiable)
    x = ng.constant([1.0, -1.0])
    assert ng.gradients(x > 0.0, x) == [None]


def test_mixed_none_and_given_seeds(sess):
    x = ng.constant([1.0, 2.0])
    g, = ng.gradients([x * 2.0, x * 3.0], x, grad_ys=[None, ng.constant([10.0, 20.0])])
    np.testing.assert_allclose(sess.run(g), [32.0, 62.0])


def test_seed_with_incompatible_static_shape_fails():
    # "a clear early error is welcome where TF would fail later anyway": either way, an error.
    x = ng.constant([1.0, 2.0])
    with pytest.raises((ValueError, ng.errors.InvalidArgumentError)):
        g, = ng.gradients(x * 2.0, x, grad_ys=[ng.constant([1.0, 2.0, 3.0])])
        with ng.Session() as s:
            s.run(g)


# === name scopes ================================================================================
def test_name_scope_gradients_then_gradients_1():
    x = ng.constant(1.0, name="x")
    y = ng.multiply(x, x)
    assert y.op.name == "Mul"
    g1, = ng.gradients(y, x)
    g2, = ng.gradients(y, x)
    assert g1.op.name.startswith("gradients/")
    assert g2.op.name.startswith("gradients_1/")
    names = _op_names()
    assert any(n.startswith("gradients/Mul_grad/") for n in names)
    assert any(n.startswith("gradients_1/Mul_grad/") for n in names)
    assert "gradients/grad_ys_0" in names and "gradients_1/grad_ys_0" in names


def test_all_new_ops_live_under_the_scope():
    x = ng.placeholder(ng.float32, [3], name="x")
    y = ng.reduce_sum(ng.sin(x) * ng.exp(x) + x)
    before = _op_names()
    ng.gradients(y, x)
    new = _new_names(before)
    assert new and all(n.startswith("gradients/") for n in new), new


def test_custom_name_and_nested_scope():
    x = ng.constant(2.0)
    y = ng.multiply(x, x)
    g, = ng.gradients(y, x, name="my_grads")
    assert g.op.name.startswith("my_grads/")
    with ng.name_scope("outer"):
        before = _op_names()
        g, = ng.gradients(y, x)
        new = _new_names(before)
    assert all(n.startswith("outer/gradients/") for n in new), new
    assert any(n.startswith("outer/gradients/Mul_grad/") for n in new)
    with ng.name_scope("outer"):
        g, = ng.gradients(y, x)
    assert g.op.name.startswith("outer_1/gradients/")


def test_rule_ops_named_under_op_grad_scope():
    x = ng.constant([1.0, 2.0], name="x")
    w = ng.constant([3.0, 4.0], name="w")
    y = ng.multiply(x, w)
    ng.gradients(y, [x, w])
    names = _op_names()
    assert "gradients/Mul_grad/Mul" in names
    assert "gradients/Mul_grad/Mul_1" in names


# === which ops are visited ======================================================================
def test_constant_y_gives_none():
    x = ng.constant(1.0)
    assert ng.gradients(3.0, [x]) == [None]
    assert ng.gradients([3.0, np.ones(2)], [x]) == [None]


def test_int_x_gets_none():
    xi = ng.constant([1, 2], name="xi")
    y = ng.cast(xi, ng.float32) * 2.0
    assert ng.gradients(y, xi) == [None]
    assert ng.gradients(y, xi, unconnected_gradients="none") == [None]


def test_int_x_unconnected_zero(sess):
    xi = ng.constant([1, 2], name="xi")
    y = ng.cast(xi, ng.float32) * 2.0
    g, = ng.gradients(y, xi, unconnected_gradients="zero")
    assert g.dtype == ng.int32
    np.testing.assert_array_equal(sess.run(g), [0, 0])


def test_int_x_equals_int_y_returns_seed(sess):
    xi = ng.constant([[1, 2], [3, 4]])
    g, = ng.gradients(xi, xi, grad_ys=[ng.constant([[5, 6], [7, 8]])])
    np.testing.assert_array_equal(sess.run(g), [[5, 6], [7, 8]])


def test_float_int_float_path_gives_none():
    x = ng.constant([1.5, 2.5])
    i = ng.cast(x, ng.int32)
    y = ng.cast(i, ng.float32) * 3.0
    assert ng.gradients(y, x) == [None]
    # and with another connected term only that term counts
    z = y + x * 2.0
    g, = ng.gradients(z, x)
    with ng.Session() as s:
        np.testing.assert_allclose(s.run(g), [2.0, 2.0])


def test_int_intermediate_between_floats_in_same_expression(sess):
    x = ng.constant(1.7)
    y = x * ng.cast(ng.cast(x, ng.int32), ng.float32)     # x * floor(x) here
    g, = ng.gradients(y, x)
    assert sess.run(g) == pytest.approx(1.0)


def test_unreachable_y_is_ignored(sess):
    x = ng.constant([1.0, 2.0])
    other = ng.constant([5.0, 6.0])
    y1 = x * 3.0
    y2 = other * other          # unreachable from x
    g, = ng.gradients([y1, y2], x)
    np.testing.assert_allclose(sess.run(g), [3.0, 3.0])
    assert ng.gradients(y2, x) == [None]


def test_x_in_stop_gradients_still_gets_its_gradient(sess):
    x = ng.constant([1.0, 2.0])
    y = x * x
    g, = ng.gradients(y, x, stop_gradients=[x])
    np.testing.assert_allclose(sess.run(g), [2.0, 4.0])


def test_stop_gradients_intermediate_gets_gradient_but_blocks(sess):
    x = ng.constant(3.0)
    h = x * x
    y = h * 2.0
    gx, gh = ng.gradients(y, [x, h], stop_gradients=[h])
    assert gx is None
    assert sess.run(gh) == pytest.approx(2.0)


def test_x_depending_on_another_x_total_derivative(sess):
    x = ng.constant(2.0)
    h = x * x
    y = h * 3.0
    gx, gh = ng.gradients(y, [x, h])
    assert sess.run([gx, gh]) == [pytest.approx(12.0), pytest.approx(3.0)]
    gx, gh = ng.gradients(y, [x, h], stop_gradients=[h])
    assert gx is None
    assert sess.run(gh) == pytest.approx(3.0)


def test_x_depending_on_another_x_listed_first(sess):
    x = ng.constant(2.0)
    h = x * x
    y = h * 3.0 + x
    gh, gx = ng.gradients(y, [h, x])
    assert sess.run([gh, gx]) == [pytest.approx(3.0), pytest.approx(13.0)]


def test_duplicate_xs_get_the_same_tensor(sess):
    x = ng.constant([1.0, 2.0])
    y = x * x
    g = ng.gradients(y, [x, x])
    assert len(g) == 2
    assert g[0] is g[1]
    np.testing.assert_allclose(sess.run(g[0]), [2.0, 4.0])


def test_duplicate_xs_unconnected():
    x = ng.constant([1.0, 2.0])
    y = ng.constant(3.0)
    assert ng.gradients(y, [x, x]) == [None, None]


def test_empty_ys_all_none():
    x = ng.constant(1.0)
    w = ng.constant(2.0)
    assert ng.gradients([], [x, w]) == [None, None]


def test_empty_xs_gives_empty_list():
    x = ng.constant(1.0)
    assert ng.gradients(x * 2.0, []) == []
    assert ng.gradients([], []) == []


def test_y_listed_twice_counts_twice(sess):
    x = ng.constant([1.0, 2.0])
    y = x * 3.0
    g, = ng.gradients([y, y], x)
    np.testing.assert_allclose(sess.run(g), [6.0, 6.0])
    g, = ng.gradients([y, y], x, grad_ys=[[1.0, 1.0], [2.0, 2.0]])
    np.testing.assert_allclose(sess.run(g), [9.0, 9.0])


def test_x_that_is_also_y(sess):
    x = ng.constant([1.0, 2.0])
    g, = ng.gradients(x, x)
    np.testing.assert_allclose(sess.run(g), [1.0, 1.0])
    g, = ng.gradients([x, x * 2.0], x)
    np.testing.assert_allclose(sess.run(g), [3.0, 3.0])


def test_multiple_ys_summed(sess):
    x = ng.constant([1.0, 2.0])
    w = ng.constant([3.0, 4.0])
    y1 = x * w
    y2 = ng.reduce_sum(x * x)
    y3 = w * 2.0
    gx, gw = ng.gradients([y1, y2, y3], [x, w])
    np.testing.assert_allclose(sess.run(gx), [3.0 + 2.0, 4.0 + 4.0])
    np.testing.assert_allclose(sess.run(gw), [1.0 + 2.0, 2.0 + 2.0])


def test_diamond_graph_pending_counts(sess):
    x = ng.constant(1.5)
    a = ng.sin(x)
    b = a * a
    c = ng.exp(a)
    y = b + c * a
    g, = ng.gradients(y, x)
    s, co = np.sin(1.5), np.cos(1.5)
    expected = (2 * s + np.exp(s) * s + np.exp(s)) * co
    assert sess.run(g) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("make", [
    lambda x: ng.stop_gradient(x),
    lambda x: ng.zeros_like(x),
    lambda x: ng.ones_like(x),
    lambda x: ng.cast(ng.shape(x), ng.float32),
    lambda x: ng.cast(ng.size(x), ng.float32),
    lambda x: ng.cast(ng.rank(x), ng.float32),
    lambda x: ng.cast(ng.greater(x, 0.0), ng.float32),
    lambda x: ng.cast(ng.equal(x, 1.0), ng.float32),
    lambda x: ng.cast(ng.logical_not(ng.less(x, 0.0)), ng.float32),
])
def test_not_differentiable_ops_propagate_none(make):
    x = ng.constant([1.0, 2.0])
    y = make(x) * 2.0
    assert ng.gradients(y, x) == [None]


# === per op =====================================================================================
def test_missing_rule_raises_lookup_error():
    x = ng.constant([5.0, 7.0])
    y = ng.truncatemod(x, 3.0, name="my_mod") * 2.0
    with pytest.raises(LookupError) as ei:
        ng.gradients(y, x)
    msg = str(ei.value)
    assert "No gradient defined for operation" in msg
    assert "my_mod" in msg
    assert "TruncateMod" in msg


def test_missing_rule_not_raised_when_op_is_not_processed():
    x = ng.constant([5.0, 7.0])
    w = ng.constant([1.0, 2.0])
    m = ng.truncatemod(w, 3.0)
    # truncatemod is not between x and y: no error
    y = x * 2.0 + m
    g, = ng.gradients(y, x)
    assert g is not None
    # and a stop op (x itself is a TruncateMod output with no x among its ancestors)
    g, = ng.gradients(m * 2.0, m)
    assert g is not None
    # and if nothing flows into it
    assert ng.gradients(m * 2.0, w, stop_gradients=[m]) == [None]


def test_register_gradient_for_user_op(sess):
    _ensure_op("SpecTestSquare")

    def _grad(op, grad):
        return [grad * 2.0 * op.inputs[0]]
    _ensure_rule("SpecTestSquare", _grad)
    x = ng.constant([1.0, 3.0])
    y = _user_op("SpecTestSquare", x)
    assert y.op.type == "SpecTestSquare"
    g, = ng.gradients(y, x)
    np.testing.assert_allclose(sess.run(g), [2.0, 6.0])
    assert any(n.startswith("gradients/SpecTestSquare_grad/") for n in _op_names())


def test_register_gradient_twice_raises_key_error():
    _ensure_op("SpecTestTwice")
    _ensure_rule("SpecTestTwice", lambda op, grad: [grad])
    with pytest.raises(KeyError):
        ng.RegisterGradient("SpecTestTwice")(lambda op, grad: [grad])


def test_not_differentiable_user_op():
    _ensure_op("SpecTestNoGrad")
    ng.NotDifferentiable("SpecTestNoGrad")
    x = ng.constant([1.0, 3.0])
    y = _user_op("SpecTestNoGrad", x) * 2.0
    assert ng.gradients(y, x) == [None]
    # and an unregistered user op raises LookupError
    _ensure_op("SpecTestNoRule")
    y2 = _user_op("SpecTestNoRule", x, name="norule") * 2.0
    with pytest.raises(LookupError, match="No gradient defined for operation 'norule'"):
        ng.gradients(y2, x)


def test_rule_returning_wrong_number_of_gradients():
    _ensure_op("SpecTestTooMany")
    _ensure_rule("SpecTestTooMany", lambda op, grad: [grad, grad])
    x = ng.constant([1.0, 3.0])
    y = _user_op("SpecTestTooMany", x, name="too_many")
    with pytest.raises(ValueError,
                       match=r"Num gradients 2 generated for op too_many do not match num inputs 1"):
        ng.gradients(y, x)


def test_rule_returning_wrong_shaped_gradient():
    _ensure_op("SpecTestBadShape")
    _ensure_rule("SpecTestBadShape", lambda op, grad: [ng.ones([3])])
    x = ng.constant([1.0, 3.0])
    y = _user_op("SpecTestBadShape", x)
    with pytest.raises(ValueError,
                       match="Incompatible shapes between op input and calculated input gradient"):
        ng.gradients(y, x)


def test_rule_returning_single_tensor_is_accepted(sess):
    _ensure_op("SpecTestBare")
    _ensure_rule("SpecTestBare", lambda op, grad: grad * 5.0)
    x = ng.constant([1.0, 3.0])
    g, = ng.gradients(_user_op("SpecTestBare", x), x)
    np.testing.assert_allclose(sess.run(g), [5.0, 5.0])


def test_rule_not_called_for_stop_op():
    calls = []
    _ensure_op("SpecTestCounted")

    def _grad(op, grad):
        calls.append(op.name)
        return [grad]
    _ensure_rule("SpecTestCounted", _grad)
    x = ng.constant([1.0])
    h = _user_op("SpecTestCounted", x, name="counted")
    y = h * 2.0
    ng.gradients(y, [x, h], stop_gradients=[h])
    assert calls == []
    ng.gradients(y, x)
    assert calls == ["counted"]


def test_multi_output_op_only_one_output_used(sess):
    x = ng.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    a, b, c = ng.unstack(x)
    y = b * 2.0
    g, = ng.gradients(y, x)
    np.testing.assert_allclose(sess.run(g), [[0, 0], [2, 2], [0, 0]])


def test_multi_output_op_none_becomes_zeros_like_output():
    seen = []
    orig = None
    from numgrad.gradients import registry as grad_registry
    orig = grad_registry._RULES["Unpack"]

    def spy(op, *grads):
        seen.append(grads)
        return orig(op, *grads)
    grad_registry._RULES["Unpack"] = spy
    try:
        x = ng.constant([[1.0, 2.0], [3.0, 4.0]])
        a, b = ng.unstack(x)
        ng.gradients(a * 3.0, x)
    finally:
        grad_registry._RULES["Unpack"] = orig
    assert len(seen) == 1
    grads = seen[0]
    assert len(grads) == 2 and all(isinstance(t, ng.Tensor) for t in grads)
    assert grads[1].op.type == "ZerosLike"


def test_softmax_cross_entropy_loss_output_only(sess):
    logits = ng.constant([[1.0, 2.0, 3.0]])
    labels = ng.constant([[0.2, 0.3, 0.5]])
    loss = ng.nn.softmax_cross_entropy_with_logits_v2(labels=labels, logits=logits)
    gl, glab = ng.gradients(loss, [logits, labels])
    lv = np.array([1.0, 2.0, 3.0])
    sm = np.exp(lv) / np.exp(lv).sum()
    np.testing.assert_allclose(sess.run(gl), [sm - [0.2, 0.3, 0.5]], rtol=1e-5, atol=1e-6)
    # labels are differentiated too: -log_softmax(logits)
    np.testing.assert_allclose(sess.run(glab), [-np.log(sm)], rtol=1e-5)


def test_gate_gradients_same_values(sess):
    x = ng.constant([1.0, 2.0])
    w = ng.constant([3.0, 4.0])
    y = ng.reduce_sum(x * w + ng.sin(x) * w)
    plain = sess.run(ng.gradients(y, [x, w]))
    gated = ng.gradients(y, [x, w], gate_gradients=True)
    out = sess.run(gated)
    for p, q in zip(plain, out):
        np.testing.assert_allclose(q, p, rtol=1e-6)


def test_gate_gradients_adds_control_dependencies():
    x = ng.constant([1.0, 2.0])
    w = ng.constant([3.0, 4.0])
    y = ng.multiply(x, w)
    before = _op_names()
    gx, gw = ng.gradients(y, [x, w], gate_gradients=True)
    new_ops = [ng.get_default_graph().get_operation_by_name(n) for n in _new_names(before)]
    assert any(op.control_inputs for op in new_ops)
    assert gx.op.control_inputs or gx.op.inputs[0].op.control_inputs or \
        any(op.control_inputs for op in new_ops if op.name.startswith("gradients/Mul_grad/"))


# === aggregation ================================================================================
AGG = [None, ng.AggregationMethod.ADD_N, ng.AggregationMethod.DEFAULT,
       ng.AggregationMethod.EXPERIMENTAL_TREE, ng.AggregationMethod.EXPERIMENTAL_ACCUMULATE_N]


def test_aggregation_method_constants():
    assert ng.AggregationMethod.ADD_N == 0
    assert ng.AggregationMethod.DEFAULT == 0
    assert ng.AggregationMethod.EXPERIMENTAL_TREE == 1
    assert ng.AggregationMethod.EXPERIMENTAL_ACCUMULATE_N == 2


def _fanout_graph():
    x = ng.placeholder(ng.float32, [3], name="x")
    y = x * x + ng.sin(x) + x * 3.0 + ng.exp(x)
    return x, y


@pytest.mark.parametrize("method", AGG)
def test_aggregation_methods_same_values(sess, method):
    x, y = _fanout_graph()
    g, = ng.gradients(y, x, aggregation_method=method)
    xv = np.array([0.1, 0.5, -1.2], np.float32)
    expected = 2 * xv + np.cos(xv) + 3.0 + np.exp(xv)
    np.testing.assert_allclose(sess.run(g, {x: xv}), expected, rtol=1e-5)


@pytest.mark.parametrize("method", [ng.AggregationMethod.EXPERIMENTAL_TREE,
                                    ng.AggregationMethod.EXPERIMENTAL_ACCUMULATE_N])
def test_tree_aggregation_under_gradient_sum_scope(method):
    x, y = _fanout_graph()
    before = _op_names()
    ng.gradients(y, x, aggregation_method=method)
    new = _new_names(before)
    assert any(n.startswith("gradients/x_gradient_sum/") for n in new), new


def test_add_n_aggregation_uses_one_add_n():
    x, y = _fanout_graph()
    before = _op_names()
    ng.gradients(y, x, aggregation_method=ng.AggregationMethod.ADD_N)
    new_ops = [ng.get_default_graph().get_operation_by_name(n) for n in _new_names(before)]
    assert not any("_gradient_sum" in op.name for op in new_ops)
    # x receives 4 contributions (x*x contributes 2): one AddN with all of them
    addn = [op for op in new_ops if op.type == "AddN"]
    assert any(len(op.inputs) >= 4 for op in addn)


@pytest.mark.parametrize("bad", [3, -1, "ADD_N", 1.5])
def test_invalid_aggregation_method(bad):
    x, y = _fanout_graph()
    with pytest.raises(ValueError, match="Invalid aggregation_method specified"):
        ng.gradients(y, x, aggregation_method=bad)


def test_invalid_aggregation_method_only_once_an_op_is_processed():
    x = ng.constant(1.0)
    y = ng.constant(2.0) * 3.0
    assert ng.gradients(y, x, aggregation_method=7) == [None]


def test_sparse_plus_dense_contributions_densify(sess):
    params = ng.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = ng.reduce_sum(ng.gather(params, [0, 2])) + ng.reduce_sum(params * 2.0)
    g, = ng.gradients(y, params)
    assert isinstance(g, ng.Tensor)
    np.testing.assert_allclose(sess.run(g), [[3, 3], [2, 2], [3, 3]])


@pytest.mark.parametrize("method", AGG)
def test_all_sparse_contributions_stay_sparse(sess, method):
    params = ng.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    y = ng.reduce_sum(ng.gather(params, [0, 2])) + ng.reduce_sum(ng.gather(params, [2]) * 3.0)
    g, = ng.gradients(y, params, aggregation_method=method)
    assert isinstance(g, ng.IndexedSlices)
    v = sess.run(g)
    assert isinstance(v, ng.IndexedSlicesValue)
    dense = np.zeros((3, 2))
    np.add.at(dense, np.asarray(v.indices), np.asarray(v.values))
    np.testing.assert_allclose(dense, [[1, 1], [0, 0], [4, 4]])
    assert sorted(np.asarray(v.indices).tolist()) == [0, 2, 2]
    np.testing.assert_array_equal(v.dense_shape, [3, 2])


# === results ====================================================================================
def test_unconnected_zero_placeholder_with_none_dims(sess):
    x = ng.placeholder(ng.float64, [None, 3], name="x")
    w = ng.placeholder(ng.float64, [None], name="w")
    y = ng.reduce_sum(w) * 2.0
    gx, gw = ng.gradients(y, [x, w], unconnected_gradients="zero")
    assert gx.dtype == ng.float64
    out = sess.run(gx, {x: np.ones((4, 3))})
    assert out.shape == (4, 3) and out.dtype == np.float64
    assert not out.any()
    np.testing.assert_allclose(sess.run(gw, {w: np.ones(5)}), 2.0 * np.ones(5))


def test_unconnected_zero_only_for_unconnected(sess):
    x = ng.constant([1.0, 2.0])
    z = ng.constant([7.0])
    y = x * 4.0
    gx, gz = ng.gradients(y, [x, z], unconnected_gradients="zero")
    np.testing.assert_allclose(sess.run(gx), [4.0, 4.0])
    np.testing.assert_array_equal(sess.run(gz), [0.0])


def test_gather_gradient_is_indexed_slices_undensified(sess):
    params = ng.placeholder(ng.float32, [4, 3], name="params")
    idx = ng.constant([[0, 2], [0, 3]])
    gathered = ng.gather(params, idx)                   # [2, 2, 3]
    w = ng.constant(np.arange(12, dtype=np.float32).reshape(2, 2, 3))
    y = ng.reduce_sum(gathered * w)
    g, = ng.gradients(y, params)
    assert isinstance(g, ng.IndexedSlices)
    pv = np.random.default_rng(0).random((4, 3)).astype(np.float32)
    v = sess.run(g, {params: pv})
    assert isinstance(v, ng.IndexedSlicesValue)
    np.testing.assert_array_equal(v.indices, [0, 2, 0, 3])
    np.testing.assert_allclose(v.values, np.arange(12).reshape(4, 3))
    np.testing.assert_array_equal(v.dense_shape, [4, 3])
    dense = np.zeros((4, 3))
    np.add.at(dense, v.indices, v.values)
    np.testing.assert_allclose(dense, [[0 + 6, 1 + 7, 2 + 8], [0, 0, 0], [3, 4, 5], [9, 10, 11]])


def test_sparse_through_identity_and_repeated_indices_sum(sess):
    p2 = ng.constant([[1.0, 2.0], [3.0, 4.0]])
    y2 = ng.reduce_sum(ng.gather(ng.identity(p2), [1, 1]))
    g2, = ng.gradients(y2, p2)
    assert isinstance(g2, ng.IndexedSlices)
    v = sess.run(g2)
    np.testing.assert_array_equal(v.indices, [1, 1])
    # densified (by another consumer) repeated indices are summed
    y3 = ng.reduce_sum(ng.gather(p2, [1, 1])) + ng.reduce_sum(p2)
    g3, = ng.gradients(y3, p2)
    np.testing.assert_allclose(sess.run(g3), [[1, 1], [3, 3]])


def test_gather_axis1_gradient_dense(sess):
    params = ng.constant([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    y = ng.reduce_sum(ng.gather(params, [2, 0, 2], axis=1))
    g, = ng.gradients(y, params)
    assert isinstance(g, ng.Tensor)
    np.testing.assert_allclose(sess.run(g), [[1, 0, 2], [1, 0, 2]])


def test_sparse_through_negation_sign(sess):
    params = ng.constant([[1.0, 2.0], [3.0, 4.0]])
    p = -params
    y = ng.gather(p, [1])
    g, = ng.gradients(y, params)
    assert isinstance(g, ng.IndexedSlices)
    v = sess.run(g)
    np.testing.assert_allclose(v.values, [[-1.0, -1.0]])
    np.testing.assert_array_equal(v.indices, [1])


def test_sparse_through_cast_stays_sparse(sess):
    params = ng.constant([[1.0, 2.0], [3.0, 4.0]], dtype=ng.float64)
    y = ng.gather(ng.cast(params, ng.float32), [0])
    g, = ng.gradients(y, params)
    assert isinstance(g, ng.IndexedSlices)
    assert g.dtype == ng.float64
    v = sess.run(g)
    np.testing.assert_allclose(v.values, [[1.0, 1.0]])


def test_sparse_densified_by_other_consumer(sess):
    params = ng.constant([[1.0, 2.0], [3.0, 4.0]])
    y = ng.gather(ng.exp(params), [0, 0])
    g, = ng.gradients(y, params)
    assert isinstance(g, ng.Tensor)
    e = np.exp([[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_allclose(sess.run(g), [[2 * e[0, 0], 2 * e[0, 1]], [0, 0]], rtol=1e-5)


# === broadcasting ===============================================================================
def test_broadcast_binary_reduces_to_input_shape(sess):
    x = ng.constant(np.ones((2, 3), np.float32))
    b = ng.constant([1.0, 2.0, 3.0])
    s = ng.constant(2.0)
    y = x * b + s
    gx, gb, gs = ng.gradients(y, [x, b, s])
    assert gx.shape == TensorShape([2, 3]) and gb.shape == TensorShape([3]) and \
        gs.shape == TensorShape([])
    np.testing.assert_allclose(sess.run(gx), [[1, 2, 3], [1, 2, 3]])
    np.testing.assert_allclose(sess.run(gb), [2, 2, 2])
    assert sess.run(gs) == pytest.approx(6.0)


def test_broadcast_with_unknown_shapes(sess):
    x = ng.placeholder(ng.float32, [None, None], name="x")
    b = ng.placeholder(ng.float32, [None, 1], name="b")
    y = x - b
    gx, gb = ng.gradients(y, [x, b])
    xv = np.ones((3, 4), np.float32)
    bv = np.ones((3, 1), np.float32)
    np.testing.assert_allclose(sess.run(gb, {x: xv, b: bv}), -4 * np.ones((3, 1)))
    np.testing.assert_allclose(sess.run(gx, {x: xv, b: bv}), np.ones((3, 4)))


def test_v1_where_gradient_zeros_not_none(sess):
    c = ng.constant([True, False, True])
    x = ng.constant([1.0, 2.0, 3.0])
    y = ng.constant([4.0, 5.0, 6.0])
    z = ng.where(c, x, y)
    assert z.op.type == "Select"
    gc, gx, gy = ng.gradients(z, [c, x, y])
    assert gc is None
    np.testing.assert_allclose(sess.run(gx), [1, 0, 1])
    np.testing.assert_allclose(sess.run(gy), [0, 1, 0])
    # branch never selected: zeros, not None
    call = ng.constant([True, True, True])
    z2 = ng.where(call, x, y)
    gx2, gy2 = ng.gradients(z2, [x, y])
    assert gy2 is not None
    np.testing.assert_array_equal(sess.run(gy2), [0.0, 0.0, 0.0])


def test_v1_where_vector_condition_over_dim0(sess):
    c = ng.constant([True, False])
    x = ng.constant([[1.0, 2.0], [3.0, 4.0]])
    y = ng.constant([[5.0, 6.0], [7.0, 8.0]])
    gx, gy = ng.gradients(ng.where(c, x, y), [x, y])
    np.testing.assert_allclose(sess.run(gx), [[1, 1], [0, 0]])
    np.testing.assert_allclose(sess.run(gy), [[0, 0], [1, 1]])


# === rules that decide values ===================================================================
def _grad_at(sess, f, xv, dtype=ng.float64):
    x = ng.constant(np.asarray(xv, dtype.np))
    g, = ng.gradients(f(x), x)
    return sess.run(g)


def test_abs_and_sign_rules(sess):
    np.testing.assert_allclose(_grad_at(sess, ng.abs, [-2.0, 0.0, 3.0]), [-1, 0, 1])
    np.testing.assert_array_equal(_grad_at(sess, ng.sign, [-2.0, 0.0, 3.0]), [0, 0, 0])


def test_relu_rule_zero_at_zero(sess):
    np.testing.assert_allclose(_grad_at(sess, ng.nn.relu, [-1.0, 0.0, 2.0]), [0, 0, 1])


def test_pow_rules(sess):
    x = ng.constant([2.0, 0.0, -1.0], dtype=ng.float64)
    p = ng.constant([3.0, 2.0, 2.0], dtype=ng.float64)
    z = ng.pow(x, p)
    gx, gp = ng.gradients(z, [x, p])
    np.testing.assert_allclose(sess.run(gx), [12.0, 0.0, -2.0])
    np.testing.assert_allclose(sess.run(gp), [8.0 * np.log(2.0), 0.0, 0.0])
    # pow(0, 0.) gives NaN in gx
    x0 = ng.constant(0.0)
    gx0, = ng.gradients(ng.pow(x0, ng.constant(0.0)), x0)
    assert np.isnan(sess.run(gx0))


def test_maximum_minimum_ties_go_to_first_operand(sess):
    a = ng.constant([1.0, 2.0, 3.0])
    b = ng.constant([1.0, 5.0, 0.0])
    ga, gb = ng.gradients(ng.maximum(a, b), [a, b])
    np.testing.assert_allclose(sess.run(ga), [1, 0, 1])
    np.testing.assert_allclose(sess.run(gb), [0, 1, 0])
    ga, gb = ng.gradients(ng.minimum(a, b), [a, b])
    np.testing.assert_allclose(sess.run(ga), [1, 1, 0])
    np.testing.assert_allclose(sess.run(gb), [0, 0, 1])


def test_reduce_max_min_ties_share(sess):
    np.testing.assert_allclose(_grad_at(sess, ng.reduce_max, [1.0, 3.0, 3.0]), [0, .5, .5])
    np.testing.assert_allclose(_grad_at(sess, ng.reduce_min, [1.0, 1.0, 1.0, 4.0]),
                               [1 / 3, 1 / 3, 1 / 3, 0])


def test_reduce_prod_handles_zeros(sess):
    np.testing.assert_allclose(_grad_at(sess, ng.reduce_prod, [2.0, 0.0, 3.0]), [0, 6, 0])
    np.testing.assert_allclose(_grad_at(sess, ng.reduce_prod, [2.0, 0.0, 0.0]), [0, 0, 0])
    np.testing.assert_allclose(_grad_at(sess, ng.reduce_prod, [2.0, 4.0, 3.0]), [12, 6, 8])


def test_reduce_mean_is_sum_over_count(sess):
    x = ng.placeholder(ng.float32, [None, 2], name="x")
    g, = ng.gradients(ng.reduce_mean(x), x)
    np.testing.assert_allclose(sess.run(g, {x: np.ones((4, 2))}), np.full((4, 2), 1 / 8))


def test_cast_gradient_only_between_floats(sess):
    x = ng.constant([1.0, 2.0], dtype=ng.float64)
    g, = ng.gradients(ng.cast(x, ng.float32) * 3.0, x)
    assert g.dtype == ng.float64
    np.testing.assert_allclose(sess.run(g), [3.0, 3.0])
    assert ng.gradients(ng.cast(ng.cast(x, ng.int64), ng.float64), x) == [None]
    assert ng.gradients(ng.cast(ng.cast(x, ng.bool), ng.float64), x) == [None]


def test_clip_by_value_gradient_one_on_boundaries(sess):
    np.testing.assert_allclose(
        _grad_at(sess, lambda t: ng.clip_by_value(t, 0.0, 1.0), [-1.0, 0.0, 0.5, 1.0, 2.0]),
        [0, 1, 1, 1, 0])


def test_second_derivatives_abs_relu_zero(sess):
    for f in (ng.abs, ng.nn.relu):
        x = ng.constant([-1.0, 2.0])
        g, = ng.gradients(f(x), x)
        gg, = ng.gradients(g, x)
        assert gg is not None
        np.testing.assert_array_equal(sess.run(gg), [0.0, 0.0])


def test_second_derivatives_max_min_clip_none():
    for f in (lambda t: ng.maximum(t, 0.5), lambda t: ng.minimum(t, 0.5),
              lambda t: ng.clip_by_value(t, 0.0, 1.0)):
        x = ng.constant([-1.0, 2.0])
        g, = ng.gradients(f(x), x)
        assert ng.gradients(g, x) == [None]


def test_second_derivatives_through_outputs(sess):
    for f, d2 in [(ng.tanh, lambda v: -2 * np.tanh(v) * (1 - np.tanh(v) ** 2)),
                  (ng.sigmoid, lambda v: (lambda s: s * (1 - s) * (1 - 2 * s))(1 / (1 + np.exp(-v)))),
                  (ng.sqrt, lambda v: -0.25 * v ** -1.5)]:
        x = ng.constant([0.3, 1.7], dtype=ng.float64)
        g, = ng.gradients(f(x), x)
        gg, = ng.gradients(g, x)
        np.testing.assert_allclose(sess.run(gg), d2(np.array([0.3, 1.7])), rtol=1e-6)


# === hessians ===================================================================================
def test_hessians_values_and_shape(sess):
    x = ng.constant([[1.0, 2.0], [3.0, 4.0]], dtype=ng.float64)
    h, = ng.hessians(ng.reduce_sum(x ** 3.0), x)
    assert h.shape == TensorShape([2, 2, 2, 2])
    out = sess.run(h)
    expected = np.diag(6 * np.array([1.0, 2.0, 3.0, 4.0])).reshape(2, 2, 2, 2)
    np.testing.assert_allclose(out, expected)


def test_hessians_only_diagonal_blocks(sess):
    a = ng.constant([1.0, 2.0], dtype=ng.float64)
    b = ng.constant([3.0], dtype=ng.float64)
    y = ng.reduce_sum(a * a) * ng.reduce_sum(b * b)
    ha, hb = ng.hessians(y, [a, b])
    assert ha.shape == TensorShape([2, 2]) and hb.shape == TensorShape([1, 1])
    np.testing.assert_allclose(sess.run(ha), 2 * 9.0 * np.eye(2))
    np.testing.assert_allclose(sess.run(hb), [[2 * 5.0]])
    assert ha.op.name.startswith("hessians/")


def test_hessians_none_gradients_raise():
    x = ng.constant([1.0, 2.0])
    z = ng.constant([1.0, 2.0])
    with pytest.raises(ValueError):
        ng.hessians(ng.reduce_sum(z * z), x)           # first gradient None
    with pytest.raises(ValueError):
        ng.hessians(ng.reduce_sum(x * 2.0), x)          # second gradient None


# === a failed call leaves the graph unchanged ===================================================
def _snapshot(graph=None):
    graph = graph or ng.get_default_graph()
    ops = graph.get_operations()
    return [(id(op), op.name) for op in ops], {op.name: [c.name for o in op.outputs
                                                          for c in o.consumers()]
                                               for op in ops}


def test_failed_lookup_error_leaves_graph_unchanged(sess):
    x = ng.placeholder(ng.float32, [2], name="x")
    w = ng.constant([1.0, 2.0])
    y = ng.multiply(ng.truncatemod(x, 3.0) * w, w)     # Mul rules build ops before the error
    z = ng.multiply(x, w, name="z")
    before = _snapshot()
    with pytest.raises(LookupError):
        ng.gradients(y, x)
    assert _snapshot() == before
    g, = ng.gradients(z, x)
    assert g.op.name.startswith("gradients/"), g.op.name
    assert "gradients/z_grad/Mul" in _op_names()
    assert "gradients/grad_ys_0" in _op_names()
    np.testing.assert_allclose(sess.run(g, {x: [1.0, 1.0]}), [1.0, 2.0])


def test_failed_bad_aggregation_leaves_graph_unchanged():
    x, y = _fanout_graph()
    before = _snapshot()
    with pytest.raises(ValueError):
        ng.gradients(y, x, aggregation_method=42)
    assert _snapshot() == before
    g, = ng.gradients(y, x)
    assert g.op.name.startswith("gradients/")
    assert not any(n.startswith("gradients_1") for n in _op_names())


def test_failed_call_inside_name_scope_leaves_scope_naming_unchanged():
    x = ng.constant([5.0, 7.0])
    y = ng.truncatemod(x, 3.0) * 2.0
    with ng.name_scope("outer"):
        before = _snapshot()
        with pytest.raises(LookupError):
            ng.gradients(y, x)
        assert _snapshot() == before
        g, = ng.gradients(x * 2.0, x)
    assert g.op.name.startswith("outer/gradients/"), g.op.name


def test_failed_wrong_shape_rule_leaves_graph_unchanged():
    _ensure_op("SpecTestBadShape")
    _ensure_rule("SpecTestBadShape", lambda op, grad: [ng.ones([3])])
    x = ng.constant([1.0, 3.0])
    y = _user_op("SpecTestBadShape", x * 2.0) * 3.0
    before = _snapshot()
    with pytest.raises(ValueError):
        ng.gradients(y, x)
    assert _snapshot() == before
    g, = ng.gradients(x * 4.0, x)
    assert g.op.name.startswith("gradients/")


def test_failed_seed_checks_leave_graph_unchanged():
    x = ng.constant([1.0, 2.0])
    y1, y2 = x * 2.0, x * 3.0
    before = _snapshot()
    with pytest.raises(ValueError):
        ng.gradients([y1, y2], x, grad_ys=[1.0])
    with pytest.raises(TypeError):
        ng.gradients(y1, x, grad_ys=[True])
    with pytest.raises(TypeError):
        ng.gradients([y1, object()], x)
    assert _snapshot() == before
    g, = ng.gradients(y1, x)
    assert g.op.name.startswith("gradients/")


def test_failed_hessians_leave_graph_unchanged():
    x = ng.constant([1.0, 2.0])
    y = ng.reduce_sum(x * 2.0)
    before = _snapshot()
    with pytest.raises(ValueError):
        ng.hessians(y, x)
    assert _snapshot() == before
    h, = ng.hessians(ng.reduce_sum(x * x), x)
    assert h.op.name.startswith("hessians/")
