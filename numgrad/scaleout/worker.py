"""What runs on a Dask worker: one phase of a run on one chunk of rows.

The graph arrives pickled (shipped once per worker and per graph version); each worker
process unpickles it once and keeps a Session for it, so the chunk plan is compiled once per
worker (and loaded from the worker's kernel cache after that).  Tasks are pure: the same
inputs give the same outputs, so Dask may rerun one on another worker after a failure.
"""
import pickle
import threading

import numpy as np

from ..threads import limited
from .combine import prepare

__all__ = ["run_chunk"]

_SESSIONS = {}              # graph token -> (graph, Session); per worker process
_LOCK = threading.Lock()
_MAX_GRAPHS = 8


def _session(token, blob):
    with _LOCK:
        hit = _SESSIONS.get(token)
        if hit is None:
            from ..session import Session
            graph = pickle.loads(blob)
            if len(_SESSIONS) >= _MAX_GRAPHS:
                _SESSIONS.pop(next(iter(_SESSIONS)))
            hit = _SESSIONS[token] = (graph, Session(graph=graph, backend=_backend()))
        return hit


def _backend():
    """The numpy backend when the worker's default is numpy, else cpu-stable: one code path
    per plan, so a chunk's partials do not depend on what the worker ran before."""
    from ..backends import default_backend_name
    return "numpy" if default_backend_name() == "numpy" else "cpu-stable"


def _aligned(a):
    """`a` as a C-contiguous array aligned for its dtype.  Arrays Dask unpickles from a
    network frame can sit at any byte offset, and a kernel's vector loop peels a misaligned
    array differently: the last bit of a sum would depend on where the bytes landed."""
    return np.require(a, requirements="CA")


def run_chunk(blob, token, spec, chunks, fed_values):
    """Run one phase on one chunk.  `spec`: (chunk feed names, fed names, partial names,
    partial combines, batched fetch names); `chunks`: the chunk arrays of the chunked feeds;
    `fed_values`: the arrays of the fed global tensors.  Returns (partials, batched values)."""
    chunk_names, fed_names, partial_names, combines, batched_names = spec
    graph, sess = _session(token, blob)
    el = graph.as_graph_element
    feed = {el(n): _aligned(c) for n, c in zip(chunk_names, chunks)}
    feed.update({el(n): _aligned(v) for n, v in zip(fed_names, fed_values)})
    with limited(1):    # Dask gives each task one core: no kernel threads beside it
        out = sess.run([el(n) for n in partial_names + batched_names], feed)
    rows = len(chunks[0])
    k = len(partial_names)
    partials = [prepare(v, c, rows) for v, c in zip(out[:k], combines)]
    return partials, [np.asarray(v) for v in out[k:]]
