"""Array ops of issue 17 (numgrad/ops/array_extra.py): values against NumPy, gradients against
finite differences (and TF's numbers), batched against looped jacobians, errors that leave the
graph unchanged.  With TensorFlow installed, every case is also compared with TF's values and
gradients (test_matches_tensorflow)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import batching
from batching_rows import assert_rule_matches_rows
from gradient_batch import GradientBatch, assert_jacobians

F64 = ng.float64


def _rng(seed=0):
    return np.random.default_rng(seed)


def _x(*shape, seed=0):
    return _rng(seed).normal(size=shape)


# Each case: inputs (NumPy arrays; float64 ones are differentiated), build(lib, *tensors) with
# lib = numgrad or tf.compat.v1 (same names), and the NumPy reference (None: TF only).
def _top_k(lib):
    return lib.nn.top_k if hasattr(lib.nn, "top_k") else ng.ops.array_extra.top_k


def _einsum_ref(eq):
    return lambda *xs: np.einsum(eq, *xs)


_TIES = np.array([[1.0, 3.0, 3.0, 0.5, 3.0], [2.0, 2.0, -1.0, 2.0, 0.0]])
_IDX2 = np.array([[0, 1], [1, 2], [0, 1]], np.int32)

CASES = {
    "range": ([], lambda L: L.range(1, 11, 3), lambda: np.arange(1, 11, 3)),
    "range_float": ([], lambda L: L.range(0.5, 2.0, 0.5), lambda: np.arange(0.5, 2.0, 0.5)),
    "range_neg": ([], lambda L: L.range(5, 0, -2), lambda: np.arange(5, 0, -2)),
    "linspace": ([np.float64(1.0), np.float64(2.5)],
                 lambda L, a, b: L.linspace(a, b, 4), lambda a, b: np.linspace(a, b, 4)),
    "linspace_nd": ([_x(2), _x(2, seed=1)], lambda L, a, b: L.linspace(a, b, 3, axis=1),
                    lambda a, b: np.linspace(a, b, 3, axis=1)),
    "one_hot": ([np.array([0, 2, -1, 5], np.int32)],
                lambda L, i: L.one_hot(i, 4), lambda i: (i[:, None] == np.arange(4)) * 1.0),
    "one_hot_axis0": ([np.array([[0, 2], [1, 3]], np.int32)],
                      lambda L, i: L.one_hot(i, 3, on_value=5, off_value=-1, axis=0),
                      lambda i: np.moveaxis(np.where(i[..., None] == np.arange(3), 5, -1), -1, 0)),
    "argmax": ([_TIES], lambda L, x: L.argmax(x, 1), lambda x: np.argmax(x, 1)),
    "argmin_dim": ([_TIES], lambda L, x: L.argmin(x, dimension=0, output_type=L.int32),
                   lambda x: np.argmin(x, 0).astype(np.int32)),
    "split_num": ([_x(2, 6)], lambda L, x: L.split(x, 3, axis=1)[1] * 2.0,
                  lambda x: np.split(x, 3, axis=1)[1] * 2.0),
    "split_sizes": ([_x(5, 2)], lambda L, x: L.split(x, [1, -1, 2])[1] * 3.0 + L.split(
        x, [1, -1, 2])[2][:1], lambda x: x[1:3] * 3.0 + x[3:4]),
    "pad_constant": ([_x(2, 3)], lambda L, x: L.pad(x, [[1, 0], [2, 1]], constant_values=0.5),
                     lambda x: np.pad(x, [[1, 0], [2, 1]], constant_values=0.5)),
    "pad_reflect": ([_x(3, 4)], lambda L, x: L.pad(x, [[2, 1], [0, 3]], "REFLECT"),
                    lambda x: np.pad(x, [[2, 1], [0, 3]], "reflect")),
    "pad_symmetric": ([_x(3, 2)], lambda L, x: L.pad(x, [[3, 2], [1, 2]], mode="SYMMETRIC"),
                      lambda x: np.pad(x, [[3, 2], [1, 2]], "symmetric")),
    "reverse": ([_x(2, 3, 2)], lambda L, x: L.reverse(x, [0, -1]),
                lambda x: x[::-1, :, ::-1]),
    "roll": ([_x(3, 4)], lambda L, x: L.roll(x, [1, -3], [0, 1]),
             lambda x: np.roll(x, [1, -3], [0, 1])),
    "gather_nd": ([_x(3, 4, 2)], lambda L, x: L.gather_nd(x, _IDX2),
                  lambda x: x[_IDX2[:, 0], _IDX2[:, 1]]),
    "gather_nd_full": ([_x(3, 4)], lambda L, x: L.gather_nd(x, [[[2, 1]], [[0, 3]]]),
                       lambda x: x[[[2], [0]], [[1], [3]]]),
    "scatter_nd": ([_x(3, 2)], lambda L, u: L.scatter_nd(_IDX2, u, [2, 3, 2]),
                   lambda u: _scatter_ref(np.zeros((2, 3, 2)), _IDX2, u)),
    "tensor_scatter_update": ([_x(3, 4), _x(2, 4, seed=1)],
                              lambda L, t, u: L.tensor_scatter_nd_update(t, [[2], [0]], u),
                              lambda t, u: _update_ref(t, [[2], [0]], u)),
    "tensor_scatter_add": ([_x(3, 4), _x(3, seed=1)],
                           lambda L, t, u: L.tensor_scatter_nd_add(t, [[2, 1], [0, 0], [2, 1]], u),
                           lambda t, u: _scatter_ref(t.copy(), np.array([[2, 1], [0, 0], [2, 1]]),
                                                     u)),
    "boolean_mask": ([_x(4, 3)], lambda L, x: L.boolean_mask(x, [True, False, True, True]),
                     lambda x: x[[0, 2, 3]]),
    "boolean_mask_2d": ([_x(2, 3, 2)], lambda L, x: L.boolean_mask(
        x, [[True, False, True], [False, False, True]], axis=0),
        lambda x: x[np.array([[True, False, True], [False, False, True]])]),
    "meshgrid_xy": ([_x(2), _x(3, seed=1)], lambda L, a, b: L.meshgrid(a, b)[0] * 2.0 +
                    L.meshgrid(a, b)[1], lambda a, b: np.meshgrid(a, b)[0] * 2.0 +
                    np.meshgrid(a, b)[1]),
    "meshgrid_ij": ([_x(2), _x(3, seed=1)], lambda L, a, b: L.meshgrid(a, b, indexing="ij")[1],
                    lambda a, b: np.meshgrid(a, b, indexing="ij")[1]),
    "repeat": ([_x(2, 3)], lambda L, x: L.repeat(x, [1, 0, 2], axis=1),
               lambda x: np.repeat(x, [1, 0, 2], axis=1)),
    "repeat_flat": ([_x(2, 2)], lambda L, x: L.repeat(x, 2), lambda x: np.repeat(x, 2)),
    "sequence_mask": ([np.array([1, 3, 0], np.int32)], lambda L, n: L.sequence_mask(n, 4),
                      lambda n: np.arange(4) < n[:, None]),
    "sequence_mask_max": ([np.array([[1, 3], [2, 0]], np.int32)],
                          lambda L, n: L.sequence_mask(n, dtype=L.float32),
                          lambda n: (np.arange(3) < n[..., None]).astype(np.float32)),
    "top_k": ([_x(2, 5)], lambda L, x: _top_k(L)(x, 3)[0], lambda x: -np.sort(-x, 1)[:, :3]),
    "top_k_ties": ([_TIES], lambda L, x: _top_k(L)(x, 3)[0] * 1, lambda x: -np.sort(-x, 1)[:, :3]),
    "top_k_indices": ([_TIES], lambda L, x: _top_k(L)(x, 4)[1],
                      lambda x: np.argsort(-x, 1, kind="stable")[:, :4].astype(np.int32)),
    "sort": ([_x(3, 4)], lambda L, x: L.sort(x, axis=0), lambda x: np.sort(x, 0)),
    "sort_desc": ([_x(2, 4)], lambda L, x: L.sort(x, direction="DESCENDING"),
                  lambda x: -np.sort(-x, -1)),
    "argsort": ([_TIES], lambda L, x: L.argsort(x),
                lambda x: np.argsort(x, -1, kind="stable").astype(np.int32)),
    "argsort_desc": ([_TIES.T.copy()], lambda L, x: L.argsort(x, axis=0, direction="DESCENDING"),
                     lambda x: np.argsort(-x, 0, kind="stable").astype(np.int32)),
    "tensordot_int": ([_x(2, 3, 4), _x(3, 4, 2, seed=1)], lambda L, a, b: L.tensordot(a, b, 2),
                      lambda a, b: np.tensordot(a, b, 2)),
    "tensordot_lists": ([_x(2, 3, 4), _x(4, 2, 3, seed=1)],
                        lambda L, a, b: L.tensordot(a, b, [[1, 2], [2, 0]]),
                        lambda a, b: np.tensordot(a, b, [[1, 2], [2, 0]])),
    "einsum_matmul": ([_x(2, 3), _x(3, 4, seed=1)], lambda L, a, b: L.einsum("ij,jk->ik", a, b),
                      _einsum_ref("ij,jk->ik")),
    "einsum_batch": ([_x(2, 3, 4), _x(2, 4, 3, seed=1)],
                     lambda L, a, b: L.einsum("bij,bjk->bki", a, b), _einsum_ref("bij,bjk->bki")),
    "einsum_trace": ([_x(3, 3)], lambda L, a: L.einsum("ii", a), _einsum_ref("ii")),
    "einsum_diag": ([_x(2, 3, 3)], lambda L, a: L.einsum("bii->bi", a), _einsum_ref("bii->bi")),
    "einsum_implicit": ([_x(2, 3), _x(3, 2, seed=1)], lambda L, a, b: L.einsum("ij,jk", a, b),
                        _einsum_ref("ij,jk")),
    "einsum_ellipsis": ([_x(2, 1, 3, 4), _x(3, 4, 5, seed=1)],
                        lambda L, a, b: L.einsum("...ij,...jk->...ik", a, b),
                        _einsum_ref("...ij,...jk->...ik")),
    "einsum_outer_sum": ([_x(2, 3), _x(4, seed=1)], lambda L, a, b: L.einsum("ij,k->jk", a, b),
                         _einsum_ref("ij,k->jk")),
    "einsum_three": ([_x(2, 3), _x(3, 4, seed=1), _x(4, seed=2)],
                     lambda L, a, b, c: L.einsum("ij,jk,k->i", a, b, c),
                     _einsum_ref("ij,jk,k->i")),
    "gather_batch_dims": ([_x(2, 3, 4)], lambda L, x: L.gather(
        x, [[2, 0], [1, 1]], axis=2, batch_dims=1),
        lambda x: np.stack([np.take(x[i], [[2, 0], [1, 1]][i], axis=1) for i in range(2)])),
    "placeholder_with_default": ([_x(2, 3)], lambda L, x: L.placeholder_with_default(
        x * 2.0, [None, 3]) * 3.0, lambda x: x * 6.0),
    "zeros_tensor_shape": ([_x(2, 3)], lambda L, x: L.zeros(L.shape(x), L.float64) + L.ones(
        [L.shape(x)[0], 3], L.float64) * x + L.fill(L.shape(x), L.constant(2.0, L.float64)), lambda x: x + 2.0),
}


def _scatter_ref(out, idx, upd):
    np.add.at(out, tuple(np.asarray(idx)[..., j] for j in range(np.shape(idx)[-1])), upd)
    return out


def _update_ref(t, idx, upd):
    out = t.copy()
    idx = np.asarray(idx)
    out[tuple(idx[..., j] for j in range(idx.shape[-1]))] = upd
    return out


def _build(lib, name):
    inputs, build, _ = CASES[name]
    tensors = [lib.constant(v) for v in inputs]
    return tensors, build(lib, *tensors)


def _differentiable(name):
    inputs = CASES[name][0]
    return [i for i, v in enumerate(inputs) if np.asarray(v).dtype == np.float64]


# --- values vs NumPy ---------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_values_match_numpy(name, sess):
    inputs, _, ref = CASES[name]
    _, y = _build(ng, name)
    got = sess.run(y)
    want = ref(*inputs)
    assert got.dtype.kind == np.asarray(want).dtype.kind
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    assert got.shape == np.shape(want)


# --- gradients vs finite differences ----------------------------------------------------------------
GRAD_CASES = sorted(n for n in CASES if _differentiable(n) and n not in (
    "argmax", "argmin_dim", "top_k_indices", "argsort", "argsort_desc", "top_k_ties"))


def _static_shape(name):
    """Whether case `name`'s y has a fully defined static shape (built on a scratch graph)."""
    with ng.Graph().as_default():
        xs = [ng.placeholder(F64, np.shape(v)) for v in CASES[name][0]]
        return CASES[name][1](ng, *xs).shape.is_fully_defined()


