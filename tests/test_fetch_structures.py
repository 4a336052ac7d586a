"""Fetch structures (Session.run and make_callable): any structure TF accepts -- nested lists,
tuples, dicts, namedtuples, IndexedSlices, Operations and names mixed in -- is flattened once
per call signature and rebuilt by a precompiled function (fetch_mapper.py FetchMapper,
run_keys.py).

Checked on both backends: the structure and types that come back, the values against NumPy
and against the flat run of the same tensors, that repeated calls do not map the structure
again (and that run() recognises its last call without building its key), that a structure
the caller mutates in place is another call, and that bad fetches raise TF's errors.
"""
import collections

import numpy as np
import pytest

import numgrad as ng
from numgrad import session as session_module

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py

BACKENDS = ["cpu", "numpy"]
Pair = collections.namedtuple("Pair", ["loss", "grads"])
LR = float(np.float32(0.1))     # an optimizer's learning rate is a float32 constant


class MyList(list):
    pass


class MyTuple(tuple):
    pass


class MyDict(dict):
    pass


def _graph():
    a = ng.placeholder(ng.float64, [5], name="a")
    b = ng.placeholder(ng.float64, [5], name="b")
    loss = ng.reduce_sum(ng.tanh(a * b) + ng.exp(-a * a))
    ga, gb = ng.gradients(loss, [a, b])
    return a, b, loss, [ga, gb]


def _reference(av, bv):
    t = np.tanh(av * bv)
    loss = np.sum(t + np.exp(-av * av))
    return loss, (1 - t * t) * bv - 2 * av * np.exp(-av * av), (1 - t * t) * av


@pytest.fixture
def counted(monkeypatch):
    """How many times the fetch structure is flattened (a FetchMapper made)."""
    made = []
    real = session_module.FetchMapper

    class Counting(real):
        def __init__(self, *args, **kwargs):
            made.append(1)
            super().__init__(*args, **kwargs)
    monkeypatch.setattr(session_module, "FetchMapper", Counting)
    return made


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_every_structure_round_trips(backend, rng):
    a, b, loss, (ga, gb) = _graph()
    av, bv = rng.standard_normal(5), rng.standard_normal(5)
    e_loss, e_ga, e_gb = _reference(av, bv)
    feed = {a: av, b: bv}
    sess = ng.Session(backend=backend)
    noop = ng.no_op()

    r = sess.run([loss, [ga, gb]], feed)
    assert type(r) is list and type(r[1]) is list and len(r[1]) == 2
    assert np.ndim(r[0]) == 0 and isinstance(r[0], np.floating)
    _close(r[0], e_loss), _close(r[1][0], e_ga), _close(r[1][1], e_gb)

    r = sess.run((loss, (ga, [gb])), feed)
    assert type(r) is tuple and type(r[1]) is tuple and type(r[1][1]) is list
    _close(r[1][1][0], e_gb)

    r = sess.run({"z": loss, "a": {"ga": ga, "gb": (gb,)}}, feed)
    assert type(r) is dict and list(r) == ["z", "a"] and list(r["a"]) == ["ga", "gb"]
    _close(r["z"], e_loss), _close(r["a"]["gb"][0], e_gb)

    od = collections.OrderedDict([("gb", gb), ("loss", loss)])
    r = sess.run(od, feed)
    assert type(r) is collections.OrderedDict and list(r) == ["gb", "loss"]
    _close(r["gb"], e_gb)

    r = sess.run(Pair(loss, [ga, gb]), feed)
    assert type(r) is Pair and type(r.grads) is list
    _close(r.loss, e_loss), _close(r.grads[0], e_ga)

    r = sess.run([Pair(loss=loss, grads=Pair(ga, gb))], feed)
    assert type(r[0]) is Pair and type(r[0].grads) is Pair
    _close(r[0].grads.grads, e_gb)

    r = sess.run(MyList([loss, MyTuple([ga]), MyDict(g=gb)]), feed)
    assert type(r) is MyList and type(r[1]) is MyTuple and type(r[2]) is MyDict
    _close(r[1][0], e_ga), _close(r[2]["g"], e_gb)

    dd = collections.defaultdict(list, {"loss": loss})
    r = sess.run(dd, feed)
    assert type(r) is collections.defaultdict and r.default_factory is list
    _close(r["loss"], e_loss)
    assert r["missing"] == []

    # Operations and names (str, bytes, an op's name) mixed in; the same tensor twice
    r = sess.run([noop, loss, b"a:0", [ga, "b:0", noop], loss.name, ga, loss.op.name], feed)
    assert r[0] is None and r[3][2] is None and r[6] is None
    _close(r[1], e_loss), _close(r[2], av), _close(r[3][0], e_ga), _close(r[3][1], bv)
    _close(r[4], e_loss), _close(r[5], e_ga)
    assert sess.run(noop, feed) is None
    assert sess.run([], feed) == [] and sess.run((), feed) == () and sess.run({}, feed) == {}
    assert sess.run([[], {}], feed) == [[], {}]

    # dict keys of other types: 1 and True are equal keys but different fetches
    r = sess.run({1: loss, 2: [ga]}, feed)
    assert list(r) == [1, 2] and type(next(iter(r))) is int
    r = sess.run({True: loss}, feed)
    assert type(next(iter(r))) is bool
    r = sess.run({(1, "x"): loss, 2.5: ga}, feed)      # keys the fast path does not key
    _close(r[(1, "x")], e_loss), _close(r[2.5], e_ga)


