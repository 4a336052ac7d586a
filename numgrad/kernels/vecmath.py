"""Branch-free, SIMD-vectorisable scalar math for Numba.

Numba lowers ``math.exp``/``np.tanh``/... on scalars to calls into libm, and a
call in a loop body stops LLVM's loop vectoriser.  The functions here are
written with only arithmetic, comparisons-with-selects (``a if c else b``) and
same-width float<->int bit casts, so once inlined into a loop LLVM emits packed
SIMD code (``<8 x float>`` / ``<16 x float>`` with AVX-512).

Public functions (usable from ``@njit`` code *and* from Python; each accepts a
float32 or a float64 scalar and returns the same type):

    exp, log, expm1, log1p, tanh, sigmoid, sin, cos, tan, erf, erfc, atan, asin, acos,
    atan2 (y, x), digamma, lgamma

Dispatch: every function ``f`` is a tiny ``@njit`` wrapper around an
``overload``-ed stub that selects ``_f_f32`` or ``_f_f64`` by the argument's
bit width (integer arguments are treated as float64).  The typed kernels can
also be called directly from jitted code (not from Python: some have no Python
entry point, see Compiling).

Compiling: a typed kernel is either pasted into its caller's Numba IR (``_inlined``: small
helpers, and functions only the compiled wrappers of compiler/vecmath_calls.py call) or
compiled on its own and called (``_linked``: the functions other typed kernels share, such
as exp, log, expm1, the sin/cos core and the float64 functions the float32 versions
evaluate).  Numba's IR inliner re-reads, copies and re-types a function in every caller;
a linked function is typed once per process and argument types, and LLVM inlines the call
(it is marked alwaysinline), so the loop code, and every result, is the same either way.
A compiled wrapper pastes the function it wraps (:func:`body_name`) and calls the linked
ones inside it.  All 34 wrappers compiled in one process took 8.5 s of CPU with everything
pasted, 4.1 s with this split (loaded dev VM); one wrapper alone in a fresh process 15-45%
less (docs/benchmarks.md, "The vecmath wrappers' compile").

Implementation notes
--------------------
* Selects are written ``_sel(c, a, b)`` (one LLVM ``select``), not ``a if c
  else b``: conditional expressions create Numba IR blocks, and Numba's IR
  inliner deep-copies the scope per block, which made compile time of the
  inlined kernels grow quadratically (tanh: 3 s -> 1.8 s per dtype).
* exp (f64/f32): Cody-Waite reduction ``x = k*ln2 + r`` with ``k`` obtained by
  the "add 1.5*2^p" rounding trick, Taylor polynomial for ``exp(r)`` on
  ``|r| <= ln2/2`` (degree 13 for f64, 7 for f32; truncation error below
  0.05 ulp), and ``2^k`` applied as two exactly-representable powers of two so
  that results in the subnormal range are rounded once (correct gradual
  underflow) and ``k = 1024`` / ``128`` does not overflow early.
* log (f64/f32): exponent/mantissa split by bit manipulation (subnormals are
  pre-scaled), mantissa folded into ``[sqrt(2)/2, sqrt(2))``, then the classic
  fdlibm / FreeBSD ``s = f/(2+f)`` kernel with the published Remez
  coefficients (``e_log.c``: Lg1..Lg7; ``e_logf.c``: Lg1..Lg4).
* Long float64 polynomials (exp's degree-13, expm1's degree-18) are evaluated by Estrin's
  scheme (pairs, then powers r^2, r^4, r^8): a shorter dependency chain than Horner's.
* expm1 (f64): Taylor polynomial ``x + x^2*q(x)`` (degree 18) for ``|x| < 1``
  and ``exp(x) - 1`` elsewhere (cancellation there is at most a factor 2).
* log1p (f64): ``u = 1 + x``; ``log(u) - ((u - 1) - x)/u`` (first-order
  correction for the rounding of ``u``).
* tanh (f64): ``e/(e+2)`` with ``e = expm1(2|x|)`` and the sign copied back.
* sigmoid (f64): ``num/(1 + exp(-|x|))`` with ``num = 1`` or ``exp(-|x|)``.
* sin/cos/tan (f64): branch-free Cody-Waite reduction ``x = k*pi/2 + y + yt``
  with fdlibm's 3 x 33-bit pi/2 split (three compensated steps, always
  executed), fdlibm k_sin/k_cos polynomials on [-pi/4, pi/4] (with the tail
  ``yt``), sin/cos polynomial and sign selected by ``k mod 4``; tan is the
  ratio ``s/c`` or ``-c/s``.  <= 4 ulp (measured: sin/cos < 1.6, tan < 3.4)
  only for ``|x| <= 1.6e6`` (``k*pio2_i`` exact for ``|k| < 2^20``); beyond,
  accuracy degrades, ``|x| > 2^49`` is treated as 0, sin/cos stay finite and
  in [-1, 1]; inf/nan give nan, +-0 gives +-0 (cos: 1).  float32 tan is evaluated in
  float64 and rounded (same range); float32 sin/cos reduce the argument in float64 with a
  two-step Cody-Waite split and evaluate float32 polynomials (exhaustive sweep: 1.56 ulp).
* erf (f64): fdlibm ``s_erf.c`` with its published coefficients, branch-free:
  ``x + x*P/Q(x^2)`` (|x| < 0.84375; tiny |x| scaled to avoid underflow),
  ``erx + P1/Q1(|x|-1)`` (< 1.25) and ``1 - exp(-z*z-0.5625)*exp((z-a)(z+a)
  + R/S(1/x^2))/a`` (< 6, ``z`` = ``a`` with its low word cleared; ``ra/sa``
  or ``rb/sb`` selected at 1/0.35; |x| >= 6 clamped to 6, giving 1) are all
  computed and selected.  float32 erf is evaluated in float64 and rounded.
  Measured max error: 0.9 ulp (f64); float32 correctly rounded on the strided sweep.
* erfc (f64): fdlibm ``s_erf.c``'s erfc, branch-free like erf (same coefficients): 1 - erf
  from the small rational (split at 1/4), ``1 -+ (erx + P/Q)`` up to 1.25, then
  ``exp(-z*z - 0.5625)*exp((z-a)(z+a) + R/S)/a`` with |x| clamped to [1.25, 28]
  (subtracted from 2 for negative x; 0 or 2 from |x| = 28 on).  float32 via float64.
  Measured max error: 2.6 ulp (f64, near x = 2.2, where the two exps and the division
  add up); float32 correctly rounded on the strided sweep.
* atan (f64): fdlibm ``s_atan.c``: |x| is moved next to 0, 1/2, 1, 3/2 or infinity
  (``atan(v) + atan((|x| - v)/(1 + v|x|))``, v's atan split high + low), all five
  reductions written as one quotient whose numerator, denominator and constants are
  selected; then the degree-11 odd polynomial.  float32 atan is evaluated in float64 and
  rounded.  Measured max error: 0.85 ulp (f64); the float32 results are the correctly
  rounded ones on the whole strided sweep.
* asin (f64): fdlibm ``e_asin.c``: ``x + x*R(x^2)`` (R rational) for |x| < 1/2, else
  ``pi/2 - 2*asin(sqrt((1-|x|)/2))``, below |x| = 0.975 with sqrt split into a high part
  (low word cleared) and a correction; all three computed and selected, nan for |x| > 1.
  float32 via float64.  Measured max error: 0.86 ulp (f64); float32 correctly rounded on
  the strided sweep.
* acos (f64): fdlibm ``e_acos.c`` with asin's R: ``pi/2 - (x - x*R(x^2))`` for |x| < 1/2,
  ``pi - 2*asin(sqrt((1+x)/2))`` below -1/2, ``2*asin(sqrt((1-x)/2))`` (sqrt split high +
  low) above; selected, acos(1) = +0, nan for |x| > 1.  float32 via float64.  Measured max
  error: 0.90 ulp (f64); float32 correctly rounded on the strided sweep.
* atan2 (f64): fdlibm ``e_atan2.c``: ``atan(|y/x|)`` (the atan above), then ``pi - (z -
  pi_lo)`` for negative x (unless |y/x| > 2^60) and y's sign; its special cases reduce to
  three selects (y zero, both infinite, nan), as |y/x| is 0 or inf in the others.
  float32 via float64.  Measured max error (240k pairs over the whole range): 1.27 ulp
  (f64); float32 correctly rounded.
* digamma (f64): TF's special values (nan at 0, the negative integers, -inf).  x <= 0 by
  reflection, ``psi(1-x) - pi*cot(pi*f)`` with f = x - round(x) formed exactly and the
  cotangent as ``tan(pi*(1/2 - |f|))`` past |f| = 1/4; then 1/x subtracted below 1 or eight
  masked steps ``t -> t-1`` (adding 1/t) down into [1, 2], where Boost's rational is
  written around the positive root (kept to full relative accuracy), or from 10 on the
  asymptotic series.  Measured max error against SciPy: 2 ulp for x > 0 (SciPy's own error
  included); for x < 0, 4 ulp of the larger of psi(1-x) and pi*cot(pi*x), which cancel
  near the negative roots (TF's Cephes is a few e-13 off near the positive root).  float32
  via float64: correctly rounded on the sweep.
* lgamma (f64): fdlibm ``e_lgamma_r.c`` for x > 0 with its interval tests as selects: below
  2 one of three expansions (about 1, the minimum tc, or 2; -log(x) added below 0.9),
  then a rational times the masked product (f+2)...(f+6) up to 8, then Stirling.  x < 0
  by reflection with sin(pi*(x - round(x))), -log|x| below 2^-54; inf at the poles and
  +-inf (TF's values).  Measured max error against a long double reference: 2.0 ulp for
  x > 0; for x < 0, 6 ulp of the larger of log(pi/|x sin(pi x)|) and lgamma(-x) (the
  rounding of x*sin(pi x) becomes an absolute error of the log, which is large next to
  a term near 0.5; the test allows 8).  float32 via float64: correctly rounded on the
  sweep.
* float32 expm1/log1p/tanh/sigmoid use native float32 arithmetic (16 lanes
  per AVX-512 register): expm1 ``x + x^2*q(x)`` (degree-8 fitted q, |x| < 1)
  else ``exp(x) - 1``; log1p as in f64; tanh ``x + x*z*P(z)`` (degree-4
  fitted P, |x| < 0.55) else ``1 - 2/(exp(2|x|) + 1)``; sigmoid as in f64.
  Measured max error (float32 sweeps: every 17th bit pattern; tanh
  exhaustive): expm1 1.8, log1p 1.4, tanh 1.4, sigmoid 2.0 ulp.

All special values follow NumPy: nan propagates, +-inf and +-0 map like the
NumPy ufuncs, overflow gives inf, underflow gives (sub)normal results / 0,
``log(x<0) = nan``, ``log(0) = -inf``, ``log1p(-1) = -inf``.
Call these from kernels compiled with ``error_model="numpy"``: under Numba's
default "python" error model every float division gets a zero-check branch,
which blocks vectorisation (results are unaffected; no denominator here can be
zero).  Everything is compiled with ``fastmath=False``: no reassociation, so the
error-compensating expressions stay intact.
"""
import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

