"""The cpu backend's opaque kernels, registered by the kernel modules themselves.

``@register_kernel("Conv2D")`` next to a kernel puts it in ``OPAQUE`` (op type -> kernel), so
no module keeps its own list of op types.  A kernel takes the op's NumPy compute's arguments
``(values, attrs)`` and returns the outputs, or None for a case it does not cover (then the
NumPy compute runs).  This module imports nothing, so any kernel module may import it.
"""

__all__ = ["OPAQUE", "register_kernel"]

OPAQUE = {}


def register_kernel(*op_types):
    """Decorator: the function is the cpu kernel of each of `op_types`."""
    def register(fn):
        for op_type in op_types:
            if op_type in OPAQUE:
                raise KeyError(f"register_kernel: op type '{op_type}' already has a cpu kernel "
                               f"({OPAQUE[op_type].__qualname__})")
            OPAQUE[op_type] = fn
        return fn
    return register
