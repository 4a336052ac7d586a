"""Graph / Tensor / Operation API, Session.run, eager mode, backend selection, ng.test.

Sessions use ng.Session() with no backend (or the `sess` fixture), so NUMGRAD_BACKEND picks the
backend, except in the explicit backend tests."""
import collections

import numpy as np
import pytest

import numgrad as ng
from numgrad.tensor_shape import TensorShape


# === Graph: names ===============================================================================
def test_default_op_names_and_unique_suffixes():
    a = ng.constant(1.0)
    b = ng.constant(2.0)
    c = ng.constant(3.0)
    assert [a.op.name, b.op.name, c.op.name] == ["Const", "Const_1", "Const_2"]
    assert a.name == "Const:0"
    s1 = ng.add(a, b, name="Add")
    s2 = ng.add(a, c, name="Add")
    assert (s1.op.name, s2.op.name) == ("Add", "Add_1")
    assert s1.op.type == s2.op.type
    assert s1.name == "Add:0"


def test_unique_name_skips_names_in_use():
    ng.constant(1.0, name="v_1")
    a = ng.constant(1.0, name="v")
    b = ng.constant(1.0, name="v")
    c = ng.constant(1.0, name="v_1")
    assert a.op.name == "v"
    assert b.op.name == "v_2"          # v_1 already taken
    assert c.op.name == "v_1_1"


def test_unique_names_are_case_insensitive():
    a = ng.constant(1.0, name="foo")
    b = ng.constant(1.0, name="Foo")
    assert a.op.name == "foo"
    assert b.op.name == "Foo_1"


def test_name_scope_nesting_and_reuse():
    with ng.name_scope("outer") as scope:
        assert scope == "outer/"
        a = ng.constant(1.0)
        with ng.name_scope("inner") as inner:
            assert inner == "outer/inner/"
            b = ng.constant(1.0, name="b")
        assert ng.get_default_graph().get_name_scope() == "outer"
    with ng.name_scope("outer") as scope2:
        c = ng.constant(1.0)
    assert a.op.name == "outer/Const"
    assert b.op.name == "outer/inner/b"
    assert scope2 == "outer_1/"
    assert c.op.name == "outer_1/Const"
    assert ng.get_default_graph().get_name_scope() == ""


def test_name_scope_reentry_with_trailing_slash_and_default_name():
    with ng.name_scope("s"):
        pass
    with ng.name_scope("s/"):
        a = ng.constant(1.0)
    assert a.op.name == "s/Const"
    with ng.name_scope(None, default_name="dflt") as sc:
        b = ng.constant(1.0)
    assert sc == "dflt/"
    assert b.op.name == "dflt/Const"


def test_get_operation_and_tensor_by_name():
    x = ng.placeholder(ng.float32, [2], name="x")
    y = ng.multiply(x, 2.0, name="y")
    g = ng.get_default_graph()
    assert g.get_operation_by_name("y") is y.op
    assert g.get_tensor_by_name("y:0") is y
    assert g.get_tensor_by_name("x:0") is x
    with pytest.raises(KeyError):
        g.get_operation_by_name("nope")
    with pytest.raises(ValueError):
        g.get_tensor_by_name("y")          # an op name, not a tensor name
    with pytest.raises((KeyError, ValueError)):
        g.get_tensor_by_name("y:3")
    assert g.get_operations()[0] is x.op
    assert g.get_operations()[-1] is y.op


# === Tensor / Operation =========================================================================
def test_tensor_properties():
    x = ng.placeholder(ng.float64, [None, 3], name="x")
    assert x.dtype == ng.float64
    assert x.shape == TensorShape([None, 3])
    assert x.get_shape().as_list() == [None, 3]
    assert x.op.type == "Placeholder"
    assert x.op.name == "x"
    assert x.graph is ng.get_default_graph()
    assert x.value_index == 0
    y = x * 2.0
    assert y.shape.as_list() == [None, 3]
    assert y.dtype == ng.float64
    assert y.op.inputs[0] is x
    assert y.consumers() == [] and x.consumers() == [y.op]


