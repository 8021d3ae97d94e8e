"""How student code is confined: one function starts every sandboxed process, one ends it.

Every process that runs student code (the kernel nbgrader talks to, the verifier's student
process) is started by :func:`fork`, called in the worker's fork server
(:mod:`course.grading.forkserver`), and ended by :func:`kill`. What the process gets:

* its own **user, mount, PID, network, IPC and UTS namespaces**;
* an **unprivileged uid** with **no capabilities** (``CapEff`` 0, the bounding and ambient sets
  emptied) and ``no_new_privs``. As root the uid inside (1000) is an otherwise unused uid
  outside (``UID_BASE`` + the process id of the sandbox), so it owns nothing of the grader's;
  as an ordinary user it is that user, seen from outside;
* a **view built as an allowlist**: a new root (an empty tmpfs, read-only) holding read-only
  binds of the system (``/usr``, the loader's files of ``/etc``), the Python installation and
  its venv, the course package (but for :func:`hidden_parts`) and the folders named in ``expose``;
  ``cover`` hides paths inside the view (torch, for a NumPy-only process); a ``/dev`` of null,
  zero, full, random, urandom; a ``/proc`` of its own PID namespace;
* **a writable space of its own, bounded in total** (``Limits.disk_mb``, ``Limits.inodes``): one
  tmpfs holding its home ``/home/student`` (seeded with copies of what the grader put in its
  working folder) and its private, empty ``/tmp``, ``/var/tmp``, ``/run`` and ``/dev/shm``, gone
  with the sandbox. No submission can fill the grader's disk: the one folder of it that a kernel
  writes, its socket folder (nbgrader reaches the sockets from outside), is read-only from the
  moment the kernel has bound them (:func:`seal`), before any student code runs. (``writable``
  binds more folders of the grader's, for tests: grading names none.) Nothing else exists
  inside: the instructor's solutions, the gradebooks, other submissions, the fork server's
  socket, the grader's temp folders. The old root is detached, so there is nothing under a mount
  to uncover, and the student cannot make a user namespace of its own
  (``user.max_user_namespaces`` is 0 inside);
* **no network**: its network namespace has only a loopback that is down, so a kernel cannot
  reach a classmate's kernel (the kernel talks to nbgrader over Unix socket files, ZMQ's
  ``ipc`` transport, in its socket folder);
* **limits it cannot raise**: ``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_FSIZE``, its space's size,
  no core dumps, and ``RLIMIT_NPROC``, which in a fresh user namespace counts exactly the
  sandbox's own processes and threads (a fork bomb stops there, and nobody else's count);
* an **environment by allowlist** (:func:`environment`): nothing of the grader's.

Lifetime: :func:`fork` makes two processes. The first (the one whose pid the fork server
knows) enters the namespaces and waits; the second is process 1 of the new PID namespace and
runs the student's code. The first dies with the fork server, the second with the first
(``PR_SET_PDEATHSIG``), and every process of the namespace with the second: killing the
first (:func:`kill`) ends the whole sandbox, whatever it forked, with no uid or cgroup to scan,
so two graders on one machine never touch each other's processes.

Backends (:func:`backend`), probed once per batch and handed to its workers:

* ``"bwrap"`` when bubblewrap works and the grader is not root: the fork server itself runs
  inside ``bwrap`` (:func:`bwrap_command`: its own user, network, IPC and UTS namespaces, no
  capabilities, an allowlist view: the system, Python, the course package and the batch's own
  folder), and each child then enters its own nested namespaces as above. A forked child cannot
  be handed to bwrap, and the fork server keeps ~1.5 s of imports per process off each
  submission, so bubblewrap is the outer wall and the course's code the inner one. The server
  keeps the grader's PID namespace and /proc (a /proc that bwrap mounts has covered parts, and a
  nested namespace may not mount another over it); every child has its own anyway;
* ``"userns"`` when user namespaces work and bubblewrap does not, or the grader is root: the
  same children, from a fork server that is not itself confined. As root, bwrap could only map
  the grader's own uid (0) into its namespace, and student code would be uid 0 outside (without
  capabilities, but the owner of every root file it can see); this backend maps it to an unused
  uid instead;
* ``"none"`` when neither works: only the rlimits, an allowlisted environment and a process
  group. The batch refuses to grade that way unless told to (``course grade --no-isolation``);
  see :func:`unavailable_reason`.

The tests (tests/grading/test_isolation.py) run every probe under both backends where both work.
"""

