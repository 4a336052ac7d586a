"""Fetch structures: Session.run's nested fetches (lists, tuples, namedtuples, dicts,
IndexedSlices, ops) flattened into the tensors and target ops a plan runs, and the function
that rebuilds the structure from the flat results.

Rebuilding is generated Python, compiled once per structure shape (compile_source), so a
nested fetch costs about what a list display costs on every call.
"""
import collections

from .graph import Operation, Tensor, get_default_graph
from .indexed_slices import IndexedSlices, IndexedSlicesValue

__all__ = ["FetchMapper", "compile_source", "graph_of_fetches", "resolve_fetches"]


class FetchMapper:
    """Flattens a nested fetch structure into tensors + target ops (each distinct tensor once),
    and makes ``build``: a function of the flat list of results that rebuilds the structure.

    ``build`` is generated Python (one expression: ``lambda v: [v[0], [v[1], v[2]]]``), so
    rebuilding a nested fetch costs about what a list display costs; structures nested too
    deep for one expression are rebuilt by a tree of closures instead."""

    _MAX_DEPTH = 40             # deeper structures: closures (the parser has a nesting limit)

    def __init__(self, graph, fetches):
        self.graph = graph
        self.tensors = []
        self.targets = []
        self._index = {}
        self._depth = 0
        node = self._map(fetches, 0)
        # build_source: an expression of the flat results `v` giving the structure, with the
        # names in build_names (make_callable's function inlines it)
        if self._depth <= self._MAX_DEPTH:
            self.build_source, self.build_names = _build_expression(node)
            self.build = compile_source("lambda v: " + self.build_source, "eval",
                                        self.build_names)
        else:
            self.build = _closure(node)
            self.build_source, self.build_names = "build(v)", {"build": self.build}
        # A list of distinct tensors: results come back as they are, in order.
        self.flat = (type(fetches) is list and not self.targets and
                     len(self.tensors) == len(fetches) and
                     all(isinstance(v, Tensor) for v in fetches))

    def _leaf(self, t):
        if t not in self._index:
            self._index[t] = len(self.tensors)
            self.tensors.append(t)
        return self._index[t]

    def _element(self, f):
        """The Tensor or Operation of this graph that leaf `f` names; TF's errors for
        anything else (None, numbers, other objects, another graph's elements, names of
        nothing)."""
        if isinstance(f, bytes):
            f = f.decode()
        if isinstance(f, str):
            try:
                return self.graph.as_graph_element(f)
            except (KeyError, ValueError) as e:
                raise ValueError(f"Argument `fetch` = {f} cannot be interpreted as a Tensor. "
                                 f"({e})") from None
        if isinstance(f, (Tensor, Operation)):
            if f.graph is not self.graph:
                what = "Tensor" if isinstance(f, Tensor) else "Operation"
                raise ValueError(f"Argument `fetch` = {f} cannot be interpreted as a Tensor. "
                                 f"({what} {f} is not an element of this graph.)")
            return f
        if f is None:
            raise TypeError('Argument `fetch` = None has invalid type "NoneType". Cannot be '
                            "None")
        kind = type(f).__name__
        raise TypeError(f'Argument `fetch` = {f} has invalid type "{kind}" must be a string or '
                        f"Tensor. (Can not convert a {kind} into a Tensor or Operation.)")

    # The structure as nodes: ("leaf", i), ("none",) (an Operation: run, fetched as None),
    # ("list" | "tuple" | "call", cls, [nodes]) (cls(list), cls(tuple), cls(*values)),
    # ("dict", cls, keys, [nodes], factory) and ("apply", fn, node) (fn(value)).
    def _map(self, f, depth):
        self._depth = max(self._depth, depth)
        if isinstance(f, IndexedSlices):     # (no dense_shape: None in the value)
            shape = f.dense_shape
            return ("call", IndexedSlicesValue,
                    [self._map(f.values, depth + 1), self._map(f.indices, depth + 1),
                     ("none",) if shape is None else self._map(shape, depth + 1)])
        if hasattr(f, "_fetch_parts"):       # e.g. report_uninitialized_variables()
            tensor, result = f._fetch_parts()
            part = ("none",) if tensor is None else self._map(tensor, depth + 1)
            return ("apply", result, part)
        if isinstance(f, dict):
            factory = f.default_factory if isinstance(f, collections.defaultdict) else None
            return ("dict", type(f), list(f), [self._map(v, depth + 1) for v in f.values()],
                    factory)
        if isinstance(f, (list, tuple)):
            nodes = [self._map(v, depth + 1) for v in f]
            if isinstance(f, tuple) and hasattr(f, "_fields"):
                return ("call", type(f), nodes)          # a namedtuple: cls(*values)
            return ("list" if isinstance(f, list) else "tuple", type(f), nodes)
        el = self._element(f)
        if isinstance(el, Operation):
            self.targets.append(el)
            return ("none",)
        return ("leaf", self._leaf(el))


