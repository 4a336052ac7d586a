"""Scale-out: run a graph over row chunks on a Dask cluster (``ng.Session(target=client)``).

Nothing here imports dask until a Session is given a Dask target; see docs/scale-out.md."""
import contextlib

from .partition import Partition, partition
from .split_rules import SPLIT_RULES, Unsplittable
from .watch import ClusterPaused

__all__ = ["partition", "Partition", "Unsplittable", "ClusterPaused", "SPLIT_RULES", "progress"]


@contextlib.contextmanager
def progress(session):
    """Show Dask's progress bar for each phase of the runs of `session` (a Session on a Dask
    cluster) inside the block."""
    runner = getattr(session, "_dask", None)
    if runner is None:
        raise ValueError("ng.scaleout.progress needs a Session on a Dask cluster "
                         "(ng.Session(target=client))")
    old, runner.show_progress = runner.show_progress, True
    try:
        yield
    finally:
        runner.show_progress = old
