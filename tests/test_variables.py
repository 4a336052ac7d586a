"""Variables: creation, scopes and reuse, collections, per-Session state, assignment order."""
import threading

import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import FailedPreconditionError


def test_variable_basics(sess):
    w = ng.Variable(np.arange(3, dtype=np.float32), name="w")
    assert isinstance(w, ng.Tensor) and w.name == "w:0" and w.op.name == "w"
    assert w.dtype == ng.float32 and w.shape.as_list() == [3] and w.get_shape() == w.shape
    assert w.trainable and w.graph is ng.get_default_graph()
    assert w.initializer.type == "Assign" and w.initial_value.op.name == "w/initial_value"
    assert w in ng.global_variables() and w in ng.trainable_variables()
    sess.run(ng.global_variables_initializer())
    np.testing.assert_array_equal(sess.run(w), [0, 1, 2])
    np.testing.assert_array_equal(sess.run(w * 2.0), [0, 2, 4])
    np.testing.assert_array_equal(sess.run(w[1:]), [1, 2])
    with sess.as_default():
        np.testing.assert_array_equal(w.eval(), [0, 1, 2])


def test_names_and_collections():
    with ng.name_scope("s"):
        a = ng.Variable(1.0, name="a")
    b = ng.Variable(2.0, trainable=False)
    c = ng.Variable(3.0, collections=[ng.GraphKeys.LOCAL_VARIABLES])
    b2 = ng.Variable(2.0)
    assert a.op.name == "s/a" and b.op.name == "Variable" and c.op.name == "Variable_1" and b2.op.name == "Variable_2"
    assert ng.global_variables() == [a, b, b2]
    assert ng.trainable_variables() == [a, c, b2]
    assert ng.local_variables() == [c]
    assert ng.global_variables(scope="s") == [a]
    ng.add_to_collection("mine", a)
    assert ng.get_collection("mine") == [a] and ng.get_collection_ref("mine") == [a]


def test_callable_and_dtype_initial_values(sess):
    v = ng.Variable(lambda: ng.ones([2, 2]), name="v")
    d = ng.Variable([1, 2], dtype=ng.float64)
    sess.run(ng.global_variables_initializer())
    np.testing.assert_array_equal(sess.run(v), np.ones((2, 2), np.float32))
    assert sess.run(d).dtype == np.float64


def test_uninitialized_read_names_the_variable(sess):
    w = ng.Variable(1.0, name="weights")
    with pytest.raises(FailedPreconditionError, match="uninitialized value weights"):
        sess.run(w + 1.0)
    assert list(sess.run(ng.report_uninitialized_variables())) == ["weights"]
    assert not sess.run(ng.is_variable_initialized(w))
    sess.run(w.initializer)
    assert sess.run(ng.is_variable_initialized(w))
    assert len(sess.run(ng.report_uninitialized_variables())) == 0


def test_state_is_per_session_and_freed_on_close():
    w = ng.Variable(1.0)
    inc = w.assign_add(1.0)
    s1, s2 = ng.Session(), ng.Session()
    s1.run(w.initializer)
    s2.run(w.initializer)
    s1.run(inc)
    s1.run(inc)
    assert s1.run(w) == 3.0 and s2.run(w) == 1.0
    s1.close()
    with pytest.raises(RuntimeError):
        s1.run(w)
    s2.close()


def test_assign_methods_and_module_functions(sess):
    v = ng.Variable(np.zeros(2, np.float32))
    sess.run(v.initializer)
    np.testing.assert_array_equal(sess.run(v.assign([1.0, 2.0])), [1, 2])
    np.testing.assert_array_equal(sess.run(v.assign_add([1.0, 1.0])), [2, 3])
    np.testing.assert_array_equal(sess.run(v.assign_sub([0.5, 0.5])), [1.5, 2.5])
    assert isinstance(v.assign([0.0, 0.0], read_value=False), ng.Operation)
    sess.run(ng.assign(v, [4.0, 4.0]))
    sess.run(ng.assign_add(v, [1.0, 1.0]))
    sess.run(ng.assign_sub(v, [2.0, 0.0]))
    np.testing.assert_array_equal(sess.run(v), [3, 5])


def test_assign_errors_leave_graph_unchanged():
    v = ng.Variable(np.zeros(2, np.float32))
    c64 = ng.constant([1.0, 2.0], ng.float64)
    n = len(ng.get_default_graph().get_operations())
    with pytest.raises(ValueError, match="shape"):
        v.assign([1.0, 2.0, 3.0])
    with pytest.raises((TypeError, ValueError)):
        v.assign(c64)
    assert len(ng.get_default_graph().get_operations()) == n


