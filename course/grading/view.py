"""A sandbox's view of the machine: an allowlisted root and its bounded writable space.

Built by the sandbox's first process (:mod:`course.grading.sandbox`), inside its new mount
namespace, before anything of the student's runs: :func:`build_view` makes a read-only tmpfs the
new root, binds into it only what the sandbox may read (the system, Python, the course package,
``expose``) or write (``writable``, for tests), covers ``cover``, gives it a ``/dev`` and ``/proc``
of its own, and detaches the old root; :func:`writable_space` is everything it may write, one
tmpfs bounded in size and files (``Limits.disk_mb``, ``Limits.inodes``).
"""

import os
import stat

from course.grading import namespaces
from course.grading.namespaces import (
    MS_BIND,
    MS_NOATIME,
    MS_NODEV,
    MS_NODIRATIME,
    MS_NOEXEC,
    MS_NOSUID,
    MS_PRIVATE,
    MS_RDONLY,
    MS_REC,
    MS_RELATIME,
    MS_REMOUNT,
)
from course.grading.namespaces import mount as _mount

#: The student's uid and gid inside the sandbox.
INSIDE_ID = 1000
#: The sandbox's working folder as its code sees it (HOME, TMPDIR, the current folder).
HOME = "/home/student"
#: The kernel's Unix socket files: this folder of its working folder.
IPC_FOLDER = ".ipc"
#: Where the new root is assembled (a path in the sandbox's own mount namespace).
STAGING = "/tmp"
#: What the grader put in a sandbox's working folder is copied into its home: files up to this size.
MAX_SEED_BYTES = 2**20


def bind_flags(path):
    """The flags a read-only remount of a bind of ``path`` must keep (those locked by the kernel)."""
    f = os.statvfs(path).f_flag
    flags = MS_NOSUID | MS_NODEV | (MS_NOEXEC if f & os.ST_NOEXEC else 0)
    flags |= (MS_NOATIME if f & os.ST_NOATIME else 0) | (MS_NODIRATIME if f & os.ST_NODIRATIME else 0)
    return flags | (MS_RELATIME if f & os.ST_RELATIME else 0)