__all__ = ["exp", "log", "expm1", "log1p", "tanh", "sigmoid", "sin", "cos", "tan",
           "erf", "atan", "asin", "acos", "atan2", "erfc", "digamma", "lgamma"]

_jit = dict(fastmath=False, cache=False)

# Two ways a typed kernel reaches its callers (see "Compiling" in the module docstring):
# _inlined ones are pasted into the caller's Numba IR, _linked ones are compiled once per
# process and argument types and inlined by LLVM.  A compiled wrapper pastes the kernel it
# wraps: body_name() names the dispatcher that does (for a _linked kernel a second one,
# `<name>_body`, made on first use by the module's __getattr__).
_LINKED = {}            # name of a _linked kernel -> its Python function


def _inlined(fn):
    """A typed kernel pasted into its caller's Numba IR (typed and lowered as the caller's
    own code): small helpers, or functions only the compiled wrappers call."""
    return njit(inline="always", **_jit)(fn)


def _linked(fn):
    """A typed kernel compiled on its own, once per process and argument types, and called
    from jitted code only (no Python or C entry point: a call from Python crashes); LLVM
    inlines the call into every caller (``forceinline``: alwaysinline).  For the functions
    that other typed kernels share (exp, log, the float64 ones the float32 versions
    evaluate, ...): Numba types them once instead of once per caller."""
    _LINKED[fn.__name__] = fn
    return njit(forceinline=True, error_model="numpy", no_cfunc_wrapper=True,
                no_cpython_wrapper=True, **_jit)(fn)


def body_name(name):
    """The name of this module's dispatcher that pastes the typed kernel `name`
    (``"_exp_f64"``) into its caller's Numba IR: `name` itself for an _inlined kernel,
    ``name + "_body"`` for a _linked one.  A compiled wrapper of one function then compiles
    as one Numba function (the shared kernels inside it linked)."""
    return name + "_body" if name in _LINKED else name


def __getattr__(attr):
    """``<linked kernel>_body``: made when a wrapper is first compiled (not at import, nor
    when a process loads the wrappers from the cache)."""
    fn = _LINKED.get(attr[:-len("_body")]) if attr.endswith("_body") else None
    if fn is None:
        raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")
    return globals().setdefault(attr, njit(inline="always", **_jit)(fn))


# --------------------------------------------------------------------------
# bit casts
# --------------------------------------------------------------------------
@intrinsic
def _f2i(typingctx, x):
    """Reinterpret a float32/float64 as int32/int64 (same bits)."""
    if isinstance(x, types.Float):
        ity = types.int32 if x.bitwidth == 32 else types.int64

        def codegen(context, builder, sig, args):
            return builder.bitcast(args[0], ir.IntType(x.bitwidth))

        return ity(x), codegen


def _make_i2f(width):
    fty = types.float32 if width == 32 else types.float64
    llf = ir.FloatType() if width == 32 else ir.DoubleType()

    @intrinsic
    def _i2f(typingctx, i):
        if isinstance(i, types.Integer):
            def codegen(context, builder, sig, args):
                v = args[0]
                if i.bitwidth > width:
                    v = builder.trunc(v, ir.IntType(width))
                elif i.bitwidth < width:
                    v = builder.sext(v, ir.IntType(width))
                return builder.bitcast(v, llf)

            return fty(i), codegen

    return _i2f


_i2f32 = _make_i2f(32)  # low 32 bits of any integer -> float32 bits
_i2f64 = _make_i2f(64)  # any integer (sign-extended) -> float64 bits


def _host_has_fma():
    """Whether Numba's code for this process may use FMA instructions: the host CPU has them
    and no NUMBA_CPU_NAME / NUMBA_CPU_FEATURES override asks for a more generic target."""
    import numba
    if numba.config.CPU_NAME or numba.config.CPU_FEATURES:
        return "+fma" in (numba.config.CPU_FEATURES or "")
    try:
        import llvmlite.binding as llvm
        return bool(llvm.get_host_cpu_features().get("fma", False))
    except Exception:       # pragma: no cover - no feature query: plain multiply-add
        return False


_HAVE_FMA = _host_has_fma()


@intrinsic
def _fma(typingctx, a, b, c):
    """``a * b + c`` for the polynomial (Horner) steps: one fused multiply-add where the CPU
    has FMA (one rounding, a third fewer vector instructions in exp/log/tanh/sin), else a
    multiply and an add.  Only vecmath uses it; a kernel's own arithmetic is never fused,
    so elementwise results stay NumPy's."""
    tys = [types.unliteral(t) for t in (a, b, c)]
    if all(isinstance(t, types.Float) for t in tys):
        ty = typingctx.unify_types(*tys)

        def codegen(context, builder, sig, args):
            av, bv, cv = [context.cast(builder, v, t, ty) for v, t in zip(args, sig.args)]
            if _HAVE_FMA:
                fn = builder.module.declare_intrinsic(
                    "llvm.fma", [av.type], ir.FunctionType(av.type, [av.type] * 3))
                return builder.call(fn, [av, bv, cv])
            return builder.fadd(builder.fmul(av, bv), cv)

        return ty(a, b, c), codegen


@intrinsic
def _radd(typingctx, acc, x):
    """``acc + x`` that LLVM may reassociate: a sum accumulated with it in a loop vectorises
    (partial sums in vector registers, combined when the loop ends), where a plain float add
    keeps the loop scalar.  Only that add carries the flag, so the values summed are still
    computed exactly as written.  The order of the partial sums is fixed by the compiled
    loop (its vector width), not by the data or the threads."""
    if isinstance(acc, types.Float) and acc == x:
        def codegen(context, builder, sig, args):
            return builder.fadd(args[0], args[1], flags=("reassoc",))

        return acc(acc, x), codegen



@intrinsic
def _imin(typingctx, a, b):
    """``min(a, b)`` of two integers as one compare and select.  Numba's ``min`` is an
    overload compiled (typed, lowered, optimised by LLVM) once per process on its first use:
    ~25 ms of the first call of a kernel that cuts its inner loop into blocks."""
    if isinstance(a, types.Integer) and isinstance(b, types.Integer):
        def codegen(context, builder, sig, args):
            av, bv = [context.cast(builder, v, t, types.intp) for v, t in zip(args, sig.args)]
            return builder.select(builder.icmp_signed("<", bv, av), bv, av)

        return types.intp(a, b), codegen


@intrinsic
def _empty(typingctx, n, dtype):
    """``np.empty(n, dtype)`` (1-d, C order): a kernel's scratch buffer, allocated as NumPy's
    ``np.empty`` is in Numba (the same NRT call, size and alignment) but lowered in place.
    Numba's ``np.empty`` is an overload that compiles itself and its allocator on first use
    in a process: ~0.1 s of the first call of a kernel with block buffers.  `n` >= 0."""
    nb = getattr(dtype, "dtype", None)
    if isinstance(n, types.Integer) and isinstance(dtype, (types.NumberClass, types.DType)) \
            and isinstance(nb, (types.Float, types.Integer, types.Boolean, types.Complex)):
        arrty = types.Array(nb, 1, "C")

        def codegen(context, builder, sig, args):
            from numba.core import cgutils
            from numba.np.arrayobj import make_array, populate_array

            size = context.cast(builder, args[0], sig.args[0], types.intp)
            data_type = context.get_data_type(nb)
            itemsize = context.get_constant(types.intp, context.get_abi_sizeof(data_type))
            align = context.get_preferred_array_alignment(nb)
            meminfo = context.nrt.meminfo_alloc_aligned(
                builder, builder.mul(size, itemsize), align)
            data = context.nrt.meminfo_data(builder, meminfo)
            ary = make_array(arrty)(context, builder)
            populate_array(ary, data=builder.bitcast(data, data_type.as_pointer()),
                           shape=cgutils.pack_array(builder, [size]),
                           strides=cgutils.pack_array(builder, [itemsize]),
                           itemsize=itemsize, meminfo=meminfo)
            return ary._getvalue()

        return arrty(n, dtype), codegen

# CPUs whose AVX-512 units clock down hard under 512-bit code (LLVM's reason for preferring
# 256-bit vectors on every AVX-512 CPU); elsewhere numgrad's kernels ask for 512-bit ones.
_THROTTLING_AVX512 = {"skylake-avx512", "cascadelake", "cooperlake"}


def _wide_vectors_pay():
    import numba
    name = numba.config.CPU_NAME
    if not name:
        try:
            import llvmlite.binding as llvm
            name = llvm.get_host_cpu_name()
        except Exception:       # pragma: no cover
            return False
    return name not in _THROTTLING_AVX512


_WIDE_VECTORS = _wide_vectors_pay()


