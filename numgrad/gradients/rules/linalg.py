"""Gradient rules for the linear-algebra ops (numgrad/ops/linalg.py).

The formulas are TensorFlow's (tensorflow/python/ops/linalg_grad.py and, for the diagonal and
band ops, array_grad.py), written again with numgrad's ops so that gradients give TF's numbers:
Cholesky's is symmetrised, the triangular solve's is masked to the triangle that is read,
self_adjoint_eig's is the lower triangle with the diagonal halved.  Where numgrad's op
broadcasts batch dims and TF's does not, the gradient is summed back to the input's shape.

MatrixExponential (a composite in TF) is differentiated with the block-matrix identity
d/dA <G, expm(A)> = expm([[Aᵀ, G], [0, Aᵀ]])[:n, n:], the exact adjoint of the Fréchet
derivative, so it agrees with TF's backprop through the Padé approximant to rounding.
"""
from ...ops import array as A
from ...ops import linalg as L
from ...ops import math as M
from ...ops.core import make_op
from ..registry import RegisterGradient
from ._util import dim, reduce_to


def _eye_like(x):
    """Identity of x's last dimension (broadcasts against x's batch dims)."""
    return L.eye(dim(x, -1), dtype=x.dtype)


def _safe_reciprocal(x, epsilon=1e-20):
    return x * M.reciprocal(x * x + epsilon)


def _scale_matrices(scalars, mats):
    """scalars (...) times mats (..., n, n)."""
    return A.expand_dims(A.expand_dims(scalars, -1), -1) * mats


def cholesky_grad_composite(l, grad):
    """TF's _CholeskyGrad, op by op: l^{-H} @ ((l^{H} @ grad) * (tril(ones) - 1/2 eye)) @
    l^{-1}, then symmetrised."""
    l_inverse = L.matrix_triangular_solve(l, _eye_like(l))
    middle = M.matmul(l, grad, adjoint_a=True)
    middle = L.matrix_set_diag(middle, 0.5 * L.matrix_diag_part(middle))
    middle = L.matrix_band_part(middle, -1, 0)
    grad_a = M.matmul(M.matmul(l_inverse, middle, adjoint_a=True), l_inverse)
    grad_a = grad_a + L.adjoint(grad_a)
    return grad_a * 0.5


@RegisterGradient("Cholesky")
def _cholesky_grad(op, grad):
    # One fused op (CholeskyGrad) computing the composite's value with two triangular solves
    # instead of forming l⁻¹ and three matrix products: about half the flops.
    return [make_op("CholeskyGrad", [op.outputs[0], grad]).outputs[0]]


@RegisterGradient("CholeskyGrad")
def _cholesky_grad_grad(op, grad):
    """Second derivatives: differentiate the composite the fused op evaluates."""
    from ..impl import gradients
    l, g = op.inputs
    return gradients([cholesky_grad_composite(l, g)], [l, g], grad_ys=[grad],
                     stop_gradients=[l, g])          # partial derivatives: g may depend on l


@RegisterGradient("MatrixTriangularSolve")
def _triangular_solve_grad(op, grad):
    a, b = op.inputs
    adjoint_a, lower_a = op.get_attr("adjoint"), op.get_attr("lower")
    c = op.outputs[0]
    grad_b = L.matrix_triangular_solve(a, grad, lower=lower_a, adjoint=not adjoint_a)
    if adjoint_a:
        grad_a = -M.matmul(c, grad_b, adjoint_b=True)
    else:
        grad_a = -M.matmul(grad_b, c, adjoint_b=True)
    grad_a = L.matrix_band_part(grad_a, -1, 0) if lower_a else L.matrix_band_part(grad_a, 0, -1)
    return [reduce_to(grad_a, a), reduce_to(grad_b, b)]


@RegisterGradient("MatrixSolve")
def _solve_grad(op, grad):
    a, b = op.inputs
    adjoint_a = op.get_attr("adjoint")
    c = op.outputs[0]
    grad_b = L.matrix_solve(a, grad, adjoint=not adjoint_a)
    if adjoint_a:
        grad_a = -M.matmul(c, grad_b, adjoint_b=True)
    else:
        grad_a = -M.matmul(grad_b, c, adjoint_b=True)
    return [reduce_to(grad_a, a), reduce_to(grad_b, b)]