@pytest.mark.parametrize("backend", BACKENDS)
def test_make_callable_structures(backend, rng):
    a, b, loss, grads = _graph()
    av, bv = rng.standard_normal(5), rng.standard_normal(5)
    e_loss, e_ga, e_gb = _reference(av, bv)
    sess = ng.Session(backend=backend)
    nested = sess.make_callable([loss, grads], [a, b])
    as_dict = sess.make_callable({"loss": loss, "grads": Pair(*grads)}, [a, b])
    flat = sess.make_callable([loss] + grads, [a, b])
    for _ in range(4):                          # the compiled backend's later, faster calls
        r = nested(av, bv)
        assert type(r) is list and type(r[1]) is list
        _close(r[0], e_loss), _close(r[1][0], e_ga), _close(r[1][1], e_gb)
        d = as_dict(av, bv)
        assert list(d) == ["loss", "grads"] and type(d["grads"]) is Pair
        _close(d["grads"].grads, e_gb)
        f = flat(av, bv)
        for x, y in zip(f, [r[0]] + r[1]):
            np.testing.assert_array_equal(x, y)
        r[1][0][:] = 0.0                        # the caller owns the arrays
    _close(nested(av, bv)[1][0], e_ga)


@pytest.mark.parametrize("backend", BACKENDS)
def test_indexed_slices(backend):
    p = ng.placeholder(ng.float64, [4, 3])
    i = ng.placeholder(ng.int32, [2])
    y = ng.reduce_sum(ng.gather(p, i) * 2.0)
    g, = ng.gradients(y, [p])
    assert isinstance(g, ng.IndexedSlices)
    sess = ng.Session(backend=backend)
    feed = {p: np.ones((4, 3)), i: np.array([3, 1], np.int32)}
    for _ in range(3):
        r = sess.run({"y": y, "g": [g]}, feed)
        v = r["g"][0]
        assert type(v).__name__ == "IndexedSlicesValue"
        np.testing.assert_array_equal(v.indices, [3, 1])
        np.testing.assert_array_equal(v.values, np.full((2, 3), 2.0))
        if g.dense_shape is not None:
            np.testing.assert_array_equal(v.dense_shape, [4, 3])
        assert r["y"] == 12.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_repeated_calls_flatten_once(backend, counted, rng):
    a, b, loss, grads = _graph()
    av, bv = rng.standard_normal(5), rng.standard_normal(5)
    e_loss = _reference(av, bv)[0]
    sess = ng.Session(backend=backend)
    structures = [
        lambda: [loss, list(grads)],                       # a new list each call, same contents
        lambda: {"loss": loss, "grads": (grads[0], [grads[1]])},
        lambda: Pair(loss, grads),
        lambda: [ng.get_default_graph().get_operation_by_name(loss.op.name), loss],
        lambda: (loss.name, [grads[0]]),
    ]
    for make in structures:
        before = len(counted)
        for _ in range(6):
            r = sess.run(make(), {a: av, b: bv})
        assert len(counted) == before + 1, make()
        leaf = r[1] if isinstance(r, list) and r[0] is None else r
        assert leaf is not None
    _close(sess.run([loss, grads], {a: av, b: bv})[0], e_loss)
    # feeds in the other order: another signature, flattened once more, same answers
    before = len(counted)
    for _ in range(3):
        _close(sess.run([loss, grads], {b: bv, a: av})[0], e_loss)
    assert len(counted) == before + 1
    # make_callable flattens when it is made, never per call
    f = sess.make_callable([loss, [grads, {"g": grads[0]}]], [a, b])
    before = len(counted)
    for _ in range(5):
        _close(f(av, bv)[0], e_loss)
    assert len(counted) == before


