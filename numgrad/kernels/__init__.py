"""Low-level Numba kernels used by numgrad's compiler (see :mod:`numgrad.kernels.vecmath`)."""
