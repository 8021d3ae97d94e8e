"""Running student code under limits: the kernel and the verifier's student process.

``python -m course.grading.sandbox [options] -- COMMAND...`` sets up the limits below
in its own process and then *becomes* COMMAND (``exec``), so everything the
student's code starts inherits them:

* its own session and process group, so the grader can kill the whole tree;
* ``RLIMIT_AS`` (memory), ``RLIMIT_CPU`` (CPU seconds), ``RLIMIT_FSIZE``
  (largest file written), ``RLIMIT_NPROC`` (processes: a fork bomb stops
  there), no core dumps;
* when run as root (CI, a grading server): the paths given with ``--hide``
  (the course's solutions, the gradebook) are covered by empty read-only
  mounts in a private mount namespace; the process joins a ``pids`` cgroup
  of its own where the kernel offers one (root is exempt from RLIMIT_NPROC,
  a cgroup is not); and it drops to the unprivileged uid ``--uid``, which
  cannot read the grader's private files, when Python itself is readable by
  other users (a Python installed under /root is not: then it stays root);
* single-threaded BLAS/OpenMP and a private HOME, matplotlib and IPython
  folder inside the working directory.

When not root, the mount and uid steps are skipped and the rlimits still hold.
"""

import argparse
import ctypes
import os
import resource
import signal
import sys
import time
from dataclasses import dataclass

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_MOVE, MS_REC, MS_PRIVATE = 1, 32, 4096, 8192, 16384, 1 << 18
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
CLONE_NEWPID = 0x20000000


@dataclass(frozen=True)
class Limits:
    """Resource limits of one graded notebook."""

    memory_mb: int = 4096  # address space of each process, MiB (torch alone maps ~1.5 GiB)
    cpu_s: int = 600  # CPU seconds of each process
    nproc: int = 64  # processes and threads of the sandbox uid
    fsize_mb: int = 256  # largest file a process may write, MiB
    uid: int = 61000  # unprivileged uid when the grader runs as root
    tag: str = "default"  # names the pids cgroup: unique per grading slot, so batches never meet

    def args(self):
        return [
            "--memory-mb",
            str(self.memory_mb),
            "--cpu-s",
            str(self.cpu_s),
            "--nproc",
            str(self.nproc),
            "--fsize-mb",
            str(self.fsize_mb),
            "--uid",
            str(self.uid),
            "--tag",
            self.tag,
        ]


def is_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _hide(paths, expose=()):
    """Cover ``paths`` in a private mount namespace (root only), keeping ``expose`` visible.

    A folder is covered by an empty read-only tmpfs, a file by /dev/null. A
    path of ``expose`` that lies inside a covered folder (the sandbox's own
    working folder inside the batch's folder) is moved back into place, so
    the student's code sees its own folder and nothing beside it.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        return False
    libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    # hold the folders to expose by file descriptor: they stay reachable once covered
    kept = [(os.open(p, os.O_PATH | os.O_DIRECTORY), p) for p in expose if os.path.isdir(p)]
    covered = []
    for path in paths:
        if os.path.isdir(path):
            if libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", 0, b"size=64k,mode=755") == 0:
                covered.append(path)
        elif os.path.isfile(path):
            libc.mount(b"/dev/null", os.fsencode(path), None, MS_BIND, None)
    for fd, path in kept:
        os.makedirs(path, exist_ok=True)
        libc.mount(os.fsencode(f"/proc/self/fd/{fd}"), os.fsencode(path), None, MS_BIND | MS_REC, None)
        os.close(fd)
    for path in covered:
        libc.mount(b"tmpfs", os.fsencode(path), b"tmpfs", MS_REMOUNT | MS_RDONLY, b"size=64k,mode=755")
    return True


def _cgroup_dir(tag):
    """Folder of the sandbox's pids cgroup (v1 hierarchy, or v2 with the pids controller), or None."""
    name = f"course-sandbox-{tag}"
    if os.path.exists("/sys/fs/cgroup/pids/cgroup.procs"):
        return os.path.join("/sys/fs/cgroup/pids", name)
    try:
        with open("/sys/fs/cgroup/cgroup.subtree_control") as f:
            if "pids" in f.read().split():
                return os.path.join("/sys/fs/cgroup", name)
    except OSError:
        pass
    return None


