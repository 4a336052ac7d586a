"""The cuda backend's opaque kernels, registered by the kernel modules themselves.

``@register_kernel("MatMul", "BatchMatMulV2")`` next to a ``prepare`` function puts it in
``KERNELS`` (op type -> prepare), so no module keeps its own list of op types; every other
opaque op runs its NumPy reference on the host.  This module imports nothing (not even
numba.cuda), so the backend may read it without importing the kernels.
"""

from ...op_tables import registrar

__all__ = ["KERNELS", "register_kernel"]

KERNELS = {}


register_kernel = registrar(KERNELS, "register_kernel", "a cuda kernel")
