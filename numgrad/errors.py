"""Run-time errors, named as in tf.errors."""


class OpError(Exception):
    """An op failed while a graph was running; `.op` names it (None if not op-specific)."""

    def __init__(self, message, op=None):
        super().__init__(message)
        self.op = op
        self.message = message


class InvalidArgumentError(OpError, ValueError):
    """A run-time value (a feed, a shape, an index) is invalid for the op that received it."""


class ResourceExhaustedError(OpError, MemoryError):
    """A buffer could not be allocated."""


class FailedPreconditionError(OpError):
    """The graph's state does not allow the op to run (e.g. an uninitialised variable is read)."""


class NotFoundError(OpError):
    """Something the op needs does not exist (e.g. a variable missing from a checkpoint)."""


class FeedSignatureMiss(Exception):
    """Internal, never reaches users: a compiled plan function was called with feeds of
    other shapes than it was compiled for; the caller then looks up the plan for them."""


def is_allocation_failure(e):
    """Whether `e` (raised by NumPy or Numba) says a buffer could not be allocated."""
    return isinstance(e, MemoryError) or isinstance(e, ValueError) and (
        "too big" in str(e) or "maximum possible size" in str(e))


def resource_exhausted(what, shape, dtype, op=None):
    """ResourceExhaustedError for buffer `what` of `shape`/`dtype`, with its size in bytes
    (exact Python arithmetic: sizes beyond the address space are reported, not wrapped)."""
    import numpy as np
    n = 1
    for d in shape:
        n *= int(d)
    dtype = np.dtype(dtype)
    return ResourceExhaustedError(
        f"OOM when allocating {what} with shape {tuple(int(d) for d in shape)} and type "
        f"{dtype.name}: {n * dtype.itemsize} bytes", op)


class UnknownError(OpError):
    """An op failed for a reason no other error class names (e.g. a py_func's function raised
    an exception other than ValueError / TypeError)."""
