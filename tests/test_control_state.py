"""State inside control flow (numgrad/control/stateful.py): variables read, assigned and created
in cond branches and while_loop bodies, random ops drawing per iteration, gradients through such
reads, Variable.initialized_value.  Literal values were computed with TF 2.21's tf.compat.v1 in
graph mode (resource variables, control flow v2); where TF's result is a race between parallel
iterations, numgrad's deterministic value is checked and the TF value is named in a comment.
Sessions use NUMGRAD_BACKEND (run under cpu and numpy); one test compares the two."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import random_ops
from numgrad.errors import FailedPreconditionError, InvalidArgumentError

F64 = ng.float64


@pytest.fixture
def sess():
    with ng.Graph().as_default() as g, ng.Session(graph=g) as s:
        yield s


def _init(s):
    s.run(ng.global_variables_initializer())


# --- while_loop --------------------------------------------------------------------------------
def test_counter_incremented_in_body_equals_trip_count(sess):
    v = ng.Variable(0, name="cnt")

    def body(i):
        with ng.control_dependencies([v.assign_add(1)]):
            return i + 1
    out = ng.while_loop(lambda i: i < 5, body, [0])
    _init(sess)
    assert sess.run(out) == 5 and sess.run(v) == 5            # TF: 5 5
    assert sess.run(out) == 5 and sess.run(v) == 10           # kept by the session


def test_reads_in_body_see_this_iterations_value(sess):
    v = ng.Variable(1.0)

    def body(i, acc, acc2, acc3):
        a = v.assign_add(1.0)
        with ng.control_dependencies([a]):
            r = v.read_value()
        return i + 1, acc + r, acc2 + a, acc3 + v * 1.0
    out = ng.while_loop(lambda i, *_: i < 3, body, [0, 0.0, 0.0, 0.0])
    _init(sess)
    # TF: [3, 9, 9] and v = 4; the unordered read (acc3) is a race in TF (it saw 9 too):
    # numgrad reads in build order, after the assignment built before it
    assert sess.run(out) == [3, 9.0, 9.0, 9.0] and sess.run(v) == 4.0


def test_cond_of_loop_reads_the_value_the_body_assigns(sess):
    u = ng.Variable(1.0)
    k = ng.while_loop(lambda k: u < 10.0, lambda k: k + u.assign_add(3.0) * 0.0 + 1.0, [0.0])
    _init(sess)
    # TF 2.21 gave k = 10, u = 31 here (its cond raced ahead of the body's assignments);
    # numgrad's cond sees each iteration's value: 1 -> 4 -> 7 -> 10
    assert sess.run(k) == 3.0 and sess.run(u) == 10.0


def test_nested_loops_and_cond_in_body(sess):
    v = ng.Variable(0, name="cnt")
    w = ng.Variable(0.0)

    def inner(j):
        with ng.control_dependencies([v.assign_add(1)]):
            return j + 1

    def body(i):
        j = ng.while_loop(lambda j: j < 3, inner, [0])
        a = ng.cond(ng.equal(i % 2, 0), lambda: w.assign_add(ng.cast(i, ng.float32)),
                    lambda: w.read_value())
        with ng.control_dependencies([a]):
            return i + j - 2
    out = ng.while_loop(lambda i: i < 5, body, [0])
    _init(sess)
    assert sess.run(out) == 5 and sess.run(v) == 15 and sess.run(w) == 6.0  # TF: 5 15 6


def test_scan_and_map_fn_assign_per_element(sess):
    xs = ng.constant([1.0, 2.0, 3.0])
    z = ng.Variable(10.0)
    sc = ng.scan(lambda acc, x: acc + z.assign_add(x), xs, initializer=0.0)
    mp = ng.map_fn(lambda x: z.assign_sub(x) * 1.0, xs)
    _init(sess)
    # final values as TF (16, then 10); TF's per-element values race ([11, 27, 41], [10, 11, 13])
    np.testing.assert_array_equal(sess.run(sc), [11.0, 24.0, 40.0])
    assert sess.run(z) == 16.0
    np.testing.assert_array_equal(sess.run(mp), [15.0, 13.0, 10.0])
    assert sess.run(z) == 10.0


def test_loop_inside_cond_assigns_only_when_taken(sess):
    v = ng.Variable(0)
    p = ng.placeholder(ng.bool_, [])

    def loop():
        def body(i):
            with ng.control_dependencies([v.assign_add(2)]):
                return i + 1
        return ng.while_loop(lambda i: i < 3, body, [0])
    r = ng.cond(p, loop, lambda: ng.constant(-1))
    _init(sess)
    assert [sess.run(r, {p: False}), sess.run(v), sess.run(r, {p: True}), sess.run(v)] == \
        [-1, 0, 3, 6]


def test_read_ordered_after_a_loop_sees_its_assignments(sess):
    c = ng.Variable(0)

    def body(i):
        with ng.control_dependencies([c.assign_add(1)]):
            return i + 1
    lo = ng.while_loop(lambda i: i < 4, body, [0])
    with ng.control_dependencies([lo]):
        after = c.read_value()
    _init(sess)
    assert sess.run([lo, after]) == [4, 4] and sess.run(c) == 4


def test_failed_run_changes_no_variable(sess):
    v = ng.Variable(0.0)

    def body(i):
        a = v.assign_add(1.0)
        with ng.control_dependencies([a]):
            c = ng.debugging.check_numerics(ng.log(2.0 - ng.cast(i, ng.float32)), "bad")
        return i + 1 + ng.cast(c * 0, ng.int32)
    out = ng.while_loop(lambda i: i < 5, body, [0])
    _init(sess)
    with pytest.raises(InvalidArgumentError, match="bad"):
        sess.run(out)
    assert sess.run(v) == 0.0       # TF keeps the three assignments before the failure: 3.0


def test_assign_in_loop_cond_is_refused_and_leaves_graph_unchanged(sess):
    v = ng.Variable(0)
    n = len(sess.graph.get_operations())
    with pytest.raises(ValueError, match="the cond assigns variables"):
        ng.while_loop(lambda i: v.assign_add(1) < 3, lambda i: i + 1, [0])
    assert len(sess.graph.get_operations()) == n


def test_stateful_loop_runs_interpreted_and_explain_says_why():
    with ng.Graph().as_default() as g:
        v = ng.Variable(np.zeros(3))
        x = ng.placeholder(F64, [3])
        out = ng.while_loop(lambda i: i < 4, lambda i: i + 1 + 0 * ng.reduce_sum(v.assign_add(x)),
                            [ng.constant(0.0, F64)])
        with ng.Session(graph=g, backend="cpu") as s:
            _init(s)
            text = ng.explain(out, {x: np.ones(3)}, session=s)
            assert "assign variables or draw random numbers" in text
            np.testing.assert_array_equal(s.run(v), [4, 4, 4])   # explain ran it once


# --- cond --------------------------------------------------------------------------------------
def test_only_the_taken_branch_assigns(sess):
    v = ng.Variable(10.0)
    p = ng.placeholder(ng.bool_, [])
    r = ng.cond(p, lambda: v.assign_add(1.0), lambda: v.assign_sub(1.0))
    _init(sess)
    got = [sess.run(r, {p: True}), sess.run(v), sess.run(r, {p: False}),
           sess.run(r, {p: False}), sess.run(v)]
    assert got == [11.0, 11.0, 10.0, 9.0, 9.0]             # TF's


def test_branches_returning_ops_return_pred(sess):
    v = ng.Variable(1.0)
    p = ng.placeholder(ng.bool_, [])
    r = ng.cond(p, lambda: v.assign_add(1.0).op, lambda: ng.no_op())
    r2 = ng.cond(p, lambda: ng.group(v.assign_add(10.0)), ng.no_op)
    assert r.dtype == ng.bool_
    sess.run(v.initializer)
    got = [sess.run(r, {p: True}), sess.run(v), sess.run(r, {p: False}), sess.run(v),
           sess.run(r2, {p: True}), sess.run(v)]
    assert got == [True, 2.0, False, 2.0, True, 12.0]       # TF's


# --- gradients ---------------------------------------------------------------------------------
def test_gradient_of_variable_read_in_body(sess):
    x = ng.Variable(2.0)
    out = ng.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a * x), [0, 1.0])
    g, = ng.gradients(out[1], x)
    _init(sess)
    assert sess.run([out[1], g]) == [8.0, 12.0]             # TF's


def test_gradient_sums_every_read_after_assignments(sess):
    x = ng.Variable(2.0, dtype=F64)

    def body(i, a):
        with ng.control_dependencies([x.assign_add(1.0)]):
            r = x.read_value()
        return i + 1, a * r
    out = ng.while_loop(lambda i, a: i < 3, body, [0, ng.constant(1.0, F64)])
    g, = ng.gradients(out[1], x)
    _init(sess)
    assert sess.run([out[1], g]) == [60.0, 47.0]            # TF: 60 47, x = 5
    assert sess.run(x) == 5.0
    with sess.as_default():     # x is fed: every read is x + k, so finite differences agree
        err = ng.test.compute_gradient_error(x, [], out[1], [], x_init_value=np.array(2.0))
    assert err < 1e-6


def test_assign_output_in_body_is_a_read_of_the_variable(sess):
    x = ng.Variable(2.0)
    y = ng.placeholder_with_default(3.0, [])
    out = ng.while_loop(lambda i, a: i < 3, lambda i, a: (i + 1, a + x.assign(y * 2.0)),
                        [0, 1.0])
    gx, gy = ng.gradients(out[1], [x, y])
    _init(sess)
    assert sess.run(out[1]) == 19.0 and sess.run(x) == 6.0   # TF: 19, 6
    assert sess.run([gx, gy]) == [3.0, 0.0]                  # TF's


def test_gradient_of_variable_read_in_branch(sess):
    x = ng.Variable(2.0)
    p = ng.placeholder(ng.bool_, [])
    r = ng.cond(p, lambda: x * x, lambda: x * 3.0)
    g, = ng.gradients(r, x)
    _init(sess)
    assert sess.run([r, g], {p: True}) == [4.0, 4.0]        # TF's
    assert sess.run([r, g], {p: False}) == [6.0, 3.0]


# --- variables made inside functions ----------------------------------------------------------
def test_variables_created_in_body_live_in_the_outer_graph(sess):
    g = sess.graph

    def body(i):
        w = ng.Variable(1.0, name="inner")
        u = ng.get_variable("gv", [], initializer=ng.ones_initializer())
        assert w.graph is g and u.graph is g
        return i + w + u
    out = ng.while_loop(lambda i: i < 5, body, [0.0])
    assert [v.name for v in ng.global_variables()] == ["inner:0", "gv:0"]    # TF's names
    _init(sess)
    assert sess.run(out) == 6.0


def test_failed_build_undoes_variables_made_inside(sess):
    g = sess.graph
    n = len(g.get_operations())

    def body(i):
        u = ng.get_variable("gv", [], initializer=ng.ones_initializer())
        return i + u + ng.Variable(2.0, name="inner"), 1      # not the loop vars' structure
    with pytest.raises(ValueError, match="same nested structure"):
        ng.while_loop(lambda i: i < 5, body, [0.0])
    assert len(g.get_operations()) == n and ng.global_variables() == []
    u = ng.get_variable("gv", [], initializer=ng.ones_initializer())    # made anew
    assert u.op in g.get_operations()


def test_variable_from_a_value_computed_inside_is_tfs_error(sess):
    n = len(sess.graph.get_operations())
    with pytest.raises(ValueError, match=r"Argument `initial_value` \(.*mul:0.*\) could not be "
                       r"lifted out of a `tf.function`. \(Tried to create variable with "
                       r"name='dep'\)"):
        ng.while_loop(lambda i: i < 5, lambda i: i + ng.Variable(i * 2.0, name="dep"), [0.0])
    assert len(sess.graph.get_operations()) == n


# --- random ops --------------------------------------------------------------------------------
def _random_loop(seed=5):
    def body(i, acc):
        return i + 1, acc.write(i, ng.random_normal([2], seed=seed))
    out = ng.while_loop(lambda i, a: i < 3, body, [0, ng.TensorArray(ng.float32, 3)])
    return out[1].stack()


def test_random_op_in_body_draws_per_iteration_by_the_philox_rule(sess):
    st = _random_loop()
    outside = ng.random_normal([2], seed=5)         # same seeds: draw index 0, run 0
    a, o = sess.run([st, outside])
    b = sess.run(st)
    assert len({r.tobytes() for r in a} | {r.tobytes() for r in b}) == 6
    np.testing.assert_array_equal(a[0], o)
    seeds = {"seed": random_ops.DEFAULT_GRAPH_SEED, "seed2": 5}
    for run, rows in ((0, a), (1, b)):
        for i, row in enumerate(rows):
            want = random_ops._normal_blocks(seeds, np.array([run, i]), [0], np.float32)
            np.testing.assert_array_equal(row, want[0, :2].astype(np.float32))


def test_gradient_through_dropout_in_loop_uses_the_same_draws(sess):
    ng.set_random_seed(2)
    x0 = np.linspace(1, 2, 6)
    x = ng.constant(x0)
    y = ng.while_loop(lambda i, s: i < 3, lambda i, s: (i + 1, s + ng.nn.dropout(x, rate=0.5)),
                      [0, ng.zeros([6], F64)])[1]
    g, = ng.gradients(ng.reduce_sum(y), x)
    for _ in range(2):      # y is linear in x: y = x * dy/dx when the gradient's loop redraws
        yv, gv = sess.run([y, g])       # the forward loop's numbers
        np.testing.assert_allclose(yv, x0 * gv, rtol=1e-12)


def test_random_loop_cpu_equals_numpy_and_every_session():
    runs = {}
    for backend in ("numpy", "cpu", "cpu"):
        with ng.Graph().as_default() as g:
            ng.set_random_seed(3)
            x = ng.ones([4])
            y = ng.while_loop(lambda i, s: i < 4,
                              lambda i, s: (i + 1, s + ng.nn.dropout(x, rate=0.5)), [0, x])[1]
            with ng.Session(graph=g, backend=backend) as s:
                runs.setdefault(backend, []).append([s.run(y).tobytes() for _ in range(2)])
    assert runs["numpy"][0] == runs["cpu"][0] == runs["cpu"][1]
    assert runs["numpy"][0][0] != runs["numpy"][0][1]


def test_compiled_loop_bodies_keep_the_state_semantics(switches):
    switches(FUNCTION_COMPILE_AFTER=2)      # the cpu backend compiles bodies after 2 calls
    runs = {}
    for backend in ("numpy", "cpu"):
        with ng.Graph().as_default() as g:
            ng.set_random_seed(4)
            w = ng.Variable(np.arange(3.0))
            x = ng.placeholder(F64, [3])

            def body(i, acc, total):
                a = w.assign_add(x * ng.random_uniform([3], dtype=F64))
                return i + 1, acc + a * w, total + a
            i, acc, total = ng.while_loop(lambda i, *_: i < 7, body,
                                          [0, ng.zeros([3], F64), ng.zeros([3], F64)])
            gw, = ng.gradients(ng.reduce_sum(acc), w)
            with ng.Session(graph=g, backend=backend) as s:
                _init(s)
                runs[backend] = [s.run([i, acc, total, gw], {x: np.ones(3)}) + [s.run(w)]
                                 for _ in range(2)]
            body = i.op.get_attr("body_graph")
            assert body.calls > 2 if backend == "cpu" else body.calls == 0
    for a, b in zip(runs["numpy"], runs["cpu"]):
        assert a[0] == b[0] == 7
        for u, v in zip(a[1:], b[1:]):
            np.testing.assert_allclose(u, v, rtol=1e-12)
    # acc adds w_k * w_k (two reads of the value after the k-th assignment): its gradient
    # adds 2 w_k over the iterations, twice the sum of the values
    first, second = runs["numpy"]
    np.testing.assert_allclose(first[3], 2 * first[2], rtol=1e-12)
    assert (second[4] > first[4]).all()             # the second run went on from the first


# --- initialized_value ---------------------------------------------------------------------------
def test_initialized_value_before_and_after_initialisation(sess):
    v = ng.Variable(3.0)
    iv = v.initialized_value()
    w = ng.Variable(iv * 2.0)
    sess.run(w.initializer)                         # v not initialised: its initial value
    assert sess.run(w) == 6.0 and sess.run(iv) == 3.0
    sess.run(v.initializer)
    sess.run(v.assign(5.0))
    sess.run(w.initializer)                         # now v's current value
    assert sess.run(w) == 10.0 and sess.run(iv) == 5.0       # TF1 (cond): 6 3 / 10 5


def test_branch_reading_an_uninitialised_variable_raises(sess):
    v = ng.Variable(3.0, name="late")
    p = ng.placeholder(ng.bool_, [])
    r = ng.cond(p, lambda: v * 2.0, lambda: ng.constant(-1.0))
    assert sess.run(r, {p: False}) == -1.0
    with pytest.raises(FailedPreconditionError, match="uninitialized value late"):
        sess.run(r, {p: True})
