"""The TF1 names that are another spelling of an existing op, or a few lines over such ops
(numgrad/ops/aliases.py, ng.log_sigmoid): values against NumPy, gradients against finite
differences, TF's errors, and a failed build leaving the graph unchanged.

The small arrays share float32 shapes so the default backend compiles few kernels."""
import numpy as np
import pytest

import numgrad as ng
from gradient_batch import GradientBatch, assert_jacobians

X = np.array([[0.5, -1.5, 2.0], [0.0, 3.0, -0.25]], np.float32)


def _run(fetches, feed=None):
    with ng.Session() as sess:
        return sess.run(fetches, feed)


def test_top_level_spellings_match_their_ops():
    ng.reset_default_graph()
    x = ng.constant(X)
    i = ng.constant([7, -7, 5])
    idx, upd = ng.constant([[0], [2]]), ng.constant([10, 20])
    outs = _run({
        "log_sigmoid": ng.log_sigmoid(x), "arg_max": ng.arg_max(x, 1),
        "arg_min": ng.arg_min(x, dimension=0, output_type=ng.int32),
        "floor_div": ng.floor_div(i, 2), "to_float": ng.to_float(i),
        "to_double": ng.to_double(x), "to_int32": ng.to_int32(ng.constant([1.0, 2.0])),
        "to_int64": ng.to_int64(i), "to_c64": ng.to_complex64(x), "to_c128": ng.to_complex128(x),
        "upd": ng.tensor_scatter_update(i, idx, upd), "add": ng.tensor_scatter_add(i, idx, upd),
        "sub": ng.tensor_scatter_nd_sub(i, idx, upd), "sub2": ng.tensor_scatter_sub(i, idx, upd),
        "acc": ng.accumulate_n([x, x, x]), "math_acc": ng.math.accumulate_n([x], shape=[2, 3]),
    })
    assert np.allclose(outs["log_sigmoid"], -np.logaddexp(0, -X), atol=1e-6)
    assert outs["arg_max"].tolist() == [2, 1] and outs["arg_max"].dtype == np.int64
    assert outs["arg_min"].tolist() == [1, 0, 1] and outs["arg_min"].dtype == np.int32
    assert outs["floor_div"].tolist() == [3, -4, 2]
    assert outs["to_float"].dtype == np.float32 and outs["to_double"].dtype == np.float64
    assert outs["to_int32"].dtype == np.int32 and outs["to_int64"].dtype == np.int64
    assert outs["to_c64"].dtype == np.complex64 and outs["to_c128"].dtype == np.complex128
    assert outs["upd"].tolist() == [10, -7, 20] and outs["add"].tolist() == [17, -7, 25]
    assert outs["sub"].tolist() == [-3, -7, -15] and outs["sub2"].tolist() == [-3, -7, -15]
    assert np.allclose(outs["acc"], 3 * X) and np.allclose(outs["math_acc"], X)
    assert ng.math.reciprocal_no_nan is not None and ng.newaxis is None
    assert ng.half is ng.float16 and ng.double is ng.float64
    assert ng.math.softmax is ng.nn.softmax and ng.linalg.einsum is ng.einsum
    assert ng.linalg.global_norm is ng.global_norm and ng.linalg.tensordot is ng.tensordot


def test_is_tensor_and_dimension_value():
    ng.reset_default_graph()
    v = ng.Variable([1.0])
    assert ng.is_tensor(ng.constant(1.0)) and ng.is_tensor(v)
    assert not ng.is_tensor(np.ones(2)) and not ng.is_tensor(1.0)
    shape = ng.placeholder(ng.float32, [None, 3]).shape
    assert ng.dimension_value(shape[1]) == 3 and ng.dimension_value(shape[0]) is None
    assert ng.dimension_value(4) == 4


