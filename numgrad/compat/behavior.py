"""The v2-behaviour switches of tf.compat.v1 (``disable_v2_behavior`` and its parts).

numgrad has one behaviour, TF1's: graph mode, reference-style variables read as of the
start of a run, v1 TensorShape and control flow.  A script that asks for TF1's behaviour
therefore gets what it asks for and the call changes nothing except leaving eager mode
(``disable_v2_behavior`` calls ``disable_eager_execution``, as TF's does).  Asking for the
v2 behaviour is refused with a clear error rather than silently ignored.
"""
from ..graph import disable_eager_execution

__all__ = ["disable_v2_behavior", "enable_v2_behavior", "disable_resource_variables",
           "disable_v2_tensorshape", "disable_control_flow_v2", "disable_tensor_equality"]


def disable_v2_behavior():
    """tf.compat.v1.disable_v2_behavior: TF1's behaviour (numgrad's only one); leaves eager
    mode if it was enabled."""
    disable_eager_execution()


def enable_v2_behavior():
    """tf.compat.v1.enable_v2_behavior: not available (numgrad implements TF1's graph-mode
    behaviour only); raises NotImplementedError."""
    raise NotImplementedError("numgrad implements TF1's behaviour only: enable_v2_behavior() "
                              "(eager by default, resource variables, TF2 control flow) is "
                              "not available; use ng.enable_eager_execution() for eager ops")


def disable_resource_variables():
    """tf.compat.v1.disable_resource_variables: accepted; numgrad's variables already behave
    as TF1's (reads see the value from before the run's assignments unless ordered after
    them)."""


def disable_v2_tensorshape():
    """tf.compat.v1.disable_v2_tensorshape: accepted; numgrad's TensorShape is TF1's."""


def disable_control_flow_v2():
    """tf.compat.v1.disable_control_flow_v2: accepted; numgrad has one control-flow
    implementation (cond / while_loop with TF1's signatures)."""


def disable_tensor_equality():
    """tf.compat.v1.disable_tensor_equality: accepted; numgrad's tensors compare by identity
    (``==`` is not elementwise), as in TF1."""
