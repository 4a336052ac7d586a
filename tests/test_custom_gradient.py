"""ng.custom_gradient, Graph.gradient_override_map, RegisterGradient/NotDifferentiable, the
IdentityN op they use, and ng.test.compute_gradient's y_shape (issue 17).

Expected values are hand-derived (the derivative each grad_fn states) or checked against
central differences; the TF 2.21 v1 graph-mode behaviours (variables sorted by name, the
non-trainable ones left out, zeros for unused outputs, the error types) were read off
tensorflow and are written here as literals.
"""
import numpy as np
import pytest

import numgrad as ng
from batching_rows import assert_rule_matches_rows

F64 = ng.float64

ROW_CASES = {
    "IdentityN": lambda s: ng.identity_n([s * 2.0, ng.constant(1.5, F64), s])[0]
    + ng.identity_n([s])[0],
}


@pytest.mark.parametrize("op_type", sorted(ROW_CASES))
def test_batching_rule_matches_rows(op_type):
    assert_rule_matches_rows(op_type, ROW_CASES[op_type])


def _n_ops():
    return len(ng.get_default_graph().get_operations())


def _ensure_rule(name, fn):
    from numgrad.gradients import registry
    if not registry.has_rule(name):
        ng.RegisterGradient(name)(fn)


# === custom_gradient ============================================================================
@ng.custom_gradient
def _log1pexp(x):
    e = ng.exp(x)

    def grad(dy):
        return dy * (1 - 1 / (1 + e))
    return ng.log(1 + e), grad


def test_log1pexp_gradient_is_stable_where_the_plain_one_is_nan(sess):
    x = ng.constant([0.0, 100.0, -5.0])
    g_custom, = ng.gradients(_log1pexp(x), x)
    g_plain, = ng.gradients(ng.log(1 + ng.exp(x)), x)
    custom, plain = sess.run([g_custom, g_plain])
    np.testing.assert_allclose(custom, 1 / (1 + np.exp(-np.array([0.0, 100.0, -5.0]))),
                               rtol=1e-6, atol=1e-7)     # 1 - 1/(1+e) cancels in float32
    assert np.isnan(plain[1])          # exp(100) overflows float32: inf / inf


def test_the_result_is_one_output_of_an_identity_n_with_the_override():
    x = ng.constant([1.0, 2.0])
    n = _n_ops()
    y = _log1pexp(x)
    assert y.op.type == "IdentityN" and y.value_index == 0
    assert [t.name for t in y.op.inputs][1:] == [x.name]
    assert y.op.get_attr("_gradient_op_type").startswith(b"CustomGradient-")
    assert _n_ops() > n


@ng.custom_gradient
def _clip_gradient(x):
    def grad(dy):
        return ng.clip_by_value(dy, -0.5, 0.5)
    return ng.identity(x), grad


def test_clip_gradient_identity(sess):
    x = ng.constant([1.0, -2.0, 3.0])
    y = _clip_gradient(x)
    g, = ng.gradients(y * ng.constant([3.0, 0.25, -4.0]), x)
    yv, gv = sess.run([y, g])
    np.testing.assert_array_equal(yv, [1.0, -2.0, 3.0])
    np.testing.assert_array_equal(gv, [0.5, 0.25, -0.5])


def _x_sin_x(scale):
    @ng.custom_gradient
    def f(x):
        def grad(dy):
            return dy * (ng.sin(x) + x * ng.cos(x)) * scale
        return x * ng.sin(x), grad
    return f


def test_gradient_against_finite_differences():
    x = ng.placeholder(F64, [3])
    xv = np.array([0.3, -1.1, 2.0])
    err = ng.test.compute_gradient_error(x, [3], _x_sin_x(1.0)(x), [3], x_init_value=xv)
    assert err < 1e-5                                  # central differences, delta 1e-3
    # a grad_fn that states twice the derivative is what gradients() uses
    theoretical, numerical = ng.test.compute_gradient(x, [3], _x_sin_x(2.0)(x), [3],
                                                      x_init_value=xv)
    np.testing.assert_allclose(theoretical, 2 * numerical, rtol=1e-5, atol=1e-5)


@ng.custom_gradient
def _nested(a, b):
    def grad(d1, d2, d3):
        return d1 * 2.0, d2 + d3 * 10.0
    return (a * 1.0, [b * 1.0, b * 2.0]), grad