import os
import resource
import select
import shutil
import signal
import subprocess
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from course.grading import namespaces, processes
from course.grading.namespaces import (
    CLONE_NEWIPC,
    CLONE_NEWNET,
    CLONE_NEWNS,
    CLONE_NEWPID,
    CLONE_NEWUSER,
    CLONE_NEWUTS,
    MS_BIND,
    MS_RDONLY,
    MS_REMOUNT,
    SYS_PIVOT_ROOT,
)
from course.grading.namespaces import mount as _mount
from course.grading.processes import die_with_parent
from course.grading.view import HOME, INSIDE_ID, IPC_FOLDER, bind_flags, build_view

NAMESPACES = CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET | CLONE_NEWIPC | CLONE_NEWUTS

#: As root: the sandbox's uid outside is UID_BASE + the pid of its first process (unique).
UID_BASE = 1_000_000
#: Process 1 of a kernel's sandbox: the pipes of :func:`seal` (to its first process, from it).
_SEAL = None
#: Variables of the grader's environment a sandboxed process may see (values are never secret).
PASSED_ENV = ("LANG", "LANGUAGE", "LC_ALL", "LC_CTYPE", "LC_NUMERIC", "LC_MESSAGES", "TZ")
#: Files of /etc the loader and Python need (what an ordinary user may read anyway).
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "nsswitch.conf", "alternatives", "mime.types")


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandboxed process (and everything it starts)."""

    memory_mb: int = 4096  # address space of each process, MiB (torch alone maps ~1.5 GiB)
    cpu_s: int = 600  # CPU seconds of each process
    nproc: int = 64  # processes and threads of the sandbox
    fsize_mb: int = 256  # largest file a process may write, MiB
    # all the sandbox may write (its home, /tmp, /var/tmp, /run, /dev/shm: one tmpfs, in memory): a correct
    # notebook writes under 1 MiB there (IPython's history, matplotlib's font cache), a filler stops here
    disk_mb: int = 256
    inodes: int = 16384  # files and folders in that space

    def args(self):
        """As command-line options (``--memory-mb 4096 ...``), one per field; :func:`parse_args` reads them back."""
        return [a for name, value in asdict(self).items() for a in (_option(name), str(value))]


def _option(field_name):
    return "--" + field_name.replace("_", "-")


class SandboxError(RuntimeError):
    """A sandbox could not be set up (the process refuses to run student code)."""


def is_root():
    return os.geteuid() == 0


# ------------------------------------------------------------------ the environment
def environment(workdir):
    """The whole environment of a sandboxed process: an allowlist, nothing of the grader's secrets."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    env.setdefault("LANG", "C.UTF-8")
    home = str(workdir)
    env.update(
        PATH=os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        HOME=home,
        TMPDIR=home,
        OMP_NUM_THREADS="1",
        OPENBLAS_NUM_THREADS="1",
        MKL_NUM_THREADS="1",
        MPLBACKEND="Agg",
        MPLCONFIGDIR=os.path.join(home, ".matplotlib"),
        IPYTHONDIR=os.path.join(home, ".ipython"),
        XDG_CACHE_HOME=os.path.join(home, ".cache"),
        TORCHINDUCTOR_CACHE_DIR=os.path.join(home, ".cache", "torchinductor"),
        TRITON_CACHE_DIR=os.path.join(home, ".cache", "triton"),
        PYTHONDONTWRITEBYTECODE="1",
        PYTHONNOUSERSITE="1",
    )
    return env