_CODE = {}                  # generated source -> its compiled code


def compile_source(source, mode, names):
    """eval (mode "eval") or exec (mode "exec", returning the namespace) generated `source`
    in namespace `names`; its code compiled once per source (the full path of run() maps
    fetches on every call, and structures of one shape share their source)."""
    code = _CODE.get(source)
    if code is None:
        code = compile(source, "<fetch structure>", mode)
        if len(_CODE) >= 1024:
            _CODE.clear()
        _CODE[source] = code
    if mode == "eval":
        return eval(code, names)
    exec(code, names)
    return names


def _build_expression(node):
    """(Python expression of the flat results `v` rebuilding the structure, its names)."""
    names = {}

    def const(obj):
        name = f"_c{len(names)}"
        names[name] = obj
        return name

    def expr(n):
        kind = n[0]
        if kind == "leaf":
            return f"v[{n[1]}]"
        if kind == "none":
            return "None"
        if kind == "apply":
            return f"{const(n[1])}({expr(n[2])})"
        if kind == "dict":
            _, cls, keys, nodes, factory = n
            pairs = [(const(k), expr(c)) for k, c in zip(keys, nodes)]
            if cls is dict:
                return "{" + "".join(f"{k}: {e}, " for k, e in pairs) + "}"
            items = "(" + "".join(f"({k}, {e}), " for k, e in pairs) + ")"
            if factory is not None or issubclass(cls, collections.defaultdict):
                return f"{const(cls)}({const(factory)}, {items})"
            return f"{const(cls)}({items})"
        _, cls, nodes = n
        body = "".join(f"{expr(c)}, " for c in nodes)
        if kind == "call":
            return f"{const(cls)}({body})"
        if kind == "list":
            return f"[{body}]" if cls is list else f"{const(cls)}([{body}])"
        return f"({body})" if cls is tuple else f"{const(cls)}(({body}))"

    return expr(node), names


def _closure(n):
    """The rebuilding function of a structure as a tree of closures (any depth)."""
    kind = n[0]
    if kind == "leaf":
        i = n[1]
        return lambda vals: vals[i]
    if kind == "none":
        return lambda vals: None
    if kind == "apply":
        fn, part = n[1], _closure(n[2])
        return lambda vals: fn(part(vals))
    if kind == "dict":
        _, cls, keys, nodes, factory = n
        items = [(k, _closure(c)) for k, c in zip(keys, nodes)]
        if factory is not None or issubclass(cls, collections.defaultdict):
            return lambda vals: cls(factory, [(k, b(vals)) for k, b in items])
        return lambda vals: cls([(k, b(vals)) for k, b in items])
    _, cls, nodes = n
    parts = [_closure(c) for c in nodes]
    if kind == "call":
        return lambda vals: cls(*[b(vals) for b in parts])
    return lambda vals: cls([b(vals) for b in parts])


def graph_of_fetches(fetches):
    """The graph of a Tensor or Operation found in `fetches` (a nested structure), else the
    default graph (fetches given by name)."""
    stack = [fetches]
    while stack:
        f = stack.pop()
        if isinstance(f, (list, tuple)):
            stack.extend(f)
        elif isinstance(f, dict):
            stack.extend(f.values())
        elif isinstance(f, IndexedSlices):
            stack.append(f.values)
        elif isinstance(f, (Tensor, Operation)):
            return f.graph
    return get_default_graph()


def resolve_fetches(graph, fetches, feed_dict):
    """(fetched tensors, target ops, fed tensors, fed arrays) as Session.run sees them."""
    from .session import check_feed      # (session imports this module)
    mapper = FetchMapper(graph, fetches)
    feeds, values = [], []
    for k, v in (feed_dict or {}).items():
        t = graph.as_graph_element(k) if isinstance(k, str) else k
        if not isinstance(t, Tensor) or t.graph is not graph:
            raise ValueError(f"feed_dict key {k!r} is not a Tensor of this graph")
        feeds.append(t)
        values.append(check_feed(t, v))
    return mapper.tensors, mapper.targets, feeds, values
