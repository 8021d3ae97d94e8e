"""A fork server: sandboxed kernels and verifier processes without paying Python's start-up each time.

Every submission of a unit imports the same things (NumPy, PyTorch, ipykernel, the course's
checks): about 1.5 s of CPU per process, twice per submission (its kernel and the verifier's
student process). A grading worker therefore starts one fork server, which imports them once
and then ``fork``s a fresh process per request; the child enters the sandbox exactly as
``python -m course.grading.sandbox`` does (:func:`course.grading.sandbox.enter`) and then runs the kernel or
the verifier's student loop. Each child starts from the server's pristine state, so nothing a
submission does reaches another one.

Protocol, over a Unix socket in the batch's private folder (hidden from student code): the
client sends one JSON request with file descriptors attached (the kernel's stdin/stdout/stderr,
or the verifier's two pipes); the server answers ``PID\\n`` and, when the child ends,
``exit CODE\\n``. When the client goes away first (the kernel manager killed it), the server
kills the child's whole sandbox. The kernel's client is ``course/_forkclient.py``, a
standard-library-only script that the kernel spec runs in place of ``python -m course.grading.sandbox``.

    python -m course.grading.forkserver SOCKET_PATH      (started by :class:`ForkServer`)
"""

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

#: What the children of the server find already imported.
PRELOAD = (
    "numpy",
    "torch",
    "tqdm.auto",
    "ipykernel.kernelapp",
    "course",
    "course.checks",
    "course.datasets.toy",
    "course.interop",
    "course.testing",
    "course.grading.verify",
)
CLIENT = str(Path(__file__).with_name("_forkclient.py"))
MAX_REQUEST = 1 << 20