# ------------------------------------------------------------------ which backend
_BACKEND = None


def backend():
    """The isolation this machine offers: "bwrap", "userns" or "none" (probed once per process).

    As root the fork server does not go into bubblewrap: bwrap can only map the grader's own uid,
    so student code would be uid 0 outside (without capabilities, but the owner of every root
    file it can see); the "userns" backend maps it to an unused uid instead.
    """
    global _BACKEND
    if _BACKEND is None:
        forced = os.environ.get("COURSE_SANDBOX")  # the fork server is told; tests compare backends
        if forced in ("bwrap", "userns", "none"):
            _BACKEND = forced
        elif not _userns_works():
            _BACKEND = "none"
        else:
            _BACKEND = "bwrap" if not is_root() and _bwrap_works() else "userns"
    return _BACKEND


def _userns_works():
    """True when a child can set up a whole sandbox here (user, mount, PID namespaces, a /proc)."""
    if SYS_PIVOT_ROOT is None:
        return False
    import tempfile

    with tempfile.TemporaryDirectory(prefix="course-sandbox-probe-") as tmp:
        try:
            pid = fork(Limits(), tmp, lambda: 0, mode="userns", probe=True)
        except OSError:
            return False
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) == 0


def _bwrap_works():
    exe = shutil.which("bwrap")
    if exe is None:
        return False
    try:
        proc = subprocess.run(
            [*bwrap_command([], exe=exe), "--", "/bin/true"],
            capture_output=True,
            timeout=processes.BWRAP_PROBE_TIMEOUT_S,
            env={},
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def unavailable_reason():
    """What the "none" backend leaves exposed, and how to get isolation (for the refusal message)."""
    return (
        "student code would run without isolation: as your user, it could read every file you can "
        "(the instructor's solutions, the gradebook, other students' submissions), reach the network "
        "and other students' kernels, and see the grader's processes. User namespaces are disabled "
        "here: enable them (sysctl -w kernel.unprivileged_userns_clone=1, or "
        "sysctl -w user.max_user_namespaces=15000) or install bubblewrap (apt-get install bubblewrap), "
        "or grade anyway with --no-isolation"
    )


def system_binds():
    """Read-only folders of every sandbox: system libraries, Python and its venv, the course package."""
    package = Path(__file__).resolve().parent.parent  # course/
    paths = ["/usr", *(f"/etc/{name}" for name in ETC)]  # (bound where they are: /etc/localtime is a link)
    paths += [os.path.realpath(p) for p in (sys.base_prefix, sys.prefix, package)]
    return [p for p in dict.fromkeys(paths) if os.path.exists(p)]


def hidden_parts():
    """The parts of the course package no sandbox needs, covered in every one: the instructor's layer
    and the programs (collect, autograde, the gradebook, the hub...). Student code reaches only what
    notebooks import and the grading engine's student side."""
    package = Path(__file__).resolve().parent.parent  # course/
    return [str(package / part) for part in ("instructor", "programs")]


def bwrap_command(writable, exe="/usr/bin/bwrap"):
    """``bwrap`` options that confine the fork server: no network, no capabilities, an allowlist view.

    ``writable``: folders the server and its children must write (the worker's folder with the
    server's socket, the batch's job folders). The children still enter their own namespaces.
    """
    cmd = [exe, "--unshare-user", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
    cmd += ["--die-with-parent", "--new-session", "--cap-drop", "ALL"]
    cmd += ["--uid", str(INSIDE_ID), "--gid", str(INSIDE_ID)]
    # the grader's PID namespace and /proc, not new ones: bubblewrap covers parts of a /proc it
    # mounts, which a nested namespace may then not mount again; each child has its own anyway
    # (its /tmp bounded too, though no student code writes there: a bubblewrap without --size
    # fails the probe, and the "userns" backend is used)
    cmd += ["--bind", "/proc", "/proc", "--dev", "/dev", "--size", str(64 * 2**20), "--tmpfs", "/tmp"]
    cmd += ["--dir", "/var/tmp"]
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):
            cmd += ["--symlink", os.readlink(f"/{link}"), f"/{link}"]
    for path in system_binds():
        cmd += ["--ro-bind", path, path]
    for path in writable:
        cmd += ["--bind", str(path), str(path)]
    return cmd


# ------------------------------------------------------------------ one way to start a sandboxed process
def fork(limits, workdir, body, expose=(), writable=(), prepare=None, close_fds=(), mode=None, probe=False, cover=()):
    """Fork a sandboxed process that runs ``body()`` (its return value is the exit status).

    Returns the pid of the sandbox's first process (see the module's docstring); end it with
    :func:`kill`, reap it with ``os.waitpid``. ``workdir``: its working folder (HOME, TMPDIR),
    writable; ``writable``: more writable folders; ``expose``: more read-only ones; ``cover``:
    paths inside the view that must not be there (torch and the checks, for a NumPy-only process).
    ``prepare()`` runs in the child before it enters the sandbox (with the grader's view).
    Called in a single-threaded process (the fork server), as ``unshare`` of a user namespace needs.
    """
    mode = mode or backend()
    workdir = os.path.realpath(workdir)
    sync_r, sync_w = os.pipe()  # child -> parent: "my namespaces exist, map my ids"
    go_r, go_w = os.pipe()  # parent -> child: "mapped"
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            for fd in (sync_r, go_w, *close_fds):
                _close(fd)
            code = _first(limits, workdir, body, expose, writable, cover, prepare, mode, probe, sync_w, go_r)
        except BaseException as e:  # noqa: BLE001  (nothing of the child may return to the server)
            if probe is False:
                os.write(2, f"sandbox: {type(e).__name__}: {e}\n".encode(errors="replace"))
        finally:
            os._exit(code if isinstance(code, int) else 1)
    os.close(sync_w)
    os.close(go_r)
    try:
        if mode != "none":
            ready, _, _ = select.select([sync_r], [], [], processes.SANDBOX_START_TIMEOUT_S)
            if not ready or os.read(sync_r, 1) != b"u":
                raise OSError("the sandbox did not start")
            _map_ids(pid)
        os.write(go_w, b"g")
    except OSError:
        kill(pid)
        os.waitpid(pid, 0)
        raise
    finally:
        os.close(sync_r)
        os.close(go_w)
    return pid


def kill(pid):
    """End the sandbox whose first process is ``pid`` (and everything in it). The one way to end one."""
    for target in (lambda: os.kill(pid, signal.SIGKILL), lambda: os.killpg(pid, signal.SIGKILL)):
        try:
            target()
        except OSError:
            pass


def outer_uid(pid):
    """The uid outside of the sandbox whose first process is ``pid``."""
    return UID_BASE + pid if is_root() else os.geteuid()


def _map_ids(pid):
    """Map the sandbox's ids (its parent writes them: only root outside may map another uid)."""
    uid, gid = outer_uid(pid), (UID_BASE + pid if is_root() else os.getegid())
    if is_root():  # root inside (until it drops) may still reach root's 0700 folders to bind them
        uids, gids = f"0 0 1\n{INSIDE_ID} {uid} 1\n", f"0 0 1\n{INSIDE_ID} {gid} 1\n"
    else:
        uids, gids = f"{INSIDE_ID} {uid} 1\n", f"{INSIDE_ID} {gid} 1\n"
        with open(f"/proc/{pid}/setgroups", "w") as f:
            f.write("deny")
    with open(f"/proc/{pid}/uid_map", "w") as f:
        f.write(uids)
    with open(f"/proc/{pid}/gid_map", "w") as f:
        f.write(gids)


def _close(fd):
    try:
        os.close(fd)
    except OSError:
        pass


def _first(limits, workdir, body, expose, writable, cover, prepare, mode, probe, sync_w, go_r):
    """The sandbox's first process: enter the namespaces, fork process 1, pass signals, wait."""
    server = os.getppid()
    die_with_parent(lambda: os.getppid() == server)
    os.setsid()
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    if prepare is not None:
        prepare()
    os.makedirs(workdir, exist_ok=True)
    for path in (workdir, *writable):
        os.makedirs(path, exist_ok=True)
        if is_root() and mode != "none":  # what the grader put there (sockets' folder, connection file)
            for folder, dirs, files in os.walk(path):
                for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
                    os.chown(name, UID_BASE + os.getpid(), UID_BASE + os.getpid(), follow_symlinks=False)
    if mode == "none":
        os.read(go_r, 1)
        _limit_all(limits, none=True)
        os.environ.clear()
        os.environ.update(environment(workdir))
        os.chdir(workdir)
        return body()
    namespaces.unshare(NAMESPACES)
    os.write(sync_w, b"u")
    if os.read(go_r, 1) != b"g":
        return 1
    ipc = os.path.join(workdir, IPC_FOLDER)  # a kernel's sockets: writable until they are bound (see seal())
    ask, answer = (os.pipe(), os.pipe()) if os.path.isdir(ipc) and not os.path.islink(ipc) else ((-1, -1),) * 2
    alive_r, alive_w = os.pipe()  # process 1 sees EOF here once this process is gone
    child = os.fork()
    if child == 0:
        global _SEAL
        for fd in (alive_w, ask[0], answer[1]):
            _close(fd)
        _SEAL = (ask[1], answer[0]) if ask[1] >= 0 else None
        return _init(limits, workdir, body, expose, writable, cover, probe, alive_r)
    for fd in (alive_r, ask[1], answer[0]):
        _close(fd)

    def forward(sig, _frame):
        try:  # process 1 of a namespace only gets the signals it handles: end it for any but an interrupt
            os.kill(child, sig if sig == signal.SIGINT else signal.SIGKILL)
        except OSError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    if ask[0] >= 0:  # asked, process 1 gone, or too late: sealed all the same (a kernel not bound by then fails)
        select.select([ask[0]], [], [], processes.SEAL_TIMEOUT_S)
        target = os.path.join(HOME, IPC_FOLDER)  # (this process shares process 1's mounts, and its new root)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | bind_flags(target))
        try:
            os.write(answer[1], b"k")
        except OSError:
            pass
        for fd in (ask[0], answer[1]):
            _close(fd)
    _drop_privileges()
    die_with_parent(lambda: os.getppid() == server)
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    code = os.waitstatus_to_exitcode(status)
    return code if code >= 0 else 128 - code


def _init(limits, workdir, body, expose, writable, cover, probe, alive_r):
    """Process 1 of the sandbox: build the view, drop everything, run ``body``."""
    first_alive = lambda: not select.select([alive_r], [], [], 0)[0]  # noqa: E731  (EOF: the first process died)
    die_with_parent(first_alive)
    build_view(workdir, [*system_binds(), *expose], writable, [*hidden_parts(), *cover], limits)
    namespaces.sethostname("sandbox")
    with open("/proc/sys/user/max_user_namespaces", "w") as f:  # no user namespace of its own
        f.write("0")
    os.chdir(HOME)
    _limit_all(limits)
    _drop_privileges()
    die_with_parent(first_alive)
    _close(alive_r)
    os.environ.clear()
    os.environ.update(environment(HOME))
    import tempfile

    tempfile.tempdir = None  # chosen again from TMPDIR, now the sandbox's folder
    if probe:
        return 0
    return body()


def seal():
    """In a kernel's sandbox, once the kernel has bound its sockets and before any student code runs:
    its socket folder (``IPC_FOLDER``, the one folder of the grader's disk it may write) becomes
    read-only. Its first process, which still holds the namespace's capabilities, remounts it and
    only then drops them; the student's code, without capabilities, cannot make it writable again.
    Elsewhere a no-op."""
    global _SEAL
    if _SEAL is None:
        return
    (ask, answer), _SEAL = _SEAL, None
    try:
        os.write(ask, b"s")
        sealed = os.read(answer, 1) == b"k"
    finally:
        _close(ask)
        _close(answer)
    if not sealed:
        raise SandboxError("the kernel's socket folder could not be made read-only")


def _drop_privileges():
    """No capabilities in any set, the unprivileged uid, no_new_privs: nothing to regain."""
    namespaces.drop_bounding_set()
    if os.getuid() == 0:  # root inside (root outside too): become the student
        os.setgroups([])
    os.setresgid(INSIDE_ID, INSIDE_ID, INSIDE_ID)
    os.setresuid(INSIDE_ID, INSIDE_ID, INSIDE_ID)
    namespaces.clear_capabilities()
    namespaces.no_new_privs()


def _limit(which, value):
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):  # cannot raise a hard limit above its current value: keep the lower one
        soft, hard = resource.getrlimit(which)
        resource.setrlimit(which, (min(value, hard) if hard != resource.RLIM_INFINITY else value,) * 2)


