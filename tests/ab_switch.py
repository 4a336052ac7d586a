"""Shared by the tests of optional compiler passes (lanes, fused gathers): run fetches on the
NumPy backend, then on the cpu backend with a pass's switch on and off.

pytest puts this directory on ``sys.path``, so test modules import it as ``ab_switch``."""
import numpy as np

import numgrad as ng
from numgrad import config


def run_with_switch(fetches, feed_dict, switch, observe):
    """(NumPy backend's results, {on: (cpu results, observe(cpu session))}) with the switch
    (a numgrad.config name such as "NUMGRAD_LANES") set to True, then False."""
    ref = ng.Session(backend="numpy").run(fetches, feed_dict)
    outs = {}
    for on in (True, False):
        with config.override(**{switch: on}):
            sess = ng.Session(backend="cpu")
            outs[on] = (sess.run(fetches, feed_dict), observe(sess))
    return ref, outs


def assert_close(ref, out, rtol):
    """Same dtypes and shapes; values to rtol, absolutely to rtol times the largest |ref|."""
    for r, o in zip(ref, out):
        assert np.asarray(o).dtype == np.asarray(r).dtype and np.shape(o) == np.shape(r)
        scale = max(1.0, float(np.max(np.abs(r)))) if np.size(r) else 1.0
        np.testing.assert_allclose(o, r, rtol=rtol, atol=rtol * scale)
