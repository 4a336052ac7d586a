"""How a run is split into map-reduce phases over row chunks (no Dask needed: graph analysis)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad.scaleout import Unsplittable, partition

pytestmark = pytest.mark.backend_independent    # see tests/conftest.py


@pytest.fixture(autouse=True)
def fresh_graph():
    with ng.Graph().as_default() as g:
        yield g


def _logistic():
    X = ng.placeholder(ng.float64, [None, 4], name="X")
    y = ng.placeholder(ng.float64, [None], name="y")
    w = ng.Variable(np.linspace(-1, 1, 4), name="w")
    b = ng.Variable(np.float64(0.1), name="b")
    z = ng.linalg.matvec(X, w) + b
    loss = ng.reduce_mean(ng.nn.sigmoid_cross_entropy_with_logits(labels=y, logits=z))
    return X, y, w, b, z, loss


def _partials(ph):
    return {t: c for t, c in ph.partials}


def test_loss_and_gradient_is_one_phase_of_reductions():
    X, y, w, b, z, loss = _logistic()
    gw, gb = ng.gradients(loss, [w, b])
    p = partition([loss, gw, gb], [], [X, y], [])
    assert len(p.phases) == 1
    parts = _partials(p.phases[0])
    assert parts[loss] == "mean"
    # the weight gradient is x^T dy (a contraction of the batch axis), the bias gradient a sum
    assert sorted(parts.values()) == ["mean", "sum", "sum"]
    assert {t.op.type for t in parts} == {"Mean", "MatMul", "SumToShape"}
    # the fetched gradients are global values computed from the reductions
    assert p.global_fetches == [loss, gw, gb]
    # what the chunk is fed: the variables' values and the mean's 1/N, never a row count
    fed_types = {t.op.type for t in p.phases[0].fed}
    assert "VariableV2" in fed_types
    assert not any(t.op.type in ("Shape", "Size") and t in p.shape_roots
                   for t in p.phases[0].fed)


def test_centering_by_a_batch_mean_takes_two_phases():
    X = ng.placeholder(ng.float64, [None, 3], name="X")
    mu = ng.reduce_mean(X, axis=0)
    var = ng.reduce_sum(ng.square(X - mu), axis=0)
    p = partition([mu, var], [], [X], [])
    assert [len(ph.partials) for ph in p.phases] == [1, 1]
    assert p.phases[0].partials[0][0] is mu
    assert p.phases[1].partials[0][0] is var
    assert mu in p.phases[1].fed


def test_batched_fetches_and_row_reductions_stay_batched():
    X = ng.placeholder(ng.float32, [None, 3, 2], name="X")
    rows = ng.reduce_sum(ng.tanh(X), axis=[1, 2])
    flat = ng.reshape(X, [-1, 6])
    p = partition([rows, flat], [], [X], [])
    assert p.batched_fetches == [rows, flat]
    assert len(p.phases) == 1 and not p.phases[0].partials


@pytest.mark.parametrize("build, what", [
    (lambda X: ng.cumsum(X, axis=0), "Cumsum"),
    (lambda X: ng.reshape(X, [-1]), "Reshape"),
    (lambda X: ng.transpose(X), "Transpose"),
    (lambda X: X[1:], "StridedSlice"),
    (lambda X: ng.concat([X, X], axis=0), "ConcatV2"),
    (lambda X: ng.range(ng.shape(X)[0]), "Range"),
    (lambda X: ng.matmul(X, X, transpose_b=True), "MatMul"),
    (lambda X: X + ng.ones([5, 3], ng.float64), "AddV2"),
])
def test_unsplittable_ops_are_named_before_any_work(build, what):
    X = ng.placeholder(ng.float64, [None, 3], name="X")
    y = build(X)
    with pytest.raises(Unsplittable) as e:
        partition([ng.reduce_sum(ng.cast(y, ng.float64))], [], [X], [])
    assert e.value.op.type == what
    assert what in str(e.value) and "batch axis" in str(e.value)


def test_shape_of_rows_used_as_data_is_the_whole_datas():
    # mean via sum / N: N is the whole data's row count, computed by the client
    X = ng.placeholder(ng.float64, [None, 2], name="X")
    n = ng.cast(ng.shape(X)[0], ng.float64)
    m = ng.reduce_sum(X, axis=0) / n
    p = partition([m], [], [X], [])
    assert len(p.shape_roots) == 1 and p.global_fetches == [m]


def test_batched_shape_with_unknown_dims_is_refused():
    X = ng.placeholder(ng.float64, [None, None], name="X")
    with pytest.raises(Unsplittable, match="not known statically"):
        partition([ng.reduce_sum(X) / ng.cast(ng.size(X), ng.float64)], [], [X], [])


def test_the_combine_tree_depends_only_on_the_number_of_chunks():
    from numgrad.scaleout import combine as C
    shape = C.tree(range(20), lambda items, leaves: (leaves, list(items)), fan_in=8)
    assert shape == (False, [(True, list(range(8))), (True, list(range(8, 16))),
                             (True, list(range(16, 20)))])
    assert C.tree([7], lambda items, leaves: (leaves, list(items))) == (True, [7])


def test_partials_combine_to_the_whole_datas_value():
    from numgrad.scaleout import combine as C
    rng = np.random.default_rng(0)
    x = rng.standard_normal((23, 3))
    chunks = [x[:10], x[10:20], x[20:]]
    combines = ["mean", "sum", "max", "min"]
    leaves = [([C.prepare(c.mean(), "mean", len(c)), c.sum(axis=0), c.max(axis=0),
                c.min(axis=0)], []) for c in chunks]
    root = C.tree(leaves, lambda items, lv: C.combine_group(items, combines, lv), fan_in=2)
    mean, s, mx, mn = C.finish(root, combines, [np.float64] * 4, len(x))
    assert mean == pytest.approx(x.mean(), rel=1e-14)
    np.testing.assert_allclose(s, x.sum(axis=0), rtol=1e-14)
    np.testing.assert_array_equal(mx, x.max(axis=0))
    np.testing.assert_array_equal(mn, x.min(axis=0))


def test_limited_caps_kernel_threads_in_this_thread_only():
    import threading

    from numgrad import threads
    before = threads.get_num_threads()
    seen = []
    with threads.limited(1):
        assert threads.get_num_threads() == 1
        t = threading.Thread(target=lambda: seen.append(threads.get_num_threads()))
        t.start()
        t.join()
        with threads.limited(3):            # nested: never above the outer cap
            assert threads.get_num_threads() == 1
    assert seen == [before] and threads.get_num_threads() == before
