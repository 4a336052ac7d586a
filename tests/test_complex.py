"""complex64 / complex128 (issue 17): dtypes, the complex ops, complex operands of the everyday
ops, TF's errors for the ops it does not run on complex, and gradients with TF's convention
(dL/dRe + i dL/dIm): against TF 2.21's numbers (written below as literals) and against
central differences on the real and imaginary parts.

Values run on the backend under test (NUMGRAD_BACKEND) and on the numpy backend.  Complex
steps are not fused, so these tests compile few kernels.
"""
import numpy as np
import pytest

import numgrad as ng
from batching_rows import assert_rule_matches_rows

Z = np.array([0.7 + 0.4j, -0.3 + 1.1j, 1.2 - 0.5j])
W = np.array([0.5 - 0.2j, 0.9 + 0.3j, -0.4 + 0.8j])


def run(fetches, feed=None):
    """Values on the backend under test and on the numpy backend (they must agree)."""
    with ng.Session() as s:
        got = s.run(fetches, feed)
    with ng.Session(backend="numpy") as s:
        ref = s.run(fetches, feed)
    return got, ref


# --- dtypes, constants, feeds, casts ------------------------------------------------------------
def test_dtype_objects():
    assert ng.as_dtype("complex64") is ng.complex64
    assert ng.as_dtype(np.complex128) is ng.complex128
    assert ng.complex64.real_dtype is ng.float32 and ng.complex128.real_dtype is ng.float64
    assert ng.float32.real_dtype is ng.float32 and ng.int32.real_dtype is ng.int32
    c = ng.complex64
    assert c.is_complex and c.is_numeric and c.is_differentiable
    assert not (c.is_floating or c.is_integer or c.is_bool)
    for limit in ("min", "max"):
        with pytest.raises(TypeError, match="complex64"):
            getattr(c, limit)


def test_constants_and_feeds(sess):
    a = ng.constant(1 + 2j)
    assert a.dtype == ng.complex128            # TF: a Python complex is complex128
    b = ng.constant([1.0, 2.0], dtype=ng.complex64)
    assert b.dtype == ng.complex64
    assert ng.constant(np.array([1j], np.complex64)).dtype == ng.complex64
    with pytest.raises(TypeError, match="Expected float32"):
        ng.constant(1 + 2j, dtype=ng.float32)
    p = ng.placeholder(ng.complex64, [2])
    got = sess.run(p * b, {p: [1.0, 1j]})            # a real or complex feed for a complex one
    np.testing.assert_array_equal(got, np.array([1, 2j], np.complex64))
    r = ng.placeholder(ng.float32, [2])
    with pytest.raises(TypeError, match="lose information"):
        sess.run(r, {r: np.array([1j, 1.0])})


def test_python_scalars_take_the_complex_dtype():
    z = ng.placeholder(ng.complex64, [2])
    assert (z * 2.0).dtype == ng.complex64 and (z + 1).dtype == ng.complex64
    assert (z * (1 + 2j)).dtype == ng.complex64
    r = ng.placeholder(ng.float32, [2])
    n = len(ng.get_default_graph().get_operations())
    with pytest.raises(TypeError):
        r * (1 + 2j)            # noqa: B018  (TF: a complex scalar does not convert to float32)
    with pytest.raises(TypeError, match="same dtype"):
        z + r                   # noqa: B018
    assert len(ng.get_default_graph().get_operations()) == n


def test_cast_keeps_the_real_part():
    z = ng.constant(np.array([1.5 + 2j, 1j, 0j, -2.7 - 1j], np.complex64))
    r = ng.constant(np.array([1.5, -2.0], np.float32))
    fetches = [ng.cast(z, ng.float32), ng.cast(z, ng.int32), ng.cast(z, ng.bool),
               ng.cast(z, ng.complex128), ng.cast(r, ng.complex64),
               ng.cast(ng.constant([3, -2]), ng.complex128)]
    got, ref = run(fetches)
    # TF 2.21: Cast drops the imaginary part, so 1j becomes False
    want = [np.array([1.5, 0, 0, -2.7], np.float32), np.array([1, 0, 0, -2], np.int32),
            np.array([True, False, False, True]),
            np.array([1.5 + 2j, 1j, 0j, -2.7 - 1j], np.complex64).astype(np.complex128),
            np.array([1.5, -2], np.complex64), np.array([3, -2], np.complex128)]
    for g, r_, w in zip(got, ref, want):
        assert g.dtype == w.dtype
        np.testing.assert_array_equal(g, w)
        np.testing.assert_array_equal(r_, w)


