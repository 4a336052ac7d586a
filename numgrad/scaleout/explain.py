"""The text ``ng.explain`` gives for a run on a Dask session: phases, what each ships, and the
per-chunk plan."""
import numpy as np

__all__ = ["explain_run"]

_SAMPLE_ROWS = 4096         # the per-chunk plan is shown for a chunk of at most this many rows


def _nbytes(t, combine=None):
    dims = t.shape.dims
    if dims is None or None in dims:
        return None
    itemsize = 8 if combine == "mean" else np.dtype(t.dtype.np).itemsize
    return int(np.prod(dims, dtype=np.int64)) * itemsize


def _size(n):
    if n is None:
        return "? B"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024


def explain_run(runner, tensors, targets, feeds, arrays, plan, global_values):
    """`arrays`: the aligned dask arrays of the chunked feeds; `global_values(phase)`: the
    arrays fed to the chunks of a phase (computed by the client)."""
    from ..session import Session
    part = plan.part
    rows = arrays[0].chunks[0]
    workers = len(runner.client.scheduler_info().get("workers", {}))
    lines = [f"Dask session on {runner.client.scheduler.address} ({workers} workers)",
             "chunked feeds:"]
    for t, a in zip(plan.chunked, arrays):
        row_bytes = int(np.prod(a.shape[1:], dtype=np.int64)) * a.dtype.itemsize
        lines.append(f"  {t.name}: {a.shape} {a.dtype}, {len(rows)} chunks of up to "
                     f"{max(rows)} rows ({_size(max(rows) * row_bytes)} per chunk, "
                     f"{_size(a.shape[0] * row_bytes)} in all)")
    lines.append(f"{len(part.phases)} phase(s); each chunk's work is one compiled plan; "
                 "partials are combined by a fixed-order tree (bit-identical for any number "
                 "of workers)")
    for ph in part.phases:
        values = global_values(ph)
        shipped = sum(v.nbytes for v in values)
        back = [_nbytes(t, c) for t, c in ph.partials]
        lines.append(f"phase {ph.index}:")
        lines.append(f"  sent to every worker once: {len(values)} global tensor(s), "
                     f"{_size(shipped)}")
        for t, v in zip(ph.fed, values):
            lines.append(f"    {t.name} {v.shape} {v.dtype} ({_size(v.nbytes)})")
        per_chunk = None if None in back else sum(back)
        lines.append(f"  returned per chunk: {len(ph.partials)} partial(s), "
                     f"{_size(per_chunk)}; per phase {_size(None if per_chunk is None else per_chunk * len(rows))}"
                     " (O(parameters), independent of the rows)")
        for (t, c), n in zip(ph.partials, back):
            lines.append(f"    {t.name} [{c}] {t.shape} ({_size(n)})")
        for t in ph.batched_fetches:
            lines.append(f"  batched fetch (stays on the workers, a dask array): {t.name}")
        sample = [np.asarray(runner.compute(a[:min(rows[0], _SAMPLE_ROWS)])) for a in arrays]
        feed = dict(zip(plan.chunked, sample))
        feed.update(zip(ph.fed, values))
        local = Session(graph=runner.session.graph, backend="cpu-stable")
        summary = local.plan_summary(ph.chunk_fetches, feed)
        local.close()
        lines.append(f"  per-chunk plan (shown for a {len(sample[0])}-row chunk):")
        lines.extend("    " + s for s in summary.splitlines())
    lines.append("then on the client: "
                 f"{[t.name for t in part.global_fetches]} computed from the reductions"
                 + (f", targets {[op.name for op in targets]} run" if targets else ""))
    return "\n".join(lines)
