"""Opaque CUDA kernels of the cuda backend, the twins of the cpu backend's opaque ops.

Importing this package imports ``numba.cuda``; only numgrad/backends/cuda.py does, lazily.

Each module registers a ``prepare(node, launch) -> run or None`` for each op type it serves
(``registry.register_kernel``, next to the function): `node` is an IR node with concrete
shapes, `launch` the backend's LaunchConfig (threads per block, grid size, matmul tile, all
from the device's attributes).  ``run(inputs, alloc)`` takes the node's input device arrays
and an allocator ``alloc(shape, dtype)`` (the backend's device-memory pool) and returns
``(outputs, check)``: the output device arrays, and None or ``(function, buffers)``: the
function, called once the run's kernels are done, raises the op's error (an index out of
range) with the NumPy reference's message; `buffers` are pooled scratch it reads (given back
after the run).  ``prepare`` returns None for cases it does not handle (a dtype without
atomics, say); the backend then runs the NumPy reference on the host.
"""
from . import concat, gather, matmul, scatter, softmax, transpose  # noqa: F401  (they register)
from .registry import KERNELS, register_kernel

__all__ = ["KERNELS", "register_kernel"]
