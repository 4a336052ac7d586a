"""Generated source with its value names renumbered, so that equal kernels are one module.

The cpu emitter names a kernel's temporaries after IR value ids (``v265 = ...``), and the
kernel cache keys a module by a hash of its source.  Kernels that compute the same thing over
different values (the 8 layers of a PINN, their gradients: the same loop with other ids) were
then distinct modules, each typed and compiled by Numba: W6's 68 kernels were 16 different
loops.  Numbering the names by first appearance makes such kernels one source, hence one
module, one Numba dispatcher and one compile (sizes are arguments, not part of the source).

Only whole tokens of the given prefixes followed by digits are renamed, bijectively and in
order of appearance, so no two names merge and the code means what it meant.
"""
import re

_TOKEN = {}


def _pattern(prefixes):
    p = _TOKEN.get(prefixes)
    if p is None:
        p = _TOKEN[prefixes] = re.compile(r"\b(" + "|".join(map(re.escape, prefixes)) + r")(\d+)\b")
    return p


def canonical(source, prefixes=("v",)):
    """`source` with each name `<prefix><digits>` (prefix in `prefixes`) renumbered per prefix
    in order of first appearance: v265, v270, v265 -> v0, v1, v0."""
    seen = {}

    def rename(m):
        name = m.group(0)
        new = seen.get(name)
        if new is None:
            prefix = m.group(1)
            count = seen.setdefault(("#", prefix), [0])
            new = seen[name] = f"{prefix}{count[0]}"
            count[0] += 1
        return new
    return _pattern(tuple(prefixes)).sub(rename, source)
