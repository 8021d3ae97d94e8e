"""A fork server: sandboxed kernels and verifier processes without paying Python's start-up each time.

Every submission of a unit imports the same things (NumPy, PyTorch, ipykernel, the course's
checks): about 1.5 s of CPU per process, twice per submission (its kernel and the verifier's
student process). A grading worker therefore starts one fork server, which imports them once
and then starts each sandboxed process with :func:`course.grading.sandbox.fork` (the one way to
start one), which runs the kernel or the verifier's student loop. Each child starts from the
server's pristine state, so nothing a submission does reaches another one. With the "bwrap"
backend the server itself runs inside bubblewrap (see :mod:`course.grading.sandbox`).

A NumPy unit's student process must not have torch, the checks or ``course.interop`` even in
its memory (:mod:`course.grading.verify`). So the server first imports only what is free of
them (:data:`NUMPY_PRELOAD`) and forks a **torch-free server** -- same loop, its own socket
(:func:`numpy_socket`), only the verifier's "serve" requests -- before it imports the rest.

The server starts with an environment of its own (:func:`course.grading.sandbox.environment`),
never the worker's, so no secret of the grader is even in its memory for a child to inherit.

Protocol, over a Unix socket in the worker's folder (which no sandbox can see): the client sends
one JSON request ``{"kind": "kernel" | "serve", "args": SANDBOX-ARGS}`` with file descriptors
attached (the kernel's stdin/stdout/stderr, or the verifier's two pipes); the server answers
``PID\\n`` and, when the child ends, ``exit CODE\\n``. When the client goes away first (the kernel
manager killed it), the server ends the child's sandbox (:func:`course.grading.sandbox.kill`):
the server is the one owner of every sandbox's lifetime. A kernel's client is
:class:`course.grading.provisioner.SandboxProvisioner`, in the worker (jupyter_client's provisioner API).

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

from course.grading import processes, sandbox
from course.grading.processes import read_line, socket_address

#: What the torch-free server's children (NumPy units' student processes) find imported.
#: The torch-free server adds matplotlib.pyplot (the units' setup cells import it). Not so for
#: kernels: with any of matplotlib imported before a kernel starts, a kernel whose student code
#: exhausted its memory limit dies instead of raising MemoryError (tests/grading/test_adversarial.py).
NUMPY_PRELOAD = ("numpy", "tqdm.auto", "course", "course.grading.verify")
#: ... and, the torch-free server forked, what every other child finds imported too.
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
MAX_REQUEST = 1 << 16


def numpy_socket(path):
    """The socket of the torch-free server that the server at ``path`` forks: beside it."""
    return os.path.join(os.path.dirname(path), "numpy.sock")


class ForkServer:
    """The grading worker's handle on its fork server (started lazily, restarted if it died).

    ``folder``: the worker's private folder (the socket lives there); ``shared``: folders the
    sandboxes' working folders and the kernels' connection files lie in (bound into bubblewrap).
    """

    def __init__(self, folder, shared=(), backend=None):
        self.path = str(Path(folder) / "forkserver.sock")
        self.shared = [str(folder), *map(str, shared)]
        self.proc = None
        self.backend = backend or sandbox.backend()

    def ensure(self, timeout=None):
        """Starts the server unless it runs; returns the socket path (None if it cannot start within
        ``timeout`` s, :data:`~course.grading.processes.FORKSERVER_START_TIMEOUT_S` by default)."""
        if self.proc is not None and self.proc.poll() is None:
            return self.path
        for path in (self.path, numpy_socket(self.path)):
            if os.path.exists(path):
                os.unlink(path)
        env = dict(sandbox.environment(os.path.dirname(self.path)), COURSE_SANDBOX=self.backend)
        cmd = [sys.executable, "-P", "-m", "course.grading.forkserver", self.path]  # -P: not the folder it runs in
        if self.backend == "bwrap":
            cmd = [*sandbox.bwrap_command(self.shared), "--", *cmd]
        self.proc = processes.start_session(
            cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd="/"
        )
        timeout = processes.FORKSERVER_START_TIMEOUT_S if timeout is None else timeout
        try:
            ready = read_line(self.proc.stdout, time.monotonic() + timeout) == "ready"
        except (OSError, TimeoutError):
            ready = False
        if not ready:
            self.stop()
            return None
        return self.path

    def spawn(self, kind, args, fds, numpy_only=False):
        """A sandboxed child: ``kind`` "serve" (the verifier's student loop) with ``fds`` its two pipes.

        ``args``: the sandbox's arguments (:func:`course.grading.sandbox.command_args`);
        ``numpy_only``: a child of the torch-free server. Returns a :class:`Child`, or None when
        the server cannot be reached.
        """
        path = self.ensure()
        if path is None:
            return None
        try:
            return Child.request(numpy_socket(path) if numpy_only else path, kind, args, fds)
        except OSError:
            return None

    def stop(self):
        """Ends the server, and with it every sandbox it started (they die with their parent)."""
        if self.proc is not None:
            processes.kill_session(self.proc)
            self.proc = None
        for path in (self.path, numpy_socket(self.path)):
            if os.path.exists(path):
                os.unlink(path)


class Child:
    """A child of the fork server, with the part of ``subprocess.Popen``'s interface the verifier uses."""

    def __init__(self, conn, pid):
        self.conn, self.pid, self.returncode = conn, pid, None

    @classmethod
    def request(cls, path, kind, args, fds):
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            socket_address(conn, path)
            socket.send_fds(conn, [json.dumps({"kind": kind, "args": args}).encode()], fds)
            pid = int(read_line(conn, time.monotonic() + processes.SPAWN_TIMEOUT_S))
        except (OSError, ValueError):
            conn.close()
            raise OSError("the fork server did not start the process") from None
        return cls(conn, pid)

    def poll(self):
        if self.returncode is None:
            try:
                self.returncode = _exit_code(read_line(self.conn, time.monotonic()))
            except TimeoutError:
                pass
            except (OSError, ValueError, IndexError):
                self.returncode = -1
        return self.returncode

    def wait(self, timeout=None):
        timeout = processes.CHILD_EXIT_TIMEOUT_S if timeout is None else timeout
        if self.returncode is None:
            try:
                self.returncode = _exit_code(read_line(self.conn, time.monotonic() + timeout))
            except (OSError, ValueError, IndexError):
                self.returncode = -1
        self.conn.close()
        return self.returncode

    def kill(self):
        self.conn.close()  # the server ends the child's sandbox when its client goes away
        if self.returncode is None:
            self.returncode = -signal.SIGKILL


def _exit_code(line):
    """The code of the server's ``exit CODE`` line (-1 for anything else)."""
    return int(line.split()[1]) if line.startswith("exit") else -1


# ------------------------------------------------------------------ the server process
def _kernel(cmd, fds, workdir):
    """The kernel's part of the child before it enters the sandbox: its stdio and connection file."""

    def prepare():
        for i, fd in enumerate(fds[:3]):  # the client's stdin, stdout, stderr
            os.dup2(fd, i)
        i = cmd.index("-f") + 1
        with open(cmd[i], encoding="utf-8") as f:  # the kernel manager's file, private to the grader
            info = json.load(f)
        if info.get("transport") == "ipc" and os.path.isabs(info.get("ip", "")):
            # the socket files are in the kernel's working folder, in IPC_FOLDER, which it sees in HOME
            name = os.path.basename(info["ip"])
            if backend_isolates():
                info["ip"] = os.path.join(sandbox.HOME, sandbox.IPC_FOLDER, name)
            elif info["ip"].startswith("/proc/self/fd/"):  # nbgrader's side reaches a deep folder by its
                # descriptor (worker._short_ipc_path): so does the kernel, by one of its own, held for its life
                held = os.open(os.path.join(workdir, sandbox.IPC_FOLDER), os.O_PATH | os.O_DIRECTORY)
                info["ip"] = f"/proc/self/fd/{held}/{name}"
        copy = os.path.join(workdir, ".kernel-connection.json")
        os.makedirs(workdir, exist_ok=True)
        with open(copy, "w", encoding="utf-8") as f:
            json.dump(info, f)
        cmd[i] = os.path.join(sandbox.HOME, ".kernel-connection.json") if backend_isolates() else copy

    def body():
        from ipykernel.kernelapp import IPKernelApp

        sys.argv = ["ipykernel_launcher.py", *cmd[3:]]
        app = IPKernelApp.instance()
        app.initialize()  # (binds its sockets; no student code has run yet)
        if app.transport == "ipc":  # the heartbeat binds its socket in a thread of its own
            deadline = time.monotonic() + processes.SEAL_TIMEOUT_S
            while not os.path.exists(f"{app.ip}-{app.hb_port}") and time.monotonic() < deadline:
                time.sleep(0.005)
        sandbox.seal()  # its socket folder read-only: the student writes only to the sandbox's own space
        app.start()
        return 0

    return prepare, body


def backend_isolates():
    return sandbox.backend() != "none"


def _serve(fds):
    """The verifier's student process: its two pipes; stdio goes nowhere."""

    def prepare():
        null = os.open(os.devnull, os.O_RDWR)
        for i in range(3):
            os.dup2(null, i)
        os.close(null)

    def body():
        from course.grading.verify import serve as serve_answers

        serve_answers(fds[0], fds[1])
        return 0

    return prepare, body


def _preload(names):
    import importlib

    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            pass


def _listen(path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o077)  # only the grader (its uid) may ask for a process
    try:
        socket_address(listener, path, bind=True)
    finally:
        os.umask(old_umask)
    listener.listen(16)
    return listener


def serve(path):
    """The server: the torch-free server forked first, then the rest imported; both serve until
    their parent (the worker, the server) is gone."""
    worker = os.getppid()
    processes.die_with_parent(lambda: os.getppid() == worker)
    _preload(NUMPY_PRELOAD)
    if sys.path and sys.path[0] in ("", os.getcwd()):
        del sys.path[0]  # as ipykernel_launcher does: the server's folder is nobody's import path
    numpy_listener = _listen(numpy_socket(path))
    torch_free = os.fork()
    if torch_free == 0:
        server = os.getppid()
        processes.die_with_parent(lambda: os.getppid() == server)
        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # the worker's pipe is the server's
        _preload(("matplotlib.pyplot",))  # (no kernel starts here: see NUMPY_PRELOAD)
        from course.grading.verify import FORBIDDEN_MODULES

        if any(m == f or m.startswith(f + ".") for m in list(sys.modules) for f in FORBIDDEN_MODULES):
            os._exit(1)  # (a preloaded module imported one: then no NumPy unit can be verified here)
        _loop(numpy_listener, server, kinds=("serve",))
        os._exit(0)
    numpy_listener.close()
    _preload(PRELOAD)
    listener = _listen(path)
    print("ready", flush=True)
    os.dup2(os.open(os.devnull, os.O_WRONLY), 1)  # nothing more for the worker's pipe
    _loop(listener, worker, kinds=("kernel", "serve"), sibling=torch_free)


def _loop(listener, parent, kinds, sibling=None):
    """Start the children asked for until ``parent`` is gone (or the server ``sibling`` ended)."""
    children, ended = {}, set()  # pid -> connection of its client; others that ended
    while os.getppid() == parent and (sibling is None or sibling not in ended):
        conns = {c.fileno(): (pid, c) for pid, c in children.items()}
        readable, _, _ = select.select([listener, *[c for _, c in conns.values()]], [], [], processes.SERVER_POLL_S)
        for r in readable:
            if r is not listener:  # a client went away (or wrote, which it never does): its child goes too
                pid, conn = conns[r.fileno()]
                sandbox.kill(pid)
                conn.close()
                children.pop(pid)
                ended |= _reap(children, pid)
        if listener in readable:
            _accept(listener, children, kinds)
        ended |= _reap(children)  # (the torch-free server gone: this one ends, the worker starts both again)
    for pid in children:
        sandbox.kill(pid)


def _accept(listener, children, kinds):
    """Reads one request (of one of ``kinds``) and starts its sandboxed child."""
    conn, _ = listener.accept()
    fds = []
    try:
        conn.settimeout(processes.FORKSERVER_REQUEST_TIMEOUT_S)
        msg, fds, _, _ = socket.recv_fds(conn, MAX_REQUEST, 8)
        request = json.loads(msg)
        if request["kind"] not in kinds:
            raise ValueError("not served here")
        limits, workdir, expose, writable, cover, cmd = sandbox.parse_args(request["args"])
        if request["kind"] == "kernel" and len(fds) == 3 and cmd[1:3] == ["-m", "ipykernel_launcher"]:
            prepare, body = _kernel(cmd, fds, workdir)
        elif request["kind"] == "serve" and len(fds) == 2:
            prepare, body = _serve(fds)
        else:
            raise ValueError("unknown request")
        keep_open = [listener.fileno(), conn.fileno(), *(c.fileno() for c in children.values())]
        pid = sandbox.fork(limits, workdir, body, expose, writable, prepare, keep_open, cover=cover)
        try:
            conn.sendall(f"{pid}\n".encode())
        except OSError:
            sandbox.kill(pid)  # (reaped by the loop)
            raise
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        conn.close()
        return
    finally:
        for fd in fds:
            os.close(fd)
    conn.setblocking(True)
    children[pid] = conn


def _reap(children, wait_for=None):
    """Collects ended children and tells their clients how they ended; returns the pids of
    ended processes that were no client's (the torch-free server)."""
    deadline, others = time.monotonic() + processes.REAP_TIMEOUT_S, set()
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return others
        if pid == 0:
            if wait_for is None or time.monotonic() > deadline:
                return others
            time.sleep(0.01)
            continue
        if pid in children:
            conn = children.pop(pid)
            try:
                conn.sendall(f"exit {os.waitstatus_to_exitcode(status)}\n".encode())
            except OSError:
                pass
            conn.close()
        else:
            others.add(pid)
        if pid == wait_for:
            return others


if __name__ == "__main__":
    serve(sys.argv[1])