def test_nested_results_keep_their_structure_and_unused_outputs_get_zeros(sess):
    a, b = ng.constant(1.0), ng.constant(2.0)
    out = _nested(a, b)
    assert isinstance(out, tuple) and isinstance(out[1], list) and len(out[1]) == 2
    assert [t.value_index for t in (out[0], *out[1])] == [0, 1, 2]
    all_three = ng.gradients(out[0] + out[1][0] + out[1][1], [a, b])
    last_only = ng.gradients(out[1][1], [a, b])     # d1 and d2 come in as zeros
    assert sess.run(all_three) == [2.0, 11.0]
    assert sess.run(last_only) == [0.0, 10.0]
    assert sess.run(list(out[1])) == [2.0, 4.0]


def test_a_none_gradient_leaves_the_argument_unconnected(sess):
    @ng.custom_gradient
    def f(a, b):
        return a * b, lambda dy: (None, dy * 3.0)
    a, b = ng.constant(1.0), ng.constant(2.0)
    ga, gb = ng.gradients(f(a, b), [a, b])
    assert ga is None and sess.run(gb) == 3.0


def test_list_argument_and_python_number_argument(sess):
    @ng.custom_gradient
    def f(pair, c):
        return pair[0] * pair[1] + c, lambda dy: ([dy * 5.0, dy * 7.0], dy)
    a, b = ng.constant(1.0), ng.constant(2.0)
    y = f([a, b], 4.0)
    assert y.op.inputs[3].op.type == "Const"           # 4.0 became a tensor
    assert sess.run([y] + ng.gradients(y, [a, b])) == [6.0, 5.0, 7.0]


def test_a_grad_fn_may_return_numbers(sess):
    @ng.custom_gradient
    def f(x):
        return x * 2.0, lambda dy: np.full(2, 4.0)
    x = ng.constant([1.0, 2.0], F64)
    g, = ng.gradients(f(x), x)
    assert g.dtype == F64 and sess.run(g).tolist() == [4.0, 4.0]


def test_method():
    class Scaler:
        k = 3.0

        @ng.custom_gradient
        def __call__(self, x):
            return x * self.k, lambda dy: dy * 100.0
    x = ng.constant(1.0)
    g, = ng.gradients(Scaler()(x), x)
    assert g.op.type == "Mul"
    with ng.Session(backend="numpy") as s:
        assert s.run(g) == 100.0


def test_second_derivatives_hessians_and_jacobians(sess, recwarn):
    @ng.custom_gradient
    def cube(x):
        return x * x * x, lambda dy: dy * 3.0 * x * x
    x = ng.constant([1.0, 2.0], F64)
    h, = ng.hessians(ng.reduce_sum(cube(x)), x)
    j = ng.jacobian(cube(x), x)
    g, = ng.gradients(cube(x), x)
    jj = ng.jacobian(g, x)                              # the hessian, vectorised
    hv, jv, jjv = sess.run([h, j, jj])
    np.testing.assert_allclose(hv, np.diag([6.0, 12.0]))
    np.testing.assert_allclose(jv, np.diag([3.0, 12.0]))
    np.testing.assert_allclose(jjv, np.diag([6.0, 12.0]))
    assert not [w for w in recwarn if "falling back" in str(w.message)]


def test_variables_are_passed_sorted_and_get_their_gradients(sess):
    w = ng.Variable(3.0, name="w")
    v = ng.Variable(5.0, name="v")
    frozen = ng.Variable(7.0, name="frozen", trainable=False)
    seen = []

    @ng.custom_gradient
    def f(x):
        def grad(dy, variables=None):
            seen.append([u.name for u in variables])
            return dy * w, [dy * x * 10.0, dy * 100.0]
        return x * w + v * frozen, grad
    x = ng.constant(2.0)
    y = f(x)
    gx, gw, gv, gf = ng.gradients(y, [x, w, v, frozen])
    assert seen == [["v:0", "w:0"]] and gf is None
    sess.run(ng.global_variables_initializer())
    assert sess.run([y, gx, gw, gv]) == [41.0, 3.0, 100.0, 20.0]


def test_a_variable_argument_is_not_a_variable_of_the_function(sess):
    w = ng.Variable(3.0, name="w")

    @ng.custom_gradient
    def f(a):
        return a * 2.0, lambda dy: dy * 5.0       # no `variables` needed
    g, = ng.gradients(f(w), w)
    sess.run(ng.global_variables_initializer())
    assert sess.run(g) == 5.0


