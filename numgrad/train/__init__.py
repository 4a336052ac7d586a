"""ng.train: the tf.compat.v1.train optimizers, learning-rate schedules, global step and
Saver."""
from .optimizer import Optimizer
from .optimizers import (AdadeltaOptimizer, AdagradOptimizer, AdamOptimizer, FtrlOptimizer,
                         GradientDescentOptimizer, MomentumOptimizer, RMSPropOptimizer)
from .schedules import (cosine_decay, exponential_decay, inverse_time_decay, natural_exp_decay,
                        piecewise_constant, piecewise_constant_decay, polynomial_decay)
from .training_util import (assert_global_step, create_global_step, get_global_step,
                            get_or_create_global_step, global_step)
from .saver import (CheckpointState, Saver, checkpoint_exists, get_checkpoint_state,
                    latest_checkpoint)
from .moving_averages import ExponentialMovingAverage
from ..clip_ops import clip_by_global_norm, clip_by_norm, global_norm

__all__ = ["Optimizer", "GradientDescentOptimizer", "MomentumOptimizer", "AdamOptimizer",
           "RMSPropOptimizer", "AdagradOptimizer", "AdadeltaOptimizer", "FtrlOptimizer",
           "exponential_decay", "piecewise_constant", "piecewise_constant_decay",
           "polynomial_decay", "natural_exp_decay", "inverse_time_decay", "cosine_decay",
           "global_step", "get_global_step", "create_global_step", "get_or_create_global_step",
           "assert_global_step", "Saver", "latest_checkpoint", "get_checkpoint_state",
           "checkpoint_exists", "CheckpointState", "ExponentialMovingAverage"]
