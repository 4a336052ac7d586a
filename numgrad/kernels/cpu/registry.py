"""The cpu backend's opaque kernels, registered by the kernel modules themselves.

``@register_kernel("Conv2D")`` next to a kernel puts it in ``OPAQUE`` (op type -> kernel), so
no module keeps its own list of op types.  A kernel takes the op's NumPy compute's arguments
``(values, attrs)`` and returns the outputs, or None for a case it does not cover (then the
NumPy compute runs).  This module imports nothing, so any kernel module may import it.
"""

from ...op_tables import registrar

__all__ = ["OPAQUE", "register_kernel"]

OPAQUE = {}


register_kernel = registrar(OPAQUE, "register_kernel", "a cpu kernel")
