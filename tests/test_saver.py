"""ng.train.Saver: round trips, the checkpoint file, max_to_keep, crash safety, restore errors."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import numgrad as ng
from numgrad.errors import FailedPreconditionError, NotFoundError


def _model():
    w = ng.Variable(np.arange(6, dtype=np.float32).reshape(2, 3), name="w")
    b = ng.Variable(np.zeros(3), name="b")
    step = ng.Variable(0, name="step", trainable=False)
    return w, b, step


def test_round_trip_and_latest_checkpoint(tmp_path):
    w, b, step = _model()
    saver = ng.train.Saver()
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        s.run([w.assign(w * 2.0), b.assign_add(np.ones(3)), step.assign(7)])
        path = saver.save(s, str(tmp_path / "model"), global_step=7)
    assert path == str(tmp_path / "model-7")
    assert ng.train.latest_checkpoint(str(tmp_path)) == path
    with ng.Session() as s:
        saver.restore(s, path)
        np.testing.assert_array_equal(s.run(w), np.arange(6).reshape(2, 3) * 2.0)
        np.testing.assert_array_equal(s.run(b), np.ones(3))
        assert s.run(step) == 7 and np.shape(s.run(step)) == ()
        assert s.run(w).dtype == np.float32


def test_global_step_tensor_and_var_list_dict(tmp_path):
    w, b, step = _model()
    saver = ng.train.Saver({"weights": w})
    with ng.Session() as s:
        s.run(ng.global_variables_initializer())
        s.run(step.assign(3))
        path = saver.save(s, str(tmp_path / "m"), global_step=step)
        assert path.endswith("m-3")
    with ng.Session() as s:
        ng.train.Saver({"weights": w}).restore(s, path)
        np.testing.assert_array_equal(s.run(w), np.arange(6).reshape(2, 3))
        with pytest.raises(FailedPreconditionError):
            s.run(b)                                # not in the checkpoint: untouched


def test_max_to_keep_deletes_the_oldest(tmp_path):
    w, _, _ = _model()
    saver = ng.train.Saver([w], max_to_keep=2)
    with ng.Session() as s:
        s.run(w.initializer)
        paths = [saver.save(s, str(tmp_path / "m"), global_step=i) for i in range(4)]
    assert saver.last_checkpoints == paths[2:]
    assert [ng.train.checkpoint_exists(p) for p in paths] == [False, False, True, True]
    state = ng.train.get_checkpoint_state(str(tmp_path))
    assert state.model_checkpoint_path == paths[3]
    assert state.all_model_checkpoint_paths == paths[2:]


def test_restore_errors_leave_variables_untouched(tmp_path):
    w, b, _ = _model()
    with ng.Session() as s:
        s.run(w.initializer)
        only_w = ng.train.Saver([w]).save(s, str(tmp_path / "w_only"))
    with ng.Session() as s:
        s.run([w.initializer, b.initializer])
        s.run(w.assign(np.full((2, 3), 5.0, np.float32)))
        with pytest.raises(NotFoundError, match="Key b not found in checkpoint"):
            ng.train.Saver([w, b]).restore(s, only_w)
        np.testing.assert_array_equal(s.run(w), np.full((2, 3), 5.0))  # w not restored either
        with pytest.raises(ValueError, match="not a valid checkpoint"):
            ng.train.Saver([w]).restore(s, str(tmp_path / "nothing"))
        with pytest.raises(ValueError, match="None"):
            ng.train.Saver([w]).restore(s, None)


def test_restore_shape_mismatch_is_an_error(tmp_path):
    g1 = ng.Graph()
    with g1.as_default():
        v = ng.Variable(np.zeros(3), name="v")
        with ng.Session() as s:
            s.run(v.initializer)
            path = ng.train.Saver().save(s, str(tmp_path / "v"))
    g2 = ng.Graph()
    with g2.as_default():
        v = ng.Variable(np.zeros(4), name="v")
        with ng.Session() as s:
            with pytest.raises(ng.errors.InvalidArgumentError, match="shape"):
                ng.train.Saver().restore(s, path)


def test_saving_uninitialized_variables_fails_and_writes_nothing(tmp_path):
    _model()
    with ng.Session() as s:
        with pytest.raises(FailedPreconditionError, match="uninitialized"):
            ng.train.Saver().save(s, str(tmp_path / "m"))
    assert os.listdir(tmp_path) == []


def test_no_variables():
    with pytest.raises(ValueError, match="No variables to save"):
        ng.train.Saver()


def test_a_process_killed_during_save_keeps_the_previous_checkpoint(tmp_path):
    script = textwrap.dedent(f"""
        import os, numpy as np, numgrad as ng, numgrad.train.saver as sv
        w = ng.Variable(np.zeros(3), name="w")
        saver = ng.train.Saver()
        with ng.Session() as s:
            s.run(w.initializer)
            saver.save(s, {str(tmp_path / 'm')!r})
            s.run(w.assign(np.ones(3)))
            real = np.savez
            def dying(f, **arrays):             # half a file written, then the process dies
                f.write(b"PK\\x03\\x04 partial")
                f.flush()
                os._exit(3)
            sv.np.savez = dying
            saver.save(s, {str(tmp_path / 'm')!r})
    """)
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert r.returncode == 3, r.stderr
    w = ng.Variable(np.full(3, 9.0), name="w")
    with ng.Session() as s:
        ng.train.Saver().restore(s, ng.train.latest_checkpoint(str(tmp_path)))
        np.testing.assert_array_equal(s.run(w), np.zeros(3))
    assert {"checkpoint", "m.npz"} <= set(os.listdir(tmp_path))