def test_composites_values():
    ng.reset_default_graph()
    x = ng.constant(X)
    w = ng.constant(np.arange(6, dtype=np.float32).reshape(3, 2) / 4 - 0.5)
    b = ng.constant([0.25, -1.0])
    counts, m_ss, v_ss, _ = ng.nn.sufficient_statistics(x, [0])
    mean, var = ng.nn.normalize_moments(counts, m_ss, v_ss, None)
    c2, m2, v2, s2 = ng.nn.sufficient_statistics(x, [1], shift=1.0, keepdims=True)
    mean2, var2 = ng.nn.normalize_moments(c2, m2, v2, s2)
    normed, nrm = ng.linalg.normalize(x, axis=1)
    outs = _run({"rnn": ng.math.reciprocal_no_nan(ng.constant([0.0, 2.0, -4.0])),
                 "zf": ng.math.zero_fraction(x), "zf_nn": ng.nn.zero_fraction(ng.constant([0, 1])),
                 "crelu": ng.nn.crelu(x), "crelu0": ng.nn.crelu(x, axis=0),
                 "relu_layer": ng.nn.relu_layer(x, w, b), "counts": counts,
                 "mean": mean, "var": var, "mean2": mean2, "var2": var2,
                 "normed": normed, "nrm": nrm})
    assert outs["rnn"].tolist() == [0.0, 0.5, -0.25]
    assert outs["zf"] == np.float32(1 / 6) and outs["zf"].dtype == np.float32
    assert outs["zf_nn"] == 0.5
    assert np.array_equal(outs["crelu"], np.maximum(np.concatenate([X, -X], 1), 0))
    assert np.array_equal(outs["crelu0"], np.maximum(np.concatenate([X, -X], 0), 0))
    w_np = np.arange(6, dtype=np.float32).reshape(3, 2) / 4 - 0.5
    assert np.allclose(outs["relu_layer"], np.maximum(X @ w_np + [0.25, -1.0], 0))
    assert outs["counts"] == 2 and outs["counts"].dtype == np.float32
    assert np.allclose(outs["mean"], X.mean(0)) and np.allclose(outs["var"], X.var(0), atol=1e-6)
    assert np.allclose(outs["mean2"], X.mean(1, keepdims=True))
    assert np.allclose(outs["var2"], X.var(1, keepdims=True), atol=1e-5)
    n = np.linalg.norm(X, axis=1, keepdims=True)
    assert np.allclose(outs["nrm"], n) and np.allclose(outs["normed"], X / n)


def test_embedding_lookup_shards_and_max_norm():
    ng.reset_default_graph()
    table = np.arange(12, dtype=np.float32).reshape(6, 2)
    ids = ng.constant([[5, 0], [3, 3]])
    one = ng.nn.embedding_lookup(ng.constant(table), ids)
    div = ng.nn.embedding_lookup([ng.constant(table[:4]), ng.constant(table[4:])], ids,
                                 partition_strategy="div")
    # 'mod': row i lives in shard i % 2 at position i // 2
    mod = ng.nn.embedding_lookup([ng.constant(table[0::2]), ng.constant(table[1::2])], ids)
    clipped = ng.nn.embedding_lookup(ng.constant(table), ids, max_norm=5.0)
    o = _run([one, div, mod, clipped])
    want = table[[[5, 0], [3, 3]]]
    for got in o[:3]:
        assert np.array_equal(got, want)
    n = np.linalg.norm(want, axis=-1, keepdims=True)
    assert np.allclose(o[3], want * np.minimum(1, 5.0 / n))


_COMPOSITES = {
    "log_sigmoid": ng.log_sigmoid,
    "crelu": ng.nn.crelu,
    "relu_layer": lambda x: ng.nn.relu_layer(x, ng.constant(np.linspace(-1, 1, 6).reshape(3, 2)),
                                             ng.constant([0.1, 0.2], ng.float64)),
    "normalize": lambda x: ng.linalg.normalize(x + 4.0, axis=1)[0],
    "tensor_scatter_nd_sub": lambda x: ng.tensor_scatter_nd_sub(x, [[1]], ng.square(x[:1])),
    "reciprocal_no_nan": lambda x: ng.math.reciprocal_no_nan(x + 4.0),
}


@pytest.fixture(scope="module")
def composite_jacobians():
    """Each composite's [(analytic, numerical)]: analytic Jacobians on the default backend,
    central differences (delta 1e-3, as compute_gradient_error's) on the NumPy reference; the
    composites share one graph (tests/gradient_batch.py)."""
    xv = X.astype(np.float64) + 0.125      # no zeros: relu has a kink there
    batch = GradientBatch(ng.float64, delta=1e-3, reference="numpy")
    for name, build in _COMPOSITES.items():
        batch.add(name, [xv], build)
    return batch.jacobians()


@pytest.mark.parametrize("name", list(_COMPOSITES))
def test_composite_gradients_match_finite_differences(composite_jacobians, name):
    assert_jacobians(composite_jacobians[name], tol=1e-6)


def test_bad_input_leaves_the_graph_unchanged():
    ng.reset_default_graph()
    g = ng.get_default_graph()
    x, y = ng.constant(X), ng.constant(np.ones((3, 3), np.float32))
    before = len(g.get_operations())
    with pytest.raises(TypeError, match="reciprocal_no_nan: x 'Const_2:0' has dtype int32"):
        ng.math.reciprocal_no_nan([1, 2])
    with pytest.raises(ValueError, match="at least one Tensor"):
        ng.accumulate_n([])
    with pytest.raises(ValueError, match=r"shape \(4,\) does not match"):
        ng.accumulate_n([x, x], shape=[4])
    with pytest.raises(TypeError, match="tensor_dtype float64"):
        ng.accumulate_n([x], tensor_dtype=ng.float64)
    with pytest.raises(ValueError, match="partition strategy: bad"):
        ng.nn.embedding_lookup(x, [0], partition_strategy="bad")
    with pytest.raises(ValueError, match="equal, known first dims"):
        ng.nn.embedding_lookup([x, y], [0])
    with pytest.raises(ValueError):
        ng.arg_max(x, 2)
    assert len(g.get_operations()) == before
