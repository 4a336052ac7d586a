"""Array helpers the cpu and cuda backends share."""
import numpy as np


def contiguous(a):
    """C-contiguous `a` (np.ascontiguousarray would turn a 0-d array into 1-d)."""
    return a if a.flags.c_contiguous else np.array(a, order="C")
