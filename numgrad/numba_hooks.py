"""What numgrad's hooks into Numba share (numba_gc.py, numba_load.py, numba_wrapper.py).

Each hook replaces one of Numba's methods once a process and changes what it does only for
numgrad's own functions: those of numgrad's modules and of its kernel cache's ``numgrad_k_*``
modules.  A user's functions in the same process compile and load as Numba does them.
"""
import functools
import threading

__all__ = ["numgrads", "once"]

MODULES = ("numgrad_k_", "numgrad.")     # module name prefixes of numgrad's functions


def numgrads(module):
    """Whether a function of the module named `module` (None: unknown) is numgrad's.
    ``numgradient_tools`` is not: the prefixes end at a separator."""
    return (module or "").startswith(MODULES)


def once(install):
    """`install` (no arguments) run at most once a process: the first call runs it under a
    lock, later calls return at once.  A call that raises is not counted; the next one runs
    it again."""
    lock = threading.Lock()
    done = []

    @functools.wraps(install)
    def run_once():
        if done:
            return
        with lock:
            if done:
                return
            install()
            done.append(True)
    return run_once