def test_set_shape_merges_and_rejects_incompatible():
    x = ng.placeholder(ng.float32, [None, 3], name="x")
    x.set_shape([2, None])
    assert x.shape.as_list() == [2, 3]
    with pytest.raises(ValueError):
        x.set_shape([4, 3])
    with pytest.raises(ValueError):
        x.set_shape([2, 3, 1])
    assert x.shape.as_list() == [2, 3]
    u = ng.placeholder(ng.float32, None, name="u")
    assert u.shape.rank is None
    u.set_shape([5])
    assert u.shape.as_list() == [5]


def test_static_shape_inference_errors_name_the_op():
    a = ng.constant(np.ones((2, 3), np.float32))
    b = ng.constant(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError):
        ng.add(a, b)
    with pytest.raises(ValueError):
        ng.matmul(a, b)


def test_operation_properties():
    a = ng.constant([1.0, 2.0], name="a")
    b = ng.constant([3.0, 4.0], name="b")
    s = ng.add(a, b, name="s")
    op = s.op
    assert op.name == "s"
    assert isinstance(op.type, str) and op.type.startswith("Add")
    assert list(op.inputs) == [a, b]
    assert list(op.outputs) == [s]
    assert op.graph is ng.get_default_graph()
    assert list(op.control_inputs) == []
    u = ng.unstack(ng.constant(np.ones((3, 2), np.float32)))
    assert len(u) == 3 and len(u[0].op.outputs) == 3
    assert [t.value_index for t in u] == [0, 1, 2]
    assert u[2].name.endswith(":2")


def test_control_dependencies():
    a = ng.constant(1.0, name="a")
    b = ng.constant(2.0, name="b")
    with ng.control_dependencies([a]):
        c = ng.constant(3.0, name="c")
        with ng.control_dependencies([b.op]):
            d = ng.constant(4.0, name="d")
        with ng.control_dependencies(None):
            e = ng.constant(5.0, name="e")
    f = ng.constant(6.0, name="f")
    assert list(c.op.control_inputs) == [a.op]
    assert set(d.op.control_inputs) == {a.op, b.op}
    assert list(e.op.control_inputs) == []
    assert list(f.op.control_inputs) == []


def test_control_dependency_runs_first(sess):
    x = ng.placeholder(ng.float32, [], name="x")
    with ng.control_dependencies([x]):
        y = ng.constant(1.0)
    # the control input must be computed, so x must be fed
    with pytest.raises(ng.errors.InvalidArgumentError):
        sess.run(y)
    assert sess.run(y, {x: 2.0}) == 1.0


def test_group_creates_noop_with_control_inputs(sess):
    a = ng.constant(1.0)
    b = ng.constant(2.0) * 3.0
    g = ng.group(a, b.op, name="grp")
    assert isinstance(g, ng.Operation)
    assert g.type == "NoOp"
    assert g.name == "grp"
    assert set(g.control_inputs) == {a.op, b.op}
    assert sess.run(g) is None
    g2 = ng.group([a, b])
    assert set(g2.control_inputs) == {a.op, b.op}


def test_tuple_gates_tensors(sess):
    a = ng.constant([1.0, 2.0])
    b = ng.constant(3.0) * 2.0
    ta, tb, tn = ng.tuple([a, b, None])
    assert tn is None
    assert isinstance(ta, ng.Tensor) and ta is not a
    assert ta.op.control_inputs
    va, vb = sess.run([ta, tb])
    np.testing.assert_array_equal(va, [1.0, 2.0])
    assert vb == 6.0