def test_reads_see_the_value_before_the_runs_updates(sess):
    v = ng.Variable(1.0)
    sess.run(v.initializer)
    new = v.assign(v * 10.0)
    old_read = v * 1.0
    a, b = sess.run([new, old_read])
    assert (a, b) == (10.0, 1.0)
    assert sess.run(v) == 10.0


def test_control_dependencies_order_a_read_after_an_assignment(sess):
    v = ng.Variable(1.0)
    sess.run(v.initializer)
    upd = v.assign_add(1.0)
    with ng.control_dependencies([upd]):
        after = v.read_value()
        doubled = ng.identity(v) * 2.0
    assert sess.run(after) == 2.0
    assert sess.run(doubled) == 6.0          # one more update, then the read
    assert sess.run(v) == 3.0


def test_failed_run_changes_no_state(sess):
    v = ng.Variable(np.ones(2, np.float32))
    x = ng.placeholder(ng.float32, [None])
    sess.run(v.initializer)
    bad = v.assign(v + x)                   # x of the wrong length fails at run time
    with pytest.raises(Exception):
        sess.run(bad, {x: np.ones(3, np.float32)})
    np.testing.assert_array_equal(sess.run(v), [1, 1])


def test_fetched_values_are_copies(sess):
    v = ng.Variable(np.ones(3))
    sess.run(v.initializer)
    r = sess.run(v)
    r[:] = 7
    np.testing.assert_array_equal(sess.run(v), [1, 1, 1])
    a = sess.run(v.assign(np.full(3, 2.0)))
    a[:] = 9
    np.testing.assert_array_equal(sess.run(v), [2, 2, 2])


def test_feeding_a_variable_overrides_it_for_one_run(sess):
    v = ng.Variable(1.0)
    sess.run(v.initializer)
    assert sess.run(v * 2.0, {v: 5.0}) == 10.0
    assert sess.run(v) == 1.0


def test_load_and_make_callable(sess):
    v = ng.Variable(np.zeros(2))
    x = ng.placeholder(ng.float64, [2])
    step = v.assign_add(x)
    v.load([1.0, 2.0], sess)
    call = sess.make_callable(step, [x])
    call(np.ones(2))
    np.testing.assert_array_equal(call(np.ones(2)), [3, 4])
    with pytest.raises(ValueError, match="shape"):
        v.load([1.0], sess)


def test_gradients_with_respect_to_variables(sess):
    w = ng.Variable(np.array([1.0, -2.0, 3.0]))
    x = ng.placeholder(ng.float64, [3])
    loss = ng.reduce_sum(w * w * x)
    g, = ng.gradients(loss, [w])
    sess.run(w.initializer)
    xv = np.array([0.5, 1.0, 2.0])
    np.testing.assert_allclose(sess.run(g, {x: xv}), 2 * np.array([1.0, -2.0, 3.0]) * xv)


def test_sparse_gradient_through_gather(sess):
    emb = ng.Variable(np.arange(8.0).reshape(4, 2))
    rows = ng.gather(emb, [1, 3, 1])
    g, = ng.gradients(ng.reduce_sum(rows * rows), [emb])
    assert isinstance(g, ng.IndexedSlices)
    sess.run(emb.initializer)
    val = sess.run(g)
    dense = np.zeros((4, 2))
    np.add.at(dense, val.indices, val.values)
    np.testing.assert_allclose(dense, [[0, 0], [8, 12], [0, 0], [12, 14]])


def test_get_variable_and_scopes():
    with ng.variable_scope("layer"):
        w = ng.get_variable("w", [2, 3])
        assert ng.get_variable_scope().name == "layer"
        with ng.variable_scope("inner"):
            b = ng.get_variable("b", [3], initializer=ng.zeros_initializer())
    assert w.op.name == "layer/w" and b.op.name == "layer/inner/b"
    with ng.variable_scope("layer", reuse=True):
        assert ng.get_variable("w", [2, 3]) is w
        with ng.variable_scope("inner"):            # reuse is inherited
            assert ng.get_variable("b") is b
    with ng.variable_scope("layer") as scope:
        scope.reuse_variables()
        assert ng.get_variable("w") is w
    with ng.variable_scope("auto", reuse=ng.AUTO_REUSE):
        a1 = ng.get_variable("a", [1])
        a2 = ng.get_variable("a", [1])
    assert a1 is a2
    with ng.variable_scope(None, default_name="dense"):
        d0 = ng.get_variable("k", [1])
    with ng.variable_scope(None, default_name="dense"):
        d1 = ng.get_variable("k", [1])
    assert (d0.op.name, d1.op.name) == ("dense/k", "dense_1/k")


