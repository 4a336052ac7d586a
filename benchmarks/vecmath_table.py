"""ns/element table for numgrad.kernels.vecmath.

For each function and dtype (N = 1e6, contiguous arrays) this times
  * vecmath : a Numba loop calling numgrad.kernels.vecmath.<f>
  * libm    : the same Numba loop calling math.<f> / np.<f> (scalar libm call)
  * numpy   : NumPy's ufunc on the whole array (erf, erfc, digamma, lgamma:
              scipy.special's, NumPy has none; nan if SciPy is missing)
and checks that the float32 loops were vectorised (packed AVX
instructions in the assembly, float or double).  Run:  python benchmarks/vecmath_table.py [name ...]
(names: only those functions' rows).
All loops are serial (no prange) and compiled with error_model="numpy",
fastmath=False, as numgrad's fused kernels are.
"""
import math
import re
import time

import numpy as np
from numba import njit

from numgrad.kernels import vecmath as vm
from numgrad.kernels.cpu import scalar as _scalar

N = 1_000_000
OPTS = dict(error_model="numpy", fastmath=False)


def _loop(f):
    @njit(**OPTS)
    def k(x, out):
        for i in range(x.shape[0]):
            out[i] = f(x[i])
    return k


def _loop2(f):
    """A two-argument function's loop, over (x, reversed x): the same signature as _loop's."""
    @njit(**OPTS)
    def k(x, out):
        n = x.shape[0]
        for i in range(n):
            out[i] = f(x[i], x[n - 1 - i])
    return k


_REVERSED = {}


def np_atan2(x, out):
    """NumPy's arctan2 on (x, reversed x), the reversed copy made once (not timed)."""
    kept = _REVERSED.get(id(x))
    if kept is None or kept[0] is not x:        # (x is kept, so its id is not reused)
        kept = _REVERSED[id(x)] = (x, np.ascontiguousarray(x[::-1]))
    np.arctan2(x, kept[1], out=out)


@njit(inline="always")
def _libm_sigmoid(x):
    return 1.0 / (1.0 + math.exp(-x))


def np_sigmoid(x, out):
    np.negative(x, out=out)
    np.exp(out, out=out)
    out += 1
    np.reciprocal(out, out=out)


try:  # NumPy has no erf/erfc/digamma; use SciPy's ufuncs when available
    from scipy.special import erf as _sp_erf, erfc as _sp_erfc, gammaln as _sp_gammaln
    from scipy.special import psi as _sp_psi

    def _np_erf(x, out):
        _sp_erf(x, out=out)

    def _np_erfc(x, out):
        _sp_erfc(x, out=out)

    def _np_digamma(x, out):
        _sp_psi(x, out=out)

    def _np_lgamma(x, out):
        _sp_gammaln(x, out=out)
except ImportError:  # pragma: no cover
    _np_erf = _np_erfc = _np_digamma = _np_lgamma = None


FUNCS = {
    # name: (vecmath fn, libm fn used in the Numba loop, numpy(x, out), input range)
    "exp": (vm.exp, np.exp, lambda x, o: np.exp(x, out=o), (-80, 80)),
    "log": (vm.log, np.log, lambda x, o: np.log(x, out=o), (1e-3, 1e3)),
    "expm1": (vm.expm1, np.expm1, lambda x, o: np.expm1(x, out=o), (-5, 5)),
    "log1p": (vm.log1p, np.log1p, lambda x, o: np.log1p(x, out=o), (-0.9, 100)),
    "tanh": (vm.tanh, np.tanh, lambda x, o: np.tanh(x, out=o), (-5, 5)),
    "sigmoid": (vm.sigmoid, _libm_sigmoid, np_sigmoid, (-20, 20)),
    "sin": (vm.sin, np.sin, lambda x, o: np.sin(x, out=o), (-100, 100)),
    "cos": (vm.cos, np.cos, lambda x, o: np.cos(x, out=o), (-100, 100)),
    "tan": (vm.tan, np.tan, lambda x, o: np.tan(x, out=o), (-100, 100)),
    "erf": (vm.erf, math.erf, _np_erf, (-5, 5)),
    "atan": (vm.atan, np.arctan, lambda x, o: np.arctan(x, out=o), (-10, 10)),
    "asin": (vm.asin, np.arcsin, lambda x, o: np.arcsin(x, out=o), (-1, 1)),
    "acos": (vm.acos, np.arccos, lambda x, o: np.arccos(x, out=o), (-1, 1)),
    "atan2": (vm.atan2, np.arctan2, np_atan2, (-10, 10)),
    "erfc": (vm.erfc, math.erfc, _np_erfc, (-5, 10)),
    # libm column: numgrad's scalar Cephes digamma (TF's algorithm; log and tan from libm)
    "digamma": (vm.digamma, _scalar.digamma, _np_digamma, (-10, 20)),
    "lgamma": (vm.lgamma, math.lgamma, _np_lgamma, (-10, 20)),
}
BINARY = {"atan2"}      # timed on (x, reversed x)


def bench(fn, *args, repeat=15):
    fn(*args)
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best / args[0].size * 1e9


def main(names=None):
    rng = np.random.default_rng(0)
    print(f"N = {N:.0e}, ns/element (best of 15), serial loops\n")
    print(f"{'function':<9}{'dtype':<9}{'vecmath':>9}{'libm':>9}{'numpy':>9}"
          f"{'  speed-up vs libm':>19}")
    kernels = {}
    for name, (vfn, lfn, npfn, (lo, hi)) in FUNCS.items():
        if names and name not in names:
            continue
        loop = _loop2 if name in BINARY else _loop
        kv, kl = loop(vfn), loop(lfn)
        kernels[name] = kv
        for dt in (np.float32, np.float64):
            x = rng.uniform(lo, hi, N).astype(dt)
            out = np.empty_like(x)
            tv, tl = bench(kv, x, out), bench(kl, x, out)
            tn = bench(npfn, x, out) if npfn is not None else math.nan
            print(f"{name:<9}{dt.__name__:<9}{tv:9.2f}{tl:9.2f}{tn:9.2f}{tl / tv:18.1f}x")

    print()
    for name in [n for n in ("exp", "log", "expm1", "log1p", "tanh", "sigmoid", "erf", "atan",
                             "asin", "acos", "atan2", "erfc", "digamma",
                             "lgamma")
                 if n in kernels]:
        k = kernels[name]
        sig = [s for s in k.signatures if str(s[0].dtype) == "float32"][0]
        asm = k.inspect_asm(sig)
        # float32 functions evaluated in float64 (erf, tan, atan, ...) vectorise as doubles
        packed = sorted(set(re.findall(r"\bv(?:mul|add|sub|div)p[sd]\s+%([xyz])mm", asm)))
        llvm = k.inspect_llvm(sig)
        vec = sorted(set(re.findall(r"<(\d+) x (?:float|double)>", llvm)), key=int)
        print(f"float32 {name} loop: packed float ops on {packed or 'NONE'} registers, "
              f"LLVM vector widths {vec or 'NONE'} -> "
              f"{'VECTORISED' if packed and vec else 'NOT vectorised'}")


if __name__ == "__main__":
    import sys
    main(sys.argv[1:])
