"""The planner's IR: Values with concrete shapes, and Nodes (one per surviving graph op).

A Value is an array of known shape and dtype: a feed, a constant, or a node output.  A
*splat* constant has a 0-d `const` and a bigger `shape`: it means "this scalar everywhere"
and is materialised only if something needs the array (a fetch or an opaque kernel).
A dim of RUNTIME (-1) is known only when the plan runs: the recorded history of a loop
(compiler/lower.py allows such values where only loop ops read them); it counts as 0 in
`size`.
"""
import numpy as np

RUNTIME = -1    # a dim known only at run time


class Value:
    __slots__ = ("id", "shape", "dtype", "node", "index", "const", "feed", "name")

    def __init__(self, vid, shape, dtype, node=None, index=0, const=None, feed=None, name=""):
        self.id = vid
        self.shape = tuple(int(d) for d in shape)
        self.dtype = np.dtype(dtype)
        self.node = node
        self.index = index
        self.const = const
        self.feed = feed
        self.name = name

    @property
    def size(self):
        n = 1
        for d in self.shape:
            n *= max(d, 0)
        return n

    @property
    def runtime_sized(self):
        """Whether a dim of the shape is only known at run time (RUNTIME)."""
        return RUNTIME in self.shape

    @property
    def is_const(self):
        return self.const is not None

    @property
    def is_splat(self):
        return self.const is not None and self.const.ndim == 0 and self.shape != ()

    def const_array(self):
        """The full constant array (a splat is broadcast, read-only)."""
        if self.const.shape == self.shape:
            return self.const
        return np.broadcast_to(self.const, self.shape)

    def __repr__(self):
        what = "const" if self.const is not None else ("feed" if self.feed is not None else "v")
        return f"<{what}{self.id} {self.name} {self.shape} {self.dtype}>"


class Node:
    """One op instance: `type`, `attrs`, input Values, output Values, and its kind."""

    __slots__ = ("id", "type", "attrs", "inputs", "outputs", "kind", "template", "name")

    def __init__(self, nid, op_type, attrs, inputs, kind, template, name):
        self.id = nid
        self.type = op_type
        self.attrs = attrs
        self.inputs = list(inputs)
        self.outputs = []
        self.kind = kind
        self.template = template
        self.name = name

    def __repr__(self):
        return f"<node{self.id} {self.type} {self.name}>"
