"""check_numerics / add_check_numerics_ops, RunOptions(check_numerics=True) and
find_first_non_finite, why_none (numgrad/diagnostics.py, numgrad/ops/debug.py).

Tests that run graphs take the backend explicitly: both the reference interpreter and the
compiled cpu backend (constant folding, CSE) must raise the same errors."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import InvalidArgumentError
from numgrad.graph_tools import fusion_plan

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

BACKENDS = ["numpy", "cpu"]


def _ops():
    return len(ng.get_default_graph().get_operations())


# === check_numerics ==========================================================================
@pytest.mark.parametrize("backend", BACKENDS)
def test_check_numerics_is_identity_on_finite_input(backend, rng):
    x = ng.placeholder(ng.float64, [5], name="x")
    c = ng.check_numerics(x * 2.0, "doubled")
    v = rng.standard_normal(5)
    with ng.Session(backend=backend) as sess:
        np.testing.assert_array_equal(sess.run(c, {x: v}), v * 2.0)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad, status", [([1.0, np.nan], "NaN"), ([np.inf, 1.0], "Inf"),
                                         ([-np.inf, np.nan], "Inf and NaN")])
def test_check_numerics_raises_with_tf_message_and_op_name(backend, bad, status):
    x = ng.placeholder(ng.float32, [2], name="x")
    c = ng.check_numerics(x + 1.0, "checking x", name="guard")
    with ng.Session(backend=backend) as sess:
        with pytest.raises(InvalidArgumentError) as info:
            sess.run(c, {x: np.array(bad, np.float32)})
    msg = str(info.value)
    assert msg.startswith(f"checking x : Tensor had {status} values")
    assert "guard" in msg


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("n", [3, 5000])          # folded at plan time / run as a step
def test_check_numerics_on_a_constant_nan_still_raises(backend, n):
    value = np.ones(n, np.float32)
    value[1] = np.nan
    c = ng.check_numerics(ng.constant(value) * 2.0, "const")
    with ng.Session(backend=backend) as sess:
        for _ in range(2):                          # also once the plan is cached
            with pytest.raises(InvalidArgumentError,
                               match=r"^const : Tensor had NaN values") as info:
                sess.run(c)
            assert info.value.op is None or info.value.op.name == c.op.name


@pytest.mark.parametrize("backend", BACKENDS)
def test_two_checks_with_different_messages_are_not_merged(backend):
    x = ng.placeholder(ng.float32, [3], name="x")
    a = ng.check_numerics(x, "first")
    b = ng.check_numerics(x, "second")
    # both stay in the compiled plan (no CSE into one), each with its own message
    steps = fusion_plan([a, b], {x: np.ones(3, np.float32)})["steps"]
    assert sum(t == "CheckNumerics" for st in steps for t in st["types"]) == 2
    bad = {x: np.array([0, np.inf, 0], np.float32)}
    with ng.Session(backend=backend) as sess:
        for t, msg in ((a, "first"), (b, "second")):
            with pytest.raises(InvalidArgumentError, match=f"^{msg} : Tensor had Inf"):
                sess.run(t, bad)
        with pytest.raises(InvalidArgumentError, match=r"^(first|second) : Tensor had Inf"):
            sess.run(a + b, bad)


def test_check_numerics_rejects_integer_tensors():
    with pytest.raises(TypeError, match="int32"):
        ng.check_numerics(ng.constant([1, 2]), "ints")
    with pytest.raises(TypeError, match="message"):
        ng.check_numerics(ng.constant([1.0]), 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_check_numerics_gradient_passes_through_and_is_checked(backend):
    x = ng.placeholder(ng.float64, [3], name="x")
    y = ng.check_numerics(x, "x")
    loss = ng.reduce_sum(ng.sqrt(y) * (x + 1.0))
    g, = ng.gradients(loss, x)
    v = np.array([0.5, 1.0, 4.0])
    with ng.Session(backend=backend) as sess:
        # d/dx sqrt(x) * (x + 1) = (x + 1) / (2 sqrt(x)) + sqrt(x): NumPy reference
        np.testing.assert_allclose(sess.run(g, {x: v}), (v + 1) / (2 * np.sqrt(v)) + np.sqrt(v),
                                   rtol=1e-12)
        # at 0 the forward value is finite but the gradient of sqrt is 1 * 0.5 / 0 = inf
        # (TF's SqrtGrad gives 0 only where the incoming gradient is 0, which it is not here)
        with pytest.raises(InvalidArgumentError) as info:
            sess.run(g, {x: np.array([0.0, 1.0, 4.0])})
    assert str(info.value).startswith(
        "Not a number (NaN) or infinity (Inf) values detected in gradient. x : Tensor had")


@pytest.mark.parametrize("backend", BACKENDS)
def test_add_check_numerics_ops_names_the_first_bad_tensor(backend):
    x = ng.placeholder(ng.float32, [3], name="x")
    h = ng.log(x - 1.0, name="logx")
    y = ng.reduce_sum(h * h, name="y")
    n = ng.get_default_graph().get_operations()
    n_float = sum(1 for op in n for t in op.outputs if t.dtype.is_floating)
    check = ng.add_check_numerics_ops()
    assert len(check.control_inputs) == n_float
    with ng.Session(backend=backend) as sess:
        vals = sess.run([y, check], {x: np.array([2, 3, 4], np.float32)})
        assert vals[1] is None and np.isfinite(vals[0])
        with pytest.raises(InvalidArgumentError, match=r"^logx:0 : Tensor had Inf values"):
            sess.run([y, check], {x: np.array([2, 1, 4], np.float32)})
        with pytest.raises(InvalidArgumentError, match=r"^x:0 : Tensor had NaN values"):
            sess.run([y, check], {x: np.array([2, np.nan, 4], np.float32)})


# === RunOptions(check_numerics=True) ===========================================================
def _bigger_graph():
    x = ng.placeholder(ng.float32, [4], name="x")
    w = ng.placeholder(ng.float32, [4], name="w")
    a = ng.tanh(x * w, name="a")
    b = ng.log(ng.square(x) - 1.0, name="the_log")          # log(0) at x = +-1
    c = ng.exp(a - b, name="c")                             # inf where b = -inf
    loss = ng.reduce_mean(c * w + ng.sigmoid(a), name="loss")
    g = ng.gradients(loss, [x, w])
    return x, w, loss, g


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_options_name_the_op_that_made_the_first_inf(backend):
    x, w, loss, g = _bigger_graph()
    opts = ng.RunOptions(check_numerics=True, trace_level=ng.RunOptions.FULL_TRACE)
    good = {x: np.array([2, 3, -2, 1.5], np.float32), w: np.ones(4, np.float32)}
    bad = {x: np.array([2, 1, -2, 1.5], np.float32), w: np.ones(4, np.float32)}
    n = _ops()
    with ng.Session(backend=backend) as sess:
        expect = sess.run([loss, g], good)
        got = sess.run([loss, g], good, options=opts)
        np.testing.assert_array_equal(got[0], expect[0])
        assert not np.isfinite(sess.run(loss, bad))          # no options: no check
        with pytest.raises(InvalidArgumentError) as info:
            sess.run([loss, g], bad, options=opts)
    err = info.value
    assert err.op.name == "the_log" and err.op.type == "Log"
    msg = str(err)
    assert "Log op 'the_log'" in msg and "'the_log:0' has Inf values (first at index (1,))" in msg
    assert "'loss:0'" in msg
    assert "fed for" not in msg
    assert _ops() == n


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_options_name_a_non_finite_feed(backend):
    x, w, loss, g = _bigger_graph()
    feed = {x: np.array([2, 3, -2, 1.5], np.float32),
            w: np.array([1, 1, np.nan, 1], np.float32)}
    with ng.Session(backend=backend) as sess:
        with pytest.raises(InvalidArgumentError) as info:
            sess.run(loss, feed, options=ng.RunOptions(check_numerics=True))
    msg = str(info.value)
    assert "the value fed for 'w:0' (Placeholder 'w') has NaN values (first at index (2,))" in msg
    assert info.value.op.name == "w"
    assert "first op to produce" not in msg                  # only the feed is to blame


@pytest.mark.parametrize("backend", BACKENDS)
def test_run_options_ignore_non_finite_values_that_are_not_fetched(backend):
    x = ng.placeholder(ng.float32, [3], name="x")
    safe = ng.where(x > 0, ng.log(ng.abs(x) + 0.0), ng.zeros_like(x))  # log(0) masked out
    with ng.Session(backend=backend) as sess:
        out = sess.run(safe, {x: np.array([0, 1, 2], np.float32)},
                       options=ng.RunOptions(check_numerics=True))
    np.testing.assert_allclose(out, [0, 0, np.log(2)], rtol=1e-6)


def test_find_first_non_finite_reports_creation_order_first():
    x = ng.placeholder(ng.float64, [2], name="x")
    first = ng.sqrt(x - 5.0, name="first")               # nan for x < 5
    second = ng.log(x, name="second")                    # -inf at 0
    y = second + first
    assert ng.find_first_non_finite(y, {x: np.array([6.0, 7.0])}) is None
    r = ng.find_first_non_finite(y, {x: np.array([0.0, 7.0])})
    assert r.op.name == "first" and r.status == "NaN" and r.index == (0,)
    assert r.origins == 2 and r.feeds == []
    assert "1 more op(s)" in str(r)


# === why_none ===============================================================================
def _cases():
    """(label, ys, xs, stop_gradients) built in the current default graph."""
    x = ng.placeholder(ng.float32, [3], name="x")
    u = ng.placeholder(ng.float32, [3], name="u")
    n = ng.placeholder(ng.int32, [3], name="n")
    y_ok = ng.reduce_sum(ng.sin(x) * u, name="y_ok")
    sg = ng.stop_gradient(ng.multiply(x, 2.0, name="twice"), name="sg")
    y_sg = ng.reduce_sum(ng.multiply(sg, u, name="sgu"), name="y_sg")
    to_int = ng.cast(x, ng.int32, name="to_int")
    y_int = ng.reduce_sum(ng.cast(to_int, ng.float32, name="back") * u, name="y_int")
    y_floor = ng.reduce_sum(ng.add(ng.floor(x, name="fl"), u, name="plus"), name="y_floor")
    y_mixed = ng.add(ng.stop_gradient(x, name="sg2"), ng.floor(x, name="fl2"), name="y_mixed")
    mid = ng.exp(x, name="mid")
    y_mid = ng.reduce_sum(mid * u, name="y_mid")
    y_cmp = ng.cast(ng.greater(x, u, name="gt"), ng.float32, name="y_cmp")
    y_nint = ng.cast(n, ng.float32, name="y_nint") * u
    return [
        ("connected", y_ok, [x, u], None),
        ("no path", y_ok, [n], None),
        ("stop_gradient", y_sg, [x, u], None),
        ("int cast", y_int, [x, u], None),
        ("not differentiable", y_floor, [x], None),
        ("two blockers", y_mixed, [x], None),
        ("stop_gradients arg", y_mid, [x, mid, u], [mid]),
        ("comparison", y_cmp, [x], None),
        ("int x", y_nint, [n, u], None),
        ("x is y", y_ok, [y_ok], None),
        ("multiple ys", [y_sg, y_int], [x], None),
    ]


def test_why_none_agrees_with_gradients_and_adds_no_ops():
    cases = _cases()
    n = _ops()
    answers = [ng.why_none(ys, xs, stop_gradients=sg) for _, ys, xs, sg in cases]
    assert _ops() == n
    for (label, ys, xs, sg), why in zip(cases, answers):
        grads = ng.gradients(ys, xs, stop_gradients=sg)
        for x, g, w in zip(xs, grads, why):
            assert (g is None) == (w != "connected"), (label, x.name, w)
            assert w.connected == (g is not None)


def test_why_none_explains_each_kind_of_block():
    cases = {label: (ys, xs, sg) for label, ys, xs, sg in _cases()}
    ys, xs, _ = cases["no path"]
    w = ng.why_none(ys, xs[0])
    assert isinstance(w, str) and w.reason == "no_path"
    assert "no path from 'n:0' to 'y_ok:0'" in w

    ys, (x, u), _ = cases["stop_gradient"]
    w, w_u = ng.why_none(ys, [x, u])
    assert w_u == "connected"
    assert w.reason == "blocked" and [b.name for b, _ in w.blockers] == ["sg"]
    assert "StopGradient op 'sg'" in w and "path: x -> twice -> sg -> sgu -> y_sg" in w
    assert w.path == ["x", "twice", "sg", "sgu", "y_sg"]

    ys, (x, _), _ = cases["int cast"]
    w = ng.why_none(ys, x)
    assert [b.name for b, _ in w.blockers] == ["to_int"]
    assert "Cast op 'to_int' turns float32 into int32" in w
    assert w.path[0] == "x" and w.path[-1] == "y_int" and "to_int" in w.path

    ys, (x,), _ = cases["not differentiable"]
    w = ng.why_none(ys, x)
    assert "Floor op 'fl' is not differentiable" in w and "path: x -> fl -> plus -> y_floor" in w

    ys, (x,), _ = cases["two blockers"]
    w = ng.why_none(ys, x)
    assert sorted(b.name for b, _ in w.blockers) == ["fl2", "sg2"]

    ys, (x, mid, u), sg = cases["stop_gradients arg"]
    w_x, w_mid, w_u = ng.why_none(ys, [x, mid, u], stop_gradients=sg)
    assert (w_mid, w_u) == ("connected", "connected")
    assert "'mid:0' is listed in stop_gradients" in w_x

    ys, (x,), _ = cases["comparison"]
    w = ng.why_none(ys, x)
    assert "Greater op 'gt'" in w or "'gt:0'" in w

    ys, (n, u), _ = cases["int x"]
    w = ng.why_none(ys, n)
    assert "'n:0'" in w and "int32" in w


def test_why_none_reports_a_gradients_error():
    x = ng.placeholder(ng.float32, [2], name="x")
    y = ng.reduce_sum(ng.truncatemod(x, 3.0))           # TruncateMod has no gradient rule
    n = _ops()
    w = ng.why_none(y, x)
    assert w.reason == "error" and "LookupError" in w and "TruncateMod" in w
    assert _ops() == n
    with pytest.raises(LookupError):
        ng.gradients(y, x)


def test_why_none_works_on_a_finalized_graph():
    x = ng.placeholder(ng.float32, [2], name="x")
    y = ng.reduce_sum(ng.stop_gradient(x) * x)
    g = ng.get_default_graph()
    g.finalize()
    n = _ops()
    assert ng.why_none(y, x) == "connected"
    assert ng.why_none(y, [x])[0] == "connected"
    assert g.finalized and _ops() == n
    with pytest.raises(RuntimeError):
        ng.exp(x)


def test_check_numerics_in_eager_mode():
    ng.enable_eager_execution()
    try:
        np.testing.assert_array_equal(ng.check_numerics(ng.constant([1.0, 2.0]), "e").numpy(),
                                      [1.0, 2.0])
        with pytest.raises(InvalidArgumentError, match=r"^eager : Tensor had Inf values"):
            ng.check_numerics(ng.constant([1.0, np.inf]), "eager")
    finally:
        ng.disable_eager_execution()
