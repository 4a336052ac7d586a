"""NumPy's own BLAS, callable from Numba's nopython code: the matmuls of a native plan.

Why: a plan that runs whole inside one Numba function (backends/cpu_native.py) needs its
matmuls there too, and Numba's ``np.dot`` needs SciPy, which numgrad does not depend on.
NumPy's wheels bundle OpenBLAS built with 64-bit integers and export its CBLAS functions
under prefixed names (``scipy_cblas_sgemm64_``, ...).  Calling that same library keeps the
results of a native plan bit for bit those of ``np.matmul`` (the same routine, arguments and
data), and threadpoolctl's limits (blas_threads.py) apply to it as to NumPy's own calls.

How: `available()` (once, on first use: `find()`) asks threadpoolctl which BLAS library
NumPy loaded, opens it with ctypes and looks up the four routines a plan needs (s/d gemm,
s/d gemv).  Their addresses are given to LLVM under numgrad's own symbol names
(``numgrad_cblas_sgemm``, ...), which the jitted functions below call as external
functions: a function calling them is cached on disk like any other (a baked-in ctypes
pointer would not be), and loading it from the cache links to the addresses of this
process.  Anything else (MKL, Accelerate, a BLAS with 32-bit integers
or other names, no threadpoolctl) leaves `AVAILABLE` False with the reason in `REASON`, and
plans run their matmuls through NumPy as before.  ``NUMGRAD_NATIVE_BLAS=0`` turns the
lookup off (config.py).

`matmul_into(a, b, out)` dispatches as NumPy 2.x's matmul does for the two cases it handles:
a general product calls gemm (transposed views as transposed operands, their leading
dimension from their strides), a matrix-vector product (one output column) gemv.  Other
shapes (a row times a matrix, an inner dimension of 1, empty dimensions) are
`supported(...) == False`: their plans keep NumPy's path.  A @ A.T of one buffer (NumPy's
syrk) is seen only at run time: matmul_into raises, and the plan's step runner computes that
call.

Blocked products (`block_for`, `matmul_blocks_into`, NUMGRAD_BLOCKED_WGRAD): a weight
gradient X^T @ dY with few outputs and a long inner dimension (W6: (20, 10000) @ (10000,
20)) is computed as a sum over blocks of the inner dimension, one gemm per block, the first
with beta = 0 and the others with beta = 1.  Why: the OpenBLAS NumPy bundles (its SkylakeX
kernels) runs gemms of M*N*K up to 10**6 multiply-adds by its small-matrix kernels, which
read the operands as they are, and larger ones by its general path, which first copies them
into packed panels; for a (20, 20) output that path is ~1.8x slower per multiply-add.  Timed
here (min of 15 interleaved calls, one thread, loaded 2-core VM, blocked / whole): float32
(20, 20) output, K = 10000: 0.56 (151 us whole), K = 50000: 0.55; (2, 20), K = 50000: 0.48;
(64, 64) and (20, 256) in blocks of 128: 0.71-0.82; (128, 128): 0.93-1.0 (not blocked);
float64 alike (0.43-0.79).  Below 10**6 multiply-adds the whole product already takes the
small path (blocks: 1.0-1.2, slower).  The step runner (backends/cpu_runners.py) and the
native lanes (compiler/emit_lane.py) both call matmul_blocks_into for such a product, so
their results stay bit-identical; they are no longer np.matmul's bits (the same sum, added
in another order: within rounding of it, as the NumPy backend's results are).

One signature per dtype (`read_only`, `operand`, `flag_source`): Numba compiles a function
once per argument type, and a read-only array (a graph constant's value, or a block carved
from one) is a type of its own, as is a literal ``True`` (``Literal[bool](True)``) against a
``bool``.  The generated lane and row-block functions passed constants, feeds and their own
buffers, with literal transpose flags, and Python callers writeable arrays: a cold run of the
lanes' and row blocks' test files compiled 15 signatures of the three helpers below (7 of
matmul_into) for 2 dtypes, 0.1-0.2 CPU s each (0.3-0.6 for a process's first).  So the
operands `a` and `b` of every helper here are read-only (as an opaque kernel's inputs are,
kernels/cpu/flavour.py), `out` writeable and the flags plain bools: generated code wraps
each operand in `read_only` (the same array retyped, no copy: at most a reference count's
increment and decrement that Numba's pruning leaves) and writes its flags with
`flag_source`; a Python caller hands `operand(a)`.  That run compiles 6: one per helper and
dtype (and one, not two, of the gemm wrapper per dtype: matmul_blocks_into's pointers are
uint64 as matmul_into's are).
"""
import ctypes
import threading

