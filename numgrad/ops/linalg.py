"""Linear-algebra ops (tf.compat.v1 / tf.linalg names), batched over leading dimensions.

Every op works on the last two dimensions ("matrices") of its inputs and repeats over the
leading ("batch") dimensions; ops with two matrix inputs broadcast their batch dimensions.
The NumPy references use numpy.linalg (SciPy's triangular solver when SciPy is installed).
Conventions follow TensorFlow: Cholesky of a matrix that is not positive definite gives NaNs
(not an error) and reads only the lower triangle; the triangular solve reads only the
triangle it is told to; self_adjoint_eig reads the lower triangle.

Composites (cholesky_solve, logdet, trace, eye, matrix_transpose, lstsq, ...) are built from
the ops here as TF builds them, so their gradients are TF's.  Gradient rules are in
numgrad/gradients/rules/linalg.py; the batching rules are registered at the end of this module.
"""
import numpy as np

from .. import dtypes as _dt
from ..graph import Tensor
from ..tensor_shape import TensorShape
from . import array as _A
from . import math as _M
from . import reduce as _R
from .common import format_shape as _fmt
from .core import constant, constant_value, convert_to_tensor, make_op
from .registry import register_op

_SOLVER = []                            # [scipy.linalg.solve_triangular or None], on first use


def _triangular_solver():
    """SciPy's true triangular solver (LAPACK trtrs) if SciPy is installed, else None.
    Imported on first use, never by ``import numgrad`` (SciPy is an optional extra)."""
    if not _SOLVER:
        try:
            from scipy.linalg import solve_triangular
        except ImportError:             # pragma: no cover - SciPy is an optional extra
            solve_triangular = None
        _SOLVER.append(solve_triangular)
    return _SOLVER[0]

__all__ = ["cholesky", "cholesky_solve", "matrix_triangular_solve", "matrix_solve",
           "matrix_inverse", "matrix_determinant", "slogdet", "logdet", "eye", "diag",
           "diag_part", "matrix_diag", "matrix_diag_part", "matrix_set_diag",
           "matrix_band_part", "trace", "matrix_transpose", "adjoint", "qr", "svd",
           "self_adjoint_eig", "self_adjoint_eigvals", "expm", "lstsq", "matrix_solve_ls"]


# --- static checks ------------------------------------------------------------------------
def _float_input(op_name, x, complex_ok=False):
    if not (x.dtype.is_floating or complex_ok and x.dtype.is_complex):
        raise TypeError(f"{op_name}: input '{x.name}' has dtype {x.dtype.name}, which is not "
                        "in the list of allowed dtypes: float16, float32, float64"
                        + (", complex64, complex128" if complex_ok else ""))


# ops that take complex64/complex128 matrices too (TF's complex gradients: ../docs/complex.md)
_COMPLEX_OK = {"Cholesky", "CholeskyGrad", "MatrixTriangularSolve", "MatrixSolve",
               "MatrixInverse", "MatrixDeterminant", "LogMatrixDeterminant"}


def _matrix(op_name, x, square=False, what="input"):
    """Check that x is a (batch of) matrix; return its shape (may be of unknown rank)."""
    _float_input(op_name, x, op_name in _COMPLEX_OK)
    s = x.shape
    if s.rank is None:
        return s
    if s.rank < 2:
        raise ValueError(f"{op_name}: {what} '{x.name}' must be at least rank 2 (a matrix or "
                         f"a batch of matrices), got shape {_fmt(s)}")
    if square and s[-1] is not None and s[-2] is not None and s[-1] != s[-2]:
        raise ValueError(f"{op_name}: {what} '{x.name}' must be a square matrix (or a batch "
                         f"of them), got shape {_fmt(s)}")
    return s


def _same_dtype(op_name, a, b):
    if a.dtype != b.dtype:
        raise TypeError(f"{op_name}: '{a.name}' is {a.dtype.name} but '{b.name}' is "
                        f"{b.dtype.name}")


def _batch_broadcast(op_name, a, b, a_core, b_core):
    """Broadcast the batch shapes of a (core dims a_core) and b; ValueError naming both."""
    sa, sb = a.shape, b.shape
    if sa.rank is None or sb.rank is None:
        return TensorShape(None)
    try:
        return _M.broadcast_static_shape(sa[:sa.rank - a_core], sb[:sb.rank - b_core])
    except ValueError:
        raise ValueError(f"{op_name}: batch dimensions of '{a.name}' {_fmt(sa)} and '{b.name}' "
                         f"{_fmt(sb)} do not broadcast") from None


def _dims_match(op_name, x, y, dx, dy, what):
    if dx is not None and dy is not None and dx != dy:
        raise ValueError(f"{op_name}: {what}: {dx} vs {dy} (shapes {_fmt(x.shape)} of "
                         f"'{x.name}' and {_fmt(y.shape)} of '{y.name}')")


def _unary_square_infer(op_name):
    def infer(inputs, attrs):
        x, = inputs
        return [(x.dtype, _matrix(op_name, x, square=True))]
    return infer


# --- NumPy references -----------------------------------------------------------------------
def _cholesky_np(vals, attrs):
    a, = vals
    if a.size == 0:
        return [a.copy()]
    try:
        out = np.linalg.cholesky(a)
    except np.linalg.LinAlgError:       # TF: a matrix that is not positive definite -> NaNs
        flat = a.reshape((-1,) + a.shape[-2:])
        out = np.empty_like(flat)
        for i, m in enumerate(flat):
            try:
                out[i] = np.linalg.cholesky(m)
            except np.linalg.LinAlgError:
                out[i] = np.nan
        out = out.reshape(a.shape)
    return [out.astype(a.dtype, copy=False)]