# --- the complex ops ------------------------------------------------------------------------------
def test_complex_real_imag_conj_angle_abs():
    re = ng.placeholder(ng.float32, [2, 3])
    im = ng.placeholder(ng.float32, [3])            # broadcasts, as TF's Complex
    z = ng.complex(re, im)
    assert z.dtype == ng.complex64 and z.shape.as_list() == [2, 3]
    outs = [z, ng.real(z), ng.imag(z), ng.conj(z), ng.math.angle(z), ng.abs(z), abs(z)]
    assert [t.dtype for t in outs[1:]] == [ng.float32, ng.float32, ng.complex64, ng.float32,
                                          ng.float32, ng.float32]
    rv = np.array([[1.0, -2.0, 0.0], [0.5, -0.0, 3.0]], np.float32)
    iv = np.array([0.0, 1.5, -4.0], np.float32)
    got, ref = run(outs, {re: rv, im: iv})
    zv = (rv + 1j * iv).astype(np.complex64)
    want = [zv, zv.real, zv.imag, np.conj(zv), np.angle(zv), np.abs(zv), np.abs(zv)]
    for g, r, w in zip(got, ref, want):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=0)
        np.testing.assert_allclose(r, w, rtol=1e-6, atol=0)


def test_real_tensors_pass_through_as_tf():
    r = ng.constant([-1.0, 2.0, 0.0])
    assert ng.real(r) is r and ng.conj(r) is r and ng.math.conj(r) is r
    got, ref = run([ng.imag(r), ng.math.angle(r), ng.imag(ng.constant([1, 2]))])
    for vals in (got, ref):
        np.testing.assert_array_equal(vals[0], [0, 0, 0])
        np.testing.assert_allclose(vals[1], [np.pi, 0, 0])
        np.testing.assert_array_equal(vals[2], [0, 0])


def test_builder_errors_leave_the_graph_unchanged():
    g = ng.get_default_graph()
    f32 = ng.placeholder(ng.float32, [2])
    f64 = ng.placeholder(ng.float64, [2])
    i32 = ng.placeholder(ng.int32, [2])
    b = ng.placeholder(ng.bool, [2])
    n = len(g.get_operations())
    with pytest.raises(TypeError, match="float32 float64. They must be consistent"):
        ng.complex(f32, f64)
    with pytest.raises(TypeError, match="int32 int32"):
        ng.complex(i32, i32)
    with pytest.raises(TypeError, match="Expected numeric"):
        ng.conj(b)
    with pytest.raises(TypeError):
        ng.math.angle(i32)              # pi does not fit an int32 tensor (TF's TypeError)
    with pytest.raises(TypeError, match="numeric"):
        ng.math.real(b)
    assert len(g.get_operations()) == n


# ops TF does not run on complex: TF's TypeError when the graph is built
NOT_COMPLEX = {
    "maximum": lambda z: ng.maximum(z, z), "less": lambda z: ng.less(z, z),
    "relu": lambda z: ng.nn.relu(z), "floor": lambda z: ng.floor(z), "erf": lambda z: ng.erf(z),
    "is_nan": lambda z: ng.is_nan(z), "floormod": lambda z: ng.floormod(z, z),
    "reduce_max": lambda z: ng.reduce_max(z), "softplus": lambda z: ng.nn.softplus(z),
    "raw_abs": lambda z: ng.ops.math.unary_op("Abs", z),
    "argmax": lambda z: ng.argmax(z), "argmin": lambda z: ng.argmin(z),
    "top_k": lambda z: ng.nn.top_k(z, 1), "raw_sign": lambda z: ng.ops.math.unary_op("Sign", z),
}


@pytest.mark.parametrize("name", sorted(NOT_COMPLEX))
def test_ops_tf_does_not_run_on_complex_raise_type_error(name):
    z = ng.placeholder(ng.complex64, [2])
    g = ng.get_default_graph()
    n = len(g.get_operations())
    with pytest.raises(TypeError, match="complex64"):
        NOT_COMPLEX[name](z)
    assert len(g.get_operations()) == n


