"""The global step (tensorflow/python/training/training_util.py)."""
import logging

from .. import dtypes as _dt
from ..graph import Tensor, get_default_graph
from ..variables import GraphKeys, Variable, get_variable

__all__ = ["global_step", "get_global_step", "create_global_step", "get_or_create_global_step",
           "assert_global_step"]


def global_step(sess, global_step_tensor):
    """The value of `global_step_tensor` in `sess`, as a Python int."""
    return int(sess.run(global_step_tensor))


def get_global_step(graph=None):
    """The graph's global step tensor (the one in the GLOBAL_STEP collection, else the tensor
    'global_step:0'), or None."""
    graph = graph or get_default_graph()
    found = graph.get_collection(GraphKeys.GLOBAL_STEP)
    if len(found) == 1:
        tensor = found[0]
    elif not found:
        try:
            tensor = graph.get_tensor_by_name("global_step:0")
        except (KeyError, ValueError):
            return None
    else:
        logging.getLogger("numgrad").error("Multiple tensors in global_step collection.")
        return None
    assert_global_step(tensor)
    return tensor


def assert_global_step(global_step_tensor):
    """TypeError unless `global_step_tensor` is an integer scalar Variable or Tensor."""
    if not isinstance(global_step_tensor, (Variable, Tensor)):
        raise TypeError('Existing "global_step" must be a Variable or Tensor: %s.'
                        % global_step_tensor)
    if not global_step_tensor.dtype.is_integer:
        raise TypeError('Existing "global_step" does not have integer type: %s'
                        % global_step_tensor.dtype)
    shape = global_step_tensor.shape
    if shape.rank != 0 and shape.is_fully_defined():
        raise TypeError('Existing "global_step" is not scalar: %s' % shape)


def create_global_step(graph=None):
    """Create the int64 scalar variable 'global_step' (zeros, not trainable, in the
    GLOBAL_VARIABLES and GLOBAL_STEP collections); ValueError if the graph has one."""
    graph = graph or get_default_graph()
    if get_global_step(graph) is not None:
        raise ValueError('"global_step" already exists.')
    from ..init_ops import zeros_initializer
    with graph.as_default(), graph.name_scope(None), graph.control_dependencies(None):
        return get_variable(GraphKeys.GLOBAL_STEP, shape=[], dtype=_dt.int64,
                            initializer=zeros_initializer(), trainable=False,
                            collections=[GraphKeys.GLOBAL_VARIABLES, GraphKeys.GLOBAL_STEP])


def get_or_create_global_step(graph=None):
    """The graph's global step, created if it has none."""
    graph = graph or get_default_graph()
    tensor = get_global_step(graph)
    if tensor is None:
        tensor = create_global_step(graph)
    return tensor
