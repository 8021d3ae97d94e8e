"""The sandbox a submission runs in: its environment points at its own folder, never at the covered /tmp."""

import json
import os
import subprocess
import sys

import pytest

from course.grading.sandbox import Limits, is_root


def _sandboxed_env(tmp_path, parent_env):
    workdir = tmp_path / "work"
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    cmd = [
        sys.executable,
        "-m",
        "course.grading.sandbox",
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


@pytest.mark.skipif(not is_root(), reason="the sandbox covers folders only as root (mount and PID namespaces)")
def test_hidden_files_stay_hidden_through_other_processes_proc_root(tmp_path):
    # /proc/PID/root of a process outside the sandbox would lead back to the uncovered file system
    secret = tmp_path / "solutions" / "answer.txt"
    secret.parent.mkdir()
    secret.write_text("42")
    probe = (
        "import json, os, sys\n"
        "paths = [sys.argv[1], f'/proc/{sys.argv[2]}/root' + sys.argv[1], '/proc/1/root' + sys.argv[1]]\n"
        "def read(p):\n"
        "    try:\n        return open(p).read()\n    except OSError as e:\n        return type(e).__name__\n"
        "print(json.dumps({'reads': [read(p) for p in paths],"
        " 'pids': [p for p in os.listdir('/proc') if p.isdigit()]}))\n"
    )
    cmd = [
        sys.executable,
        "-m",
        "course.grading.sandbox",
        *Limits().args(),
        "--workdir",
        str(tmp_path / "work"),
        "--hide",
        str(secret.parent),
        "--",
        sys.executable,
        "-c",
        probe,
        str(secret),
        str(os.getpid()),
    ]
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    seen = json.loads(out.stdout)
    assert "42" not in seen["reads"], f"the hidden file was read: {seen['reads']}"
    assert len(seen["pids"]) <= 3, f"the sandbox sees processes outside it: {seen['pids']}"