@pytest.fixture(scope="module")
def gradient_jacobians():
    """The cases share graphs and pairs of plans (tests/gradient_batch.py), the gradients of
    the backend under test against central differences of the numpy backend's y.  A plan
    holding a y of data-dependent shape is interpreted: those cases get a batch of their own,
    and the others stay in compiled plans."""
    static = [n for n in GRAD_CASES if _static_shape(n)]
    out = {}
    for names in (static, sorted(set(GRAD_CASES) - set(static))):
        batch = GradientBatch(F64, delta=1e-6, reference="numpy")
        for name in names:
            inputs, build, ref = CASES[name]
            batch.add(name, inputs, lambda *xs, build=build: build(ng, *xs),
                      y_shape=np.shape(ref(*inputs)))
        out.update(batch.jacobians())
    return out


@pytest.mark.parametrize("name", GRAD_CASES)
def test_gradients_match_finite_differences(gradient_jacobians, name):
    assert_jacobians(gradient_jacobians[name], tol=1e-6)


# --- TF's numbers, written down (no TF needed) -----------------------------------------------------
def test_tf_gradient_numbers(sess):
    x = ng.constant(np.arange(6.0).reshape(2, 3))
    w = ng.constant(np.arange(1.0, 16.0).reshape(3, 5))
    y = ng.pad(x, [[1, 0], [2, 0]], "REFLECT")
    g, = ng.gradients(ng.reduce_sum(y * w), x)
    # tf.gradients(tf.reduce_sum(tf.pad(x, [[1,0],[2,0]], "REFLECT") * w), x), TF 2.21
    np.testing.assert_array_equal(sess.run(g), [[8., 16., 16.], [16., 32., 32.]])
    v = ng.constant(np.array([[1.0, 3.0, 3.0, 0.5, 3.0]]))
    vals, _ = ng.ops.array_extra.top_k(v, 2)
    g, = ng.gradients(vals * ng.constant([[10.0, 1.0]], F64), v)
    np.testing.assert_array_equal(sess.run(g), [[0., 10., 1., 0., 0.]])   # ties: lower index
    t = ng.constant(np.ones((3, 2)))
    u = ng.constant(np.full((2, 2), 2.0))
    out = ng.tensor_scatter_nd_update(t, [[0], [0]], u)
    gt, gu = ng.gradients(out * ng.constant(np.arange(6.0).reshape(3, 2)), [t, u])
    np.testing.assert_array_equal(sess.run(gt), [[0., 0.], [2., 3.], [4., 5.]])
    np.testing.assert_array_equal(sess.run(gu), [[0., 1.], [0., 1.]])
    a = ng.constant(np.arange(12.0).reshape(3, 4))
    b = ng.constant(np.arange(4.0))
    ga, gb = ng.gradients(ng.einsum("ii,i->", a[:, :3], b[:3]), [a, b])
    np.testing.assert_array_equal(sess.run(ga), [[0., 0., 0., 0.], [0., 1., 0., 0.],
                                                 [0., 0., 2., 0.]])
    np.testing.assert_array_equal(sess.run(gb), [0., 5., 10., 0.])