def test_everyday_ops_on_complex_match_numpy():
    z = ng.placeholder(ng.complex128, [3])
    w = ng.placeholder(ng.complex128, [3])
    m = ng.reshape(z, [3, 1]) * ng.reshape(w, [1, 3])
    cases = [
        (z + w, Z + W), (z - w, Z - W), (z * w, Z * W), (z / w, Z / W), (-z, -Z),
        (ng.square(z), Z * Z), (ng.math.reciprocal(z), 1 / Z), (ng.exp(z), np.exp(Z)),
        (ng.math.log(z), np.log(Z)), (ng.sqrt(z), np.sqrt(Z)), (ng.math.rsqrt(z), 1 / np.sqrt(Z)),
        (ng.sin(z), np.sin(Z)), (ng.cos(z), np.cos(Z)), (ng.tanh(z), np.tanh(Z)),
        (ng.sigmoid(z), 1 / (1 + np.exp(-Z))), (ng.pow(z, w), Z ** W),
        (ng.math.squared_difference(z, w), np.abs(Z - W) ** 2 + 0j),
        (ng.reduce_sum(z), Z.sum()), (ng.reduce_mean(z), Z.mean()), (ng.reduce_prod(z), Z.prod()),
        (ng.add_n([z, w, z]), 2 * Z + W), (ng.equal(z, ng.conj(ng.conj(z))), [True] * 3),
        (ng.not_equal(z, w), [True] * 3), (ng.zeros_like(z), np.zeros(3, complex)),
        (ng.ones_like(z), np.ones(3, complex)),
        (ng.matmul(m, m, adjoint_a=True), np.conj(np.outer(Z, W)).T @ np.outer(Z, W)),
        (ng.matmul(m, m, adjoint_b=True), np.outer(Z, W) @ np.conj(np.outer(Z, W)).T),
        (ng.transpose(m, conjugate=True), np.conj(np.outer(Z, W)).T),
        (ng.linalg.adjoint(m), np.conj(np.outer(Z, W)).T), (ng.transpose(m), np.outer(Z, W).T),
        (ng.norm(z), np.linalg.norm(Z) + 0j), (ng.cumsum(z), np.cumsum(Z)),
        (ng.cumprod(z), np.cumprod(Z)),
    ]
    got, ref = run([t for t, _ in cases], {z: Z, w: W})
    for (t, want), g, r in zip(cases, got, ref):
        np.testing.assert_allclose(g, want, rtol=1e-12, atol=1e-15, err_msg=t.op.type)
        np.testing.assert_allclose(r, want, rtol=1e-12, atol=1e-15, err_msg=t.op.type)


def test_mixed_real_and_complex_graph_on_the_compiled_backend():
    """Real parts of a graph still run in fused kernels; the complex steps between them run
    their NumPy references; all of it agrees with the numpy backend."""
    x = ng.placeholder(ng.float64, [4])
    z = ng.complex(ng.tanh(x) * 2.0, x * x)
    y = ng.abs(ng.exp(z) * ng.conj(z)) + ng.sin(x)
    xv = np.array([0.1, -0.4, 0.9, 1.3])
    got, ref = run(y, {x: xv})
    zv = 2 * np.tanh(xv) + 1j * xv * xv
    np.testing.assert_allclose(got, np.abs(np.exp(zv) * np.conj(zv)) + np.sin(xv), rtol=1e-12)
    np.testing.assert_allclose(ref, got, rtol=1e-12)


# --- gradients --------------------------------------------------------------------------------------
def _loss(v):
    """A real loss that reads both parts of a complex tensor."""
    return ng.reduce_sum(ng.square(ng.real(v)) + 3.0 * ng.imag(v))


