"""Step flags shared by the lanes of a native plan (backends/cpu_native.py).

Each lane of a native plan is one nogil Numba function running on its own thread; a step that
reads a value of another lane waits for that step's flag.  `flags` is an int64 array: entry s
holds the number of the call (`epoch`) whose step s is done, so it is never reset between
calls; the entry after the last step is set by Python to the epoch when a lane failed, and
waiting lanes then return early.

The flag is written with release order after the step's outputs and read with acquire order
before its readers run (LLVM atomics): on any CPU the outputs are visible to the reader once
it sees the flag.  A waiting lane spins for SPINS reads, then yields its core (sched_yield)
between reads, so that a lane whose core is taken by another process gets it back soon.
"""
import numpy as np
from numba import njit, types
from numba.core import cgutils
from numba.extending import intrinsic

SPINS = 2000

_sched_yield = types.ExternalFunction("sched_yield", types.intc())


@intrinsic
def load_acquire(typingctx, flags, index):
    """flags[index] read with acquire order (an int64 1-D array)."""
    sig = types.int64(flags, index)

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
        return builder.load_atomic(ptr, "acquire", 8)
    return sig, codegen


@intrinsic
def store_release(typingctx, flags, index, value):
    """flags[index] = value with release order (an int64 1-D array)."""
    sig = types.void(flags, index, types.int64)

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        builder.store_atomic(val, ptr, "release", 8)
        return context.get_dummy_value()
    return sig, codegen


@intrinsic
def fetch_add(typingctx, counter, index, value):
    """counter[index] += value atomically (acquire and release order), returning the value
    before (an int64 1-D array): how the threads of a row-block plan take the next block."""
    sig = types.int64(counter, index, types.int64)

    def codegen(context, builder, sig, args):
        ary = context.make_array(sig.args[0])(context, builder, args[0])
        ptr = cgutils.get_item_pointer(context, builder, sig.args[0], ary, [args[1]])
        val = context.cast(builder, args[2], sig.args[2], types.int64)
        return builder.atomic_rmw("add", ptr, val, "acq_rel")
    return sig, codegen


@njit(nogil=True, cache=True, no_cfunc_wrapper=True, no_cpython_wrapper=True)
def next_block(counter):
    """The number of the next block a thread takes (counter: an int64 array of one entry,
    zero at the start of a call)."""
    return fetch_add(counter, 0, 1)


# Scratch arrays of a row-block plan start at staggered offsets within a 4 KiB page: a
# block's arrays are whole pages long (512 x 20 float32: 40 KiB), so left as they come they
# all start at the same offset in their page, a fused kernel's 10-14 streams then map to
# the same sets of the 8-way L1 cache and evict each other.  Measured (one thread, a kernel
# of 8 loads and 5 stores over 10240 float32, min of 300 calls): 13.0 us at one offset,
# 5.7 us staggered by 256 bytes.
STAGGER = 256
PAGE = 4096


@njit(nogil=True, cache=True, no_cfunc_wrapper=True)
def slot_offsets(block, row_bytes):
    """Byte offsets of scratch arrays of `block` rows of `row_bytes[j]` bytes each in one
    buffer, each starting a page boundary plus its own multiple of 64 bytes (STAGGER apart,
    64 positions in all); the last entry is the buffer's size."""
    n = row_bytes.shape[0]
    out = np.empty(n + 1, np.int64)
    at = 0
    for j in range(n):
        out[j] = at + (j * STAGGER + (j // (PAGE // STAGGER)) * 64) % PAGE
        end = out[j] + block * row_bytes[j]
        at = (end + PAGE - 1) // PAGE * PAGE
    out[n] = at + 64                    # room to align the buffer's start to 64 bytes
    return out


@njit(nogil=True, cache=True, no_cfunc_wrapper=True, no_cpython_wrapper=True)
def wait_for(flags, step, epoch):
    """Wait until step `step` of call `epoch` is done: True, or False when a lane failed
    (the flag after the last step holds `epoch`)."""
    abort = flags.shape[0] - 1
    n = 0
    while load_acquire(flags, step) != epoch:
        if load_acquire(flags, abort) == epoch:
            return False
        n += 1
        if n > SPINS:
            _sched_yield()
    return True


@njit(nogil=True, cache=True, no_cfunc_wrapper=True, no_cpython_wrapper=True)
def mark_done(flags, step, epoch):
    store_release(flags, step, epoch)


__all__ = ["load_acquire", "store_release", "fetch_add", "next_block", "slot_offsets",
           "wait_for", "mark_done"]
