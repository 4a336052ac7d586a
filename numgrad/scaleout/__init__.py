"""Scale-out: run a graph over row chunks on a Dask cluster (``ng.Session(target=client)``).

Nothing here imports dask until a Session is given a Dask target; see docs/scale-out.md."""
from .partition import Partition, partition
from .split_rules import SPLIT_RULES, Unsplittable

__all__ = ["partition", "Partition", "Unsplittable", "SPLIT_RULES"]
