"""asv benchmarks for the cpu backend's opaque-op kernels (numgrad/kernels/cpu/) against the
ops' NumPy references (what the numpy backend runs), on the cases of numgrad/bench_opaque.py
(segment reductions, TopKV2, AvgPool/AvgPoolGrad, depthwise convolutions).
`python -m numgrad.bench_opaque` prints the same comparison as one table, the two
interleaved."""
import numpy as np

from numgrad import bench_opaque

CASES = {c.name: c for c in bench_opaque.cases()}


class OpaqueKernels:
    params = list(CASES)
    param_names = ["case"]
    timeout = 300

    def setup(self, name):
        from numgrad.kernels.cpu import OPAQUE
        from numgrad.ops.registry import get_op_def
        case = CASES[name]
        self.values, self.attrs = case.make(np.random.default_rng(0)), case.attrs
        self.reference = get_op_def(case.op_type).compute
        self.kernel = OPAQUE[case.op_type]
        for _ in range(4):          # compile or load the kernel, thread-choice trials
            if self.kernel(self.values, self.attrs) is None:
                raise NotImplementedError(f"the kernel does not cover {name}")

    def time_reference(self, name):
        with np.errstate(all="ignore"):
            self.reference(self.values, self.attrs)

    def time_kernel(self, name):
        with np.errstate(all="ignore"):
            self.kernel(self.values, self.attrs)
