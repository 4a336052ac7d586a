"""Bad-input catalogue: every public function called wrongly raises a specific exception whose
message names the culprit, leaves the graph unchanged (no half-built ops), and the graph and
session keep working afterwards.  Huge sizes raise ResourceExhaustedError (a MemoryError)
naming the buffer and its byte size instead of crashing.

Feed/fetch basics (wrong feed shape or dtype, closed session, fetch of another graph) are in
test_session_graph.py; this file covers the rest of the public API, table-driven.
"""
import re

import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import InvalidArgumentError, ResourceExhaustedError


class Env:
    """A small graph every bad call is tried against, with a valid fetch to re-run after."""

    def __init__(self):
        self.graph = ng.get_default_graph()
        self.x = ng.placeholder(ng.float64, [None, 3], name="x")
        self.v = ng.placeholder(ng.float64, [3], name="v")
        self.i = ng.placeholder(ng.int32, [None], name="i")
        self.flag = ng.placeholder(ng.bool, [None], name="flag")
        self.y = ng.reduce_sum(ng.tanh(self.x * self.v), axis=1, name="y")
        self.g, = ng.gradients(ng.reduce_sum(self.y), self.v)
        self.other = ng.Graph()
        with self.other.as_default():
            self.alien = ng.placeholder(ng.float64, [3], name="alien")
        # operands for the bad calls (made here so that the calls themselves add nothing valid)
        self.c2 = ng.constant([1.0, 2.0], ng.float64, name="c2")
        self.m22 = ng.constant(np.ones((2, 2)), name="m22")
        self.v32 = ng.cast(self.v, ng.float32, name="v32")
        self.irow = ng.reshape(self.i, [1, -1], name="irow")
        self.ids4 = ng.constant([0, 1, 2, 3], name="ids4")
        self.fidx = ng.constant([0.5], name="fidx")
        self.v3 = ng.constant([1.0, 2.0, 3.0], ng.float64, name="v3")
        with self.other.as_default():
            self.alien_col = ng.reshape(self.alien, [3, 1], name="alien_col")
        self.feed = {self.x: np.arange(6.0).reshape(2, 3) / 6, self.v: np.array([0.5, -1.0, 2.0])}

    def expected(self):
        xv, vv = self.feed[self.x], self.feed[self.v]
        t = np.tanh(xv * vv)
        return [t.sum(axis=1), ((1 - t * t) * xv).sum(axis=0)]


S = r"'x:0'"        # how messages name the placeholder x


