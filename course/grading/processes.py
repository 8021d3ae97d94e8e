"""Process lifetime in the grading engine: every protocol timeout, reading with a deadline, ending a
process tree, dying with the parent, and reaching a socket in a deep folder.

Standard library only: the fork server, the worker, the batch and the verifier's student process
(inside the sandbox) import it.

The processes and who ends them: a batch (:mod:`course.grading.batch`) starts each worker in a
session of its own and ends it with :func:`kill_session`; a worker's fork server dies with the
worker (:func:`die_with_parent`, and :func:`watch_parent` in the worker, whose parent may be a
thread); every sandbox dies with its fork server and is ended by
:func:`course.grading.sandbox.kill`.

Every line of the private protocols between them is read with a deadline (:func:`read_line`,
:func:`read_exact`), from the constants below, so that no process that stops answering hangs
the one that waits.
"""

import contextlib
import os
import select
import signal
import subprocess
import time

# ------------------------------------------------------------------ the timeouts, in seconds
#: A grading worker's "ready" (its imports, then its fork server's start, FORKSERVER_START_TIMEOUT_S):
#: a worker that says nothing by then is stopped and its notebook gets an error result.
WORKER_READY_TIMEOUT_S = 180
#: A fork server's "ready" (importing numpy, torch, ipykernel, the checks: ~5 s on a quiet machine).
FORKSERVER_START_TIMEOUT_S = 120
#: The fork server waits this long for a client's request once it connected.
FORKSERVER_REQUEST_TIMEOUT_S = 5
#: A client waits this long for the pid of the process it asked the fork server for.
SPAWN_TIMEOUT_S = 60
#: How long a closed child of the fork server gets to report its exit status.
CHILD_EXIT_TIMEOUT_S = 30
#: The fork server waits this long to collect a child it has just killed.
REAP_TIMEOUT_S = 2
#: The fork server's loop wakes this often to see whether its parent is gone.
SERVER_POLL_S = 0.05
#: A worker looks this often whether its parent is gone (see :func:`watch_parent`).
PARENT_POLL_S = 0.5
#: A sandbox's first process must have entered its namespaces by then (:func:`course.grading.sandbox.fork`).
SANDBOX_START_TIMEOUT_S = 10
#: How long a kernel's sandbox waits for :func:`course.grading.sandbox.seal` before it seals anyway.
SEAL_TIMEOUT_S = 60
#: Probing whether bubblewrap works (``bwrap ... /bin/true``).
BWRAP_PROBE_TIMEOUT_S = 20
#: The verifier's student process loads the cells within ``timeout`` per cell, and at least this.
VERIFY_LOAD_MIN_TIMEOUT_S = 60
#: Reaching a Dask scheduler (:func:`course.grading.cluster.connect`) ...
SCHEDULER_CONNECT_TIMEOUT_S = 15
#: ... and, reached, waiting for its first worker.
SCHEDULER_WORKERS_TIMEOUT_S = 60


# ------------------------------------------------------------------ reading with a deadline
def _fd(f):
    return f if isinstance(f, int) else f.fileno()


def wait_readable(f, deadline):
    """True when ``f`` (a descriptor or anything with ``fileno()``) has something to read (or EOF)
    by ``deadline`` (``time.monotonic()``; None: wait as long as it takes)."""
    if deadline is None:
        return bool(select.select([_fd(f)], [], [])[0])
    return bool(select.select([_fd(f)], [], [], max(0.0, deadline - time.monotonic()))[0])


def read_line(f, deadline, limit=64):
    """One line (at most ``limit`` bytes, stripped) from ``f`` by ``deadline`` (time.monotonic()).

    Reads byte by byte from the descriptor (nothing is left in a buffer for another reader). Raises
    TimeoutError when the deadline passes (a deadline already past reads only what is there),
    OSError when the other side closes or sends a line too long.
    """
    data = b""
    while not data.endswith(b"\n"):
        if len(data) > limit:
            raise OSError("line too long")
        if not wait_readable(f, deadline):
            raise TimeoutError
        chunk = os.read(_fd(f), 1)
        if not chunk:
            raise OSError("connection closed")
        data += chunk
    return data.decode(errors="replace").strip()


def read_exact(fd, n, deadline=None):
    """Exactly ``n`` bytes from descriptor ``fd`` by ``deadline`` (None: no deadline); TimeoutError
    when it passes, EOFError when the other side closes first."""
    chunks, got = [], 0
    while got < n:
        if deadline is not None and (deadline <= time.monotonic() or not wait_readable(fd, deadline)):
            raise TimeoutError
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


# ------------------------------------------------------------------ ending processes
def kill_session(proc):
    """Ends ``proc`` (a ``subprocess.Popen`` started with ``start_new_session=True``) and every process
    of its session, collects it and closes its pipes. Safe to call again."""
    with contextlib.suppress(OSError):
        os.killpg(proc.pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            with contextlib.suppress(OSError):  # a broken pipe: the process is gone anyway
                pipe.close()


def start_session(cmd, **popen):
    """``subprocess.Popen(cmd, start_new_session=True, ...)``: a process :func:`kill_session` ends
    with everything it started."""
    return subprocess.Popen(cmd, start_new_session=True, **popen)


_PR_SET_PDEATHSIG = 1
_libc = None


def die_with_parent(parent_alive):
    """``PR_SET_PDEATHSIG`` (SIGKILL): this process ends when its parent (thread) does -- and now, if
    ``parent_alive()`` says the parent died before it was set. Changing the uid clears it: the
    sandbox sets it again after dropping its privileges."""
    import ctypes  # (here: the verifier's student process imports this module, and needs none)

    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    if _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl: {os.strerror(err)}")
    if not parent_alive():
        os._exit(1)


def watch_parent(on_gone, every_s=None):
    """A daemon thread that calls ``on_gone()`` once this process's parent is gone (polled every
    ``every_s``, PARENT_POLL_S by default). For a process whose parent starts it from a thread
    that may end first, where :func:`die_with_parent`'s signal would follow that thread."""
    import threading

    parent = os.getppid()

    def watch():
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S if every_s is None else every_s)
        on_gone()

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


# ------------------------------------------------------------------ a socket in a deep folder
@contextlib.contextmanager
def short_path(folder):
    """A short path to ``folder`` while the block runs: ``/proc/self/fd/N``, N a descriptor of it.

    A Unix socket's address has at most 107 bytes and a worker's folder can be deeper (a long
    TMPDIR, pytest's folders); the kernel resolves ``/proc/self/fd/N/NAME`` to the same file, in
    this process only (and in its threads). Nothing is created: no link anyone could replace.
    """
    fd = os.open(folder, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield f"/proc/self/fd/{fd}"
    finally:
        os.close(fd)


def socket_address(sock, path, bind=False):
    """``sock.bind(path)`` or ``sock.connect(path)``, however deep ``path`` lies (see :func:`short_path`)."""
    with short_path(os.path.dirname(path) or ".") as folder:
        (sock.bind if bind else sock.connect)(f"{folder}/{os.path.basename(path)}")