def _band_np(x, num_lower, num_upper):
    if num_lower < 0 and num_upper < 0:
        return x.copy()
    if num_lower < 0:
        return np.tril(x, num_upper)
    if num_upper < 0:
        return np.triu(x, -num_lower)
    return np.tril(np.triu(x, -num_lower), num_upper)


def _adjoint_np(x):
    """The conjugate transpose of the last two dims (the transpose for real x)."""
    x = np.swapaxes(x, -1, -2)
    return x.conj() if x.dtype.kind == "c" else x


def _cholesky_grad_np(vals, attrs):
    """TF's Cholesky gradient, l⁻ᴴ Φ(lᴴ ḡ) l⁻¹ made Hermitian (Φ: lower triangle, diagonal
    halved), evaluated with triangular solves instead of forming l⁻¹."""
    l, g = vals
    batch = np.broadcast_shapes(l.shape[:-2], g.shape[:-2])
    l = np.broadcast_to(l, batch + l.shape[-2:])
    middle = _adjoint_np(l) @ g
    idx = np.arange(l.shape[-1])
    middle[..., idx, idx] *= 0.5
    middle = np.tril(middle)
    _solve_triangular = _triangular_solver()
    if _solve_triangular is None:           # pragma: no cover - without SciPy: as TF builds it
        l_inv = np.linalg.inv(l)
        x = _adjoint_np(l_inv) @ middle @ l_inv
    else:
        flat_l = l.reshape((-1,) + l.shape[-2:])
        flat_m = middle.reshape(flat_l.shape)
        x = np.empty_like(flat_m)
        with np.errstate(all="ignore"):
            for i in range(flat_l.shape[0]):
                y = _solve_triangular(flat_l[i], flat_m[i], lower=True, trans=2,
                                      check_finite=False)                  # l⁻ᴴ Φ
                x[i] = _solve_triangular(flat_l[i], y.T, lower=True, trans=1,
                                         check_finite=False).T           # (l⁻ᴴ Φ) l⁻¹
        x = x.reshape(l.shape)
    return [(x + _adjoint_np(x)) * np.asarray(0.5, l.dtype)]


def _triangular_solve_np(vals, attrs):
    a, b = vals
    lower, adj = attrs["lower"], attrs["adjoint"]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:]).reshape((-1,) + a.shape[-2:])
    out_shape = batch + b.shape[-2:]
    b = np.broadcast_to(b, out_shape).reshape((-1,) + b.shape[-2:])
    out = np.empty(b.shape, np.result_type(a, b))
    _solve_triangular = _triangular_solver()
    with np.errstate(all="ignore"):
        for i in range(a.shape[0]):
            if _solve_triangular is not None:
                out[i] = _solve_triangular(a[i], b[i], lower=lower, trans=2 if adj else 0,
                                           check_finite=False)
            else:
                t = np.tril(a[i]) if lower else np.triu(a[i])
                out[i] = np.linalg.solve(_adjoint_np(t) if adj else t, b[i])
    return [out.reshape(out_shape)]


def _solve_np(vals, attrs):
    a, b = vals
    if attrs["adjoint"]:
        a = _adjoint_np(a)
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    a = np.broadcast_to(a, batch + a.shape[-2:])
    b = np.broadcast_to(b, batch + b.shape[-2:])
    return [np.linalg.solve(a, b)]


def _inverse_np(vals, attrs):
    inv = np.linalg.inv(vals[0])
    return [_adjoint_np(inv) if attrs["adjoint"] else inv]


def _slogdet_np(vals, attrs):
    sign, logabs = np.linalg.slogdet(vals[0])
    return [sign.astype(vals[0].dtype), logabs.astype(vals[0].dtype)]


# --- diagonals (TF's MatrixDiagV3 family: k = (lo, hi), num_rows/num_cols, padding, align) ---
_ALIGNS = ("RIGHT_LEFT", "LEFT_RIGHT", "LEFT_LEFT", "RIGHT_RIGHT")


def _diag_attrs(attrs):
    """(lo, hi, padding, align) of a diagonal op (ops built before k existed: the main one)."""
    lo, hi = attrs.get("k", (0, 0))
    return lo, hi, attrs.get("padding_value", 0), attrs.get("align", "RIGHT_LEFT")


def _diag_len(m, n, d):
    return min(m + min(0, d), n - max(0, d))


def _diag_index(m, n, lo, hi, length, align):
    """Index arrays (i, j, r, c): element (i, j) of an m x n matrix is entry (r, c) of the
    packed diagonals (row r = hi - d for diagonal d = j - i; column c along it, shifted right
    for a right-aligned diagonal shorter than `length`)."""
    sup_right = align in ("RIGHT_LEFT", "RIGHT_RIGHT")
    sub_right = align in ("LEFT_RIGHT", "RIGHT_RIGHT")
    I, J, R, C = [], [], [], []
    for d in range(lo, hi + 1):
        n_d = _diag_len(m, n, d)
        if n_d <= 0:
            continue
        t = np.arange(n_d)
        i = t - min(d, 0)
        right = sup_right if d >= 0 else sub_right
        I.append(i)
        J.append(i + d)
        R.append(np.full(n_d, hi - d))
        C.append(t + (length - n_d if right else 0))
    if not I:
        e = np.zeros(0, np.intp)
        return e, e, e, e
    return tuple(np.concatenate(a) for a in (I, J, R, C))


def _matrix_diag_np(vals, attrs):
    d, = vals
    lo, hi, pad, align = _diag_attrs(attrs)
    m, n = attrs.get("num_rows", -1), attrs.get("num_cols", -1)
    if lo == hi:
        d = d[..., None, :]
    m, n = _diag_out_dims(d.shape[-1], lo, hi, m, n)
    out = np.full(d.shape[:-2] + (m, n), pad, d.dtype)
    i, j, r, c = _diag_index(m, n, lo, hi, d.shape[-1], align)
    out[..., i, j] = d[..., r, c]
    return [out]


