"""The plan contract: what a Session may ask of the plans a backend makes.

A backend's ``prepare(graph, fetches, targets, feeds)`` returns a :class:`Plan` for those
fetches, targets and feeds.  A plan may hold one :class:`SignaturePlan` per feed signature
(the shapes and dtypes of the fed arrays: the cpu and cuda backends compile one each), which
``Plan.compiled`` looks up.  Session and StatefulRun use only the names declared here; an
optional capability has a default here (a backend that lacks it inherits "none"), so the
session never probes a plan with ``getattr``.

    Plan                        numpy: NumpyPlan   cpu: CpuPlan        cuda: CudaPlan
      __call__(feed_values)     every backend
      compiled(feed_values)     default None       the signature's plan (compiled, or the
                                                   NumPy interpreter where shapes depend on
                                                   data)
      keeps_state_on_device     default False                          True (and __call__
                                                                       takes device_out)
      recycle(arrays)           default: nothing                       device buffers -> pool

    SignaturePlan               cpu: CompiledPlan, cuda: CudaCompiledPlan, the interpreter
      __call__(feed_values)     every one
      fast                      default None       cpu: the one-dispatch hot path, once built
      summary()                 default None (interpreted: nothing compiled to describe)
"""
import abc


class SignaturePlan(abc.ABC):
    """What runs feeds of one signature (shapes and dtypes).

    ``fast`` is None or a function of the feed arrays -- C-contiguous, aligned, of the fed
    tensors' exact dtypes and of this signature's shapes -- returning what Session.run
    returns for them (NumPy scalars for 0-d results).  make_callable calls it directly for
    such feeds; it may change from None to a function after some calls, never back.
    """

    fast = None

    @abc.abstractmethod
    def __call__(self, feed_values):
        """The fetched arrays (a list, in fetch order) for `feed_values` (in feed order)."""

    def summary(self):
        """Text describing the compiled code for Session.plan_summary, or None where this
        signature is interpreted (nothing compiled to describe)."""
        return None


class Plan(abc.ABC):
    """What a backend's prepare() returns for (fetches, targets, feeds)."""

    # True: StatefulRun hands variables' new values back as device arrays (``device_out``)
    # and gives replaced ones back with recycle().
    keeps_state_on_device = False

    @abc.abstractmethod
    def __call__(self, feed_values):
        """The fetched arrays (a list, in fetch order) for `feed_values` (in feed order); a
        plan with ``keeps_state_on_device`` also takes ``device_out``, the indices of
        results to leave on the device."""

    def compiled(self, feed_values):
        """The SignaturePlan that runs feeds of `feed_values`' shapes and dtypes (built on
        first use), or None where the backend has no per-signature plans: it interprets
        every call the same way."""
        return None

    def recycle(self, arrays):
        """Take back device arrays that no run holds any more (`arrays`, a list the plan may
        empty); plans that keep nothing on a device ignore them."""
