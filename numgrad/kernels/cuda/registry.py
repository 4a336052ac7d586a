"""The cuda backend's opaque kernels, registered by the kernel modules themselves.

``@register_kernel("MatMul", "BatchMatMulV2")`` next to a ``prepare`` function puts it in
``KERNELS`` (op type -> prepare), so no module keeps its own list of op types; every other
opaque op runs its NumPy reference on the host.  This module imports nothing (not even
numba.cuda), so the backend may read it without importing the kernels.
"""

__all__ = ["KERNELS", "register_kernel"]

KERNELS = {}


def register_kernel(*op_types):
    """Decorator: the function is the cuda ``prepare`` of each of `op_types`."""
    def register(prepare):
        for op_type in op_types:
            if op_type in KERNELS:
                raise KeyError(f"register_kernel: op type '{op_type}' already has a cuda kernel "
                               f"({KERNELS[op_type].__qualname__})")
            KERNELS[op_type] = prepare
        return prepare
    return register