class ForkServer:
    """The grading worker's handle on its fork server (started lazily, restarted if it died)."""

    def __init__(self, folder):
        self.path = str(Path(folder) / "forkserver.sock")
        self.proc = None

    def ensure(self, timeout=120):
        """Starts the server unless it runs; returns the socket path (None if it cannot start)."""
        if self.proc is not None and self.proc.poll() is None:
            return self.path
        if os.path.exists(self.path):
            os.unlink(self.path)
        env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "course.grading.forkserver", self.path],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,
        )
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        if not ready or self.proc.stdout.readline().strip() != b"ready":
            self.stop()
            return None
        return self.path

    def spawn(self, kind, args, fds):
        """A sandboxed child: ``kind`` "serve" (the verifier's student loop) with ``fds`` its two pipes.

        ``args``: the sandbox's command line (:func:`course.grading.sandbox.parse_args`). Returns a
        :class:`Child`, or None when the server cannot be reached.
        """
        path = self.ensure()
        if path is None:
            return None
        try:
            return Child.request(path, kind, args, fds)
        except OSError:
            return None

    def stop(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.kill()
            self.proc.wait()
            self.proc.stdout.close()
            self.proc = None
        if os.path.exists(self.path):
            os.unlink(self.path)


class Child:
    """A child of the fork server, with the part of ``subprocess.Popen``'s interface the verifier uses."""

    def __init__(self, conn, pid):
        self.conn, self.pid, self.returncode = conn, pid, None

    @classmethod
    def request(cls, path, kind, args, fds):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.settimeout(60)
        try:
            conn.connect(path)
            socket.send_fds(conn, [json.dumps({"kind": kind, "args": args, "env": dict(os.environ)}).encode()], fds)
            pid = int(_readline(conn))
        except (OSError, ValueError):
            conn.close()
            raise OSError("the fork server did not start the process") from None
        return cls(conn, pid)

    def poll(self):
        if self.returncode is None:
            self.conn.setblocking(False)
            try:
                self.returncode = _exit_code(_readline(self.conn))
            except BlockingIOError:
                pass
            except (OSError, ValueError, IndexError):
                self.returncode = -1
            finally:
                if self.conn.fileno() >= 0:
                    self.conn.setblocking(True)
        return self.returncode

    def wait(self, timeout=30):
        if self.returncode is None:
            self.conn.settimeout(timeout)
            try:
                self.returncode = _exit_code(_readline(self.conn))
            except (OSError, ValueError, IndexError):
                self.returncode = -1
        self.conn.close()
        return self.returncode

    def kill(self):
        self.conn.close()  # the server kills the child's sandbox when its client goes away
        if self.returncode is None:
            self.returncode = -signal.SIGKILL


def _exit_code(line):
    """The code of the server's ``exit CODE`` line (-1 for anything else)."""
    return int(line.split()[1]) if line.startswith("exit") else -1


def _readline(conn):
    data = b""
    while not data.endswith(b"\n"):
        chunk = conn.recv(1)
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data.decode().strip()


# ------------------------------------------------------------------ the server process
def _child(request, fds, keep_open):
    """In the forked child: enter the sandbox, then become the kernel or the verifier's student loop."""
    from course.grading import sandbox

    for fd in keep_open:  # the server's socket and its other clients' connections
        try:
            os.close(fd)
        except OSError:
            pass
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    os.environ.clear()
    os.environ.update(request["env"])
    limits, workdir, hide, expose, cmd = sandbox.parse_args(request["args"])
    if request["kind"] == "kernel":
        for i, fd in enumerate(fds[:3]):  # the client's stdin, stdout, stderr
            os.dup2(fd, i)
        sandbox.own_connection_file(cmd, workdir)
    sandbox.enter(limits, workdir, hide, expose)
    import tempfile

    tempfile.tempdir = None  # chosen again from TMPDIR, now the sandbox's folder
    if request["kind"] == "serve":
        from course.grading.verify import _serve

        _serve(fds[0], fds[1])
        return 0
    if cmd[1:3] == ["-m", "ipykernel_launcher"]:
        from ipykernel import kernelapp

        sys.argv = ["ipykernel_launcher", *cmd[3:]]
        kernelapp.launch_new_instance()
        return 0
    os.execv(cmd[0], cmd)  # anything else: as course.grading.sandbox would run it


def serve(path):
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does: the server's folder is nobody's import path
    from course.grading import sandbox

    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)  # only the grader (its uid) may ask for a process
    listener.bind(path)
    os.umask(old_umask)
    listener.listen(16)
    children = {}  # pid -> (connection, limits)
    print("ready", flush=True)
    parent = os.getppid()
    while os.getppid() == parent:  # the worker went away: so does the server
        conns = {c.fileno(): (pid, c) for pid, (c, _) in children.items()}
        readable, _, _ = select.select([listener, *[c for _, c in conns.values()]], [], [], 0.05)
        # clients that went away first: their sandboxes are emptied before a new child may join the cgroup
        for r in readable:
            if r is not listener:  # a client went away (or wrote, which it never does): its child goes too
                pid, conn = conns[r.fileno()]
                sandbox.kill_tree(pid, children[pid][1])
                conn.close()
                children.pop(pid)
                _reap(children, pid)
        if listener in readable:
            _accept(listener, children, conns)
        _reap(children)
    for pid, (_conn, limits) in children.items():
        sandbox.kill_tree(pid, limits)


def _accept(listener, children, conns):
    """Reads one request and forks its child (which never returns here)."""
    from course.grading import sandbox

    conn, _ = listener.accept()
    conn.settimeout(10)
    try:
        msg, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 8)
        request = json.loads(msg)
        limits, *_ = sandbox.parse_args(request["args"])
    except (OSError, ValueError, SystemExit):  # (argparse exits on bad options)
        conn.close()
        return
    keep_open = [listener.fileno(), conn.fileno(), *conns]
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            code = _child(request, fds, keep_open)
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001  (nothing of the child may run the server's loop)
            code = 1
        finally:
            os._exit(code or 0)
    for fd in fds:
        os.close(fd)
    children[pid] = (conn, limits)
    conn.sendall(f"{pid}\n".encode())


def _reap(children, wait_for=None):
    """Collects ended children and tells their clients how they ended."""
    deadline = time.monotonic() + 2
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            if wait_for is None or time.monotonic() > deadline:
                return
            time.sleep(0.01)
            continue
        if pid in children:
            conn, _ = children.pop(pid)
            try:
                conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass
            conn.close()
        if pid == wait_for:
            return


if __name__ == "__main__":
    serve(sys.argv[1])