# (id, bad call, exception class, regex the message must match)
GRAPH_CASES = [
    # --- wrong Python types --------------------------------------------------------------
    ("add-str", lambda e: ng.add(e.x, "abc"), TypeError, r"abc"),
    ("add-object", lambda e: ng.add(e.x, object()), TypeError, r"object"),
    ("add-None", lambda e: ng.add(e.x, None), ValueError, r"AddV2.*None"),    # TF: ValueError
    ("exp-dict", lambda e: ng.exp({"a": 1}), TypeError, r"dict"),
    ("constant-tensor", lambda e: ng.constant(e.x), TypeError, r"Tensor"),
    ("constant-str", lambda e: ng.constant("hello"), TypeError, r"hello"),
    ("constant-ragged", lambda e: ng.constant([[1.0], [1.0, 2.0]]), (TypeError, ValueError),
     r"\[\[1\.0\], \[1\.0, 2\.0\]\]|inhomogeneous"),
    ("constant-bad-shape", lambda e: ng.constant([1.0, 2.0, 3.0], shape=[2, 2]), (TypeError, ValueError),
     r"4.*3|\(3,\)"),
    ("constant-unknown-dim", lambda e: ng.constant(1.0, shape=[None, 2]), ValueError, r"fully defined"),
    ("placeholder-bad-dtype", lambda e: ng.placeholder("qint8"), TypeError, r"qint8"),
    ("placeholder-bad-shape", lambda e: ng.placeholder(ng.float64, "abc"), (TypeError, ValueError), r"abc"),
    ("cast-bad-dtype", lambda e: ng.cast(e.x, "str"), TypeError, r"str"),
    ("reduce-axis-str", lambda e: ng.reduce_sum(e.x, axis="a"), (TypeError, ValueError), r"'a'|axis"),
    ("reshape-float-shape", lambda e: ng.reshape(e.x, [1.5, 2.0]), TypeError, r"float|int"),
    ("fill-float-dims", lambda e: ng.fill([2.0, 3.0], 1.0), TypeError, r"fill.*float|int"),
    ("zeros-negative", lambda e: ng.zeros([2, -3]), ValueError, r"-3"),
    ("ones-unknown-dim", lambda e: ng.ones([None, 3]), ValueError, r"fully defined"),
    ("gather-float-indices", lambda e: ng.gather(e.v, e.fidx), TypeError,
     r"indices|float"),
    ("set_num_threads-0", lambda e: ng.set_num_threads(0), ValueError, r"0"),
    ("as_dtype-bad", lambda e: ng.as_dtype("quaternion"), TypeError, r"quaternion"),
    ("control_deps-int", lambda e: ng.control_dependencies([3]).__enter__(), TypeError, r"3"),
    ("group-int", lambda e: ng.group(3), TypeError, r"3|int"),
    ("tuple-int", lambda e: ng.tuple([3]), TypeError, r"3|int"),
    ("tensor-bool", lambda e: bool(e.x), TypeError, r"bool"),
    ("tensor-len", lambda e: len(e.x), TypeError, S),
    ("tensor-iter-unknown", lambda e: list(e.x), TypeError, S),
    ("tensor-array", lambda e: np.asarray(e.x), TypeError, S),
    ("get-op-by-name", lambda e: e.graph.get_operation_by_name("nope"), KeyError, r"nope"),
    ("get-tensor-by-name", lambda e: e.graph.get_tensor_by_name("x:7"), KeyError, r"x:7"),
    ("get-attr", lambda e: e.x.op.get_attr("nope"), ValueError, r"nope.*x|x.*nope"),
    # --- wrong shapes for the op ---------------------------------------------------------
    ("add-shapes", lambda e: ng.add(e.x, e.c2), ValueError,
     r"Add.*\(\?, 3\)|\(None, 3\)|3.*2"),
    ("add-list-shapes", lambda e: ng.add(e.x, [1.0, 2.0]), ValueError, r"Add.*3.*2|Add.*2.*3"),
    ("matmul-inner", lambda e: ng.matmul(e.x, e.m22), ValueError,
     r"MatMul.*3.*2|MatMul.*2.*3"),
    ("matmul-rank1", lambda e: ng.matmul(e.v, e.v), ValueError, r"rank|2"),
    ("reshape-size", lambda e: ng.reshape(e.v, [2, 2]), ValueError, r"3.*\[2, 2\]|4"),
    ("reshape-two-minus1", lambda e: ng.reshape(e.x, [-1, -1]), ValueError, r"one dimension"),
    ("concat-rank", lambda e: ng.concat([e.x, e.v], 0), ValueError, r"rank|shape"),
    ("concat-axis", lambda e: ng.concat([e.x, e.x], 5), ValueError, r"5"),
    ("stack-shapes", lambda e: ng.stack([e.v, e.c2]), ValueError,
     r"\(3,\)|3.*2"),
    ("transpose-perm", lambda e: ng.transpose(e.x, [0, 0]), ValueError, r"\[0, 0\]|perm"),
    ("transpose-perm-len", lambda e: ng.transpose(e.x, [0, 1, 2]), ValueError, r"perm|rank"),
    ("reduce-axis-oob", lambda e: ng.reduce_sum(e.x, axis=4), ValueError, r"4"),
    ("squeeze-not-1", lambda e: ng.squeeze(e.v, axis=0), ValueError, r"3|squeeze"),
    ("expand-dims-oob", lambda e: ng.expand_dims(e.v, 5), ValueError, r"5"),
    ("gather-axis-oob", lambda e: ng.gather(e.v, [0], axis=3), ValueError, r"3"),
    ("tile-multiples-len", lambda e: ng.tile(e.x, [1, 2, 3]), ValueError, r"multiples|rank|3"),
    ("broadcast_to-incompatible", lambda e: ng.broadcast_to(e.v, [2, 4]), ValueError, r"3.*4|\[2, 4\]"),
    ("fill-nonscalar", lambda e: ng.fill([2], e.v), ValueError, r"v.*scalar|scalar"),
    ("slice-oob", lambda e: ng.slice(e.v, [2], [5]), ValueError, r"5|3"),
    ("index-oob", lambda e: e.v[7], (ValueError, IndexError), r"7"),
    ("unstack-unknown", lambda e: ng.unstack(e.x), ValueError, r"num|\?|None"),
    ("cumsum-axis", lambda e: ng.cumsum(e.v, axis=2), ValueError, r"2"),
    ("softmax-axis", lambda e: ng.nn.softmax(e.v, axis=3), ValueError, r"3"),
    ("xent-shapes", lambda e: ng.nn.softmax_cross_entropy_with_logits_v2(
        labels=e.v, logits=e.m22), ValueError, r"3|2"),
    ("sigmoid-xent-shapes", lambda e: ng.nn.sigmoid_cross_entropy_with_logits(
        labels=e.v, logits=e.c2), ValueError, r"3|2"),
    ("sigmoid-xent-positional", lambda e: ng.nn.sigmoid_cross_entropy_with_logits(e.v, e.v),
     ValueError, r"named|labels|logits"),
    ("segment-sum-ids", lambda e: ng.unsorted_segment_sum(e.m22, e.ids4, 2),
     ValueError, r"4|\(4,\)|shape"),
    ("where-shapes", lambda e: ng.where_v2(e.flag, e.v, e.c2),
     ValueError, r"3.*2|2.*3"),
    ("set_shape", lambda e: e.v.set_shape([4]), ValueError, r"v:0.*\(3,\)|4"),
    # --- incompatible dtypes -------------------------------------------------------------
    ("add-int-float", lambda e: ng.add(e.i, e.v), TypeError, r"int32.*float64|float64.*int32"),
    ("matmul-int-float", lambda e: ng.matmul(e.irow, e.x), TypeError,
     r"int32.*float64|float64.*int32"),
    ("add_n-dtypes", lambda e: ng.add_n([e.v, e.v32]), TypeError,
     r"float32.*float64|float64.*float32"),
    ("concat-dtypes", lambda e: ng.concat([e.v, e.v32], 0), TypeError,
     r"float32.*float64|float64.*float32"),
    ("logical_and-float", lambda e: ng.logical_and(e.v, e.v), TypeError, r"bool|float64"),
    ("where-cond-float", lambda e: ng.where_v2(e.v, e.v, e.v), TypeError, r"bool"),
    ("gather-float-params-idx", lambda e: ng.gather(e.v, e.v), TypeError, r"float64|indices"),
    ("floordiv-bool", lambda e: ng.floordiv(e.flag, e.flag), TypeError, r"bool"),
    ("sqrt-int", lambda e: ng.sqrt(e.i), TypeError, r"int32"),
    ("convert-dtype-mismatch", lambda e: ng.convert_to_tensor(e.v, dtype=ng.int32), ValueError,
     r"int32.*v:0|v:0.*int32"),
    ("constant-float-as-int", lambda e: ng.constant(1.5, ng.int32), TypeError, r"1\.5|int32"),
    ("constant-out-of-range", lambda e: ng.constant(2 ** 40, ng.int32), TypeError, r"range|int32"),
    # --- unknown dims where a static size is required -------------------------------------
    ("zeros-unknown", lambda e: ng.zeros(ng.TensorShape([None, 3])), ValueError, r"fully defined"),
    ("unstack-num", lambda e: ng.unstack(e.i), ValueError, r"num|\?|None"),
    # --- empty lists ---------------------------------------------------------------------
    ("add_n-empty", lambda e: ng.add_n([]), ValueError, r"non-empty"),
    ("concat-empty", lambda e: ng.concat([], 0), ValueError, r"non-empty"),
    ("stack-empty", lambda e: ng.stack([]), ValueError, r"non-empty"),
    # --- tensors of another graph ----------------------------------------------------------
    ("add-alien", lambda e: ng.add(e.v, e.alien), ValueError, r"alien"),
    ("add_n-alien", lambda e: ng.add_n([e.v, e.alien]), ValueError, r"alien"),
    ("concat-alien", lambda e: ng.concat([e.v, e.alien], 0), ValueError, r"alien"),
    ("stack-alien", lambda e: ng.stack([e.v, e.alien]), ValueError, r"alien"),
    ("matmul-alien", lambda e: ng.matmul(e.x, e.alien_col), ValueError, r"alien|x"),
    ("where-alien", lambda e: ng.where_v2(e.flag, e.v, e.alien), ValueError, r"alien"),
    ("gradients-alien-x", lambda e: ng.gradients(e.y, e.alien), ValueError, r"alien"),
    ("gradients-alien-grad_ys", lambda e: ng.gradients(e.y, e.v, grad_ys=e.alien), ValueError,
     r"alien"),
    ("control-deps-alien", lambda e: ng.control_dependencies([e.alien]).__enter__(), ValueError,
     r"alien"),
    ("group-alien", lambda e: ng.group(e.v, e.alien), ValueError, r"alien"),
    ("xent-alien", lambda e: ng.nn.softmax_cross_entropy_with_logits_v2(labels=e.alien, logits=e.v),
     ValueError, r"alien"),
    ("clip-alien", lambda e: ng.clip_by_value(e.v, e.alien, 1.0), ValueError, r"alien"),
    # --- gradients-specific --------------------------------------------------------------
    ("gradients-not-tensor", lambda e: ng.gradients(e.y, ["v"]), (TypeError, ValueError), r"v"),
    ("gradients-grad_ys-shape", lambda e: ng.gradients(e.y, e.v, grad_ys=e.m22),
     ValueError, r"grad|shape|\(3,\)"),
    ("gradients-grad_ys-len", lambda e: ng.gradients([e.y, e.y], e.v, grad_ys=[None]), ValueError,
     r"grad_ys|2.*1|1.*2"),
    ("compute_gradient-bad", lambda e: ng.test.compute_gradient(e.v, [3], e.y, [7]), ValueError,
     r"\[7\]|7|shape"),
]