def _diag_out_dims(length, lo, hi, m, n):
    min_m, min_n = length - min(hi, 0), length + max(lo, 0)
    if m == -1 and n == -1:
        m = n = max(min_m, min_n)
    elif m == -1:
        m = min_m
    elif n == -1:
        n = min_n
    return m, n


def _matrix_diag_part_np(vals, attrs):
    x, = vals
    lo, hi, pad, align = _diag_attrs(attrs)
    m, n = x.shape[-2:]
    length = max(_diag_len(m, n, hi), _diag_len(m, n, lo), 0) if lo == hi else \
        min(m + min(0, hi), n - max(0, lo))
    out = np.full(x.shape[:-2] + (hi - lo + 1, length), pad, x.dtype)
    i, j, r, c = _diag_index(m, n, lo, hi, length, align)
    out[..., r, c] = x[..., i, j]
    return [np.ascontiguousarray(out[..., 0, :]) if lo == hi else out]


def _matrix_set_diag_np(vals, attrs):
    x, d = vals
    lo, hi, _, align = _diag_attrs(attrs)
    if lo == hi:
        d = d[..., None, :]
    batch = np.broadcast_shapes(x.shape[:-2], d.shape[:-2])
    out = np.array(np.broadcast_to(x, batch + x.shape[-2:]))
    m, n = x.shape[-2:]
    i, j, r, c = _diag_index(m, n, lo, hi, d.shape[-1], align)
    out[..., i, j] = d[..., r, c]
    return [out]


def _tensor_diag_np(vals, attrs):
    x, = vals
    flat = np.zeros((x.size, x.size), x.dtype)
    flat[np.arange(x.size), np.arange(x.size)] = x.reshape(-1)
    return [flat.reshape(x.shape + x.shape)]


