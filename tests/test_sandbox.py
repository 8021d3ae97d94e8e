"""The sandbox itself: its environment, its backends, its limits, and the one way to start and end one."""

import ctypes
import json
import os
import time

import pytest

from course.grading import sandbox
from course.grading.sandbox import Limits

isolated = pytest.mark.skipif(sandbox.backend() == "none", reason="this machine cannot isolate (no user namespaces)")


def _run(tmp_path, body, limits=None, mode=None):
    """Run ``body()`` in a sandbox forked from this process; its exit status."""
    pid = sandbox.fork(limits or Limits(), tmp_path / "work", body, mode=mode)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _write_json(obj):
    with open("out.json", "w") as f:
        json.dump(obj, f)
    return 0


def test_the_environment_is_an_allowlist_pointing_into_the_workdir(tmp_path, monkeypatch):
    # torch writes TORCHINDUCTOR_CACHE_DIR=/tmp/torchinductor_<user> into os.environ the first
    # time it compiles; and a grader's database password or cloud key must never be inherited
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    assert _run(tmp_path, lambda: _write_json(dict(os.environ))) == 0
    env = json.loads((tmp_path / "work" / "out.json").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in env
    home = env["HOME"]
    assert home in (sandbox.HOME, os.path.realpath(tmp_path / "work"))
    for var in ("TMPDIR", "TORCHINDUCTOR_CACHE_DIR", "TRITON_CACHE_DIR", "XDG_CACHE_HOME", "MPLCONFIGDIR"):
        assert env[var].startswith(home), f"{var}={env[var]} escapes the submission's folder"


def test_where_user_namespaces_are_enabled_the_backend_isolates():
    with open("/proc/sys/user/max_user_namespaces") as f:
        if int(f.read()) == 0:
            pytest.skip("user namespaces are disabled here (user.max_user_namespaces = 0)")
    assert sandbox.backend() in ("bwrap", "userns")


def test_a_refusal_says_what_is_exposed_and_how_to_enable_isolation():
    why = sandbox.unavailable_reason()
    for needed in ("solutions", "user.max_user_namespaces", "bubblewrap", "--no-isolation"):
        assert needed in why


def test_a_shown_folder_inside_a_hidden_one_is_refused(tmp_path):
    with pytest.raises(sandbox.SandboxError, match="must stay hidden"):
        sandbox.command_args(Limits(), tmp_path / "work", hide=[tmp_path], expose=[tmp_path / "solutions"])


@isolated
def test_a_fork_bomb_stops_at_the_sandboxes_process_limit(tmp_path):
    def bomb():
        n = 0
        try:
            while n < 200:
                if os.fork() == 0:
                    time.sleep(30)
                    os._exit(0)
                n += 1
        except OSError:
            pass
        return _write_json(n)

    assert _run(tmp_path, bomb, Limits(nproc=16)) == 0
    forked = json.loads((tmp_path / "work" / "out.json").read_text())
    assert forked < 16, f"{forked} processes forked under a limit of 16"


@isolated
def test_killing_the_first_process_ends_everything_in_the_sandbox(tmp_path):
    name = b"crs-" + os.urandom(4).hex().encode()

    def spread():  # grandchildren in sessions of their own, renamed so that /proc finds them
        for _ in range(3):
            if os.fork() == 0:
                os.setsid()
                ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME
                time.sleep(60)
                os._exit(0)
        time.sleep(60)
        return 0

    pid = sandbox.fork(Limits(), tmp_path / "work", spread)
    deadline = time.monotonic() + 10
    while len(_named(name)) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(_named(name)) == 3, "the sandbox did not start its processes"
    sandbox.kill(pid)
    os.waitpid(pid, 0)
    deadline = time.monotonic() + 5
    while _named(name) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _named(name), f"left running after the sandbox was killed: {_named(name)}"


def _named(name):
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/comm", "rb") as f:
                if f.read().strip() == name:
                    found.append(pid)
        except OSError:
            pass
    return found


def test_the_none_backend_still_limits_and_cleans_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")

    def body():
        import resource

        return _write_json({"env": dict(os.environ), "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0]})

    assert _run(tmp_path, body, mode="none") == 0
    seen = json.loads((tmp_path / "work" / "out.json").read_text())
    assert "AWS_SECRET_ACCESS_KEY" not in seen["env"] and seen["env"]["HOME"] == os.path.realpath(tmp_path / "work")
    if not sandbox.is_root():
        assert seen["nproc"] != -1


def test_grading_refuses_without_isolation_unless_told(tmp_path):
    import subprocess
    import sys

    from conftest import ROOT

    nb = str(ROOT / "exercises" / "01_perceptron" / "perceptron.ipynb")
    env = dict(os.environ, COURSE_SANDBOX="none")  # as where user namespaces are disabled
    course = [sys.executable, "-m", "course.cli"]
    proc = subprocess.run([*course, "grade", nb], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "--no-isolation" in proc.stderr and "user.max_user_namespaces" in proc.stderr