@intrinsic
def _prefer_wide_vectors(typingctx):
    """Called first in a big kernel: marks the LLVM function "prefer-vector-width"="512".

    LLVM vectorises with 256-bit registers even on AVX-512 CPUs unless a function asks for
    more; on the development VM (Rocket Lake) 512-bit loops ran exp/log/tanh/sin 20-30%
    faster, with bit-identical results (lanes are independent; reductions stay sequential).
    A no-op on CPUs without AVX-512 and on the Skylake-SP family (_THROTTLING_AVX512)."""
    def codegen(context, builder, sig, args):
        if _WIDE_VECTORS:
            # llvmlite validates attribute names against a fixed list that lacks key="value"
            # string attributes, so the text is added to the set directly.
            set.add(builder.function.attributes, '"prefer-vector-width"="512"')
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def _always_inline(typingctx):
    """Called first in a function: marks it ``alwaysinline`` for LLVM.

    numgrad's kernels call vecmath through small compiled wrappers (see
    compiler/vecmath_calls.py) instead of pasting the functions' text into every loop; LLVM
    must then inline them into the loop, or the loop would not vectorise (its own inliner
    declined erf and tan)."""
    def codegen(context, builder, sig, args):
        builder.function.attributes.add("alwaysinline")
        return context.get_dummy_value()

    return types.none(), codegen


@intrinsic
def _sel(typingctx, c, a, b):
    """``a if c else b`` as one LLVM ``select`` (no basic blocks).

    Python conditional expressions create three Numba IR blocks each; Numba's
    IR inliner deep-copies the whole scope once per block, so compile time of
    the inlined kernels grew quadratically with their size.  Both operands are
    always evaluated (they are cheap and side-effect free here).
    """
    if isinstance(c, types.Boolean):
        ty = typingctx.unify_types(types.unliteral(a), types.unliteral(b))
        if ty is None:
            return None

        def codegen(context, builder, sig, args):
            cv, av, bv = args
            av = context.cast(builder, av, sig.args[1], ty)
            bv = context.cast(builder, bv, sig.args[2], ty)
            return builder.select(cv, av, bv)

        return ty(c, a, b), codegen

f32 = np.float32

# --------------------------------------------------------------------------
# float64 kernels
# --------------------------------------------------------------------------
_MAGIC64 = 6755399441055744.0          # 1.5 * 2**52: x + M - M == rint(x)
_MAGIC64_BITS = 0x4338000000000000
_LOG2E = 1.4426950408889634
_LN2_HI = 6.93147180369123816490e-01   # fdlibm ln2_hi (21 trailing zero bits)
_LN2_LO = 1.90821492927058770002e-10
# 1/n! for n = 2..13  (Taylor coefficients of exp)
_E = [1.0 / math.factorial(n) for n in range(14)]
(_E2, _E3, _E4, _E5, _E6, _E7, _E8, _E9, _E10, _E11, _E12, _E13) = _E[2:]


@_linked
def _exp_f64(x):
    # clamp: below -746 the result is 0, above 710 it is inf either way; nan passes.
    xc = _sel(x < -746.0, -746.0, x)
    xc = _sel(xc > 710.0, 710.0, xc)
    t = xc * _LOG2E + _MAGIC64
    kf = t - _MAGIC64
    k = _f2i(t) - _MAGIC64_BITS                    # int64, |k| <= 1077
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO          # |r| <= ~0.347
    # Estrin's scheme, not Horner's: the polynomial's dependency chain is 4 FMAs deep instead
    # of 12.  On a Zen 1 core (small out-of-order window, 128-bit FMA units) the Horner chain
    # made the loop latency-bound: 5.2 -> 4.4 ns/element.  float32 exp (degree 7) gained
    # nothing measurable from the same change, so it keeps Horner's scheme.
    r2 = r * r
    r4 = r2 * r2
    q01 = _fma(_fma(_E5, r, _E4), r2, _fma(_E3, r, _E2))
    q23 = _fma(_fma(_E9, r, _E8), r2, _fma(_E7, r, _E6))
    q45 = _fma(_fma(_E13, r, _E12), r2, _fma(_E11, r, _E10))
    q = _fma(_fma(q45, r4, q23), r4, q01)         # E2 + E3 r + ... + E13 r^11
    p = _fma(q, r2, r)
    p = p + 1.0
    k1 = k >> 1
    k2 = k - k1
    s1 = _i2f64((k1 + 1023) << 52)
    s2 = _i2f64((k2 + 1023) << 52)
    return (p * s1) * s2


_SQRT2 = 1.4142135623730951
_TWO52 = 4503599627370496.0
_MIN_NORMAL64 = 2.2250738585072014e-308
# fdlibm e_log.c Remez coefficients
_LG1 = 6.666666666666735130e-01
_LG2 = 3.999999999940941908e-01
_LG3 = 2.857142874366239149e-01
_LG4 = 2.222219843214978396e-01
_LG5 = 1.818357216161805012e-01
_LG6 = 1.531383769920937332e-01
_LG7 = 1.479819860511658591e-01


@_linked
def _log_f64(x):
    sub = x < _MIN_NORMAL64
    xs = _sel(sub, x * _TWO52, x)
    bits = _f2i(xs)
    e = ((bits >> 52) & 0x7FF) - _sel(sub, 1023 + 52, 1023)
    m = _i2f64((bits & 0x000FFFFFFFFFFFFF) | 0x3FF0000000000000)
    big = m > _SQRT2
    m = _sel(big, m * 0.5, m)
    e = _sel(big, e + 1, e)
    f = m - 1.0
    s = f / (2.0 + f)
    dk = float(e)
    z = s * s
    w = z * z
    t1 = w * _fma(w, _fma(w, _LG6, _LG4), _LG2)
    t2 = z * _fma(w, _fma(w, _fma(w, _LG7, _LG5), _LG3), _LG1)
    R = t2 + t1
    hfsq = 0.5 * f * f
    res = dk * _LN2_HI - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO)) - f)
    res = _sel(x == 0.0, -np.inf, res)
    res = _sel(x < 0.0, np.nan, res)
    res = _sel((x != x) | (x == np.inf), x, res)
    return res



@_linked
def _expm1_f64(x):
    # exp's reduction x = k ln2 + r, |r| <= ~0.347, and exp's polynomial, read as
    # expm1(r) = r + r^2 q(r) (relative error ~1e-17 even as r -> 0).  Then
    #   expm1(x) = 2^k (1 + expm1(r)) - 1 = 2^k expm1(r) + (2^k - 1),
    # which for |k| <= 60 is one FMA of exact terms (2^k - 1 is exact for k <= 53, and the
    # result never cancels: k != 0 means |x| > 0.347, |expm1(x)| > 0.29).  Beyond k = 60 the
    # -1 is below half an ulp and exp's two-step scaling reaches 2^1024.  One polynomial per
    # element instead of exp's plus a degree-18 Taylor series: tanh 9.0 -> ~6.5 ns (Zen 1).
    xc = _sel(x < -45.0, -45.0, x)                # expm1(-45) == -1.0; nan passes
    xc = _sel(xc > 710.0, 710.0, xc)
    t = xc * _LOG2E + _MAGIC64
    kf = t - _MAGIC64
    k = _f2i(t) - _MAGIC64_BITS                   # int64, -65 <= k <= 1025
    r = (xc - kf * _LN2_HI) - kf * _LN2_LO
    r2 = r * r
    r4 = r2 * r2
    q01 = _fma(_fma(_E5, r, _E4), r2, _fma(_E3, r, _E2))
    q23 = _fma(_fma(_E9, r, _E8), r2, _fma(_E7, r, _E6))
    q45 = _fma(_fma(_E13, r, _E12), r2, _fma(_E11, r, _E10))
    q = _fma(_fma(q45, r4, q23), r4, q01)
    pm1 = _fma(q, r2, r)                          # expm1(r)
    kn = _sel(k > 60, 60, k)
    s = _i2f64((kn + 1023) << 52)
    near = _fma(s, pm1, s - 1.0)
    k1 = k >> 1
    k2 = k - k1
    far = ((pm1 + 1.0) * _i2f64((k1 + 1023) << 52)) * _i2f64((k2 + 1023) << 52)
    res = _sel(k > 60, far, near)
    return _sel(x == 0.0, x, res)                 # keeps -0.0


@_inlined
def _log1p_f64(x):
    u = 1.0 + x
    c = (u - 1.0) - x
    res = _log_f64(u) - c / _sel(u == 0.0, 1.0, u)
    res = _sel(abs(x) < 5.551115123125783e-17, x, res)   # |x| < 2^-54, keeps -0.0
    res = _sel(x == -1.0, -np.inf, res)
    res = _sel(x == np.inf, x, res)
    return res


@_inlined
def _tanh_f64(x):
    a = abs(x)
    a = _sel(a > 40.0, 40.0, a)                  # tanh(40) == 1.0; avoids inf/inf
    e = _expm1_f64(2.0 * a)
    t = e / (e + 2.0)
    return math.copysign(t, x)


@_inlined
def _sigmoid_f64(x):
    e = _exp_f64(-abs(x))
    num = _sel(x >= 0.0, 1.0, e)
    return num / (1.0 + e)


# --- sin / cos / tan (f64) -----------------------------------------------
# Branch-free Cody-Waite reduction x = k*pi/2 + r, |r| <= ~pi/4, with the
# fdlibm 3 x 33-bit split of pi/2 (e_rem_pio2.c: pio2_1/2/3 and tails), all
# three compensated steps always executed.  k*pio2_i is exact for |k| < 2^20,
# so the reduction is accurate for |x| < 2^20*pi/2 (~1.6e6).  Beyond that the
# result degrades gradually; for |x| > 2^49 x is replaced by 0 (results are
# then meaningless but finite, and every result is clamped to [-1, 1]).
_INVPIO2 = 6.36619772367581382433e-01
_PIO2_1 = 1.57079632673412561417e+00
_PIO2_1T = 6.07710050650619224932e-11
_PIO2_2 = 6.07710050630396597660e-11
_PIO2_2T = 2.02226624879595063154e-21
_PIO2_3 = 2.02226624871116645580e-21
_PIO2_3T = 8.47842766036889956997e-32
_TRIG_BIG = 5.6e14                      # ~2^49: beyond, x -> 0
# fdlibm k_sin.c / k_cos.c minimax coefficients on [-pi/4, pi/4]
_S1 = -1.66666666666666324348e-01
_S2 = 8.33333333332248946124e-03
_S3 = -1.98412698298579493134e-04
_S4 = 2.75573137070700676789e-06
_S5 = -2.50507602534068634195e-08
_S6 = 1.58969099521155010221e-10
_C1 = 4.16666666666666019037e-02
_C2 = -1.38888888888741095749e-03
_C3 = 2.48015872894767294178e-05
_C4 = -2.75573143513906633035e-07
_C5 = 2.08757232129817482790e-09
_C6 = -1.13596475577881948265e-11


