"""CPU kernels: scalar helpers used by generated fused loops, and opaque kernels.

OPAQUE maps an op type to a Numba implementation the cpu backend uses instead of the op's
NumPy compute: it takes the same (values, attrs) and returns the outputs, or None when it
does not cover that case (then the NumPy compute runs).  Each kernel module registers its
kernels with ``registry.register_kernel`` next to their definitions; importing the modules
here fills OPAQUE."""
from . import conv as _conv  # noqa: F401  (each module registers its kernels)
from . import depthwise as _depthwise  # noqa: F401
from . import pool_avg as _pool_avg  # noqa: F401
from . import segment as _segment  # noqa: F401
from . import segment_reduce as _segment_reduce
from . import softmax as _softmax  # noqa: F401
from . import top_k as _top_k  # noqa: F401
from ... import numba_load
from ...cache import guard_numba_cache
from .flavour import read_only_inputs
from .registry import OPAQUE, register_kernel

__all__ = ["OPAQUE", "register_kernel"]

# their Numba caches load without Numba's registry refresh, and fail soft (numgrad/cache.py)
for _module in (_conv, _depthwise, _pool_avg, _segment, _segment_reduce, _softmax, _top_k):
    guard_numba_cache(_module)

# the Segment* kernels are made per op of ops/math_extra.py's SEGMENT_OPS tables
for _t, _kernel in _segment_reduce.OPAQUE.items():
    register_kernel(_t)(_kernel)

# a kernel's first call finds the machine code of the Numba functions it calls loaded from the
# cache (numba_load.preloading): no trip through Numba's compile path; and it sees its inputs
# read-only (flavour.py: one Numba signature for constants and feeds alike).  preloading wraps
# the kernel itself: it reads the kernel's code for the Numba functions it calls.
for _t, _kernel in list(OPAQUE.items()):
    OPAQUE[_t] = read_only_inputs(numba_load.preloading(_kernel))
