"""A Session's runs on a Dask cluster: phases of per-chunk tasks, reductions combined by Dask.

``DaskRunner(session, target)`` is created by ``ng.Session(target=client_or_address)``.  A run
whose feeds include a ``dask.array`` goes through ``run``; any other run is an ordinary local
run of the session (variable initialisation, a fetch of a variable, ...).  Variables and every
other global value live with the Session on the client; what each phase needs of them is
sent to the cluster once per run (NumPy feeds once per distinct value), the graph once per
graph version.
"""
import pickle
import threading
import uuid

import numpy as np

from ..graph import Tensor
from . import combine as C
from .partition import partition, shape_op_value
from .watch import wait_result
from .worker import run_chunk

__all__ = ["DaskRunner", "is_dask_array", "is_dask_target"]

_SCHEMES = ("tcp://", "tls://", "inproc://", "ucx://", "ws://", "wss://")


def is_dask_target(target):
    """Whether a Session target names a Dask cluster (a Client or a scheduler address)."""
    if isinstance(target, str):
        return target.startswith(_SCHEMES)
    mod = type(target).__module__ or ""
    return mod.startswith("distributed") and hasattr(target, "scheduler")


def is_dask_array(value):
    mod = type(value).__module__ or ""
    return mod.startswith("dask.array") and hasattr(value, "chunks")


class _RunPlan:
    """A partition of one run signature, plus the names the workers look tensors up by."""

    def __init__(self, tensors, targets, chunked, fed):
        self.part = partition(tensors, targets, chunked, fed)
        self.chunked = list(chunked)
        self.specs = []
        for ph in self.part.phases:
            self.specs.append((
                tuple(t.name for t in self.chunked),
                tuple(t.name for t in ph.fed),
                tuple(t.name for t, _ in ph.partials),
                tuple(c for _, c in ph.partials),
                tuple(t.name for t in ph.batched_fetches)))