def test_a_mutated_structure_is_not_stale(rng):
    a, b, loss, grads = _graph()
    av, bv = rng.standard_normal(5), rng.standard_normal(5)
    e_loss, e_ga, e_gb = _reference(av, bv)
    sess = ng.Session(backend="cpu")
    feed = {a: av, b: bv}
    fetches = [loss, grads]
    _close(sess.run(fetches, feed)[1][1], e_gb)
    grads = list(grads)
    fetches[1].append(loss)                 # the caller's list, mutated in place
    r = sess.run(fetches, feed)
    assert len(r[1]) == 3
    _close(r[1][2], e_loss)
    fetches[1][0] = fetches[1][1]           # same length, another tensor
    r = sess.run(fetches, feed)
    _close(r[1][0], e_gb), _close(r[1][1], e_gb)
    d = {"x": loss}
    sess.run(d, feed)
    d["y"] = grads[0]
    r = sess.run(d, feed)
    assert list(r) == ["x", "y"]
    _close(r["y"], e_ga)
    del d["x"]
    assert list(sess.run(d, feed)) == ["y"]


# TF 2.21's messages (tf.compat.v1.Session.run), word for word up to the object's repr
_NONE = 'Argument `fetch` = None has invalid type "NoneType". Cannot be None'


def _bad_type(value, kind):
    return (f'Argument `fetch` = {value} has invalid type "{kind}" must be a string or Tensor. '
            f"(Can not convert a {kind} into a Tensor or Operation.)")


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_fetches_raise_tfs_errors(backend):
    a, b, loss, grads = _graph()
    sess = ng.Session(backend=backend)
    feed = {a: np.ones(5), b: np.ones(5)}
    other = ng.Graph()
    with other.as_default():
        stranger = ng.constant(1.0, name="s")
        stranger_op = ng.no_op(name="nop")
    n_ops = len(ng.get_default_graph().get_operations())
    cases = [
        (None, TypeError, _NONE),
        ([loss, None], TypeError, _NONE),
        ({"k": {"j": None}}, TypeError, _NONE),
        (3, TypeError, _bad_type(3, "int")),
        ([loss, [grads[0], 3.0]], TypeError, _bad_type(3.0, "float")),
        ((loss, 2 ** 70), TypeError, _bad_type(2 ** 70, "int")),
        ([stranger], ValueError,
         f"Argument `fetch` = {stranger} cannot be interpreted as a Tensor. "
         f"(Tensor {stranger} is not an element of this graph.)"),
        ({"x": [loss, stranger_op]}, ValueError,
         f"Argument `fetch` = {stranger_op} cannot be interpreted as a Tensor. "
         f"(Operation {stranger_op} is not an element of this graph.)"),
        ([loss, ["nope:0"]], ValueError,
         "Argument `fetch` = nope:0 cannot be interpreted as a Tensor. ("),
        ("nope", ValueError, "Argument `fetch` = nope cannot be interpreted as a Tensor. ("),
    ]
    for _ in range(2):                      # a failed call caches nothing: same error again
        for fetches, error, message in cases:
            with pytest.raises(error) as info:
                sess.run(fetches, feed)
            assert str(info.value).startswith(message), (fetches, str(info.value))
            with pytest.raises(error) as info:      # (TF raises on the first call)
                sess.make_callable(fetches, [a, b])
            assert str(info.value).startswith(message)
        with pytest.raises(TypeError, match="has invalid type"):
            sess.run({"a": [object()]}, feed)
        with pytest.raises(ValueError, match="'a:0'"):
            sess.run([loss, grads], {a: np.ones(4), b: np.ones(5)})
    assert len(ng.get_default_graph().get_operations()) == n_ops
    assert not any(isinstance(k[0], tuple) and 3.0 in k[0] for k in sess._run_callables)
    r = sess.run([loss, grads], feed)       # the session still runs
    assert type(r[1]) is list
    f = sess.make_callable([loss, grads], [a, b])
    with pytest.raises(TypeError, match="takes 2 feed values"):
        f(np.ones(5))
    sess.close()
    with pytest.raises(RuntimeError, match="closed Session"):
        sess.run([loss, grads], feed)
    with pytest.raises(RuntimeError, match="closed Session"):
        f(np.ones(5), np.ones(5))