CASES = {
    "mul": lambda z, w: _loss(z * w),
    "div": lambda z, w: _loss(z / w),
    "exp": lambda z, w: _loss(ng.exp(z)),
    "log": lambda z, w: _loss(ng.math.log(z)),
    "sqrt": lambda z, w: _loss(ng.sqrt(z)),
    "reciprocal": lambda z, w: _loss(ng.math.reciprocal(z)),
    "tanh": lambda z, w: _loss(ng.tanh(z)),
    "sigmoid": lambda z, w: _loss(ng.sigmoid(z)),
    "pow": lambda z, w: _loss(ng.pow(z, w)),
    "asinh_acosh_atanh": lambda z, w: _loss(ng.asinh(z) + ng.acosh(w) + ng.atanh(z)),
    "abs": lambda z, w: ng.reduce_sum(ng.abs(z) * ng.real(w)),
    "angle": lambda z, w: ng.reduce_sum(ng.math.angle(z) * ng.math.imag(w)),
    "complex": lambda z, w: _loss(ng.complex(ng.imag(z), ng.real(w)) * z),
    "sum_mean_prod": lambda z, w: _loss(ng.reduce_sum(z * w)
                                        + ng.reduce_mean(z) * ng.reduce_prod(w)),
    "matmul_adj": lambda z, w: _loss(ng.matmul(ng.reshape(z, [3, 1]), ng.reshape(z * w, [3, 1]),
                                               adjoint_a=True)),
    "transpose_conj": lambda z, w: _loss(ng.transpose(ng.reshape(z, [1, 3]), conjugate=True)
                                         * ng.reshape(w, [3, 1])),
    "cast": lambda z, w: (ng.reduce_sum(ng.cast(z, ng.float64) * ng.imag(w))
                          + _loss(ng.cast(ng.real(w), ng.complex128) * z)),
    # TF's Cumprod gradient does not conjugate (finite differences disagree; TF's numbers kept)
    "cumprod": lambda z, w: _loss(ng.math.cumprod(z * w)),
    "norm": lambda z, w: _loss(ng.cast(ng.norm(z), ng.complex128) * w),
    "einsum": lambda z, w: _loss(ng.einsum("i,j->ij", z, w)),
    "broadcast_add": lambda z, w: _loss(ng.reshape(z, [3, 1]) + w),
    "reduce_mean_axis": lambda z, w: _loss(ng.reduce_mean(ng.reshape(z, [3, 1])
                                                          * ng.reshape(w, [1, 3]), axis=0)),
    # TF's complex SquaredDifference is |x - y|^2 + 0i and its gradient 2 grad (x - y): the
    # imaginary part of grad leaks in, so finite differences disagree (TF's numbers kept)
    "squared_difference": lambda z, w: _loss(ng.math.squared_difference(z, w)),
}
NOT_FD = {"squared_difference", "cumprod"}