@_inlined
def _rem_pio2_f64(x):
    """(y, yt, q): x = k*pi/2 + y + yt, q = k mod 4 (int64); y nan for inf/nan."""
    xc = _sel(abs(x) > _TRIG_BIG, 0.0, x)
    t = xc * _INVPIO2 + _MAGIC64
    fn = t - _MAGIC64
    q = (_f2i(t) - _MAGIC64_BITS) & 3
    r = xc - fn * _PIO2_1                    # exact for |k| < 2^20
    tt = r
    w = fn * _PIO2_2
    r = tt - w
    w = fn * _PIO2_2T - ((tt - r) - w)
    tt = r
    w = fn * _PIO2_3
    r = tt - w
    w = fn * _PIO2_3T - ((tt - r) - w)
    y = r - w
    yt = (r - y) - w                            # tail: x - k*pi/2 ~= y + yt
    y = _sel((x - x) != 0.0, x - x, y)          # inf/nan -> nan
    return y, yt, q


@_inlined
def _ksin_f64(r, rt, z):
    # fdlibm __kernel_sin(r, rt, 1)
    p = _fma(z, _fma(z, _fma(z, _fma(z, _S6, _S5), _S4), _S3), _S2)
    v = z * r
    return r - ((z * (0.5 * rt - v * p) - rt) - v * _S1)


@_inlined
def _kcos_f64(r, rt, z):
    # fdlibm __kernel_cos(r, rt)
    hz = 0.5 * z
    w = 1.0 - hz
    p = z * _fma(z, _fma(z, _fma(z, _fma(z, _fma(z, _C6, _C5), _C4), _C3), _C2), _C1)
    return w + (((1.0 - w) - hz) + (z * p - r * rt))


@_linked
def _sincos_q_f64(x, shift):
    r, rt, q = _rem_pio2_f64(x)
    q = (q + shift) & 3
    z = r * r
    s = _ksin_f64(r, rt, z)
    c = _kcos_f64(r, rt, z)
    v = _sel((q & 1) == 1, c, s)
    v = _sel((q & 2) == 2, -v, v)
    v = _sel(v > 1.0, 1.0, v)
    v = _sel(v < -1.0, -1.0, v)
    return v


@_inlined
def _sin_f64(x):
    return _sel(x == 0.0, x, _sincos_q_f64(x, np.int64(0)))      # keeps -0.0


@_inlined
def _cos_f64(x):
    return _sincos_q_f64(x, np.int64(1))


@_linked
def _tan_f64(x):
    r, rt, q = _rem_pio2_f64(x)
    z = r * r
    s = _ksin_f64(r, rt, z)
    c = _kcos_f64(r, rt, z)
    odd = (q & 1) == 1
    num = _sel(odd, -c, s)
    den = _sel(odd, s, c)
    den = _sel(den == 0.0, 1.0, den)     # only r == 0 with odd q (x == 0 excl.)
    return _sel(x == 0.0, x, num / den)


# --- erf (f64) -------------------------------------------------------------
# fdlibm s_erf.c (Sun, 1993; as in FreeBSD msun / openlibm src/s_erf.c),
# evaluated branch-free: all three pieces are computed and selected.  The
# constants are fdlibm's published ones; each decimal value was checked to
# equal the hex bit pattern printed next to it in s_erf.c.
_ERF_ERX = 8.45062911510467529297e-01
_ERF_EFX8 = 1.02703333676410069053e+00
_ERF_PP0 = 1.28379167095512558561e-01
_ERF_PP1 = -3.25042107247001499370e-01
_ERF_PP2 = -2.84817495755985104766e-02
_ERF_PP3 = -5.77027029648944159157e-03
_ERF_PP4 = -2.37630166566501626084e-05
_ERF_QQ1 = 3.97917223959155352819e-01
_ERF_QQ2 = 6.50222499887672944485e-02
_ERF_QQ3 = 5.08130628187576562776e-03
_ERF_QQ4 = 1.32494738004321644526e-04
_ERF_QQ5 = -3.96022827877536812320e-06
_ERF_PA0 = -2.36211856075265944077e-03
_ERF_PA1 = 4.14856118683748331666e-01
_ERF_PA2 = -3.72207876035701323847e-01
_ERF_PA3 = 3.18346619901161753674e-01
_ERF_PA4 = -1.10894694282396677476e-01
_ERF_PA5 = 3.54783043256182359371e-02
_ERF_PA6 = -2.16637559486879084300e-03
_ERF_QA1 = 1.06420880400844228286e-01
_ERF_QA2 = 5.40397917702171048937e-01
_ERF_QA3 = 7.18286544141962662868e-02
_ERF_QA4 = 1.26171219808761642112e-01
_ERF_QA5 = 1.36370839120290507362e-02
_ERF_QA6 = 1.19844998467991074170e-02
_ERF_RA0 = -9.86494403484714822705e-03
_ERF_RA1 = -6.93858572707181764372e-01
_ERF_RA2 = -1.05586262253232909814e+01
_ERF_RA3 = -6.23753324503260060396e+01
_ERF_RA4 = -1.62396669462573470355e+02
_ERF_RA5 = -1.84605092906711035994e+02
_ERF_RA6 = -8.12874355063065934246e+01
_ERF_RA7 = -9.81432934416914548592e+00
_ERF_SA1 = 1.96512716674392571292e+01
_ERF_SA2 = 1.37657754143519042600e+02
_ERF_SA3 = 4.34565877475229228821e+02
_ERF_SA4 = 6.45387271733267880336e+02
_ERF_SA5 = 4.29008140027567833386e+02
_ERF_SA6 = 1.08635005541779435134e+02
_ERF_SA7 = 6.57024977031928170135e+00
_ERF_SA8 = -6.04244152148580987438e-02
_ERF_RB0 = -9.86494292470009928597e-03
_ERF_RB1 = -7.99283237680523006574e-01
_ERF_RB2 = -1.77579549177547519889e+01
_ERF_RB3 = -1.60636384855821916062e+02
_ERF_RB4 = -6.37566443368389627722e+02
_ERF_RB5 = -1.02509513161107724954e+03
_ERF_RB6 = -4.83519191608651397019e+02
_ERF_SB1 = 3.03380607434824582924e+01
_ERF_SB2 = 3.25792512996573918826e+02
_ERF_SB3 = 1.53672958608443695994e+03
_ERF_SB4 = 3.19985821950859553908e+03
_ERF_SB5 = 2.55305040643316442583e+03
_ERF_SB6 = 4.74528541206955367215e+02
_ERF_SB7 = -2.24409524465858183362e+01
_ERF_T1 = 0.84375
_ERF_T2 = 1.25
_ERF_T3 = 2.857142857142857            # 1/0.35: switch ra/sa -> rb/sb
_ERF_TINY = 3.725290298461914e-09       # 2^-28
_ERF_HUGE = 6.0                         # erf(|x| >= 6) rounds to 1


@_linked
def _erf_f64(x):
    a = abs(x)
    # |x| < 0.84375: x + x*P(x^2)/Q(x^2); tiny |x|: x*(1 + efx) without underflow
    z = x * x
    r = _ERF_PP0 + z * (_ERF_PP1 + z * (_ERF_PP2 + z * (_ERF_PP3 + z * _ERF_PP4)))
    s = 1.0 + z * (_ERF_QQ1 + z * (_ERF_QQ2 + z * (_ERF_QQ3 + z * (_ERF_QQ4 + z * _ERF_QQ5))))
    v1 = x + x * (r / s)
    v1 = _sel(a < _ERF_TINY, 0.125 * (8.0 * x + _ERF_EFX8 * x), v1)
    # 0.84375 <= |x| < 1.25: erx + P1(s)/Q1(s), s = |x| - 1
    s2 = a - 1.0
    p2 = _ERF_PA0 + s2 * (_ERF_PA1 + s2 * (_ERF_PA2 + s2 * (_ERF_PA3 + s2 * (
        _ERF_PA4 + s2 * (_ERF_PA5 + s2 * _ERF_PA6)))))
    q2 = 1.0 + s2 * (_ERF_QA1 + s2 * (_ERF_QA2 + s2 * (_ERF_QA3 + s2 * (
        _ERF_QA4 + s2 * (_ERF_QA5 + s2 * _ERF_QA6)))))
    v2 = _ERF_ERX + p2 / q2
    # 1.25 <= |x| < 6: 1 - exp(-x*x - 0.5625 + R(1/x^2)/S(1/x^2))/|x|
    a3 = _sel(a < _ERF_T2, _ERF_T2, a)
    a3 = _sel(a3 > _ERF_HUGE, _ERF_HUGE, a3)        # nan passes; inf -> 1
    s3 = 1.0 / (a3 * a3)
    ra = _ERF_RA0 + s3 * (_ERF_RA1 + s3 * (_ERF_RA2 + s3 * (_ERF_RA3 + s3 * (
        _ERF_RA4 + s3 * (_ERF_RA5 + s3 * (_ERF_RA6 + s3 * _ERF_RA7))))))
    sa = 1.0 + s3 * (_ERF_SA1 + s3 * (_ERF_SA2 + s3 * (_ERF_SA3 + s3 * (
        _ERF_SA4 + s3 * (_ERF_SA5 + s3 * (_ERF_SA6 + s3 * (_ERF_SA7 + s3 * _ERF_SA8)))))))
    rb = _ERF_RB0 + s3 * (_ERF_RB1 + s3 * (_ERF_RB2 + s3 * (_ERF_RB3 + s3 * (
        _ERF_RB4 + s3 * (_ERF_RB5 + s3 * _ERF_RB6)))))
    sb = 1.0 + s3 * (_ERF_SB1 + s3 * (_ERF_SB2 + s3 * (_ERF_SB3 + s3 * (
        _ERF_SB4 + s3 * (_ERF_SB5 + s3 * (_ERF_SB6 + s3 * _ERF_SB7))))))
    lo = a3 < _ERF_T3
    rr = _sel(lo, ra, rb)
    ss = _sel(lo, sa, sb)
    zh = _i2f64(_f2i(a3) & -4294967296)            # a3 with the low 32 bits cleared
    e = _exp_f64(-zh * zh - 0.5625) * _exp_f64((zh - a3) * (zh + a3) + rr / ss)
    v3 = 1.0 - e / a3
    v = math.copysign(_sel(a < _ERF_T2, v2, v3), x)
    return _sel(a < _ERF_T1, v1, v)


