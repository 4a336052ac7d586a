"""Checkpoints: ``ng.train.Saver`` saves and restores a Session's variables.

numgrad's own format: a checkpoint ``<prefix>`` is one file ``<prefix>.npz`` (NumPy's zip of
``.npy`` arrays, one per variable, keyed by the variable's op name), and each directory has a
text file ``checkpoint`` naming the newest checkpoint and those kept (TF's CheckpointState
layout, so ``latest_checkpoint`` reads it the same way).  TF's own checkpoint files cannot be
read or written.

Safety: every file is written under a temporary name in the same directory, flushed to disk
(fsync) and then renamed over its final name, so a crash or a full disk during ``save`` leaves
the previous checkpoint and the ``checkpoint`` file as they were.  ``restore`` checks every
variable (present, same shape, same dtype) before it changes any, so a failed restore leaves
the Session's variables untouched.
"""
import os
import re
import tempfile
import time

import numpy as np

from ..errors import FailedPreconditionError, InvalidArgumentError, NotFoundError

__all__ = ["Saver", "latest_checkpoint", "get_checkpoint_state", "checkpoint_exists",
           "CheckpointState"]

_STATE_FILE = "checkpoint"
_SUFFIX = ".npz"


def _fsync_dir(path):
    try:
        fd = os.open(path or ".", os.O_RDONLY)
    except OSError:             # pragma: no cover - platforms without directory fds
        return
    try:
        os.fsync(fd)
    except OSError:             # pragma: no cover
        pass
    finally:
        os.close(fd)


def _atomic_write(path, write):
    """Call write(file object) on a temporary file beside `path`, fsync it, rename it over
    `path`; on any error the temporary file is removed and `path` is untouched."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


class CheckpointState:
    """The contents of a directory's ``checkpoint`` file."""

    def __init__(self, model_checkpoint_path, all_model_checkpoint_paths):
        self.model_checkpoint_path = model_checkpoint_path
        self.all_model_checkpoint_paths = list(all_model_checkpoint_paths)

    def __repr__(self):
        return (f"CheckpointState(model_checkpoint_path={self.model_checkpoint_path!r}, "
                f"all_model_checkpoint_paths={self.all_model_checkpoint_paths!r})")


def _state_path(directory, latest_filename=None):
    return os.path.join(directory, latest_filename or _STATE_FILE)


def get_checkpoint_state(checkpoint_dir, latest_filename=None):
    """The CheckpointState of `checkpoint_dir`, or None if it has no ``checkpoint`` file."""
    path = _state_path(checkpoint_dir, latest_filename)
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except FileNotFoundError:
        return None
    model, paths = None, []
    for line in text.splitlines():
        m = re.match(r'\s*(model_checkpoint_path|all_model_checkpoint_paths):\s*"(.*)"\s*$',
                     line)
        if not m:
            continue
        value = m.group(2).encode().decode("unicode_escape")
        if not os.path.isabs(value):
            value = os.path.join(checkpoint_dir, value)
        if m.group(1) == "model_checkpoint_path":
            model = value
        else:
            paths.append(value)
    if model is None:
        return None
    return CheckpointState(model, paths)


def _write_state(directory, model, paths, latest_filename=None):
    def rel(p):
        return os.path.relpath(p, directory) if os.path.dirname(os.path.abspath(p)) == \
            os.path.abspath(directory) else p

    def esc(p):
        return p.replace("\\", "\\\\").replace('"', '\\"')
    lines = [f'model_checkpoint_path: "{esc(rel(model))}"']
    lines += [f'all_model_checkpoint_paths: "{esc(rel(p))}"' for p in paths]
    data = ("\n".join(lines) + "\n").encode()
    _atomic_write(_state_path(directory, latest_filename), lambda f: f.write(data))


def checkpoint_exists(checkpoint_prefix):
    """Whether a numgrad checkpoint with this prefix exists."""
    return os.path.isfile(checkpoint_prefix + _SUFFIX)


def latest_checkpoint(checkpoint_dir, latest_filename=None):
    """The prefix of the newest checkpoint in `checkpoint_dir` (from its ``checkpoint`` file),
    or None if there is none."""
    state = get_checkpoint_state(checkpoint_dir, latest_filename)
    if state is None or not checkpoint_exists(state.model_checkpoint_path):
        return None
    return state.model_checkpoint_path


def _as_var_dict(var_list):
    from ..variables import Variable, global_variables
    if var_list is None:
        var_list = global_variables()
    if isinstance(var_list, dict):
        items = list(var_list.items())
    else:
        items = []
        for v in var_list:
            if not isinstance(v, Variable):
                raise TypeError(f"Saver: var_list must contain Variables, got {v!r}")
            items.append((v.op.name, v))
    out = {}
    for name, v in items:
        if not isinstance(v, Variable):
            raise TypeError(f"Saver: the value for '{name}' is not a Variable: {v!r}")
        if name in out and out[name] is not v:
            raise ValueError(f"At least two variables have the same name: {name}")
        out[name] = v
    return out