# TF 2.21 (tf.compat.v1 graph mode, complex128, the same Z and W): loss, d/dz, d/dw
TF = {
    "mul": (6.911300000000001, [[-0.17+1.672j, -0.18+3.06j, 2.464-1.072j], [1.802+1.756j, 3.66+0.42j, -1.692+3.52j]]),  # noqa: E501
    "div": (6.3485110318404, [[5.279429251+3.8882283j, -0.8666666667+3.044444444j, -1.9-3.7j], [-9.473943171+2.56960105j, -3.595555556-1.242962963j, -5.605-2.265j]]),  # noqa: E501
    "exp": (11.600670325806524, [[9.233061715+2.655344815j, 2.206503327+0.5643845806j, 12.20377747+18.01671323j]]),  # noqa: E501
    "log": (6.016647350763988, [[-2.31007391+2.965672052j, -2.599007138-0.4703071608j, 1.260162269+1.974932388j]]),  # noqa: E501
    "sqrt": (4.9895066717550725, [[0.5053415545+1.862668251j, -0.7479393084+1.335068774j, 1.219546305+1.097731525j]]),  # noqa: E501
    "tanh": (6.793089451880229, [[-0.186572045+2.299390271j, 5.046986148+11.25228086j, 1.128426076+0.2022792285j]]),  # noqa: E501
    "sigmoid": (2.1157199373806788, [[0.2134121823+0.7249443888j, 0.4425943068+0.9360467042j, 0.4299214228+0.4592031747j]]),  # noqa: E501
    "pow": (6.391719810243259, [[-0.07566215633+2.36217105j, 0.2019034644+1.608435913j, -0.9817608691-3.060111268j], [0.606449684-1.89398345j, 0.006860659409-3.588173409j, 0.0853532349+2.212499243j]]),  # noqa: E501
    "abs": (0.9092707700041518, [[0.4341215711+0.2480694692j, -0.2368056652+0.8682874391j, -0.3692307692+0.1538461538j], [0.8062257748+0j, 1.140175425+0j, 1.3+0j]]),  # noqa: E501
    "angle": (0.13145239417463267, [[0.1230769231-0.2153846154j, -0.2538461538-0.06923076923j, 0.2366863905+0.5680473373j], [0+0.5191461142j, 0+1.837048376j, 0-0.3947911197j]]),  # noqa: E501
    "complex": (6.048800000000001, [[1.564+2.432j, -0.204+9.768j, -0.4-5.56j], [2.036+0j, 2.004+0j, 2.8+0j]]),  # noqa: E501
    "sum_mean_prod": (7.088196000000001, [[-0.60768+1.26168j, 0.50352+2.94768j, 3.26712-0.46632j], [1.38504+1.04544j, 4.495856-0.138928j, -2.478504+4.109688j]]),  # noqa: E501
    "matmul_adj": (5.506761000000001, [[0.3066+0.1752j, -1.42452+5.22324j, 4.18752-1.7448j], [1.0647+1.95j, 2.1294+3.9j, 2.76822+5.07j]]),  # noqa: E501
    "transpose_conj": (-1.1291000000000002, [[-0.33-1.608j, 1.008-2.664j, 3.104-0.208j], [-0.822+2.316j, -3.336-0.768j, -0.612+4.48j]]),  # noqa: E501
    "cast": (5.325800000000001, [[0.15+1.5j, -0.186+2.7j, 1.184-1.2j], [1.69+0.7j, 3.462-0.3j, -2.652+1.2j]]),  # noqa: E501
    "squared_difference": (22.548900000000007, [[-3.28+2.16j, -14.784-0.544j, 35-12.5j], [3.28-2.16j, 14.784+0.544j, -35+12.5j]]),  # noqa: E501
    "asinh_acosh_atanh": (17.700446522903448, [[6.918329252+3.332875515j, 1.686525785+4.116870399j, 0.4879382713+4.779534234j], [3.718832204-2.968135215j, -3.684606373+1.343838868j, -3.122821263+3.431771611j]]),  # noqa: E501
    "cumprod": (0.4913208400000004, [[1.15237936-0.56132192j, -1.49685624+1.06189848j, -0.63764064+1.13332752j], [0.41480336-1.87367552j, 1.17448776+1.86702072j, -0.37525644-1.85241888j]]),  # noqa: E501
    "norm": (9.592071687651506, [[2.698629171+1.542073812j, -1.156555359+4.240702983j, 4.626221435-1.927592265j], [3.64+5.723635209j, 6.552+5.723635209j, -2.912+5.723635209j]]),  # noqa: E501
    "einsum": (10.8368, [[4.528+3.826j, 2.298+4.604j, 5.478+2.59j], [4.76+4.802j, 7.026+6.942j, 2.424+6.872j]]),  # noqa: E501
    "broadcast_add": (30.020000000000003, [[6.2+9j, 0.2+9j, 9.2+9j], [6.2+9j, 8.6+9j, 0.8+9j]]),  # noqa: E501
    "reduce_mean_axis": (2.9259111111111116, [[1.367111111+1.224444444j, 1.367111111+1.224444444j, 1.367111111+1.224444444j], [1.355555556+1.377777778j, 1.405333333+1.346666667j, 0.488+1.92j]]),  # noqa: E501
    "reciprocal": (-1.7798396414691362, [[2.294037324-5.197997269j, -1.477469276+1.807919891j, -1.852155327-0.6532887463j]]),  # noqa: E501
}


def _fd_grad(sess, loss, xs, vals, k, eps=1e-6):
    """Central differences of `loss` in the real and imaginary part of each entry of xs[k]."""
    out = np.zeros(vals[k].shape, complex)
    for i in range(vals[k].size):
        for unit in (1, 1j):
            diffs = []
            for sign in (1, -1):
                v = vals[k].copy()
                v.flat[i] += sign * eps * unit
                feed = dict(zip(xs, vals))
                feed[xs[k]] = v
                diffs.append(sess.run(loss, feed))
            out.flat[i] += unit * (diffs[0] - diffs[1]) / (2 * eps)
    return out


