"""Runs several examples in one Python process, one after the other, each as its script would run
(``__name__ == "__main__"``, its own ``sys.argv``, a fresh default graph), and writes what each
did to a JSON file: ``{stem: {"ok": bool, "stdout": str, "stderr": str, "cpu_s": float}}``.

    python tests/run_examples.py OUT.json EXAMPLE.py [ARG ...] [-- EXAMPLE.py [ARG ...]] ...

tests/test_examples.py runs the examples this way so that they share one interpreter start,
numgrad's import and Numba's first compile instead of paying for them once per example; a
failure (an exception, or ``sys.exit`` with a non-zero code) is recorded with its traceback and
the next example still runs.
"""
import contextlib
import io
import json
import pathlib
import runpy
import sys
import time
import traceback


def _run_one(path, args):
    import numgrad as ng
    ng.disable_eager_execution()
    ng.reset_default_graph()
    out, err = io.StringIO(), io.StringIO()
    sys.argv = [path, *args]
    sys.path[0] = str(pathlib.Path(path).resolve().parent)     # as for `python EXAMPLE.py`
    ok = True
    cpu = time.process_time()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            runpy.run_path(path, run_name="__main__")
        except SystemExit as e:
            ok = e.code in (None, 0)
            if not ok:
                print(f"SystemExit({e.code!r})", file=sys.stderr)
        except BaseException:           # noqa: B902 (recorded: the next example still runs)
            ok = False
            traceback.print_exc()
    return {"ok": ok, "stdout": out.getvalue(), "stderr": err.getvalue(),
            "cpu_s": round(time.process_time() - cpu, 3)}


def _commands(words):
    command = []
    for word in words:
        if word == "--":
            yield command
            command = []
        else:
            command.append(word)
    if command:
        yield command


def main(argv):
    results = {}
    for path, *args in _commands(argv[1:]):
        results[pathlib.Path(path).stem] = _run_one(path, args)
        # written after every example: a run killed by its timeout still shows what finished
        pathlib.Path(argv[0]).write_text(json.dumps(results), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
