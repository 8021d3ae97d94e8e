"""The fork server: sandboxed processes forked from a warm one, each from a pristine copy of it."""

import os
import time

import pytest

from course.grading import sandbox
from course.grading.sandbox import Limits
from course.grading.verify import StudentError, StudentProcess

isolated = pytest.mark.skipif(sandbox.backend() == "none", reason="this machine cannot isolate (no user namespaces)")


def _student(server, tmp_path, answers, setup=("import numpy as np",)):
    return StudentProcess(list(setup), answers, 30, Limits(), str(tmp_path / "work"), forkserver=server)


def test_a_child_serves_the_student_functions(server, tmp_path):
    student = _student(server, tmp_path, ["def double(x):\n    return 2 * x"])
    try:
        assert student.names == ["double"]
        assert student.function("double")(21) == 42
        assert student.proc.pid != os.getpid() and student.proc.poll() is None
    finally:
        student.close()


def test_what_one_child_changes_never_reaches_the_next(server, tmp_path):
    tamper = "import numpy\nnumpy.allclose = lambda *a, **k: True\ndef probe():\n    return numpy.allclose(1, 2)"
    first = _student(server, tmp_path, [tamper])
    try:
        assert first.function("probe")() is True
    finally:
        first.close()
    honest = "import numpy\ndef probe():\n    return numpy.allclose(1, 2)"
    second = _student(server, tmp_path, [honest])
    try:
        assert second.function("probe")() is False, "the second child saw the first one's monkeypatch"
    finally:
        second.close()


def test_closing_the_client_kills_the_child(server, tmp_path):
    student = _student(server, tmp_path, ["def f():\n    return 1"])
    pid = student.proc.pid
    student.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    pytest.fail(f"process {pid} still runs after its client closed")


def test_a_child_that_exits_is_reported_as_ended(server, tmp_path):
    student = _student(server, tmp_path, ["import os\ndef leave():\n    os._exit(3)"])
    with pytest.raises(StudentError, match="ended the process"):
        student.function("leave")()
    assert student.proc.poll() is not None


@isolated
def test_student_code_cannot_reach_the_server(server, tmp_path):
    probe = (
        "import socket\ndef connect(path):\n    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n        s.connect(path)\n        return 'connected'\n"
        "    except OSError as e:\n        return type(e).__name__"
    )
    student = _student(server, tmp_path, [probe])
    try:
        assert student.function("connect")(server.path) != "connected"
    finally:
        student.close()


@isolated
def test_a_forked_child_sees_only_its_own_processes(server, tmp_path):
    probe = "import os\ndef pids():\n    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())"
    student = _student(server, tmp_path, [probe])
    try:
        assert student.function("pids")() == [1], "the child sees processes outside its sandbox"
    finally:
        student.close()


def test_a_request_carries_no_environment(server, tmp_path, monkeypatch):
    monkeypatch.setenv("COURSE_FAKE_SECRET", "s3cr3t")
    student = _student(server, tmp_path, ["import os\ndef env():\n    return dict(os.environ)"])
    try:
        env = student.function("env")()
    finally:
        student.close()
    assert "COURSE_FAKE_SECRET" not in env
    assert set(env) <= set(sandbox.environment("/x")), (
        f"not in the allowlist: {set(env) - set(sandbox.environment('/x'))}"
    )


def test_closing_the_client_ends_what_the_child_forked(server, tmp_path):
    orphan = (
        "import os, time\ndef spawn():\n    if os.fork() == 0:\n        os.setsid()\n"
        "        if os.fork() == 0:\n            time.sleep(600)\n        os._exit(0)\n    return 1"
    )
    before = _forks_of(server)
    student = _student(server, tmp_path, [orphan])
    student.function("spawn")()
    student.close()
    deadline = time.monotonic() + 5
    while _forks_of(server) - before and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _forks_of(server) - before, "a grandchild of the sandbox outlived it"


def _forks_of(server):
    """The server and the processes forked from it (its children's children included)."""
    found = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if server.path.encode() in f.read():
                    found.add(pid)
        except OSError:
            pass
    return found
