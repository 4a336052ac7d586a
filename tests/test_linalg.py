"""Linear-algebra ops (numgrad/ops/linalg.py): values against NumPy, gradients by finite
differences, TF's gradient conventions (as recorded numbers, and against TF when installed),
batching rules, errors.  Sessions use NUMGRAD_BACKEND (run with it unset and =numpy)."""
import numpy as np
import pytest

import numgrad as ng
from numgrad import batching
from batching_rows import assert_rule_matches_rows
from gradient_batch import GradientBatch, assert_jacobians
from numgrad.ops.registry import get_op_def

F32, F64 = ng.float32, ng.float64
RNG = np.random.default_rng(17)


def _spd(shape, dtype=np.float64, rng=RNG):
    a = rng.normal(size=shape)
    n = shape[-1]
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


def _lower(shape, dtype=np.float64, rng=RNG):
    a = np.tril(rng.normal(size=shape))
    n = shape[-1]
    idx = np.arange(n)
    a[..., idx, idx] = 2.0 + np.abs(a[..., idx, idx])
    return a.astype(dtype)


def _run(fetches, feeds=None):
    with ng.Session() as s:
        return s.run(fetches, feeds)


# === values against NumPy ===================================================================
def _np_tri_solve(a, b, lower, adjoint):
    t = np.tril(a) if lower else np.triu(a)
    return np.linalg.solve(np.swapaxes(t, -1, -2) if adjoint else t, b)


VALUE_CASES = {
    "cholesky": (lambda x: ng.cholesky(x), np.linalg.cholesky, _spd),
    "matrix_inverse": (lambda x: ng.matrix_inverse(x), np.linalg.inv, _spd),
    "matrix_inverse_adjoint": (lambda x: ng.matrix_inverse(x, adjoint=True),
                               lambda a: np.swapaxes(np.linalg.inv(a), -1, -2),
                               lambda s, d: (_spd(s) + np.triu(np.ones(s[-2:]))).astype(d)),
    "matrix_determinant": (lambda x: ng.matrix_determinant(x), np.linalg.det, _spd),
    "slogdet": (lambda x: ng.stack(list(ng.linalg.slogdet(x))),
                lambda a: np.stack(np.linalg.slogdet(a)), _spd),
    "logdet": (lambda x: ng.linalg.logdet(x), lambda a: np.linalg.slogdet(a)[1], _spd),
    "trace": (lambda x: ng.trace(x), lambda a: np.trace(a, axis1=-2, axis2=-1), _spd),
    "matrix_diag_part": (lambda x: ng.matrix_diag_part(x),
                         lambda a: np.diagonal(a, axis1=-2, axis2=-1), _spd),
    "matrix_diag": (lambda x: ng.matrix_diag(ng.matrix_diag_part(x)),
                    lambda a: np.diagonal(a, axis1=-2, axis2=-1)[..., None] * np.eye(a.shape[-1]),
                    _spd),
    "band_part": (lambda x: ng.matrix_band_part(x, 1, 0), lambda a: np.tril(np.triu(a, -1)), _spd),
    "band_part_upper": (lambda x: ng.linalg.band_part(x, 0, -1), np.triu, _spd),
    "set_diag": (lambda x: ng.matrix_set_diag(x, ng.matrix_diag_part(x) * 2.0),
                 lambda a: a + np.diagonal(a, axis1=-2, axis2=-1)[..., None] * np.eye(a.shape[-1]),
                 _spd),
    "matrix_transpose": (lambda x: ng.matrix_transpose(x), lambda a: np.swapaxes(a, -1, -2), _spd),
    "adjoint": (lambda x: ng.linalg.adjoint(x * 2.0), lambda a: 2 * np.swapaxes(a, -1, -2), _spd),
    "tri_solve": (lambda x: ng.matrix_triangular_solve(x, x[..., :2] + 1.0),
                  lambda a: _np_tri_solve(a, a[..., :2] + 1, True, False), _lower),
    "tri_solve_adjoint_upper": (
        lambda x: ng.matrix_triangular_solve(ng.matrix_transpose(x), x[..., :3] * 1.0,
                                             lower=False, adjoint=True),
        lambda a: _np_tri_solve(np.swapaxes(a, -1, -2), a[..., :3], False, True), _lower),
    "cholesky_solve": (lambda x: ng.cholesky_solve(ng.cholesky(x), x[..., :1] + 1.0),
                       lambda a: np.linalg.solve(a, a[..., :1] + 1), _spd),
    "matrix_solve": (lambda x: ng.matrix_solve(x, x[..., ::-1] * 1.0),
                     lambda a: np.linalg.solve(a, a[..., ::-1]), _spd),
    "matrix_solve_adjoint": (
        lambda x: ng.matrix_solve(x + ng.matrix_band_part(x, 0, -1), x[..., :2] * 1.0,
                                  adjoint=True),
        lambda a: np.linalg.solve(np.swapaxes(a + np.triu(a), -1, -2), a[..., :2]), _spd),
    "eigvalsh": (lambda x: ng.self_adjoint_eigvals(x), np.linalg.eigvalsh, _spd),
    "svd_values": (lambda x: ng.svd(x, compute_uv=False),
                   lambda a: np.linalg.svd(a, compute_uv=False), _lower),
    "expm": (lambda x: ng.linalg.expm(x * 0.3), None, _lower),
    "lstsq": (lambda x: ng.linalg.lstsq(x[..., :3], x[..., 3:] * 1.0),
              lambda a: np.linalg.solve(np.swapaxes(a[..., :3], -1, -2) @ a[..., :3],
                                        np.swapaxes(a[..., :3], -1, -2) @ a[..., 3:]), _spd),
    "matvec": (lambda x: ng.linalg.matvec(x, x[..., 0]),
               lambda a: (a @ a[..., 0][..., None])[..., 0], _spd),
}


