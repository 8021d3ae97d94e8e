"""Real servers for the tests, started on loopback and stopped at the end: PostgreSQL, a Dask cluster, `course lab`.

- :func:`wait_for_http`: polls a server's URL until it answers (every test that starts a web server
  waits with it), failing with the tail of the server's log and whether its process exited.
- :func:`course_lab`: ``course lab --no-browser`` on a course folder, as a fresh user; stopped with
  :func:`stop_session` (its process group).
- :class:`Postgres`: Debian's PostgreSQL (``/usr/lib/postgresql/<v>/bin``: ``initdb`` and ``pg_ctl``)
  in a temporary folder, as an unprivileged user (``course-pg``, made with ``useradd`` when the
  tests run as root: PostgreSQL refuses to run as root), listening on 127.0.0.1 on a free port,
  password login (scram-sha-256) for user ``course``.
- :class:`DaskCluster`: ``dask scheduler`` and ``dask worker`` processes from the venv's bin, on
  127.0.0.1, each a separate process (a nanny and its worker), as on a real cluster.

Where a server is not installed, the tests that need it are skipped, saying what to install
(CI installs both: see .ci/run).
"""

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

PG_USER, PG_PASSWORD = "course", "gradebook-secret"
OS_USER = "course-pg"  # the unprivileged account the server runs as, when the tests run as root


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_http(url, proc=None, log=None, timeout=90, what="the server"):
    """Polls ``url`` every half second until it answers 200 OK; returns the body of that answer (text).

    ``url`` is a URL, or a function that returns it (None while it is not known yet: a server that
    prints its URL in its log). Fails the test as soon as ``proc`` (the server's ``Popen``) has
    exited, or once ``timeout`` seconds have passed; the message names ``what`` did not start, says
    which of the two happened, and ends with the last 4000 characters of the file ``log``.
    """
    deadline = time.monotonic() + timeout
    while True:
        where = url() if callable(url) else url
        if where is not None:
            try:
                with urllib.request.urlopen(where, timeout=5) as r:
                    if r.status == 200:
                        return r.read().decode()
            except OSError:  # not listening yet, or an HTTP error (HTTPError is an OSError)
                pass
        code = None if proc is None else proc.poll()
        if code is not None or time.monotonic() > deadline:
            if code is not None:
                why = f"its process exited with status {code}"
            else:
                why = f"no answer in {timeout} s" + (" (its process is still running)" if proc is not None else "")
            message = f"{what} did not start: {why}; URL: {where or 'not known yet (not in its log)'}"
            if log is not None:
                message += f"\nthe end of its log ({log}):\n" + Path(log).read_text(errors="replace")[-4000:]
            pytest.fail(message)
        time.sleep(0.5)


def stop_session(proc, timeout=20):
    """SIGTERM to the process group of ``proc`` (started with ``start_new_session=True``), SIGKILL
    to it after ``timeout`` seconds; returns once ``proc`` has ended."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@contextlib.contextmanager
def course_lab(root, state, log, *args):
    """``course lab --no-browser ARGS`` on the course folder ``root``, its output in the file ``log``.

    As a fresh user: no settings, workspaces, runtime files or token of the person running the
    tests (JupyterLab keeps them under the folder ``state``). Yields the process, in a session of
    its own; at the end it and its Jupyter server are stopped (:func:`stop_session`). Wait for it
    to answer with :func:`wait_for_http`.
    """
    env = dict(
        os.environ,
        COURSE_ROOT=str(root),
        JUPYTERLAB_SETTINGS_DIR=str(Path(state) / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(Path(state) / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(Path(state) / "runtime"),
    )
    env.pop("JUPYTER_TOKEN", None)
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(Path(sys.executable).parent / "course"), "lab", "--no-browser", *args],
            cwd=root,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        yield proc
    finally:
        stop_session(proc)


def postgres_bin():
    """The folder of initdb and pg_ctl, or None where PostgreSQL is not installed."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4]))
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


def why_no_postgres():
    if postgres_bin() is None:
        return "PostgreSQL is not installed (apt-get install postgresql: initdb and pg_ctl are needed)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser: PostgreSQL cannot be started as an unprivileged user"
    return None


