"""CPU kernels: scalar helpers used by generated fused loops, and opaque kernels."""
