"""The order in which pytest-xdist hands the suite's files to its workers (``--dist loadfile``,
as CI runs it): the most expensive first, so that the run ends on cheap files and the two
workers finish together.

pytest-xdist orders the files by their number of tests, most first; that put files with a few
expensive tests last (test_bench_nested.py, 2 tests and 11 CPU s; test_bench_small_matmul.py,
1 test and 7): in a cold run on two cores one worker went on alone for 13 s at the end, and a
simulation of the scheduler on that run's per-file times, each varied at random by up to 40%,
gave a tail of 16 s (median) and 37 s (90th percentile) against under 1 s in this order.  The
costs are CPU seconds per file in a cold-cache run (``--cpu-seconds``, tests/cpu_seconds.py);
only their order matters, so they need refreshing only when a file's cost changes a lot.
Files not listed follow, most tests first, as pytest-xdist would have them.
"""
import collections

COST = {
    "test_examples.py": 24, "test_compiler.py": 19, "test_nested_loop_gradients.py": 16,
    "test_opaque_kernels.py": 16, "test_loop_gradient_memory.py": 14,
    "test_background_compile.py": 13, "test_complex.py": 13, "test_math_ops.py": 12,
    "test_gradients_numeric.py": 11, "test_native_lanes.py": 11, "test_llvm_kernels.py": 10,
    "test_vecmath.py": 10, "test_row_lanes.py": 9, "test_conv_ops.py": 9,
    "test_native_loops.py": 9, "test_concurrency_cache.py": 8, "test_scaleout_dask.py": 8,
    "test_bench_peers.py": 7, "test_bench_small_matmul.py": 7, "test_numba_start.py": 7,
    "test_compiled_functions.py": 6, "test_row_pipeline.py": 5, "test_tensor_array_in_place.py": 5,
    "test_numba_types.py": 5, "test_blocked_wgrad.py": 5, "test_bench_loops.py": 5,
    "test_loops_in_plan.py": 4, "test_jacobians.py": 4, "test_bench_nested.py": 4,
    "test_loop_compile_cost.py": 4, "test_kernel_wrappers.py": 4, "test_cache_load.py": 3,
    "test_rewrites.py": 3, "test_llvm_jit.py": 3, "test_kernel_compile_cost.py": 3,
    "test_edge_values.py": 3, "test_bench.py": 3, "test_docs.py": 3, "test_cold_compile.py": 3,
    "test_numba_rebuild.py": 3, "test_tf_fidelity.py": 3, "test_linalg.py": 3,
    "test_complex_fused.py": 3,
}


def _file(item):
    return item.nodeid.split("::")[0]


def costliest_first(items):
    """`items` (pytest's collected tests) reordered in place: the files by COST, most first,
    then the others by their number of tests, most first; each file's tests keep their order."""
    counts = collections.Counter(_file(item) for item in items)

    def key(item):
        name = _file(item)
        return -COST.get(name.rsplit("/", 1)[-1], 0), -counts[name], name
    items.sort(key=key)
