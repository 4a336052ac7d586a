"""Control flow with gradients (TF 2's functional design, TF 1's API): ng.cond, ng.case,
ng.while_loop, ng.TensorArray, and map_fn / scan / foldl / foldr built on while_loop."""
from .cond import case, cond
from .func_graph import FuncGraph
from .functional import foldl, foldr, map_fn, scan
from .tensor_array import TensorArray
from .while_loop import while_loop

__all__ = ["cond", "case", "while_loop", "map_fn", "scan", "foldl", "foldr", "FuncGraph",
           "TensorArray"]