class Postgres:
    """A throw-away PostgreSQL server; ``url(db)`` is a database's URL (:meth:`create` makes one)."""

    def __init__(self):
        self.bin = postgres_bin()
        self.port = free_port()
        self.folder = Path(tempfile.mkdtemp(prefix="course-pg-"))
        self.data = self.folder / "data"
        self.as_user = []
        if os.geteuid() == 0:
            try:
                pwd.getpwnam(OS_USER)
            except KeyError:
                subprocess.run(["useradd", "--system", "--no-create-home", OS_USER], check=True)
            shutil.chown(self.folder, OS_USER)
            self.as_user = ["runuser", "-u", OS_USER, "--"]

    def _run(self, *cmd):
        return subprocess.run(self.as_user + list(cmd), check=True, capture_output=True, text=True)

    def start(self):
        pwfile = self.folder / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if self.as_user:
            shutil.chown(pwfile, OS_USER)
        self._run(
            str(self.bin / "initdb"),
            "-D",
            str(self.data),
            "-U",
            PG_USER,
            f"--pwfile={pwfile}",
            "--auth-local=scram-sha-256",
            "--auth-host=scram-sha-256",
            "-E",
            "UTF8",
        )
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.folder} -c fsync=off"
        self._run(
            str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-l", str(self.folder / "log"), "-w", "start"
        )
        return self

    def stop(self):
        try:
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        shutil.rmtree(self.folder, ignore_errors=True)

    def url(self, db, password=PG_PASSWORD, user=PG_USER, port=None):
        return f"postgresql://{user}:{password}@127.0.0.1:{port or self.port}/{db}"

    def create(self, db):
        """A new empty database; returns its URL."""
        import psycopg

        with psycopg.connect(self.url("postgres"), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}"')
        return self.url(db)


class DaskCluster:
    """``dask scheduler`` + ``n`` ``dask worker`` processes (one thread each) on 127.0.0.1.

    The scheduler gives up a task after ``allowed_failures + 1`` worker deaths (as
    ``course.grading.cluster`` asks of a scheduler). :meth:`worker_pids` maps each worker's
    address to its process id, for tests that kill one.
    """

    def __init__(self, n=2, allowed_failures=1):
        self.n, self.folder = n, Path(tempfile.mkdtemp(prefix="course-dask-"))
        from course.grading.cluster import config_environment

        self.env = dict(os.environ, **config_environment())  # as the README tells a separate cluster
        self.env["DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES"] = str(allowed_failures)
        self.bin = Path(sys.executable).parent
        self.procs = []

    def _spawn(self, *args, log):
        proc = subprocess.Popen(
            [str(self.bin / "dask"), *args],
            env=self.env,
            cwd=self.folder,
            stdout=open(self.folder / log, "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.procs.append(proc)
        return proc

    def start(self, timeout=120):
        info = self.folder / "scheduler.json"
        self.port = free_port()
        self._spawn(
            "scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard",
            "--scheduler-file", str(info), log="scheduler.log",
        )  # fmt: skip
        self.address = f"tcp://127.0.0.1:{self.port}"
        for i in range(self.n):
            self._spawn(
                "worker", self.address, "--host", "127.0.0.1", "--nthreads", "1", "--no-dashboard",
                "--name", f"w{i}", "--local-directory", str(self.folder / f"w{i}"), log=f"worker-{i}.log",
            )  # fmt: skip
        from distributed import Client

        deadline = time.monotonic() + timeout
        while not info.exists():
            if time.monotonic() > deadline:
                raise RuntimeError(f"the Dask scheduler did not start: {self.logs()}")
            time.sleep(0.2)
        with Client(self.address, timeout="30s") as client:
            client.wait_for_workers(self.n, timeout=max(1, deadline - time.monotonic()))
        return self

    def worker_pids(self, client):
        return client.run(os.getpid)

    def logs(self):
        return {p.name: p.read_text()[-2000:] for p in self.folder.glob("*.log")}

    def stop(self):
        for proc in reversed(self.procs):  # workers first: each nanny stops its worker, which cleans up
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                pass
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGKILL)  # whatever of its process group is left
            except OSError:
                pass
            proc.wait()
        shutil.rmtree(self.folder, ignore_errors=True)