def _count_own_processes():
    uid, n = os.getuid(), 0
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                if os.stat(f"/proc/{pid}").st_uid == uid:
                    n += len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                pass
    return n


def _limit_all(limits, none=False):
    _limit(resource.RLIMIT_AS, limits.memory_mb * 2**20)
    _limit(resource.RLIMIT_CPU, limits.cpu_s)
    _limit(resource.RLIMIT_FSIZE, limits.fsize_mb * 2**20)
    _limit(resource.RLIMIT_CORE, 0)
    if not none:  # a fresh user namespace: RLIMIT_NPROC counts the sandbox's processes only
        _limit(resource.RLIMIT_NPROC, limits.nproc)
    elif not is_root():  # without one it counts all of this user's processes (and root is exempt)
        _limit(resource.RLIMIT_NPROC, limits.nproc + _count_own_processes())


# ------------------------------------------------------------------ the request format
def command_args(limits, workdir, hide=(), expose=(), writable=(), cover=()):
    """The fork server's request arguments for these settings (parsed back by :func:`parse_args`).

    ``cover``: paths that must not exist inside (see :func:`fork`).

    ``hide`` is kept for callers written for the old denylist: the view is an allowlist, so a
    hidden path must simply not lie inside what is shown, and this checks that it does not.
    """
    shown = [workdir, *expose, *writable]
    for h in hide:
        h = os.path.realpath(h)
        for s in shown:
            s = os.path.realpath(s)
            if s == h or s.startswith(h.rstrip("/") + "/") and not s.startswith(os.path.realpath(workdir)):
                raise SandboxError(f"{h} must stay hidden, but {s} is shown in the sandbox")
    args = [*limits.args(), "--workdir", str(workdir)]
    args += [a for e in expose for a in ("--expose", str(e))]
    args += [a for c in cover for a in ("--cover", str(c))]
    return args + [a for w in writable for a in ("--writable", str(w))]


def parse_args(argv):
    """``(limits, workdir, expose, writable, cover, command)`` from :func:`command_args`' list (+ ``--`` COMMAND)."""
    import argparse

    p = argparse.ArgumentParser(prog="sandbox", add_help=False, exit_on_error=False)
    for f in fields(Limits):  # (Limits.args' options; a missing one keeps its default)
        p.add_argument(_option(f.name), dest=f.name, type=int, default=f.default)
    p.add_argument("--workdir", required=True)
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("--writable", action="append", default=[])
    p.add_argument("--cover", action="append", default=[])
    p.add_argument("command", nargs=argparse.REMAINDER)
    try:
        a = p.parse_args(argv)
    except (argparse.ArgumentError, SystemExit) as e:
        raise ValueError(f"bad sandbox arguments: {e}") from None
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    limits = Limits(**{f.name: getattr(a, f.name) for f in fields(Limits)})
    return limits, a.workdir, a.expose, a.writable, a.cover, cmd
