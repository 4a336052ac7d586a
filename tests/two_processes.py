"""Run a program in two fresh Python processes, one after the other, sharing a kernel cache:
the first compiles and saves, the second loads what the first saved."""
import os
import subprocess
import sys


def run_twice(program, source, cache_dir):
    """The stripped stdout of `program` (``python -c program source``) run in two processes
    with NUMGRAD_CACHE_DIR=`cache_dir`; each must exit 0."""
    env = dict(os.environ, NUMGRAD_CACHE_DIR=str(cache_dir))
    outs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", program, source], env=env,
                             capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        outs.append(out.stdout.strip())
    return outs
