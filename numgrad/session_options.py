"""Session options accepted for TF1 compatibility: ConfigProto, GPUOptions, GraphOptions.

numgrad reads one of them: ``intra_op_parallelism_threads`` (> 0) sets the thread count of
numgrad's parallel kernels (``ng.set_num_threads``, process-wide, as TF's default pool is).
Every other option (device placement, GPU memory growth, inter-op threads, ...) is accepted,
kept on the object and ignored: numgrad places no devices and runs one op stream per run.
"""

__all__ = ["ConfigProto", "GPUOptions", "GraphOptions", "OptimizerOptions", "apply_config"]


class _Options:
    """Keyword options stored as attributes; unknown names are accepted like TF's protos'
    known fields (numgrad does not check them against TF's schema)."""

    _defaults = {}

    def __init__(self, **options):
        for k, v in self._defaults.items():
            setattr(self, k, v)
        for k, v in options.items():
            setattr(self, k, v)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({fields})"


class GPUOptions(_Options):
    """tf.compat.v1.GPUOptions (allow_growth, per_process_gpu_memory_fraction, ...): ignored."""

    _defaults = {"allow_growth": False, "per_process_gpu_memory_fraction": 0.0,
                 "visible_device_list": ""}


class OptimizerOptions(_Options):
    """tf.compat.v1.OptimizerOptions: ignored (numgrad's compiler always optimises)."""


class GraphOptions(_Options):
    """tf.compat.v1.GraphOptions: ignored."""


class ConfigProto(_Options):
    """tf.compat.v1.ConfigProto: ``intra_op_parallelism_threads`` sets numgrad's kernel
    threads; the rest is accepted and ignored."""

    _defaults = {"intra_op_parallelism_threads": 0, "inter_op_parallelism_threads": 0,
                 "allow_soft_placement": False, "log_device_placement": False}

    def __init__(self, **options):
        super().__init__(**options)
        if not hasattr(self, "gpu_options"):
            self.gpu_options = GPUOptions()
        if not hasattr(self, "graph_options"):
            self.graph_options = GraphOptions()


def apply_config(config):
    """What a Session does with its `config`."""
    if config is None:
        return
    n = getattr(config, "intra_op_parallelism_threads", 0) or 0
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"ConfigProto.intra_op_parallelism_threads must be an int >= 0, got {n!r}")
    if n > 0:
        from .threads import set_num_threads
        set_num_threads(n)