# The elementwise cases share one graph and one run a backend: their loops (over the same three
# entries) merge, so they compile far less together than one by one (CONTRIBUTING.md's test
# budget); the others bring reductions, products or reshapes of their own and run alone.
ELEMENTWISE = ["mul", "div", "exp", "log", "sqrt", "reciprocal", "tanh", "sigmoid", "pow",
               "asinh_acosh_atanh", "abs", "angle", "complex"]


def _gradient_case(name):
    z = ng.placeholder(ng.complex128, [3])
    w = ng.placeholder(ng.complex128, [3])
    loss = CASES[name](z, w)
    grads = [g for g in ng.gradients(loss, [z, w]) if g is not None]
    return z, w, loss, grads


@pytest.fixture(scope="module")
def elementwise_gradients():
    """{name: (z, w, loss, grads, values on the backend under test, on the numpy backend)}."""
    graph = ng.Graph()
    with graph.as_default():
        cases = {name: _gradient_case(name) for name in ELEMENTWISE}
    fetches = {name: [loss] + grads for name, (_, _, loss, grads) in cases.items()}
    feed = {x: v for z, w, _, _ in cases.values() for x, v in ((z, Z), (w, W))}
    with ng.Session(graph=graph) as s:
        got = s.run(fetches, feed)
    with ng.Session(backend="numpy", graph=graph) as s:
        ref = s.run(fetches, feed)
    return graph, {name: case + (got[name], ref[name]) for name, case in cases.items()}


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_elementwise_gradients_match_tf_and_finite_differences(elementwise_gradients, name):
    graph, cases = elementwise_gradients
    _check_gradients(name, graph, *cases[name])


@pytest.mark.parametrize("name", sorted(set(CASES) - set(ELEMENTWISE)))
def test_gradients_match_tf_and_finite_differences(name):
    z, w, loss, grads = _gradient_case(name)
    got, ref = run([loss] + grads, {z: Z, w: W})
    _check_gradients(name, ng.get_default_graph(), z, w, loss, grads, got, ref)


def _check_gradients(name, graph, z, w, loss, grads, got, ref):
    assert all(g.dtype == ng.complex128 for g in grads)
    tf_loss, tf_grads = TF[name]
    for vals in (got, ref):
        np.testing.assert_allclose(vals[0], tf_loss, rtol=1e-12)
        assert len(vals) - 1 == len(tf_grads)
        for g, want in zip(vals[1:], tf_grads):
            np.testing.assert_allclose(g, want, rtol=1e-8, atol=1e-9)
    if name not in NOT_FD:
        with ng.Session(backend="numpy", graph=graph) as s:
            for k, g in enumerate(got[1:]):
                np.testing.assert_allclose(g, _fd_grad(s, loss, [z, w], [Z, W], k),
                                           rtol=1e-6, atol=1e-6)


def test_sign_of_complex_is_x_over_its_modulus_with_tf_gradient():
    """TF builds sign(z) as div_no_nan(z, |z|): 0 at 0, and a gradient (TF 2.21's numbers)."""
    z = ng.placeholder(ng.complex128, [3])
    y = ng.sign(z)
    loss = ng.reduce_sum(ng.real(y * W) + ng.square(ng.imag(y)))
    g, = ng.gradients(loss, z)
    zv = np.array([Z[0], 0, Z[2]])
    got, ref = run([y, loss, g], {z: zv})
    for vals in (got, ref):
        np.testing.assert_allclose(vals[0], [0.86824314 + 0.49613894j, 0, 0.92307692 - 0.38461538j],
                                   atol=1e-8)
        np.testing.assert_allclose(vals[1], 0.8658937374318212, rtol=1e-12)
        np.testing.assert_allclose(vals[2], [-0.48438007 + 0.84766513j, 0,
                                             -0.47407304 - 1.13777529j], atol=1e-8)