def test_none_and_zero_gradients(sess):
    x = ng.constant(_TIES)
    assert ng.gradients(ng.cast(ng.argmax(x, 1), F64), x) == [None]
    assert ng.gradients(ng.one_hot([1, 2], 3, on_value=x[0, 0], off_value=0.0,
                                   dtype=F64), x) == [None]
    s = ng.constant(3.0)
    assert ng.gradients(ng.range(0.0, s, 1.0), s) == [None]
    g, = ng.gradients(ng.argsort(x), x)      # integer output: zeros, as in TF
    np.testing.assert_array_equal(sess.run(g), np.zeros_like(_TIES))
    c = ng.constant(1.0, F64)
    assert ng.gradients(ng.pad(x, [[1, 1], [0, 0]], constant_values=c), c) == [None]


# --- dynamic shapes ------------------------------------------------------------------------------
def test_range_and_boolean_mask_with_data_dependent_shapes(sess):
    n = ng.placeholder(ng.int32, [])
    r = ng.range(n)
    assert r.shape.as_list() == [None]
    np.testing.assert_array_equal(sess.run(r, {n: 4}), np.arange(4))
    np.testing.assert_array_equal(sess.run(r * 2, {n: 3}), [0, 2, 4])
    x = ng.placeholder(F64, [None, 2])
    m = ng.placeholder(ng.bool, [None])
    y = ng.boolean_mask(x, m)
    g, = ng.gradients(ng.reduce_sum(y * y), x)
    xv = _x(4, 2)
    mv = np.array([True, False, False, True])
    np.testing.assert_allclose(sess.run(y, {x: xv, m: mv}), xv[mv])
    np.testing.assert_allclose(sess.run(g, {x: xv, m: mv}), 2 * xv * mv[:, None])
    d = ng.placeholder(ng.int32, [])
    oh = ng.one_hot([0, 2], d)
    np.testing.assert_array_equal(sess.run(oh, {d: 3}), np.eye(3)[[0, 2]])
    s = ng.sequence_mask(ng.placeholder_with_default(np.array([2, 1], np.int32), [None]))
    np.testing.assert_array_equal(sess.run(s), [[True, True], [True, False]])


