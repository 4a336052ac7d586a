"""ng.explain: how the cpu backend runs a set of fetches (kernels, fusion, buffers, memory)."""
from .fetch_mapper import graph_of_fetches
from .session import Session, get_default_session

__all__ = ["explain"]


def explain(fetches, feed_dict=None, session=None):
    """Plan (and run once, so kernels are compiled) `fetches`; return the plan summary text.

    Uses `session` or the default session if it is a cpu session, else a new cpu Session on
    the graph of the fetches.
    """
    session = session or get_default_session()
    if session is not None and getattr(session, "_dask", None) is not None and feed_dict \
            and session._dask_feeds(feed_dict):
        return session._dask_explain(fetches, feed_dict)
    if session is None or session.backend != "cpu":
        graph = graph_of_fetches(fetches)
        session = Session(graph=graph, backend="cpu")
    return session.plan_summary(fetches, feed_dict)