@pytest.mark.parametrize("dtype", [ng.complex64, ng.complex128])
def test_compute_gradient_treats_complex_as_pairs_of_reals(dtype):
    z = ng.placeholder(dtype, [3])
    y = ng.exp(z) * ng.constant(W.astype(dtype.np))
    init = Z.astype(dtype.np)
    jt, jn = ng.test.compute_gradient(z, [3], y, [3], x_init_value=init)
    assert jt.shape == jn.shape == (6, 6)
    tol = 1e-2 if dtype == ng.complex64 else 1e-6
    assert ng.test.compute_gradient_error(z, [3], y, [3], x_init_value=init) < tol
    # a real x and a complex y: 3 rows, 6 columns
    r = ng.placeholder(dtype.real_dtype, [3])
    jt, jn = ng.test.compute_gradient(r, [3], ng.complex(r, r * r), [3],
                                      x_init_value=Z.real.astype(dtype.real_dtype.np))
    assert jt.shape == (3, 6)
    np.testing.assert_allclose(jt, jn, atol=tol)


def test_complex_y_needs_grad_ys():
    z = ng.placeholder(ng.complex64, [2])
    with pytest.raises(TypeError, match="must set grad_ys"):
        ng.gradients(ng.exp(z), z)
    with pytest.raises(TypeError, match="must be complex"):
        ng.gradients(ng.exp(z), z, grad_ys=ng.constant([1.0, 1.0]))
    g, = ng.gradients(ng.exp(z), z, grad_ys=ng.constant(np.ones(2, np.complex64)))
    assert g.dtype == ng.complex64


def test_second_derivative_through_complex_ops():
    """d/dx of d/dx |exp(i x)|^2 * x^2 through Complex, Exp, ComplexAbs: x^2 -> 2."""
    x = ng.placeholder(ng.float64, [])
    y = ng.square(ng.abs(ng.exp(ng.complex(ng.zeros_like(x), x)))) * x * x
    dx, = ng.gradients(y, x)
    ddx, = ng.gradients(dx, x)
    got, ref = run([dx, ddx], {x: 0.7})
    for vals in (got, ref):
        np.testing.assert_allclose(vals, [1.4, 2.0], rtol=1e-12)


# --- batching rules: the row test of each new op (tests/test_jacobians.py collects them) ---------
def _parts(s):
    return ng.complex(s, ng.sin(s))


ROW_CASES = {
    "Complex": lambda s: ng.real(ng.complex(s, 2.0 * s) * ng.complex(s, ng.constant(0.5, ng.float64))),
    "Real": lambda s: ng.real(_parts(s) * _parts(s)),
    "Imag": lambda s: ng.imag(_parts(s) * _parts(s)),
    "Conj": lambda s: ng.imag(ng.conj(_parts(s)) * _parts(s * s)),
    "Angle": lambda s: ng.math.angle(_parts(s)),
    "ComplexAbs": lambda s: ng.abs(_parts(s)),
}


@pytest.mark.parametrize("op_type", sorted(ROW_CASES))
def test_batching_rule_matches_rows(op_type):
    assert_rule_matches_rows(op_type, ROW_CASES[op_type])


def test_jacobian_of_a_complex_graph_is_vectorised():
    x = ng.placeholder(ng.float64, [3])
    y = ng.abs(ng.exp(ng.complex(x, x * x)))            # exp(x) |exp(i x^2)| = exp(x)
    jac = ng.jacobian(y, x)
    with ng.Session(backend="numpy") as s:
        np.testing.assert_allclose(s.run(jac, {x: [0.1, 0.2, 0.3]}),
                                   np.diag(np.exp([0.1, 0.2, 0.3])), rtol=1e-12)


# --- complex ops in fused cpu loops ----------------------------------------------------------------
def _complex_chain(dtype):
    z = ng.placeholder(dtype, [5])
    w = ng.placeholder(dtype, [5])
    y = (ng.exp(z) * w + ng.conj(z) * ng.square(z) - w / z + ng.sqrt(w) * ng.tanh(z)
         + ng.math.rsqrt(z) + ng.sigmoid(w) + ng.math.log(w) * ng.sin(z) * ng.cos(w)
         + ng.math.reciprocal(w) + ng.math.divide_no_nan(z, w)
         + ng.math.squared_difference(z, w))
    parts = ng.abs(y) + ng.math.angle(y) + ng.real(y) * ng.imag(y)
    back = ng.cast(parts, dtype) * ng.complex(ng.real(z), ng.imag(w))
    return z, w, [y, parts, back, ng.equal(z, w), ng.cast(y, ng.bool)]