def test_split_unknown_dim_and_placeholder_with_default_feed(sess):
    x = ng.placeholder(F64, [None, 2])
    a, b = ng.split(x, [1, -1])
    xv = _x(4, 2)
    got = sess.run([a, b], {x: xv})
    np.testing.assert_allclose(got[0], xv[:1])
    np.testing.assert_allclose(got[1], xv[1:])
    p = ng.placeholder_with_default(ng.constant([1.0, 2.0]), [None])
    assert p.shape.as_list() == [None]
    np.testing.assert_array_equal(sess.run(p * 2.0), [2.0, 4.0])
    np.testing.assert_array_equal(sess.run(p * 2.0, {p: [3.0, 4.0, 5.0]}), [6.0, 8.0, 10.0])


# --- batched vs looped jacobians ----------------------------------------------------------------------
JAC_CASES = ["pad_reflect", "pad_constant", "reverse", "roll", "gather_nd", "scatter_nd",
             "tensor_scatter_update", "tensor_scatter_add", "top_k", "sort", "split_num",
             "einsum_ellipsis", "repeat"]


@pytest.mark.parametrize("name", JAC_CASES)
def test_batched_jacobian_matches_loop(name, sess):
    inputs = CASES[name][0]
    xs = [ng.constant(v) for v in inputs]
    y = CASES[name][1](ng, *xs)
    y = y * y       # second-order paths through the ops' gradient ops too
    fast = ng.jacobian(y, xs)
    slow = ng.jacobian(y, xs, experimental_use_pfor=False)
    for f, s in zip(sess.run(fast), sess.run(slow)):
        np.testing.assert_allclose(f, s, rtol=1e-12, atol=1e-12)