@RegisterGradient("MatrixInverse")
def _inverse_grad(op, grad):
    ainv = op.outputs[0]
    adj = op.get_attr("adjoint")
    return [-M.matmul(ainv, M.matmul(grad, ainv, adjoint_a=adj, adjoint_b=not adj),
                      adjoint_a=not adj)]


@RegisterGradient("MatrixDeterminant")
def _determinant_grad(op, grad):
    a, c = op.inputs[0], op.outputs[0]
    return [_scale_matrices(grad * c, L.matrix_inverse(a, adjoint=True))]


@RegisterGradient("LogMatrixDeterminant")
def _slogdet_grad(op, _, grad_b):
    return [_scale_matrices(grad_b, L.matrix_inverse(op.inputs[0], adjoint=True))]


def _k_align(op):
    return op.attrs.get("k", (0, 0)), op.attrs.get("align", "RIGHT_LEFT")


@RegisterGradient("MatrixDiag")
def _matrix_diag_grad(op, grad):
    k, align = _k_align(op)
    return [L.matrix_diag_part(grad, k=k, align=align)]


@RegisterGradient("MatrixDiagPart")
def _matrix_diag_part_grad(op, grad):
    x = op.inputs[0]
    s = x.shape
    k, align = _k_align(op)
    if k == (0, 0) and s.rank is not None and s[-1] is not None and s[-1] == s[-2]:
        return [L.matrix_diag(grad)]
    return [L.matrix_set_diag(A.zeros_like(x), grad, k=k, align=align)]


@RegisterGradient("MatrixSetDiag")
def _matrix_set_diag_grad(op, grad):
    x, d = op.inputs
    k, align = _k_align(op)
    grad_diag = L.matrix_diag_part(grad, k=k, align=align)
    grad_input = L.matrix_set_diag(grad, A.zeros_like(grad_diag), k=k, align=align)
    return [reduce_to(grad_input, x), reduce_to(grad_diag, d)]


@RegisterGradient("MatrixBandPart")
def _band_part_grad(op, grad):
    return [L.matrix_band_part(grad, op.get_attr("num_lower"), op.get_attr("num_upper"))]


@RegisterGradient("Diag")
def _diag_grad(op, grad):
    return [L.diag_part(grad)]


@RegisterGradient("DiagPart")
def _diag_part_grad(op, grad):
    return [L.diag(grad)]


@RegisterGradient("SelfAdjointEigV2")
def _eigh_grad(op, grad_e, grad_v):
    e = op.outputs[0]
    if op.get_attr("compute_v"):
        v = op.outputs[1]
        # f(i, j) = 1 / (e_j - e_i) off the diagonal (TF's _SafeReciprocal), 0 on it
        f = L.matrix_set_diag(_safe_reciprocal(A.expand_dims(e, -2) - A.expand_dims(e, -1)),
                              A.zeros_like(e))
        grad_a = M.matmul(v, M.matmul(L.matrix_diag(grad_e)
                                      + f * M.matmul(v, grad_v, adjoint_a=True),
                                      v, adjoint_b=True))
    else:
        _, v = L.self_adjoint_eig(op.inputs[0])
        grad_a = M.matmul(v, M.matmul(L.matrix_diag(grad_e), v, adjoint_b=True))
    # the op reads only the lower triangle: symmetrise and keep that triangle (TF)
    grad_a = L.matrix_band_part(grad_a + L.adjoint(grad_a), -1, 0)
    return [L.matrix_set_diag(grad_a, 0.5 * L.matrix_diag_part(grad_a))]


def _tri_solve_right(x, r):
    """x @ inv(r)ᴴ for upper-triangular r (TF's _TriangularSolve in _QrGrad)."""
    return L.adjoint(L.matrix_triangular_solve(r, L.adjoint(x), lower=False, adjoint=False))


def _qr_grad_deep(q, r, dq, dr):
    qdq = M.matmul(q, dq, adjoint_a=True)
    qdq_ = qdq - L.adjoint(qdq)
    rdr = M.matmul(r, dr, adjoint_b=True)
    rdr_ = rdr - L.adjoint(rdr)
    tril = L.matrix_band_part(qdq_ + rdr_, -1, 0)
    grad_a = M.matmul(q, dr + _tri_solve_right(tril, r))
    grad_b = _tri_solve_right(dq - M.matmul(q, qdq), r)
    return grad_a + grad_b