class Saver:
    """Saves and restores variables (tf.compat.v1.train.Saver), in numgrad's own format."""

    def __init__(self, var_list=None, reshape=False, sharded=False, max_to_keep=5,
                 keep_checkpoint_every_n_hours=10000.0, name=None, restore_sequentially=False,
                 saver_def=None, builder=None, defer_build=False, allow_empty=False,
                 write_version=None, pad_step_number=False, save_relative_paths=False,
                 filename=None):
        self._vars = _as_var_dict(var_list)
        if not self._vars and not allow_empty:
            raise ValueError("No variables to save")
        self._max_to_keep = max_to_keep
        self._keep_every = keep_checkpoint_every_n_hours * 3600.0
        self._next_keep = time.time() + self._keep_every
        self._last = []             # (prefix, time) this saver wrote and still keeps
        self._pad = pad_step_number

    @property
    def last_checkpoints(self):
        """The checkpoint prefixes this Saver wrote and has not deleted, oldest first."""
        return [p for p, _ in self._last]

    def save(self, sess, save_path, global_step=None, latest_filename=None,
             meta_graph_suffix="meta", write_meta_graph=True, write_state=True,
             strip_default_attrs=False, save_debug_info=False):
        """Write the variables' values in `sess` to ``<save_path>[-<global_step>].npz``; update
        the directory's ``checkpoint`` file; return the checkpoint prefix."""
        if global_step is not None:
            if not isinstance(global_step, (int, np.integer)):
                global_step = int(sess.run(global_step))
            step = f"{int(global_step):08d}" if self._pad else str(int(global_step))
            prefix = f"{save_path}-{step}"
        else:
            prefix = save_path
        directory = os.path.dirname(prefix) or "."
        if not os.path.isdir(directory):
            raise ValueError(f"Parent directory of {save_path} doesn't exist, can't save.")
        with sess._lock:
            state = sess._state.values
            missing = [n for n, v in self._vars.items() if v.op not in state]
            if missing:
                raise FailedPreconditionError(
                    f"Attempting to use uninitialized value {missing[0]} (saving "
                    f"{len(missing)} uninitialized variable(s): {missing})")
            arrays = {n: np.array(state[v.op]) for n, v in self._vars.items()}
        _atomic_write(prefix + _SUFFIX, lambda f: np.savez(f, **arrays))
        if write_state:
            self._record(prefix, directory, latest_filename)
        return prefix

    def _record(self, prefix, directory, latest_filename):
        now = time.time()
        self._last = [(p, t) for p, t in self._last if p != prefix] + [(prefix, now)]
        doomed = []
        if self._max_to_keep:
            while len(self._last) > self._max_to_keep:
                p, t = self._last.pop(0)
                if t > self._next_keep:     # keep one checkpoint every n hours, as TF
                    self._next_keep += self._keep_every
                    continue
                doomed.append(p)
        _write_state(directory, prefix, self.last_checkpoints, latest_filename)
        for p in doomed:            # only after the state file no longer names them
            try:
                os.unlink(p + _SUFFIX)
            except FileNotFoundError:
                pass

    def restore(self, sess, save_path):
        """Load the variables' values from checkpoint `save_path` into `sess`: all or nothing."""
        if save_path is None:
            raise ValueError("Can't load save_path when it is None.")
        path = save_path + _SUFFIX
        if not os.path.isfile(path):
            raise ValueError(f"The passed save_path is not a valid checkpoint: {save_path}")
        try:
            with np.load(path, allow_pickle=False) as data:
                stored = {k: data[k] for k in data.files}
        except (OSError, ValueError) as e:
            raise InvalidArgumentError(f"Unable to read checkpoint {save_path}: {e}") from e
        values = {}
        for name, v in self._vars.items():
            if name not in stored:
                raise NotFoundError(f"Key {name} not found in checkpoint {save_path}")
            arr = stored[name]
            if arr.dtype != v.dtype.np:
                raise InvalidArgumentError(
                    f"tensor_name = {name}; expected dtype {v.dtype.name} does not equal "
                    f"original dtype {arr.dtype} in checkpoint {save_path}")
            if not v.shape.is_compatible_with(arr.shape):
                raise InvalidArgumentError(
                    f"Restoring variable {name} from checkpoint {save_path}: the variable's "
                    f"shape {v.shape} does not match the stored shape {arr.shape}")
            values[v.op] = np.array(arr, order="C")
        with sess._lock:
            sess._state.values.update(values)

    def set_last_checkpoints_with_time(self, last_checkpoints_with_time):
        """Set the list of (prefix, timestamp) this Saver manages."""
        self._last = list(last_checkpoints_with_time)

    def recover_last_checkpoints(self, checkpoint_paths):
        """Manage `checkpoint_paths` (existing prefixes) as if this Saver had written them."""
        now = time.time()
        self._last = [(p, now) for p in checkpoint_paths if checkpoint_exists(p)]