# Row tests of this module's batching rules, in tests/test_jacobians.py's RULE_CASES format
# (s: a float64 placeholder of shape [2, 3]); that file's row-test check can import them.
ROW_CASES = {
    "Split": lambda s: ng.split(s, 3, axis=1)[1],
    "ReverseV2": lambda s: ng.reverse(s, [1]),
    "Roll": lambda s: ng.roll(s, 1, -1),
    "MirrorPad": lambda s: ng.pad(s, [[1, 0], [0, 2]], "SYMMETRIC"),
    "MirrorPadGrad": lambda s: ng.ops.array_extra.mirror_pad_grad(s, [[0, 0], [1, 1]],
                                                                  "REFLECT"),
    "PadV2": lambda s: ng.pad(s, [[1, 0], [0, 2]]),
    "TopKV2": lambda s: ng.ops.array_extra.top_k(s, 2)[0],
    "ArgMax": lambda s: ng.argmax(s, -1),
    "ArgMin": lambda s: ng.argmin(s, 0),
    "GatherNd": lambda s: ng.gather_nd(s, [[1, 2], [0, 0]]),
    "ScatterNd": lambda s: ng.scatter_nd([[1], [0]], s, [2, 3]),
    "TensorScatterUpdate": lambda s: ng.tensor_scatter_nd_update(s, [[1]], s[:1] * 2.0),
    "TensorScatterAdd": lambda s: ng.tensor_scatter_nd_add(
        ng.constant(np.ones((2, 3))), [[1, 1]], s[0, :1]),
    "PlaceholderWithDefault": lambda s: ng.placeholder_with_default(s, [None, 3]),
}


@pytest.mark.parametrize("op_type", sorted(ROW_CASES))
def test_batching_rule_matches_rows(op_type):
    """Each batching rule of this module against running the op row by row."""
    assert op_type in batching.BATCH_RULES
    assert_rule_matches_rows(op_type, ROW_CASES[op_type])