@RegisterGradient("Qr")
def _qr_grad(op, dq, dr):
    q, r = op.outputs
    rs, qs = r.shape, q.shape
    if rs.rank is None or rs[-2] is None or rs[-1] is None or qs[-2] is None:
        raise NotImplementedError("QrGrad not implemented with dynamic shapes.")
    if rs[-2] > rs[-1] and qs[-2] == qs[-1]:
        raise NotImplementedError("QrGrad not implemented when nrows > ncols and "
                                  "full_matrices is true.")
    num_rows, num_cols = qs[-2], rs[-1]
    if num_rows >= num_cols:
        return [_qr_grad_deep(q, r, dq, dr)]
    # a = [x, y], r = [u, v]: reduce to the square case (TF)
    a = op.inputs[0]
    y = a[..., :, num_rows:]
    u = r[..., :, :num_rows]
    dv = dr[..., :, num_rows:]
    du = dr[..., :, :num_rows]
    dy = M.matmul(q, dv)
    dx = _qr_grad_deep(q, u, dq + M.matmul(y, dv, adjoint_b=True), du)
    return [A.concat([dx, dy], axis=-1)]


@RegisterGradient("Svd")
def _svd_grad(op, grad_s, grad_u, grad_v):
    a = op.inputs[0]
    grad_s_mat = L.matrix_diag(grad_s)
    if not op.get_attr("compute_uv"):
        _, u, v = L.svd(a, compute_uv=True)
        return [M.matmul(u, M.matmul(grad_s_mat, v, adjoint_b=True))]
    full_matrices = op.get_attr("full_matrices")
    m, n = a.shape[-2], a.shape[-1]
    if m is None or n is None:
        raise NotImplementedError("SVD gradient has not been implemented for input with "
                                  "unknown inner matrix shape.")
    s, u, v = op.outputs
    use_adjoint = m > n
    if use_adjoint:     # the gradient of aᴴ = v sᵀ uᴴ, transposed at the end (TF)
        m, n = n, m
        u, v = v, u
        grad_u, grad_v = grad_v, grad_u
    if full_matrices and abs(m - n) > 1:
        raise NotImplementedError("svd gradient is not implemented for abs(m - n) > 1 when "
                                  f"full_matrices is True (m={m}, n={n})")
    s_mat = L.matrix_diag(s)
    s2 = M.square(s)
    f = L.matrix_set_diag(_safe_reciprocal(A.expand_dims(s2, -2) - A.expand_dims(s2, -1)),
                          A.zeros_like(s))
    s_inv_mat = L.matrix_diag(_safe_reciprocal(s))
    v1 = v[..., :, :m]
    grad_v1 = grad_v[..., :, :m]
    u_gu = M.matmul(u, grad_u, adjoint_a=True)
    v_gv = M.matmul(v1, grad_v1, adjoint_a=True)
    f_u = f * u_gu
    f_v = f * v_gv
    term1_nouv = (grad_s_mat + M.matmul(f_u + L.adjoint(f_u), s_mat)
                  + M.matmul(s_mat, f_v + L.adjoint(f_v)))
    grad_a = M.matmul(u, M.matmul(term1_nouv, v1, adjoint_b=True))
    if m != n:
        gv1t = L.matrix_transpose(grad_v1)
        gv1t_v1 = M.matmul(gv1t, v1)
        term2_nous = gv1t - M.matmul(gv1t_v1, v1, adjoint_b=True)
        if full_matrices:
            v2 = v[..., :, m:n]
            grad_v2 = grad_v[..., :, m:n]
            v1t_gv2 = M.matmul(v1, grad_v2, adjoint_a=True)
            term2_nous = term2_nous - M.matmul(v1t_gv2, v2, adjoint_b=True)
        grad_a = grad_a + M.matmul(M.matmul(u, s_inv_mat), term2_nous)
    return [L.matrix_transpose(grad_a) if use_adjoint else grad_a]


@RegisterGradient("MatrixExponential")
def _expm_grad(op, grad):
    a = op.inputs[0]
    n = a.shape[-1]
    if n is None or a.shape.rank is None:
        raise NotImplementedError("expm gradient needs a static matrix size")
    at = L.adjoint(a)
    top = A.concat([at, grad], axis=-1)
    bottom = A.concat([A.zeros_like(at), at], axis=-1)
    big = L.expm(A.concat([top, bottom], axis=-2))
    return [big[..., :n, n:]]
