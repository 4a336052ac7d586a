"""The plan-function forms of the unfused ops a one-dispatch cpu plan function runs itself
(compiler/plan_singles.py describes a form): a roll along axis 0 only, a gather of one row
(axis 0, a 0-d index), a segment sum of one row (one segment id: the dense gradient of such a
gather), a TensorArray's one-element read or fixed-size write (map_fn, scan and TensorArray
loops).  Each registers itself with ``plan_single``; importing this module fills the registry.
The forms copy with c_copy, zero with c_zero and allocate with c_empty (kernels/cpu/views.py):
quick to compile.
"""
import numpy as np

from ...compiler.plan_singles import plan_single, row_read_lines

__all__ = []


def _roll_fits(node):
    r = len(node.inputs[0].shape)
    return r >= 1 and node.inputs[0].shape[0] > 0 and all(
        a % r == 0 for a in node.attrs["axis"])


@plan_single("Roll", _roll_fits, fresh=True, writes_into=True)
def _roll_lines(node, src, others, dst, idx, into=None):
    """out[i] = x[(i - shift) % n] along axis 0: two copies of the flat elements (c_copy)
    into `into`, or into a new array."""
    out = node.outputs[0]
    n = node.inputs[0].shape[0]
    cut = n - sum(node.attrs["shift"]) % n
    k = int(np.prod(out.shape[1:], dtype=np.int64))
    head, off = (n - cut) * k, cut * k
    lines = []
    if into is None:
        into = f"{idx}n"
        lines.append(f"    {into} = c_empty({out.shape!r}, np.{out.dtype.name})")
    if head:
        lines.append(f"    c_copy({into}, 0, {src}, {off}, {head})")
    if off:
        lines.append(f"    c_copy({into}, {head}, {src}, 0, {off})")
    return lines + [f"    {dst} = {into}"]


def _gather_fits(node):
    params, indices = node.inputs
    return node.attrs.get("axis") == 0 and indices.shape == () and len(params.shape) >= 1


plan_single("GatherV2", _gather_fits, row_read=True)(row_read_lines)
plan_single("TensorArrayRead", lambda node: node.inputs[1].shape == (),
            row_read=True)(row_read_lines)


@plan_single("UnsortedSegmentSum", lambda node: node.inputs[1].shape in ((), (1,)), fresh=True)
def _segment_sum_lines(node, src, others, dst, idx, into=None):
    """Zeros but row `id`, which is the data (c_zero and c_copy: no np.zeros, no slice
    assignment)."""
    out = node.outputs[0]
    k = int(np.prod(node.inputs[0].shape, dtype=np.int64))
    n = out.shape[0]
    return [f"    {idx} = c_view({others[0]}, (1,))[0]",
            f"    if {idx} < 0 or {idx} >= {n}:",
            "        raise IndexError('segment id out of range')",
            f"    {dst} = c_empty({out.shape!r}, np.{out.dtype.name})",
            f"    c_zero({dst})",
            f"    c_copy({dst}, {idx} * {k}, {src}, 0, {k})"]


@plan_single("TensorArrayWrite", lambda node: not node.attrs["dynamic_size"], fresh=True,
             in_place=True)
def _tensor_array_write_lines(node, src, others, dst, idx, into=None):
    """A copy with element `index` replaced; with `into` (which is then `src`: a native loop's
    write whose buffer nothing reads afterwards, compiler/emit_loop.py in_place_writes) the
    element is replaced in the buffer itself, which then is the output.  The element is
    copied by c_copy: a slice assignment compiles Numba's shape check, whose message
    formats both shapes (its string code: ~0.3 CPU s a function, docs/benchmarks.md)."""
    n = node.inputs[0].shape[0]
    k = int(np.prod(node.inputs[2].shape, dtype=np.int64))
    if into is not None and into != src:
        raise ValueError(f"TensorArrayWrite '{node.name}': writes in place into its own "
                         f"buffer only ({into!r} is not {src!r})")
    return [f"    {idx} = c_view({others[0]}, (1,))[0]",
            f"    if {idx} < 0 or {idx} >= {n}:",
            "        raise IndexError('TensorArray index out of range')",
            f"    {dst} = {src}" + ("" if into is not None else ".copy()"),
            f"    c_copy({dst}, {idx} * {k}, {others[1]}, 0, {k})"]