def test_every_rule_of_this_module_has_a_row_test():
    from numgrad.ops import array_extra
    ours = [t for t, rule in batching.BATCH_RULES.items()
            if rule.__module__ == array_extra.__name__]
    assert sorted(ours) == sorted(ROW_CASES)


# --- bad inputs: clear errors, graph unchanged --------------------------------------------------
BAD = [
    (lambda: ng.range(0, 5, 0), ValueError, "delta != 0"),
    (lambda: ng.range(5, 0, 1), ValueError, "start <= limit"),
    (lambda: ng.argmax(ng.constant(_TIES), 2), ValueError, "range"),
    (lambda: ng.argmax(ng.constant(_TIES), axis=0, dimension=1), ValueError, "both"),
    (lambda: ng.argmax(ng.constant(_TIES), output_type=ng.float32), TypeError, "output_type"),
    (lambda: ng.split(ng.constant(_x(4)), 3), ValueError, "evenly divisible"),
    (lambda: ng.split(ng.constant(_x(4)), [1, 2]), ValueError, "can't split axis of size 4"),
    (lambda: ng.split(ng.constant(_x(4)), [-1, 5]), ValueError, "Determined shape"),
    (lambda: ng.split(ng.constant(_x(4)), [-1, -1]), ValueError, "-1"),
    (lambda: ng.pad(ng.constant(_x(3)), [[3, 0]], "REFLECT"), ValueError, "less than"),
    (lambda: ng.pad(ng.constant(_x(3)), [[1, 0], [0, 0]]), ValueError, "rank"),
    (lambda: ng.pad(ng.constant(_x(3)), [[1, 0]], "WRAP"), ValueError, "mode"),
    (lambda: ng.reverse(ng.constant(_x(3)), [1]), ValueError, "out of valid range"),
    (lambda: ng.gather_nd(ng.constant(_x(3)), [[0, 1]]), ValueError, "indices.shape[-1]"),
    (lambda: ng.scatter_nd([[0]], ng.constant(_x(2)), [3]), ValueError, "updates"),
    (lambda: ng.tensor_scatter_nd_add(ng.constant(_x(3)), [[0]], ng.constant(_x(2))),
     ValueError, "updates"),
    (lambda: ng.boolean_mask(ng.constant(_x(3)), [True, False]), ValueError, "incompatible"),
    (lambda: ng.one_hot([1], 3, on_value=ng.constant(1.0), dtype=ng.float64), TypeError,
     "does not match"),
    (lambda: ng.meshgrid(ng.constant(_x(2)), indexing="yx"), ValueError, "indexing"),
    (lambda: ng.repeat(ng.constant(_x(3)), [1, 2]), ValueError, "repeats"),
    (lambda: ng.ops.array_extra.top_k(ng.constant(_x(3)), 4), ValueError, "last dimension >= k = 4"),
    (lambda: ng.sort(ng.constant(_x(3)), direction="UP"), ValueError, "direction"),
    (lambda: ng.tensordot(ng.constant(_x(2, 3)), ng.constant(_x(2, 3)), 1), ValueError,
     "Dimensions must be equal"),
    (lambda: ng.einsum("ij,jk->ik", ng.constant(_x(2, 3)), ng.constant(_x(2, 3))), ValueError,
     "Dimensions must be equal"),
    (lambda: ng.einsum("ij->ii", ng.constant(_x(2, 2))), ValueError, "more than once"),
    (lambda: ng.placeholder_with_default(ng.constant(_x(2)), [3]), ValueError, "compatible"),
    (lambda: ng.gather(ng.constant(_x(2, 3)), [[0], [1], [2]], axis=1, batch_dims=1),
     ValueError, "must equal"),
]


@pytest.mark.parametrize("i", range(len(BAD)))
def test_bad_inputs_raise_and_leave_graph_unchanged(i):
    build, exc, words = BAD[i]
    ng.constant(_x(3))          # the graph is not empty
    g = ng.get_default_graph()
    before = [op.name for op in g.get_operations()]
    with pytest.raises(exc, match=words.replace("[", r"\[").replace("]", r"\]")
                       .replace("+", r"\+")):
        build()
    # the ops made for the arguments inside the lambda remain; nothing else
    after = [op.name for op in g.get_operations()]
    extra = [n for n in after if n not in before]
    assert all(ng.get_default_graph().get_operation_by_name(n).type == "Const"
               for n in extra), extra