def _tensor_diag_part_np(vals, attrs):
    x, = vals
    half = x.shape[:x.ndim // 2]
    n = int(np.prod(half, dtype=np.int64))
    return [np.ascontiguousarray(np.diagonal(x.reshape(n, n))).reshape(half)]


def _qr_np(vals, attrs):
    q, r = np.linalg.qr(vals[0], mode="complete" if attrs["full_matrices"] else "reduced")
    return [q, r]


def _svd_np(vals, attrs):
    a = vals[0]
    if not attrs["compute_uv"]:
        s = np.linalg.svd(a, compute_uv=False)
        return [s, np.zeros((0,), a.dtype), np.zeros((0,), a.dtype)]
    u, s, vh = np.linalg.svd(a, full_matrices=attrs["full_matrices"])
    return [s, u, np.ascontiguousarray(np.swapaxes(vh, -1, -2))]


def _eigh_np(vals, attrs):
    a = vals[0]
    if not attrs["compute_v"]:
        return [np.linalg.eigvalsh(a, UPLO="L"), np.zeros((0,), a.dtype)]
    e, v = np.linalg.eigh(a, UPLO="L")
    return [e, v]


def _expm_np(vals, attrs):
    return [_expm_pade(vals[0])]


# Padé approximants of order 3..13 with scaling and squaring (Higham 2005, as TF's expm).
_PADE = {
    3: (120., 60., 12., 1.),
    5: (30240., 15120., 3360., 420., 30., 1.),
    7: (17297280., 8648640., 1995840., 277200., 25200., 1512., 56., 1.),
    9: (17643225600., 8821612800., 2075673600., 302702400., 30270240., 2162160., 110880.,
        3960., 90., 1.),
    13: (64764752532480000., 32382376266240000., 7771770303897600., 1187353796428800.,
         129060195264000., 10559470521600., 670442572800., 33522128640., 1323241920.,
         40840800., 960960., 16380., 182., 1.),
}
_THETA64 = ((3, 1.495585217958292e-002), (5, 2.539398330063230e-001),
            (7, 9.504178996162932e-001), (9, 2.097847961257068e+000))
_THETA32 = ((3, 4.258730016922831e-001), (5, 1.880152677804762e+000))


def _pade(a, m):
    b = _PADE[m]
    eye = np.broadcast_to(np.eye(a.shape[-1], dtype=a.dtype), a.shape)
    a2 = a @ a
    if m == 13:
        a4 = a2 @ a2
        a6 = a4 @ a2
        u = a @ (a6 @ (b[13] * a6 + b[11] * a4 + b[9] * a2)
                 + b[7] * a6 + b[5] * a4 + b[3] * a2 + b[1] * eye)
        v = (a6 @ (b[12] * a6 + b[10] * a4 + b[8] * a2)
             + b[6] * a6 + b[4] * a4 + b[2] * a2 + b[0] * eye)
        return u, v
    powers = [eye, a2]
    while len(powers) < (m + 1) // 2:
        powers.append(powers[-1] @ a2)
    u = a @ sum(b[2 * k + 1] * p for k, p in enumerate(powers))
    v = sum(b[2 * k] * p for k, p in enumerate(powers))
    return u, v


def _expm_pade(a):
    """exp(a) by scaling and squaring with Padé approximants, per matrix of the batch."""
    if a.size == 0:
        return a.copy()
    flat = a.reshape((-1,) + a.shape[-2:])
    out = np.empty_like(flat)
    thetas = _THETA32 if a.dtype == np.float32 else _THETA64
    top = (7, 3.925724783138660) if a.dtype == np.float32 else (13, 5.371920351148152)
    for i, m in enumerate(flat):
        norm = np.abs(m).sum(axis=0).max()
        for order, theta in thetas:
            if norm < theta:
                u, v = _pade(m, order)
                out[i] = np.linalg.solve(v - u, u + v)
                break
        else:
            s = max(0, int(np.ceil(np.log2(norm / top[1])))) if norm > 0 else 0
            u, v = _pade(m / np.asarray(2.0 ** s, m.dtype), top[0])
            r = np.linalg.solve(v - u, u + v)
            for _ in range(s):
                r = r @ r
            out[i] = r
    return out.reshape(a.shape)


# --- shape inference -------------------------------------------------------------------------
def _triangular_solve_infer(inputs, attrs, op_name="MatrixTriangularSolve"):
    a, b = inputs
    _same_dtype(op_name, a, b)
    sa = _matrix(op_name, a, square=True, what="matrix")
    sb = _matrix(op_name, b, what="rhs")
    if sa.rank is None or sb.rank is None:
        return [(b.dtype, TensorShape(None))]
    _dims_match(op_name, a, b, sa[-1], sb[-2], "matrix size must match the rows of rhs")
    batch = _batch_broadcast(op_name, a, b, 2, 2)
    return [(b.dtype, batch.concatenate(sb[-2:]))]


def _solve_infer(inputs, attrs):
    return _triangular_solve_infer(inputs, attrs, "MatrixSolve")


def _det_infer(inputs, attrs):
    x, = inputs
    s = _matrix("MatrixDeterminant", x, square=True)
    return [(x.dtype, s[:-2] if s.rank is not None else s)]


def _slogdet_infer(inputs, attrs):
    x, = inputs
    s = _matrix("LogMatrixDeterminant", x, square=True)
    s = s[:-2] if s.rank is not None else s
    return [(x.dtype, s), (x.dtype, s)]


def _diag_range(op, attrs):
    lo, hi, _, align = _diag_attrs(attrs)
    if lo > hi:
        raise ValueError(f"{op}: lower_diag_index is greater than upper_diag_index "
                         f"(k = ({lo}, {hi}))")
    if align not in _ALIGNS:
        raise ValueError(f"{op}: align must be one of {list(_ALIGNS)}, got {align!r}")
    return lo, hi


def _matrix_diag_infer(inputs, attrs):
    d, = inputs
    lo, hi = _diag_range("MatrixDiag", attrs)
    need = 1 if lo == hi else 2
    if d.shape.rank is not None and d.shape.rank < need:
        raise ValueError(f"MatrixDiag: diagonal '{d.name}' must be at least rank {need}, got "
                         f"shape {_fmt(d.shape)}")
    s = d.shape
    if s.rank is None:
        return [(d.dtype, s)]
    if lo < hi and s[-2] is not None and s[-2] != hi - lo + 1:
        raise ValueError(f"MatrixDiag: the number of rows of diagonal '{d.name}' "
                         f"({s[-2]}) doesn't match the {hi - lo + 1} diagonals of k = "
                         f"({lo}, {hi})")
    batch = s[:-need]
    length = s[-1]
    m, n = attrs.get("num_rows", -1), attrs.get("num_cols", -1)
    if length is None:
        return [(d.dtype, batch.concatenate([m if m != -1 else None,
                                             n if n != -1 else None]))]
    min_m, min_n = length - min(hi, 0), length + max(lo, 0)
    m, n = _diag_out_dims(length, lo, hi, m, n)
    if m < min_m:
        raise ValueError(f"MatrixDiag: num_rows is too small ({m} < {min_m})")
    if n < min_n:
        raise ValueError(f"MatrixDiag: num_cols is too small ({n} < {min_n})")
    if m != min_m and n != min_n:
        raise ValueError(f"MatrixDiag: num_rows and num_cols are not consistent with k and "
                         f"the diagonal length (one of them must be the smallest possible: "
                         f"{min_m} rows or {min_n} columns)")
    return [(d.dtype, batch.concatenate([m, n]))]


def _diag_bounds(op, lo, hi, m, n):
    if m is not None and n is not None:
        if not -m < lo < n and not (m == 0 or n == 0):
            raise ValueError(f"{op}: lower_diag_index is out of bound: k[0] = {lo} is not in "
                             f"(-{m}, {n}) for {m} x {n} matrices")
        if not -m < hi < n and not (m == 0 or n == 0):
            raise ValueError(f"{op}: upper_diag_index is out of bound: k[1] = {hi} is not in "
                             f"(-{m}, {n}) for {m} x {n} matrices")


def _matrix_diag_part_infer(inputs, attrs):
    x, = inputs
    lo, hi = _diag_range("MatrixDiagPart", attrs)
    if x.shape.rank is not None and x.shape.rank < 2:
        raise ValueError(f"MatrixDiagPart: input '{x.name}' must be at least rank 2, got "
                         f"shape {_fmt(x.shape)}")
    s = x.shape
    if s.rank is None:
        return [(x.dtype, s)]
    m, n = s[-2], s[-1]
    _diag_bounds("MatrixDiagPart", lo, hi, m, n)
    length = None if m is None or n is None else max(min(m + min(0, hi), n - max(0, lo)), 0)
    rows = [] if lo == hi else [hi - lo + 1]
    return [(x.dtype, s[:-2].concatenate(rows + [length]))]


def _matrix_set_diag_infer(inputs, attrs):
    x, d = inputs
    _same_dtype("MatrixSetDiag", x, d)
    lo, hi = _diag_range("MatrixSetDiag", attrs)
    need = 1 if lo == hi else 2
    if x.shape.rank is not None and x.shape.rank < 2:
        raise ValueError(f"MatrixSetDiag: input '{x.name}' must be at least rank 2, got shape "
                         f"{_fmt(x.shape)}")
    if d.shape.rank is not None and d.shape.rank < need:
        raise ValueError(f"MatrixSetDiag: diagonal '{d.name}' must be at least rank {need}, "
                         f"got shape {_fmt(d.shape)}")
    if x.shape.rank is None or d.shape.rank is None:
        return [(x.dtype, TensorShape(None))]
    m, n = x.shape[-2], x.shape[-1]
    _diag_bounds("MatrixSetDiag", lo, hi, m, n)
    length = None if m is None or n is None else max(min(m + min(0, hi), n - max(0, lo)), 0)
    _dims_match("MatrixSetDiag", x, d, length, d.shape[-1],
                "diagonal length must be the longest diagonal's in the band of k")
    if lo < hi:
        _dims_match("MatrixSetDiag", x, d, hi - lo + 1, d.shape[-2],
                    "the number of diagonals must be k[1] - k[0] + 1")
    batch = _batch_broadcast("MatrixSetDiag", x, d, 2, need)
    return [(x.dtype, batch.concatenate([m, n]))]


def _band_infer(inputs, attrs):
    x, = inputs
    if x.shape.rank is not None and x.shape.rank < 2:
        raise ValueError(f"MatrixBandPart: input '{x.name}' must be at least rank 2, got "
                         f"shape {_fmt(x.shape)}")
    return [(x.dtype, x.shape)]


def _tensor_diag_infer(inputs, attrs):
    x, = inputs
    s = x.shape
    if s.rank is None:
        return [(x.dtype, s)]
    if s.rank < 1:
        raise ValueError(f"Diag: input '{x.name}' must be at least rank 1, got shape {_fmt(s)}")
    return [(x.dtype, s.concatenate(s))]


def _tensor_diag_part_infer(inputs, attrs):
    x, = inputs
    s = x.shape
    if s.rank is None:
        return [(x.dtype, s)]
    h = s.rank // 2
    if s.rank == 0 or s.rank % 2 or any(p is not None and q is not None and p != q
                                        for p, q in zip(s[:h], s[h:])):
        raise ValueError(f"DiagPart: input '{x.name}' must have even rank with matching halves "
                         f"(shape [d1..dk, d1..dk]), got shape {_fmt(s)}")
    return [(x.dtype, s[:h])]


def _qr_infer(inputs, attrs):
    x, = inputs
    s = _matrix("Qr", x)
    if s.rank is None:
        return [(x.dtype, s), (x.dtype, s)]
    m, n = s[-2], s[-1]
    k = None if m is None or n is None else min(m, n)
    qc, rr = (m, m) if attrs["full_matrices"] else (k, k)
    return [(x.dtype, s[:-2].concatenate([m, qc])), (x.dtype, s[:-2].concatenate([rr, n]))]


def _svd_infer(inputs, attrs):
    x, = inputs
    s = _matrix("Svd", x)
    if s.rank is None:
        return [(x.dtype, s)] * 3
    m, n = s[-2], s[-1]
    k = None if m is None or n is None else min(m, n)
    b = s[:-2]
    if not attrs["compute_uv"]:
        return [(x.dtype, b.concatenate([k])), (x.dtype, TensorShape([0])),
                (x.dtype, TensorShape([0]))]
    uc, vc = (m, n) if attrs["full_matrices"] else (k, k)
    return [(x.dtype, b.concatenate([k])), (x.dtype, b.concatenate([m, uc])),
            (x.dtype, b.concatenate([n, vc]))]


def _eigh_infer(inputs, attrs):
    x, = inputs
    s = _matrix("SelfAdjointEigV2", x, square=True)
    if s.rank is None:
        return [(x.dtype, s), (x.dtype, s)]
    e = s[:-1]
    return [(x.dtype, e), (x.dtype, s if attrs["compute_v"] else TensorShape([0]))]


register_op("Cholesky", _unary_square_infer("Cholesky"), _cholesky_np)
def _cholesky_grad_infer(inputs, attrs):
    l, g = inputs
    _same_dtype("CholeskyGrad", l, g)
    sl = _matrix("CholeskyGrad", l, square=True)
    sg = _matrix("CholeskyGrad", g, square=True, what="grad")
    if sl.rank is None or sg.rank is None:
        return [(l.dtype, TensorShape(None))]
    _dims_match("CholeskyGrad", l, g, sl[-1], sg[-1], "matrix sizes differ")
    return [(l.dtype, _batch_broadcast("CholeskyGrad", l, g, 2, 2).concatenate(sl[-2:]))]


register_op("CholeskyGrad", _cholesky_grad_infer, _cholesky_grad_np)
register_op("MatrixTriangularSolve", _triangular_solve_infer, _triangular_solve_np)
register_op("MatrixSolve", _solve_infer, _solve_np)
register_op("MatrixInverse", _unary_square_infer("MatrixInverse"), _inverse_np)
register_op("MatrixDeterminant", _det_infer, lambda v, a: [np.linalg.det(v[0])])
register_op("LogMatrixDeterminant", _slogdet_infer, _slogdet_np)
register_op("MatrixDiag", _matrix_diag_infer, _matrix_diag_np)
register_op("MatrixDiagPart", _matrix_diag_part_infer, _matrix_diag_part_np)
register_op("MatrixSetDiag", _matrix_set_diag_infer, _matrix_set_diag_np)
register_op("MatrixBandPart", _band_infer,
            lambda v, a: [_band_np(v[0], a["num_lower"], a["num_upper"])])
register_op("Diag", _tensor_diag_infer, _tensor_diag_np)
register_op("DiagPart", _tensor_diag_part_infer, _tensor_diag_part_np)
register_op("Qr", _qr_infer, _qr_np)
register_op("Svd", _svd_infer, _svd_np)
register_op("SelfAdjointEigV2", _eigh_infer, _eigh_np)
register_op("MatrixExponential", _unary_square_infer("MatrixExponential"), _expm_np)


# --- builders --------------------------------------------------------------------------------
def _t(x, name="input"):
    return x if isinstance(x, Tensor) else convert_to_tensor(x, name=name)


def _t_like(x, like):
    return x if isinstance(x, Tensor) else convert_to_tensor(x, dtype=like.dtype)


def _static_int(v, what):
    if isinstance(v, Tensor):
        cv = constant_value(v)
        if cv is None:
            raise NotImplementedError(f"{what} must be known when the graph is built (a Python "
                                      f"int or a constant), got tensor '{v.name}'")
        v = cv
    return int(np.asarray(v).reshape(()))


def cholesky(input, name=None):  # noqa: A002  (TF's argument name)
    """Cholesky factor L (lower triangular, L Lᴴ = input) of each matrix in `input` (..., n, n)
    (tf.compat.v1.cholesky).  Reads only the lower triangle; a matrix that is not positive
    definite gives NaNs, as in TF."""
    return make_op("Cholesky", [_t(input)], {}, name).outputs[0]


def matrix_triangular_solve(matrix, rhs, lower=True, adjoint=False, name=None):
    """Solve matrix @ x = rhs (or adjoint(matrix) @ x = rhs) for x, where `matrix` (..., n, n) is
    lower (or upper) triangular; only that triangle is read.  Batch dims broadcast."""
    matrix = _t(matrix, "matrix")
    rhs = _t_like(rhs, matrix)
    return make_op("MatrixTriangularSolve", [matrix, rhs],
                   {"lower": bool(lower), "adjoint": bool(adjoint)}, name).outputs[0]


def cholesky_solve(chol, rhs, name=None):
    """Solve A x = rhs given chol = cholesky(A) (tf.linalg.cholesky_solve): two triangular
    solves, as TF builds it."""
    chol = _t(chol, "chol")
    y = matrix_triangular_solve(chol, rhs, lower=True, adjoint=False)
    return matrix_triangular_solve(chol, y, lower=True, adjoint=True, name=name)


def matrix_solve(matrix, rhs, adjoint=False, name=None):
    """Solve matrix @ x = rhs (or adjoint(matrix) @ x = rhs) for x (tf.compat.v1.matrix_solve);
    batch dims broadcast.  A singular matrix is a run-time error."""
    matrix = _t(matrix, "matrix")
    rhs = _t_like(rhs, matrix)
    return make_op("MatrixSolve", [matrix, rhs], {"adjoint": bool(adjoint)}, name).outputs[0]


def matrix_inverse(input, adjoint=False, name=None):  # noqa: A002
    """The inverse (or the adjoint of the inverse) of each square matrix in `input`."""
    return make_op("MatrixInverse", [_t(input)], {"adjoint": bool(adjoint)}, name).outputs[0]


def matrix_determinant(input, name=None):  # noqa: A002
    """The determinant of each square matrix in `input` (..., n, n) -> (...)."""
    return make_op("MatrixDeterminant", [_t(input)], {}, name).outputs[0]


def slogdet(input, name=None):  # noqa: A002
    """(sign, log_abs_determinant) of each square matrix in `input` (tf.linalg.slogdet)."""
    op = make_op("LogMatrixDeterminant", [_t(input)], {}, name)
    return op.outputs[0], op.outputs[1]


def logdet(matrix, name=None):
    """log(det(matrix)) of Hermitian positive definite matrices, via the Cholesky factor:
    2 * sum(log(real(diag(cholesky(matrix))))) (tf.linalg.logdet); real for a complex
    matrix, as in TF."""
    from .complex import real
    chol = cholesky(matrix)
    diag = real(matrix_diag_part(chol))
    return _M.multiply(2.0, _R.reduce_sum(_M.log(diag), axis=[-1]), name=name)


def _k_attr(k, what):
    """TF's k: an int, or a pair (lo, hi) of diagonal offsets (0: main, > 0: above)."""
    if isinstance(k, Tensor):
        cv = constant_value(k)
        if cv is None:
            raise NotImplementedError(f"{what}: k must be known when the graph is built")
        k = cv
    k = np.asarray(k).reshape(-1)
    if k.size not in (1, 2) or k.dtype.kind not in "iu":
        raise ValueError(f"{what}: k must be an integer or a pair of integers, got {k}")
    return (int(k[0]), int(k[-1]))


def _diag_attr_dict(what, k, align, **extra):
    return dict(k=_k_attr(k, what), align=str(align), **extra)


def matrix_diag(diagonal, name=None, k=0, num_rows=-1, num_cols=-1, padding_value=0,
                align="RIGHT_LEFT"):
    """Matrices with the given diagonals (tf.linalg.diag, MatrixDiagV3): `diagonal` (..., L)
    goes on diagonal k (0: main, > 0: above); with k = (lo, hi), `diagonal` (..., hi - lo + 1,
    L) holds diagonals hi down to lo, shorter ones aligned by `align`.  Elsewhere
    padding_value.  The output is num_rows x num_cols (-1: the smallest that fits)."""
    attrs = _diag_attr_dict("matrix_diag", k, align,
                            num_rows=_static_int(num_rows, "matrix_diag: num_rows"),
                            num_cols=_static_int(num_cols, "matrix_diag: num_cols"),
                            padding_value=_static_scalar(padding_value, "matrix_diag"))
    return make_op("MatrixDiag", [_t(diagonal, "diagonal")], attrs, name).outputs[0]


def matrix_diag_part(input, name=None, k=0, padding_value=0, align="RIGHT_LEFT"):  # noqa: A002
    """Diagonal k (or the band k = (lo, hi), packed as in matrix_diag) of each matrix in
    `input` (..., m, n); cells of shorter diagonals are padding_value (MatrixDiagPartV3)."""
    attrs = _diag_attr_dict("matrix_diag_part", k, align,
                            padding_value=_static_scalar(padding_value, "matrix_diag_part"))
    return make_op("MatrixDiagPart", [_t(input)], attrs, name).outputs[0]


def matrix_set_diag(input, diagonal, name=None, k=0, align="RIGHT_LEFT"):  # noqa: A002
    """`input` (..., m, n) with diagonal k (or the band k = (lo, hi), packed as in
    matrix_diag) replaced by `diagonal`.  Batch dims broadcast (MatrixSetDiagV3)."""
    x = _t(input)
    return make_op("MatrixSetDiag", [x, _t_like(diagonal, x)],
                   _diag_attr_dict("matrix_set_diag", k, align), name).outputs[0]


def _static_scalar(v, what):
    if isinstance(v, Tensor):
        cv = constant_value(v)
        if cv is None:
            raise NotImplementedError(f"{what}: padding_value must be known when the graph "
                                      "is built")
        v = cv
    return np.asarray(v).reshape(()).item()


def matrix_band_part(input, num_lower, num_upper, name=None):  # noqa: A002
    """Keep num_lower sub- and num_upper super-diagonals of each matrix (negative: all), zero
    the rest (tf.linalg.band_part).  The band sizes must be known when the graph is built."""
    lo = _static_int(num_lower, "matrix_band_part: num_lower")
    up = _static_int(num_upper, "matrix_band_part: num_upper")
    return make_op("MatrixBandPart", [_t(input)], {"num_lower": lo, "num_upper": up},
                   name).outputs[0]


def diag(diagonal, name=None):
    """tf.compat.v1.diag (tf.linalg.tensor_diag): for `diagonal` of shape [D1..Dk] the tensor
    of shape [D1..Dk, D1..Dk] with `diagonal` on its diagonal and zeros elsewhere."""
    return make_op("Diag", [_t(diagonal, "diagonal")], {}, name).outputs[0]


def diag_part(input, name=None):  # noqa: A002
    """tf.compat.v1.diag_part (tf.linalg.tensor_diag_part): the inverse of diag."""
    return make_op("DiagPart", [_t(input)], {}, name).outputs[0]


def trace(x, name=None):
    """The sum of the main diagonal of each matrix: reduce_sum(matrix_diag_part(x), -1)."""
    return _R.reduce_sum(matrix_diag_part(_t(x, "x")), axis=[-1], name=name)


def matrix_transpose(a, name="matrix_transpose", conjugate=False):
    """Swap the last two dimensions of `a` (rank >= 2, known rank); with `conjugate`, a complex
    `a` is also conjugated."""
    a = _t(a, "a")
    r = a.shape.rank
    if r is None:
        raise ValueError(f"matrix_transpose: '{a.name}' must have a known rank")
    if r < 2:
        raise ValueError(f"matrix_transpose: '{a.name}' must be at least rank 2, got shape "
                         f"{_fmt(a.shape)}")
    return _A.transpose(a, list(range(r - 2)) + [r - 1, r - 2], name=name, conjugate=conjugate)


def adjoint(matrix, name=None):
    """The conjugate transpose of the last two dimensions (= matrix_transpose for reals)."""
    return matrix_transpose(matrix, name=name or "adjoint", conjugate=True)


def eye(num_rows, num_columns=None, batch_shape=None, dtype=_dt.float32, name=None):
    """An identity matrix (or a batch of them) of shape batch_shape + [num_rows, num_columns]
    (tf.eye).  num_rows and num_columns may be int32 scalar tensors (then num_columns must be
    omitted or the same tensor); batch_shape is a list of ints or a 1-D int tensor."""
    dtype = _dt.as_dtype(dtype)
    rows, cols = num_rows, num_rows if num_columns is None else num_columns
    static = [constant_value(v) if isinstance(v, Tensor) else v for v in (rows, cols)]
    bstatic = batch_shape
    if isinstance(batch_shape, Tensor):
        bv = constant_value(batch_shape)
        bstatic = None if bv is None else [int(d) for d in bv]
    if all(v is not None for v in static) and (batch_shape is None or bstatic is not None):
        r, c = (int(np.asarray(v).reshape(())) for v in static)
        if r < 0 or c < 0:
            raise ValueError(f"eye: num_rows and num_columns must be non-negative, got {r}, {c}")
        value = np.eye(r, c, dtype=dtype.np)
        if bstatic:
            value = np.broadcast_to(value, list(bstatic) + [r, c])
        return constant(value, dtype=dtype, name=name or "eye")
    if num_columns is not None and num_columns is not num_rows:
        raise NotImplementedError("eye: num_columns must be omitted (or be num_rows) when the "
                                  "sizes are tensors computed at run time")
    n = _A.reshape(_M.cast(_t(rows, "num_rows"), _dt.int32), [1])
    if batch_shape is not None:
        bs = batch_shape if isinstance(batch_shape, Tensor) else constant(
            np.asarray(batch_shape, np.int32).reshape([-1]), dtype=_dt.int32)
        n = _A.concat([_M.cast(bs, _dt.int32), n], 0)
    return matrix_diag(_A.fill(n, constant(1, dtype=dtype)), name=name or "eye")


def qr(input, full_matrices=False, name=None):  # noqa: A002
    """(q, r) of each matrix in `input` (..., m, n): q (..., m, k) with orthonormal columns and
    r (..., k, n) upper triangular, k = min(m, n) (or m with full_matrices)."""
    op = make_op("Qr", [_t(input)], {"full_matrices": bool(full_matrices)}, name)
    return op.outputs[0], op.outputs[1]


def svd(tensor, full_matrices=False, compute_uv=True, name=None):
    """Singular values s (..., k) of each matrix (descending) and, with compute_uv, u and v
    with tensor = u @ diag(s) @ adjoint(v): returns (s, u, v), or s alone."""
    op = make_op("Svd", [_t(tensor, "tensor")], {"full_matrices": bool(full_matrices),
                                                 "compute_uv": bool(compute_uv)}, name)
    return (op.outputs[0], op.outputs[1], op.outputs[2]) if compute_uv else op.outputs[0]


def self_adjoint_eig(tensor, name=None):
    """(e, v): eigenvalues (ascending) and eigenvectors (columns) of each self-adjoint matrix;
    only the lower triangle is read (tf.linalg.eigh)."""
    op = make_op("SelfAdjointEigV2", [_t(tensor, "tensor")], {"compute_v": True}, name)
    return op.outputs[0], op.outputs[1]


def self_adjoint_eigvals(tensor, name=None):
    """Eigenvalues (ascending) of each self-adjoint matrix (tf.linalg.eigvalsh)."""
    op = make_op("SelfAdjointEigV2", [_t(tensor, "tensor")], {"compute_v": False}, name)
    return op.outputs[0]


def expm(input, name=None):  # noqa: A002
    """The matrix exponential of each square matrix (tf.linalg.expm): Padé approximation with
    scaling and squaring (Higham 2005), as TF computes it."""
    return make_op("MatrixExponential", [_t(input)], {}, name).outputs[0]


def matrix_solve_ls(matrix, rhs, l2_regularizer=0.0, fast=True, name=None):
    """Least-squares solutions of matrix @ x = rhs (tf.linalg.lstsq, fast=True path): the
    regularised normal equations solved by Cholesky, (AᴴA + λI)⁻¹ Aᴴ b for m >= n, else
    Aᴴ (AAᴴ + λI)⁻¹ b.  Needs static matrix sizes."""
    if not fast:
        raise NotImplementedError("matrix_solve_ls: only fast=True is supported")
    a = _t(matrix, "matrix")
    b = _t_like(rhs, a)
    s = _matrix("MatrixSolveLs", a)
    _matrix("MatrixSolveLs", b, what="rhs")
    if s.rank is None or s[-1] is None or s[-2] is None:
        raise NotImplementedError("matrix_solve_ls: the matrix sizes must be static")
    m, n = s[-2], s[-1]
    _dims_match("MatrixSolveLs", a, b, m, b.shape[-2] if b.shape.rank else None,
                "matrix rows must match the rows of rhs")
    reg = _M.cast(_t(l2_regularizer, "l2_regularizer"), a.dtype)
    if m >= n:
        gram = _M.matmul(a, a, adjoint_a=True)
        chol = cholesky(gram + reg * eye(n, dtype=a.dtype))
        return cholesky_solve(chol, _M.matmul(a, b, adjoint_a=True), name=name)
    gram = _M.matmul(a, a, adjoint_b=True)
    chol = cholesky(gram + reg * eye(m, dtype=a.dtype))
    return _M.matmul(a, cholesky_solve(chol, b), adjoint_a=True, name=name)


lstsq = matrix_solve_ls


# --- batching rules ---------------------------------------------------------------------------
def _register_batching():
    from .. import batching as B

    def same(ctx, op, inputs, batched):
        return list(make_op(op.type, inputs, op.attrs, graph=ctx.graph).outputs)

    def aligned(cores):
        """Batched operands get unit dims after the batch dim so batch ranks line up."""
        def rule(ctx, op, inputs, batched):
            ranks = [None if t.shape.rank is None else t.shape.rank - b
                     for t, b in zip(inputs, batched)]
            if None in ranks:
                raise B.NoBatchingRule(op, f"{op.type}: an input has unknown rank")
            target = max(r - c for r, c in zip(ranks, cores))
            new = []
            for t, b, r, c in zip(inputs, batched, ranks, cores):
                for _ in range(target - (r - c) if b else 0):
                    t = _A.expand_dims(t, 1)
                new.append(t)
            return same(ctx, op, new, batched)
        return rule

    def set_diag(ctx, op, inputs, batched):
        lo, hi = op.attrs.get("k", (0, 0))
        return aligned((2, 1 if lo == hi else 2))(ctx, op, inputs, batched)

    def tensor_diag(ctx, op, inputs, batched):
        x, = inputs
        s = op.inputs[0].shape
        if not s.is_fully_defined():
            raise B.NoBatchingRule(op, "Diag: needs a static input shape")
        n = int(np.prod(s.as_list(), dtype=np.int64))
        d = matrix_diag(_A.reshape(x, [ctx.m, n]))
        return [_A.reshape(d, [ctx.m] + s.as_list() + s.as_list())]

    def tensor_diag_part(ctx, op, inputs, batched):
        x, = inputs
        s = op.outputs[0].shape
        if not s.is_fully_defined():
            raise B.NoBatchingRule(op, "DiagPart: needs a static input shape")
        n = int(np.prod(s.as_list(), dtype=np.int64))
        d = matrix_diag_part(_A.reshape(x, [ctx.m, n, n]))
        return [_A.reshape(d, [ctx.m] + s.as_list())]

    rules = {t: same for t in ("Cholesky", "MatrixInverse", "MatrixDeterminant",
                               "LogMatrixDeterminant", "MatrixDiag", "MatrixDiagPart",
                               "MatrixBandPart", "Qr", "Svd", "SelfAdjointEigV2",
                               "MatrixExponential")}
    rules.update({"CholeskyGrad": aligned((2, 2)), "MatrixTriangularSolve": aligned((2, 2)), "MatrixSolve": aligned((2, 2)),
                  "MatrixSetDiag": set_diag, "Diag": tensor_diag,
                  "DiagPart": tensor_diag_part})
    for t, rule in rules.items():
        B.BATCH_RULES.setdefault(t, rule)


_register_batching()


def matvec(a, b, transpose_a=False, adjoint_a=False, name=None):
    """a (..., m, n) times the vector(s) b (..., n) -> (..., m) (tf.linalg.matvec)."""
    b = _t(b, "b")
    return _A.squeeze(_M.matmul(a, _A.expand_dims(b, -1), transpose_a=transpose_a,
                                adjoint_a=adjoint_a), axis=[-1], name=name)


__all__.append("matvec")


def _make_builders_atomic():
    """A failed builder leaves no ops behind (numgrad.graph.atomic), like ng's other builders."""
    from ..graph import atomic
    g = globals()
    for name in __all__:
        if name != "lstsq":
            g[name] = atomic(g[name])
    g["lstsq"] = g["matrix_solve_ls"]


_make_builders_atomic()
