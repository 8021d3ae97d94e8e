"""The sandbox a submission runs in: its environment points at its own folder, never at the covered /tmp."""

import json
import os
import subprocess
import sys

from course.sandbox import Limits


def _sandboxed_env(tmp_path, parent_env):
    workdir = tmp_path / "work"
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    cmd = [
        sys.executable,
        "-m",
        "course.sandbox",
        *Limits().args(),
        "--workdir",
        str(workdir),
        "--",
        sys.executable,
        "-c",
        code,
    ]
    out = subprocess.run(cmd, env={**os.environ, **parent_env}, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return workdir, json.loads(out.stdout)


def test_caches_that_the_parent_pointed_into_tmp_move_into_the_workdir(tmp_path):
    # torch writes TORCHINDUCTOR_CACHE_DIR=/tmp/torchinductor_<user> into os.environ the
    # first time it compiles; a kernel inheriting it failed on the read-only covered /tmp
    workdir, env = _sandboxed_env(
        tmp_path,
        {
            "TORCHINDUCTOR_CACHE_DIR": "/tmp/torchinductor_x",
            "TRITON_CACHE_DIR": "/tmp/triton_x",
            "XDG_CACHE_HOME": "/tmp/c",
        },
    )
    for var in ("TMPDIR", "HOME", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "XDG_CACHE_HOME", "MPLCONFIGDIR"):
        assert env[var].startswith(str(workdir)), f"{var}={env[var]} escapes the submission's folder"
