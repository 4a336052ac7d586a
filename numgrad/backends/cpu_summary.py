"""The text of Session.plan_summary / ng.explain for a compiled cpu plan."""
from .cpu_runners import LaneRunner

__all__ = ["plan_summary", "measured_choices"]


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



def measured_choices(plan):
    """What a CompiledPlan's calls run now and the measurements behind it: a list of
    (what, choice, trial), trial the fastest seconds of the last trial one way and the other
    (None before one).  `what` names a step by its index, as plan_summary does."""
    if plan.fused_call:
        return [("calls", "one plan function", None)]
    rows = [("calls", "interpreted" if plan.calls <= plan.interpret_calls else "steps", None)]
    for i, (st, run) in enumerate(zip(plan.steps, plan.runners)):
        if st.kind == "group" and run.parallel:
            rows.append((f"[{i}] kernel {st.space}", ("being measured" if run.threads_pay is None
                         else _threading_text(run)) + _trials(run.choice), run.last_trial))
        site = getattr(run, "blas_site", None)
        if site is not None and site.choice.trials:
            pays = site.pays
            rows.append((f"[{i}] {st.node.type} BLAS threads",
                         ("undecided" if pays is None else
                          f"{pays[0] if pays[1] else 1} thread(s)") + _trials(site.choice),
                         site.last_trial))
    interop = plan._interop
    if interop is not None and interop.verdict is not None:
        rows.append(("inter-op", "dispatched" if interop.verdict[1] else "serial order",
                     interop.last_trial))
    native = plan._native
    for name, choice in (("native lanes", native),
                         ("row blocks", native.rows if native is not None else None)):
        if choice is not None and choice.verdict is not None:
            rows.append((name, "used" if choice.verdict else "not used", choice.last_trial))
    return rows


def _trials(choice):
    return f", {choice.trials} trial(s)" if choice.trials > 1 else ""