def test_get_variable_errors_as_tf():
    with ng.variable_scope("s"):
        ng.get_variable("w", [2])
        with pytest.raises(ValueError, match="Variable s/w already exists, disallowed"):
            ng.get_variable("w", [2])
    with ng.variable_scope("s", reuse=True):
        with pytest.raises(ValueError, match="Variable s/nope does not exist"):
            ng.get_variable("nope", [2])
        with pytest.raises(ValueError, match="Trying to share variable s/w, but specified shape"):
            ng.get_variable("w", [3])
        with pytest.raises(ValueError, match="specified dtype"):
            ng.get_variable("w", [2], dtype=ng.float64)
    with pytest.raises(ValueError, match="If initializer is a constant, do not specify shape"):
        ng.get_variable("c", [2], initializer=ng.constant([1.0, 2.0]))
    with pytest.raises(ValueError, match="must be fully defined"):
        ng.get_variable("u", [None, 2])


def test_get_variable_initializers(sess):
    c = ng.get_variable("c", initializer=ng.constant([1.0, 2.0]))
    k = ng.get_variable("k", [2, 2], initializer=ng.constant_initializer(3.0))
    i = ng.get_variable("i", [2], dtype=ng.int32)
    with ng.variable_scope("s", initializer=ng.ones_initializer()):
        o = ng.get_variable("o", [2])
    sess.run(ng.global_variables_initializer())
    np.testing.assert_array_equal(sess.run(c), [1, 2])
    np.testing.assert_array_equal(sess.run(k), np.full((2, 2), 3.0))
    np.testing.assert_array_equal(sess.run(i), [0, 0])
    np.testing.assert_array_equal(sess.run(o), [1, 1])


def test_initialized_value_chains_initial_values(sess):
    a = ng.Variable(2.0)
    b = ng.Variable(a.initialized_value() * 3.0)
    sess.run(ng.global_variables_initializer())
    assert sess.run(b) == 6.0


def test_eight_threads_training_separate_sessions():
    w = ng.Variable(np.zeros(4))
    x = ng.placeholder(ng.float64, [4])
    step = w.assign_sub(0.5 * ng.gradients(ng.reduce_sum((w - x) ** 2), [w])[0])
    results, errors = {}, []

    def train(k):
        try:
            with ng.Session(graph=w.graph) as s:
                s.run(w.initializer)
                target = np.full(4, float(k))
                for _ in range(5):
                    s.run(step, {x: target})
                results[k] = s.run(w)
        except Exception as e:      # pragma: no cover - reported below
            errors.append(e)
    threads = [threading.Thread(target=train, args=(k,)) for k in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for k in range(8):                      # w - 0.5 * 2 (w - k) = k after one step
        np.testing.assert_allclose(results[k], np.full(4, float(k)))


def test_failed_variable_creation_leaves_no_ops_or_collection_entries():
    g = ng.get_default_graph()
    n = len(g.get_operations())
    with pytest.raises(ValueError):
        ng.Variable(ng.placeholder(ng.float32, [None]))     # shape not fully defined
    ops_after_placeholder = len(g.get_operations())
    assert ops_after_placeholder == n + 1 and ng.global_variables() == []


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="needs fork")
def test_fork_after_variables_exist():
    import os
    w = ng.Variable(np.full(4, 2.0))
    x = ng.placeholder(ng.float64, [4])
    step = w.assign_sub(0.25 * ng.gradients(ng.reduce_sum(w * w * x), [w])[0])
    sess = ng.Session()
    sess.run(w.initializer)
    sess.run(step, {x: np.ones(4)})                 # w = 2 - 0.25 * 4 = 1
    pid = os.fork()
    if pid == 0:        # the child trains its copy of the session; the parent's is its own
        try:
            sess.run(step, {x: np.ones(4)})
            ok = np.allclose(sess.run(w), 0.5)
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0
    np.testing.assert_allclose(sess.run(w), np.ones(4))
    sess.close()