def test_failed_builder_adds_no_ops():
    x = ng.constant(_x(3))
    off = ng.constant(0, ng.int32)
    n = len(ng.get_default_graph().get_operations())
    with pytest.raises(ValueError):
        ng.pad(x, [[5, 0]], "REFLECT")
    with pytest.raises(ValueError):
        ng.split(x, [1, 1])
    with pytest.raises(ValueError):
        ng.einsum("ij,jk->ik", x, x)
    with pytest.raises(TypeError):
        ng.one_hot([1], 3, on_value=1.0, off_value=off)
    assert len(ng.get_default_graph().get_operations()) == n


def test_run_time_errors(sess):
    i = ng.placeholder(ng.int32, [None, 1])
    y = ng.gather_nd(ng.constant(_x(3)), i)
    with pytest.raises(ng.errors.InvalidArgumentError, match="does not index"):
        sess.run(y, {i: [[3]]})
    n = ng.placeholder(ng.int32, [])
    with pytest.raises(ng.errors.InvalidArgumentError, match="delta|limit"):
        sess.run(ng.range(n, 0, 1), {n: 2})


# --- TF comparison ------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_tensorflow(name):
    tf = pytest.importorskip("tensorflow")
    tf1 = tf.compat.v1
    inputs = CASES[name][0]
    diff = _differentiable(name)
    with tf.Graph().as_default():
        ts = [tf1.constant(v) for v in inputs]
        y = CASES[name][1](tf1 if not name.startswith("top_k") else tf, *ts)
        w = None
        grads = []
        with tf1.Session() as s:
            want_y = s.run(y)
        if y.dtype.is_floating and diff:
            w = _rng(7).normal(size=want_y.shape).astype(y.dtype.as_numpy_dtype)
            grads = tf.gradients(tf.reduce_sum(y * w), [ts[i] for i in diff])
        with tf1.Session() as s:
            want_g = [None if g is None else s.run(tf.convert_to_tensor(g)) for g in grads]
    ns = [ng.constant(v) for v in inputs]
    ny = CASES[name][1](ng, *ns)
    assert ny.dtype.name == y.dtype.name, (ny.dtype, y.dtype)
    got_g = ng.gradients(ng.reduce_sum(ny * ng.constant(w)), [ns[i] for i in diff]) \
        if w is not None else []
    with ng.Session() as s:
        np.testing.assert_allclose(s.run(ny), want_y, rtol=1e-6, atol=1e-6)
        for g, wg in zip(got_g, want_g):
            assert (g is None) == (wg is None)
            if g is not None:
                np.testing.assert_allclose(s.run(ng.convert_to_tensor(g)), wg, rtol=1e-6,
                                           atol=1e-6)


def test_tf_errors_agree_for_bad_split_and_pad():
    tf = pytest.importorskip("tensorflow")
    with tf.Graph().as_default():
        with pytest.raises(ValueError, match="evenly divisible"):
            tf.split(tf.zeros([4]), 3)
        with pytest.raises(ValueError, match="can't split axis of size 4"):
            tf.split(tf.zeros([4]), [1, 2])
        with pytest.raises(ValueError, match="Dimensions must be equal, but are 3 and 2"):
            tf.tensordot(tf.zeros([2, 3]), tf.zeros([2, 3]), 1)
        with pytest.raises(ValueError, match="last dimension >= k = 4"):
            tf.nn.top_k(tf.zeros([3]), 4)


def test_top_k_and_sort_gradients_with_unknown_shapes(sess):
    x = ng.placeholder(F64, [None, 4])
    vals, idx = ng.ops.array_extra.top_k(x, 2)
    w = ng.constant(np.array([[3.0, 1.0]]))
    g, = ng.gradients(ng.reduce_sum(vals * w), x)
    s = ng.sort(x, axis=0)
    gs, = ng.gradients(ng.reduce_sum(s * ng.constant(np.arange(4.0))), x)
    xv = np.array([[0.1, 0.5, 0.3, 0.2], [2.0, 1.0, 3.0, 0.0], [1.0, 1.0, 1.0, -1.0]])
    got, got_s = sess.run([g, gs], {x: xv})
    np.testing.assert_array_equal(got, [[0, 3, 1, 0], [1, 0, 3, 0], [3, 1, 0, 0]])
    np.testing.assert_array_equal(got_s, np.tile(np.arange(4.0), (3, 1)))
