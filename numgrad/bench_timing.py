"""Interleaved timing shared by the benchmark modules: every column is called once per round,
so noise on a shared machine hits all columns alike."""

import time

__all__ = ["interleaved_seconds"]


def interleaved_seconds(calls, repeats):
    """{name: [seconds of each call]}: `repeats` rounds, each calling every function of the
    dict `calls` once, in its order."""
    times = {k: [] for k in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            t0 = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - t0)
    return times