@pytest.mark.parametrize("backend", BACKENDS)
def test_stateful_nested_fetches(backend, counted):
    x = ng.placeholder(ng.float64, [3])
    w = ng.Variable(np.array([1.0, 2.0, 3.0]), name="w")
    loss = ng.reduce_sum((x * w - 1.0) ** 2)
    opt = ng.train.GradientDescentOptimizer(0.1)
    gv = opt.compute_gradients(loss, [w])
    train = opt.apply_gradients(gv)
    sess = ng.Session(backend=backend)
    sess.run(ng.global_variables_initializer())
    xv = np.array([0.5, -1.0, 2.0])
    wv = np.array([1.0, 2.0, 3.0])
    before = len(counted)
    for _ in range(4):
        r = sess.run({"train": train, "state": [loss, (w, gv[0][0])]}, {x: xv})
        assert r["train"] is None and type(r["state"][1]) is tuple
        e_loss = np.sum((xv * wv - 1.0) ** 2)
        grad = 2 * (xv * wv - 1.0) * xv
        _close(r["state"][0], e_loss)
        _close(r["state"][1][0], wv)            # read before this run's assignment
        _close(r["state"][1][1], grad)
        wv = wv - LR * grad
    assert len(counted) == before + 1
    _close(sess.run(w), wv)
    f = sess.make_callable([train, [loss, w]], [x])
    for _ in range(2):
        r = f(xv)
        _close(r[1][1], wv)
        wv = wv - LR * 2 * (xv * wv - 1.0) * xv
    _close(sess.run([[w]])[0][0], wv)
    r = sess.run([w, [w]])                      # a Variable fetched twice
    _close(r[0], wv), _close(r[1][0], wv)


def test_check_numerics_with_a_nested_fetch():
    a, b, loss, grads = _graph()
    sess = ng.Session(backend="cpu")
    opts = ng.RunOptions(check_numerics=True)
    r = sess.run([loss, grads], {a: np.ones(5), b: np.ones(5)}, options=opts)
    assert type(r[1]) is list and len(r[1]) == 2


def test_deep_structures_rebuild(rng):
    a, b, loss, grads = _graph()
    deep = loss
    for _ in range(120):                    # deeper than one generated expression takes
        deep = [deep, grads[0]]
    sess = ng.Session(backend="numpy")
    r = sess.run(deep, {a: np.ones(5), b: np.ones(5)})
    depth = 0
    while isinstance(r, list):
        r, depth = r[0], depth + 1
    assert depth == 120
    _close(r, _reference(np.ones(5), np.ones(5))[0])


def test_feeds_by_name_with_a_nested_fetch(rng):
    a, b, loss, grads = _graph()
    av, bv = rng.standard_normal(5), rng.standard_normal(5)
    e_loss, e_ga, _ = _reference(av, bv)
    sess = ng.Session(backend="cpu")
    r = sess.run({"l": [loss], "g": grads[0]}, {"a:0": av, "b:0": bv})
    _close(r["l"][0], e_loss), _close(r["g"], e_ga)


class Name(str):
    pass


def _structures(a, b, loss, grads):
    """Fetch structures that run_key keys, several pairs of them differing in one detail
    only (a type, an order, a key's type, one leaf)."""
    ga, gb = grads
    s = ng.IndexedSlices(ga, b, None)
    return [
        loss, ga, [loss], (loss,), [loss, ga], [ga, loss], [loss, [ga, gb]], [loss, (ga, gb)],
        [loss, [ga, gb], []], [loss, [gb, ga]], [[loss, ga], gb], [], (), {}, [[]],
        MyList([loss, ga]), Pair(loss, [ga, gb]), (loss, [ga, gb]), MyTuple([loss, [ga, gb]]),
        {"l": loss, "g": [ga, gb]}, {"g": [ga, gb], "l": loss}, {"l": loss, "g": [gb, ga]},
        collections.OrderedDict(l=loss, g=[ga, gb]), MyDict(l=loss, g=[ga, gb]),
        {1: loss}, {True: loss}, {b"l": loss}, {"1": loss},
        ["a:0", loss], [b"a:0", loss], ["b:0", loss], [loss.op, ga], [loss.op.name, ga],
        [s, loss], [ng.IndexedSlices(ga, b, a), loss], [None, loss], [loss, loss],
    ]


