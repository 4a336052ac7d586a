"""ng.linalg: the tf.compat.v1.linalg names numgrad has (numgrad/ops/linalg.py holds the ops).

``ng.linalg.diag``/``diag_part`` are the batched matrix versions (tf.linalg.diag), and
``ng.linalg.tensor_diag``/``tensor_diag_part`` the rank-k ones (tf.compat.v1.diag).
"""
from .ops.linalg import (adjoint, cholesky, cholesky_solve, expm, eye, logdet, lstsq,  # noqa: F401
                         matrix_transpose, matvec, qr, slogdet, svd, trace)
from .ops.linalg import diag as tensor_diag  # noqa: F401
from .ops.linalg import diag_part as tensor_diag_part  # noqa: F401
from .ops.linalg import matrix_band_part as band_part  # noqa: F401
from .ops.linalg import matrix_determinant as det  # noqa: F401
from .ops.linalg import matrix_diag as diag  # noqa: F401
from .ops.linalg import matrix_diag_part as diag_part  # noqa: F401
from .ops.linalg import matrix_inverse as inv  # noqa: F401
from .ops.linalg import matrix_set_diag as set_diag  # noqa: F401
from .ops.linalg import matrix_solve as solve  # noqa: F401
from .ops.linalg import matrix_transpose as transpose  # noqa: F401
from .ops.linalg import matrix_triangular_solve as triangular_solve  # noqa: F401
from .ops.linalg import self_adjoint_eig as eigh  # noqa: F401
from .ops.linalg import self_adjoint_eigvals as eigvalsh  # noqa: F401
from .ops.math import matmul  # noqa: F401
from .ops.math_extra import cross, norm  # noqa: F401
from .ops.nn_extra import l2_normalize  # noqa: F401
from .ops.aliases import normalize  # noqa: F401
from .ops.array_extra import einsum, tensordot  # noqa: F401
from .clip_ops import global_norm  # noqa: F401