def test_empty_lists_to_gradients_follow_tf(env):
    """tf.gradients accepts empty ys/xs: [] or [None] come back and nothing is added."""
    ops = env.graph.get_operations()
    assert ng.gradients([], []) == []
    assert ng.gradients([], [env.v]) == [None]
    assert env.graph.get_operations() == ops
    assert ng.gradients(env.y, []) == []      # like TF, this builds (unused) grad_ys ops
    assert ng.hessians(env.y, []) == []


# Several calls first convert a Python argument to a Const (or open a name scope) and only then
# have their op rejected: graph.atomic (applied to every public op builder) undoes those.
GRAPH_CASES = [pytest.param(*c, id=c[0]) for c in GRAPH_CASES]


@pytest.fixture
def env():
    return Env()


def _check_still_works(e, sess):
    ops_before = e.graph.get_operations()
    out = sess.run([e.y, e.g], e.feed)
    for o, r in zip(out, e.expected()):
        np.testing.assert_allclose(o, r, rtol=1e-12)
    z = ng.exp(e.v, name="after")              # the graph still accepts new ops ...
    np.testing.assert_allclose(sess.run(z, e.feed), np.exp(e.feed[e.v]), rtol=1e-12)
    assert e.graph.get_operations() == ops_before + [z.op]
    assert z.op.name == "after"                # ... and its names were not left taken