class DaskRunner:
    def __init__(self, session, target):
        from distributed import Client
        self.session = session
        self.client = target if not isinstance(target, str) else Client(target)
        self._owns_client = isinstance(target, str)
        self._graph_key = None          # (graph version) -> (token, blob future)
        self._scattered = {}            # token of a NumPy feed -> its future (kept across runs)
        self._plans = {}
        self._block_cache = {}          # dask array name -> its chunks as delayed objects
        self._lock = threading.Lock()
        self.show_progress = False

    def close(self):
        self._scattered.clear()
        self._graph_key = None
        if self._owns_client:
            self.client.close()

    # --- shipping ---------------------------------------------------------------------------
    # Values go to the cluster as tasks that return them (`_held`), not with client.scatter:
    # the scheduler keeps such a task's spec, so when the worker holding the value dies the
    # value is computed again elsewhere.  Scattered data has no spec: Dask's memory manager may
    # drop its extra replicas, and a dead worker then takes the only copy with it.  Each
    # worker fetches a value once, from a peer, the first time one of its tasks needs it.
    def _ship(self, value):
        return self.client.submit(_held, value, key=f"numgrad-value-{uuid.uuid4().hex}",
                                  pure=False)

    def _graph_blob(self):
        g = self.session.graph
        key = g.version
        if self._graph_key is None or self._graph_key[0] != key:
            blob = pickle.dumps(g, protocol=pickle.HIGHEST_PROTOCOL)
            token = f"numgrad-graph-{uuid.uuid4().hex}"
            self._graph_key = (key, token, self._ship(blob), len(blob))
        return self._graph_key[1], self._graph_key[2]

    def _scatter(self, values, keep):
        """Futures of `values` on the cluster.  NumPy feeds (`keep`) are kept across runs:
        each distinct value is sent once."""
        from dask.base import tokenize
        out = []
        for v, k in zip(values, keep):
            tok = tokenize(v) if k else None
            fut = self._scattered.get(tok) if k else None
            if fut is None:
                fut = self._ship(v)
                if tok is not None:
                    if len(self._scattered) >= 32:
                        self._scattered.pop(next(iter(self._scattered)))
                    self._scattered[tok] = fut
            out.append(fut)
        return out

    # --- running ----------------------------------------------------------------------------
    def plan(self, tensors, targets, chunked, fed):
        key = (tuple(tensors), tuple(targets), tuple(chunked), tuple(fed))
        plan = self._plans.get(key)
        if plan is None:
            plan = _RunPlan(tensors, targets, chunked, fed)
            with self._lock:
                self._plans[key] = plan
        return plan

    def run(self, tensors, targets, feeds):
        """Results for `tensors` (a list) after running `targets`, fed `feeds` (a dict tensor ->
        value, some values dask arrays): NumPy arrays for global tensors, dask arrays chunked
        like the feed for batched ones."""
        import dask.array as da
        chunked = [t for t, v in feeds.items() if is_dask_array(v)]
        fed = {t: v for t, v in feeds.items() if not is_dask_array(v)}
        arrays = _align([feeds[t] for t in chunked], chunked)
        plan = self.plan(tensors, targets, chunked, list(fed))
        part = plan.part
        rows = arrays[0].chunks[0]
        total = int(sum(rows))
        global_feeds = self._first_feeds(part, fed, total)
        token, blob = self._graph_blob()
        blocks = [self._blocks(a) for a in arrays]
        results = {}
        for ph, spec in zip(part.phases, plan.specs):
            values = self._global_values(ph.fed, global_feeds)
            futs = self._scatter(values, [t in fed or t in part.static_shapes
                                          for t in ph.fed])
            tasks = _chunk_tasks(blob, token, spec, blocks, futs)
            if ph.partials:
                roots = self._reduce(tasks, spec[3])
                combined = C.finish(roots, spec[3], [t.dtype.np for t, _ in ph.partials],
                                    total)
                for (t, _), v in zip(ph.partials, combined):
                    global_feeds[t] = v
            for j, t in enumerate(ph.batched_fetches):
                results[t] = _batched_array(da, tasks, j, t, rows)
        if part.global_fetches or targets:
            values, _ = self.session.run([list(part.global_fetches), list(targets)],
                                         global_feeds)
            results.update(zip(part.global_fetches, values))
        return [results[t] for t in tensors]

    def explain(self, tensors, targets, feeds):
        """ng.explain's text for this run (it runs nothing on the cluster)."""
        from .explain import explain_run
        chunked = [t for t, v in feeds.items() if is_dask_array(v)]
        fed = {t: v for t, v in feeds.items() if not is_dask_array(v)}
        arrays = _align([feeds[t] for t in chunked], chunked)
        plan = self.plan(tensors, targets, chunked, list(fed))
        total = int(sum(arrays[0].chunks[0]))
        global_feeds = self._first_feeds(plan.part, fed, total)

        def values(ph):         # reductions of earlier phases: zeros of their shape
            feeds_ = dict(global_feeds)
            for t in plan.part.reductions:
                if t not in feeds_ and t.shape.is_fully_defined():
                    feeds_[t] = np.zeros(t.shape.as_list(), t.dtype.np)
            return self._global_values(ph.fed, feeds_)
        return explain_run(self, tensors, targets, feeds, arrays, plan, values)

    def _first_feeds(self, part, fed, total):
        global_feeds = dict(fed)
        global_feeds.update(part.static_shapes)
        for t, base in part.shape_roots.items():
            global_feeds[t] = _whole_shape_value(t, base, total)
        return global_feeds

    def _global_values(self, tensors, global_feeds):
        """Values of global tensors: fed ones as they are, the rest by a local run."""
        todo = [t for t in tensors if t not in global_feeds]
        computed = dict(zip(todo, self.session.run(todo, global_feeds))) if todo else {}
        return [np.asarray(global_feeds[t]) if t in global_feeds else np.asarray(computed[t])
                for t in tensors]

    def _blocks(self, a):
        """The chunks of dask array `a` as delayed objects (remembered per array)."""
        hit = self._block_cache.get(a.name)
        if hit is None:
            hit = a.to_delayed().ravel()
            if len(self._block_cache) >= 16:
                self._block_cache.pop(next(iter(self._block_cache)))
            self._block_cache[a.name] = hit
        return hit

    def _reduce(self, tasks, combines):
        from dask import delayed
        combine = delayed(C.combine_group, pure=True)
        root = C.tree(tasks, lambda items, leaves: combine(items, combines, leaves))
        return self._result(self.client.compute(root), self.show_progress)

    def compute(self, collection):
        """`collection` (a dask array, ...) computed on the cluster, as `_reduce` waits."""
        return self._result(self.client.compute(collection), False)

    def _result(self, fut, show_progress):
        bar = _progress_bar(fut) if show_progress else None
        try:
            return wait_result(self.client, fut)    # ClusterPaused when no worker can run
        except BaseException:
            self.client.cancel([fut])           # an interrupted run leaves nothing running
            raise
        finally:
            if bar is not None:
                bar.join(1.0)