def test_guarded_call_recognises_exactly_its_own_key():
    """guarded_call(S, feeds)(T, feeds2) runs the call exactly when run_key(T, feeds2) ==
    run_key(S, feeds), for every pair of a set of structures and feed dicts that differ from
    one another in one detail, so the check never answers for another call."""
    from numgrad.run_keys import guarded_call, run_key
    a, b, loss, grads = _graph()
    structures = _structures(a, b, loss, grads)
    feeds = [None, {}, {a: 1}, {b: 1}, {a: 1, b: 2}, {b: 2, a: 1}]
    calls = [(f, d, run_key(f, d)) for f in structures for d in feeds]
    assert all(key is not None for _, _, key in calls)
    miss = object()
    hits = 0
    for f, d, key in calls:
        got = []
        guarded = guarded_call(f, d, lambda *args: got.append(args) or "ran", miss)
        for f2, d2, key2 in calls:
            same = key2 == key
            answer = guarded(f2, d2)
            assert (answer == "ran") == same and (answer is miss) != same, (f, d, f2, d2)
            if same:
                hits += 1
                assert got.pop() == tuple((d2 or {}).values())   # feed values in order
    assert hits >= len(calls)
    # str subclass names and dict keys, a list mutated in place: misses
    guarded = guarded_call({"l": [loss, "a:0"]}, None, lambda: "ran", miss)
    assert guarded({"l": [loss, "a:0"]}, None) == "ran"
    assert guarded({Name("l"): [loss, "a:0"]}, None) is miss
    assert guarded({"l": [loss, Name("a:0")]}, None) is miss
    fetches = [loss, [grads[0]]]
    guarded = guarded_call(fetches, {a: 1}, lambda x: "ran", miss)
    assert guarded(fetches, {a: 1}) == "ran"
    fetches[1][0] = grads[1]
    assert guarded(fetches, {a: 1}) is miss
    fetches[1][0] = grads[0]
    fetches[1].append(loss)
    assert guarded(fetches, {a: 1}) is miss
    assert guarded(fetches[:1] + [fetches[1][:1]], {a: 1}) == "ran"


def test_guarded_call_skips_huge_structures():
    from numgrad.run_keys import guarded_call
    a, b, loss, grads = _graph()
    assert guarded_call([loss] * 600, None, lambda: 0, object()) is None
    assert guarded_call([[loss] * 100] * 4, None, lambda: 0, object()) is not None


def _leaves(r):
    """The arrays of a run's result structure, in order."""
    if isinstance(r, dict):
        return [x for v in r.values() for x in _leaves(v)]
    if isinstance(r, (list, tuple)):
        return [x for v in r for x in _leaves(v)]
    return [r]


@pytest.mark.parametrize("backend", BACKENDS)
def test_hot_run_is_the_flat_run(backend, rng, monkeypatch):
    """A repeated run() is recognised without building its key (run_keys.run_key is not
    called) and gives what the flat run of its leaves gives, also when the structures it
    alternates with, or the caller's list mutated in place, are another call."""
    a, b, loss, grads = _graph()
    ga, gb = grads
    sess = ng.Session(backend=backend)
    av, bv = rng.standard_normal(5), rng.standard_normal(5)
    flat = sess.run([loss, ga, gb, loss, gb, ga], {a: av, b: bv})
    keyed = []
    real = session_module.run_key
    monkeypatch.setattr(session_module, "run_key", lambda *x: keyed.append(1) or real(*x))
    mutable = [loss, [ga, gb]]
    cases = [
        (lambda: [loss, [ga, gb]], [0, 1, 2]),
        (lambda: {"l": loss, "g": (gb, ga)}, [0, 2, 1]),
        (lambda: Pair(loss, [gb]), [0, 2]),
        (lambda: mutable, [0, 1, 2]),
    ]
    for make, where in cases:
        for i in range(4):
            before = len(keyed)
            r = sess.run(make(), {a: av, b: bv})
            assert len(keyed) == before + (i == 0), make()
            assert len(_leaves(r)) == len(where)
            for got, j in zip(_leaves(r), where):
                np.testing.assert_array_equal(got, flat[j])
    mutable[1][0] = loss                    # in place: another call
    r = sess.run(mutable, {a: av, b: bv})
    np.testing.assert_array_equal(r[1][0], flat[0])
    del mutable[1][1]
    r = sess.run(mutable, {a: av, b: bv})
    assert len(r[1]) == 1
    # feeds in the other order, and other values: the values go to their own tensors
    r = sess.run(mutable, {b: av, a: bv})
    r2 = sess.run([loss], {a: bv, b: av})
    np.testing.assert_array_equal(r[0], r2[0])
    # alternating calls: each one right
    for _ in range(3):
        r = sess.run([loss, [ga]], {a: av, b: bv})
        np.testing.assert_array_equal(r[1][0], flat[1])
        r = sess.run({"g": [gb]}, {a: av, b: bv})
        np.testing.assert_array_equal(r["g"][0], flat[2])
    r = sess.run([loss, ga], {a: av, b: bv}, options=ng.RunOptions(check_numerics=True))
    np.testing.assert_array_equal(r[1], flat[1])