def _expm_ref(a):
    """exp(a) by its Taylor series with scaling and squaring (float64), independent of Padé."""
    a = np.asarray(a, np.float64)
    out = []
    for m in a.reshape((-1,) + a.shape[-2:]):
        s = max(0, int(np.ceil(np.log2(max(np.abs(m).sum(0).max(), 1e-300)))) + 4)
        x = m / 2.0 ** s
        term, total = np.eye(len(m)), np.eye(len(m))
        for k in range(1, 30):
            term = term @ x / k
            total = total + term
        for _ in range(s):
            total = total @ total
        out.append(total)
    return np.array(out).reshape(a.shape)


VALUE_CASES["expm"] = (VALUE_CASES["expm"][0], lambda a: _expm_ref(0.3 * a), _lower)


@pytest.mark.parametrize("shape", [(3, 4, 4), (4, 4)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", sorted(VALUE_CASES))
def test_values_against_numpy(case, dtype, shape):
    build, ref, gen = VALUE_CASES[case]
    a = gen(shape, np.float64)
    x = ng.placeholder(ng.as_dtype(dtype), shape)
    y = build(x)
    got = _run(y, {x: a.astype(dtype)})
    want = ref(a.astype(dtype).astype(np.float64))
    assert got.dtype == dtype and got.shape == want.shape
    tol = 2e-4 if dtype == np.float32 else 1e-10
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


def test_decompositions_reconstruct():
    a = RNG.normal(size=(3, 5, 4))
    x = ng.constant(a)
    q, r = ng.qr(x)
    s, u, v = ng.svd(x)
    sw, uw, vw = ng.linalg.svd(ng.matrix_transpose(x))
    spd = _spd((3, 4, 4))
    e, w = ng.self_adjoint_eig(ng.constant(spd))
    qv, rv, sv, uv, vv, swv, uwv, vwv, ev, wv = _run([q, r, s, u, v, sw, uw, vw, e, w])
    assert qv.shape == (3, 5, 4) and rv.shape == (3, 4, 4)
    np.testing.assert_allclose(qv @ rv, a, atol=1e-12)
    np.testing.assert_allclose(np.tril(rv, -1), 0, atol=0)
    np.testing.assert_allclose(np.swapaxes(qv, -1, -2) @ qv, np.broadcast_to(np.eye(4), (3, 4, 4)),
                               atol=1e-12)
    assert uv.shape == (3, 5, 4) and vv.shape == (3, 4, 4) and uwv.shape == (3, 4, 4)
    np.testing.assert_allclose((uv * sv[..., None, :]) @ np.swapaxes(vv, -1, -2), a, atol=1e-12)
    np.testing.assert_allclose((uwv * swv[..., None, :]) @ np.swapaxes(vwv, -1, -2),
                               np.swapaxes(a, -1, -2), atol=1e-12)
    np.testing.assert_allclose(sv, np.linalg.svd(a, compute_uv=False), atol=1e-12)
    np.testing.assert_allclose(ev, np.linalg.eigvalsh(spd), atol=1e-12)
    np.testing.assert_allclose((wv * ev[..., None, :]) @ np.swapaxes(wv, -1, -2), spd, atol=1e-10)
    q2, r2 = _run(list(ng.qr(ng.constant(a), full_matrices=True)))
    assert q2.shape == (3, 5, 5) and r2.shape == (3, 5, 4)
    np.testing.assert_allclose(q2 @ r2, a, atol=1e-12)


def test_cholesky_reads_lower_triangle_and_gives_nan_when_not_pd():
    good = _spd((4, 4))
    junk = good + np.triu(RNG.normal(size=(4, 4)), 1)           # upper triangle is not read
    bad = np.array([[1.0, 2.0], [2.0, 1.0]])                     # indefinite
    x = ng.placeholder(F64, [2, 4, 4])
    got = _run(ng.cholesky(x), {x: np.stack([junk, -good])})
    np.testing.assert_allclose(got[0], np.linalg.cholesky(good), atol=1e-12)
    assert np.isnan(got[1]).all()
    assert np.isnan(_run(ng.cholesky(ng.constant(bad)))).all()


def test_triangular_solve_reads_only_its_triangle_and_broadcasts():
    low = _lower((4, 4))
    junk = low + np.triu(RNG.normal(size=(4, 4)), 1)
    b = RNG.normal(size=(3, 4, 2))
    got = _run(ng.matrix_triangular_solve(ng.constant(junk), ng.constant(b)))
    np.testing.assert_allclose(got, np.linalg.solve(low, b), atol=1e-12)
    got = _run(ng.linalg.triangular_solve(ng.constant(junk.T), ng.constant(b), lower=False,
                                          adjoint=True))
    np.testing.assert_allclose(got, np.linalg.solve(low, b), atol=1e-12)


def test_eye_diag_and_tensor_diag():
    np.testing.assert_array_equal(_run(ng.eye(3)), np.eye(3, dtype=np.float32))
    np.testing.assert_array_equal(_run(ng.eye(2, 4, batch_shape=[3], dtype=F64)),
                                  np.broadcast_to(np.eye(2, 4), (3, 2, 4)))
    n = ng.placeholder(ng.int32, [])
    e = ng.linalg.eye(n, batch_shape=[2], dtype=F64)
    assert e.shape.as_list() == [2, None, None]
    np.testing.assert_array_equal(_run(e, {n: 3}), np.broadcast_to(np.eye(3), (2, 3, 3)))
    d = np.arange(6.0).reshape(2, 3)
    t = _run(ng.diag(ng.constant(d)))
    assert t.shape == (2, 3, 2, 3)
    np.testing.assert_array_equal(t.reshape(6, 6), np.diag(d.ravel()))
    np.testing.assert_array_equal(_run(ng.diag_part(ng.constant(t))), d)
    np.testing.assert_array_equal(_run(ng.linalg.tensor_diag_part(ng.linalg.tensor_diag(d))), d)
    m = RNG.normal(size=(2, 3, 5))
    np.testing.assert_allclose(_run(ng.matrix_diag_part(ng.constant(m))),
                               np.diagonal(m, axis1=-2, axis2=-1))
    got = _run(ng.linalg.set_diag(ng.constant(m), ng.constant(np.ones((3,)))))   # broadcasts
    want = m.copy()
    want[:, [0, 1, 2], [0, 1, 2]] = 1.0
    np.testing.assert_allclose(got, want)


# === gradients: finite differences ============================================================
def _sym(x):
    """A well-conditioned SPD matrix from an unconstrained x (the ops read one triangle)."""
    n = x.shape[-1]
    return ng.matmul(x, x, transpose_b=True) + float(n) * ng.eye(n, dtype=x.dtype)


GRAD_CASES = {
    "cholesky": lambda x: ng.cholesky(_sym(x)) * np.arange(1.0, 10.0).reshape(3, 3),
    "cholesky_solve": lambda x: ng.cholesky_solve(ng.cholesky(_sym(x)), x[..., :2]),
    "logdet": lambda x: ng.linalg.logdet(_sym(x)),
    "tri_solve": lambda x: ng.matrix_triangular_solve(x + 3.0 * ng.eye(3, dtype=F64), x),
    "tri_solve_adjoint_upper": lambda x: ng.matrix_triangular_solve(
        x + 3.0 * ng.eye(3, dtype=F64), ng.sin(x), lower=False, adjoint=True),
    "matrix_solve": lambda x: ng.matrix_solve(_sym(x), ng.cos(x)),
    "matrix_solve_adjoint": lambda x: ng.matrix_solve(x + 3.0 * ng.eye(3, dtype=F64), x[..., :1],
                                                      adjoint=True),
    "matrix_inverse": lambda x: ng.matrix_inverse(x + 3.0 * ng.eye(3, dtype=F64)),
    "matrix_inverse_adjoint": lambda x: ng.matrix_inverse(x + 3.0 * ng.eye(3, dtype=F64),
                                                          adjoint=True),
    "matrix_determinant": lambda x: ng.matrix_determinant(x + 2.0 * ng.eye(3, dtype=F64)),
    "slogdet": lambda x: ng.linalg.slogdet(x + 3.0 * ng.eye(3, dtype=F64))[1],
    "diag_ops": lambda x: ng.matrix_diag(ng.matrix_diag_part(x) ** 2.0)
    + ng.matrix_set_diag(x, ng.sin(ng.matrix_diag_part(x))) + ng.matrix_band_part(x, 0, 1),
    "trace_transpose": lambda x: ng.trace(ng.matmul(x, ng.linalg.adjoint(x)))[:, None, None]
    * ng.matrix_transpose(x),
    "tensor_diag": lambda x: ng.diag(ng.diag_part(x[0]) ** 2.0) + ng.diag(x[1, 0]),
    "eigh": lambda x: ng.concat([ng.self_adjoint_eig(_sym(x))[0][..., None],
                                 ng.square(ng.self_adjoint_eig(_sym(x))[1])], -1),
    "eigvalsh": lambda x: ng.self_adjoint_eigvals(_sym(x)),
    "svd": lambda x: ng.concat([ng.svd(x)[0][..., None], ng.square(ng.svd(x)[1]),
                                ng.square(ng.svd(x)[2])], -1),
    "svd_values": lambda x: ng.svd(x, compute_uv=False),
    "qr": lambda x: ng.concat([ng.qr(x)[0], ng.qr(x)[1]], -1),
    "expm": lambda x: ng.linalg.expm(x),
    "lstsq": lambda x: ng.linalg.lstsq(x, ng.sin(x), l2_regularizer=0.1),
    "matmul_adjoint_broadcast": lambda x: ng.matmul(
        x, ng.constant(RNG.normal(size=(4, 1, 3, 3))), adjoint_a=True, adjoint_b=True),
}


@pytest.mark.parametrize("case", sorted(GRAD_CASES))
def test_gradient_finite_differences(case):
    """The gradients of the backend under test against central differences of the numpy
    backend's y (tests/gradient_batch.py: no plan compiled for y)."""
    x0 = RNG.uniform(-1, 1, size=(2, 3, 3))
    if case.startswith(("svd", "eigh", "eigvalsh")):
        x0 += np.diag([3.0, 1.0, -1.5])                   # well-separated values
    batch = GradientBatch(F64, delta=1e-6, reference="numpy")
    batch.add(case, [x0], GRAD_CASES[case])
    assert_jacobians(batch.jacobians()[case], tol=1e-6)


def test_qr_wide_gradient_finite_differences():
    x = ng.placeholder(F64, [2, 4])
    q, r = ng.qr(x)
    y = ng.concat([q, r], -1)
    with ng.Session():
        err = ng.test.compute_gradient_error(x, [2, 4], y, y.shape.as_list(),
                                             x_init_value=RNG.normal(size=(2, 4)), delta=1e-6)
    assert err < 1e-6


def test_second_derivative_through_cholesky():
    x = ng.placeholder(F64, [3, 3])
    y = ng.reduce_sum(ng.cholesky(_sym(x)) ** 2.0)
    g, = ng.gradients(y, x)
    with ng.Session():
        err = ng.test.compute_gradient_error(x, [3, 3], g, [3, 3],
                                             x_init_value=RNG.uniform(-1, 1, (3, 3)), delta=1e-6)
    assert err < 1e-6


# === TF's gradient conventions, recorded (no TF needed) =====================================
_A3 = np.array([[4, 2, 0.6], [2, 5, 1], [0.6, 1, 3]])
_W3 = np.arange(9.).reshape(3, 3) / 10 + 1
# tf.GradientTape (TF 2.21, CPU, float64) of the losses below w.r.t. _A3
TF_CHOLESKY_GRAD = np.array([[0.1622619432555153, 0.12933344111544304, 0.1538089079117543],
                             [0.12933344111544304, 0.29213363512324036, 0.3306649421529119],
                             [0.1538089079117543, 0.3306649421529119, 0.5390574734119319]])
TF_EIGH_GRAD = np.array([[1.9306951746787546, 0., 0.],
                         [1.7130117978929544, 2.162584452408457, 0.],
                         [-0.2022463222849994, 0.9720139411485554, 1.9067203729127893]])
TF_TRISOLVE_GRAD = np.array([[-0.08866666666666667, 0., 0.],
                             [-0.13816666666666666, -0.08526666666666669, 0.],
                             [-0.4691666666666667, -0.2896666666666667, -0.7751666666666667]])


def _tf_convention_losses(x):
    w = ng.constant(_W3)
    e, v = ng.linalg.eigh(x)
    return {"cholesky": ng.reduce_sum(ng.linalg.cholesky(x) * w),
            "eigh": ng.reduce_sum(e * ng.constant([1., 2., 3.], F64))
            + ng.reduce_sum(ng.square(v) * w),
            "trisolve": ng.reduce_sum(ng.linalg.triangular_solve(x, w) * w)}


def test_gradient_conventions_match_recorded_tf_numbers():
    x = ng.constant(_A3)
    losses = _tf_convention_losses(x)
    grads = {k: ng.gradients(v, x)[0] for k, v in losses.items()}
    got = _run(grads)
    np.testing.assert_allclose(got["cholesky"], TF_CHOLESKY_GRAD, rtol=1e-12)
    np.testing.assert_array_equal(got["cholesky"], got["cholesky"].T)     # symmetric
    np.testing.assert_allclose(got["eigh"], TF_EIGH_GRAD, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(got["trisolve"], TF_TRISOLVE_GRAD, rtol=1e-12, atol=1e-15)


# === against TF itself (skipped without TensorFlow) ===========================================
TF_CASES = {
    "cholesky": ("cholesky", lambda m, x: m.linalg.cholesky(x)),
    "cholesky_solve": ("cholesky_solve",
                       lambda m, x: m.linalg.cholesky_solve(m.linalg.cholesky(x), x[..., :2])),
    "logdet": ("logdet", lambda m, x: m.linalg.logdet(x)),
    "slogdet": ("slogdet", lambda m, x: m.linalg.slogdet(x)[1]),
    "det": ("det", lambda m, x: m.linalg.det(x)),
    "inv": ("inv", lambda m, x: m.linalg.inv(x)),
    "inv_adjoint": ("inv", lambda m, x: m.linalg.inv(x + m.linalg.band_part(x, 0, -1),
                                                     adjoint=True)),
    "solve": ("solve", lambda m, x: m.linalg.solve(x, x[..., ::-1])),
    "solve_adjoint": ("solve", lambda m, x: m.linalg.solve(x + m.linalg.band_part(x, 0, -1),
                                                           x[..., :2], adjoint=True)),
    "tri_solve": ("triangular_solve", lambda m, x: m.linalg.triangular_solve(x, x[..., :2])),
    "tri_solve_upper_adj": ("triangular_solve", lambda m, x: m.linalg.triangular_solve(
        x, x[..., 1:], lower=False, adjoint=True)),
    "eigh": ("eigh", lambda m, x: m.concat([m.linalg.eigh(x)[0][..., None],
                                            m.square(m.linalg.eigh(x)[1])], -1)),
    "eigvalsh": ("eigvalsh", lambda m, x: m.linalg.eigvalsh(x)),
    "svd": ("svd", lambda m, x: m.concat([m.linalg.svd(x)[0][..., None],
                                          m.square(m.linalg.svd(x)[1])], -1)),
    "svd_values": ("svd", lambda m, x: m.linalg.svd(x, compute_uv=False)),
    "qr_r_squared": ("qr", lambda m, x: m.square(m.linalg.qr(x)[1])),
    "expm": ("expm", lambda m, x: m.linalg.expm(x * 0.2)),
    "lstsq": ("lstsq", lambda m, x: m.linalg.lstsq(x, x[..., :1] + 1.0, l2_regularizer=0.5)),
    "diag_ops": ("diag", lambda m, x: m.linalg.diag(m.linalg.diag_part(x) ** 2)
                 + m.linalg.set_diag(x, m.sin(m.linalg.diag_part(x)))
                 + m.linalg.band_part(x, 1, 0) + m.linalg.trace(x)[..., None, None]),
}


@pytest.mark.parametrize("case", sorted(TF_CASES))
def test_gradients_match_tensorflow(case):
    tf = pytest.importorskip("tensorflow")
    _, build = TF_CASES[case]
    a = _spd((3, 4, 4)) + 0.1 * RNG.normal(size=(3, 4, 4)) * (case in ("svd", "qr_r_squared"))
    x = ng.constant(a)
    y = build(ng, x)
    wy = ng.constant(RNG.normal(size=y.shape.as_list()))
    g, = ng.gradients(ng.reduce_sum(y * wy), x)
    yv, gv, wv = _run([y, g, wy])
    xt = tf.constant(a)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        yt = build(tf, xt)
        lt = tf.reduce_sum(yt * wv)
    np.testing.assert_allclose(yv, yt.numpy(), rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(gv, tape.gradient(lt, xt).numpy(), rtol=1e-8, atol=1e-10)


def test_recorded_numbers_are_tensorflows():
    tf = pytest.importorskip("tensorflow")
    xt, w = tf.constant(_A3), tf.constant(_W3)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        e, v = tf.linalg.eigh(xt)
        losses = {"cholesky": tf.reduce_sum(tf.linalg.cholesky(xt) * w),
                  "eigh": tf.reduce_sum(e * [1., 2., 3.]) + tf.reduce_sum(tf.square(v) * w),
                  "trisolve": tf.reduce_sum(tf.linalg.triangular_solve(xt, w) * w)}
    for key, want in (("cholesky", TF_CHOLESKY_GRAD), ("eigh", TF_EIGH_GRAD),
                      ("trisolve", TF_TRISOLVE_GRAD)):
        np.testing.assert_allclose(tape.gradient(losses[key], xt).numpy(), want, rtol=1e-12,
                                   atol=1e-15)


# === batching and jacobians ===================================================================
def test_batched_jacobian_through_cholesky_equals_looped():
    x = ng.placeholder(F64, [3, 3])
    y = ng.cholesky_solve(ng.cholesky(_sym(x)), ng.sin(x)) + ng.linalg.logdet(_sym(x))
    j1 = ng.jacobian(y, x)
    j2 = ng.jacobian(y, x, experimental_use_pfor=False)
    v1, v2 = _run([j1, j2], {x: RNG.uniform(-1, 1, (3, 3))})
    assert v1.shape == (3, 3, 3, 3)
    np.testing.assert_allclose(v1, v2, rtol=1e-10, atol=1e-12)


def _c(v):
    return ng.constant(np.asarray(v, np.float64))


_C33 = RNG.normal(size=(3, 3))
_SPD33 = _spd((3, 3))
# one builder per op type: the seed s is a (2, 3) placeholder; each must use the op on s
ROW_CASES = {
    "Cholesky": lambda s: ng.cholesky(_c(_SPD33) + 0.1 * _sq(s))[:2],
    "MatrixTriangularSolve": lambda s: ng.matrix_triangular_solve(_c(_SPD33) + _sq(s) * 0.1,
                                                                  _c(_C33))[:2]
    + ng.transpose(ng.matrix_triangular_solve(_c(np.stack([_SPD33] * 3)), ng.transpose(s),
                                              lower=False)[1]),
    "MatrixSolve": lambda s: ng.transpose(ng.matrix_solve(_c(_SPD33), ng.transpose(s)))
    + ng.matrix_solve(_c(_SPD33) + 0.1 * _sq(s), _c(_C33), adjoint=True)[:2],
    "MatrixInverse": lambda s: ng.matrix_inverse(_c(_SPD33) + 0.1 * _sq(s))[:2],
    "MatrixDeterminant": lambda s: ng.matrix_determinant(_c(_SPD33) + 0.1 * _sq(s)) + s,
    "LogMatrixDeterminant": lambda s: ng.linalg.slogdet(_c(_SPD33) + 0.1 * _sq(s))[1] + s,
    "MatrixDiag": lambda s: ng.matrix_diag(s)[:, :, 0],
    "MatrixDiagPart": lambda s: ng.matrix_diag_part(ng.reshape(s, [3, 2]))[:, None] + s,
    "MatrixSetDiag": lambda s: ng.matrix_set_diag(_c(_C33[:2]), s[:, :2])
    + ng.matrix_set_diag(s, _c([1.0, 2.0])),
    "MatrixBandPart": lambda s: ng.matrix_band_part(s, 0, 1),
    "Diag": lambda s: ng.reshape(ng.diag(s), [6, 6])[:2, :3],
    "DiagPart": lambda s: ng.diag_part(ng.reshape(ng.concat([s] * 6, 0), [2, 3, 2, 3])),
    "Qr": lambda s: ng.qr(_c(_C33[:2]) + s)[1] ** 2.0 + s,
    "Svd": lambda s: ng.svd(_c(_C33[:2]) + s, compute_uv=False)[:, None] + s,
    "SelfAdjointEigV2": lambda s: ng.self_adjoint_eigvals(_c(_SPD33) + 0.1 * _sq(s))[None] + s,
    "MatrixExponential": lambda s: ng.linalg.expm(0.1 * _sq(s))[:2],
    "CholeskyGrad": lambda s: ng.ops.core.make_op("CholeskyGrad", [
        ng.cholesky(_c(_SPD33) + 0.1 * _sq(s)), _c(_C33)]).outputs[0][:2]
    + ng.ops.core.make_op("CholeskyGrad", [_c(np.linalg.cholesky(_SPD33)), _sq(s)]).outputs[0][1:],
}


def _sq(s):
    """A (3, 3) from the (2, 3) seed."""
    return ng.concat([s, s[:1] * 2.0], 0)


@pytest.mark.parametrize("op_type", sorted(ROW_CASES))
def test_batching_rule_matches_rows(op_type):
    assert_rule_matches_rows(op_type, ROW_CASES[op_type], rtol=1e-10, atol=1e-12)


def test_every_linalg_op_type_has_a_batching_rule_and_row_case():
    from numgrad.ops import registry
    ours = list(ROW_CASES)
    linalg_types = [t for t in registry.op_types()
                    if get_op_def(t).compute.__module__ == "numgrad.ops.linalg"]
    assert sorted(linalg_types) == sorted(ours)
    assert all(t in batching.BATCH_RULES for t in linalg_types)


# === errors ====================================================================================
@pytest.mark.parametrize("build, words", [
    (lambda: ng.cholesky(np.ones((3, 4))), ["Cholesky", "square", "[3,4]"]),
    (lambda: ng.cholesky(np.ones((4,))), ["Cholesky", "rank 2", "[4]"]),
    (lambda: ng.cholesky(np.ones((2, 2), np.int32)), ["Cholesky", "int32"]),
    (lambda: ng.matrix_inverse(np.ones((2, 3, 4))), ["MatrixInverse", "[2,3,4]"]),
    (lambda: ng.matrix_determinant([[1, 2], [3, 4]]), ["MatrixDeterminant", "int32"]),
    (lambda: ng.matrix_triangular_solve(np.eye(3), np.ones((4, 1))),
     ["MatrixTriangularSolve", "[3,3]", "[4,1]"]),
    (lambda: ng.matrix_solve(np.ones((2, 3, 3)), np.ones((4, 3, 1))),
     ["MatrixSolve", "[2,3,3]", "[4,3,1]"]),
    (lambda: ng.matrix_set_diag(np.ones((3, 4)), np.ones((4,))), ["MatrixSetDiag", "[3,4]", "[4]"]),
    (lambda: ng.svd([1.0, 2.0]), ["Svd", "rank 2"]),
    (lambda: ng.linalg.logdet(np.ones((2, 3))), ["Cholesky", "square"]),
    (lambda: ng.cholesky_solve(np.eye(3), np.ones((2, 1))), ["MatrixTriangularSolve"]),
    (lambda: ng.self_adjoint_eig(np.ones((2, 3))), ["SelfAdjointEigV2", "square"]),
    (lambda: ng.linalg.slogdet(np.ones((2, 3))), ["LogMatrixDeterminant", "square"]),
])
def test_bad_input_names_op_and_shapes_and_leaves_graph_unchanged(build, words):
    g = ng.get_default_graph()
    ng.constant(1.0, name="before")
    before = [op.name for op in g.get_operations()]
    with pytest.raises((ValueError, TypeError)) as info:
        build()
    for w in words:
        assert w in str(info.value), (w, str(info.value))
    assert [op.name for op in g.get_operations()] == before


def test_singular_matrix_is_a_run_time_error():
    x = ng.placeholder(F64, [2, 2])
    with ng.Session() as s, pytest.raises(ng.errors.InvalidArgumentError):
        s.run(ng.matrix_inverse(x), {x: np.ones((2, 2))})


def test_mixed_dtypes_are_rejected_and_leave_graph_unchanged():
    a = ng.constant(np.eye(3))
    b = ng.constant(np.ones((3, 1), np.float32))
    g = ng.get_default_graph()
    before = [op.name for op in g.get_operations()]
    for build in (lambda: ng.matrix_solve(a, b), lambda: ng.matrix_triangular_solve(a, b),
                  lambda: ng.cholesky_solve(a, b)):
        with pytest.raises(TypeError, match="float64.*float32"):
            build()
        assert [op.name for op in g.get_operations()] == before


def test_bench_gp_small_run_checks_numgrad_against_numpy():
    from numgrad import bench_gp
    lines = []
    med = bench_gp.run(n=60, repeats=1, peers=False, out=lines.append)
    assert set(med) == {"numpy", "numgrad"} and "W8" in lines[0]