def _own_pid_namespace():
    """Move what follows into a PID namespace of its own, with its own /proc (root only).

    Without it, ``/proc/PID/root`` of any process outside the sandbox (the grader's, say) leads
    back into the file system *without* the covers of :func:`_hide`. This process forks: the
    child becomes process 1 of the new namespace, mounts a /proc that shows only the sandbox's
    processes and returns, to run the student's code; this process stays outside, passes the
    signals it receives on to the child (an interrupt reaches the kernel) and ends with the
    child's exit status. When process 1 ends, the kernel kills everything left in the namespace.
    Returns False (and forks nothing) where namespaces cannot be made.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWPID) != 0:
        return False
    pid = os.fork()
    if pid == 0:
        # Where a container forbids a new procfs, the old /proc stays: grading still works, and
        # tests/test_sandbox.py and the adversarial corpus say that the sandbox is weaker there.
        libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
        return True

    def forward(sig, _frame):
        try:  # process 1 of a namespace only gets signals it handles: end it for any but an interrupt
            os.kill(pid, sig if sig == signal.SIGINT else signal.SIGKILL)
        except OSError:
            pass

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2):
        signal.signal(sig, forward)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def _join_pids_cgroup(tag, nproc):
    """Put this process in a pids cgroup limited to ``nproc`` tasks (root only); False if impossible."""
    path = _cgroup_dir(tag)
    if path is None:
        return False
    try:
        os.makedirs(path, exist_ok=True)
        with open(os.path.join(path, "pids.max"), "w") as f:
            f.write(str(nproc))
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write(str(os.getpid()))
        return True
    except OSError:
        return False


def can_drop_privileges():
    """True when other users can run this Python (every folder on its way is searchable)."""
    for target in (os.path.realpath(sys.executable), os.path.realpath(sys.base_prefix), os.path.realpath(sys.prefix)):
        path = target
        while path not in ("/", ""):
            try:
                if not os.stat(path).st_mode & 0o001:
                    return False
            except OSError:
                return False
            path = os.path.dirname(path)
    return True


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


def enter(limits, workdir, hide=(), expose=()):
    """Apply ``limits`` to this process (then exec or run student code).

    hide / expose: see :func:`_hide` (root only); ``workdir`` is always exposed.
    """
    try:
        os.setsid()
    except OSError:  # already a session leader
        pass
    os.makedirs(workdir, exist_ok=True)
    env = os.environ
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"
    env["HOME"] = env["TMPDIR"] = workdir  # /tmp itself is covered (other submissions live there)
    # caches that the parent may have pointed into the covered /tmp (torch sets
    # TORCHINDUCTOR_CACHE_DIR in os.environ the first time it compiles anything)
    env["XDG_CACHE_HOME"] = os.path.join(workdir, ".cache")
    env["TORCHINDUCTOR_CACHE_DIR"] = os.path.join(workdir, ".cache", "torchinductor")
    env["TRITON_CACHE_DIR"] = os.path.join(workdir, ".cache", "triton")
    env["MPLCONFIGDIR"] = os.path.join(workdir, ".matplotlib")
    env["IPYTHONDIR"] = os.path.join(workdir, ".ipython")
    env["MPLBACKEND"] = env.get("MPLBACKEND", "Agg")
    nproc = limits.nproc
    drop = is_root() and can_drop_privileges()
    if is_root():
        private_mounts = _hide([h for h in hide if h], [workdir, *expose])
        _join_pids_cgroup(limits.tag, limits.nproc)
        if private_mounts:  # (a /proc of its own needs the private mount namespace)
            _own_pid_namespace()
        for sub in ("", ".matplotlib", ".ipython"):
            os.makedirs(os.path.join(workdir, sub), exist_ok=True)
        if drop:
            for dirpath, dirnames, filenames in os.walk(workdir):
                for name in [dirpath] + [os.path.join(dirpath, f) for f in dirnames + filenames]:
                    os.chown(name, limits.uid, limits.uid)
    else:
        nproc += _count_own_processes()  # RLIMIT_NPROC counts all of this user's processes
    _limit(resource.RLIMIT_AS, limits.memory_mb * 2**20)
    _limit(resource.RLIMIT_CPU, limits.cpu_s)
    _limit(resource.RLIMIT_FSIZE, limits.fsize_mb * 2**20)
    _limit(resource.RLIMIT_CORE, 0)
    if drop:
        os.setgroups([])
        os.setgid(limits.uid)
        os.setuid(limits.uid)
    if not is_root() or drop:
        _limit(resource.RLIMIT_NPROC, nproc)
    os.chdir(workdir)


def kill_tree(pgid=None, limits=None):
    """Kill a process group and, as root, every process of the sandbox of ``limits``: its cgroup and its uid."""
    if pgid:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except OSError:
            pass
    if limits is None or not is_root():
        return
    uid, cgroup = limits.uid if can_drop_privileges() else None, _cgroup_dir(limits.tag)
    for _ in range(5):  # a fork bomb may fork while we kill: repeat until none is left
        victims = set()
        if cgroup:
            try:  # (the fork server may be emptying and removing the same cgroup)
                with open(os.path.join(cgroup, "cgroup.procs")) as f:
                    victims |= {int(p) for p in f.read().split()}
            except OSError:
                pass
        for pid in os.listdir("/proc"):
            if pid.isdigit():
                try:
                    if uid is not None and os.stat(f"/proc/{pid}").st_uid == uid:
                        victims.add(int(pid))
                except OSError:
                    pass
        victims.discard(os.getpid())
        for pid in victims:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        if not victims:
            break
        time.sleep(0.05)
    if cgroup:
        try:
            os.rmdir(cgroup)
        except OSError:
            pass


def command_args(limits, workdir, hide=(), expose=()):
    """The options of ``python -m course.grading.sandbox`` for these settings (parsed back by :func:`parse_args`)."""
    args = [*limits.args(), "--workdir", str(workdir)]
    args += [a for h in hide for a in ("--hide", str(h))]
    return args + [a for e in expose for a in ("--expose", str(e))]


def parse_args(argv):
    """The command line of ``python -m course.grading.sandbox``: ``(limits, workdir, hide, expose, command)``."""
    p = argparse.ArgumentParser(prog="python -m course.grading.sandbox", description=__doc__.split("\n\n")[0])
    d = Limits()
    p.add_argument("--memory-mb", type=int, default=d.memory_mb)
    p.add_argument("--cpu-s", type=int, default=d.cpu_s)
    p.add_argument("--nproc", type=int, default=d.nproc)
    p.add_argument("--fsize-mb", type=int, default=d.fsize_mb)
    p.add_argument("--uid", type=int, default=d.uid)
    p.add_argument("--tag", default=d.tag)
    p.add_argument("--workdir", required=True)
    p.add_argument("--hide", action="append", default=[])
    p.add_argument("--expose", action="append", default=[])
    p.add_argument("command", nargs=argparse.REMAINDER)
    a = p.parse_args(argv)
    cmd = a.command[1:] if a.command[:1] == ["--"] else a.command
    limits = Limits(a.memory_mb, a.cpu_s, a.nproc, a.fsize_mb, a.uid, a.tag)
    return limits, a.workdir, a.hide, a.expose, cmd


def own_connection_file(cmd, workdir):
    """The kernel's connection file is private to the grader: give the kernel its own copy (in place in ``cmd``)."""
    if "-f" in cmd:
        i = cmd.index("-f") + 1
        os.makedirs(workdir, exist_ok=True)
        copy = os.path.join(workdir, ".kernel-connection.json")
        with open(cmd[i], "rb") as src, open(copy, "wb") as dst:
            dst.write(src.read())
        cmd[i] = copy
    return cmd


def main(argv=None):
    limits, workdir, hide, expose, cmd = parse_args(argv)
    own_connection_file(cmd, workdir)
    enter(limits, workdir, hide, expose)
    os.execv(cmd[0], cmd)


if __name__ == "__main__":
    sys.exit(main())
