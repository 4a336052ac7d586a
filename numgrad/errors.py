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
