"""The suite's budget: how many examples a property test tries, in the default run and in the
slow run (NUMGRAD_SLOW=1).

Hypothesis examples mostly build distinct graphs, so each costs fresh kernel compiles: the
default run checks each property on a few derandomized examples, the slow run on many.
"""
from numgrad import config

SLOW = config.get("NUMGRAD_SLOW")


def examples(default, slow):
    """`default` examples in the default run, `slow` with NUMGRAD_SLOW=1."""
    return slow if SLOW else default
