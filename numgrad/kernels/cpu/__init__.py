"""CPU kernels: scalar helpers used by generated fused loops, and opaque kernels.

OPAQUE maps an op type to a Numba implementation the cpu backend uses instead of the op's
NumPy compute: it takes the same (values, attrs) and returns the outputs, or None when it
does not cover that case (then the NumPy compute runs)."""
from . import conv as _conv
from . import depthwise as _depthwise
from . import pool_avg as _pool_avg
from . import segment as _segment
from . import segment_reduce as _segment_reduce
from . import softmax as _softmax
from . import top_k as _top_k

OPAQUE = {
    "Softmax": _softmax.softmax,
    "LogSoftmax": _softmax.log_softmax,
    "SoftmaxCrossEntropyWithLogits": _softmax.softmax_cross_entropy,
    "UnsortedSegmentSum": _segment.unsorted_segment_sum,
    **_conv.OPAQUE,
    **_depthwise.OPAQUE,
    **_pool_avg.OPAQUE,
    **_segment_reduce.OPAQUE,
    "TopKV2": _top_k.top_k,
}
