"""Session-state ops (numgrad/ops/state.py) carry no gradient, as in TF's state_grad.py: an
assignment's output is a new value, not a function gradients() differentiates through."""
from ..registry import NotDifferentiable

for _t in ("Assign", "IsVariableInitialized"):
    NotDifferentiable(_t)
