"""ng.explain: how the cpu backend runs a set of fetches (kernels, fusion, buffers, memory)."""
from .session import Session, get_default_session

__all__ = ["explain"]


def explain(fetches, feed_dict=None, session=None):
    """Plan (and run once, so kernels are compiled) `fetches`; return the plan summary text.

    Uses `session` or the default session if it is a cpu session, else a new cpu Session on
    the graph of the fetches.
    """
    session = session or get_default_session()
    if session is None or session.backend != "cpu":
        graph = _graph(fetches)
        session = Session(graph=graph, backend="cpu")
    return session.plan_summary(fetches, feed_dict)


def _graph(fetches):
    from .graph import get_default_graph
    stack = [fetches]
    while stack:
        f = stack.pop()
        if isinstance(f, (list, tuple)):
            stack.extend(f)
        elif isinstance(f, dict):
            stack.extend(f.values())
        elif hasattr(f, "graph"):
            return f.graph
    return get_default_graph()