_ERFC_CUT = 28.0                        # erfc(|x| >= 28): 0 (x > 0) or 2 (x < 0)


@_linked
def _erfc_f64(x):
    """fdlibm ``s_erf.c``'s erfc, every interval computed and one selected: 1 - erf(x) from
    the small-|x| rational (split at 1/4 to keep the cancellation exact), then 1 -+ (erx +
    P/Q), then exp(-z^2 - 0.5625)*exp((z - a)(z + a) + R/S)/a (a = |x| clamped to [1.25,
    28], z = a with its low word cleared), subtracted from 2 for negative x."""
    a = abs(x)
    # |x| < 0.84375
    z = x * x
    r = _ERF_PP0 + z * (_ERF_PP1 + z * (_ERF_PP2 + z * (_ERF_PP3 + z * _ERF_PP4)))
    s = 1.0 + z * (_ERF_QQ1 + z * (_ERF_QQ2 + z * (_ERF_QQ3 + z * (_ERF_QQ4 + z * _ERF_QQ5))))
    y = r / s
    v1 = _sel(x < 0.25, 1.0 - (x + x * y), 0.5 - (x * y + (x - 0.5)))
    # 0.84375 <= |x| < 1.25
    s2 = a - 1.0
    p2 = _ERF_PA0 + s2 * (_ERF_PA1 + s2 * (_ERF_PA2 + s2 * (_ERF_PA3 + s2 * (
        _ERF_PA4 + s2 * (_ERF_PA5 + s2 * _ERF_PA6)))))
    q2 = 1.0 + s2 * (_ERF_QA1 + s2 * (_ERF_QA2 + s2 * (_ERF_QA3 + s2 * (
        _ERF_QA4 + s2 * (_ERF_QA5 + s2 * _ERF_QA6)))))
    v2 = _sel(x > 0.0, (1.0 - _ERF_ERX) - p2 / q2, 1.0 + (_ERF_ERX + p2 / q2))
    # 1.25 <= |x|: the asymptotic form, 0 or 2 from |x| = 28 on (nan passes the clamps)
    a3 = _sel(a < _ERF_T2, _ERF_T2, a)
    a3 = _sel(a3 > _ERFC_CUT, _ERFC_CUT, a3)
    s3 = 1.0 / (a3 * a3)
    ra = _ERF_RA0 + s3 * (_ERF_RA1 + s3 * (_ERF_RA2 + s3 * (_ERF_RA3 + s3 * (
        _ERF_RA4 + s3 * (_ERF_RA5 + s3 * (_ERF_RA6 + s3 * _ERF_RA7))))))
    sa = 1.0 + s3 * (_ERF_SA1 + s3 * (_ERF_SA2 + s3 * (_ERF_SA3 + s3 * (
        _ERF_SA4 + s3 * (_ERF_SA5 + s3 * (_ERF_SA6 + s3 * (_ERF_SA7 + s3 * _ERF_SA8)))))))
    rb = _ERF_RB0 + s3 * (_ERF_RB1 + s3 * (_ERF_RB2 + s3 * (_ERF_RB3 + s3 * (
        _ERF_RB4 + s3 * (_ERF_RB5 + s3 * _ERF_RB6)))))
    sb = 1.0 + s3 * (_ERF_SB1 + s3 * (_ERF_SB2 + s3 * (_ERF_SB3 + s3 * (
        _ERF_SB4 + s3 * (_ERF_SB5 + s3 * (_ERF_SB6 + s3 * _ERF_SB7))))))
    lo = a3 < _ERF_T3
    zh = _i2f64(_f2i(a3) & -4294967296)            # a3 with the low 32 bits cleared
    e = _exp_f64(-zh * zh - 0.5625) * _exp_f64((zh - a3) * (zh + a3)
                                               + _sel(lo, ra, rb) / _sel(lo, sa, sb))
    q3 = e / a3
    v3 = _sel(x > 0.0, _sel(a >= _ERFC_CUT, 0.0, q3), 2.0 - q3)
    return _sel(a < _ERF_T1, v1, _sel(a < _ERF_T2, v2, v3))


# --------------------------------------------------------------------------
# inverse trigonometric functions (fdlibm's algorithms, every branch computed and selected)
# --------------------------------------------------------------------------
# atan(v) split high + low at the reduction points v = 1/2, 1, 3/2 and infinity
_ATAN_HI = (4.63647609000806093515e-01, 7.85398163397448278999e-01,
            9.82793723247329054082e-01, 1.57079632679489655800e+00)
_ATAN_LO = (2.26987774529616870924e-17, 3.06161699786838301793e-17,
            1.39033110312309984516e-17, 6.12323399573676603587e-17)
# odd polynomial of atan on |t| <= 7/16 (fdlibm s_atan.c aT[0..10])
(_AT0, _AT1, _AT2, _AT3, _AT4, _AT5, _AT6, _AT7, _AT8, _AT9, _AT10) = (
    3.33333333333329318027e-01, -1.99999999998764832476e-01, 1.42857142725034663711e-01,
    -1.11111104054623557880e-01, 9.09088713343650656196e-02, -7.69187620504482999495e-02,
    6.66107313738753120669e-02, -5.83357013379057348645e-02, 4.97687799461593236017e-02,
    -3.65315727442169155270e-02, 1.62858201153657823623e-02)


@_linked
def _atan_abs_f64(a):
    """atan(a) for a >= 0 (nan passes): a is moved next to 0, 1/2, 1, 3/2 or infinity
    (atan(a) = atan(v) + atan((a - v)/(1 + a*v))), one reduction chosen by selects."""
    i1 = a >= 0.4375
    i2 = a >= 0.6875
    i3 = a >= 1.1875
    i4 = a >= 2.4375
    num = _sel(i4, -1.0, _sel(i3, a - 1.5, _sel(i2, a - 1.0, _sel(i1, 2.0 * a - 1.0, a))))
    den = _sel(i4, a, _sel(i3, 1.0 + 1.5 * a, _sel(i2, a + 1.0, _sel(i1, 2.0 + a, 1.0))))
    t = num / den
    hi = _sel(i4, _ATAN_HI[3], _sel(i3, _ATAN_HI[2], _sel(i2, _ATAN_HI[1],
                                                          _sel(i1, _ATAN_HI[0], 0.0))))
    lo = _sel(i4, _ATAN_LO[3], _sel(i3, _ATAN_LO[2], _sel(i2, _ATAN_LO[1],
                                                          _sel(i1, _ATAN_LO[0], 0.0))))
    z = t * t
    w = z * z
    s1 = z * (_AT0 + w * (_AT2 + w * (_AT4 + w * (_AT6 + w * (_AT8 + w * _AT10)))))
    s2 = w * (_AT1 + w * (_AT3 + w * (_AT5 + w * (_AT7 + w * _AT9))))
    return hi - ((t * (s1 + s2) - lo) - t)


@_inlined
def _atan_f64(x):
    return math.copysign(_atan_abs_f64(abs(x)), x)


# asin(x) = x + x*R(x^2) on |x| <= 1/2, R = P/Q (fdlibm e_asin.c pS0..pS5, qS1..qS4); the
# same R serves the half-angle forms of asin and acos
(_PS0, _PS1, _PS2, _PS3, _PS4, _PS5) = (
    1.66666666666666657415e-01, -3.25565818622400915405e-01, 2.01212532134862925881e-01,
    -4.00555345006794114027e-02, 7.91534994289814532176e-04, 3.47933107596021167570e-05)
(_QS1, _QS2, _QS3, _QS4) = (-2.40339491173441421878e+00, 2.02094576023350569471e+00,
                            -6.88283971605453293030e-01, 7.70381505559019352791e-02)
_PIO2_HI = 1.57079632679489655800e+00
_PIO2_LO = 6.12323399573676603587e-17
_PIO4_HI = 7.85398163397448278999e-01


@_inlined
def _asin_r_f64(t):
    p = t * (_PS0 + t * (_PS1 + t * (_PS2 + t * (_PS3 + t * (_PS4 + t * _PS5)))))
    q = 1.0 + t * (_QS1 + t * (_QS2 + t * (_QS3 + t * _QS4)))
    return p / q


@_linked
def _asin_f64(x):
    """|x| < 1/2: x + x*R(x^2); beyond, pi/2 - 2*asin(sqrt((1 - |x|)/2)) with sqrt split
    high + low below 0.975 (fdlibm); both computed, one selected."""
    a = abs(x)
    small = a < 0.5
    t = _sel(small, x * x, (1.0 - a) * 0.5)
    r = _asin_r_f64(t)
    s = math.sqrt(t)
    near_one = _PIO2_HI - (2.0 * (s + s * r) - _PIO2_LO)
    w = _i2f64(_f2i(s) & -4294967296)               # s with the low 32 bits cleared
    c = (t - w * w) / (s + w)
    mid = _PIO4_HI - ((2.0 * s * r - (_PIO2_LO - 2.0 * c)) - (_PIO4_HI - 2.0 * w))
    v = math.copysign(_sel(a >= 0.975, near_one, mid), x)
    v = _sel(small, x + x * r, v)
    return _sel(a > 1.0, np.nan, v)


