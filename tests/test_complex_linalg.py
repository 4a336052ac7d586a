"""Linear algebra on complex64/complex128 (issue 17): cholesky, matrix_triangular_solve,
matrix_solve, matrix_inverse (with `adjoint`), matrix_determinant, slogdet and logdet --
values against numpy.linalg, gradients against finite differences in TF's convention
(docs/complex.md), and the determinant's gradient as TF computes it (grad * det * A^-H,
which leaves the convention where det is not real).  One 3x3 complex128 problem throughout."""
import numpy as np
import pytest

import numgrad as ng

N = 3
_RNG = np.random.RandomState(0)
_M = _RNG.randn(N, N) + 1j * _RNG.randn(N, N)
HPD = _M @ _M.conj().T + N * np.eye(N)         # Hermitian positive definite
RHS = _RNG.randn(N, 2) + 1j * _RNG.randn(N, 2)


def _hermitian(a):
    """cholesky reads one triangle: differentiate it through a Hermitian input, as TF's tests."""
    return 0.5 * (a + ng.linalg.adjoint(a))


def test_values_match_numpy():
    a, b = ng.placeholder(ng.complex128, [N, N]), ng.placeholder(ng.complex128, [N, 2])
    lo, up = np.tril(HPD), np.triu(HPD)
    cases = [
        (ng.cholesky(a), np.linalg.cholesky(HPD)), (ng.matrix_inverse(a), np.linalg.inv(HPD)),
        (ng.matrix_inverse(a, adjoint=True), np.linalg.inv(HPD.conj().T)),
        (ng.matrix_solve(a, b), np.linalg.solve(HPD, RHS)),
        (ng.matrix_solve(a, b, adjoint=True), np.linalg.solve(HPD.conj().T, RHS)),
        (ng.matrix_triangular_solve(a, b), np.linalg.solve(lo, RHS)),
        (ng.matrix_triangular_solve(a, b, lower=False, adjoint=True),
         np.linalg.solve(up.conj().T, RHS)),
        (ng.linalg.cholesky_solve(ng.cholesky(a), b), np.linalg.solve(HPD, RHS)),
        (ng.matrix_determinant(a), np.linalg.det(HPD)),
        (ng.linalg.slogdet(a)[0], np.linalg.slogdet(HPD)[0]),
        (ng.linalg.slogdet(a)[1], np.linalg.slogdet(HPD)[1] + 0j),
        (ng.linalg.logdet(a), np.log(np.linalg.det(HPD).real))]
    with ng.Session() as sess:
        got = sess.run([t for t, _ in cases], {a: HPD, b: RHS})
    for (t, want), g in zip(cases, got):
        assert g.dtype == want.dtype, t.name
        assert np.allclose(g, want, rtol=1e-12, atol=1e-12), t.name
    assert ng.linalg.logdet(a).dtype == ng.float64          # real, as TF's logdet


def test_complex64_runs_in_single_precision():
    a = ng.placeholder(ng.complex64, [N, N])
    with ng.Session() as sess:
        inv = sess.run(ng.matrix_inverse(a), {a: HPD})
    assert inv.dtype == np.complex64 and np.allclose(inv, np.linalg.inv(HPD), rtol=1e-5)


GRAD_CASES = {
    "cholesky": lambda a, b: ng.cholesky(_hermitian(a)),
    "inverse": lambda a, b: ng.matrix_inverse(a),
    "inverse_adjoint": lambda a, b: ng.matrix_inverse(a, adjoint=True),
    "solve": lambda a, b: ng.matrix_solve(a, b),
    "solve_adjoint": lambda a, b: ng.matrix_solve(a, b, adjoint=True),
    "triangular": lambda a, b: ng.matrix_triangular_solve(a, b),
    "triangular_upper_adjoint": lambda a, b: ng.matrix_triangular_solve(a, b, lower=False,
                                                                          adjoint=True),
    "logdet": lambda a, b: ng.linalg.logdet(_hermitian(a)),
    "slogdet": lambda a, b: ng.real(ng.linalg.slogdet(a)[1]),
    "determinant_of_hermitian": lambda a, b: ng.matrix_determinant(a),   # det real there
}


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_gradients_match_finite_differences(name):
    a, b = ng.placeholder(ng.complex128, [N, N]), ng.placeholder(ng.complex128, [N, 2])
    y = GRAD_CASES[name](a, b)
    err = ng.test.compute_gradient_error(a, [N, N], y, y.shape.as_list(), x_init_value=HPD,
                                         extra_feed_dict={b: RHS})
    assert err < 1e-7, err
    if y.shape.as_list() == [N, 2]:                       # the right-hand side's gradient
        err_b = ng.test.compute_gradient_error(b, [N, 2], y, [N, 2], x_init_value=RHS,
                                               extra_feed_dict={a: HPD})
        assert err_b < 1e-7, err_b


def test_determinant_gradient_is_tfs():
    """TF's rule, grad * det(A) * A^-H, for a matrix whose determinant is not real: the
    numbers TF 2.21 gives (written here), not the conjugate the convention would give."""
    a_val = np.array([[1.62434536 + 0.86540763j, -0.61175641 - 2.3015387j],
                      [-0.52817175 + 1.74481176j, -1.07296862 - 0.7612069j]])
    a = ng.placeholder(ng.complex128, [2, 2])
    g, = ng.gradients(ng.matrix_determinant(a), a, grad_ys=ng.constant(1 + 0j))
    with ng.Session() as sess:
        got = sess.run(g, {a: a_val})
    tf_value = np.array([[-1.29204685 - 0.24761368j, -0.89382892 + 1.58883711j],
                         [2.08462825 - 1.15136933j, 1.74887339 + 0.57347196j]])
    assert np.allclose(got, tf_value, atol=1e-7)
    det = np.linalg.det(a_val)
    assert np.allclose(got, det * np.linalg.inv(a_val).conj().T)


def test_real_only_linalg_still_rejects_complex():
    z = ng.placeholder(ng.complex64, [2, 2])
    g = ng.get_default_graph()
    n = len(g.get_operations())
    for build in (lambda: ng.linalg.expm(z), lambda: ng.linalg.qr(z), lambda: ng.linalg.svd(z),
                  lambda: ng.linalg.eigh(z)):
        with pytest.raises(TypeError, match="complex64"):
            build()
    with pytest.raises(TypeError, match="float64, complex64, complex128"):
        ng.matrix_inverse([[1, 2], [3, 4]])         # an int32 constant, undone
    assert len(g.get_operations()) == n
