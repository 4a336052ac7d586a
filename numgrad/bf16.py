"""bfloat16 support: the optional ml_dtypes package, loaded on first use, and the rule every
op follows for bfloat16 values.

NumPy has no bfloat16; ml_dtypes (the package TensorFlow and JAX use) adds it as a NumPy
dtype.  numgrad does not import it at ``import numgrad``: ``ng.bfloat16`` is a DType whose
NumPy dtype is looked up the first time it is needed, and without ml_dtypes that raises an
ImportError saying how to install it (``pip install numgrad[bfloat16]``).

How bfloat16 values are computed (as TF does on cpu): an op reading bfloat16 values computes
in float32 and rounds its float32 results to bfloat16 (to nearest, ties to even).  So an
elementwise op rounds once per element, and reductions (Sum, Mean, ...) and MatMul
accumulate in float32 and round once.  ``widened(compute)`` wraps an op's NumPy reference
that way; ops that only move values need no float32 step but lose nothing by it.  Cumsum and
Cumprod are left to ml_dtypes' own arithmetic, which rounds after every step as TF's scans do.
Until bfloat16 is first used the wrapper costs one global lookup per call.

This module imports nothing from numgrad (the op registry imports it).
"""
import functools

import numpy as np

__all__ = ["INSTALL_HINT", "load", "loaded_dtype", "widened", "KEEP_NATIVE"]

INSTALL_HINT = ("bfloat16 needs the ml_dtypes package, which numgrad does not install by "
                "default: pip install 'numgrad[bfloat16]' (or pip install ml_dtypes)")

# ops whose NumPy reference handles bfloat16 arrays itself: Cast (casts to and from it with
# one rounding) and the scans, which TF runs in bfloat16, rounding after every step
KEEP_NATIVE = frozenset({"Cast", "Cumsum", "Cumprod"})

_NP = None          # np.dtype(ml_dtypes.bfloat16) once loaded


def load():
    """np.dtype of ml_dtypes.bfloat16, importing ml_dtypes on first use; ImportError with
    INSTALL_HINT when it is not installed."""
    global _NP
    if _NP is None:
        try:
            import ml_dtypes
        except ImportError as e:
            raise ImportError(INSTALL_HINT) from e
        _NP = np.dtype(ml_dtypes.bfloat16)
    return _NP


def loaded_dtype():
    """np.dtype of bfloat16 if ml_dtypes was loaded (by load()), else None."""
    return _NP


def widened(compute, op_type):
    """`compute(values, attrs)` for bfloat16 values: bfloat16 inputs widened to float32, and
    float32 results rounded to bfloat16 when any input was bfloat16.  The same function
    when bfloat16 is never used."""
    if op_type in KEEP_NATIVE:
        return compute

    def run(values, attrs):
        bf = _NP
        if bf is None:
            return compute(values, attrs)
        wide = None
        for i, v in enumerate(values):
            if getattr(v, "dtype", None) == bf:
                if wide is None:
                    wide = list(values)
                wide[i] = v.astype(np.float32)
        if wide is None:
            return compute(values, attrs)
        outs = compute(wide, attrs)
        return [o.astype(bf) if getattr(o, "dtype", None) == np.float32 else o for o in outs]

    return functools.update_wrapper(run, compute)      # the reference's name and module
