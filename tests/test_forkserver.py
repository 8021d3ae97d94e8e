"""The fork server: sandboxed processes forked from a warm one, each from a pristine copy of it."""

import os
import time

import pytest

from course.grading.forkserver import ForkServer
from course.grading.sandbox import Limits, is_root
from course.grading.verify import StudentError, StudentProcess


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    fs = ForkServer(tmp_path_factory.mktemp("forkserver"))
    assert fs.ensure(), "the fork server did not start"
    yield fs
    fs.stop()


def _student(server, tmp_path, answers, setup=("import numpy as np",), hide=()):
    return StudentProcess(
        list(setup), answers, 30, Limits(tag=f"fs-{os.getpid()}"), str(tmp_path / "work"), hide=hide, forkserver=server
    )


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


@pytest.mark.skipif(not is_root(), reason="the sandbox covers folders only as root (mount namespaces)")
def test_student_code_cannot_reach_the_server(server, tmp_path):
    probe = (
        "import socket\ndef connect(path):\n    s = socket.socket(socket.AF_UNIX)\n"
        "    try:\n        s.connect(path)\n        return 'connected'\n"
        "    except OSError as e:\n        return type(e).__name__"
    )
    student = _student(server, tmp_path, [probe], hide=[os.path.dirname(server.path)])
    try:
        assert student.function("connect")(server.path) != "connected"
    finally:
        student.close()


@pytest.mark.skipif(not is_root(), reason="the sandbox covers folders only as root (mount and PID namespaces)")
def test_a_forked_child_sees_only_its_own_processes(server, tmp_path):
    probe = "import os\ndef pids():\n    return sorted(int(p) for p in os.listdir('/proc') if p.isdigit())"
    student = _student(server, tmp_path, [probe], hide=[os.path.dirname(server.path)])
    try:
        assert student.function("pids")() == [1], "the child sees processes outside its sandbox"
    finally:
        student.close()