@pytest.mark.parametrize("case_id,call,exc,pattern", GRAPH_CASES)
def test_bad_graph_call(case_id, call, exc, pattern, env, sess):
    sess.run(env.y, env.feed)                  # the session has a plan before the failure
    ops = env.graph.get_operations()
    names = dict(env.graph._names_in_use)
    other_ops = env.other.get_operations()
    with pytest.raises(exc, match=pattern):
        call(env)
    assert env.graph.get_operations() == ops, "a failed call left ops in the graph"
    assert env.graph._names_in_use == names, "a failed call left names taken"
    assert env.other.get_operations() == other_ops
    _check_still_works(env, sess)


# --- Session.run / make_callable / feeds ----------------------------------------------------
RUN_CASES = [
    ("fetch-int", lambda e, s: s.run(3), TypeError, r"3.*int"),
    ("fetch-object-in-list", lambda e, s: s.run([e.y, object()]), TypeError, r"object"),
    ("fetch-unknown-name", lambda e, s: s.run("nope:0"), ValueError, r"nope"),
    ("fetch-alien", lambda e, s: s.run(e.alien), ValueError, r"alien"),
    ("fetch-alien-op", lambda e, s: s.run(e.alien.op), ValueError, r"alien"),
    ("feed-key-alien", lambda e, s: s.run(e.y, {**e.feed, e.alien: np.ones(3)}), ValueError, r"alien"),
    ("feed-key-int", lambda e, s: s.run(e.y, {**e.feed, 3: 1.0}), TypeError, r"3"),
    ("feed-key-op", lambda e, s: s.run(e.y, {**e.feed, e.v.op: 1.0}), TypeError, r"v"),
    ("feed-key-bad-name", lambda e, s: s.run(e.y, {**e.feed, "nope:0": 1.0}), ValueError, r"nope"),
    ("feed-shape", lambda e, s: s.run(e.y, {e.x: np.ones((2, 4)), e.v: np.ones(3)}), ValueError,
     r"\(2, 4\).*'x:0'|'x:0'.*\(2, 4\)"),
    ("feed-rank", lambda e, s: s.run(e.y, {e.x: np.ones(3), e.v: np.ones(3)}), ValueError, r"x:0"),
    ("feed-dtype-str", lambda e, s: s.run(e.y, {e.x: np.full((2, 3), "a"), e.v: np.ones(3)}),
     TypeError, r"x:0"),
    ("feed-dtype-complex", lambda e, s: s.run(e.y, {e.x: np.ones((2, 3), complex), e.v: np.ones(3)}),
     TypeError, r"x:0.*complex|complex.*x:0"),
    ("feed-float-for-int", lambda e, s: s.run(e.i, {e.i: [1.5]}), TypeError, r"i:0"),
    ("feed-int-for-bool", lambda e, s: s.run(e.flag, {e.flag: [1]}), TypeError, r"flag:0"),
    ("feed-ragged", lambda e, s: s.run(e.i, {e.i: [[1], [1, 2]]}), TypeError, r"i:0"),
    ("feed-object", lambda e, s: s.run(e.i, {e.i: object()}), TypeError, r"i:0"),
    ("feed-tensor", lambda e, s: s.run(e.y, {e.x: e.x, e.v: np.ones(3)}), TypeError, r"x:0"),
    ("feed-missing", lambda e, s: s.run(e.y, {e.v: np.ones(3)}), InvalidArgumentError,
     r"placeholder tensor 'x'.*float64.*\(\?, 3\)|placeholder tensor 'x'"),
    ("feed-indexed-slices", lambda e, s: s.run(e.y, {ng.IndexedSlices(e.v, e.i): 1.0}), TypeError,
     r"IndexedSlices"),
    ("run-bad-gather-index", lambda e, s: s.run(ng.gather(e.v, e.i), {**e.feed, e.i: [0, 9]}),
     InvalidArgumentError, r"Gather.*9|9.*Gather|GatherV2"),
    ("run-bad-reshape-feed", lambda e, s: s.run(ng.reshape(e.x, [4, -1]), {**e.feed}),
     InvalidArgumentError, r"Reshape.*\(2, 3\)|Reshape"),
    ("callable-argcount", lambda e, s: s.make_callable(e.y, [e.x, e.v])(np.ones((2, 3))), TypeError,
     r"2 feed values.*got 1"),
    ("callable-bad-feed", lambda e, s: s.make_callable(e.y, [e.x, e.v])(np.ones((2, 4)), np.ones(3)),
     ValueError, r"x:0"),
    ("callable-feed-alien", lambda e, s: s.make_callable(e.y, [e.alien]), ValueError, r"alien"),
    ("explain-alien", lambda e, s: ng.explain(e.alien, session=s), ValueError, r"alien"),
]