_PI = 3.14159265358979311600e+00


@_linked
def _acos_f64(x):
    """|x| < 1/2: pi/2 - asin(x); x < -1/2: pi - 2*asin(sqrt((1 + x)/2)); x > 1/2:
    2*asin(sqrt((1 - x)/2)) with sqrt split high + low (fdlibm e_acos.c), selected."""
    a = abs(x)
    small = a < 0.5
    z = _sel(small, x * x, (1.0 - a) * 0.5)
    r = _asin_r_f64(z)
    s = math.sqrt(z)
    neg = _PI - 2.0 * (s + (r * s - _PIO2_LO))
    df = _i2f64(_f2i(s) & -4294967296)              # s with the low 32 bits cleared
    c = (z - df * df) / (s + df)
    pos = 2.0 * (df + (r * s + c))
    v = _sel(x < 0.0, neg, _sel(x == 1.0, 0.0, pos))
    v = _sel(small, _PIO2_HI - (x - (_PIO2_LO - x * r)), v)
    return _sel(a > 1.0, np.nan, v)


_PI_LO = 1.22464679914735317720e-16               # pi - _PI


@_linked
def _atan2_f64(y, x):
    """atan(|y/x|) placed in the quadrant of (x, y) (fdlibm e_atan2.c), with C99's special
    cases selected: a zero y gives +-0 or +-pi, infinite x and y +-pi/4 or +-3pi/4, nan
    propagates.  A zero or infinite x, or an infinite y, needs no case of its own: |y/x| is
    then inf or 0, whose atan places right.  Past |y/x| = 2^60 the angle is +-pi/2 whatever
    x's sign (pi - (pi/2 - pi_lo) would round one ulp high)."""
    ratio = abs(y) / abs(x)
    z = _atan_abs_f64(ratio)
    x_neg = _f2i(x) < 0                             # -0.0 counts as negative, as in C99
    v = _sel(x_neg & (ratio <= 1.152921504606846976e18), _PI - (z - _PI_LO), z)
    both_inf = (abs(x) == np.inf) & (abs(y) == np.inf)
    v = _sel(both_inf, _sel(x_neg, 3.0 * _PIO4_HI, _PIO4_HI), v)
    v = _sel(y == 0.0, _sel(x_neg, _PI, 0.0), v)
    v = math.copysign(v, y)
    return _sel((x != x) | (y != y), x + y, v)


# digamma: Cephes' reflection for x <= 0, then the recurrence into [1, 2] (or past 10) and
# Boost's rational on [1, 2] written around the positive root (so values near it keep their
# relative accuracy), or the asymptotic series from 10 on
_PSI_Y = float(np.float32(0.99558162689208984))
_PSI_ROOT1 = 1569415565.0 / 1073741824.0
_PSI_ROOT2 = (381566830.0 / 1073741824.0) / 1073741824.0
_PSI_ROOT3 = 0.9016312093258695918615325266959189453125e-19
(_PSI_P0, _PSI_P1, _PSI_P2, _PSI_P3, _PSI_P4, _PSI_P5) = (
    -0.0020713321167745952, -0.045251321448739056, -0.28919126444774784,
    -0.65031853770896507, -0.32555031186804491, 0.25479851061131551)
(_PSI_Q0, _PSI_Q1, _PSI_Q2, _PSI_Q3, _PSI_Q4, _PSI_Q5) = (
    -0.55789841321675513e-6, 0.0021284987017821144, 0.054151797245674225,
    0.43593529692665969, 1.4606242909763515, 2.0767117023730469)
(_PSI_A0, _PSI_A1, _PSI_A2, _PSI_A3, _PSI_A4, _PSI_A5, _PSI_A6) = (
    8.33333333333333333333E-2, -2.10927960927960927961E-2, 7.57575757575757575758E-3,
    -4.16666666666666666667E-3, 3.96825396825396825397E-3, -8.33333333333333333333E-3,
    8.33333333333333333333E-2)


@_linked
def _digamma_f64(x):
    """psi(x) with TF's (Eigen's Cephes) special values: nan at 0, at the negative integers
    and at -inf.  x <= 0: psi(1 - x) - pi/tan(pi*f), f = x - round(x) in (-1/2, 1/2].
    Then t = x moved into [1, 2] (x < 1: 1/x subtracted; 2 < x < 10:
    eight steps t -> t - 1 with 1/t added, each masked), where psi(t) = (t - root)*(Y +
    P(t-1)/Q(t-1)) with the root split in three; from 10 on, log(x) - 1/(2x) - series."""
    neg = x <= 0.0
    f = x - np.floor(x)                  # f = x - round(x), exactly: whichever of these two
    f = _sel(f > 0.5, x - np.ceil(x), f)  # is in [-1/2, 1/2] is exact for x <= 0
    # pi*cot(pi*f); past |f| = 1/4 as pi*tan(pi*(1/2 - |f|)) (1/2 - |f| exact): tan(pi*f)
    # near pi/2 would turn the rounding of pi*f into tens of ulps
    af = abs(f)
    refl = _sel(af > 0.25, _PI * math.copysign(_tan_f64(_PI * (0.5 - af)), f),
                _PI / _tan_f64(_PI * f))
    xr = _sel(neg, 1.0 - x, x)
    small = xr < 1.0
    acc = _sel(small, -1.0 / xr, 0.0)
    t = _sel(small, xr + 1.0, xr)
    mid = t < 10.0
    for _ in range(8):
        step = mid & (t > 2.0)
        t = _sel(step, t - 1.0, t)
        acc += _sel(step, 1.0 / t, 0.0)
    u = t - 1.0
    p = _PSI_P5 + u * (_PSI_P4 + u * (_PSI_P3 + u * (_PSI_P2 + u * (_PSI_P1 + u * _PSI_P0))))
    q = 1.0 + u * (_PSI_Q5 + u * (_PSI_Q4 + u * (_PSI_Q3 + u * (_PSI_Q2 + u * (
        _PSI_Q1 + u * _PSI_Q0)))))
    g = ((t - _PSI_ROOT1) - _PSI_ROOT2) - _PSI_ROOT3
    near = g * _PSI_Y + g * (p / q)
    z = 1.0 / (xr * xr)
    series = z * (_PSI_A6 + z * (_PSI_A5 + z * (_PSI_A4 + z * (_PSI_A3 + z * (
        _PSI_A2 + z * (_PSI_A1 + z * _PSI_A0))))))
    far = _log_f64(xr) - 0.5 / xr - series
    y = acc + _sel(mid, near, far)
    y = _sel(neg, y - refl, y)
    return _sel(neg & (f == 0.0), np.nan, y)


# lgamma: fdlibm e_lgamma_r.c (its coefficients; its interval tests made selects)
(_LG_A0, _LG_A1, _LG_A2, _LG_A3, _LG_A4, _LG_A5, _LG_A6, _LG_A7, _LG_A8, _LG_A9, _LG_A10,
 _LG_A11) = (
    7.72156649015328655494e-02, 3.22467033424113591611e-01, 6.73523010531292681824e-02,
    2.05808084325167332806e-02, 7.38555086081402883957e-03, 2.89051383673415629091e-03,
    1.19270763183362067845e-03, 5.10069792153511336608e-04, 2.20862790713908385557e-04,
    1.08011567247583939954e-04, 2.52144565451257326939e-05, 4.48640949618915160150e-05)
_LG_TC = 1.46163214496836224576e+00             # the minimum of Gamma on (0, inf)
_LG_TF = -1.21486290535849611461e-01            # lgamma(tc) ...
_LG_TT = -3.63867699703950536541e-18            # ... and minus its tail
(_LG_T0, _LG_T1, _LG_T2, _LG_T3, _LG_T4, _LG_T5, _LG_T6, _LG_T7, _LG_T8, _LG_T9, _LG_T10,
 _LG_T11, _LG_T12, _LG_T13, _LG_T14) = (
    4.83836122723810047042e-01, -1.47587722994593911752e-01, 6.46249402391333854778e-02,
    -3.27885410759859649565e-02, 1.79706750811820387126e-02, -1.03142241298341437450e-02,
    6.10053870246291332635e-03, -3.68452016781138256760e-03, 2.25964780900612472250e-03,
    -1.40346469989232843813e-03, 8.81081882437654011382e-04, -5.38595305356740546715e-04,
    3.15632070903625950361e-04, -3.12754168375120860518e-04, 3.35529192635519073543e-04)
(_LG_U0, _LG_U1, _LG_U2, _LG_U3, _LG_U4, _LG_U5) = (
    -7.72156649015328655494e-02, 6.32827064025093366517e-01, 1.45492250137234768737e+00,
    9.77717527963372745603e-01, 2.28963728064692451092e-01, 1.33810918536787660377e-02)
(_LG_V1, _LG_V2, _LG_V3, _LG_V4, _LG_V5) = (
    2.45597793713041134822e+00, 2.12848976379893395361e+00, 7.69285150456672783825e-01,
    1.04222645593369134254e-01, 3.21709242282423911810e-03)
(_LG_S0, _LG_S1, _LG_S2, _LG_S3, _LG_S4, _LG_S5, _LG_S6) = (
    -7.72156649015328655494e-02, 2.14982415960608852501e-01, 3.25778796408930981787e-01,
    1.46350472652464452805e-01, 2.66422703033638609560e-02, 1.84028451407337715652e-03,
    3.19475326584100867617e-05)
(_LG_R1, _LG_R2, _LG_R3, _LG_R4, _LG_R5, _LG_R6) = (
    1.39200533467621045958e+00, 7.21935547567138069525e-01, 1.71933865632803078993e-01,
    1.86459191715652901344e-02, 7.77942496381893596434e-04, 7.32668430744625636189e-06)