def build_view(workdir, ro, rw, cover, limits):
    """A new root: a read-only tmpfs with only ``ro`` (read-only), ``rw`` and the sandbox's space in it.

    The space (:func:`writable_space`): its home, seeded from ``workdir``, and its temporary folders.
    ``cover``: paths inside those that are covered (an empty read-only folder, an empty file).
    """
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    # hold every source by file descriptor: the staging tmpfs may cover where they live (/tmp)
    sources = []
    for path, writable in [*((p, False) for p in ro), *((p, True) for p in rw)]:
        if os.path.lexists(path):
            sources.append((os.open(path, os.O_PATH | os.O_CLOEXEC), os.path.realpath(path), writable))
    seed = os.open(workdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    proc_fd = os.open("/proc", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    _mount("tmpfs", STAGING, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,mode=755")
    root = STAGING
    for d in ("proc", "dev", "tmp", "var/tmp", "etc", "run", HOME[1:]):
        os.makedirs(f"{root}/{d}", exist_ok=True)
    space = writable_space(root, seed, limits)  # (first: the binds below may lie in its /tmp)
    for link in ("bin", "lib", "lib64", "sbin"):
        if os.path.islink(f"/{link}"):  # (the old root is still there, but for /tmp)
            os.symlink(os.readlink(f"/{link}"), f"{root}/{link}")
    for fd, path, writable in sources:
        target = root + path
        if os.path.isdir(f"/proc/self/fd/{fd}"):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if not os.path.exists(target):
                open(target, "w").close()
        _mount(f"/proc/self/fd/{fd}", target, None, MS_BIND | MS_REC)
        flags = bind_flags(target) | (0 if writable else MS_RDONLY)
        _mount(None, target, None, MS_REMOUNT | MS_BIND | flags)
        os.close(fd)
    for path in cover:
        target = root + os.path.realpath(path)
        if os.path.isdir(target):
            _mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,mode=755")
        elif os.path.exists(target):
            _mount(f"{root}/dev/null" if os.path.exists(f"{root}/dev/null") else "/dev/null", target, None, MS_BIND)
            _mount(None, target, None, MS_REMOUNT | MS_BIND | MS_RDONLY | bind_flags(target))
    with open(f"{root}/etc/passwd", "w") as f:
        f.write(f"root:x:0:0::/root:/bin/sh\nstudent:x:{INSIDE_ID}:{INSIDE_ID}::{HOME}:/bin/sh\n")
    with open(f"{root}/etc/group", "w") as f:
        f.write(f"root:x:0:\nstudent:x:{INSIDE_ID}:\n")
    _mount("tmpfs", f"{root}/dev", "tmpfs", MS_NOSUID, "size=64k,mode=755")
    for dev in ("null", "zero", "full", "random", "urandom", "tty"):
        open(f"{root}/dev/{dev}", "w").close()
        _mount(f"/dev/{dev}", f"{root}/dev/{dev}", None, MS_BIND)
    os.makedirs(f"{root}/dev/shm")
    _mount(f"{space}/shm", f"{root}/dev/shm", None, MS_BIND)
    namespaces.umount(space)  # (detached: the binds keep it)
    os.rmdir(space)
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1")):
        os.symlink(target, f"{root}/dev/{name}")
    os.symlink("/proc/self/fd/2", f"{root}/dev/stderr")
    _mount(None, f"{root}/dev", None, MS_REMOUNT | MS_NOSUID | MS_RDONLY, "size=64k,mode=755")
    _mount("proc", f"{root}/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    os.close(proc_fd)
    _mount(None, root, None, MS_REMOUNT | MS_NOSUID | MS_NODEV | MS_RDONLY, "size=1m,mode=755")
    os.chdir(root)  # pivot_root(".", "."): the old root lands on top of the new one and is detached
    namespaces.pivot_root_here()
    namespaces.umount(".")  # the old root
    os.chdir("/")


#: The folders of a sandbox's writable space: (its name in the space, where the sandbox sees it).
SPACE_FOLDERS = (("home", HOME), ("tmp", "/tmp"), ("var-tmp", "/var/tmp"), ("run", "/run"), ("shm", "/dev/shm"))


def writable_space(root, seed, limits):
    """All the sandbox may write: one tmpfs of ``limits.disk_mb`` MiB and ``limits.inodes`` files, its
    home, ``/tmp``, ``/var/tmp``, ``/run`` and ``/dev/shm`` folders of it, so that no submission
    fills the grader's disk (only memory, bounded, freed with the sandbox). Mounted at
    ``root/.space`` (returned), bound but for ``shm``: the caller binds that and unmounts it.

    The home gets copies of the regular files the grader put in the working folder ``seed`` (a
    descriptor: the kernel's connection file) and, bound writable, its ``IPC_FOLDER`` (the
    kernel's sockets, which nbgrader reaches from outside; :func:`course.grading.sandbox.seal` makes it read-only).
    """
    space = f"{root}/.space"
    os.mkdir(space)
    _mount("tmpfs", space, "tmpfs", MS_NOSUID | MS_NODEV, f"size={limits.disk_mb}m,nr_inodes={limits.inodes}")
    for name, target in SPACE_FOLDERS:
        os.mkdir(f"{space}/{name}", 0o700 if name == "home" else 0o1777)
        os.chmod(f"{space}/{name}", 0o700 if name == "home" else 0o1777)  # (not cut by the umask)
        if name != "shm":
            _mount(f"{space}/{name}", root + target, None, MS_BIND)
    os.chown(root + HOME, INSIDE_ID, INSIDE_ID)
    for name in sorted(os.listdir(f"/proc/self/fd/{seed}"))[:64]:
        info = os.stat(name, dir_fd=seed, follow_symlinks=False)
        target = os.path.join(root + HOME, name)
        if name == IPC_FOLDER and stat.S_ISDIR(info.st_mode):
            os.mkdir(target)
            held = os.open(name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=seed)
            _mount(f"/proc/self/fd/{held}", target, None, MS_BIND)
            os.close(held)
        elif stat.S_ISREG(info.st_mode) and info.st_size <= MAX_SEED_BYTES:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=seed)
            with os.fdopen(fd, "rb") as f, open(target, "wb") as out:
                out.write(f.read(MAX_SEED_BYTES))
            os.chown(target, INSIDE_ID, INSIDE_ID)
    os.close(seed)
    return space
