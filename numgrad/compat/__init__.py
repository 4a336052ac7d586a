"""ng.compat: ``ng.compat.v1`` (the whole numgrad API under the name TF 1.15/2.x scripts use,
``import numgrad.compat.v1 as tf``) and the switches such scripts call first
(``disable_v2_behavior`` ...), accepted because numgrad only has TF1's behaviour."""
from .behavior import (disable_control_flow_v2, disable_resource_variables,  # noqa: F401
                       disable_tensor_equality, disable_v2_behavior, disable_v2_tensorshape,
                       enable_v2_behavior)
from . import v1  # noqa: F401,E402

__all__ = ["v1"]
