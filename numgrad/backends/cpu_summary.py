"""The text of Session.plan_summary / ng.explain for a compiled cpu plan."""
from .cpu_runners import LaneRunner

__all__ = ["plan_summary"]


def plan_summary(plan):
    """A readable account of a CompiledPlan: kernels, what each fused, buffers, memory."""
    lines = [f"plan: {plan.n_ops} graph ops -> {len(plan.steps)} steps "
             f"({plan.kernels} fused kernels), planned in {plan.plan_seconds * 1e3:.1f} ms, "
             f"peak temporaries {plan.peak_temporary_bytes / 2 ** 20:.2f} MiB"]
    if plan.interpret_calls:
        done = min(plan.calls, plan.interpret_calls)
        lines.append(f"  small plan: its first {plan.interpret_calls} calls run the NumPy "
                     f"interpreter ({done} so far), later ones compiled code "
                     "(NUMGRAD_INTERPRET_CALLS)")
    job = plan.compile_job
    if job:
        state = "compiled" if job.seconds is not None else "compiling"
        what = "its plan function" if plan._fused_pending or plan.fused_call else "its kernels"
        lines.append(f"  {what} {state} in the background ({len(job.procs)} worker processes "
                     f"of its own) while {plan.background_calls} calls ran the NumPy "
                     "interpreter (NUMGRAD_BACKGROUND_COMPILE)")
    for i, (st, run) in enumerate(zip(plan.steps, plan.runners)):
        if st.kind == "group":
            ops = ", ".join(f"{n.type}" for n in st.nodes)
            stats = run._kernel.stats if run._kernel is not None else None
            lines.append(
                f"  [{i}] kernel space={st.space} {_threading_text(run)}"
                f" loads={len(st.loads)} outputs={len(st.outputs)}"
                f" reductions={len(st.reductions)}"
                + (f" row-stages={len(st.stage_nodes)} row-buffers={len(st.row_temps)}"
                   if st.stage_nodes else "")
                + (f" lanes={run.lanes}" if isinstance(run, LaneRunner) else "")
                + (f" gathers={len(st.gathered)}" if st.gathered else "")
                + f" ops({len(st.nodes)}): {ops}")
            lines.append(f"      compile {run.compile_seconds:.2f} s, cache hits "
                         f"{sum(stats.cache_hits.values())}, misses "
                         f"{sum(stats.cache_misses.values())}" if stats is not None else
                         "      not compiled yet")
        else:
            n = st.node
            what = "view" if n.kind == "shape_view" else "opaque"
            lines.append(f"  [{i}] {what} {n.type} '{n.name}' -> "
                         f"{[o.shape for o in n.outputs]}")
    if plan._interop is not None and not plan.fused_call:
        lines.append("  " + plan._interop.describe())
    if plan._native is not None:
        lines.append("  " + plan._native.describe())
    return "\n".join(lines)


def _threading_text(run):
    if not run.parallel:
        return "serial"
    if run.threads_pay is None:
        return "parallel"
    n, pays = run.threads_pay
    return f"parallel ({n} threads measured faster)" if pays else \
        f"serial ({n} threads measured slower)"