@pytest.mark.parametrize("case", RUN_CASES, ids=[c[0] for c in RUN_CASES])
def test_bad_run_call(case, env, sess):
    _, call, exc, pattern = case
    sess.run(env.y, env.feed)
    with pytest.raises(exc, match=pattern):
        call(env, sess)
    _check_still_works(env, sess)


def test_closed_session_raises_for_run_and_callable(env):
    s = ng.Session()
    f = s.make_callable(env.y, [env.x, env.v])
    s.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        s.run(env.y, env.feed)
    with pytest.raises(RuntimeError, match="closed Session"):
        f(env.feed[env.x], env.feed[env.v])
    with ng.Session() as s2:                   # a new session on the same graph is fine
        _check_still_works(env, s2)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_feeds_propagate_like_numpy(bad, env, sess):
    """Non-finite values are data, not errors: results match NumPy's, NaN for NaN."""
    xv = env.feed[env.x].copy()
    xv[0, 1] = bad
    vv = np.array([bad, 1.0, -2.0])
    out = sess.run([env.y, env.g, ng.reduce_max(env.x), ng.sqrt(env.v) * 0.0,
                    ng.reduce_mean(ng.exp(env.x), axis=0)], {env.x: xv, env.v: vv})
    with np.errstate(all="ignore"):
        t = np.tanh(xv * vv)
        ref = [t.sum(axis=1), ((1 - t * t) * xv).sum(axis=0), xv.max(), np.sqrt(vv) * 0.0,
               np.exp(xv).mean(axis=0)]
    for o, r in zip(out, ref):
        np.testing.assert_array_equal(np.isnan(o), np.isnan(r))
        np.testing.assert_allclose(np.where(np.isnan(r), 0, o), np.where(np.isnan(r), 0, r),
                                   rtol=1e-12)
    _check_still_works(env, sess)