def test_variable_errors_leave_the_graph_unchanged():
    w = ng.Variable(3.0, name="w")
    x = ng.constant(2.0)

    @ng.custom_gradient
    def no_kwarg(x):
        return x * w, lambda dy: dy
    n = _n_ops()
    with pytest.raises(TypeError, match="must accept keyword argument 'variables'"):
        no_kwarg(x)
    assert _n_ops() == n

    @ng.custom_gradient
    def too_few(x):
        return x * w, lambda dy, variables: (dy, [])
    y = too_few(x)
    n = _n_ops()
    with pytest.raises(ValueError, match="Must return gradient for each variable"):
        ng.gradients(y, [x, w])
    assert _n_ops() == n


def test_wrong_number_of_gradients():
    @ng.custom_gradient
    def f(a, b):
        return a * b, lambda dy: dy
    a, b = ng.constant(1.0), ng.constant(2.0)
    y = f(a, b)
    n = _n_ops()
    with pytest.raises(ValueError, match=r"Num gradients 2 generated .* num inputs 3.*1 "
                                         r"gradient\(s\) for its 2 argument"):
        ng.gradients(y, [a, b])
    assert _n_ops() == n


def test_bad_calls_build_and_register_nothing():
    from numgrad.gradients import registry
    x = ng.constant(1.0)
    with pytest.raises(ValueError, match="keywords arguments only when eager"):
        _log1pexp(x=x)

    @ng.custom_gradient
    def no_pair(x):
        return ng.exp(x)
    n, n_rules = _n_ops(), len(registry._RULES)
    with pytest.raises(TypeError, match="'.*no_pair' must return a pair"):
        no_pair(x)
    assert _n_ops() == n and len(registry._RULES) == n_rules


def test_inside_cond_and_while_loop(sess):
    """The gradients of cond and while_loop differentiate copies of the branch/body ops:
    the override goes along (TF 2.21 gives 300 and 40000 too)."""
    @ng.custom_gradient
    def times_hundred_back(x):
        return ng.identity(x), lambda dy: dy * 100.0
    x = ng.constant(2.0)
    p = ng.placeholder(ng.bool_, [])
    y = ng.cond(p, lambda: times_hundred_back(x) * 3.0, lambda: x * 1.0)
    g, = ng.gradients(y, x)
    _, w = ng.while_loop(lambda i, v: i < 2, lambda i, v: (i + 1, times_hundred_back(v) * 2.0),
                         [ng.constant(0), x])
    gw, = ng.gradients(w, x)
    assert sess.run([y, g], {p: True}) == [6.0, 300.0]
    assert sess.run([y, g], {p: False}) == [2.0, 1.0]
    assert sess.run([w, gw]) == [8.0, 40000.0]


def test_eager_mode_returns_the_value():
    ng.enable_eager_execution()
    y = _log1pexp(ng.constant([0.0]))
    np.testing.assert_allclose(y.numpy(), [np.log(2.0)], rtol=1e-6)


# === gradient_override_map and the registry =====================================================
def _seven_times(op, grad):
    return grad * 7.0


def test_override_applies_to_ops_created_inside_the_block(sess):
    _ensure_rule("TestSevenTimes", _seven_times)
    g = ng.get_default_graph()
    x = ng.constant([1.0, 2.0])
    before = ng.square(x)
    with g.gradient_override_map({"Square": "TestSevenTimes", "Identity": "TestSevenTimes"}):
        sq = ng.square(x)
        ident = ng.identity(x)
        with g.gradient_override_map({"Square": "Identity"}):   # an op type's own rule
            inner = ng.square(x)
        after_inner = ng.square(x)
    after = ng.square(x)
    assert sq.op.get_attr("_gradient_op_type") == b"TestSevenTimes"
    with pytest.raises(ValueError, match="has no attr named '_gradient_op_type'"):
        after.op.get_attr("_gradient_op_type")
    got = sess.run([ng.gradients(t, x)[0] for t in (before, sq, ident, inner, after_inner, after)])
    want = [[2, 4], [7, 7], [7, 7], [1, 1], [7, 7], [2, 4]]
    assert [v.tolist() for v in got] == want
    assert g._gradient_override_map == {}


