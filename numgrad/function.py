"""ng.function(inputs, outputs): a plain Python function of NumPy arrays backed by a Session."""
from .session import Session

__all__ = ["function"]


def function(inputs, outputs, session=None, backend=None):
    """Return ``f(*arrays)`` that feeds `inputs` (placeholders, in order) and returns
    `outputs` (a tensor, or a list/tuple/dict of them) as NumPy values.

    Planning and validation happen once; each call costs a few microseconds of Python plus
    the kernels.  Example: ``scipy.optimize.minimize(ng.function([x], (loss, grad)), x0,
    jac=True)``.
    """
    inputs = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    if session is None:
        graph = inputs[0].graph if inputs else None
        session = Session(graph=graph, backend=backend)
    return session.make_callable(outputs, inputs)