# --- huge sizes ---------------------------------------------------------------------------------
# Sizes far beyond any RAM (hundreds of TiB): the allocation fails at once, nothing is touched.
def _feeds(*specs):
    """Placeholders named a, b, ... with the given (static shape, fed value) pairs."""
    ps = [ng.placeholder(np.asarray(v).dtype, s, name=n) for n, (s, v) in zip("abc", specs)]
    return ps, {p: v for p, (_, v) in zip(ps, specs)}


def _huge_broadcast():
    (a, b), feed = _feeds(([None, 1], np.ones((10 ** 7, 1))), ([1, None], np.ones((1, 10 ** 7))))
    return ng.add(ng.exp(a), b, name="big"), feed


def _huge_fill_fed_dims():
    (d,), feed = _feeds(([3], np.array([10 ** 5] * 3, np.int64)))
    return ng.fill(d, ng.constant(1.0, ng.float64), name="big"), feed


def _huge_broadcast_to():
    (a,), feed = _feeds(([None, 3], np.ones((1, 3))))
    return ng.broadcast_to(a, [10 ** 7, 10 ** 6, 3], name="big"), feed


def _huge_tile():
    (a,), feed = _feeds(([None, 3], np.ones((1, 3))))
    return ng.tile(a, [10 ** 12, 1], name="big"), feed


def _huge_matmul():
    (a,), feed = _feeds(([None, 3], np.ones((10 ** 7, 3))))
    return ng.matmul(a, a, transpose_b=True, name="big"), feed


# (id, builder -> (fetch, feed), regex naming the tensor and the byte size)
HUGE_CASES = [
    ("zeros", lambda: (ng.zeros([10 ** 7, 10 ** 7], ng.float64, name="big"), {}),
     r"'big.*800000000000000 bytes"),
    ("ones-overflow", lambda: (ng.ones([2 ** 62], ng.float64, name="big"), {}),
     r"'big.*36893488147419103232 bytes"),
    ("fill-const-dims", lambda: (ng.fill([10 ** 6] * 3, 1.0, name="big"), {}),
     r"'big.*4000000000000000000 bytes"),
    ("fill-fed-dims", _huge_fill_fed_dims, r"'big.*8000000000000000 bytes"),
    ("broadcast-feeds", _huge_broadcast, r"'big.*800000000000000 bytes"),
    ("broadcast_to", _huge_broadcast_to, r"'big.*240000000000000 bytes"),
    ("tile", _huge_tile, r"'big.*24000000000000 bytes"),
    ("matmul-outer", _huge_matmul, r"'big.*800000000000000 bytes"),
]


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
@pytest.mark.parametrize("case", HUGE_CASES, ids=[c[0] for c in HUGE_CASES])
def test_huge_allocation_raises_resource_exhausted(case, backend, env):
    _, build, pattern = case
    assert issubclass(ResourceExhaustedError, MemoryError)
    sess = ng.Session(backend=backend)
    sess.run(env.y, env.feed)
    ops = env.graph.get_operations()
    try:
        fetch, feed = build()
    except ResourceExhaustedError as e:       # refused while building: nothing was added
        assert env.graph.get_operations() == ops
        assert re.search(pattern, str(e)), str(e)
    else:
        with pytest.raises(ResourceExhaustedError, match=pattern):
            sess.run(fetch, feed)
        with pytest.raises(ResourceExhaustedError, match=pattern):   # and again: no bad state
            sess.run(fetch, feed)
    _check_still_works(env, sess)
