"""What Session.run remembers its calls by.

A loop that calls ``sess.run([loss, grads], {x: v})`` makes a new fetch list and a new feed
dict every time, with the same Tensors in the same places.  ``run_key`` snapshots such a call
as a hashable key (Session.run keeps a make_callable function per key); ``guarded_call`` makes,
for one key, a function that recognises a later call with the same key without building it and
runs the callable straight away: generated Python that checks each container's exact type,
unpacks it and compares each leaf by identity (a name or a dict key by type and value).  A
list the caller mutated in place between two runs fails the check, so it can never answer for
another structure.  Measured on W4 (a ~2 us call; ``python -m numgrad.bench_fetch``, minima
of interleaved batches): building the key made ``run([loss, grads])`` 0.3 us slower than
``run([loss] + grads)`` (1.10-1.11x) and both ~0.5 us slower than with the check, which costs
the nested fetch 0.01-0.07 us more than the flat one (1.005-1.03x).
"""
import collections

from .fetch_mapper import compile_source
from .graph import Operation, Tensor
from .indexed_slices import IndexedSlices

__all__ = ["NO_KEY", "fetch_key", "guarded_call", "run_key"]

NO_KEY = object()           # fetch_key's answer for a fetch it does not key
_KEYED_DICT_KEYS = (str, int, bool, bytes)  # dict keys that equal only keys of their value
_MAX_CHECKED = 512          # leaves and containers a generated check walks at most


def fetch_key(f):
    """A hashable snapshot of a fetch structure, equal for two fetches exactly when they are
    made of the same Tensors/Operations/names (str or bytes) in the same containers of the
    same types (and dict keys): nested lists and tuples, namedtuples, dicts, IndexedSlices,
    None.  A
    container becomes ``(type, *items)`` (a dict ``(type, k0, v0, k1, v1, ...)``), a leaf is
    itself (Tensors hash and compare by identity).  A snapshot, so a list the caller mutates
    later keys anew.  NO_KEY for anything else (defaultdicts, odd dict keys, invalid fetches).
    (Plain loops: this runs on every call that guarded_call's check does not recognise.)"""
    kind = type(f)
    if kind is list or kind is tuple:
        for v in f:
            if type(v) is not Tensor:
                break
        else:
            return (kind, *f)                   # Tensors only: built in one go
        key = [kind]
        for v in f:
            vkind = type(v)
            if vkind is not Tensor:
                if vkind is list or vkind is tuple:     # [loss, grads]: one level inline
                    for u in v:
                        if type(u) is not Tensor:
                            v = fetch_key(v)
                            break
                    else:
                        v = (vkind, *v)
                else:
                    v = fetch_key(v)
                if v is NO_KEY:
                    return NO_KEY
            key.append(v)
        return tuple(key)
    if kind is Tensor or kind is Operation or kind is str or kind is bytes or f is None:
        return f
    if kind is dict or isinstance(f, dict) and not isinstance(f, collections.defaultdict):
        key = [kind]
        for k, v in f.items():
            if type(k) is not str:
                if type(k) not in _KEYED_DICT_KEYS:
                    return NO_KEY
                k = (type(k), k)        # 1 and True are equal keys, but not the same fetch
            if type(v) is not Tensor:
                v = fetch_key(v)
                if v is NO_KEY:
                    return NO_KEY
            key.append(k)
            key.append(v)
        return tuple(key)
    if isinstance(f, Tensor):           # a Variable
        return f
    if isinstance(f, (list, tuple)):    # namedtuples, subclasses
        key = [kind]
        for v in f:
            v = fetch_key(v)
            if v is NO_KEY:
                return NO_KEY
            key.append(v)
        return tuple(key)
    if kind is IndexedSlices:
        parts = (fetch_key(f.values), fetch_key(f.indices), fetch_key(f.dense_shape))
        if NO_KEY in parts:
            return NO_KEY
        return (kind, *parts)
    return NO_KEY


