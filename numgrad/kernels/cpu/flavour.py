"""An opaque kernel sees its inputs read-only, whatever its caller holds.

Numba compiles a function once per argument type, and a read-only array is a type of its own.
A kernel called with a constant's value (read-only, ops/core.py) and with a fed or computed
array (writeable) compiled twice, 0.3-0.8 CPU s each time with a cold cache: 23 of the 157
signatures that a cold run of the test suite compiled for numgrad's own kernel modules were such
twins (conv, depthwise, segment and softmax kernels).  A kernel never writes its inputs, so
:func:`read_only_inputs` hands every input array to it as a read-only view: one signature per
dtype and rank, for constants and feeds alike.

A kernel's outputs are new arrays.  One that is a read-only view sharing memory with an input
(a kernel returning an input as it is) is copied, so no view made here reaches the plan's
values.
"""
import functools

import numpy as np

__all__ = ["read_only_inputs"]


def _read_only(value):
    if isinstance(value, np.ndarray) and value.flags.writeable:
        value = value.view()
        value.flags.writeable = False
    return value


def _own(result, views):
    """`result` itself, or a copy if it is a read-only view of one of `views`."""
    if isinstance(result, np.ndarray) and not result.flags.writeable and any(
            isinstance(v, np.ndarray) and np.may_share_memory(result, v) for v in views):
        return np.array(result)
    return result


def read_only_inputs(kernel):
    """`kernel` (an OPAQUE entry: (values, attrs) -> outputs or None) called with its input
    arrays as read-only views."""
    @functools.wraps(kernel)
    def call(values, attrs):
        views = [_read_only(v) for v in values]
        res = kernel(views, attrs)
        return None if res is None else [_own(r, views) for r in res]
    return call
