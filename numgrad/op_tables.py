"""Registration decorators for tables keyed by op type that modules fill next to their code.

The cpu and cuda kernels, the batching rules and similar per-op entries are registered by the
module that defines them (``@register_kernel("Conv2D")``), so no pass keeps its own list of
op types.  This module imports nothing, so any module may import it.
"""

__all__ = ["registrar"]


def registrar(table, decorator_name, what):
    """A decorator factory over `table`: ``@decorator(*op_types)`` puts the function it
    decorates in `table` under each op type; an op type that already has one is a KeyError
    (``"<decorator_name>: op type 'X' already has <what> (<the first one>)"``) and leaves the
    table unchanged."""
    def decorator(*op_types):
        def register(fn):
            for op_type in op_types:
                if op_type in table:
                    raise KeyError(f"{decorator_name}: op type '{op_type}' already has {what} "
                                   f"({table[op_type].__qualname__})")
            for op_type in op_types:
                table[op_type] = fn
            return fn
        return register
    decorator.__name__ = decorator_name
    decorator.__doc__ = f"Decorator: the function is {what} of each of `op_types`."
    return decorator