(_LG_W0, _LG_W1, _LG_W2, _LG_W3, _LG_W4, _LG_W5, _LG_W6) = (
    4.18938533204672725052e-01, 8.33333333333329678849e-02, -2.77777777728775536470e-03,
    7.93650558643019558500e-04, -5.95187557450339963135e-04, 8.36339918996282139126e-04,
    -1.63092934096575273989e-03)


@_inlined
def _lgamma_pos_f64(x):
    """lgamma(x) for x > 0 (and +inf, nan): fdlibm's four regimes, all computed, selected."""
    # x < 2: around 1 or 2 (three polynomials, chosen by where x is), -log(x) below 0.9
    low = x <= 0.8999996185302734
    base = _sel(low, -_log_f64(x), 0.0)
    y = _sel(low, 1.0 - x, 2.0 - x)
    case = 0
    c1 = _sel(low, x < 0.7315998077392578, x < 1.7316312789916992)
    y = _sel(c1, _sel(low, x - (_LG_TC - 1.0), x - _LG_TC), y)
    case = _sel(c1, 1, case)
    c2 = _sel(low, x < 0.23163998126983643, x < 1.2316322326660156)
    y = _sel(c2, _sel(low, x, x - 1.0), y)
    case = _sel(c2, 2, case)
    z = y * y
    p1 = _LG_A0 + z * (_LG_A2 + z * (_LG_A4 + z * (_LG_A6 + z * (_LG_A8 + z * _LG_A10))))
    p2 = z * (_LG_A1 + z * (_LG_A3 + z * (_LG_A5 + z * (_LG_A7 + z * (_LG_A9 + z * _LG_A11)))))
    r0 = (y * p1 + p2) - 0.5 * y
    w = z * y
    q1 = _LG_T0 + w * (_LG_T3 + w * (_LG_T6 + w * (_LG_T9 + w * _LG_T12)))
    q2 = _LG_T1 + w * (_LG_T4 + w * (_LG_T7 + w * (_LG_T10 + w * _LG_T13)))
    q3 = _LG_T2 + w * (_LG_T5 + w * (_LG_T8 + w * (_LG_T11 + w * _LG_T14)))
    r1 = _LG_TF + (z * q1 - (_LG_TT - w * (q2 + y * q3)))
    u = y * (_LG_U0 + y * (_LG_U1 + y * (_LG_U2 + y * (_LG_U3 + y * (_LG_U4 + y * _LG_U5)))))
    v = 1.0 + y * (_LG_V1 + y * (_LG_V2 + y * (_LG_V3 + y * (_LG_V4 + y * _LG_V5))))
    r2 = -0.5 * y + u / v
    small = base + _sel(case == 0, r0, _sel(case == 1, r1, r2))
    # 2 <= x < 8: lgamma(2 + f) from a rational, times (f+2)(f+3)... up to x - 1
    n = np.floor(x)
    f = x - n
    ps = f * (_LG_S0 + f * (_LG_S1 + f * (_LG_S2 + f * (_LG_S3 + f * (_LG_S4 + f * (
        _LG_S5 + f * _LG_S6))))))
    qs = 1.0 + f * (_LG_R1 + f * (_LG_R2 + f * (_LG_R3 + f * (_LG_R4 + f * (
        _LG_R5 + f * _LG_R6)))))
    prod = (_sel(n > 2.0, f + 2.0, 1.0) * _sel(n > 3.0, f + 3.0, 1.0)
            * _sel(n > 4.0, f + 4.0, 1.0) * _sel(n > 5.0, f + 5.0, 1.0)
            * _sel(n > 6.0, f + 6.0, 1.0))
    mid = 0.5 * f + ps / qs + _log_f64(prod)
    # x >= 8: Stirling, (x - 1/2)(log(x) - 1) + w(1/x); from 2^58 on, x(log(x) - 1)
    lx = _log_f64(x)
    t = 1.0 / x
    t2 = t * t
    ww = _LG_W0 + t * (_LG_W1 + t2 * (_LG_W2 + t2 * (_LG_W3 + t2 * (_LG_W4 + t2 * (
        _LG_W5 + t2 * _LG_W6)))))
    big = _sel(x < 2.8823037615171174e17, (x - 0.5) * (lx - 1.0) + ww, x * (lx - 1.0))
    res = _sel(x < 2.0, small, _sel(x < 8.0, mid, big))
    return _sel((x == 1.0) | (x == 2.0), 0.0, res)


@_linked
def _lgamma_f64(x):
    """log|Gamma(x)|; inf at 0, the negative integers and +-inf (TF's values).  x < 0 by
    reflection: log(pi / |x sin(pi x)|) - lgamma(-x), the sine taken of pi*(x - round(x))
    (formed exactly, as in digamma); -log|x| for tiny x."""
    neg = x < 0.0
    pos = _lgamma_pos_f64(abs(x))
    f = x - np.floor(x)
    f = _sel(f > 0.5, x - np.ceil(x), f)
    t = abs(x * _sin_f64(_PI * f))
    refl = _log_f64(_PI / t) - pos
    refl = _sel(t == 0.0, np.inf, refl)             # the poles
    refl = _sel(x == -np.inf, np.inf, refl)
    # |x| < 2^-54: -log|x| (x sin(pi x) would underflow; the next term, -0.577x, is below
    # half an ulp of it)
    refl = _sel(x > -5.551115123125783e-17, -_log_f64(-x), refl)
    return _sel(neg, refl, pos)


# --------------------------------------------------------------------------
# float32 kernels (native float32 arithmetic for exp and log)
# --------------------------------------------------------------------------
_MAGIC32 = f32(12582912.0)               # 1.5 * 2**23
_MAGIC32_BITS = 0x4B400000
_LOG2E32 = f32(1.44269504)
_LN2_HI32 = f32(0.693359375)             # 9 significant bits: k*hi exact for |k| < 2^15
_LN2_LO32 = f32(-2.12194440e-4)
_EXP_LO32 = f32(-104.0)
_EXP_HI32 = f32(89.0)
_G = [f32(1.0 / math.factorial(n)) for n in range(8)]
(_G2, _G3, _G4, _G5, _G6, _G7) = _G[2:]
_ONE32 = f32(1.0)
_HALF32 = f32(0.5)
_TWO32 = f32(2.0)
_ZERO32 = f32(0.0)


@_inlined
def _exp_parts_f32(x):
    """(p, k) with exp(x) = p * 2^k, p in [sqrt(1/2), sqrt(2)], for x in [-104, 89]."""
    t = x * _LOG2E32 + _MAGIC32
    kf = t - _MAGIC32
    k = _f2i(t) - _MAGIC32_BITS
    r = (x - kf * _LN2_HI32) - kf * _LN2_LO32
    p = _G7
    p = _fma(p, r, _G6)
    p = _fma(p, r, _G5)
    p = _fma(p, r, _G4)
    p = _fma(p, r, _G3)
    p = _fma(p, r, _G2)
    p = p * r * r + r
    return p + _ONE32, k


@_linked
def _exp_f32(x):
    xc = _sel(x < _EXP_LO32, _EXP_LO32, x)
    xc = _sel(xc > _EXP_HI32, _EXP_HI32, xc)
    p, k = _exp_parts_f32(xc)
    k1 = k >> 1             # two steps: 2^k alone can overflow or be subnormal
    k2 = k - k1
    s1 = _i2f32((k1 + 127) << 23)
    s2 = _i2f32((k2 + 127) << 23)
    return (p * s1) * s2


@_inlined
def _exp_mid_f32(x):
    """exp(x) for x in [-87, 88], where 2^k is a normal float: the same value as _exp_f32
    (p * 2^k is exact either way) without its clamps and its two-step scaling."""
    p, k = _exp_parts_f32(x)
    return p * _i2f32((k + 127) << 23)


_SQRT2_32 = f32(1.41421356)
_TWO23_32 = f32(8388608.0)
_MIN_NORMAL32 = f32(1.17549435e-38)
# FreeBSD e_logf.c coefficients (|error| < 2**-34.24)
_LF1 = f32(0.66666662693)   # 0xaaaaaa.0p-24
_LF2 = f32(0.40000972152)   # 0xccce13.0p-25
_LF3 = f32(0.28498786688)   # 0x91e9ee.0p-25
_LF4 = f32(0.24279078841)   # 0xf89e26.0p-26
_LN2_HI32L = f32(6.9313812256e-01)  # 0x3f317180
_LN2_LO32L = f32(9.0580006145e-06)  # 0x3717f7d1
_INF32 = f32(np.inf)
_NAN32 = f32(np.nan)


@_linked
def _log_f32(x):
    sub = x < _MIN_NORMAL32
    xs = _sel(sub, x * _TWO23_32, x)
    bits = _f2i(xs)
    e = ((bits >> 23) & 0xFF) - _sel(sub, 127 + 23, 127)
    m = _i2f32((bits & 0x007FFFFF) | 0x3F800000)
    big = m > _SQRT2_32
    m = _sel(big, m * _HALF32, m)
    e = _sel(big, e + 1, e)
    f = m - _ONE32
    s = f / (_TWO32 + f)
    dk = f32(e)
    z = s * s
    w = z * z
    t1 = w * _fma(w, _LF4, _LF2)
    t2 = z * _fma(w, _LF3, _LF1)
    R = t2 + t1
    hfsq = _HALF32 * f * f
    res = dk * _LN2_HI32L - ((hfsq - (s * (hfsq + R) + dk * _LN2_LO32L)) - f)
    res = _sel(x == _ZERO32, -_INF32, res)
    res = _sel(x < _ZERO32, _NAN32, res)
    res = _sel((x != x) | (x == _INF32), x, res)
    return res


# expm1(x) = x + x^2*q(x) for |x| < 1, q of degree 8: weighted least-squares
# fit of (expm1(x) - x)/x^2 on [-1, 1] (relative-error weights, iteratively
# reweighted towards minimax; numpy, float64, 4000 Chebyshev points),
# coefficients rounded to float32; max relative error 0.19 * 2^-24.
_EQ0 = f32(0.5)
_EQ1 = f32(0.1666666716337204)
_EQ2 = f32(0.0416666679084301)
_EQ3 = f32(0.008333349600434303)
_EQ4 = f32(0.0013888818211853504)
_EQ5 = f32(0.00019836197316180915)
_EQ6 = f32(2.4809081878629513e-05)
_EQ7 = f32(2.8167489745101193e-06)
_EQ8 = f32(2.7532010449249356e-07)