import numpy as np
from numba import njit, types
from numba.core.imputils import impl_ret_borrowed
from numba.extending import intrinsic, overload

from ... import config, numba_load

ENABLED = config.get("NUMGRAD_NATIVE_BLAS")
BLOCKED = config.get("NUMGRAD_BLOCKED_WGRAD")
# OpenBLAS's small-matrix kernels take a gemm of at most this many multiply-adds (M*N*K)
SMALL_KERNEL_MACS = 10 ** 6
MIN_BLOCK = 128         # smaller blocks cost more in calls than they gain (128, 128: none)
MAX_BLOCK = 2048        # (2, 20), K = 50000, float64: 150 us in blocks of 2048, 172 of 16384

# CBLAS enums
ROW_MAJOR, COL_MAJOR, NO_TRANS, TRANS = 101, 102, 111, 112

# our symbol -> the names NumPy's bundled OpenBLAS exports it under (64-bit integers)
ROUTINES = {
    "numgrad_cblas_sgemm": ("scipy_cblas_sgemm64_", "cblas_sgemm64_"),
    "numgrad_cblas_dgemm": ("scipy_cblas_dgemm64_", "cblas_dgemm64_"),
    "numgrad_cblas_sgemv": ("scipy_cblas_sgemv64_", "cblas_sgemv64_"),
    "numgrad_cblas_dgemv": ("scipy_cblas_dgemv64_", "cblas_dgemv64_"),
}

_LOCK = threading.Lock()
AVAILABLE = False
REASON = "not looked up yet"
LIBRARY = None              # the path of the library found


def numpy_blas_path():
    """(path, internal api) of the BLAS library NumPy loaded, from threadpoolctl, or None."""
    import threadpoolctl
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas" and "numpy" in (info.get("filepath") or "").lower():
            return info["filepath"], info.get("internal_api")
    for info in threadpoolctl.threadpool_info():
        if info.get("user_api") == "blas":
            return info["filepath"], info.get("internal_api")
    return None


def lookup(lib):
    """{our symbol: address} of every routine in `lib` (a ctypes library), or None and the
    first missing routine's names."""
    found = {}
    for ours, names in ROUTINES.items():
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                found[ours] = ctypes.cast(fn, ctypes.c_void_p).value
                break
        else:
            return None, f"no {' or '.join(names)} in NumPy's BLAS"
    return found, None


def find():
    """Look the routines up once and register them with LLVM; sets AVAILABLE and REASON."""
    global AVAILABLE, REASON, LIBRARY
    if not ENABLED:
        AVAILABLE, REASON = False, "NUMGRAD_NATIVE_BLAS=0"
        return AVAILABLE
    try:
        where = numpy_blas_path()
    except Exception as e:  # noqa: BLE001  (no threadpoolctl: NumPy's path)
        where, REASON = None, f"threadpoolctl could not tell NumPy's BLAS ({e})"
    else:
        REASON = "threadpoolctl found no BLAS library of NumPy's"
    if where is None:
        AVAILABLE = False
        return AVAILABLE
    path, api = where
    if api != "openblas":
        AVAILABLE, REASON = False, f"NumPy's BLAS is {api} ({path}), not a bundled OpenBLAS"
        return AVAILABLE
    found, missing = lookup(ctypes.CDLL(path))
    if found is None:
        AVAILABLE, REASON = False, missing
        return AVAILABLE
    register(found)
    AVAILABLE, REASON, LIBRARY = True, f"NumPy's OpenBLAS ({path})", path
    return AVAILABLE


def register(addresses):
    """Give LLVM our symbols' addresses (jitted code links to them by name)."""
    import llvmlite.binding as llvm
    for name, address in addresses.items():
        llvm.add_symbol(name, address)


def available():
    """Whether native code can call NumPy's BLAS (looked up on the first call: threadpoolctl
    is not imported by `import numgrad`)."""
    if REASON == "not looked up yet":
        with _LOCK:
            if REASON == "not looked up yet":
                find()
    return AVAILABLE


def describe():
    """One line for plan summaries and explain()."""
    available()
    return ("native matmuls: " + REASON) if AVAILABLE else ("native matmuls off: " + REASON)


_i, _p = types.int64, types.intp       # BLAS integers (64-bit), pointers as integers
_gemm_sig = types.void(types.intc, types.intc, types.intc, _i, _i, _i, None, _p, _i, _p, _i,
                       None, _p, _i)
_gemv_sig = types.void(types.intc, types.intc, _i, _i, None, _p, _i, _p, _i, None, _p, _i)


def _typed(sig, scalar):
    args = [scalar if a is None else a for a in sig.args]
    return types.void(*args)