def run_key(fetches, feed_dict):
    """A key for run()'s calls that make_callable can stand for: any fetch structure
    fetch_key keys, fed by a dict with Tensor keys (or nothing); None for anything else
    (feeds by name, _fetch_parts objects, invalid fetches: the full path)."""
    if type(fetches) is Tensor:
        key = fetches
    else:
        key = fetch_key(fetches)
        if key is NO_KEY:
            return None
    if not feed_dict:
        return key, ()
    if type(feed_dict) is not dict:
        return None
    feed_keys = tuple(feed_dict)
    for k in feed_keys:
        if type(k) is not Tensor:
            return None
    return key, feed_keys


class _Check:
    """The statements of a generated check: locals named in order, constants by name."""

    def __init__(self, miss):
        self.lines = []
        self.names = {"MISS": miss}
        self.n_locals = 0

    def const(self, obj):
        name = f"_k{len(self.names)}"
        self.names[name] = obj
        return name

    def local(self):
        self.n_locals += 1
        return f"e{self.n_locals}"

    def require(self, cond):
        self.lines.append(f"if not ({cond}): return MISS")

    def unpack(self, source, n, pairs=False):
        """Locals bound to the `n` items of `source` (a ValueError if it has another length:
        a miss)."""
        if pairs:
            got = [(self.local(), self.local()) for _ in range(n)]
            targets = "".join(f"({k}, {v}), " for k, v in got)
        else:
            got = [self.local() for _ in range(n)]
            targets = "".join(f"{v}, " for v in got)
        self.lines.append(f"[{targets}] = {source}")
        return got

    def structure(self, f, e):
        """Statements that pass only when local `e` has fetch_key(f) as its key: the same
        containers (exact types, in order, dict keys of the same type and value) around the
        same leaves (by identity; names by value)."""
        kind = type(f)
        if isinstance(f, (Tensor, Operation)) or f is None:
            self.require(f"{e} is {self.const(f)}")
            return
        self.require(f"type({e}) is {self.const(kind)}")
        if kind is str or kind is bytes:
            self.require(f"{e} == {self.const(f)}")
        elif kind is IndexedSlices:
            for part in ("values", "indices", "dense_shape"):
                local = self.local()
                self.lines.append(f"{local} = {e}.{part}")
                self.structure(getattr(f, part), local)
        elif isinstance(f, dict):
            items = list(f.items())
            got = self.unpack(f"{e}.items()", len(items), pairs=True)
            for (k, v), (ek, ev) in zip(items, got):
                self.require(f"type({ek}) is {self.const(type(k))} and {ek} == {self.const(k)}")
                self.structure(v, ev)
        else:                       # lists, tuples, namedtuples and their subclasses
            for v, ev in zip(f, self.unpack(e, len(f))):
                self.structure(v, ev)


_GUARDED = """
def guarded(f, fd):
    try:
CHECKS
    except Exception:       # an odd container that fails to unpack: not this call
        return MISS
    return call(ARGS)
"""


def guarded_call(fetches, feed_dict, call, miss):
    """A function of (fetches, feed_dict) that returns ``call(*feed_dict.values())`` when the
    two have run_key(`fetches`, `feed_dict`) as their key and `miss` otherwise, without
    building the key; None for a structure too big to check this way.  Only for a call whose
    run_key is not None."""
    n = _count(fetches)
    if n is None or n > _MAX_CHECKED:
        return None
    check = _Check(miss)
    check.structure(fetches, "f")
    args = []
    if feed_dict:
        check.require("type(fd) is dict")
        got = check.unpack("fd.items()", len(feed_dict), pairs=True)
        for t, (ek, ev) in zip(feed_dict, got):
            check.require(f"{ek} is {check.const(t)}")
            args.append(ev)
    else:
        check.require("not fd")
    source = (_GUARDED.replace("CHECKS", "\n".join("        " + s for s in check.lines))
              .replace("ARGS", ", ".join(args)))
    return compile_source(source, "exec", dict(check.names, call=call))["guarded"]


def _count(f):
    """How many containers and leaves make up `f` (None past _MAX_CHECKED)."""
    stack, n = [f], 0
    while stack:
        f = stack.pop()
        n += 1
        if n > _MAX_CHECKED:
            return None
        if isinstance(f, dict):
            stack.extend(f.values())
        elif isinstance(f, (list, tuple)):
            stack.extend(f)
        elif type(f) is IndexedSlices:
            stack.extend((f.values, f.indices, f.dense_shape))
    return n