def test_graph_as_default_and_get_default_graph():
    g0 = ng.get_default_graph()
    g = ng.Graph()
    assert g is not g0
    with g.as_default() as entered:
        assert entered is g
        assert ng.get_default_graph() is g
        c = ng.constant(1.0)
        assert c.graph is g
        with pytest.raises(AssertionError):
            ng.reset_default_graph()
    assert ng.get_default_graph() is g0
    assert c not in [op.outputs[0] for op in g0.get_operations()]
    assert g.get_operations() == [c.op]


def test_reset_default_graph():
    g0 = ng.get_default_graph()
    ng.constant(1.0)
    ng.reset_default_graph()
    g1 = ng.get_default_graph()
    assert g1 is not g0
    assert g1.get_operations() == []
    assert ng.constant(1.0).op.name == "Const"


def test_ops_from_different_graphs_cannot_mix():
    g1 = ng.Graph()
    with g1.as_default():
        a = ng.constant(1.0)
    b = ng.constant(2.0)
    with pytest.raises(ValueError):
        ng.add(a, b)


def test_tensor_bool_and_len_rejected():
    x = ng.constant([1.0, 2.0])
    with pytest.raises(TypeError):
        bool(x)
    with pytest.raises(TypeError):
        if x > 0.0:
            pass


# === Session.run fetch structures ===============================================================
def test_run_single_tensor_scalar_and_array(sess):
    t = ng.constant(3.0)
    out = sess.run(t)
    assert out == 3.0 and isinstance(out, np.floating) and out.dtype == np.float32
    a = ng.constant([[1, 2], [3, 4]])
    v = sess.run(a)
    assert isinstance(v, np.ndarray) and v.dtype == np.int32
    np.testing.assert_array_equal(v, [[1, 2], [3, 4]])


def test_run_op_gives_none_and_none_is_refused(sess):
    y = ng.constant(1.0) + 1.0
    assert sess.run(y.op) is None
    assert sess.run(ng.no_op()) is None
    assert sess.run([y, y.op]) == [2.0, None]
    for fetches in (None, [y, None, y.op]):         # TF: a TypeError, not a None back
        with pytest.raises(TypeError, match="Argument `fetch` = None has invalid type"):
            sess.run(fetches)


def test_run_nested_structures(sess):
    a = ng.constant(1.0)
    b = ng.constant([2.0, 3.0])
    Pair = collections.namedtuple("Pair", ["first", "second"])
    out = sess.run({"a": a, "nested": [b, (a, {"deep": b})], "pair": Pair(a, [b])})
    assert set(out) == {"a", "nested", "pair"}
    assert out["a"] == 1.0
    assert isinstance(out["nested"], list) and isinstance(out["nested"][1], tuple)
    np.testing.assert_array_equal(out["nested"][0], [2.0, 3.0])
    assert out["nested"][1][0] == 1.0
    np.testing.assert_array_equal(out["nested"][1][1]["deep"], [2.0, 3.0])
    assert isinstance(out["pair"], Pair)
    assert out["pair"].first == 1.0
    np.testing.assert_array_equal(out["pair"].second[0], [2.0, 3.0])
    lst = sess.run([a, b])
    assert isinstance(lst, list) and len(lst) == 2
    tup = sess.run((a, a))
    assert isinstance(tup, tuple) and tup == (1.0, 1.0)
    od = sess.run(collections.OrderedDict([("z", a), ("y", b)]))
    assert isinstance(od, collections.OrderedDict) and list(od) == ["z", "y"]


def test_run_fetch_by_name(sess):
    x = ng.placeholder(ng.float32, [2], name="x")
    y = ng.multiply(x, 3.0, name="y")
    np.testing.assert_allclose(sess.run("y:0", {"x:0": [1.0, 2.0]}), [3.0, 6.0])
    np.testing.assert_allclose(sess.run(["y:0", y], {x: [1.0, 1.0]})[0], [3.0, 3.0])
    assert sess.run("y", {x: [1.0, 1.0]}) is None       # an op name: run, return None
    with pytest.raises((ValueError, KeyError)):
        sess.run("nothere:0")