@_inlined
def _expm1_f32(x):
    small_x = (x > -_ONE32) & (x < _ONE32)
    xs = _sel(small_x, x, _ZERO32)
    q = _EQ8
    q = _fma(q, xs, _EQ7)
    q = _fma(q, xs, _EQ6)
    q = _fma(q, xs, _EQ5)
    q = _fma(q, xs, _EQ4)
    q = _fma(q, xs, _EQ3)
    q = _fma(q, xs, _EQ2)
    q = _fma(q, xs, _EQ1)
    q = _fma(q, xs, _EQ0)
    small = xs * xs * q + xs
    big = _exp_f32(x) - _ONE32
    res = _sel(small_x, small, big)
    return _sel(x == _ZERO32, x, res)          # keeps -0.0


_TINY_LOG1P32 = f32(2.9802322387695312e-08)   # 2^-25


@_inlined
def _log1p_f32(x):
    u = _ONE32 + x
    c = (u - _ONE32) - x
    res = _log_f32(u) - c / _sel(u == _ZERO32, _ONE32, u)
    res = _sel(abs(x) < _TINY_LOG1P32, x, res)   # keeps -0.0
    res = _sel(x == -_ONE32, -_INF32, res)
    res = _sel(x == _INF32, x, res)
    return res


# tanh(x) = x + x*z*P(z), z = x^2, for |x| < 0.55: weighted least-squares fit
# of (tanh(x)/x - 1)/z on [0, 0.55] (relative-error weights, iteratively
# reweighted towards minimax; numpy, float64, 4000 Chebyshev-spaced points),
# coefficients rounded to float32; max relative error with float32
# coefficients 0.07 * 2^-24.
_TANH_T32 = f32(0.55)
_TP0 = f32(-0.33333316445350647)
_TP1 = f32(0.13332585990428925)
_TP2 = f32(-0.05385231599211693)
_TP3 = f32(0.02107170596718788)
_TP4 = f32(-0.006274273153394461)
_TANH_CLAMP32 = f32(10.0)                # tanh(10) == 1.0f; avoids inf/inf


@_inlined
def _tanh_f32(x):
    a = abs(x)
    z = x * x
    p = _fma(z, _fma(z, _fma(z, _fma(z, _TP4, _TP3), _TP2), _TP1), _TP0)
    small = x + x * (z * p)                      # exact for subnormals
    ac = _sel(a > _TANH_CLAMP32, _TANH_CLAMP32, a)
    e = _exp_mid_f32(ac + ac)                    # 2|x| in [0, 20] (nan stays nan)
    big = math.copysign(_ONE32 - _TWO32 / (e + _ONE32), x)
    res = _sel(a < _TANH_T32, small, big)
    return _sel(x == _ZERO32, x, res)          # keeps -0.0


@_inlined
def _sigmoid_f32(x):
    e = _exp_f32(-abs(x))
    num = _sel(x >= _ZERO32, _ONE32, e)
    return num / (_ONE32 + e)


@_inlined
def _erf_f32(x):
    return f32(_erf_f64(np.float64(x)))


# float32 functions evaluated in float64: np.float64(x), not float(x), which Numba types as
# float32 for a float32 x (products of two such values would then round to float32)
@_inlined
def _erfc_f32(x):
    return f32(_erfc_f64(np.float64(x)))


@_inlined
def _atan_f32(x):
    return f32(_atan_f64(np.float64(x)))


@_inlined
def _asin_f32(x):
    return f32(_asin_f64(np.float64(x)))


@_inlined
def _acos_f32(x):
    return f32(_acos_f64(np.float64(x)))


@_inlined
def _atan2_f32(y, x):
    return f32(_atan2_f64(np.float64(y), np.float64(x)))


@_inlined
def _digamma_f32(x):
    return f32(_digamma_f64(np.float64(x)))


@_inlined
def _lgamma_f32(x):
    return f32(_lgamma_f64(np.float64(x)))


# float32 sin/cos: the argument is reduced in float64 (two Cody-Waite steps, _rem_pio2_of_f32:
# enough for every float32 input), the polynomials are float32 (Cephes sinf/cosf on [-pi/4, pi/4]), so
# they run in twice as many vector lanes as the float64 kernels.
_SF1 = f32(-1.6666654611e-1)
_SF2 = f32(8.3321608736e-3)
_SF3 = f32(-1.9515295891e-4)
_CF1 = f32(4.166664568298827e-2)
_CF2 = f32(-1.388731625493765e-3)
_CF3 = f32(2.443315711809948e-5)


@_inlined
def _rem_pio2_of_f32(xd):
    """(y, q) for a float32 value `xd` held in a float64: x = k*pi/2 + y, q = k mod 4.

    Two Cody-Waite steps instead of _rem_pio2_f64's three compensated ones: x - k*pio2_1 is
    exact for |k| < 2^20, and pio2_1 + pio2_1t carry pi/2 to 86 bits, so y is accurate to
    ~2^-66 absolute while float32 inputs come no closer than ~2^-30 to a multiple of pi/2.
    (W1 float32 on one Zen 1 core: sin/cos ~25% cheaper.)"""
    xc = _sel(abs(xd) > _TRIG_BIG, 0.0, xd)
    t = xc * _INVPIO2 + _MAGIC64
    fn = t - _MAGIC64
    q = (_f2i(t) - _MAGIC64_BITS) & 3
    y = (xc - fn * _PIO2_1) - fn * _PIO2_1T
    y = _sel((xd - xd) != 0.0, xd - xd, y)          # inf/nan -> nan
    return y, q


@_linked
def _sincos_q_f32(x, shift):
    y, q = _rem_pio2_of_f32(float(x))
    q = (q + shift) & 3
    r = f32(y)
    z = r * r
    s = _fma(r * z, _fma(z, _fma(z, _SF3, _SF2), _SF1), r)
    c = _fma(z * z, _fma(z, _fma(z, _CF3, _CF2), _CF1), _ONE32 - _HALF32 * z)
    v = _sel((q & 1) == 1, c, s)
    return _sel((q & 2) == 2, -v, v)


@_inlined
def _sin_f32(x):
    return _sel(x == _ZERO32, x, _sincos_q_f32(x, np.int64(0)))     # keeps -0.0


@_inlined
def _cos_f32(x):
    return _sincos_q_f32(x, np.int64(1))


@_inlined
def _tan_f32(x):
    return f32(_tan_f64(np.float64(x)))


# --------------------------------------------------------------------------
# dtype dispatch
# --------------------------------------------------------------------------
def _make_generic(name, k32, k64):
    def stub(x):  # pragma: no cover - only reached through the overload
        raise NotImplementedError

    stub.__name__ = "_" + name + "_impl"

    @overload(stub, inline="always")
    def _ol(x):
        if isinstance(x, types.Float) and x.bitwidth == 32:
            return lambda x: k32(x)
        if isinstance(x, types.Float) and x.bitwidth == 64:
            return lambda x: k64(x)
        if isinstance(x, (types.Integer, types.Boolean)):
            return lambda x: k64(float(x))

    def generic(x):
        return stub(x)

    generic.__name__ = name
    generic.__qualname__ = name
    generic.__doc__ = (f"Vectorisable {name}(x) for float32/float64 scalars "
                       f"(see module docstring).")
    # cache=True only affects direct calls from Python (inside other jitted
    # code the wrapper is inlined); the cache is keyed on this file.
    return njit(inline="always", fastmath=False, cache=True)(generic)


def _make_generic2(name, k32, k64):
    """The two-argument form of _make_generic: float32 when both arguments are float32,
    else float64."""
    def stub(y, x):  # pragma: no cover - only reached through the overload
        raise NotImplementedError

    stub.__name__ = "_" + name + "_impl"
    scalar = (types.Float, types.Integer, types.Boolean)

    @overload(stub, inline="always")
    def _ol(y, x):
        if not (isinstance(y, scalar) and isinstance(x, scalar)):
            return None
        if all(isinstance(t, types.Float) and t.bitwidth == 32 for t in (y, x)):
            return lambda y, x: k32(y, x)
        return lambda y, x: k64(np.float64(y), np.float64(x))

    def generic(y, x):
        return stub(y, x)

    generic.__name__ = name
    generic.__qualname__ = name
    generic.__doc__ = (f"Vectorisable {name}(y, x) for float32/float64 scalars "
                       f"(see module docstring).")
    return njit(inline="always", fastmath=False, cache=True)(generic)


exp = _make_generic("exp", _exp_f32, _exp_f64)
log = _make_generic("log", _log_f32, _log_f64)
expm1 = _make_generic("expm1", _expm1_f32, _expm1_f64)
log1p = _make_generic("log1p", _log1p_f32, _log1p_f64)
tanh = _make_generic("tanh", _tanh_f32, _tanh_f64)
sigmoid = _make_generic("sigmoid", _sigmoid_f32, _sigmoid_f64)
sin = _make_generic("sin", _sin_f32, _sin_f64)
cos = _make_generic("cos", _cos_f32, _cos_f64)
tan = _make_generic("tan", _tan_f32, _tan_f64)
erf = _make_generic("erf", _erf_f32, _erf_f64)
atan = _make_generic("atan", _atan_f32, _atan_f64)
asin = _make_generic("asin", _asin_f32, _asin_f64)
acos = _make_generic("acos", _acos_f32, _acos_f64)
atan2 = _make_generic2("atan2", _atan2_f32, _atan2_f64)
erfc = _make_generic("erfc", _erfc_f32, _erfc_f64)
digamma = _make_generic("digamma", _digamma_f32, _digamma_f64)
lgamma = _make_generic("lgamma", _lgamma_f32, _lgamma_f64)