def _progress_bar(fut):
    """Dask's text progress bar for `fut`, drawn by a thread while the caller waits."""
    from distributed import progress
    bar = threading.Thread(target=progress, args=(fut,), daemon=True,
                           name="numgrad-dask-progress")
    bar.start()
    return bar


def _held(value):
    return value


def _second_item(t, j):
    return t[1][j]


def _chunk_tasks(blob, token, spec, blocks, fed_futs):
    from dask import delayed
    return [delayed(run_chunk, pure=True)(blob, token, spec, [b[i] for b in blocks], fed_futs)
            for i in range(len(blocks[0]))]


def _batched_array(da, tasks, j, t, rows):
    from dask import delayed
    rest = tuple(t.shape.dims[1:])
    parts = [da.from_delayed(delayed(_second_item, pure=True)(task, j), shape=(n,) + rest,
                             dtype=t.dtype.np)
             for task, n in zip(tasks, rows)]
    return da.concatenate(parts, axis=0)


def _whole_shape_value(t, base, rows):
    """Shape/Size/Rank `t` of the batched tensor `base` over the whole data (`rows` rows)."""
    return shape_op_value(t.op.type, (rows,) + tuple(base.shape.dims[1:]), t.dtype.np)


def _align(arrays, placeholders):
    """The chunked feeds as dask arrays of the placeholders' dtypes, one chunk along every
    axis but 0, all with the first one's row chunks; clear errors for bad feeds."""
    out = []
    for a, t in zip(arrays, placeholders):
        if not isinstance(t, Tensor) or t.op.type != "Placeholder":
            raise TypeError(f"a dask array can only feed a placeholder; '{t.name}' is a "
                            f"{t.op.type} output")
        dims = t.shape.dims
        if dims is None or not dims or dims[0] is not None:
            raise ValueError(f"placeholder '{t.name}' fed a dask array must have an unknown "
                             f"leading (batch) dimension, like [None, ...]; it has shape "
                             f"{t.shape}")
        if not t.shape.is_compatible_with(a.shape):
            raise ValueError(f"Cannot feed value of shape {a.shape} for Tensor '{t.name}', "
                             f"which has shape {t.shape}")
        if a.dtype != t.dtype.np:
            kind = np.dtype(a.dtype).kind
            if (t.dtype.is_integer and kind == "f") or (t.dtype.is_bool and kind != "b"):
                raise TypeError(f"Cannot feed a dask array of dtype {a.dtype} for Tensor "
                                f"'{t.name}' of dtype {t.dtype.name}")
            a = a.astype(t.dtype.np)
        if any(len(c) > 1 for c in a.chunks[1:]):
            a = a.rechunk({i: -1 for i in range(1, a.ndim)})
        if out and a.chunks[0] != out[0].chunks[0]:
            if a.shape[0] != out[0].shape[0]:
                raise ValueError(f"chunked feeds disagree on the number of rows: "
                                 f"'{placeholders[0].name}' has {out[0].shape[0]}, "
                                 f"'{t.name}' has {a.shape[0]}")
            a = a.rechunk({0: out[0].chunks[0]})
        out.append(a)
    if np.isnan(out[0].shape[0]):
        raise ValueError(f"the dask array fed for '{placeholders[0].name}' has unknown chunk "
                         "sizes; call compute_chunk_sizes() first")
    return out