def test_run_indexed_slices_value(sess):
    params = ng.constant([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    g, = ng.gradients(ng.gather(params, [2, 0]), params)
    assert isinstance(g, ng.IndexedSlices)
    v = sess.run(g)
    assert isinstance(v, ng.IndexedSlicesValue)
    np.testing.assert_array_equal(v.indices, [2, 0])
    np.testing.assert_allclose(v.values, np.ones((2, 2)))
    np.testing.assert_array_equal(v.dense_shape, [3, 2])
    both = sess.run({"g": g, "p": params})
    assert isinstance(both["g"], ng.IndexedSlicesValue)


def test_run_same_tensor_twice_and_fetch_results_independent(sess):
    a = ng.constant([1.0, 2.0])
    r1, r2 = sess.run([a, a])
    np.testing.assert_array_equal(r1, r2)
    r1[0] = 100.0                   # results are the caller's
    np.testing.assert_array_equal(sess.run(a), [1.0, 2.0])


def test_feed_intermediate_tensor(sess):
    x = ng.placeholder(ng.float32, [], name="x")
    y = x * 2.0
    z = y * 3.0
    assert sess.run(z, {y: 10.0}) == 30.0
    assert sess.run(z, {x: 1.0}) == 6.0


def test_run_invalid_fetch_type(sess):
    with pytest.raises(TypeError):
        sess.run(3.0)
    with pytest.raises(TypeError):
        sess.run([ng.constant(1.0), object()])


# === feed errors ================================================================================
def test_feed_wrong_shape_names_placeholder_and_shapes(sess):
    x = ng.placeholder(ng.float32, [None, 3], name="my_input")
    y = x * 2.0
    with pytest.raises(ValueError) as ei:
        sess.run(y, {x: np.ones((2, 4))})
    msg = str(ei.value)
    assert "my_input" in msg
    assert "(2, 4)" in msg
    assert "3" in msg and ("(?, 3)" in msg or "(None, 3)" in msg)


def test_feed_float_for_int_placeholder_type_error(sess):
    n = ng.placeholder(ng.int32, [2], name="counts")
    with pytest.raises(TypeError, match="counts"):
        sess.run(n * 2, {n: [1.5, 2.0]})
    np.testing.assert_array_equal(sess.run(n * 2, {n: [1, 2]}), [2, 4])


def test_feed_converts_to_placeholder_dtype(sess):
    x = ng.placeholder(ng.float32, [2], name="x")
    out = sess.run(x * 1.0, {x: np.array([1, 2], np.int64)})
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out, [1.0, 2.0])


def test_missing_feed_invalid_argument_error(sess):
    x = ng.placeholder(ng.float32, [2], name="forgotten")
    y = x * 2.0
    with pytest.raises(ng.errors.InvalidArgumentError, match="forgotten"):
        sess.run(y)
    # unrelated placeholders need not be fed
    z = ng.constant(1.0) * 2.0
    assert sess.run(z) == 2.0


def test_fetch_from_another_graph_value_error(sess):
    g = ng.Graph()
    with g.as_default():
        other = ng.constant(1.0)
    with pytest.raises(ValueError):
        sess.run(other)
    x = ng.placeholder(ng.float32, [], name="x")
    with pytest.raises(ValueError):
        sess.run(x, {other: 1.0})


def test_feed_value_cannot_be_tensor(sess):
    x = ng.placeholder(ng.float32, [], name="x")
    with pytest.raises(TypeError):
        sess.run(x * 1.0, {x: ng.constant(1.0)})


# === session lifecycle ==========================================================================
def test_session_context_manager_and_default():
    c = ng.constant(4.0)
    assert ng.get_default_session() is None
    with ng.Session() as s:
        assert ng.get_default_session() is s
        assert c.eval() == 4.0
        assert s.graph is ng.get_default_graph()
    assert ng.get_default_session() is None
    with pytest.raises(RuntimeError):
        s.run(c)                      # closed on exit


def test_close_then_run_raises():
    c = ng.constant(1.0)
    s = ng.Session()
    assert s.run(c) == 1.0
    s.close()
    with pytest.raises(RuntimeError):
        s.run(c)


def test_session_with_explicit_graph():
    g = ng.Graph()
    with g.as_default():
        x = ng.placeholder(ng.float32, [], name="x")
        y = x + 1.0
    with ng.Session(graph=g) as s:
        assert s.graph is g
        assert s.run(y, {x: 1.0}) == 2.0
        assert s.run("x:0", {"x:0": 5.0}) == 5.0


def test_tensor_eval_and_operation_run_with_default_session():
    x = ng.placeholder(ng.float32, [2], name="x")
    y = x * 2.0
    s = ng.Session()
    with pytest.raises(ValueError):
        y.eval(feed_dict={x: [1.0, 2.0]})        # no default session
    with pytest.raises(ValueError, match="No default session"):
        y.op.run(feed_dict={x: [1.0, 2.0]})
    with s.as_default():
        np.testing.assert_allclose(y.eval(feed_dict={x: [1.0, 2.0]}), [2.0, 4.0])
        y.op.run(feed_dict={x: [1.0, 2.0]})
    np.testing.assert_allclose(y.eval(feed_dict={x: [3.0, 4.0]}, session=s), [6.0, 8.0])
    s.close()


def test_interactive_session_is_default():
    c = ng.constant(2.0)
    s = ng.InteractiveSession()
    try:
        assert ng.get_default_session() is s
        assert c.eval() == 2.0
    finally:
        s.close()
    assert ng.get_default_session() is None


# === make_callable ==============================================================================
def test_make_callable_matches_run(sess):
    x = ng.placeholder(ng.float32, [None], name="x")
    w = ng.placeholder(ng.float32, [], name="w")
    y = ng.reduce_sum(x * w)
    z = x + w
    f = sess.make_callable([y, {"z": z}], [x, w])
    for xv, wv in [([1.0, 2.0], 3.0), ([0.5], -1.0)]:
        got = f(xv, wv)
        want = sess.run([y, {"z": z}], {x: xv, w: wv})
        assert got[0] == pytest.approx(want[0])
        np.testing.assert_allclose(got[1]["z"], want[1]["z"])
    g = sess.make_callable(y.op, [x, w])
    assert g([1.0], 1.0) is None
    h = sess.make_callable(ng.constant(7.0))
    assert h() == 7.0


def test_results_never_alias_feeds(sess):
    # TF returns fresh arrays: fetching a fed tensor, its identity or a view of it must not
    # hand back (a view of) the caller's array.
    x = ng.placeholder(ng.float64, [3])
    fetches = [x, ng.identity(x), ng.reshape(x, [3, 1]), ng.stop_gradient(x)]
    vx = np.array([1.0, 2.0, 3.0])
    for out in (sess.run(fetches, {x: vx}), sess.make_callable(fetches, [x])(vx)):
        for r in out:
            assert not np.shares_memory(r, vx)
            np.testing.assert_array_equal(r.reshape(-1), vx)


def test_make_callable_wrong_number_of_args(sess):
    x = ng.placeholder(ng.float32, [], name="x")
    w = ng.placeholder(ng.float32, [], name="w")
    f = sess.make_callable(x * w, [x, w])
    assert f(2.0, 3.0) == 6.0
    with pytest.raises((TypeError, ValueError)):
        f(2.0)
    with pytest.raises((TypeError, ValueError)):
        f(2.0, 3.0, 4.0)


def test_make_callable_checks_feeds(sess):
    n = ng.placeholder(ng.int32, [2], name="n")
    f = sess.make_callable(n + 1, [n])
    np.testing.assert_array_equal(f([1, 2]), [2, 3])
    with pytest.raises(TypeError):
        f([1.5, 2.5])
    with pytest.raises(ValueError):
        f([1, 2, 3])


# === eager mode =================================================================================
def test_eager_mode_computes_at_once():
    assert not ng.executing_eagerly()
    ng.enable_eager_execution()
    try:
        assert ng.executing_eagerly()
        a = ng.constant([1.0, 2.0, 3.0])
        b = a * 2.0 + 1.0
        np.testing.assert_allclose(b.numpy(), [3.0, 5.0, 7.0])
        s = ng.reduce_sum(b)
        assert float(s.numpy()) == pytest.approx(15.0)
        np.testing.assert_allclose(np.asarray(ng.exp(ng.constant(0.0))), 1.0)
        assert b.shape.as_list() == [3]
        with pytest.raises(RuntimeError):
            ng.placeholder(ng.float32, [2])
        with pytest.raises(RuntimeError):
            ng.gradients(s, a)
    finally:
        ng.disable_eager_execution()
    assert not ng.executing_eagerly()


def test_graph_mode_tensor_has_no_numpy():
    t = ng.constant(1.0)
    with pytest.raises(ValueError):
        t.numpy()
    with pytest.raises(TypeError):
        np.asarray(t * 2.0)


def test_eager_mode_does_not_touch_the_graph():
    g = ng.get_default_graph()
    n = len(g.get_operations())
    ng.enable_eager_execution()
    try:
        (ng.constant(1.0) + 2.0).numpy()
    finally:
        ng.disable_eager_execution()
    assert ng.get_default_graph() is g
    assert len(g.get_operations()) == n


# === backends ===================================================================================
def test_numgrad_backend_env_var_numpy(monkeypatch):
    monkeypatch.setenv("NUMGRAD_BACKEND", "numpy")
    c = ng.constant(2.0) * 3.0
    with ng.Session() as s:
        assert s.backend == "numpy"
        assert s.run(c) == 6.0


def test_numgrad_backend_env_var_unknown(monkeypatch):
    from numgrad.backends import available_backends
    monkeypatch.setenv("NUMGRAD_BACKEND", "no_such_backend")
    with pytest.raises(ValueError) as ei:
        ng.Session()
    msg = str(ei.value)
    assert "no_such_backend" in msg
    assert "numpy" in msg
    for name in available_backends():
        assert name in msg


def test_numgrad_backend_unset_defaults_to_cpu(monkeypatch):
    monkeypatch.delenv("NUMGRAD_BACKEND", raising=False)
    with ng.Session() as s:
        assert s.backend == "cpu"


def test_explicit_numpy_backend(monkeypatch):
    monkeypatch.setenv("NUMGRAD_BACKEND", "no_such_backend")
    x = ng.placeholder(ng.float32, [2], name="x")
    y = ng.reduce_sum(x * x)
    g, = ng.gradients(y, x)
    with ng.Session(backend="numpy") as s:
        assert s.backend == "numpy"
        out = s.run([y, g], {x: [1.0, 2.0]})
    assert out[0] == pytest.approx(5.0)
    np.testing.assert_allclose(out[1], [2.0, 4.0])
    with pytest.raises(ValueError):
        ng.Session(backend="also_missing")


def test_backends_agree_with_numpy(sess):
    x = ng.placeholder(ng.float32, [None, 3], name="x")
    y = ng.reduce_sum(ng.tanh(x) * ng.exp(-x), axis=1)
    g, = ng.gradients(y, x)
    xv = np.random.default_rng(0).normal(size=(4, 3)).astype(np.float32)
    got = sess.run([y, g], {x: xv})
    with ng.Session(backend="numpy") as ref:
        want = ref.run([y, g], {x: xv})
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


# === ng.test gradient checker ===================================================================
# What these check is compute_gradient's own work (seeds, perturbations, the Jacobians'
# layout), the same on every backend: they run it in a NumPy-backend default session, once.
_checker_test = pytest.mark.backend_independent


@_checker_test
def test_compute_gradient_shapes_and_agreement():
    x = ng.placeholder(ng.float64, [2, 3], name="x")
    y = ng.reduce_sum(ng.sin(x) * x, axis=0)      # shape [3]
    x0 = np.random.default_rng(0).random((2, 3))
    with ng.Session(backend="numpy"):
        jt, jn = ng.test.compute_gradient(x, [2, 3], y, [3], x_init_value=x0)
    assert jt.shape == (6, 3) and jn.shape == (6, 3)
    np.testing.assert_allclose(jt, jn, atol=1e-5)
    expected = np.zeros((6, 3))
    d = (np.cos(x0) * x0 + np.sin(x0)).reshape(-1)
    for i in range(6):
        expected[i, i % 3] = d[i]
    np.testing.assert_allclose(jt, expected, rtol=1e-10, atol=1e-12)


@_checker_test
def test_compute_gradient_error_small_and_detects_wrong_rule():
    x = ng.placeholder(ng.float64, [3], name="x")
    y = ng.exp(x) * 2.0
    a = ng.placeholder(ng.float64, [1], name="a")
    with ng.Session(backend="numpy"):
        err = ng.test.compute_gradient_error(x, [3], y, [3],
                                             x_init_value=np.array([0.1, 0.2, 0.3]))
        # at a jump the numerical and theoretical Jacobians disagree: the error is large
        err2 = ng.test.compute_gradient_error(a, [1], ng.sign(a), [1],
                                              x_init_value=np.array([0.0]))
    assert err < 1e-5
    assert err2 > 0.5


@_checker_test
def test_compute_gradient_of_a_list_matches_one_x_at_a_time():
    # a list of xs: one gradient graph for all of them; each pair equals the pair computed for
    # that x alone (the others fed their initial values), an unconnected x gets zero Jacobians,
    # and extra_feed_dict feeds the rest
    a = ng.placeholder(ng.float64, [2, 3], name="a")
    b = ng.placeholder(ng.float64, [3], name="b")
    c = ng.placeholder(ng.float64, [2], name="c")       # y does not depend on it
    s = ng.placeholder(ng.float64, [], name="s")
    y = ng.reduce_sum(ng.tanh(a * b) * s, axis=1)
    r = np.random.default_rng(3)
    a0, b0, c0 = r.normal(size=(2, 3)), r.normal(size=3), r.normal(size=2)
    with ng.Session(backend="numpy"):
        pairs = ng.test.compute_gradient([a, b, c], [[2, 3], [3], [2]], y, [2],
                                         x_init_value=[a0, b0, c0], extra_feed_dict={s: 1.5})
        alone = [ng.test.compute_gradient(a, [2, 3], y, [2], x_init_value=a0,
                                          extra_feed_dict={b: b0, s: 1.5}),
                 ng.test.compute_gradient(b, [3], y, [2], x_init_value=b0,
                                          extra_feed_dict={a: a0, s: 1.5})]
    for (jt, jn), (jt1, jn1) in zip(pairs, alone):
        np.testing.assert_allclose(jt, jt1, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(jn, jn1, rtol=1e-12, atol=1e-14)
        np.testing.assert_allclose(jt, jn, atol=1e-5)         # delta 1e-3: error ~1e-6
    t = 1 - np.tanh(a0 * b0) ** 2                 # d y[i] / d a[i, k] = 1.5 (1 - tanh^2) b[k]
    np.testing.assert_allclose(pairs[0][0][:3, 0], 1.5 * t[0] * b0, rtol=1e-12)
    assert pairs[2][0].shape == (2, 2) and not pairs[2][0].any() and not pairs[2][1].any()


def test_run_reuses_a_callable_for_repeated_common_calls(sess, monkeypatch):
    # run(list/tuple/Tensor of Tensors, {Tensor: value}) goes through a remembered
    # make_callable function: same results, structures, errors and fresh arrays as the full
    # path; other calls (names, dicts, options) take the full path; the memory is bounded.
    from numgrad import session as session_module
    x = ng.placeholder(ng.float64, [None], name="x")
    w = ng.placeholder(ng.float64, [None], name="w")
    loss = ng.reduce_sum(ng.tanh(x * w) * x)
    gx, gw = ng.gradients(loss, [x, w])
    r = np.random.default_rng(0)

    def expected(xv, wv):
        t = np.tanh(xv * wv)
        return np.sum(t * xv), t + xv * wv * (1 - t * t), xv * xv * (1 - t * t)

    for n in (3, 3, 5, 3):
        xv, wv = r.standard_normal(n), r.standard_normal(n)
        e_loss, e_gx, e_gw = expected(xv, wv)
        got = sess.run([loss, gx, gw], {x: xv, w: wv})
        assert isinstance(got, list) and np.ndim(got[0]) == 0
        np.testing.assert_allclose(got[0], e_loss, rtol=1e-12)
        np.testing.assert_allclose(got[1], e_gx, rtol=1e-12)
        got[1][:] = 0.0                                   # the caller owns its arrays
        got = sess.run((gx, loss), {w: wv, x: xv})        # a tuple, feeds in another order
        assert isinstance(got, tuple)
        np.testing.assert_allclose(got[0], e_gx, rtol=1e-12)
        np.testing.assert_allclose(sess.run(loss, {x: list(xv), w: wv}), e_loss, rtol=1e-12)
        # the same call by names and as a dict: the full path, same answers
        by_name = sess.run({"l": loss.name}, {"x:0": xv, "w:0": wv})
        np.testing.assert_allclose(by_name["l"], e_loss, rtol=1e-12)
    assert len(sess._run_callables) == 3
    with pytest.raises(ValueError, match="'x:0'"):
        sess.run([loss, gx], {x: np.ones((2, 2)), w: np.ones(2)})
    with pytest.raises(ValueError, match="'x:0'"):
        sess.run([loss, gx, gw], {x: np.ones((2, 2)), w: np.ones(2)})
    other = ng.Graph()
    with other.as_default():
        stranger = ng.constant(1.0)
    with pytest.raises(ValueError, match="not an element of this graph"):
        sess.run([loss, stranger], {x: np.ones(2), w: np.ones(2)})
    assert len(sess._run_callables) == 4                  # the failed call left nothing
    monkeypatch.setattr(session_module, "_RUN_CALLABLES_MAX", 2)
    for k in range(5):                                    # bounded, and still right
        y = loss * float(k + 1)
        xv, wv = r.standard_normal(4), r.standard_normal(4)
        np.testing.assert_allclose(sess.run(y, {x: xv, w: wv}),
                                   (k + 1) * expected(xv, wv)[0], rtol=1e-12)
        assert len(sess._run_callables) <= 2
    sess.close()
    assert not sess._run_callables
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run([loss], {x: np.ones(2), w: np.ones(2)})


def test_an_unaligned_feed_is_realigned_and_gives_the_same_result():
    # an array at an odd byte offset (np.frombuffer of a network frame): fed as an aligned
    # copy, so compiled loops never see it (they would be another, slower specialisation)
    buf = np.zeros(8 * 64 + 1, np.uint8)
    y = np.frombuffer(buf[1:1 + 8 * 64].data, dtype=np.float64)
    y[:] = np.linspace(0, 1, 64)
    assert not y.flags.aligned
    x = ng.placeholder(ng.float64, [None])
    from numgrad.session import check_feed
    fed = check_feed(x, y)
    assert fed.flags.aligned and np.array_equal(fed, y)
    out = ng.reduce_sum(ng.exp(x) * x)
    with ng.Session() as s:
        call = s.make_callable(out, [x])
        want = np.sum(np.exp(y) * y)
        for _ in range(3):
            assert call(y) == pytest.approx(want, rel=1e-14)
            assert s.run(out, {x: y}) == pytest.approx(want, rel=1e-14)