def test_override_to_a_name_registered_later_and_to_not_differentiable(sess):
    g = ng.get_default_graph()
    x = ng.constant(3.0)
    with g.gradient_override_map({"Square": "TestLaterRule", "Exp": "TestNoGrad"}):
        y = ng.square(x)
        z = ng.exp(x)
    _ensure_rule("TestLaterRule", lambda op, grad: grad * op.inputs[0] * -1.0)
    ng.NotDifferentiable("TestNoGrad")
    assert ng.gradients(z, x) == [None]
    assert ng.jacobian(z, x) is None                   # unconnected too
    assert sess.run(ng.gradients(y, x)[0]) == -3.0


def test_unknown_override_name_is_a_lookup_error_and_builds_nothing():
    g = ng.get_default_graph()
    x = ng.constant([1.0, 2.0])
    with g.gradient_override_map({"Square": "TestNoSuchGradient"}):
        y = ng.square(x, name="sq")
    n = _n_ops()
    with pytest.raises(LookupError, match=r"operation 'sq' \(op type: Square\).*"
                                          r"'TestNoSuchGradient'"):
        ng.gradients(y * 2.0, x)
    assert _n_ops() == n + 2          # only the multiply and its constant


@pytest.mark.parametrize("bad", [[("Square", "X")], {"Square": 3}, {1: "X"}])
def test_override_map_must_map_strings_to_strings(bad):
    g = ng.get_default_graph()
    with g.gradient_override_map({"Exp": "Kept"}):
        with pytest.raises(TypeError, match="op_type_map must be a dictionary mapping strings"):
            with g.gradient_override_map(bad):
                pass
        assert g._gradient_override_map == {"Exp": "Kept"}


def test_register_gradient_errors_and_aliases():
    _ensure_rule("TestSevenTimes", _seven_times)
    with pytest.raises(KeyError, match="Registering two gradient with name 'TestSevenTimes'"):
        ng.RegisterGradient("TestSevenTimes")(_seven_times)
    with pytest.raises(TypeError, match="op_type must be a string"):
        ng.RegisterGradient(3)
    with pytest.raises(TypeError, match="op_type must be a string"):
        ng.NoGradient(None)
    assert ng.NoGradient is ng.NotDifferentiable and ng.no_gradient is ng.NotDifferentiable


# === IdentityN ==================================================================================
@pytest.mark.parametrize("alias", [True, False], ids=["aliased", "rewrite_off"])
def test_identity_n_values_and_gradient(alias):
    from numgrad.compiler import rewrites
    a = ng.placeholder(ng.float32, [2])
    b = ng.placeholder(ng.int32, [])
    outs = ng.identity_n([a, b])
    assert [t.dtype for t in outs] == [ng.float32, ng.int32]
    g, = ng.gradients(outs[0] * 2.0, a)
    off = () if alias else ("identity",)        # without it IdentityN runs as an opaque op
    with rewrites.disabled_rules(*off), ng.Session() as sess:
        va, vb, vg = sess.run(outs + [g], {a: [1.0, 2.0], b: 3})
    assert va.tolist() == [1.0, 2.0] and vb == 3 and vg.tolist() == [2.0, 2.0]


def test_identity_n_errors():
    with pytest.raises(TypeError, match="identity_n: input must be a list"):
        ng.identity_n(ng.constant(1.0))
    with pytest.raises(ValueError, match="at least one tensor"):
        ng.identity_n([])


# === compute_gradient's y_shape =================================================================
def test_compute_gradient_takes_y_shape_by_its_size():
    x = ng.placeholder(F64, [3])
    y = ng.reduce_sum(x * x)                           # a scalar
    xv = np.array([1.0, -2.0, 0.5])
    for y_shape in ([], [1], [1, 1]):
        theoretical, numerical = ng.test.compute_gradient(x, [3], y, y_shape, x_init_value=xv)
        assert theoretical.shape == (3, 1)
        np.testing.assert_allclose(theoretical[:, 0], 2 * xv)
        np.testing.assert_allclose(numerical[:, 0], 2 * xv, rtol=1e-8)
    assert ng.test.compute_gradient_error(x, [3], y, [1], x_init_value=xv) < 1e-8
    n = _n_ops()
    with pytest.raises(ValueError, match=r"y_shape \[2\] has 2 elements.* 1 elements"):
        ng.test.compute_gradient(x, [3], y, [2], x_init_value=xv)
    assert _n_ops() == n