sgemm = types.ExternalFunction("numgrad_cblas_sgemm", _typed(_gemm_sig, types.float32))
dgemm = types.ExternalFunction("numgrad_cblas_dgemm", _typed(_gemm_sig, types.float64))
sgemv = types.ExternalFunction("numgrad_cblas_sgemv", _typed(_gemv_sig, types.float32))
dgemv = types.ExternalFunction("numgrad_cblas_dgemv", _typed(_gemv_sig, types.float64))


def supported(a_shape, b_shape, dtype, transpose_a, transpose_b):
    """Whether matmul_into computes this 2-D product as NumPy does (see the docstring)."""
    if np.dtype(dtype) not in (np.dtype(np.float32), np.dtype(np.float64)):
        return False
    if len(a_shape) != 2 or len(b_shape) != 2:
        return False
    m, k = (a_shape[1], a_shape[0]) if transpose_a else a_shape
    n = b_shape[0] if transpose_b else b_shape[1]
    if min(m, k, n) < 1 or m == 1 or k == 1:
        return False
    return max(m, k, n) < 2 ** 31


def block_for(a_shape, b_shape, dtype, transpose_a, transpose_b):
    """The inner block of matmul_blocks_into for this 2-D product, or 0 for one gemm (or
    np.matmul): blocked when NUMGRAD_BLOCKED_WGRAD is on, native calls are `available()`,
    the left operand is transposed and the right one not (the weight-gradient form, the one
    measured), the product leaves OpenBLAS's small-matrix kernels (more than
    SMALL_KERNEL_MACS multiply-adds) but stays under blas_threads.SMALL_MACS (numgrad runs it
    on one BLAS thread), and a block of at least MIN_BLOCK fits those kernels: the largest
    power of two with M*N*block <= SMALL_KERNEL_MACS (at most MAX_BLOCK), if K spans more
    than one."""
    from ... import blas_threads
    if not BLOCKED or not transpose_a or transpose_b:
        return 0
    if not supported(a_shape, b_shape, dtype, transpose_a, transpose_b):
        return 0
    k, m = a_shape
    n = b_shape[1]
    macs = m * n * k
    if not SMALL_KERNEL_MACS < macs < blas_threads.SMALL_MACS or n == 1:
        return 0
    block = min(MAX_BLOCK, 1 << int(SMALL_KERNEL_MACS // (m * n)).bit_length() - 1)
    if block < MIN_BLOCK or block >= k or not available():
        return 0
    return block


def node_block(node):
    """block_for of a 2-D matmul node of a plan (static shapes), else 0."""
    a, b = node.inputs
    if a.shape is None or b.shape is None or None in tuple(a.shape) + tuple(b.shape):
        return 0
    block = block_for(tuple(a.shape), tuple(b.shape), a.dtype, bool(node.attrs["transpose_a"]),
                      bool(node.attrs["transpose_b"]))
    if block:       # the step will call it: its cached machine code is loaded now
        numba_load.preload(matmul_blocks_into)
    return block


@intrinsic
def read_only(typingctx, a):
    """Array `a` typed read-only, in njit code: the same array (data, shape, owner), no copy;
    the type all the helpers below take their operands as."""
    if not isinstance(a, types.Array):
        return None

    def codegen(context, builder, sig, args):
        return impl_ret_borrowed(context, builder, sig.return_type, args[0])
    return a.copy(readonly=True)(a), codegen


def operand(a):
    """An operand of the helpers below for a Python caller: a C-contiguous read-only view of
    `a` (a copy only where `a` is not C-contiguous); `a` itself keeps its flags."""
    a = np.ascontiguousarray(a)
    if a.flags.writeable:
        a = a.view()
        a.flags.writeable = False
    return a


def flag_source(flag):
    """A transpose flag as generated source: ``np.bool_(...)``, typed ``bool`` as a Python
    caller's flag is, never a literal (``True`` would be ``Literal[bool](True)``: a signature
    of its own per value)."""
    return f"np.bool_({bool(flag)!r})"


def _gemm(out, order, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    """c = op(a) @ op(b) + beta c by s/dgemm as out's dtype says (alpha 1; beta 0 overwrites
    c, beta 1 adds to it)."""


def _gemv(out, order, trans, rows, cols, a, lda, x, incx, y, incy):
    """y = op(a) @ x by s/dgemv as out's dtype says (alpha 1, beta 0)."""


@overload(_gemm, jit_options={"nogil": True, "cache": True})
def _gemm_typed(out, order, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
    if out.dtype == types.float32:
        def impl(out, order, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
            sgemm(order, ta, tb, m, n, k, np.float32(1.0), a, lda, b, ldb, np.float32(beta), c,
                  ldc)
        return impl
    if out.dtype == types.float64:
        def impl(out, order, ta, tb, m, n, k, a, lda, b, ldb, beta, c, ldc):
            dgemm(order, ta, tb, m, n, k, 1.0, a, lda, b, ldb, np.float64(beta), c, ldc)
        return impl
    return None


@overload(_gemv, jit_options={"nogil": True, "cache": True})
def _gemv_typed(out, order, trans, rows, cols, a, lda, x, incx, y, incy):
    if out.dtype == types.float32:
        def impl(out, order, trans, rows, cols, a, lda, x, incx, y, incy):
            sgemv(order, trans, rows, cols, np.float32(1.0), a, lda, x, incx, np.float32(0.0),
                  y, incy)
        return impl
    if out.dtype == types.float64:
        def impl(out, order, trans, rows, cols, a, lda, x, incx, y, incy):
            dgemv(order, trans, rows, cols, 1.0, a, lda, x, incx, 0.0, y, incy)
        return impl
    return None


@njit(nogil=True, cache=True, no_cfunc_wrapper=True)
def matmul_into(a, b, out, transpose_a, transpose_b):
    """out = op(a) @ op(b) for C-contiguous 2-D float arrays (op: transpose if asked; a and b
    read-only, see the module's docstring), by the BLAS routine NumPy's matmul picks.  Raises
    ValueError for A @ A.T of one buffer (NumPy's syrk case), which the caller must not pass
    (`supported` rules out the other cases)."""
    m, n = out.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    if a.ctypes.data == b.ctypes.data and transpose_a != transpose_b:
        raise ValueError("A @ A.T of one buffer: NumPy computes it with syrk")
    ta = TRANS if transpose_a else NO_TRANS
    if n == 1:
        # matrix @ vector: gemv over a (rows x cols as stored); the vector's stride is b's
        # row stride (1 when b is a transposed row)
        inc = 1 if transpose_b else b.shape[1]
        _gemv(out, ROW_MAJOR, ta, a.shape[0], a.shape[1], a.ctypes.data, a.shape[1],
              b.ctypes.data, inc, out.ctypes.data, 1)
        return
    tb = TRANS if transpose_b else NO_TRANS
    _gemm(out, ROW_MAJOR, ta, tb, m, n, k, a.ctypes.data, a.shape[1], b.ctypes.data,
          b.shape[1], 0.0, out.ctypes.data, n)


@njit(nogil=True, cache=True, no_cfunc_wrapper=True)
def matmul_acc_into(a, b, out, transpose_a, transpose_b):
    """out += op(a) @ op(b) for C-contiguous 2-D float arrays (a and b read-only), always by
    gemm (beta = 1): the partial sums of a product over blocks of rows (a weight gradient
    X^T @ dY summed block by block; bench_rowblock.py).  Unlike matmul_into it does not follow
    NumPy's choice of routine, so its results are not bit for bit np.matmul's (the same sums
    within rounding)."""
    m, n = out.shape
    k = a.shape[0] if transpose_a else a.shape[1]
    _gemm(out, ROW_MAJOR, TRANS if transpose_a else NO_TRANS,
          TRANS if transpose_b else NO_TRANS, m, n, k, a.ctypes.data, a.shape[1],
          b.ctypes.data, b.shape[1], 1.0, out.ctypes.data, n)


@njit(nogil=True, cache=True, no_cfunc_wrapper=True)
def matmul_blocks_into(a, b, out, transpose_a, transpose_b, block, start, stop):
    """out = the sum over the inner indices [start, stop) of op(a) @ op(b), for C-contiguous
    2-D float arrays (a and b read-only): one gemm per `block` inner indices, the first with
    beta = 0 (out is overwritten), the others with beta = 1, in order.  Zeros where start ==
    stop."""
    m, n = out.shape
    if stop <= start:
        out[:] = 0
        return
    size = a.itemsize
    # bytes between consecutive inner indices of a (its rows when transposed, else its
    # columns) and of b (its columns when transposed, else its rows)
    step_a = a.shape[1] * size if transpose_a else size
    step_b = size if transpose_b else b.shape[1] * size
    ta = TRANS if transpose_a else NO_TRANS
    tb = TRANS if transpose_b else NO_TRANS
    for k0 in range(start, stop, block):
        kb = min(block, stop - k0)
        # pointers as uint64, as matmul_into's: one signature of _gemm per dtype
        pa = a.ctypes.data + np.uint64(k0 * step_a)
        pb = b.ctypes.data + np.uint64(k0 * step_b)
        _gemm(out, ROW_MAJOR, ta, tb, m, n, kb, pa, a.shape[1], pb, b.shape[1],
              0.0 if k0 == start else 1.0, out.ctypes.data, n)
