"""The sandbox itself: its environment, its backends, its limits, and the one way to start and end one."""

import ctypes
import json
import os
import time

import pytest

from course.grading import sandbox
from course.grading.sandbox import Limits

isolated = pytest.mark.skipif(sandbox.backend() == "none", reason="this machine cannot isolate (no user namespaces)")


#: Where a sandbox's body reports (a folder bound writable for the test: its own space vanishes with it).
_OUT = None


def _run(tmp_path, body, limits=None, mode=None):
    """Run ``body()`` in a sandbox forked from this process; its exit status."""
    global _OUT
    _OUT = tmp_path / "out"
    _OUT.mkdir(exist_ok=True)
    pid = sandbox.fork(limits or Limits(), tmp_path / "work", body, mode=mode, writable=[_OUT])
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


def _write_json(obj):
    with open(_OUT / "out.json", "w") as f:
        json.dump(obj, f)
    return 0


def _read_json(tmp_path):
    return json.loads((tmp_path / "out" / "out.json").read_text())


def test_the_environment_is_an_allowlist_pointing_into_the_workdir(tmp_path, monkeypatch):
    # torch writes TORCHINDUCTOR_CACHE_DIR=/tmp/torchinductor_<user> into os.environ the first
    # time it compiles; and a grader's database password or cloud key must never be inherited
    monkeypatch.setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/torchinductor_x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t")
    assert _run(tmp_path, lambda: _write_json(dict(os.environ))) == 0
    env = _read_json(tmp_path)
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
    forked = _read_json(tmp_path)
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
    seen = _read_json(tmp_path)
    assert "AWS_SECRET_ACCESS_KEY" not in seen["env"] and seen["env"]["HOME"] == os.path.realpath(tmp_path / "work")
    if not sandbox.is_root():
        assert seen["nproc"] != -1


def test_grading_refuses_without_isolation_unless_told(tmp_path):
    import subprocess
    import sys

    from helpers import ROOT

    nb = str(ROOT / "exercises" / "01_perceptron" / "perceptron.ipynb")
    env = dict(os.environ, COURSE_SANDBOX="none")  # as where user namespaces are disabled
    course = [sys.executable, "-m", "course.programs.cli"]
    proc = subprocess.run([*course, "grade", nb], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 2 and "--no-isolation" in proc.stderr and "user.max_user_namespaces" in proc.stderr


def _fill(folders, cap_mb):
    """Write 1 MiB files into ``folders`` in turn until a write fails or ``cap_mb`` MiB are written."""
    written, why = 0, None
    try:
        while written < cap_mb:
            folder = folders[written % len(folders)]
            with open(os.path.join(folder, f"fill-{written}"), "wb") as f:
                f.write(b"x" * 2**20)
            written += 1
    except OSError as e:
        why = e.strerror
    return _write_json({"written_mb": written, "why": why})


@isolated
def test_all_a_sandbox_writes_shares_one_bounded_space(tmp_path):
    # a submission that fills the grader's disk zeroes its classmates (their gradebook cannot be written)
    folders = [sandbox.HOME, "/tmp", "/var/tmp", "/dev/shm", "/run"]
    assert _run(tmp_path, lambda: _fill(folders, cap_mb=200), Limits(disk_mb=48)) == 0
    seen = _read_json(tmp_path)
    assert seen["written_mb"] <= 48 and seen["why"] == "No space left on device", (
        f"the sandbox wrote {seen['written_mb']} MiB under a limit of 48 MiB for all its folders together"
    )
    outside = sum(f.stat().st_size for f in (tmp_path / "work").rglob("*") if f.is_file())
    assert outside < 2**20, f"{outside} bytes of the sandbox's writes landed on the grader's disk"


@isolated
def test_the_instructors_layer_and_the_programs_are_not_in_a_sandbox(tmp_path):
    """Student code sees what notebooks import and the grading engine, not collect, autograde or the hub."""
    package = os.path.dirname(os.path.dirname(os.path.realpath(sandbox.__file__)))

    def look():
        parts = ("instructor", "programs", "checks")
        return _write_json({p: sorted(os.listdir(os.path.join(package, p))) for p in parts})

    assert _run(tmp_path, look) == 0
    seen = _read_json(tmp_path)
    assert seen["instructor"] == [] and seen["programs"] == [], f"visible inside a sandbox: {seen}"
    assert "lstm.py" in seen["checks"], "the checks (what notebooks import) must stay visible"


@isolated
def test_a_sandbox_cannot_create_more_files_than_its_inode_limit(tmp_path):
    def many():
        made, why = 0, None
        try:
            while made < 5000:
                open(f"empty-{made}", "w").close()
                made += 1
        except OSError as e:
            why = e.strerror
        return _write_json({"made": made, "why": why})

    assert _run(tmp_path, many, Limits(inodes=500)) == 0
    seen = _read_json(tmp_path)
    assert seen["made"] < 500 and seen["why"] == "No space left on device", f"{seen}: the inode limit is 500"


@isolated
def test_a_kernels_socket_folder_is_read_only_once_sealed(tmp_path):
    # the one folder of the grader's disk a kernel writes (its sockets, which nbgrader reaches from outside)
    (tmp_path / "work" / sandbox.IPC_FOLDER).mkdir(parents=True)
    ipc = os.path.join(sandbox.HOME, sandbox.IPC_FOLDER)

    def body():
        def attempt(name):
            try:
                open(os.path.join(ipc, name), "w").close()
                return "written"
            except OSError as e:
                return e.strerror

        before = attempt("socket-stand-in")
        sandbox.seal()
        after = attempt("filler")
        remount = ctypes.CDLL(None, use_errno=True).mount(None, ipc.encode(), None, 32 | 4096, None)  # rw again
        return _write_json({"before": before, "after": after, "remount": remount})

    assert _run(tmp_path, body) == 0
    seen = _read_json(tmp_path)
    assert seen["before"] == "written", "the kernel must be able to bind its sockets there"
    assert seen["after"] == "Read-only file system" and seen["remount"] != 0, f"writable after seal(): {seen}"
    assert sorted(os.listdir(tmp_path / "work" / sandbox.IPC_FOLDER)) == ["socket-stand-in"]