@pytest.mark.backend_independent
@pytest.mark.parametrize("dtype", [ng.complex64, ng.complex128])
def test_complex_chain_is_one_fused_kernel(dtype, switches):
    from plan_checks import plan_of
    z, w, outs = _complex_chain(dtype)
    zv = (Z[[0, 1, 2, 0, 1]] * [1, 2, -1, 0.5, 3]).astype(dtype.np)
    wv = np.concatenate([W, [0, 2 - 1j]]).astype(dtype.np)       # a zero divisor: div_no_nan
    feed = {z: zv, w: wv}
    with ng.Session(backend="numpy") as s:
        ref = s.run(outs, feed)
    plan = plan_of(outs, feed)
    assert len(plan.kernels) == 1 and plan.opaque == [], plan
    with ng.Session(backend="cpu") as s:
        got = s.run(outs, feed)
    switches(NUMGRAD_FUSE_COMPLEX=False)
    unfused = plan_of(outs, feed)
    assert "Exp" in unfused.opaque and "ComplexAbs" in unfused.opaque
    rtol = 2e-5 if dtype == ng.complex64 else 1e-12
    for g, r in zip(got, ref):
        assert g.dtype == r.dtype
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol)


@pytest.mark.backend_independent
def test_fused_gradient_kernels_of_complex_values_give_zero_where_dy_is_zero():
    """SqrtGrad / RsqrtGrad / ReciprocalGrad in a fused loop: conj(y) as TF's kernels, and 0
    where the incoming gradient is 0 (even where y is 0 or inf)."""
    y = ng.placeholder(ng.complex128, [4])
    dy = ng.placeholder(ng.complex128, [4])
    outs = [ng.ops.math._sqrt_grad(y, dy), ng.ops.math._rsqrt_grad(y, dy),
            ng.ops.math._reciprocal_grad(y, dy)]
    feed = {y: np.array([0, 1 + 1j, np.inf, 2 - 1j]), dy: np.array([0, 0.5j, 0, 1 + 2j])}
    with ng.Session(backend="cpu") as s:
        got = s.run(outs, feed)
    with ng.Session(backend="numpy") as s:
        ref = s.run(outs, feed)
    cy = np.conj(feed[y][[1, 3]])
    d = feed[dy][[1, 3]]
    want = [0.5 * d / cy, -0.5 * d * cy ** 3, -d * cy ** 2]
    for g, r, w in zip(got, ref, want):
        for v in (g, r):
            assert v[0] == 0 and v[2] == 0
            np.testing.assert_allclose(v[[1, 3]], w, rtol=1e-13)


def test_casts_and_selects_of_complex_values_in_fused_loops():
    z = ng.placeholder(ng.complex64, [4])
    b = ng.placeholder(ng.bool, [4])
    i = ng.placeholder(ng.int32, [4])
    outs = [ng.cast(b, ng.complex64) * z, ng.cast(i, ng.complex64) * z,
            ng.cast(z * z, ng.int32) + i, ng.cast(z * z, ng.bool), ng.cast(z * z, ng.complex128),
            ng.where(b, z * z, z), ng.cast(z * z, ng.float64)]
    zv = np.array([1 + 1j, 0.5j, -2, 3 - 1j], np.complex64)
    got, ref = run(outs, {z: zv, b: [True, False, True, False], i: [1, 2, 3, 4]})
    sq = zv * zv
    ints = np.array([1, 2, 3, 4], np.int32)
    want = [zv * np.array([1, 0, 1, 0], np.complex64), zv * ints.astype(np.complex64),
            sq.real.astype(np.int32) + ints, sq.real != 0, sq.astype(np.complex128),
            np.where([True, False, True, False], sq, zv), sq.real.astype(np.float64)]
    for g, r, w in zip(got, ref, want):
        assert g.dtype == r.dtype == np.asarray(w).dtype
        np.testing.assert_allclose(g, w, rtol=1e-6)
        np.testing.assert_allclose(r, w, rtol=1e-6)