def _fetch_leaves(f):
    """The leaves of fetch structure `f` in order (an IndexedSlices: its parts)."""
    if isinstance(f, ng.IndexedSlices):
        return [f.values, f.indices] + ([f.dense_shape] if f.dense_shape is not None else [])
    if isinstance(f, dict):
        return [x for v in f.values() for x in _fetch_leaves(v)]
    if isinstance(f, (list, tuple)):
        return [x for v in f for x in _fetch_leaves(v)]
    return [f]


def _result_leaves(r):
    if type(r).__name__ == "IndexedSlicesValue":
        return [r.values, r.indices] + ([r.dense_shape] if r.dense_shape is not None else [])
    if isinstance(r, dict):
        return [x for v in r.values() for x in _result_leaves(v)]
    if isinstance(r, (list, tuple)):
        return [x for v in r for x in _result_leaves(v)]
    return [r]


def _assert_same_structure(r, s):
    assert type(r) is type(s)
    if isinstance(r, dict):
        assert list(r) == list(s) and [type(k) for k in r] == [type(k) for k in s]
        for k in r:
            _assert_same_structure(r[k], s[k])
    elif isinstance(r, (list, tuple)):
        assert len(r) == len(s)
        for x, y in zip(r, s):
            _assert_same_structure(x, y)


@pytest.mark.parametrize("backend", ["numpy", "cpu"])
def test_every_structure_is_the_flat_run(backend, rng):
    """Each structure of _structures (bar the one with None) through run() (first and repeated
    calls) and make_callable: the same structure three times, and the values of the flat run
    of its leaves.  (The cpu backend on a few: each set of tensors is a plan of its own.)"""
    a, b, loss, grads = _graph()
    structures = [s for s in _structures(a, b, loss, grads) if None not in _fetch_leaves(s)]
    if backend == "cpu":
        structures = [s for s in structures if len(_fetch_leaves(s)) == 3][:6]
    sess = ng.Session(backend=backend)
    av, bv = rng.standard_normal(5), rng.standard_normal(5)
    feed = {a: av, b: bv}
    for s in structures:
        first, again = sess.run(s, feed), sess.run(s, feed)
        by_callable = sess.make_callable(s, [a, b])(av, bv)
        _assert_same_structure(first, again)
        _assert_same_structure(first, by_callable)
        flat = sess.run(_fetch_leaves(s), feed)
        for r in (first, again, by_callable):
            got = _result_leaves(r)
            assert len(got) == len(flat), s
            for x, y in zip(got, flat):
                np.testing.assert_array_equal(x, y)


def test_objects_fetched_through_their_parts():
    """report_uninitialized_variables() with no variables runs nothing (its part is None,
    which is not a None fetch) and nests like any fetch."""
    a, b, loss, grads = _graph()
    sess = ng.Session(backend="numpy")
    report = ng.report_uninitialized_variables()
    r = sess.run([report, {"l": loss}], {a: np.ones(5), b: np.ones(5)})
    assert r[0].shape == (0,) and r[0].dtype == object
    _close(r[1]["l"], _reference(np.ones(5), np.ones(5))[0])
    w = ng.Variable(1.0, name="w")
    r = sess.run((ng.report_uninitialized_variables(), [w.initializer]))
    assert list(r[0]) == ["w"] and r[1] == [None]
    assert len(sess.run(ng.report_uninitialized_variables())) == 0
